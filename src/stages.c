/*-------------------------------------------------------------------------
 * stages.c
 *	  lead_mgmt.set_stage() and lead_mgmt.disqualify(): the manual side of
 *	  qualification.  Automatic stage changes happen in lead_state.c; a
 *	  manual move goes through the same row trigger (as a pending change
 *	  with a manual stage) so that history is written the same way.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "explain.h"
#include "lead_state.h"
#include "rules_cache.h"
#include "stages.h"
#include "util.h"

PG_FUNCTION_INFO_V1(lm_set_stage);
PG_FUNCTION_INFO_V1(lm_disqualify);
PG_FUNCTION_INFO_V1(lm_record_deal_won);

static SPIPlanPtr plan_disqualify = NULL;
static SPIPlanPtr plan_purchase = NULL;


/* A comma-separated list of the stages, for hints. */
static char *
stage_list(LmCache *cache)
{
	StringInfoData s;

	initStringInfo(&s);
	for (int i = 0; i < cache->n_stages; i++)
		appendStringInfo(&s, "%s%s", i ? ", " : "", cache->stages[i].name);
	return s.data;
}

/*
 * set_stage(lead_id, stage, reason): moves a lead to a stage by hand, up or
 * down; stage_history records reason 'manual' with the given note.  A move
 * down holds: the row trigger keeps the stage moved down from in
 * stage_ceiling, and a move up or to the lead's own stage lifts that.
 */
Datum
lm_set_stage(PG_FUNCTION_ARGS)
{
	int64		lead_id;
	char	   *stage;
	LmCache    *cache;
	LmPending  *p;
	LmPendingLead *e;
	TupleDesc	desc;
	HeapTuple	tup;
	bool		isnull;
	Datum		cur;
	const LmLeadCols *cols;

	lm_require_arg(fcinfo, 0, "lead_id", "Pass the id of the lead to move.");
	lm_require_arg(fcinfo, 1, "stage", "Pass the name of a stage from lead_mgmt.stages.");
	lead_id = PG_GETARG_INT64(0);
	stage = text_to_cstring(PG_GETARG_TEXT_PP(1));

	cache = lm_cache_get();
	if (lm_cache_stage(cache, stage) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown stage \"%s\"", stage),
				 errhint("The stages are: %s.", stage_list(cache))));

	tup = lm_fetch_lead(lead_id, &desc, true);
	cols = lm_lead_cols(desc);
	cur = heap_getattr(tup, cols->stage, desc, &isnull);
	if (!isnull && strcmp(TextDatumGetCString(cur), stage) == 0 &&
		(cols->stage_ceiling == 0 || heap_attisnull(tup, cols->stage_ceiling, desc)))
		PG_RETURN_VOID();		/* there already, and free to rise */

	cache = lm_cache_get();
	p = lm_pending_begin(cache, lm_now());
	e = lm_pending_lead(p, lead_id, LM_PENDING_DELTA);
	e->manual_stage = MemoryContextStrdup(p->cxt, stage);
	if (!PG_ARGISNULL(2))
		e->manual_note = MemoryContextStrdup(p->cxt, text_to_cstring(PG_GETARG_TEXT_PP(2)));
	lm_pending_apply(p, false);
	lm_pending_end(p);
	PG_RETURN_VOID();
}

/*
 * disqualify(lead_id, reason): sets disqualified_at (kept if already set)
 * and the reason.  The lead keeps its score and stage; assignment and
 * nurture skip it.  Clearing disqualified_at with UPDATE requalifies it.
 */
Datum
lm_disqualify(PG_FUNCTION_ARGS)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	int64		lead_id;

	lm_require_arg(fcinfo, 0, "lead_id", "Pass the id of the lead to disqualify.");
	lead_id = PG_GETARG_INT64(0);
	args[0] = Int64GetDatum(lead_id);
	if (PG_ARGISNULL(1))
		nulls[1] = 'n';
	else
		args[1] = PointerGetDatum(PG_GETARG_TEXT_PP(1));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	if (SPI_execute_plan(lm_plan(&plan_disqualify,
								 "UPDATE lead_mgmt.leads "
								 "SET disqualified_at = COALESCE(disqualified_at, pg_catalog.now()), "
								 "    disqualified_reason = COALESCE($2, disqualified_reason) "
								 "WHERE id OPERATOR(pg_catalog.=) $1",
								 2, types), args, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "lead_mgmt: disqualifying failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("lead " INT64_FORMAT " does not exist", lead_id),
				 errhint("Look the lead up in lead_mgmt.leads.")));
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * _record_deal_won(lead_id, deal_id, closed_at, amount): records the
 * purchase event of a won deal (once per deal: dedupe_key 'deal:<id>'), so
 * that the lead becomes a customer with stage_history reason 'deal_won'.
 * Returns the new event's id, or NULL if the deal was recorded before.
 */
Datum
lm_record_deal_won(PG_FUNCTION_ARGS)
{
	Oid			types[4] = {INT8OID, INT8OID, TIMESTAMPTZOID, NUMERICOID};
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	volatile int64 id = 0;
	volatile bool found = false;

	lm_require_arg(fcinfo, 0, "lead_id", "Pass the lead of the deal.");
	lm_require_arg(fcinfo, 1, "deal_id", "Pass the id of the won deal.");
	lm_require_arg(fcinfo, 2, "closed_at", "A won deal needs closed_at.");
	for (int i = 0; i < 4; i++)
	{
		if (PG_ARGISNULL(i))
			nulls[i] = 'n';
		else
			args[i] = PG_GETARG_DATUM(i);
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	lm_set_reason_override("deal_won");
	PG_TRY();
	{
		int			ret = SPI_execute_plan(lm_plan(&plan_purchase,
												   "INSERT INTO lead_mgmt.events "
												   "(lead_id, event_type, occurred_at, properties, dedupe_key) "
												   "VALUES ($1, 'purchase', $3, "
												   "        pg_catalog.jsonb_build_object('deal_id', $2, 'amount', $4), "
												   "        'deal:' OPERATOR(pg_catalog.||) $2::pg_catalog.text) "
												   "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
												   4, types), args, nulls, false, 0);

		if (ret != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "lead_mgmt: recording the purchase failed");
		if (SPI_processed == 1)
		{
			bool		isnull;

			id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
			found = true;
		}
	}
	PG_FINALLY();
	{
		lm_set_reason_override(NULL);
	}
	PG_END_TRY();
	SPI_finish();
	if (!found)
		PG_RETURN_NULL();
	PG_RETURN_INT64(id);
}
