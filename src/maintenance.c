/*-------------------------------------------------------------------------
 * maintenance.c
 *	  lead_mgmt.rescore(lead_id) recomputes from scratch; run_maintenance(at)
 *	  applies what the passing of time changes.
 *
 * Maintenance does not scan the leads: every lead carries recheck_at, the
 * earliest time a windowed event leaves its window or an age condition
 * flips, and lead_mgmt.rechecks holds an entry at or before it (see
 * lead_state.c), so the work is proportional to what is due: the entries
 * due by `at` are taken (an index range scan), the leads among them that
 * are due are recomputed, and every lead taken gets an entry at its
 * recheck_at again.  Running it twice at the same time changes nothing
 * the second time: recomputed leads get a recheck_at after `at`.
 *
 * Locking: ROW EXCLUSIVE on leads is taken before any entry is taken, as
 * every other writer of rechecks (an update of leads) does, so that a full
 * rescore (SHARE ROW EXCLUSIVE on leads) never waits for us while we wait
 * for it.  Concurrent runs take disjoint entries (a taken entry is a
 * deleted row).
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
static SPIPlanPtr plan_due = NULL;
static SPIPlanPtr plan_readd = NULL;

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

/* The int8 values of the first column of SPI's result, in TopTransactionContext. */
static int64 *
spi_int8_column(int *n)
{
	int64	   *out;

	*n = (int) SPI_processed;
	out = MemoryContextAlloc(TopTransactionContext, sizeof(int64) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		bool		isnull;

		out[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
	return out;
}

/*
 * Takes the rechecks entries due by `at` (their distinct leads into
 * *taken) and returns the leads among them that are due (*n).  Planned
 * with the actual time, not a kept generic plan: the planner then sees how
 * few entries are due and uses rechecks_due_idx, so the cost follows what
 * is due, not the size of the table.  A database still at 0.1 has no
 * rechecks: there leads_recheck_idx finds the due leads, and nothing is
 * taken.  (Not inlined: the caller's PG_TRY would clobber its locals.)
 */
pg_noinline static int64 *
take_due_leads(TimestampTz at, int *n, int64 **taken, int *ntaken)
{
	Oid			types[2] = {TIMESTAMPTZOID, INT8ARRAYOID};
	Datum		args[2];
	int64	   *due;

	*taken = NULL;
	*ntaken = 0;
	args[0] = TimestampTzGetDatum(at);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	if (!OidIsValid(lm_relid_if_exists("rechecks")))
	{
		if (SPI_execute_with_args("SELECT id FROM lead_mgmt.leads "
								  "WHERE recheck_at OPERATOR(pg_catalog.<=) $1",
								  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "lead_mgmt: finding due leads failed");
		due = spi_int8_column(n);
		SPI_finish();
		return due;
	}
	if (SPI_execute_with_args("WITH taken AS (DELETE FROM lead_mgmt.rechecks "
							  "  WHERE due_at OPERATOR(pg_catalog.<=) $1 RETURNING lead_id) "
							  "SELECT DISTINCT lead_id FROM taken",
							  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: taking due rechecks failed");
	*taken = spi_int8_column(ntaken);

	/* of their leads, those due (the others' entries were early) */
	args[1] = PointerGetDatum(lm_int8_array(*taken, *ntaken));
	if (SPI_execute_plan(lm_plan(&plan_due,
								 "SELECT id FROM lead_mgmt.leads "
								 "WHERE recheck_at OPERATOR(pg_catalog.<=) $1 "
								 "AND id OPERATOR(pg_catalog.=) ANY ($2)",
								 2, types), args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: finding due leads failed");
	due = spi_int8_column(n);
	SPI_finish();
	return due;
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
	int64	   *taken;
	int			ntaken;
	int64	   *ids;
	int			n;
	volatile uint64 rechecked = 0;
	volatile uint64 reassigned = 0;
	uint64		kept = 0;
	char	   *nurture;
	StringInfoData out;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("at must not be null"),
				 errhint("Call lead_mgmt.run_maintenance() for now, or pass the time to apply.")));
	at = PG_GETARG_TIMESTAMPTZ(0);
	/* it becomes assigned_at, ended_at and due times: infinity would stick */
	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("at must be a finite time"),
				 errdetail("Maintenance records at as the time of what it does, such as an SLA reassignment."),
				 errhint("Call lead_mgmt.run_maintenance() for now, or pass the time to apply.")));
	args[0] = TimestampTzGetDatum(at);

	lm_lock_leads_for_write();
	ids = take_due_leads(at, &n, &taken, &ntaken);

	lm_set_now_override(at);
	PG_TRY();
	{
		rechecked = lm_recompute_leads(ids, n);
		reassigned = lm_assign_sla_breaches(at, &kept);
	}
	PG_FINALLY();
	{
		lm_set_now_override(0);
	}
	PG_END_TRY();
	pfree(ids);

	/*
	 * Every lead whose entry was taken gets one at its recheck_at again, as
	 * it is now (recomputed above, or moved later since its entry was
	 * made), unless it has one there already (rechecks_due_idx finds it).
	 */
	if (ntaken > 0)
	{
		Oid			rtypes[1] = {INT8ARRAYOID};
		Datum		rargs[1];

		rargs[0] = PointerGetDatum(lm_int8_array(taken, ntaken));
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "lead_mgmt: SPI_connect failed");
		if (SPI_execute_plan(lm_plan(&plan_readd,
									 "INSERT INTO lead_mgmt.rechecks (due_at, lead_id) "
									 "SELECT l.recheck_at, l.id FROM lead_mgmt.leads l "
									 "WHERE l.id OPERATOR(pg_catalog.=) ANY ($1) AND l.recheck_at IS NOT NULL "
									 "AND NOT EXISTS (SELECT 1 FROM lead_mgmt.rechecks r "
									 "  WHERE r.due_at OPERATOR(pg_catalog.=) l.recheck_at "
									 "  AND r.lead_id OPERATOR(pg_catalog.=) l.id)",
									 1, rtypes), rargs, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "lead_mgmt: entering rechecks again failed");
		SPI_finish();
	}
	if (taken != NULL)
		pfree(taken);

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
					 ", \"sla_reassigned\": " UINT64_FORMAT ", \"sla_kept\": " UINT64_FORMAT,
					 timestamptz_to_str(at), rechecked, reassigned, kept);
	/* nurture is a jsonb object: append its members */
	if (nurture[0] == '{' && strcmp(nurture, "{}") != 0)
		appendStringInfo(&out, ", %s", nurture + 1);
	else
		appendStringInfoChar(&out, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}
