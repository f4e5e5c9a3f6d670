/*-------------------------------------------------------------------------
 * scoring.h
 *	  From events to counts, from counts and lead fields to scores and the
 *	  stage a lead reaches; explain_score and evaluate.
 *-------------------------------------------------------------------------
 */
#ifndef LM_SCORING_H
#define LM_SCORING_H

#include "postgres.h"

#include "rules_cache.h"

/* what a lead's events amount to, per predicate of the current cache */
typedef struct LmLeadCounts
{
	int			n;
	int32	   *counts;
	TimestampTz window_recheck; /* earliest expiry of a counted windowed event */
	TimestampTz last_event_at;
	TimestampTz converted_at;	/* first purchase */
} LmLeadCounts;

/* scores and stage derived for one lead */
typedef struct LmDerived
{
	int32		engagement_score;
	int32		fit_score;
	int32		score;
	int			stage_index;	/* index in cache->stages reached above the
								 * current rank, or -1 */
	const char *reason;			/* "score" or "condition" */
	TimestampTz next_change;	/* earliest age flip, or 0 */
} LmDerived;

extern void lm_counts_init(LmLeadCounts *c, int n);
extern void lm_counts_add_event(LmCache *cache, LmLeadCounts *c, const char *event_type,
								Jsonb *properties, TimestampTz occurred_at, TimestampTz now);
extern void lm_counts_merge(LmLeadCounts *into, const LmLeadCounts *delta);
extern int32 lm_event_points(LmCache *cache, LmTypeEntry *te, Jsonb *properties);
extern void lm_derive(LmCache *cache, LmLeadView *view, int32 current_rank, LmDerived *out);
extern int	lm_lowest_stage(LmCache *cache);

#endif							/* LM_SCORING_H */
