/*-------------------------------------------------------------------------
 * direct.h
 *	  Writes without an SQL statement: the update of the leads a statement's
 *	  events touched, and for a single event the inserts into the tables
 *	  lead_mgmt writes for it (stage_history, segment_members, assignments).
 *-------------------------------------------------------------------------
 */
#ifndef LM_DIRECT_H
#define LM_DIRECT_H

#include "postgres.h"

/* outcome of lm_direct_insert */
typedef enum LmDirectResult
{
	LM_DIRECT_DONE,				/* the row was inserted (or deleted) */
	LM_DIRECT_SKIPPED,			/* a probed row is missing, or a conflict */
	LM_DIRECT_UNSUPPORTED		/* run the statement instead (see direct.c) */
} LmDirectResult;

/* a row that must exist for an insert to happen: key of relation's pkey */
typedef struct LmDirectProbe
{
	Oid			relid;
	int64		key;
} LmDirectProbe;

extern bool lm_direct_update_leads(Oid leads_relid, const int64 *ids, int n, uint64 *updated);
extern LmDirectResult lm_direct_insert(Oid relid, int ncols, const char *const *cols,
									   const Oid *types, const Datum *values, const bool *nulls,
									   const LmDirectProbe *probes, int nprobes,
									   bool skip_conflicts);
extern LmDirectResult lm_direct_delete(Oid relid, int nkeys, const int64 *keys);
extern void lm_direct_init(void);

#endif							/* LM_DIRECT_H */
