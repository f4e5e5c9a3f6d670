/*-------------------------------------------------------------------------
 * assignment.c
 *	  Hands sales-ready leads to reps.
 *
 * The row trigger on leads calls lm_assign_choose() when a lead enters a
 * stage with assign_on_entry and has no owner.  Active assignment rules are
 * tried by ascending priority; the first whose condition holds and whose
 * pool has an eligible rep assigns.  Eligible: active, available, not away,
 * under capacity, in the pool, matching region / industry when asked, at
 * least the minimum seniority.
 *
 * Locking: a rule's rotation_state row is locked (FOR UPDATE) before its
 * pool is read, and kept until commit, so every method sees the effect of
 * the previous assignment through that rule: round robin stays exact under
 * any concurrency.
 *
 * Round robin takes turns within each lead's own pool: the eligible rep
 * whose last turn under the rule is oldest is chosen (rotation_state.rr_order
 * lists the reps the rule has chosen, least recently chosen first).  One
 * cursor for the whole rule would starve reps whenever the pool depends on
 * the lead (territory, industry, seniority): a lead of one territory would
 * move the cursor past the reps of another.
 *
 * Assignment rule conditions have their own predicate set: their event
 * tests are counted on demand (one read of the lead's events, only when a
 * lead is being assigned) so editing assignment rules never invalidates the
 * counts every lead carries.
 *
 * History rows are queued (TopTransactionContext) and written by the
 * statement trigger on leads, like stage history.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "executor/tuptable.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "assignment.h"
#include "direct.h"
#include "explain.h"
#include "lead_state.h"
#include "triggers.h"
#include "util.h"

PG_FUNCTION_INFO_V1(lm_assign);
PG_FUNCTION_INFO_V1(lm_redistribute);
PG_FUNCTION_INFO_V1(lm_first_touch);

typedef struct LmAssignItem
{
	SubTransactionId subid;	/* first: see LmQueuedItem */
	int64		lead_id;
	int64		rep_id;			/* 0: only close the previous assignment */
	int64		rule_id;		/* 0: none */
	char	   *method;
	TimestampTz at;
	char	   *reason;
	bool		end_previous;
} LmAssignItem;

typedef struct Candidate
{
	int64		id;
	int64		weight;
	int64		open_leads;
	TimestampTz last_assigned;	/* LM_NO_TIME: never */
} Candidate;

static List *queued = NIL;		/* of LmAssignItem, TopTransactionContext */

/* what the reassignments of the running redistribute() or SLA pass did */
static uint64 reassign_counts[3];

/* Counts a reassignment's outcome (decide_owner, for the running pass). */
void
lm_assign_note_reassign(LmReassignOutcome outcome)
{
	reassign_counts[outcome]++;
}

static SPIPlanPtr plan_rotation_ensure = NULL;
static SPIPlanPtr plan_rotation_lock = NULL;
static SPIPlanPtr plan_rotation_lock_01 = NULL;
static SPIPlanPtr plan_rotation_save = NULL;
static SPIPlanPtr plan_rotation_save_01 = NULL;
static SPIPlanPtr plan_pool = NULL;
static SPIPlanPtr plan_load = NULL;
static SPIPlanPtr plan_win_rates = NULL;
static SPIPlanPtr plan_end = NULL;
static SPIPlanPtr plan_insert = NULL;
static SPIPlanPtr plan_insert_one = NULL;
static SPIPlanPtr plan_rep = NULL;
static SPIPlanPtr plan_rep_leads = NULL;
static SPIPlanPtr plan_first_touch = NULL;

/*
 * Rotation state is read (and locked) once per transaction and kept in
 * memory until the statement trigger on leads writes it back: updating the
 * same row once per assignment would make a bulk statement that assigns
 * many leads quadratic (every update walks the row's version chain).
 */
typedef struct RotationEntry
{
	int64		rule_id;
	int64		cursor;
	ArrayType  *reps;			/* in TopTransactionContext */
	ArrayType  *current;
	int64	   *rr_order;		/* round robin: chosen reps, least recent first */
	int			rr_n;
	bool		has_rr_order;	/* the column exists (not 0.1's SQL) */
	bool		dirty;
	SubTransactionId subid;		/* where it was last locked or changed */
} RotationEntry;

static List *rotations = NIL;	/* of RotationEntry, TopTransactionContext */

static RotationEntry *
find_rotation(int64 rule_id)
{
	ListCell   *lc;

	foreach(lc, rotations)
	{
		RotationEntry *r = lfirst(lc);

		if (r->rule_id == rule_id)
			return r;
	}
	return NULL;
}

/*
 * Whether rotation_state has rr_order (0.2): the library also serves 0.1's
 * SQL until ALTER EXTENSION UPDATE, where round robin keeps its order for
 * the transaction only and otherwise follows the cursor, as 0.1 did.
 */
static bool
rotation_has_rr_order(void)
{
	return get_attnum(lm_relid("rotation_state"), "rr_order") != InvalidAttrNumber;
}

/* SELECT ... FOR UPDATE of a rule's rotation row (args: its rule id). */
static bool
select_rotation_for_update(Datum *args, bool has_rr_order)
{
	Oid			types[1] = {INT8OID};
	SPIPlanPtr	plan;

	if (has_rr_order)
		plan = lm_plan(&plan_rotation_lock,
					   "SELECT cursor, wrr_reps, wrr_current, rr_order FROM lead_mgmt.rotation_state "
					   "WHERE rule_id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
					   1, types);
	else
		plan = lm_plan(&plan_rotation_lock_01,
					   "SELECT cursor, wrr_reps, wrr_current FROM lead_mgmt.rotation_state "
					   "WHERE rule_id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
					   1, types);
	if (SPI_execute_plan(plan, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: locking rotation state failed");
	return SPI_processed == 1;
}

/* Locks the rule's rotation state (once per transaction); returns it. */
static void
lock_rotation(int64 rule_id, int64 *cursor, ArrayType **reps, ArrayType **current)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1];
	bool		isnull;
	Datum		d;
	RotationEntry *r = find_rotation(rule_id);
	MemoryContext old;

	if (r == NULL)
	{
		bool		has_rr_order = rotation_has_rr_order();

		/*
		 * The row exists after the rule's first assignment: lock it, and
		 * create it (ON CONFLICT: a concurrent first assignment may create
		 * it too) only when there is none yet.
		 */
		args[0] = Int64GetDatum(rule_id);
		if (!select_rotation_for_update(args, has_rr_order))
		{
			if (SPI_execute_plan(lm_plan(&plan_rotation_ensure,
										 "INSERT INTO lead_mgmt.rotation_state (rule_id) VALUES ($1) "
										 "ON CONFLICT DO NOTHING",
										 1, types), args, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "lead_mgmt: creating rotation state failed");
			if (!select_rotation_for_update(args, has_rr_order))
				elog(ERROR, "lead_mgmt: rotation state of rule " INT64_FORMAT " not found", rule_id);
		}
		old = MemoryContextSwitchTo(TopTransactionContext);
		r = palloc0(sizeof(RotationEntry));
		r->rule_id = rule_id;
		r->has_rr_order = has_rr_order;
		r->subid = GetCurrentSubTransactionId();
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		r->cursor = isnull ? 0 : DatumGetInt64(d);
		r->reps = DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		r->current = DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
		isnull = true;
		if (has_rr_order)
			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);
		if (!isnull)
		{
			ArrayType  *order = DatumGetArrayTypeP(d);

			/* anything but a one-dimensional array without NULLs: start over */
			if (ARR_NDIM(order) == 1 && !ARR_HASNULL(order))
			{
				r->rr_n = ARR_DIMS(order)[0];
				r->rr_order = palloc(sizeof(int64) * Max(r->rr_n, 1));
				memcpy(r->rr_order, ARR_DATA_PTR(order), sizeof(int64) * r->rr_n);
			}
			if ((Pointer) order != DatumGetPointer(d))
				pfree(order);
		}
		rotations = lappend(rotations, r);
		MemoryContextSwitchTo(old);
	}
	*cursor = r->cursor;
	*reps = r->reps;
	*current = r->current;
}

/* Records new rotation state; written back by lm_assign_flush(). */
static void
save_rotation(int64 rule_id, int64 cursor, const int64 *reps, const int64 *current, int n)
{
	RotationEntry *r = find_rotation(rule_id);
	MemoryContext old;
	ArrayType  *new_reps;
	ArrayType  *new_current;

	if (r == NULL)
		elog(ERROR, "lead_mgmt: rotation state of rule " INT64_FORMAT " is not locked", rule_id);
	old = MemoryContextSwitchTo(TopTransactionContext);
	new_reps = lm_int8_array(reps, n);
	new_current = lm_int8_array(current, n);
	MemoryContextSwitchTo(old);
	pfree(r->reps);
	pfree(r->current);
	r->reps = new_reps;
	r->current = new_current;
	r->cursor = cursor;
	r->dirty = true;
	r->subid = Max(r->subid, GetCurrentSubTransactionId());
}

/* Writes back the rotation state changed by this transaction. */
static void
write_rotations(void)
{
	Oid			types[5] = {INT8OID, INT8OID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID};
	Datum		args[5];
	ListCell   *lc;

	foreach(lc, rotations)
	{
		RotationEntry *r = lfirst(lc);
		SPIPlanPtr	plan;

		/*
		 * Not a state last changed by a statement still running around
		 * this one (see lm_take_current): it writes that at its end.
		 */
		if (!r->dirty || r->subid < GetCurrentSubTransactionId())
			continue;
		args[0] = Int64GetDatum(r->rule_id);
		args[1] = Int64GetDatum(r->cursor);
		args[2] = PointerGetDatum(r->reps);
		args[3] = PointerGetDatum(r->current);
		args[4] = PointerGetDatum(lm_int8_array(r->rr_order, r->rr_n));
		if (r->has_rr_order)
			plan = lm_plan(&plan_rotation_save,
						   "UPDATE lead_mgmt.rotation_state SET cursor = $2, wrr_reps = $3, wrr_current = $4, "
						   "rr_order = $5 "
						   "WHERE rule_id OPERATOR(pg_catalog.=) $1",
						   5, types);
		else
			plan = lm_plan(&plan_rotation_save_01,
						   "UPDATE lead_mgmt.rotation_state SET cursor = $2, wrr_reps = $3, wrr_current = $4 "
						   "WHERE rule_id OPERATOR(pg_catalog.=) $1",
						   4, types);
		if (SPI_execute_plan(plan, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "lead_mgmt: saving rotation state failed");
		r->dirty = false;
	}
}

/* The candidates' rep ids, as a bigint[] in their order. */
static ArrayType *
candidate_ids(const Candidate *c, int n)
{
	int64	   *ids = palloc(sizeof(int64) * Max(n, 1));

	for (int i = 0; i < n; i++)
		ids[i] = c[i].id;
	return lm_int8_array(ids, n);
}

/*
 * Fills in the open leads of each candidate (not a customer, by a purchase
 * or by a stage at or above customer, and not disqualified) and, when
 * with_last, the time of their last assignment.
 */
static void
count_load(Candidate *c, int n, bool with_last)
{
	Oid			types[3] = {INT8ARRAYOID, BOOLOID, TEXTARRAYOID};
	Datum		args[3];

	args[0] = PointerGetDatum(candidate_ids(c, n));
	args[1] = BoolGetDatum(with_last);
	args[2] = PointerGetDatum(lm_cache_customer_stages(lm_cache_get()));
	if (SPI_execute_plan(lm_plan(&plan_load,
								 "SELECT (SELECT pg_catalog.count(*) FROM lead_mgmt.leads l"
								 "         WHERE l.owner_id OPERATOR(pg_catalog.=) u.id"
								 "           AND l.converted_at IS NULL AND l.disqualified_at IS NULL"
								 "           AND l.stage OPERATOR(pg_catalog.<>) ALL ($3)),"
								 "       CASE WHEN $2 THEN"
								 "         (SELECT pg_catalog.max(a.assigned_at) FROM lead_mgmt.assignments a"
								 "           WHERE a.rep_id OPERATOR(pg_catalog.=) u.id) END"
								 "  FROM pg_catalog.unnest($1) WITH ORDINALITY AS u(id, k) ORDER BY u.k",
								 3, types), args, NULL, false, 0) != SPI_OK_SELECT ||
		SPI_processed != (uint64) n)
		elog(ERROR, "lead_mgmt: counting the reps' open leads failed");
	for (int i = 0; i < n; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		v;

		c[i].open_leads = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
		v = SPI_getbinval(t, d, 2, &isnull);
		c[i].last_assigned = isnull ? LM_NO_TIME : DatumGetTimestampTz(v);
	}
}

/*
 * The eligible reps of a rule's pool for this lead, ascending id.  Their
 * open leads (and last assignment) are counted by a second statement, only
 * for the reps that have a capacity or when the method needs the load:
 * round robin over reps without capacity runs one small statement, whose
 * executor start would otherwise set up the counting subplans too.
 */
static Candidate *
eligible_reps(const LmAssignRule *rule, const char *region, const char *industry,
			  int64 exclude, TimestampTz now, bool need_load, int *n)
{
	Oid			types[8] = {TIMESTAMPTZOID, INT8ARRAYOID, BOOLOID, TEXTOID, BOOLOID,
	TEXTOID, INT4OID, INT8OID};
	Datum		args[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Candidate  *c;
	int64	   *capacity;
	bool		capped = false;
	int			m;

	args[0] = TimestampTzGetDatum(now);
	if (rule->has_rep_ids)
		args[1] = PointerGetDatum(rule->rep_ids);
	else
		nulls[1] = 'n';
	args[2] = BoolGetDatum(rule->match_region);
	if (region)
		args[3] = CStringGetTextDatum(region);
	else
		nulls[3] = 'n';
	args[4] = BoolGetDatum(rule->match_industry);
	if (industry)
		args[5] = CStringGetTextDatum(industry);
	else
		nulls[5] = 'n';
	args[6] = Int32GetDatum(Max(rule->min_seniority, 0));
	args[7] = Int64GetDatum(exclude);
	if (SPI_execute_plan(lm_plan(&plan_pool,
								 "SELECT r.id, r.weight, r.capacity FROM lead_mgmt.reps r"
								 " WHERE r.active AND r.available"
								 "   AND (r.away_until IS NULL OR r.away_until OPERATOR(pg_catalog.<=) $1)"
								 "   AND ($2 IS NULL OR r.id OPERATOR(pg_catalog.=) ANY ($2))"
								 "   AND (NOT $3 OR EXISTS (SELECT 1 FROM pg_catalog.unnest(r.regions) g(v)"
								 "        WHERE pg_catalog.lower(g.v) OPERATOR(pg_catalog.=) pg_catalog.lower($4)))"
								 "   AND (NOT $5 OR EXISTS (SELECT 1 FROM pg_catalog.unnest(r.industries) g(v)"
								 "        WHERE pg_catalog.lower(g.v) OPERATOR(pg_catalog.=) pg_catalog.lower($6)))"
								 "   AND (CASE WHEN r.seniority OPERATOR(pg_catalog.=) 'junior' THEN 0"
								 "             WHEN r.seniority OPERATOR(pg_catalog.=) 'senior' THEN 1 ELSE 2 END)"
								 "       OPERATOR(pg_catalog.>=) $7"
								 "   AND r.id OPERATOR(pg_catalog.<>) $8"
								 " ORDER BY r.id",
								 8, types), args, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: reading eligible reps failed");
	*n = (int) SPI_processed;
	c = palloc0(sizeof(Candidate) * Max(*n, 1));
	capacity = palloc(sizeof(int64) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		v;

		c[i].id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
		c[i].weight = DatumGetInt32(SPI_getbinval(t, d, 2, &isnull));
		c[i].last_assigned = LM_NO_TIME;
		v = SPI_getbinval(t, d, 3, &isnull);
		capacity[i] = isnull ? -1 : DatumGetInt32(v);
		capped |= !isnull;
	}
	if (*n == 0 || (!capped && !need_load))
		return c;
	count_load(c, *n, need_load);
	/* a rep at capacity is not eligible */
	m = 0;
	for (int i = 0; i < *n; i++)
		if (capacity[i] < 0 || c[i].open_leads < capacity[i])
			c[m++] = c[i];
	*n = m;
	return c;
}

/*
 * Round robin within the lead's pool: of the candidates (ascending id), the
 * one whose last turn under the rule is the oldest.  Candidates the rule
 * never chose come first, in id order starting after the cursor (the last
 * rep chosen), which is the order of the turns the rule hands out over a
 * fixed pool, and continues 0.1's single cursor after an update.  The
 * chosen rep moves to the end of the rule's order.  Over N assignments to
 * K always-eligible reps each gets floor(N/K) or ceil(N/K), also when other
 * leads of the rule go to other pools meanwhile; a rep who was skipped
 * (away, at capacity) gets the next turn when eligible again, and no more.
 * Costs the rule's reps times the candidates, like smooth_weighted.
 */
static int64
round_robin(int64 rule_id, const Candidate *c, int n)
{
	RotationEntry *r = find_rotation(rule_id);
	int			best = -1;
	int			best_rank = 0;
	int			best_order = 0;
	int			pos = -1;
	MemoryContext old;
	int64		chosen;

	if (r == NULL)
		elog(ERROR, "lead_mgmt: rotation state of rule " INT64_FORMAT " is not locked", rule_id);

	/*
	 * Rank the candidates: never chosen and after the cursor (0), never
	 * chosen (1), chosen before (2); within a rank the lower id, or for
	 * rank 2 the older turn.
	 */
	for (int k = 0; k < n; k++)
	{
		int			p = -1;
		int			rank;
		int			order;

		for (int j = 0; j < r->rr_n && p < 0; j++)
			if (r->rr_order[j] == c[k].id)
				p = j;
		rank = p >= 0 ? 2 : (c[k].id > r->cursor ? 0 : 1);
		order = p >= 0 ? p : k;
		if (best < 0 || rank < best_rank || (rank == best_rank && order < best_order))
		{
			best = k;
			best_rank = rank;
			best_order = order;
			pos = p;
		}
	}
	chosen = c[best].id;
	/* the chosen rep's turn moves to the end of the order */
	if (pos < 0)
	{
		old = MemoryContextSwitchTo(TopTransactionContext);
		r->rr_order = r->rr_order ? repalloc(r->rr_order, sizeof(int64) * (r->rr_n + 1))
			: palloc(sizeof(int64));
		MemoryContextSwitchTo(old);
		r->rr_n++;
	}
	else
		memmove(r->rr_order + pos, r->rr_order + pos + 1, sizeof(int64) * (r->rr_n - pos - 1));
	r->rr_order[r->rr_n - 1] = chosen;
	r->cursor = chosen;
	r->dirty = true;
	r->subid = Max(r->subid, GetCurrentSubTransactionId());
	return chosen;
}

/*
 * Smooth weighted round robin (each candidate's current weight grows by its
 * weight; the largest is chosen and pays back the total).  Over a full cycle
 * each rep is chosen exactly weight times, interleaved.  State of reps that
 * are not candidates now is kept as it was.
 */
static int64
smooth_weighted(int64 rule_id, int64 cursor, ArrayType *reps_arr, ArrayType *cur_arr,
				Candidate *c, int n)
{
	int			nold = ARR_NDIM(reps_arr) == 1 ? ARR_DIMS(reps_arr)[0] : 0;
	int64	   *old_reps = nold ? (int64 *) ARR_DATA_PTR(reps_arr) : NULL;
	int64	   *old_cur = nold ? (int64 *) ARR_DATA_PTR(cur_arr) : NULL;
	int64	   *reps = palloc(sizeof(int64) * (nold + n));
	int64	   *cur = palloc(sizeof(int64) * (nold + n));
	int			m = 0;
	int64		total = 0;
	int			best = -1;
	int64		chosen;

	if (nold && (ARR_NDIM(cur_arr) != 1 || ARR_DIMS(cur_arr)[0] != nold))
		nold = 0;				/* damaged state: start over */
	for (int i = 0; i < nold; i++)
	{
		reps[m] = old_reps[i];
		cur[m++] = old_cur[i];
	}
	for (int i = 0; i < n; i++)
	{
		int			k = -1;

		for (int j = 0; j < m; j++)
			if (reps[j] == c[i].id)
				k = j;
		if (k < 0)
		{
			k = m++;
			reps[k] = c[i].id;
			cur[k] = 0;
		}
		cur[k] += c[i].weight;
		total += c[i].weight;
		if (best < 0 || cur[k] > cur[best] || (cur[k] == cur[best] && reps[k] < reps[best]))
			best = k;
	}
	cur[best] -= total;
	chosen = reps[best];
	save_rotation(rule_id, chosen, reps, cur, m);
	return chosen;
}

/* Smoothed win rate over 90 days, as an integer weight (per mille). */
static void
performance_weights(Candidate *c, int n, TimestampTz now)
{
	Oid			types[2] = {INT8ARRAYOID, TIMESTAMPTZOID};
	Datum		args[2];

	args[0] = PointerGetDatum(candidate_ids(c, n));
	args[1] = TimestampTzGetDatum(now);
	if (SPI_execute_plan(lm_plan(&plan_win_rates,
								 "SELECT r.id, "
								 "  pg_catalog.count(d.id) FILTER (WHERE d.status OPERATOR(pg_catalog.=) 'won'), "
								 "  pg_catalog.count(d.id) FILTER (WHERE d.status OPERATOR(pg_catalog.=) 'lost') "
								 "FROM pg_catalog.unnest($1) AS r(id) "
								 "LEFT JOIN lead_mgmt.deals d ON d.rep_id OPERATOR(pg_catalog.=) r.id "
								 "  AND d.closed_at OPERATOR(pg_catalog.>) ($2 OPERATOR(pg_catalog.-) '90 days'::pg_catalog.interval) "
								 "GROUP BY r.id ORDER BY r.id",
								 2, types), args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: reading win rates failed");
	for (uint64 i = 0; i < SPI_processed && i < (uint64) n; i++)
	{
		bool		isnull;
		int64		won = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		int64		lost = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull));

		c[i].weight = Max(1, (1000 * (won + 1)) / (won + lost + 2));
	}
}

/*
 * Chooses a rep for a lead: the first active rule (by priority) whose
 * condition holds and whose pool has an eligible rep (excluding
 * exclude_rep) decides, by its method.  out->rep_id is 0 when nobody is
 * eligible anywhere.  Runs inside the row trigger on leads.
 */
void
lm_assign_choose(LmCache *cache, LmLeadView *view, int64 lead_id,
				 const char *region, const char *industry,
				 int64 exclude_rep, TimestampTz now, LmAssignChoice *out)
{
	LmLeadView	v = *view;
	bool		counted = false;
	int			jit_level;

	out->rep_id = 0;
	out->rule_id = 0;
	out->method = NULL;
	if (cache->n_assign_rules == 0)
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	jit_level = lm_jit_off();
	for (int i = 0; i < cache->n_assign_rules && out->rep_id == 0; i++)
	{
		const LmAssignRule *rule = &cache->assign_rules[i];
		bool		load = strcmp(rule->method, "least_loaded") == 0;
		int64		cursor;
		ArrayType  *wreps;
		ArrayType  *wcur;
		Candidate  *c;
		int			n;

		if (rule->cond != NULL)
		{
			if (!counted)
			{
				v.counts = lm_count_for_predicates(&cache->assign_preds, lead_id, now);
				v.ncounts = cache->assign_preds.n;
				counted = true;
			}
			if (!lm_cond_eval(rule->cond, &v))
				continue;
		}
		lock_rotation(rule->id, &cursor, &wreps, &wcur);
		c = eligible_reps(rule, region, industry, exclude_rep, now, load, &n);
		if (n == 0)
			continue;
		out->rule_id = rule->id;
		out->method = rule->method;
		if (strcmp(rule->method, "round_robin") == 0)
			out->rep_id = round_robin(rule->id, c, n);
		else if (strcmp(rule->method, "least_loaded") == 0)
		{
			int			best = 0;

			for (int k = 1; k < n; k++)
			{
				bool		better;

				if (c[k].open_leads != c[best].open_leads)
					better = c[k].open_leads < c[best].open_leads;
				else if (c[k].last_assigned != c[best].last_assigned)
					better = c[k].last_assigned < c[best].last_assigned;	/* never first */
				else
					better = false; /* lower id already */
				if (better)
					best = k;
			}
			out->rep_id = c[best].id;
		}
		else
		{
			if (strcmp(rule->method, "performance") == 0)
				performance_weights(c, n, now);
			out->rep_id = smooth_weighted(rule->id, cursor, wreps, wcur, c, n);
		}
	}
	lm_jit_restore(jit_level);
	SPI_finish();
}

/* Queues an assignment history change for the statement trigger to write. */
void
lm_assign_queue(int64 lead_id, int64 rep_id, int64 rule_id, const char *method,
				TimestampTz at, const char *reason, bool end_previous)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	LmAssignItem *it = palloc(sizeof(LmAssignItem));

	it->lead_id = lead_id;
	it->rep_id = rep_id;
	it->rule_id = rule_id;
	it->method = pstrdup(method ? method : "manual");
	it->at = at;
	it->reason = pstrdup(reason);
	it->end_previous = end_previous;
	it->subid = GetCurrentSubTransactionId();
	queued = lappend(queued, it);
	MemoryContextSwitchTo(old);
}

/* NOTIFY lead_mgmt_unassigned, payload the lead id (sent at commit). */
void
lm_assign_notify_unassigned(int64 lead_id)
{
	char		payload[32];

	snprintf(payload, sizeof(payload), INT64_FORMAT, lead_id);
	Async_Notify("lead_mgmt_unassigned", payload);
}

/*
 * The insert of new assignment rows from a row source u(lead, rep, rule,
 * method, at, reason) (rule 0: none): the SLA from the rule, else the
 * default_sla setting, else 2 days (none for a manual assignment); rows of
 * leads or rules deleted meanwhile are skipped.
 */
#define LM_ASSIGN_INSERT(source) \
	"INSERT INTO lead_mgmt.assignments " \
	"(lead_id, rep_id, rule_id, method, assigned_at, reason, sla_due_at) " \
	"SELECT u.lead, u.rep, CASE WHEN u.rule OPERATOR(pg_catalog.<>) 0 THEN u.rule END, " \
	"       u.method, u.at, u.reason, " \
	"       CASE WHEN u.reason OPERATOR(pg_catalog.<>) 'manual' THEN u.at OPERATOR(pg_catalog.+) " \
	"         COALESCE((SELECT r.sla FROM lead_mgmt.assignment_rules r WHERE r.id OPERATOR(pg_catalog.=) u.rule), " \
	"                  (SELECT s.value::pg_catalog.interval FROM lead_mgmt.settings s " \
	"                    WHERE s.name OPERATOR(pg_catalog.=) 'default_sla'), " \
	"                  '2 days'::pg_catalog.interval) END " \
	"FROM " source " AS u(lead, rep, rule, method, at, reason) " \
	"WHERE EXISTS (SELECT 1 FROM lead_mgmt.leads l WHERE l.id OPERATOR(pg_catalog.=) u.lead) " \
	"  AND (u.rule OPERATOR(pg_catalog.=) 0 OR EXISTS (SELECT 1 FROM lead_mgmt.assignment_rules r " \
	"       WHERE r.id OPERATOR(pg_catalog.=) u.rule))"

/*
 * Inserts one new assignment row without a statement, as LM_ASSIGN_INSERT
 * over one row would (direct.c: the row triggers of assignments, its first
 * touch and foreign keys' checks, still fire); the SLA comes from the rules
 * cache, which holds the active rules and the setting default_sla.
 * Returns false, having done nothing, when the statement must insert it:
 * the rule is not in the cache, the SLA would be the statement's last
 * resort (no default_sla row), or direct.c cannot do what the statement
 * would.
 */
static bool
insert_assignment_direct(int64 lead_id, int64 rep_id, int64 rule_id, const char *method,
						 TimestampTz at, const char *reason)
{
	static const char *const cols[9] = {"lead_id", "rep_id", "rule_id", "method", "assigned_at",
	"reason", "sla_due_at", "ended_at", "first_touch_at"};
	static const Oid types[9] = {INT8OID, INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID,
	TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[9];
	bool		isnull[9] = {false, false, rule_id == 0, false, false, false, true, true, true};
	LmDirectProbe probes[2];
	int			nprobes = 0;
	const Interval *sla = NULL;

	if (strcmp(reason, "manual") != 0)
	{
		LmCache    *cache = lm_cache_get();
		bool		found = rule_id == 0;

		for (int i = 0; i < cache->n_assign_rules && !found; i++)
			if (cache->assign_rules[i].id == rule_id)
			{
				found = true;
				if (cache->assign_rules[i].has_sla)
					sla = &cache->assign_rules[i].sla;
			}
		if (!found)
			return false;
		if (sla == NULL && cache->has_default_sla)
			sla = &cache->default_sla;
		if (sla == NULL)
			return false;
		values[6] = DirectFunctionCall2(timestamptz_pl_interval, TimestampTzGetDatum(at),
										IntervalPGetDatum(sla));
		isnull[6] = false;
	}
	values[0] = Int64GetDatum(lead_id);
	values[1] = Int64GetDatum(rep_id);
	values[2] = Int64GetDatum(rule_id);
	values[3] = CStringGetTextDatum(method);
	values[4] = TimestampTzGetDatum(at);
	values[5] = CStringGetTextDatum(reason);
	values[7] = values[8] = (Datum) 0;
	probes[nprobes].relid = lm_relid("leads");
	probes[nprobes++].key = lead_id;
	if (rule_id != 0)
	{
		probes[nprobes].relid = lm_relid("assignment_rules");
		probes[nprobes++].key = rule_id;
	}
	return lm_direct_insert(lm_relid("assignments"), 9, cols, types, values, isnull,
							probes, nprobes, false) != LM_DIRECT_UNSUPPORTED;
}

/* Writes queued assignment history: closes previous rows, adds new ones. */
void
lm_assign_flush(void)
{
	List	   *items = lm_take_current(&queued);
	int			n = list_length(items);
	int64	   *end_leads;
	TimestampTz *end_at;
	int			ne = 0;
	int64	   *leads;
	int64	   *reps;
	int64	   *rules;
	char	  **methods;
	char	  **reasons;
	TimestampTz *at;
	int			ni = 0;
	ListCell   *lc;

	if (n == 0)
	{
		if (rotations != NIL)
		{
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "lead_mgmt: SPI_connect failed");
			write_rotations();
			SPI_finish();
		}
		return;
	}
	end_leads = palloc(sizeof(int64) * n);
	end_at = palloc(sizeof(TimestampTz) * n);
	leads = palloc(sizeof(int64) * n);
	reps = palloc(sizeof(int64) * n);
	rules = palloc(sizeof(int64) * n);
	methods = palloc(sizeof(char *) * n);
	reasons = palloc(sizeof(char *) * n);
	at = palloc(sizeof(TimestampTz) * n);
	foreach(lc, items)
	{
		LmAssignItem *it = lfirst(lc);

		if (it->end_previous)
		{
			end_leads[ne] = it->lead_id;
			end_at[ne++] = it->at;
		}
		if (it->rep_id != 0)
		{
			leads[ni] = it->lead_id;
			reps[ni] = it->rep_id;
			rules[ni] = it->rule_id;
			methods[ni] = it->method;
			reasons[ni] = it->reason;
			at[ni++] = it->at;
		}
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	if (ne > 0)
	{
		Oid			types[2] = {INT8ARRAYOID, TIMESTAMPTZARRAYOID};
		Datum		args[2];

		args[0] = PointerGetDatum(lm_int8_array(end_leads, ne));
		args[1] = PointerGetDatum(lm_timestamptz_array(end_at, ne));
		if (SPI_execute_plan(lm_plan(&plan_end,
									 "UPDATE lead_mgmt.assignments a SET ended_at = u.at "
									 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS u(lead, at) "
									 "WHERE a.lead_id OPERATOR(pg_catalog.=) u.lead AND a.ended_at IS NULL",
									 2, types), args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "lead_mgmt: closing assignments failed");
	}
	if (ni == 1 &&
		!insert_assignment_direct(leads[0], reps[0], rules[0], methods[0], at[0], reasons[0]))
	{
		/*
		 * The one assignment of a single event, when it cannot be inserted
		 * directly: its row from VALUES, which the executor sets up in
		 * about half the time of the six unnested arrays.
		 */
		Oid			types[6] = {INT8OID, INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID, TEXTOID};
		Datum		args[6];

		args[0] = Int64GetDatum(leads[0]);
		args[1] = Int64GetDatum(reps[0]);
		args[2] = Int64GetDatum(rules[0]);
		args[3] = CStringGetTextDatum(methods[0]);
		args[4] = TimestampTzGetDatum(at[0]);
		args[5] = CStringGetTextDatum(reasons[0]);
		if (SPI_execute_plan(lm_plan(&plan_insert_one,
									 LM_ASSIGN_INSERT("(VALUES ($1, $2, $3, $4, $5, $6))"),
									 6, types), args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "lead_mgmt: writing assignments failed");
	}
	else if (ni > 1)
	{
		Oid			types[6] = {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID,
		TIMESTAMPTZARRAYOID, TEXTARRAYOID};
		Datum		args[6];

		args[0] = PointerGetDatum(lm_int8_array(leads, ni));
		args[1] = PointerGetDatum(lm_int8_array(reps, ni));
		args[2] = PointerGetDatum(lm_int8_array(rules, ni));
		args[3] = PointerGetDatum(lm_text_array(methods, ni));
		args[4] = PointerGetDatum(lm_timestamptz_array(at, ni));
		args[5] = PointerGetDatum(lm_text_array(reasons, ni));
		if (SPI_execute_plan(lm_plan(&plan_insert,
									 LM_ASSIGN_INSERT("ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), "
													  "pg_catalog.unnest($3), pg_catalog.unnest($4), "
													  "pg_catalog.unnest($5), pg_catalog.unnest($6))"),
									 6, types), args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "lead_mgmt: writing assignments failed");
	}
	write_rotations();
	SPI_finish();
}

/*
 * The first sales touch of a lead by a rep (or by no named rep) at or after
 * since: the one definition, behind both lead_mgmt._first_touch (which the
 * recompute runs per assignment) and the row trigger on assignments.  A
 * kept plan: through PL/pgSQL, inserting an assignment row cost ~3 us more
 * (20k rows: 35 against 31.5 us each).  Sets *isnull when there is none.
 */
TimestampTz
lm_assign_first_touch(int64 lead_id, int64 rep_id, TimestampTz since, bool *isnull)
{
	Oid			types[3] = {INT8OID, TEXTOID, TIMESTAMPTZOID};
	Datum		args[3];
	TimestampTz result = 0;
	char		rep[MAXINT8LEN + 1];
	Datum		d;

	pg_lltoa(rep_id, rep);
	args[0] = Int64GetDatum(lead_id);
	args[1] = CStringGetTextDatum(rep);
	args[2] = TimestampTzGetDatum(since);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	if (SPI_execute_plan(lm_plan(&plan_first_touch,
								 "SELECT pg_catalog.min(e.occurred_at) "
								 "FROM lead_mgmt.events e "
								 "JOIN lead_mgmt.event_types et ON et.name OPERATOR(pg_catalog.=) e.event_type "
								 "  AND et.category OPERATOR(pg_catalog.=) 'sales_touch' "
								 "WHERE e.lead_id OPERATOR(pg_catalog.=) $1 "
								 "  AND e.occurred_at OPERATOR(pg_catalog.>=) $3 "
								 "  AND (NOT (e.properties OPERATOR(pg_catalog.?) 'rep_id') "
								 "       OR e.properties OPERATOR(pg_catalog.->>) 'rep_id' OPERATOR(pg_catalog.=) $2)",
								 3, types), args, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "lead_mgmt: reading the first sales touch failed");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
	if (!*isnull)
		result = DatumGetTimestampTz(d);
	SPI_finish();
	return result;
}

/*
 * lm_assign_first_touch for the trigger on assignments, which runs for
 * every assignment: a sales touch at or after since needs an event of the
 * lead at or after since whose type is a sales touch, and most new
 * assignments have none (their lead's events up to now are not sales
 * touches).  Those events are looked up in the lead's index of events
 * (lead_id, occurred_at), their types in the rules cache, which knows each
 * registered type's category as the catalog has it (a change to
 * event_types marks the cache stale); only when one of them is a sales
 * touch does the query decide, whose statement costs several times the
 * lookup.  Same snapshot as that query: a command counter increment, then
 * the transaction snapshot.
 */
TimestampTz
lm_assign_first_touch_recorded(int64 lead_id, int64 rep_id, TimestampTz since, bool *isnull)
{
	Oid			idxid = lm_relid_if_exists("events_lead_idx");
	LmCache    *cache;
	Relation	rel;
	Relation	idx;
	IndexScanDesc scan;
	ScanKeyData keys[2];
	TupleTableSlot *slot;
	Snapshot	snap;
	AttrNumber	type_col;
	bool		candidate = false;

	if (!OidIsValid(idxid))
		return lm_assign_first_touch(lead_id, rep_id, since, isnull);
	cache = lm_cache_get();
	rel = table_open(lm_relid("events"), AccessShareLock);
	type_col = lm_event_cols(RelationGetDescr(rel))->event_type;
	idx = index_open(idxid, AccessShareLock);
	CommandCounterIncrement();
	snap = RegisterSnapshot(GetTransactionSnapshot());
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(lead_id));
	ScanKeyInit(&keys[1], 2, BTGreaterEqualStrategyNumber, F_TIMESTAMPTZ_GE,
				TimestampTzGetDatum(since));
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idx, snap, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	while (!candidate && index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		null;
		Datum		d = slot_getattr(slot, type_col, &null);
		char	   *etype;
		LmTypeEntry *te;

		if (null)
			continue;
		etype = TextDatumGetCString(d);
		te = lm_cache_type(cache, etype);
		candidate = te != NULL && te->registered && te->sales_touch;
		pfree(etype);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snap);
	index_close(idx, NoLock);
	table_close(rel, NoLock);
	if (candidate)
		return lm_assign_first_touch(lead_id, rep_id, since, isnull);
	*isnull = true;
	return 0;
}

/* lead_mgmt._first_touch(lead_id, rep_id, since): see lm_assign_first_touch. */
Datum
lm_first_touch(PG_FUNCTION_ARGS)
{
	bool		isnull;
	TimestampTz t = lm_assign_first_touch(PG_GETARG_INT64(0), PG_GETARG_INT64(1),
										  PG_GETARG_TIMESTAMPTZ(2), &isnull);

	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(t);
}

/* Forgets queued history (all at transaction end, or an aborted subxact's). */
void
lm_assign_reset(SubTransactionId aborted)
{
	/*
	 * Rotation locks taken in an aborted subtransaction are released with
	 * it, and what it changed (in memory or written) is undone: forget
	 * those states and read them again when next needed.  The others stay,
	 * with changes not written yet: a subtransaction that a trigger of
	 * yours rolls back while a statement assigns several leads must not
	 * send the later ones to the rep the rotation had before it.
	 */
	if (aborted == InvalidSubTransactionId)
		rotations = NIL;
	else
	{
		List	   *keep = NIL;
		ListCell   *lc;
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		foreach(lc, rotations)
		{
			RotationEntry *r = lfirst(lc);

			if (r->subid < aborted)
				keep = lappend(keep, r);
		}
		MemoryContextSwitchTo(old);
		rotations = keep;
	}
	queued = lm_drop_aborted(queued, aborted);
}


/* Errors unless the rep exists (and, with must_be_active, is active). */
static void
check_rep(int64 rep_id, bool must_be_active)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1];
	bool		found;
	bool		active = false;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	args[0] = Int64GetDatum(rep_id);
	if (SPI_execute_plan(lm_plan(&plan_rep,
								 "SELECT active FROM lead_mgmt.reps WHERE id OPERATOR(pg_catalog.=) $1",
								 1, types), args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: reading reps failed");
	found = SPI_processed == 1;
	if (found)
	{
		bool		isnull;

		active = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("rep " INT64_FORMAT " does not exist", rep_id),
				 errhint("Look the rep up in lead_mgmt.reps.")));
	if (must_be_active && !active)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("rep " INT64_FORMAT " is not active", rep_id),
				 errhint("Activate the rep first with UPDATE lead_mgmt.reps SET active = true, or choose another rep.")));
}

/*
 * assign(lead_id, rep_id): assigns a lead by hand (reason manual), closing
 * its current assignment.  Unavailable or away reps can be chosen by hand;
 * inactive ones cannot.
 */
Datum
lm_assign(PG_FUNCTION_ARGS)
{
	int64		lead_id;
	int64		rep_id;
	LmPending  *p;
	LmPendingLead *e;
	TupleDesc	desc;
	HeapTuple	tup;
	bool		isnull;
	Datum		cur;

	lm_require_arg(fcinfo, 0, "lead_id", "Pass the id of the lead to assign.");
	lm_require_arg(fcinfo, 1, "rep_id", "Pass the id of a rep from lead_mgmt.reps.");
	lead_id = PG_GETARG_INT64(0);
	rep_id = PG_GETARG_INT64(1);
	check_rep(rep_id, true);
	tup = lm_fetch_lead(lead_id, &desc, true);
	cur = heap_getattr(tup, lm_lead_cols(desc)->owner_id, desc, &isnull);
	if (!isnull && DatumGetInt64(cur) == rep_id)
		PG_RETURN_VOID();

	p = lm_pending_begin(lm_cache_get(), lm_now());
	e = lm_pending_lead(p, lead_id, LM_PENDING_DELTA);
	e->owner_action = LM_OWNER_MANUAL;
	e->owner_rep = rep_id;
	lm_pending_apply(p, false);
	lm_pending_end(p);
	PG_RETURN_VOID();
}

/*
 * redistribute(rep_id): moves the rep's open leads (not customers, not
 * disqualified) to other eligible reps
 * by the assignment rules (reason reassigned).  Leads nobody else can take
 * become unassigned (and are announced on lead_mgmt_unassigned).  Returns
 * the number of leads moved or released.
 */
Datum
lm_redistribute(PG_FUNCTION_ARGS)
{
	int64		rep_id;
	Oid			types[2] = {INT8OID, TEXTARRAYOID};
	Datum		args[2];
	LmPending  *p;
	uint64		n;

	lm_require_arg(fcinfo, 0, "rep_id", "Pass the id of the rep whose leads to move.");
	rep_id = PG_GETARG_INT64(0);
	check_rep(rep_id, false);

	p = lm_pending_begin(lm_cache_get(), lm_now());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	args[0] = Int64GetDatum(rep_id);
	args[1] = PointerGetDatum(lm_cache_customer_stages(lm_cache_get()));
	if (SPI_execute_plan(lm_plan(&plan_rep_leads,
								 "SELECT id FROM lead_mgmt.leads WHERE owner_id OPERATOR(pg_catalog.=) $1 "
								 "AND converted_at IS NULL AND disqualified_at IS NULL "
								 "AND stage OPERATOR(pg_catalog.<>) ALL ($2) ORDER BY id",
								 2, types), args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: reading the rep's leads failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		LmPendingLead *e = lm_pending_lead(p, DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
																		   SPI_tuptable->tupdesc, 1, &isnull)),
										   LM_PENDING_DELTA);

		e->owner_action = LM_OWNER_REASSIGN;
		e->owner_rep = rep_id;
		e->owner_reason = "reassigned";
	}
	SPI_finish();
	memset(reassign_counts, 0, sizeof(reassign_counts));
	(void) lm_pending_apply(p, false);
	lm_pending_end(p);
	/* leads that changed hands meanwhile are not counted */
	n = reassign_counts[LM_REASSIGN_MOVED] + reassign_counts[LM_REASSIGN_RELEASED];
	PG_RETURN_INT64((int64) n);
}

/*
 * SLA: owners who recorded no sales touch (an event of category
 * sales_touch, by them if the event names a rep_id) by the assignment's
 * sla_due_at (assigned_at + the rule's sla, else the setting default_sla,
 * fixed at assignment) lose the lead to the next eligible rep.  Manual
 * assignments have none: a deliberate choice.  assignments_sla_idx holds
 * only the open assignments without a first touch (first_touch_at, which
 * lead_mgmt keeps exact at commit), so a range scan of it reads what may
 * be due, not every assignment a rep ever followed up.  The events are
 * still read for each of those: a reassignment takes a lead from its
 * owner, and first_touch_at is not there yet after a quiet load of events
 * or a restore from 0.1 until rescore() runs.  An owner whom nobody else
 * eligible can replace keeps the lead (and it stays due).  Returns the
 * number of leads reassigned, and in *kept those kept so; leads that
 * changed hands meanwhile (a concurrent run) are in neither.
 */
uint64
lm_assign_sla_breaches(TimestampTz at, uint64 *kept)
{
	Oid			types[2] = {TIMESTAMPTZOID, TEXTARRAYOID};
	Datum		args[2];
	LmPending  *p;
	uint64		n;

	p = lm_pending_begin(lm_cache_get(), at);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	args[0] = TimestampTzGetDatum(at);
	args[1] = PointerGetDatum(lm_cache_customer_stages(lm_cache_get()));
	/* planned with the actual time, like the due-leads query of maintenance */
	if (SPI_execute_with_args("SELECT l.id, l.owner_id FROM lead_mgmt.assignments a "
							  "JOIN lead_mgmt.leads l ON l.id OPERATOR(pg_catalog.=) a.lead_id "
							  "                     AND l.owner_id OPERATOR(pg_catalog.=) a.rep_id "
							  "WHERE a.ended_at IS NULL AND a.sla_due_at OPERATOR(pg_catalog.<=) $1 "
							  "  AND a.first_touch_at IS NULL "
							  "  AND l.converted_at IS NULL AND l.disqualified_at IS NULL "
							  "  AND l.stage OPERATOR(pg_catalog.<>) ALL ($2) "
							  "  AND NOT EXISTS (SELECT 1 FROM lead_mgmt.events e "
							  "      JOIN lead_mgmt.event_types t ON t.name OPERATOR(pg_catalog.=) e.event_type "
							  "       AND t.category OPERATOR(pg_catalog.=) 'sales_touch' "
							  "      WHERE e.lead_id OPERATOR(pg_catalog.=) l.id "
							  "        AND e.occurred_at OPERATOR(pg_catalog.>=) a.assigned_at "
							  "        AND (NOT e.properties OPERATOR(pg_catalog.?) 'rep_id' "
							  "             OR e.properties OPERATOR(pg_catalog.->>) 'rep_id' OPERATOR(pg_catalog.=) l.owner_id::pg_catalog.text)) "
							  "ORDER BY l.id",
								 2, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: finding SLA breaches failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		LmPendingLead *e = lm_pending_lead(p, DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
																		   SPI_tuptable->tupdesc, 1, &isnull)),
										   LM_PENDING_DELTA);

		e->owner_action = LM_OWNER_REASSIGN;
		e->owner_rep = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		e->owner_reason = "sla_breach";
	}
	SPI_finish();
	memset(reassign_counts, 0, sizeof(reassign_counts));
	(void) lm_pending_apply(p, false);
	lm_pending_end(p);
	n = reassign_counts[LM_REASSIGN_MOVED] + reassign_counts[LM_REASSIGN_RELEASED];
	*kept = reassign_counts[LM_REASSIGN_KEPT];
	return n;
}
