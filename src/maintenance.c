/*-------------------------------------------------------------------------
 * maintenance.c
 *	  lead_mgmt.rescore(lead_id) recomputes from scratch; run_maintenance(at)
 *	  applies what the passing of time changes.
 *
 * Maintenance does not scan the leads: every lead carries recheck_at, the
 * earliest time a windowed event leaves its window or an age condition
 * flips, so the work is proportional to what is due (an index range scan
 * of leads_recheck_idx).  Running it twice at the same time changes
 * nothing the second time: recomputed leads get a recheck_at after `at`.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "assignment.h"
#include "explain.h"
#include "lead_state.h"
#include "maintenance.h"
#include "triggers.h"
#include "util.h"

PG_FUNCTION_INFO_V1(lm_rescore);
PG_FUNCTION_INFO_V1(lm_run_maintenance);

static SPIPlanPtr plan_nurture = NULL;

/*
 * rescore(lead_id default null): one lead, or all, from its events -- its
 * computed columns and its assignments' first sales touches; returns how
 * many leads.
 */
Datum
lm_rescore(PG_FUNCTION_ARGS)
{
	uint64		n;

	if (PG_ARGISNULL(0))
	{
		n = lm_recompute_all();
		lm_first_touch_recompute(NULL, -1);
	}
	else
	{
		int64		id = PG_GETARG_INT64(0);
		TupleDesc	desc;

		(void) lm_fetch_lead(id, &desc, false);	/* a clear error if missing */
		n = lm_recompute_leads(&id, 1);
		lm_first_touch_recompute(&id, 1);
	}
	PG_RETURN_INT64((int64) n);
}

/*
 * run_maintenance(at default now()): recomputes, as of `at`, every lead
 * whose windowed or age-based terms changed by then.  Returns a jsonb of
 * counts: {"at": ..., "leads_rechecked": n}.
 */
Datum
lm_run_maintenance(PG_FUNCTION_ARGS)
{
	TimestampTz at;
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		args[1];
	int64	   *ids;
	int			n;
	volatile uint64 rechecked = 0;
	volatile uint64 reassigned = 0;
	char	   *nurture;
	StringInfoData out;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("at must not be null"),
				 errhint("Call lead_mgmt.run_maintenance() for now, or pass the time to apply.")));
	at = PG_GETARG_TIMESTAMPTZ(0);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	args[0] = TimestampTzGetDatum(at);
	/*
	 * Planned with the actual time (not a kept generic plan): the planner
	 * then sees how few leads are due and uses leads_recheck_idx, so the
	 * cost follows what is due, not the size of the table.
	 */
	if (SPI_execute_with_args("SELECT id FROM lead_mgmt.leads "
							  "WHERE recheck_at OPERATOR(pg_catalog.<=) $1",
							  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: finding due leads failed");
	n = (int) SPI_processed;
	ids = MemoryContextAlloc(TopTransactionContext, sizeof(int64) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();

	lm_set_now_override(at);
	PG_TRY();
	{
		rechecked = lm_recompute_leads(ids, n);
		reassigned = lm_assign_sla_breaches(at);
	}
	PG_FINALLY();
	{
		lm_set_now_override(0);
	}
	PG_END_TRY();
	pfree(ids);

	/*
	 * Nurture (install/parts/nurture_queue.sql): releases touch claims whose
	 * lease ran out by `at` and counts the touches due; its keys
	 * (touches_released, touches_due) are merged into the result.
	 */
	{
		MemoryContext caller = CurrentMemoryContext;
		char	   *obj;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "lead_mgmt: SPI_connect failed");
		if (SPI_execute_plan(lm_plan(&plan_nurture,
									 "SELECT lead_mgmt._nurture_maintenance($1)::pg_catalog.text",
									 1, types), args, NULL, false, 0) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "lead_mgmt: nurture maintenance failed");
		obj = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		nurture = MemoryContextStrdup(caller, obj ? obj : "{}");
		SPI_finish();
	}

	initStringInfo(&out);
	appendStringInfo(&out, "{\"at\": \"%s\", \"leads_rechecked\": " UINT64_FORMAT
					 ", \"sla_reassigned\": " UINT64_FORMAT,
					 timestamptz_to_str(at), rechecked, reassigned);
	/* nurture is a jsonb object: append its members */
	if (nurture[0] == '{' && strcmp(nurture, "{}") != 0)
		appendStringInfo(&out, ", %s", nurture + 1);
	else
		appendStringInfoChar(&out, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}
