/*-------------------------------------------------------------------------
 * nurture.h
 *	  Nurture enrolment and exit, decided by the row trigger on leads; the
 *	  touch queue (claim_touches, complete_touch) lives in SQL.
 *-------------------------------------------------------------------------
 */
#ifndef LM_NURTURE_H
#define LM_NURTURE_H

#include "postgres.h"

#include "rules_cache.h"
#include "segments.h"

/* what the row trigger adds to the segment input for nurture decisions */
typedef struct LmNurtureInput
{
	const LmSegmentInput *seg;	/* view, lead, what changed */
	const int64 *old_ids;		/* sequences ever enrolled, ascending */
	int			n_old;
	const char *exit_all;		/* reason to exit every enrolment, or NULL */
	bool		can_enroll;		/* not a customer, not disqualified, not unsubscribed */
} LmNurtureInput;

extern void lm_nurture_decide(LmCache *cache, const LmNurtureInput *in,
							   int64 **new_ids, int *n_new);
extern void lm_nurture_flush(void);
extern void lm_nurture_reset(SubTransactionId aborted);

#endif							/* LM_NURTURE_H */
