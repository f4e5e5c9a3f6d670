/*-------------------------------------------------------------------------
 * rules_cache.h
 *	  Per-backend cache of event types, scoring rules and stages, with the
 *	  predicates their event tests need counted.
 *-------------------------------------------------------------------------
 */
#ifndef LM_RULES_CACHE_H
#define LM_RULES_CACHE_H

#include "postgres.h"

#include "nodes/bitmapset.h"
#include "utils/array.h"
#include "utils/hsearch.h"

#include "condition.h"

#define LM_TYPE_NAME_LEN 64

typedef struct LmEventRule
{
	int64		id;
	char	   *name;
	char	   *event_type;
	Jsonb	   *properties;		/* NULL: any */
	int			pred;			/* predicate counted for this rule */
	int32		points;
	int32		max_occurrences;	/* -1: unlimited */
} LmEventRule;

typedef struct LmCondRule
{
	int64		id;
	char	   *name;
	LmCond	   *cond;
	int32		points;
	bool		engagement;		/* tests events (else: fit) */
} LmCondRule;

typedef struct LmStage
{
	char	   *name;
	int32		rank;
	bool		has_min_score;
	int32		min_score;
	LmCond	   *cond;			/* NULL: none */
	bool		assign_on_entry;
} LmStage;

/* a segment and what its condition depends on */
typedef struct LmSegment
{
	int64		id;
	char	   *name;
	LmCond	   *cond;
	bool		dep_score;		/* tests score, engagement_score or fit_score */
	bool		dep_stage;
	bool		dep_age;
	Bitmapset  *dep_cols;		/* leads columns tested */
	Bitmapset  *dep_preds;		/* predicates counted */
} LmSegment;

/* a nurture sequence: enrolment and exit conditions with their dependencies */
typedef struct LmSequence
{
	int64		id;
	LmSegment	enroll;			/* id, cond and dependencies of enroll_condition */
	bool		has_exit;
	LmSegment	exit;
} LmSequence;

/* an assignment rule; its event tests are counted on demand */
typedef struct LmAssignRule
{
	int64		id;
	char	   *name;
	int32		priority;
	LmCond	   *cond;			/* NULL: always */
	char	   *method;
	bool		has_rep_ids;
	ArrayType  *rep_ids;
	bool		match_region;
	bool		match_industry;
	int			min_seniority;	/* 0 junior, 1 senior, 2 enterprise; -1 none */
	bool		has_sla;
	Interval	sla;
} LmAssignRule;

/* everything known about one registered event type */
typedef struct LmTypeEntry
{
	char		name[LM_TYPE_NAME_LEN];	/* hash key */
	bool		registered;		/* in lead_mgmt.event_types */
	bool		sales_touch;	/* category sales_touch: rep activity */
	int			npreds;
	int		   *preds;			/* predicates testing this type */
	int			nrules;
	int		   *rules;			/* active event rules of this type */
} LmTypeEntry;

typedef struct LmCache
{
	MemoryContext cxt;
	int64		version;		/* engine_state.rules_version when loaded */
	bool		rescore_pending;
	LmPredicateSet preds;
	int			n_event_rules;
	LmEventRule *event_rules;
	int			n_cond_rules;
	LmCondRule *cond_rules;
	int			n_stages;
	LmStage    *stages;			/* ascending rank */
	int			n_segments;
	LmSegment  *segments;		/* active segments, ascending id */
	int			n_sequences;
	LmSequence *sequences;		/* active, ascending id */
	int			unsubscribe_pred;	/* {"event": "email_unsubscribed"}, or -1 */
	Bitmapset  *cond_dep_cols;	/* leads columns any segment or sequence tests */
	bool		derive_tests_late_cols; /* a rule or stage tests owner_id,
										 * assigned_at or stage_changed_at */
	int			n_assign_rules;
	LmAssignRule *assign_rules;	/* active, by priority then id */
	LmPredicateSet assign_preds;	/* event tests of assignment rules */
	bool		has_default_sla;	/* the setting default_sla is set */
	Interval	default_sla;
	HTAB	   *types;			/* name -> LmTypeEntry */
	TupleDesc	leads_desc;		/* lead_mgmt.leads as of loading */
	int			pins;
	bool		stale;
} LmCache;

extern void lm_cache_init(void);
extern LmCache *lm_cache_get(void);
extern void lm_cache_pin(LmCache *cache);
extern void lm_cache_unpin(LmCache *cache);
extern void lm_cache_invalidate(void);
extern void lm_cache_invalidate_all_backends(void);
extern void lm_cache_at_xact_end(void);
extern LmTypeEntry *lm_cache_type(LmCache *cache, const char *event_type);
extern const LmStage *lm_cache_stage(LmCache *cache, const char *name);
extern int32 lm_cache_stage_rank(LmCache *cache, const char *name);
extern bool lm_cache_customer_stage(LmCache *cache, const char *stage);
extern ArrayType *lm_cache_customer_stages(LmCache *cache);

#endif							/* LM_RULES_CACHE_H */
