/*-------------------------------------------------------------------------
 * lead_state.h
 *	  Maintains each lead's computed columns (scores, stage, counts) and
 *	  stage history: the row trigger on leads, the per-statement registry
 *	  of pending changes, and recomputation from scratch.
 *-------------------------------------------------------------------------
 */
#ifndef LM_LEAD_STATE_H
#define LM_LEAD_STATE_H

#include "postgres.h"

#include "commands/trigger.h"

#include "rules_cache.h"
#include "scoring.h"

typedef enum LmPendingMode
{
	LM_PENDING_DELTA,			/* add these counts to the stored ones */
	LM_PENDING_SCRATCH			/* replace the stored counts with these */
} LmPendingMode;

typedef enum LmOwnerAction
{
	LM_OWNER_NONE,
	LM_OWNER_MANUAL,			/* assign(): owner_rep, reason manual */
	LM_OWNER_REASSIGN			/* by the rules, excluding owner_rep */
} LmOwnerAction;

typedef struct LmPendingLead
{
	int64		lead_id;		/* hash key */
	LmPendingMode mode;
	LmLeadCounts counts;
	char	   *manual_stage;	/* set_stage(): move here, reason manual */
	char	   *manual_note;
	LmOwnerAction owner_action;
	int64		owner_rep;
	const char *owner_reason;	/* LM_OWNER_REASSIGN: history reason */
} LmPendingLead;

/* changes one statement of ours is about to apply to leads */
typedef struct LmPending
{
	MemoryContext cxt;
	LmCache    *cache;
	TimestampTz now;
	HTAB	   *leads;			/* lead_id -> LmPendingLead */
	bool		scratch_all;	/* leads not in the hash have no events */
	bool		eval_all_segments;	/* re-evaluate every segment of each lead */
	struct LmPending *prev;
} LmPending;

extern void lm_state_init(void);
extern TimestampTz lm_now(void);
extern void lm_set_now_override(TimestampTz at);
extern void lm_set_reason_override(const char *reason);

extern LmPending *lm_pending_begin(LmCache *cache, TimestampTz now);
extern LmPendingLead *lm_pending_lead(LmPending *p, int64 lead_id, LmPendingMode mode);
extern void lm_pending_end(LmPending *p);
extern uint64 lm_pending_apply(LmPending *p, bool all_leads);

extern void lm_scratch_scan(LmPending *p, const int64 *ids, int n);
extern void lm_pending_rescratch(LmPending *p, const int64 *ids, int n);
extern uint64 lm_recompute_leads(const int64 *ids, int n);
extern uint64 lm_recompute_all(void);
extern void lm_compute_counts_for_lead(LmCache *cache, int64 lead_id, TimestampTz now,
									   LmLeadCounts *out);

extern int32 *lm_count_for_predicates(const LmPredicateSet *preds, int64 lead_id,
									  TimestampTz now);
extern HeapTuple lm_leads_trigger_row(TriggerData *trigdata);
extern void lm_history_flush(void);
extern bool lm_internal_write(void);

/* column numbers of lead_mgmt.leads we read and write */
typedef struct LmLeadCols
{
	AttrNumber	id,
				external_id,
				email,
				attributes,
				created_at,
				score,
				engagement_score,
				fit_score,
				stage,
				stage_changed_at,
				stage_ceiling,	/* 0 at 0.1 */
				owner_id,
				assigned_at,
				last_event_at,
				converted_at,
				event_counts,
				recheck_at,
				rules_version,
				segment_ids,
				sequence_ids,
				region,
				industry,
				disqualified_at;
} LmLeadCols;

extern const LmLeadCols *lm_lead_cols(TupleDesc desc);
extern Bitmapset *lm_lead_computed_cols(TupleDesc desc);
extern void lm_counts_from_row(LmLeadCounts *c, int npreds, TupleDesc desc,
							   Datum *values, bool *isnull, const LmLeadCols *cols);

#endif							/* LM_LEAD_STATE_H */
