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
 * and updates only the leads whose membership (or stale state) needs it,
 * then repairs segment_members: the memberships it compares are held in
 * their own context, within maintenance_work_mem (past it, statements
 * compare instead), and the rows it adds go in by plain INSERTs, each batch
 * in a subtransaction of its own that falls back to ON CONFLICT DO NOTHING
 * when a concurrent transaction added one of its rows.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
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
 * for nurture conditions, which carry the same dependency summary.)  A
 * condition with an age term is always evaluated: its truth follows the
 * clock, and evaluating it is what tells the lead's recheck_at when the
 * term next changes.
 */
bool
lm_segment_affected(const LmSegment *seg, const LmSegmentInput *in)
{
	int			p;

	if (in->full || seg->dep_age)
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
	List	   *items = lm_take_current(&queued);
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
 * Makes segment_members agree with leads.segment_ids by two set-based
 * statements (of one segment, or all with segment_id 0; of the leads in
 * ids only, when ids is not NULL), in case it was edited by hand.  Returns
 * the number of rows added or removed.  The rows are compared at each
 * statement's snapshot; ON CONFLICT takes rows a concurrent transaction
 * adds meanwhile.
 */
static uint64
reconcile_members_sql(int64 segment_id, ArrayType *ids)
{
	Oid			types[2] = {INT8OID, INT8ARRAYOID};
	Datum		args[2];
	char		nulls[2] = {' ', ids ? ' ' : 'n'};
	uint64		n = 0;

	args[0] = Int64GetDatum(segment_id);
	args[1] = PointerGetDatum(ids);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	if (SPI_execute_with_args("DELETE FROM lead_mgmt.segment_members m "
							  "WHERE ($1 OPERATOR(pg_catalog.=) 0 OR m.segment_id OPERATOR(pg_catalog.=) $1) "
							  "  AND ($2 IS NULL OR m.lead_id OPERATOR(pg_catalog.=) ANY ($2)) "
							  "  AND NOT EXISTS (SELECT 1 FROM lead_mgmt.leads l "
							  "                  WHERE l.id OPERATOR(pg_catalog.=) m.lead_id "
							  "                    AND m.segment_id OPERATOR(pg_catalog.=) ANY (l.segment_ids))",
							  2, types, args, nulls, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "lead_mgmt: reconciling segment members failed");
	n += SPI_processed;
	/*
	 * Only the missing rows: an anti-join reads segment_members once,
	 * where ON CONFLICT alone would probe its index for every membership.
	 */
	if (SPI_execute_with_args("INSERT INTO lead_mgmt.segment_members (segment_id, lead_id, since) "
							  "SELECT s.id, l.id, pg_catalog.now() "
							  "FROM lead_mgmt.leads l, pg_catalog.unnest(l.segment_ids) AS s(id) "
							  "WHERE ($1 OPERATOR(pg_catalog.=) 0 OR s.id OPERATOR(pg_catalog.=) $1) "
							  "  AND ($2 IS NULL OR l.id OPERATOR(pg_catalog.=) ANY ($2)) "
							  "  AND NOT EXISTS (SELECT 1 FROM lead_mgmt.segment_members m "
							  "                  WHERE m.segment_id OPERATOR(pg_catalog.=) s.id "
							  "                    AND m.lead_id OPERATOR(pg_catalog.=) l.id) "
							  "ON CONFLICT DO NOTHING",
							  2, types, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "lead_mgmt: reconciling segment members failed");
	n += SPI_processed;
	SPI_finish();
	return n;
}

/*
 * Memberships (lead, segment) held in memory while refresh_segments()
 * compares what leads.segment_ids says with what segment_members holds.
 * All of them share one budget, maintenance_work_mem (what a bulk
 * operation of PostgreSQL may use); past it, overflow is set and the
 * statements of reconcile_members_sql() do the comparison instead.
 */
typedef struct LmPair
{
	int64		lead_id;
	int64		segment_id;
} LmPair;

typedef struct LmPairs
{
	LmPair	   *v;
	int64		n;
	int64		cap;
} LmPairs;

typedef struct LmReconcile
{
	MemoryContext cxt;
	LmPairs		want;			/* of the leads left as they were */
	LmPairs		have;			/* rows of segment_members */
	int64	   *touched;		/* leads the refresh updates */
	int64		n_touched;
	int64		cap_touched;
	int64		budget;			/* pairs and ids still allowed */
	bool		overflow;
} LmReconcile;

/*
 * Makes room for one more element of size elem in *v (*cap of them, *n
 * used), taking what it grows by out of rc's budget; false (and overflow)
 * past it.
 */
static bool
budget_room(LmReconcile *rc, void **v, int64 n, int64 *cap, Size elem)
{
	int64		grown;

	if (rc->overflow)
		return false;
	if (n < *cap)
		return true;
	grown = Max(*cap * 2, 1024);
	if ((grown - *cap) * (int64) elem > rc->budget)
	{
		rc->overflow = true;
		return false;
	}
	rc->budget -= (grown - *cap) * (int64) elem;
	*v = *v == NULL ? MemoryContextAllocHuge(rc->cxt, grown * elem)
		: repalloc_huge(*v, grown * elem);
	*cap = grown;
	return true;
}

/* Adds a pair to ps, within rc's budget. */
static void
pairs_add(LmReconcile *rc, LmPairs *ps, int64 lead_id, int64 segment_id)
{
	if (!budget_room(rc, (void **) &ps->v, ps->n, &ps->cap, sizeof(LmPair)))
		return;
	ps->v[ps->n].lead_id = lead_id;
	ps->v[ps->n].segment_id = segment_id;
	ps->n++;
}

/* Notes a lead the refresh will update (its rows are compared after). */
static void
touched_add(LmReconcile *rc, int64 lead_id)
{
	if (budget_room(rc, (void **) &rc->touched, rc->n_touched, &rc->cap_touched, sizeof(int64)))
		rc->touched[rc->n_touched++] = lead_id;
}

static int
cmp_pair(const void *a, const void *b)
{
	const LmPair *x = a;
	const LmPair *y = b;

	if (x->lead_id != y->lead_id)
		return (x->lead_id > y->lead_id) - (x->lead_id < y->lead_id);
	return (x->segment_id > y->segment_id) - (x->segment_id < y->segment_id);
}

/*
 * Reads the rows of segment_members (of one segment, or all with
 * segment_id 0) into rc->have, at the snapshot the refresh read leads
 * with, so that both sides are compared as of one moment.
 */
static void
read_members(LmReconcile *rc, int64 segment_id)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1];
	Portal		portal;

	args[0] = Int64GetDatum(segment_id);
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT lead_id, segment_id FROM lead_mgmt.segment_members "
									   "WHERE $1 OPERATOR(pg_catalog.=) 0 OR segment_id OPERATOR(pg_catalog.=) $1",
									   1, types, args, NULL, true, CURSOR_OPT_NO_SCROLL);
	while (!rc->overflow)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed && !rc->overflow; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			bool		isnull;
			int64		lead_id = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
			int64		seg = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));

			pairs_add(rc, &rc->have, lead_id, seg);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
}

/*
 * Leaves in rc->want the pairs segment_members lacks and in rc->have the
 * rows it has in excess (of leads the refresh did not update: those it
 * did are compared by statement after their update).
 */
static void
diff_pairs(LmReconcile *rc)
{
	LmPairs    *w = &rc->want;
	LmPairs    *h = &rc->have;
	int64		i = 0,
				j = 0,
				nw = 0,
				nh = 0;

	if (w->n > 1)
		qsort(w->v, w->n, sizeof(LmPair), cmp_pair);
	if (h->n > 1)
		qsort(h->v, h->n, sizeof(LmPair), cmp_pair);
	if (rc->n_touched > 1)
		qsort(rc->touched, rc->n_touched, sizeof(int64), lm_cmp_int64);
	while (i < w->n || j < h->n)
	{
		int			c = i >= w->n ? 1 : j >= h->n ? -1 : cmp_pair(&w->v[i], &h->v[j]);

		if (c == 0)
		{
			i++;
			j++;
		}
		else if (c < 0)
			w->v[nw++] = w->v[i++];
		else
		{
			if (rc->n_touched == 0 ||
				!bsearch(&h->v[j].lead_id, rc->touched, rc->n_touched, sizeof(int64), lm_cmp_int64))
				h->v[nh++] = h->v[j];
			j++;
		}
	}
	w->n = nw;
	h->n = nh;
}

/* the statement behind insert_batch(), with or without ON CONFLICT */
#define LM_INSERT_MEMBERS \
	"INSERT INTO lead_mgmt.segment_members (segment_id, lead_id, since) " \
	"SELECT u.s, u.l, pg_catalog.now() " \
	"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS u(l, s)"

/* Runs one of insert_batch()'s statements; returns the rows inserted. */
static uint64
insert_members(SPIPlanPtr *plan, const char *sql, Datum *args)
{
	Oid			types[2] = {INT8ARRAYOID, INT8ARRAYOID};

	if (SPI_execute_plan(lm_plan(plan, sql, 2, types), args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "lead_mgmt: adding segment members failed");
	return SPI_processed;
}

/*
 * Adds one batch of missing memberships (args: lead ids, segment ids) by a
 * plain INSERT in a subtransaction; if a concurrent transaction added one
 * of them meanwhile, the subtransaction is rolled back and the batch is
 * added with ON CONFLICT DO NOTHING, which costs about half as much again
 * on every row (the speculative insertion) and is therefore not the first try.
 */
static uint64
insert_batch(Datum *args)
{
	static SPIPlanPtr plan_plain = NULL;
	static SPIPlanPtr plan_upsert = NULL;
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile uint64 n = 0;
	volatile bool conflict = false;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		n = insert_members(&plan_plain, LM_INSERT_MEMBERS, args);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		if (edata->sqlerrcode != ERRCODE_UNIQUE_VIOLATION)
			ReThrowError(edata);
		FreeErrorData(edata);
		conflict = true;
	}
	PG_END_TRY();

	if (conflict)
		n = insert_members(&plan_upsert, LM_INSERT_MEMBERS " ON CONFLICT DO NOTHING", args);
	return n;
}

/*
 * Writes what diff_pairs found: deletes the rows in excess (those still in
 * excess at the statement's snapshot), then adds the missing ones in at
 * most 32 batches (each a subtransaction, and a transaction keeps the ids
 * of 64 of them in shared memory before others' snapshots get slower).
 * Returns the number of rows changed.
 */
static uint64
write_pairs(LmReconcile *rc)
{
	static SPIPlanPtr plan_excess = NULL;
	Oid			types[2] = {INT8ARRAYOID, INT8ARRAYOID};
	uint64		n = 0;
	int64		batch;
	int64	   *leads;
	int64	   *segs;

	if (rc->want.n == 0 && rc->have.n == 0)
		return 0;
	batch = Max(Max(rc->want.n, rc->have.n) / 32 + 1, 65536);
	batch = Min(batch, Max(rc->want.n, rc->have.n));
	leads = MemoryContextAllocHuge(rc->cxt, batch * sizeof(int64));
	segs = MemoryContextAllocHuge(rc->cxt, batch * sizeof(int64));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	for (int pass = 0; pass < 2; pass++)
	{
		LmPairs    *ps = pass == 0 ? &rc->have : &rc->want;

		for (int64 from = 0; from < ps->n; from += batch)
		{
			int			k = (int) Min(batch, ps->n - from);
			Datum		args[2];

			CHECK_FOR_INTERRUPTS();
			for (int i = 0; i < k; i++)
			{
				leads[i] = ps->v[from + i].lead_id;
				segs[i] = ps->v[from + i].segment_id;
			}
			args[0] = PointerGetDatum(lm_int8_array(leads, k));
			args[1] = PointerGetDatum(lm_int8_array(segs, k));
			if (pass == 1)
				n += insert_batch(args);
			else
			{
				if (SPI_execute_plan(lm_plan(&plan_excess,
											 "DELETE FROM lead_mgmt.segment_members m "
											 "USING ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS u(l, s) "
											 "WHERE m.lead_id OPERATOR(pg_catalog.=) u.l "
											 "  AND m.segment_id OPERATOR(pg_catalog.=) u.s "
											 "  AND NOT EXISTS (SELECT 1 FROM lead_mgmt.leads l "
											 "                  WHERE l.id OPERATOR(pg_catalog.=) m.lead_id "
											 "                    AND m.segment_id OPERATOR(pg_catalog.=) ANY (l.segment_ids))",
											 2, types), args, NULL, false, 0) != SPI_OK_DELETE)
					elog(ERROR, "lead_mgmt: removing segment members failed");
				n += SPI_processed;
			}
			pfree(DatumGetPointer(args[0]));
			pfree(DatumGetPointer(args[1]));
		}
	}
	SPI_finish();
	return n;
}

/*
 * refresh_segments(segment_id default null): re-evaluates every lead's
 * membership (of one segment, or all) now; returns the number of leads
 * updated plus segment_members rows repaired.  Reads leads once; updates
 * only those whose membership differs or whose stored state is stale (they
 * are recounted on the way).  segment_members is then made to agree with
 * the leads: for the leads left as they were, by comparing in memory what
 * the pass read with the rows of segment_members read at the same
 * snapshot (two more passes over the wide leads table by statements took
 * most of a refresh with nothing to change); for the leads updated, and
 * for everything once the comparison would pass maintenance_work_mem, by
 * statements.  As with the statements, a membership missing at that
 * snapshot is added even if a concurrent transaction has since taken the
 * lead out of the segment; the next refresh removes it.
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
	LmReconcile rc;
	int64		seg_filter;
	int64		n_leads = 0;

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

	seg_filter = only ? only->id : 0;
	memset(&rc, 0, sizeof(rc));
	rc.cxt = AllocSetContextCreate(CurrentMemoryContext, "lead_mgmt refresh reconcile",
								   ALLOCSET_DEFAULT_SIZES);
	rc.budget = (int64) maintenance_work_mem * 1024;
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
			int64	   *old_ids = NULL;
			int			n_old = 0;
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
			if (touch)
				touched_add(&rc, lead_id);
			else
				for (int i = 0; i < n_old && !rc.overflow; i++)
					if (only == NULL || old_ids[i] == only->id)
						pairs_add(&rc, &rc.want, lead_id, old_ids[i]);
			MemoryContextSwitchTo(old);
			MemoryContextReset(batch_cxt);
			if (touch)
				lm_pending_lead(p, lead_id, LM_PENDING_DELTA);
			n_leads++;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);

	/*
	 * Past an eighth of the leads updated (after a rule change, typically
	 * all of them), the statements restricted to the updated leads would
	 * read most of both tables anyway: everything is compared by them.
	 */
	if (rc.n_touched > n_leads / 8)
		rc.overflow = true;
	if (!rc.overflow)
		read_members(&rc, seg_filter);
	SPI_finish();
	MemoryContextDelete(batch_cxt);

	done = lm_pending_apply(p, false);
	lm_pending_end(p);
	if (rc.overflow)
	{
		elog(DEBUG1, "lead_mgmt: refresh_segments compares segment_members by statement (%s)",
			 rc.n_touched > n_leads / 8 ? "many leads updated" : "past maintenance_work_mem");
		done += reconcile_members_sql(seg_filter, NULL);
	}
	else
	{
		elog(DEBUG1, "lead_mgmt: refresh_segments compares " INT64_FORMAT " and " INT64_FORMAT " memberships in memory",
			 rc.want.n, rc.have.n);
		diff_pairs(&rc);
		done += write_pairs(&rc);
		if (rc.n_touched > 0)
			done += reconcile_members_sql(seg_filter, lm_int8_array(rc.touched, (int) rc.n_touched));
	}
	MemoryContextDelete(rc.cxt);
	PG_RETURN_INT64((int64) done);
}
