/*-------------------------------------------------------------------------
 * explain.c
 *	  lead_mgmt.explain_score(lead_id) and lead_mgmt.evaluate(condition,
 *	  lead_id).  Both use the same counting and evaluation code as the
 *	  triggers, so what they say is what the engine does.
 *
 * explain_score reads the lead's stored counts when they are current (the
 * rows then sum to the stored score); if a rule change is still deferred or
 * a window has expired, it recounts in memory, explaining what rescore()
 * would store.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "condition.h"
#include "explain.h"
#include "lead_state.h"
#include "rules_cache.h"
#include "scoring.h"
#include "util.h"

PG_FUNCTION_INFO_V1(lm_explain_score);
PG_FUNCTION_INFO_V1(lm_evaluate);

static SPIPlanPtr plan_fetch = NULL;
static SPIPlanPtr plan_fetch_lock = NULL;

/*
 * Returns a copy of the lead's row (in the caller's context) and its
 * descriptor; a clear error if there is no such lead.
 */
HeapTuple
lm_fetch_lead(int64 lead_id, TupleDesc *desc, bool for_update)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1];
	HeapTuple	tup;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext old;

	if (for_update)
		lm_lock_leads_for_write();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	args[0] = Int64GetDatum(lead_id);
	if (SPI_execute_plan(for_update ?
						 lm_plan(&plan_fetch_lock,
								 "SELECT * FROM lead_mgmt.leads WHERE id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
								 1, types) :
						 lm_plan(&plan_fetch,
								 "SELECT * FROM lead_mgmt.leads WHERE id OPERATOR(pg_catalog.=) $1",
								 1, types),
						 args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: reading the lead failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("lead " INT64_FORMAT " does not exist", lead_id),
				 errhint("Look the lead up in lead_mgmt.leads; lead_mgmt.capture() returns the id of a new lead.")));
	old = MemoryContextSwitchTo(caller);
	tup = heap_copytuple(SPI_tuptable->vals[0]);
	*desc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
	MemoryContextSwitchTo(old);
	SPI_finish();
	return tup;
}

/*
 * The points an event rule contributes: n occurrences times its points.
 * The score is checked to fit an integer, but one rule's share need not
 * (2 x 2,000,000,000 beside -2,000,000,000 scores 2,000,000,000).  Such a
 * row cannot be shown in explain_score's integer column, and a wrapped or
 * clamped number would break the promise that the rows sum to the score,
 * so it is an error that says which rule and what it would be.  (The
 * column stays integer: widening it would change the function's result
 * type for every caller, for a case that needs absurd points.)
 */
static int32
rule_points(int64 lead_id, const LmEventRule *r, int64 n)
{
	int64		points = n * r->points;	/* |n|, |points| < 2^31: no overflow */

	if (points > PG_INT32_MAX || points < PG_INT32_MIN)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("points of scoring rule \"%s\" out of range for lead " INT64_FORMAT,
						r->name, lead_id),
				 errdetail("The rule counts " INT64_FORMAT " occurrences of %d points, "
						   "which is " INT64_FORMAT " points, beyond the integer range "
						   "of explain_score's points column.",
						   n, r->points, points),
				 errhint("Lower the points of the rule or cap it with max_occurrences.")));
	return (int32) points;
}

/*
 * explain_score(lead_id) -> (rule, kind, occurrences, points): one row per
 * rule contributing to the score, in rule order.  kind is 'event' for event
 * rules, 'engagement' or 'fit' for condition rules.
 */
Datum
lm_explain_score(PG_FUNCTION_ARGS)
{
	int64		lead_id = PG_GETARG_INT64(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	desc;
	HeapTuple	tup;
	Datum	   *values;
	bool	   *isnull;
	const LmLeadCols *cols;
	LmCache    *cache;
	LmLeadCounts c = {0};
	LmLeadView	view;
	TimestampTz now = lm_now();
	int			ei = 0;
	int			ci = 0;
	bool		stale;

	InitMaterializedSRF(fcinfo, 0);
	tup = lm_fetch_lead(lead_id, &desc, false);
	cols = lm_lead_cols(desc);
	values = palloc(sizeof(Datum) * desc->natts);
	isnull = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(tup, desc, values, isnull);

	cache = lm_cache_get();
	lm_cache_pin(cache);
	stale = isnull[cols->rules_version - 1] ||
		DatumGetInt64(values[cols->rules_version - 1]) != cache->version;
	if (!stale)
	{
		lm_counts_from_row(&c, cache->preds.n, desc, values, isnull, cols);
		stale = c.n < 0 || (c.window_recheck != LM_NO_TIME && c.window_recheck <= now);
	}
	if (stale)
		lm_compute_counts_for_lead(cache, lead_id, now, &c);

	memset(&view, 0, sizeof(view));
	view.tupdesc = desc;
	view.values = values;
	view.isnull = isnull;
	view.counts = c.counts;
	view.ncounts = c.n;
	view.now = now;
	view.stage_rank = isnull[cols->stage - 1] ? -1 :
		lm_cache_stage_rank(cache, TextDatumGetCString(values[cols->stage - 1]));

	/* merge event rules and condition rules by id */
	while (ei < cache->n_event_rules || ci < cache->n_cond_rules)
	{
		Datum		out[4];
		bool		outnull[4] = {false, false, false, false};
		bool		take_event = ci >= cache->n_cond_rules ||
			(ei < cache->n_event_rules && cache->event_rules[ei].id < cache->cond_rules[ci].id);

		if (take_event)
		{
			const LmEventRule *r = &cache->event_rules[ei++];
			int64		n = r->pred < c.n ? c.counts[r->pred] : 0;

			if (r->max_occurrences >= 0 && n > r->max_occurrences)
				n = r->max_occurrences;
			if (n == 0)
				continue;
			out[0] = CStringGetTextDatum(r->name);
			out[1] = CStringGetTextDatum("event");
			out[2] = Int32GetDatum((int32) n);
			out[3] = Int32GetDatum(rule_points(lead_id, r, n));
		}
		else
		{
			const LmCondRule *r = &cache->cond_rules[ci++];

			if (!lm_cond_eval(r->cond, &view))
				continue;
			out[0] = CStringGetTextDatum(r->name);
			out[1] = CStringGetTextDatum(r->engagement ? "engagement" : "fit");
			out[2] = Int32GetDatum(1);
			out[3] = Int32GetDatum(r->points);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, outnull);
	}
	lm_cache_unpin(cache);
	return (Datum) 0;
}

/*
 * evaluate(condition, lead_id): validates the condition as a segment
 * condition would be, counts the lead's events for its event tests, and
 * evaluates it now.
 */
Datum
lm_evaluate(PG_FUNCTION_ARGS)
{
	Jsonb	   *condj = PG_GETARG_JSONB_P(0);
	int64		lead_id = PG_GETARG_INT64(1);
	LmPredicateSet preds;
	LmCond	   *cond;
	TupleDesc	desc;
	HeapTuple	tup;
	Datum	   *values;
	bool	   *isnull;
	const LmLeadCols *cols;
	int32	   *counts;
	LmLeadView	view;
	TimestampTz now = lm_now();
	LmCache    *cache;
	bool		result;

	lm_predset_init(&preds, CurrentMemoryContext);
	cond = lm_cond_parse(condj, LM_CTX_SEGMENT, lm_catalog_for_validation(), &preds);
	tup = lm_fetch_lead(lead_id, &desc, false);
	cols = lm_lead_cols(desc);
	values = palloc(sizeof(Datum) * desc->natts);
	isnull = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(tup, desc, values, isnull);
	counts = lm_count_for_predicates(&preds, lead_id, now);

	cache = lm_cache_get();
	memset(&view, 0, sizeof(view));
	view.tupdesc = desc;
	view.values = values;
	view.isnull = isnull;
	view.counts = counts;
	view.ncounts = preds.n;
	view.now = now;
	view.stage_rank = isnull[cols->stage - 1] ? -1 :
		lm_cache_stage_rank(cache, TextDatumGetCString(values[cols->stage - 1]));
	result = lm_cond_eval(cond, &view);
	PG_RETURN_BOOL(result);
}
