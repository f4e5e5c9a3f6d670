/*-------------------------------------------------------------------------
 * segments.h
 *	  Live segment membership: decided per lead in the row trigger on
 *	  leads, mirrored into segment_members, rebuilt by refresh_segments().
 *-------------------------------------------------------------------------
 */
#ifndef LM_SEGMENTS_H
#define LM_SEGMENTS_H

#include "postgres.h"

#include "nodes/bitmapset.h"
#include "utils/array.h"

#include "rules_cache.h"

/* what the row trigger knows about a lead when deciding its segments */
typedef struct LmSegmentInput
{
	LmLeadView *view;			/* new row, scores and stage rank set */
	int64		lead_id;
	const int64 *old_ids;		/* segments the lead was in, ascending */
	int			n_old;
	bool		full;			/* re-evaluate every segment */
	const int32 *delta;			/* per-predicate counts just added, or NULL */
	int			n_delta;
	bool		score_changed;
	bool		stage_changed;
	bool		lead_updated;	/* an UPDATE: the lead exists (locked) */
	const Bitmapset *changed_cols;	/* lead columns an application changed */
	TimestampTz now;
} LmSegmentInput;

extern bool lm_segment_affected(const LmSegment *seg, const LmSegmentInput *in);
extern void lm_segments_decide(LmCache *cache, const LmSegmentInput *in,
							   int64 **new_ids, int *n_new);
extern void lm_segment_ids_from_datum(Datum d, bool isnull, int64 **ids, int *n);
extern Datum lm_segment_ids_datum(const int64 *ids, int n, bool *isnull);
extern void lm_segments_flush(void);
extern void lm_segments_reset(SubTransactionId aborted);

#endif							/* LM_SEGMENTS_H */
