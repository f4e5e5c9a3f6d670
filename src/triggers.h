/*-------------------------------------------------------------------------
 * triggers.h
 *	  Trigger entry points on leads, events and the configuration tables,
 *	  and the recomputation of assignments' first sales touches.
 *-------------------------------------------------------------------------
 */
#ifndef LM_TRIGGERS_H
#define LM_TRIGGERS_H

#include "postgres.h"

#include "access/tupdesc.h"

/* column numbers of lead_mgmt.events */
typedef struct LmEventCols
{
	AttrNumber	lead_id,
				event_type,
				occurred_at,
				properties,
				points,
				dedupe_key;
} LmEventCols;

extern const LmEventCols *lm_event_cols(TupleDesc desc);

/* first_touch_at of the assignments of these leads (n < 0: of all) */
extern void lm_first_touch_recompute(const int64 *ids, int n);

#endif							/* LM_TRIGGERS_H */
