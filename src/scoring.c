/*-------------------------------------------------------------------------
 * scoring.c
 *	  The scoring arithmetic, shared by the incremental path (one event at a
 *	  time, from triggers) and the from-scratch path (rescore, maintenance):
 *	  both count events through lm_counts_add_event and derive scores and
 *	  stages through lm_derive, so they cannot disagree.
 *
 * Rules: pure functions over the rules cache; no SPI, no global state;
 * allocation in the caller's memory context.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"

#include "lead_state.h"
#include "scoring.h"
#include "util.h"

/* Zeroed counts for n predicates. */
void
lm_counts_init(LmLeadCounts *c, int n)
{
	c->n = n;
	c->counts = palloc0(sizeof(int32) * Max(n, 1));
	c->window_recheck = LM_NO_TIME;
	c->last_event_at = LM_NO_TIME;
	c->converted_at = LM_NO_TIME;
}

static inline TimestampTz
earliest(TimestampTz a, TimestampTz b)
{
	if (a == LM_NO_TIME)
		return b;
	if (b == LM_NO_TIME)
		return a;
	return Min(a, b);
}

static inline TimestampTz
latest(TimestampTz a, TimestampTz b)
{
	if (a == LM_NO_TIME)
		return b;
	if (b == LM_NO_TIME)
		return a;
	return Max(a, b);
}

/*
 * Counts one event into c: every predicate of its type that it satisfies at
 * time now is incremented; a windowed one records when the event leaves the
 * window, so maintenance knows when to look again.
 */
void
lm_counts_add_event(LmCache *cache, LmLeadCounts *c, const char *event_type,
					Jsonb *properties, TimestampTz occurred_at, TimestampTz now)
{
	LmTypeEntry *te = lm_cache_type(cache, event_type);

	c->last_event_at = latest(c->last_event_at, occurred_at);
	if (strcmp(event_type, "purchase") == 0)
		c->converted_at = earliest(c->converted_at, occurred_at);
	if (te == NULL)
		return;
	for (int i = 0; i < te->npreds; i++)
	{
		int			p = te->preds[i];
		const LmPredicate *pred = &cache->preds.items[p];

		if (p >= c->n)
			continue;
		if (!lm_predicate_matches(pred, properties, occurred_at, now))
			continue;
		if (c->counts[p] < PG_INT32_MAX)
			c->counts[p]++;
		if (pred->has_within)
		{
			TimestampTz expiry = lm_window_end(occurred_at, &pred->within);

			if (expiry != DT_NOEND)
				c->window_recheck = earliest(c->window_recheck, expiry);
		}
	}
}

/* Adds a delta (counts of new events) to a lead's counts. */
void
lm_counts_merge(LmLeadCounts *into, const LmLeadCounts *delta)
{
	for (int i = 0; i < into->n && i < delta->n; i++)
	{
		int64		v = (int64) into->counts[i] + delta->counts[i];

		into->counts[i] = (int32) Min(v, PG_INT32_MAX);
	}
	into->window_recheck = earliest(into->window_recheck, delta->window_recheck);
	into->last_event_at = latest(into->last_event_at, delta->last_event_at);
	into->converted_at = earliest(into->converted_at, delta->converted_at);
}

/*
 * The points an event earns from the active event rules of its type, before
 * caps and windows (what events.points records).
 */
int32
lm_event_points(LmCache *cache, LmTypeEntry *te, Jsonb *properties)
{
	int64		points = 0;

	if (te == NULL)
		return 0;
	for (int i = 0; i < te->nrules; i++)
	{
		const LmEventRule *r = &cache->event_rules[te->rules[i]];

		if (r->properties != NULL &&
			!lm_predicate_matches(&cache->preds.items[r->pred], properties, 0, 0))
			continue;
		points += r->points;
	}
	return (int32) Max(Min(points, PG_INT32_MAX), PG_INT32_MIN);
}

/* The id of the lead a view shows, or -1 (for error messages only). */
static int64
view_lead_id(const LmLeadView *view)
{
	const LmLeadCols *cols;

	if (view->tupdesc == NULL)
		return -1;
	cols = lm_lead_cols(view->tupdesc);
	return cols->id <= 0 || view->isnull[cols->id - 1] ? -1 :
		DatumGetInt64(view->values[cols->id - 1]);
}

/*
 * A score must fit the integer columns of leads.  Past them, the statement
 * that changed the lead (an event, or a rule change recomputing a million
 * leads) fails; the detail names the lead so that a DBA can look at it.
 */
static void
check_scores(const LmLeadView *view, int64 engagement, int64 fit)
{
	int64		score = engagement + fit;
	int64		lead_id;

	if (engagement >= PG_INT32_MIN && engagement <= PG_INT32_MAX &&
		fit >= PG_INT32_MIN && fit <= PG_INT32_MAX &&
		score >= PG_INT32_MIN && score <= PG_INT32_MAX)
		return;
	lead_id = view_lead_id(view);
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("lead score out of range"),
			 lead_id >= 0 ?
			 errdetail("Lead " INT64_FORMAT " would score " INT64_FORMAT
					   " (engagement " INT64_FORMAT ", fit " INT64_FORMAT
					   "); scores range from %d to %d.",
					   lead_id, score, engagement, fit, PG_INT32_MIN, PG_INT32_MAX) :
			 errdetail("The lead would score " INT64_FORMAT
					   " (engagement " INT64_FORMAT ", fit " INT64_FORMAT
					   "); scores range from %d to %d.",
					   score, engagement, fit, PG_INT32_MIN, PG_INT32_MAX),
			 errhint("Lower the points of the scoring rules or cap them with max_occurrences.")));
}

/* Index of the lowest-ranked stage (where every lead starts), or -1. */
int
lm_lowest_stage(LmCache *cache)
{
	return cache->n_stages > 0 ? 0 : -1;
}

/*
 * Derives scores from counts and fields, then the highest stage above
 * current_rank the lead reaches (score >= min_score, or condition holds).
 * view->counts must be set; view's score overrides are filled in here so
 * stage conditions can test the score.
 */
void
lm_derive(LmCache *cache, LmLeadView *view, int32 current_rank, LmDerived *out)
{
	int64		engagement = 0;
	int64		fit = 0;

	view->scores_valid = false;
	view->next_change = 0;
	for (int i = 0; i < cache->n_event_rules; i++)
	{
		const LmEventRule *r = &cache->event_rules[i];
		int64		n = (r->pred < view->ncounts && view->counts) ? view->counts[r->pred] : 0;

		if (r->max_occurrences >= 0 && n > r->max_occurrences)
			n = r->max_occurrences;
		engagement += n * r->points;
	}
	for (int i = 0; i < cache->n_cond_rules; i++)
	{
		const LmCondRule *r = &cache->cond_rules[i];

		if (lm_cond_eval(r->cond, view))
		{
			if (r->engagement)
				engagement += r->points;
			else
				fit += r->points;
		}
	}
	check_scores(view, engagement, fit);
	out->engagement_score = (int32) engagement;
	out->fit_score = (int32) fit;
	out->score = (int32) (engagement + fit);

	view->scores_valid = true;
	view->score = out->score;
	view->engagement_score = out->engagement_score;
	view->fit_score = out->fit_score;

	out->stage_index = -1;
	out->reason = NULL;
	for (int i = cache->n_stages - 1; i >= 0; i--)
	{
		const LmStage *st = &cache->stages[i];

		if (st->rank <= current_rank)
			break;
		if (st->has_min_score && out->score >= st->min_score)
		{
			out->stage_index = i;
			out->reason = "score";
			break;
		}
		if (st->cond != NULL && lm_cond_eval(st->cond, view))
		{
			out->stage_index = i;
			out->reason = "condition";
			break;
		}
	}
	out->next_change = view->next_change;
}
