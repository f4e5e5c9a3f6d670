/*-------------------------------------------------------------------------
 * assignment.h
 *	  Distribution of sales-ready leads to reps: rule evaluation, rep
 *	  eligibility, the four methods, and the assignment history queue.
 *-------------------------------------------------------------------------
 */
#ifndef LM_ASSIGNMENT_H
#define LM_ASSIGNMENT_H

#include "postgres.h"

#include "rules_cache.h"

typedef struct LmAssignChoice
{
	int64		rep_id;			/* 0: nobody eligible */
	int64		rule_id;
	const char *method;
} LmAssignChoice;

extern void lm_assign_choose(LmCache *cache, LmLeadView *view, int64 lead_id,
							 const char *region, const char *industry,
							 int64 exclude_rep, TimestampTz now, LmAssignChoice *out);
extern void lm_assign_queue(int64 lead_id, int64 rep_id, int64 rule_id, const char *method,
							TimestampTz at, const char *reason, bool end_previous);
extern void lm_assign_notify_unassigned(int64 lead_id);
extern void lm_assign_flush(void);
extern void lm_assign_reset(SubTransactionId aborted);
extern uint64 lm_assign_sla_breaches(TimestampTz at, uint64 *kept);

/* What a reassignment (redistribute, SLA) did with a lead */
typedef enum LmReassignOutcome
{
	LM_REASSIGN_MOVED,			/* to another rep */
	LM_REASSIGN_RELEASED,		/* to nobody (redistribute) */
	LM_REASSIGN_KEPT			/* SLA: nobody else eligible, owner keeps it */
} LmReassignOutcome;
extern void lm_assign_note_reassign(LmReassignOutcome outcome);
extern TimestampTz lm_assign_first_touch(int64 lead_id, int64 rep_id, TimestampTz since,
										 bool *isnull);
extern TimestampTz lm_assign_first_touch_recorded(int64 lead_id, int64 rep_id, TimestampTz since,
												  bool *isnull);

#endif							/* LM_ASSIGNMENT_H */
