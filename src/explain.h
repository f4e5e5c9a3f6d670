/*-------------------------------------------------------------------------
 * explain.h
 *	  explain_score() and evaluate(): the engine's reasoning, on demand.
 *-------------------------------------------------------------------------
 */
#ifndef LM_EXPLAIN_H
#define LM_EXPLAIN_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"

extern HeapTuple lm_fetch_lead(int64 lead_id, TupleDesc *desc, bool for_update);

#endif							/* LM_EXPLAIN_H */
