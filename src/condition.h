/*-------------------------------------------------------------------------
 * condition.h
 *	  The condition language (DESIGN section 4): parse, validate, evaluate.
 *
 * A condition is jsonb:
 *	  {"all": [C, ...]}  {"any": [C, ...]}  {"not": C}
 *	  {"field": F, "op": OP, "value": V}
 *	  {"event": TYPE, "within": "30 days", "min_count": 1, "max_count": N,
 *	   "properties": {...}}
 *
 * Parsing validates completely and reports the first problem with its
 * jsonpath-like location ("$.all[1].op").  Event terms are interned into an
 * LmPredicateSet: the engine keeps one count per predicate per lead, so the
 * evaluator never reads events, only counts.
 *-------------------------------------------------------------------------
 */
#ifndef LM_CONDITION_H
#define LM_CONDITION_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

/* where a condition is used: restricts the fields it may test */
typedef enum LmCondContext
{
	LM_CTX_SCORING_RULE,		/* no score, engagement_score, fit_score, stage */
	LM_CTX_STAGE,				/* no stage */
	LM_CTX_SEGMENT,
	LM_CTX_ASSIGNMENT,
	LM_CTX_SEQUENCE
} LmCondContext;

typedef enum LmCondKind
{
	LM_COND_ALL,
	LM_COND_ANY,
	LM_COND_NOT,
	LM_COND_FIELD,
	LM_COND_EVENT
} LmCondKind;

typedef enum LmOp
{
	LM_OP_EQ,
	LM_OP_NE,
	LM_OP_LT,
	LM_OP_LE,
	LM_OP_GT,
	LM_OP_GE,
	LM_OP_IN,
	LM_OP_NOT_IN,
	LM_OP_CONTAINS,
	LM_OP_EXISTS,
	LM_OP_MATCHES
} LmOp;

/* how a field's value is compared */
typedef enum LmFieldKind
{
	LM_FIELD_TEXT,				/* text column: case-insensitive */
	LM_FIELD_NUMBER,			/* integer, bigint or numeric column */
	LM_FIELD_TIMESTAMP,			/* timestamptz column */
	LM_FIELD_STAGE,				/* the stage column: compared by rank */
	LM_FIELD_AGE,				/* interval since created_at */
	LM_FIELD_ATTRIBUTE,			/* attributes.KEY[.KEY...]: typed by the json value */
	LM_FIELD_JSONB				/* the attributes column itself */
} LmFieldKind;

/* one distinct event test: type, properties filter, window */
typedef struct LmPredicate
{
	char	   *event_type;
	Jsonb	   *properties;		/* NULL: any properties */
	bool		has_within;
	Interval	within;
} LmPredicate;

/* a growable set of distinct predicates; index = position in counts[] */
typedef struct LmPredicateSet
{
	int			n;
	int			cap;
	LmPredicate *items;
	MemoryContext cxt;			/* where items and their copies live */
} LmPredicateSet;

/* a parsed comparison value (one per array element for in/not_in) */
typedef struct LmValue
{
	bool		is_null;		/* json null */
	char	   *text;			/* string form (lower-cased for text compares) */
	bool		has_number;
	Numeric		number;			/* when the value is (or parses as) a number */
	bool		has_timestamp;
	TimestampTz timestamp;
	bool		has_interval;
	Interval	interval;
	int32		stage_rank;		/* LM_FIELD_STAGE: rank of the named stage, or -1 */
	bool		is_bool;
	bool		boolean;
	Jsonb	   *json;			/* the raw value as jsonb (for contains on arrays) */
} LmValue;

typedef struct LmCond
{
	LmCondKind	kind;
	List	   *args;			/* ALL / ANY: list of LmCond * */
	struct LmCond *arg;			/* NOT */

	/* FIELD */
	char	   *field;			/* as written, e.g. "attributes.interests" */
	LmFieldKind field_kind;
	AttrNumber	attnum;			/* column in leads (for ATTRIBUTE: attributes) */
	Oid			atttypid;
	char	  **path;			/* ATTRIBUTE: keys below attributes */
	int			npath;
	LmOp		op;
	LmValue    *values;			/* one, or the array elements for in/not_in */
	int			nvalues;
	void	   *regex_text;		/* MATCHES: the pattern as a text datum */

	/* EVENT */
	int			pred;			/* index into the predicate set */
	int32		min_count;
	int32		max_count;		/* -1: unbounded */
} LmCond;

/*
 * What the parser needs to know about the database.  event_type_exists and
 * stage_rank may be NULL, in which case every event type and stage name is
 * accepted (stage rank -1).  With lenient set, unknown event types and stages
 * are accepted too (used when loading stored conditions into the cache: a
 * deleted event type must not break ingest).
 */
typedef struct LmCondCatalog
{
	TupleDesc	leads_desc;		/* tuple descriptor of lead_mgmt.leads */
	bool		(*event_type_exists) (void *arg, const char *name);
	int32		(*stage_rank) (void *arg, const char *name);	/* -1 if unknown */
	void	   *arg;
	bool		lenient;
} LmCondCatalog;

/* the lead a condition is evaluated against */
typedef struct LmLeadView
{
	TupleDesc	tupdesc;		/* of lead_mgmt.leads */
	Datum	   *values;			/* the deformed row */
	bool	   *isnull;
	const int32 *counts;		/* per predicate; NULL means all zero */
	int			ncounts;
	TimestampTz now;			/* reference time for age and windows */

	/* values the engine is computing right now override the columns */
	bool		scores_valid;
	int32		score;
	int32		engagement_score;
	int32		fit_score;
	int32		stage_rank;		/* rank of the lead's stage; -1: no stage */

	/* out: earliest time after now at which an age term changes, or 0 */
	TimestampTz next_change;
} LmLeadView;

extern void lm_predset_init(LmPredicateSet *set, MemoryContext cxt);
extern int	lm_predset_intern(LmPredicateSet *set, const char *event_type,
							  Jsonb *properties, const Interval *within);
extern bool lm_predicate_matches(const LmPredicate *p, Jsonb *properties,
								 TimestampTz occurred_at, TimestampTz now);
extern TimestampTz lm_window_end(TimestampTz occurred_at, const Interval *within);

extern LmCond *lm_cond_parse(Jsonb *cond, LmCondContext ctx,
							 const LmCondCatalog *catalog, LmPredicateSet *preds);
extern bool lm_cond_eval(const LmCond *cond, LmLeadView *lead);
extern bool lm_cond_uses_events(const LmCond *cond);
extern bool lm_cond_uses_field(const LmCond *cond, const char *field);
extern const char *lm_cond_context_name(LmCondContext ctx);
extern LmCondContext lm_cond_context_from_name(const char *name);

/*
 * A catalog for validating conditions against the database as it is now
 * (lead_mgmt.leads' columns, lead_mgmt.event_types, lead_mgmt.stages; not
 * lenient).  Built in CurrentMemoryContext; its lookups open their own SPI
 * connections, so it can be used inside or outside SPI.
 */
extern LmCondCatalog *lm_catalog_for_validation(void);

#endif							/* LM_CONDITION_H */
