/*-------------------------------------------------------------------------
 * segments.c
 *	  Live segment membership.
 *
 * Each lead carries the ids of the segments it is in (leads.segment_ids,
 * ascending).  The row trigger on leads calls lm_segments_decide() with
 * what changed; a segment is re-evaluated only if its condition depends on
 * something that changed (a counted predicate, a tested column, the score,
 * the stage) or when everything is being recomputed.  Entries and exits are
 * queued (in TopTransactionContext) and written to segment_members by the
 * statement trigger on leads, set-based.
 *
 * refresh_segments() reads every lead once, evaluates segments in memory
 * and updates only the leads whose membership (or stale state) needs it.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "condition.h"
#include "direct.h"
#include "explain.h"
#include "lead_state.h"
#include "segments.h"
#include "util.h"

PG_FUNCTION_INFO_V1(lm_refresh_segments);

typedef struct LmMembership
{
	SubTransactionId subid;	/* first: see LmQueuedItem */
	int64		segment_id;
	int64		lead_id;
	bool		enter;
	bool		lead_updated;	/* of an UPDATE: no need to probe the lead */
	TimestampTz at;
} LmMembership;

static List *queued = NIL;		/* of LmMembership, TopTransactionContext */
static SPIPlanPtr plan_enter = NULL;
static SPIPlanPtr plan_exit = NULL;
static SPIPlanPtr plan_segment = NULL;

/*
 * Does something this condition depends on differ from before?  (Also used
 * for nurture conditions, which carry the same dependency summary.)
 */
bool
lm_segment_affected(const LmSegment *seg, const LmSegmentInput *in)
{
	int			p;

	if (in->full)
		return true;
	if (seg->dep_score && in->score_changed)
		return true;
	if (seg->dep_stage && in->stage_changed)
		return true;
	if (in->changed_cols != NULL && bms_overlap(seg->dep_cols, in->changed_cols))
		return true;
	if (in->delta != NULL)
	{
		p = -1;
		while ((p = bms_next_member(seg->dep_preds, p)) >= 0)
			if (p < in->n_delta && in->delta[p] != 0)
				return true;
	}
	return false;
}

static void
queue(int64 segment_id, int64 lead_id, bool enter, bool lead_updated, TimestampTz at)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	LmMembership *m = palloc(sizeof(LmMembership));

	m->segment_id = segment_id;
	m->lead_id = lead_id;
	m->enter = enter;
	m->lead_updated = lead_updated;
	m->at = at;
	m->subid = GetCurrentSubTransactionId();
	queued = lappend(queued, m);
	MemoryContextSwitchTo(old);
}

/*
 * Decides the segments of one lead (ascending ids, palloc'd) and queues the
 * entries and exits for segment_members.
 */
void
lm_segments_decide(LmCache *cache, const LmSegmentInput *in, int64 **new_ids, int *n_new)
{
	int64	   *ids = palloc(sizeof(int64) * Max(cache->n_segments, 1));
	int			n = 0;

	for (int i = 0; i < cache->n_segments; i++)
	{
		const LmSegment *seg = &cache->segments[i];
		bool		was = lm_int64_find(in->old_ids, in->n_old, seg->id) >= 0;
		bool		is;

		is = lm_segment_affected(seg, in) ? lm_cond_eval(seg->cond, in->view) : was;
		if (is)
			ids[n++] = seg->id;
		if (is != was)
			queue(seg->id, in->lead_id, is, in->lead_updated, in->now);
	}
	/* segments that are gone (deleted or deactivated): leave them */
	for (int i = 0; i < in->n_old; i++)
	{
		bool		known = false;

		for (int j = 0; j < cache->n_segments && !known; j++)
			known = cache->segments[j].id == in->old_ids[i];
		if (!known)
			queue(in->old_ids[i], in->lead_id, false, in->lead_updated, in->now);
	}
	*new_ids = ids;
	*n_new = n;
}

/* Reads leads.segment_ids. */
void
lm_segment_ids_from_datum(Datum d, bool isnull, int64 **ids, int *n)
{
	ArrayType  *arr;

	*ids = NULL;
	*n = 0;
	if (isnull)
		return;
	arr = DatumGetArrayTypeP(d);
	if (ARR_NDIM(arr) != 1 || ARR_HASNULL(arr) || ARR_ELEMTYPE(arr) != INT8OID)
		return;
	*n = ARR_DIMS(arr)[0];
	*ids = (int64 *) ARR_DATA_PTR(arr);
}

/* leads.segment_ids for a set of ids (NULL when empty). */
Datum
lm_segment_ids_datum(const int64 *ids, int n, bool *isnull)
{
	*isnull = (n == 0);
	if (n == 0)
		return (Datum) 0;
	return PointerGetDatum(lm_int8_array(ids, n));
}

/* a single event's changes are written row by row up to this many */
#define LM_DIRECT_MAX_ROWS 8

/*
 * Removes memberships without a statement where direct.c can; returns how
 * many are left, moved to the front of the arrays.
 */
static int
direct_exits(int64 *xseg, int64 *xlead, int nx)
{
	Oid			relid = nx > 0 ? lm_relid("segment_members") : InvalidOid;
	int			left = 0;

	for (int i = 0; i < nx; i++)
	{
		int64		keys[2];

		keys[0] = xseg[i];
		keys[1] = xlead[i];
		if (lm_direct_delete(relid, 2, keys) == LM_DIRECT_UNSUPPORTED)
		{
			xseg[left] = xseg[i];
			xlead[left] = xlead[i];
			left++;
		}
	}
	return left;
}

/*
 * Adds memberships without a statement where direct.c can (of leads and
 * segments that exist, skipping those already there; a lead updated by
 * the statement exists); returns how many are left, moved to the front of
 * the arrays.
 */
static int
direct_entries(int64 *seg, int64 *lead, TimestampTz *at, bool *lead_updated, int ne)
{
	static const char *const cols[3] = {"segment_id", "lead_id", "since"};
	static const Oid types[3] = {INT8OID, INT8OID, TIMESTAMPTZOID};
	Oid			relid = ne > 0 ? lm_relid("segment_members") : InvalidOid;
	Oid			leads_relid = InvalidOid;	/* looked up if a lead must be probed */
	Oid			segments_relid = ne > 0 ? lm_relid("segments") : InvalidOid;
	int			left = 0;

	for (int i = 0; i < ne; i++)
	{
		Datum		values[3];
		bool		isnull[3] = {false, false, false};
		LmDirectProbe probes[2];

		values[0] = Int64GetDatum(seg[i]);
		values[1] = Int64GetDatum(lead[i]);
		values[2] = TimestampTzGetDatum(at[i]);
		probes[0].relid = segments_relid;
		probes[0].key = seg[i];
		if (!lead_updated[i] && !OidIsValid(leads_relid))
			leads_relid = lm_relid("leads");
		probes[1].relid = leads_relid;
		probes[1].key = lead[i];
		if (lm_direct_insert(relid, 3, cols, types, values, isnull,
							 probes, lead_updated[i] ? 1 : 2, true) == LM_DIRECT_UNSUPPORTED)
		{
			seg[left] = seg[i];
			lead[left] = lead[i];
			at[left] = at[i];
			lead_updated[left] = lead_updated[i];
			left++;
		}
	}
	return left;
}

/* Writes queued entries and exits to segment_members. */
void
lm_segments_flush(void)
{
	List	   *items = queued;
	int			n = list_length(items);
	int64	   *seg;
	int64	   *lead;
	TimestampTz *at;
	bool	   *upd;
	int			ne = 0;
	int			nx = 0;
	int64	   *xseg;
	int64	   *xlead;
	ListCell   *lc;

	if (n == 0)
		return;
	queued = NIL;
	seg = palloc(sizeof(int64) * n);
	lead = palloc(sizeof(int64) * n);
	at = palloc(sizeof(TimestampTz) * n);
	upd = palloc(sizeof(bool) * n);
	xseg = palloc(sizeof(int64) * n);
	xlead = palloc(sizeof(int64) * n);
	foreach(lc, items)
	{
		LmMembership *m = lfirst(lc);

		if (m->enter)
		{
			seg[ne] = m->segment_id;
			lead[ne] = m->lead_id;
			at[ne] = m->at;
			upd[ne] = m->lead_updated;
			ne++;
		}
		else
		{
			xseg[nx] = m->segment_id;
			xlead[nx] = m->lead_id;
			nx++;
		}
	}

	/*
	 * A single event's few exits and entries, row by row without a
	 * statement (direct.c); the statements below take what is left: bulk
	 * changes, and rows the direct path declines.
	 */
	if (nx <= LM_DIRECT_MAX_ROWS)
		nx = direct_exits(xseg, xlead, nx);
	if (ne <= LM_DIRECT_MAX_ROWS)
		ne = direct_entries(seg, lead, at, upd, ne);
	if (nx == 0 && ne == 0)
		return;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");

	if (nx > 0)
	{
		Oid			types[2] = {INT8ARRAYOID, INT8ARRAYOID};
		Datum		args[2];

		args[0] = PointerGetDatum(lm_int8_array(xseg, nx));
		args[1] = PointerGetDatum(lm_int8_array(xlead, nx));
		if (SPI_execute_plan(lm_plan(&plan_exit,
									 "DELETE FROM lead_mgmt.segment_members m "
									 "USING ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS u(s, l) "
									 "WHERE m.segment_id OPERATOR(pg_catalog.=) u.s "
									 "  AND m.lead_id OPERATOR(pg_catalog.=) u.l",
									 2, types), args, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "lead_mgmt: removing segment members failed");
	}
	if (ne > 0)
	{
		Oid			types[4] = {INT8ARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID, BOOLARRAYOID};
		Datum		args[4];

		args[0] = PointerGetDatum(lm_int8_array(seg, ne));
		args[1] = PointerGetDatum(lm_int8_array(lead, ne));
		args[2] = PointerGetDatum(lm_timestamptz_array(at, ne));
		args[3] = PointerGetDatum(lm_bool_array(upd, ne));

		/*
		 * A lead an UPDATE changed exists (it is locked); only the entries
		 * of leads an INSERT queued, which ON CONFLICT DO NOTHING may have
		 * skipped, look the lead up.
		 */
		if (SPI_execute_plan(lm_plan(&plan_enter,
									 "INSERT INTO lead_mgmt.segment_members (segment_id, lead_id, since) "
									 "SELECT u.s, u.l, u.t "
									 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), "
									 "                pg_catalog.unnest($3), pg_catalog.unnest($4)) AS u(s, l, t, updated) "
									 "WHERE (u.updated OR EXISTS (SELECT 1 FROM lead_mgmt.leads x "
									 "                            WHERE x.id OPERATOR(pg_catalog.=) u.l)) "
									 "  AND EXISTS (SELECT 1 FROM lead_mgmt.segments g WHERE g.id OPERATOR(pg_catalog.=) u.s) "
									 "ON CONFLICT DO NOTHING",
									 4, types), args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "lead_mgmt: adding segment members failed");
	}
	SPI_finish();
}

/*
 * Forgets queued changes: all of them at transaction end (aborted ==
 * InvalidSubTransactionId), those of an aborted subtransaction otherwise.
 */
void
lm_segments_reset(SubTransactionId aborted)
{
	queued = lm_drop_aborted(queued, aborted);
}

/*
 * Makes segment_members agree with leads.segment_ids (of one segment, or
 * all with segment_id 0), in case it was edited by hand.  Returns the number
 * of rows added or removed.
 */
static uint64
reconcile_members(int64 segment_id)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1];
	uint64		n = 0;

	args[0] = Int64GetDatum(segment_id);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	if (SPI_execute_with_args("DELETE FROM lead_mgmt.segment_members m "
							  "WHERE ($1 OPERATOR(pg_catalog.=) 0 OR m.segment_id OPERATOR(pg_catalog.=) $1) "
							  "  AND NOT EXISTS (SELECT 1 FROM lead_mgmt.leads l "
							  "                  WHERE l.id OPERATOR(pg_catalog.=) m.lead_id "
							  "                    AND m.segment_id OPERATOR(pg_catalog.=) ANY (l.segment_ids))",
							  1, types, args, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "lead_mgmt: reconciling segment members failed");
	n += SPI_processed;
	/*
	 * Only the missing rows: an anti-join reads segment_members once,
	 * where ON CONFLICT alone would probe its index for every membership
	 * (two thirds of a refresh with nothing to change).  ON CONFLICT stays
	 * for rows a concurrent transaction adds meanwhile.
	 */
	if (SPI_execute_with_args("INSERT INTO lead_mgmt.segment_members (segment_id, lead_id, since) "
							  "SELECT s.id, l.id, pg_catalog.now() "
							  "FROM lead_mgmt.leads l, pg_catalog.unnest(l.segment_ids) AS s(id) "
							  "WHERE ($1 OPERATOR(pg_catalog.=) 0 OR s.id OPERATOR(pg_catalog.=) $1) "
							  "  AND NOT EXISTS (SELECT 1 FROM lead_mgmt.segment_members m "
							  "                  WHERE m.segment_id OPERATOR(pg_catalog.=) s.id "
							  "                    AND m.lead_id OPERATOR(pg_catalog.=) l.id) "
							  "ON CONFLICT DO NOTHING",
							  1, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "lead_mgmt: reconciling segment members failed");
	n += SPI_processed;
	SPI_finish();
	return n;
}

/*
 * refresh_segments(segment_id default null): re-evaluates every lead's
 * membership (of one segment, or all) now; returns the number of leads
 * updated plus segment_members rows repaired.  Reads leads once; updates
 * only those whose membership differs or whose stored state is stale (they
 * are recounted on the way).
 */
Datum
lm_refresh_segments(PG_FUNCTION_ARGS)
{
	LmCache    *cache;
	LmPending  *p;
	const LmSegment *only = NULL;
	Portal		portal;
	TimestampTz now = lm_now();
	MemoryContext batch_cxt;
	uint64		done;

	cache = lm_cache_get();
	if (!PG_ARGISNULL(0))
	{
		int64		id = PG_GETARG_INT64(0);

		for (int i = 0; i < cache->n_segments; i++)
			if (cache->segments[i].id == id)
				only = &cache->segments[i];
		if (only == NULL)
		{
			Oid			types[1] = {INT8OID};
			Datum		args[1];
			bool		exists;

			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "lead_mgmt: SPI_connect failed");
			args[0] = Int64GetDatum(id);
			SPI_execute_plan(lm_plan(&plan_segment,
									 "SELECT 1 FROM lead_mgmt.segments WHERE id OPERATOR(pg_catalog.=) $1",
									 1, types), args, NULL, false, 1);
			exists = SPI_processed > 0;
			SPI_finish();
			if (!exists)
				ereport(ERROR,
						(errcode(ERRCODE_NO_DATA_FOUND),
						 errmsg("segment " INT64_FORMAT " does not exist", id),
						 errhint("Look the segment up in lead_mgmt.segments.")));
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("segment " INT64_FORMAT " is not active", id),
					 errdetail("An inactive segment has no members."),
					 errhint("Activate it with UPDATE lead_mgmt.segments SET active = true; that fills it.")));
		}
	}

	p = lm_pending_begin(cache, now);
	p->eval_all_segments = true;
	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "lead_mgmt refresh batch",
									  ALLOCSET_DEFAULT_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	portal = SPI_cursor_open_with_args(NULL, "SELECT * FROM lead_mgmt.leads",
									   0, NULL, NULL, NULL, true, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 5000);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			MemoryContext old = MemoryContextSwitchTo(batch_cxt);
			TupleDesc	desc = SPI_tuptable->tupdesc;
			const LmLeadCols *cols = lm_lead_cols(desc);
			Datum	   *values = palloc(sizeof(Datum) * desc->natts);
			bool	   *isnull = palloc(sizeof(bool) * desc->natts);
			LmLeadCounts c = {0};
			LmLeadView	view;
			int64	   *old_ids;
			int			n_old;
			bool		touch = false;
			int64		lead_id;

			heap_deform_tuple(SPI_tuptable->vals[r], desc, values, isnull);
			lead_id = DatumGetInt64(values[cols->id - 1]);
			if (isnull[cols->rules_version - 1] ||
				DatumGetInt64(values[cols->rules_version - 1]) != cache->version)
				touch = true;
			else
			{
				lm_counts_from_row(&c, cache->preds.n, desc, values, isnull, cols);
				if (c.n < 0 || (c.window_recheck != LM_NO_TIME && c.window_recheck <= now))
					touch = true;
			}
			if (!touch)
			{
				lm_segment_ids_from_datum(values[cols->segment_ids - 1],
										  isnull[cols->segment_ids - 1], &old_ids, &n_old);
				memset(&view, 0, sizeof(view));
				view.tupdesc = desc;
				view.values = values;
				view.isnull = isnull;
				view.counts = c.counts;
				view.ncounts = c.n;
				view.now = now;
				view.stage_rank = isnull[cols->stage - 1] ? -1 :
					lm_cache_stage_rank(cache, TextDatumGetCString(values[cols->stage - 1]));
				for (int i = 0; i < cache->n_segments && !touch; i++)
				{
					const LmSegment *seg = &cache->segments[i];

					if (only != NULL && seg != only)
						continue;
					if (lm_cond_eval(seg->cond, &view) != (lm_int64_find(old_ids, n_old, seg->id) >= 0))
						touch = true;
				}
				/* memberships of segments that no longer exist */
				for (int i = 0; i < n_old && !touch && only == NULL; i++)
				{
					bool		known = false;

					for (int j = 0; j < cache->n_segments && !known; j++)
						known = cache->segments[j].id == old_ids[i];
					touch = !known;
				}
			}
			MemoryContextSwitchTo(old);
			MemoryContextReset(batch_cxt);
			if (touch)
				lm_pending_lead(p, lead_id, LM_PENDING_DELTA);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	MemoryContextDelete(batch_cxt);

	done = lm_pending_apply(p, false);
	lm_pending_end(p);
	done += reconcile_members(only ? only->id : 0);
	PG_RETURN_INT64((int64) done);
}
