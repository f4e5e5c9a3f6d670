/*-------------------------------------------------------------------------
 * lead_state.c
 *	  Maintains every lead's computed columns: score, engagement_score,
 *	  fit_score, stage, stage_changed_at, stage_ceiling (what a move by
 *	  hand down holds the lead back from), last_event_at, converted_at and
 *	  the internal event_counts / recheck_at / rules_version, plus
 *	  stage_history and the rechecks entries that make maintenance find a
 *	  lead when its recheck_at comes.
 *
 * How it works: the row trigger on leads is the only place that derives
 * computed columns.  Code that changes events does not write leads itself;
 * it registers per-lead pending changes (a delta of counts, or counts from
 * scratch) in an LmPending and updates the affected leads, in id order,
 * without an SQL statement (lm_direct_update_leads: an UPDATE's locking
 * and triggers); the row trigger picks the change up.  Because the trigger
 * runs on the newest row version, locked, concurrent writers never lose
 * each other's counts.  Rescoring every lead is one UPDATE statement.
 *
 * A lead's stored counts are trusted only if they were computed with the
 * current rules (rules_version) and no windowed or age term has changed
 * since (recheck_at in the future); otherwise the trigger recounts that
 * lead's events from scratch.  So state is exact at commit even while a
 * rule change is deferred or maintenance is late.
 *
 * recheck_at is not indexed (a change of it would make the event's update
 * of its lead non-HOT); lead_mgmt.rechecks holds, for every lead with a
 * recheck_at, an entry at or before it.  The trigger keeps that true by
 * adding an entry whenever recheck_at moves earlier; maintenance, which
 * alone deletes entries, enters again the next time of every lead whose
 * entry it took.
 *
 * Memory: pending registries live in their own context, deleted when the
 * statement that made them ends; stage history and rechecks entries
 * waiting to be written live in TopTransactionContext.  All are dropped on
 * (sub)transaction abort.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "assignment.h"
#include "direct.h"
#include "lead_state.h"
#include "nurture.h"
#include "segments.h"
#include "util.h"

/* how many columns of leads only lead_mgmt writes (computed_attnums) */
#define LM_N_COMPUTED 15

typedef struct LmHistoryItem
{
	SubTransactionId subid;	/* first: see LmQueuedItem */
	int64		lead_id;
	char	   *from_stage;
	char	   *to_stage;
	TimestampTz changed_at;
	char	   *reason;
	char	   *note;
	bool		lead_updated;	/* of an UPDATE: the lead exists, locked */
} LmHistoryItem;

typedef struct LmRecheckItem
{
	SubTransactionId subid;	/* first: see LmQueuedItem */
	int64		lead_id;
	TimestampTz due_at;
} LmRecheckItem;

static LmPending *pending_top = NULL;
static bool pending_applying = false;
static List *history = NIL;		/* of LmHistoryItem, in TopTransactionContext */
static List *rechecks = NIL;	/* of LmRecheckItem, in TopTransactionContext */
static TimestampTz now_override = 0;
static int	internal_depth = 0;
static const char *reason_override = NULL;

static SPIPlanPtr plan_update_all = NULL;
static SPIPlanPtr plan_update_ids = NULL;
static SPIPlanPtr plan_lock_ids = NULL;
static SPIPlanPtr plan_lock_ids_nokey = NULL;
static SPIPlanPtr plan_events_ids = NULL;
static SPIPlanPtr plan_events_one = NULL;
static SPIPlanPtr plan_history = NULL;
static SPIPlanPtr plan_rechecks = NULL;

static void lm_history_write(void);
static void lm_rechecks_write(void);
static void computed_attnums(const LmLeadCols *cols, AttrNumber computed[LM_N_COMPUTED]);

/* Drops everything per-statement when a (sub)transaction ends or aborts. */
static void
lm_xact_cb(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			pending_top = NULL;
			pending_applying = false;
			history = NIL;
			rechecks = NIL;
			now_override = 0;
			internal_depth = 0;
			reason_override = NULL;
			lm_segments_reset(InvalidSubTransactionId);
			lm_assign_reset(InvalidSubTransactionId);
			lm_nurture_reset(InvalidSubTransactionId);
			lm_cache_at_xact_end();
			break;
		default:
			break;
	}
}

static void
lm_subxact_cb(SubXactEvent event, SubTransactionId mySubid,
			  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		/*
		 * pending_top, pending_applying, internal_depth and reason_override
		 * are left alone: their setters restore them in PG_FINALLY, which
		 * has run by the time a subtransaction around them aborts.  A
		 * subtransaction aborted inside them (an exception block of a
		 * trigger of yours on leads, run while lead_mgmt applies a
		 * statement's events) must not take them from the statement that
		 * is still being applied: its leads would lose their new events.
		 */
		lm_segments_reset(mySubid);
		lm_assign_reset(mySubid);
		lm_nurture_reset(mySubid);
		history = lm_drop_aborted(history, mySubid);
		rechecks = lm_drop_aborted(rechecks, mySubid);
	}
}

/* Registers the transaction callbacks; called from _PG_init. */
void
lm_state_init(void)
{
	RegisterXactCallback(lm_xact_cb, NULL);
	RegisterSubXactCallback(lm_subxact_cb, NULL);
}

/* The reference time of every window and age test: now(), or run_maintenance's at. */
TimestampTz
lm_now(void)
{
	return now_override != 0 ? now_override : GetCurrentTransactionStartTimestamp();
}

/* Sets the reference time until transaction end (0 resets it). */
void
lm_set_now_override(TimestampTz at)
{
	now_override = at;
}

/*
 * Sets the reason recorded for automatic stage changes until reset with
 * NULL (deals use "deal_won" while recording their purchase event).
 */
void
lm_set_reason_override(const char *reason)
{
	reason_override = reason;
}

/* True while the extension itself writes leads (computed columns allowed). */
bool
lm_internal_write(void)
{
	return internal_depth > 0;
}

/* Starts a registry of pending lead changes for one statement of ours. */
LmPending *
lm_pending_begin(LmCache *cache, TimestampTz now)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "lead_mgmt pending",
											  ALLOCSET_DEFAULT_SIZES);
	LmPending  *p = MemoryContextAllocZero(cxt, sizeof(LmPending));
	HASHCTL		ctl;

	p->cxt = cxt;
	p->cache = cache;
	p->now = now;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(LmPendingLead);
	ctl.hcxt = cxt;
	p->leads = hash_create("lead_mgmt pending leads", 8, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	lm_cache_pin(cache);
	return p;
}

/* The pending entry of a lead, created with zero counts in the given mode. */
LmPendingLead *
lm_pending_lead(LmPending *p, int64 lead_id, LmPendingMode mode)
{
	bool		found;
	LmPendingLead *e = hash_search(p->leads, &lead_id, HASH_ENTER, &found);

	if (!found)
	{
		MemoryContext old = MemoryContextSwitchTo(p->cxt);

		e->mode = mode;
		lm_counts_init(&e->counts, p->cache->preds.n);
		e->manual_stage = NULL;
		e->manual_note = NULL;
		e->owner_action = LM_OWNER_NONE;
		e->owner_rep = 0;
		e->owner_reason = NULL;
		MemoryContextSwitchTo(old);
	}
	return e;
}

/* Ends a registry (normally; an abort simply forgets it). */
void
lm_pending_end(LmPending *p)
{
	lm_cache_unpin(p->cache);
	MemoryContextDelete(p->cxt);
}

/*
 * The rows an SPI UPDATE of leads changed.  An UPDATE that ends in
 * something else was replaced by an INSTEAD rule of the user's: lead_mgmt
 * cannot keep its leads then, and says so.
 */
static uint64
spi_updated(int ret)
{
	if (ret != SPI_OK_UPDATE)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot update lead_mgmt.leads: a rule replaces the update"),
				 errdetail("An INSTEAD rule on UPDATE of lead_mgmt.leads turns lead_mgmt's own update of the leads into something else, so scores and stages cannot be kept."),
				 errhint("Drop the rule or make it an ALSO rule; a trigger can do what it did.")));
	return SPI_processed;
}

/*
 * The plan of lead_mgmt's own UPDATE of leads (of every lead, or of those
 * whose ids are its one parameter): it sets every computed column to itself
 * (the row trigger then derives them), so that a trigger of yours that is
 * UPDATE OF one of them fires, as on the updates made without a statement
 * (lm_direct_update_leads, whose target columns come from the same list).
 */
static SPIPlanPtr
plan_update_computed(SPIPlanPtr *cache, Oid leads_relid, bool by_ids)
{
	Oid			types[1] = {INT8ARRAYOID};
	Relation	rel;
	TupleDesc	desc;
	AttrNumber	computed[LM_N_COMPUTED];
	StringInfoData sql;
	const char *sep = "";

	if (*cache != NULL)
		return *cache;
	rel = table_open(leads_relid, NoLock);
	desc = RelationGetDescr(rel);
	computed_attnums(lm_lead_cols(desc), computed);
	initStringInfo(&sql);
	appendStringInfoString(&sql, "UPDATE lead_mgmt.leads SET ");
	for (int i = 0; i < LM_N_COMPUTED; i++)
	{
		const char *name;

		if (computed[i] <= 0)
			continue;
		name = quote_identifier(NameStr(TupleDescAttr(desc, computed[i] - 1)->attname));
		appendStringInfo(&sql, "%s%s = %s", sep, name, name);
		sep = ", ";
	}
	if (by_ids)
		appendStringInfoString(&sql, " WHERE id OPERATOR(pg_catalog.=) ANY ($1)");
	table_close(rel, NoLock);
	return lm_plan(cache, sql.data, by_ids ? 1 : 0, types);
}

/*
 * Locks the leads whose ids are in the int8[] ids in id order, as every
 * writer of several leads does, so that two cannot deadlock: FOR UPDATE to
 * recompute them from scratch, FOR NO KEY UPDATE for an update.
 */
static void
lock_leads_in_order(Datum ids, bool for_update)
{
	Oid			types[1] = {INT8ARRAYOID};
	SPIPlanPtr	plan = for_update ?
		lm_plan(&plan_lock_ids,
				"SELECT NULL FROM lead_mgmt.leads WHERE id OPERATOR(pg_catalog.=) ANY ($1) "
				"ORDER BY id FOR UPDATE", 1, types) :
		lm_plan(&plan_lock_ids_nokey,
				"SELECT NULL FROM lead_mgmt.leads WHERE id OPERATOR(pg_catalog.=) ANY ($1) "
				"ORDER BY id FOR NO KEY UPDATE", 1, types);

	if (SPI_execute_plan(plan, &ids, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: locking leads failed");
}

/*
 * Applies a registry: updates the affected leads in id order, so that
 * concurrent writers lock in one order (all of them with all_leads, by
 * one UPDATE statement).  Returns the number of leads updated.
 */
uint64
lm_pending_apply(LmPending *p, bool all_leads)
{
	volatile uint64 processed = 0;
	uint64		updated;
	int64	   *volatile ids = NULL;
	long		n = hash_get_num_entries(p->leads);
	LmPending  *saved_top = pending_top;
	bool		saved_applying = pending_applying;
	Oid			leads_relid;

	if (!all_leads)
	{
		HASH_SEQ_STATUS seq;
		LmPendingLead *e;
		long		i = 0;

		if (n == 0)
			return 0;
		ids = palloc(sizeof(int64) * n);
		hash_seq_init(&seq, p->leads);
		while ((e = hash_seq_search(&seq)) != NULL)
			ids[i++] = e->lead_id;
		qsort(ids, n, sizeof(int64), lm_cmp_int64);
	}

	leads_relid = lm_lock_leads_for_write();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	pending_top = p;
	pending_applying = true;
	internal_depth++;
	PG_TRY();
	{
		if (all_leads)
			processed = spi_updated(SPI_execute_plan(plan_update_computed(&plan_update_all,
																		  leads_relid, false),
													 NULL, NULL, false, 0));
		else if (lm_direct_update_leads(leads_relid, ids, (int) n, &updated))
			processed = updated;
		else
		{
			/*
			 * A rule of yours on leads, or row security that applies to
			 * lead_mgmt too: the statement applies them, on leads locked in
			 * id order first (ids is sorted), as the direct update locks
			 * them.
			 */
			Datum		args[1];

			args[0] = PointerGetDatum(lm_int8_array(ids, (int) n));
			lock_leads_in_order(args[0], false);
			processed = spi_updated(SPI_execute_plan(plan_update_computed(&plan_update_ids,
																		  leads_relid, true),
													 args, NULL, false, 0));
		}
	}
	PG_FINALLY();
	{
		internal_depth--;
		pending_top = saved_top;
		pending_applying = saved_applying;
	}
	PG_END_TRY();
	SPI_finish();
	return processed;
}

/*
 * Counts the events of the given leads (all leads when ids is NULL) from
 * scratch into p, as LM_PENDING_SCRATCH entries.  Streams the events in
 * batches through a cursor, with per-batch memory reset.
 */
void
lm_scratch_scan(LmPending *p, const int64 *ids, int n)
{
	Portal		portal;
	MemoryContext batch_cxt;
	MemoryContext old;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	if (ids != NULL)
	{
		Oid			types[1] = {INT8ARRAYOID};
		Datum		args[1];
		SPIPlanPtr	plan = lm_plan(&plan_events_ids,
								   "SELECT lead_id, event_type, occurred_at, properties "
								   "FROM lead_mgmt.events WHERE lead_id OPERATOR(pg_catalog.=) ANY ($1)",
								   1, types);

		args[0] = PointerGetDatum(lm_int8_array(ids, n));
		portal = SPI_cursor_open(NULL, plan, args, NULL, false);
	}
	else
		portal = SPI_cursor_open_with_args(NULL,
										   "SELECT lead_id, event_type, occurred_at, properties "
										   "FROM lead_mgmt.events",
										   0, NULL, NULL, NULL, false, 0);

	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "lead_mgmt scratch batch",
									  ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		old = MemoryContextSwitchTo(batch_cxt);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			int64		lead_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			char	   *etype = TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull));
			TimestampTz at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 3, &isnull));
			Jsonb	   *props = DatumGetJsonbP(SPI_getbinval(tup, desc, 4, &isnull));
			LmPendingLead *e = lm_pending_lead(p, lead_id, LM_PENDING_SCRATCH);

			lm_counts_add_event(p->cache, &e->counts, etype, props, at, p->now);
			MemoryContextReset(batch_cxt);
		}
		MemoryContextSwitchTo(old);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	MemoryContextDelete(batch_cxt);
	SPI_finish();
}

/* Counts one lead's events from scratch (used inside the row trigger). */
void
lm_compute_counts_for_lead(LmCache *cache, int64 lead_id, TimestampTz now, LmLeadCounts *out)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1];
	SPIPlanPtr	plan;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext old;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	plan = lm_plan(&plan_events_one,
				   "SELECT event_type, occurred_at, properties FROM lead_mgmt.events "
				   "WHERE lead_id OPERATOR(pg_catalog.=) $1",
				   1, types);
	args[0] = Int64GetDatum(lead_id);
	if (SPI_execute_plan(plan, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: reading events failed");
	old = MemoryContextSwitchTo(caller);
	lm_counts_init(out, cache->preds.n);
	MemoryContextSwitchTo(old);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		lm_counts_add_event(cache, out,
							TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull)),
							DatumGetJsonbP(SPI_getbinval(tup, desc, 3, &isnull)),
							DatumGetTimestampTz(SPI_getbinval(tup, desc, 2, &isnull)),
							now);
	}
	SPI_finish();
}

/*
 * Counts one lead's events for an ad-hoc predicate set (not the cache's):
 * evaluate() and assignment-rule conditions, which are counted on demand.
 * Returns a palloc'd array of preds->n counts.
 */
int32 *
lm_count_for_predicates(const LmPredicateSet *preds, int64 lead_id, TimestampTz now)
{
	int32	   *counts;
	Oid			types[1] = {INT8OID};
	Datum		args[1];

	counts = palloc0(sizeof(int32) * Max(preds->n, 1));
	if (preds->n == 0)
		return counts;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	args[0] = Int64GetDatum(lead_id);
	if (SPI_execute_plan(lm_plan(&plan_events_one,
								 "SELECT event_type, occurred_at, properties FROM lead_mgmt.events "
								 "WHERE lead_id OPERATOR(pg_catalog.=) $1",
								 1, types), args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: reading events failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *etype = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));
		TimestampTz at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 2, &isnull));
		Jsonb	   *props = DatumGetJsonbP(SPI_getbinval(tup, desc, 3, &isnull));

		for (int p = 0; p < preds->n; p++)
			if (strcmp(preds->items[p].event_type, etype) == 0 &&
				lm_predicate_matches(&preds->items[p], props, at, now))
				counts[p]++;
	}
	SPI_finish();
	return counts;
}

/*
 * Turns the given leads of p (their entries must exist) from deltas into
 * counts from scratch: locks them first, in id order, as
 * lm_recompute_leads does, then counts every event of theirs that this
 * command sees, the ones the deltas held included.  For an insert whose
 * leads were already recounted from scratch in this transaction, after
 * the new events were written (see lm_events_after_insert).
 */
void
lm_pending_rescratch(LmPending *p, const int64 *ids, int n)
{
	if (n == 0)
		return;
	lm_lock_leads_for_write();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	lock_leads_in_order(PointerGetDatum(lm_int8_array(ids, n)), true);
	SPI_finish();
	for (int i = 0; i < n; i++)
	{
		LmPendingLead *e = hash_search(p->leads, &ids[i], HASH_FIND, NULL);
		MemoryContext old;

		if (e == NULL)
			continue;
		old = MemoryContextSwitchTo(p->cxt);
		e->mode = LM_PENDING_SCRATCH;
		lm_counts_init(&e->counts, p->cache->preds.n);
		MemoryContextSwitchTo(old);
	}
	lm_scratch_scan(p, ids, n);
}

/*
 * Recomputes the given leads from scratch: locks them first (id order) so
 * that no concurrent event can slip between reading the events and writing
 * the lead, then counts and applies.  Returns the number of leads updated.
 */
uint64
lm_recompute_leads(const int64 *ids, int n)
{
	LmCache    *cache;
	LmPending  *p;
	uint64		done;

	if (n == 0)
		return 0;
	lm_lock_leads_for_write();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	lock_leads_in_order(PointerGetDatum(lm_int8_array(ids, n)), true);
	SPI_finish();

	cache = lm_cache_get();
	p = lm_pending_begin(cache, lm_now());
	for (int i = 0; i < n; i++)
		lm_pending_lead(p, ids[i], LM_PENDING_SCRATCH);
	lm_scratch_scan(p, ids, n);
	done = lm_pending_apply(p, false);
	lm_pending_end(p);
	return done;
}

/*
 * Recomputes every lead from scratch, and rebuilds rechecks from the new
 * recheck_at of every lead (so that a rescore also repairs it, e.g. after
 * restoring a dump of a version without it).  Takes SHARE ROW EXCLUSIVE on
 * leads: it waits for in-flight writers of leads (whose events must be
 * counted) and keeps new ones out until commit, maintenance included;
 * readers are not blocked.
 */
uint64
lm_recompute_all(void)
{
	LmCache    *cache;
	LmPending  *p;
	uint64		done;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	SPI_execute("LOCK TABLE lead_mgmt.leads IN SHARE ROW EXCLUSIVE MODE", false, 0);
	SPI_finish();

	cache = lm_cache_get();
	p = lm_pending_begin(cache, lm_now());
	p->scratch_all = true;
	lm_scratch_scan(p, NULL, 0);
	done = lm_pending_apply(p, true);
	lm_pending_end(p);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	SPI_execute("UPDATE lead_mgmt.engine_state SET rescore_pending = false WHERE rescore_pending", false, 0);

	/*
	 * TRUNCATE, not DELETE: no million dead rows.  Its ACCESS EXCLUSIVE
	 * lock waits for no writer (every writer of rechecks holds a write
	 * lock on leads, which ours excludes) and for no reader of lead_mgmt's
	 * (maintenance locks leads first too); sorted, the entries fill the
	 * index from left to right.
	 */
	if (OidIsValid(lm_relid_if_exists("rechecks")) &&	/* not at 0.1 */
		(SPI_execute("TRUNCATE lead_mgmt.rechecks", false, 0) != SPI_OK_UTILITY ||
		 SPI_execute("INSERT INTO lead_mgmt.rechecks (due_at, lead_id) "
					 "SELECT recheck_at, id FROM lead_mgmt.leads WHERE recheck_at IS NOT NULL "
					 "ORDER BY 1, 2",
					 false, 0) != SPI_OK_INSERT))
		elog(ERROR, "lead_mgmt: rebuilding rechecks failed");
	SPI_finish();
	return done;
}

/* Column numbers of leads, resolved by name once per descriptor. */
const LmLeadCols *
lm_lead_cols(TupleDesc desc)
{
	static LmLeadCols cols;
	static int	natts = -1;
	static Oid	tdtypeid = InvalidOid;

	if (natts != desc->natts || tdtypeid != desc->tdtypeid)
	{
		memset(&cols, 0, sizeof(cols));
		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute a = TupleDescAttr(desc, i);
			const char *name = NameStr(a->attname);
			AttrNumber	n = a->attnum;

			if (a->attisdropped)
				continue;
#define COL(x) else if (strcmp(name, #x) == 0) cols.x = n
			if (false)
				;
			COL(id);
			COL(external_id);
			COL(email);
			COL(attributes);
			COL(created_at);
			COL(score);
			COL(engagement_score);
			COL(fit_score);
			COL(stage);
			COL(stage_changed_at);
			COL(stage_ceiling);
			COL(owner_id);
			COL(assigned_at);
			COL(last_event_at);
			COL(converted_at);
			COL(event_counts);
			COL(recheck_at);
			COL(rules_version);
			COL(segment_ids);
			COL(sequence_ids);
			COL(region);
			COL(industry);
			COL(disqualified_at);
#undef COL
		}
		if (cols.id == 0 || cols.score == 0 || cols.stage == 0 || cols.event_counts == 0 ||
			cols.recheck_at == 0 || cols.rules_version == 0 || cols.created_at == 0 ||
			cols.segment_ids == 0 || cols.sequence_ids == 0)
			elog(ERROR, "lead_mgmt: lead_mgmt.leads lacks computed columns");
		natts = desc->natts;
		tdtypeid = desc->tdtypeid;
	}
	return &cols;
}

static inline TimestampTz
col_time(Datum *values, bool *isnull, AttrNumber att)
{
	return (att == 0 || isnull[att - 1]) ? LM_NO_TIME : DatumGetTimestampTz(values[att - 1]);
}

/*
 * Reads the stored counts of a row; leaves zero counts (and returns with
 * c->n == -1) when they are absent or of another length.
 */
void
lm_counts_from_row(LmLeadCounts *c, int npreds, TupleDesc desc,
				   Datum *values, bool *isnull, const LmLeadCols *cols)
{
	ArrayType  *arr;

	lm_counts_init(c, npreds);
	c->window_recheck = col_time(values, isnull, cols->recheck_at);
	c->last_event_at = col_time(values, isnull, cols->last_event_at);
	c->converted_at = col_time(values, isnull, cols->converted_at);
	if (isnull[cols->event_counts - 1])
	{
		c->n = npreds == 0 ? 0 : -1;
		return;
	}
	arr = DatumGetArrayTypeP(values[cols->event_counts - 1]);
	if (ARR_HASNULL(arr) || ARR_ELEMTYPE(arr) != INT4OID ||
		(ARR_NDIM(arr) == 0 ? 0 : ARR_DIMS(arr)[0]) != npreds ||
		ARR_NDIM(arr) > 1)
	{
		c->n = -1;
		return;
	}
	if (npreds > 0)
		memcpy(c->counts, ARR_DATA_PTR(arr), sizeof(int32) * npreds);
}

static Datum
counts_datum(const LmLeadCounts *c)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(c->n, 1));

	for (int i = 0; i < c->n; i++)
		d[i] = Int32GetDatum(c->counts[i]);
	return PointerGetDatum(construct_array(d, c->n, INT4OID, 4, true, TYPALIGN_INT));
}

/*
 * The attribute numbers of the computed columns, the columns only lead_mgmt
 * writes (0 for one the table lacks), from the cached numbers: no name
 * lookups on the hot path.
 */
static void
computed_attnums(const LmLeadCols *cols, AttrNumber computed[LM_N_COMPUTED])
{
	const AttrNumber all[LM_N_COMPUTED] = {
		cols->score, cols->engagement_score, cols->fit_score, cols->stage,
		cols->stage_changed_at, cols->owner_id, cols->assigned_at, cols->last_event_at,
		cols->converted_at, cols->event_counts, cols->recheck_at, cols->rules_version,
		cols->segment_ids, cols->sequence_ids, cols->stage_ceiling
	};

	memcpy(computed, all, sizeof(all));
}

/*
 * The computed columns of leads as an UPDATE's set of target columns
 * (attribute numbers offset by FirstLowInvalidHeapAttributeNumber, as in
 * RangeTblEntry.updatedCols): what lead_mgmt's own update of a lead sets,
 * palloc'd in the current context.
 */
Bitmapset *
lm_lead_computed_cols(TupleDesc desc)
{
	AttrNumber	computed[LM_N_COMPUTED];
	Bitmapset  *set = NULL;

	computed_attnums(lm_lead_cols(desc), computed);
	for (int i = 0; i < LM_N_COMPUTED; i++)
		if (computed[i] > 0)
			set = bms_add_member(set, computed[i] - FirstLowInvalidHeapAttributeNumber);
	return set;
}

/* Refuses an application's write to a computed column. */
static void
check_computed_unchanged(TupleDesc desc, const LmLeadCols *cols, HeapTuple oldtup,
						 Datum *values, bool *isnull)
{
	AttrNumber	computed[LM_N_COMPUTED];

	computed_attnums(cols, computed);
	for (int i = 0; i < LM_N_COMPUTED; i++)
	{
		AttrNumber	attno = computed[i];

		if (attno > 0 &&
			!lm_attr_unchanged(desc, oldtup, attno, values[attno - 1], isnull[attno - 1]))
			ereport(ERROR,
					(errcode(ERRCODE_GENERATED_ALWAYS),
					 errmsg("column \"%s\" of lead_mgmt.leads is computed by lead_mgmt",
							NameStr(TupleDescAttr(desc, attno - 1)->attname)),
					 errdetail("Scores, stage, ownership and event bookkeeping follow from events and rules."),
					 errhint("Leave the column out; use lead_mgmt.set_stage() or lead_mgmt.rescore() to change what it shows.")));
	}
}

/*
 * Refuses malformed emails, blank external ids, leads with neither, and
 * non-object attributes, with what to do.
 */
static void
check_lead_fields(TupleDesc desc, Datum *values, bool *isnull, const LmLeadCols *cols,
				  HeapTuple oldtup)
{
	if (cols->external_id != 0 && !isnull[cols->external_id - 1] &&
		lm_text_is_blank(values[cols->external_id - 1]) &&
		!(oldtup != NULL &&
		  lm_attr_unchanged(desc, oldtup, cols->external_id, values[cols->external_id - 1], false)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("external_id must not be empty"),
				 errhint("Leave external_id NULL if the lead has none: leads are merged by it, so every lead with an empty one would be one lead.")));
	if (cols->external_id != 0 && cols->email != 0 &&
		isnull[cols->external_id - 1] && isnull[cols->email - 1] &&
		(oldtup == NULL ||
		 !lm_attr_unchanged(desc, oldtup, cols->external_id, (Datum) 0, true) ||
		 !lm_attr_unchanged(desc, oldtup, cols->email, (Datum) 0, true)))
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("a lead needs an external_id or an email"),
				 errdetail("Leads are merged and looked up by external_id, else by email; a lead with neither could never be found again by capture()."),
				 errhint("Give the lead an external_id (your CRM's id for it) or an email.")));
	if (cols->email != 0 && !isnull[cols->email - 1])
	{
		char	   *email = TextDatumGetCString(values[cols->email - 1]);
		char	   *at = strchr(email, '@');
		bool		ok = at != NULL && at != email && at[1] != '\0' &&
			strchr(at + 1, '@') == NULL && strpbrk(email, " \t\r\n") == NULL;

		if (!ok)
		{
			bool		oldnull = true;
			char	   *oldemail = NULL;

			if (oldtup != NULL)
			{
				Datum		o = heap_getattr(oldtup, cols->email, desc, &oldnull);

				if (!oldnull)
					oldemail = TextDatumGetCString(o);
			}
			if (oldemail == NULL || strcmp(oldemail, email) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid email address \"%s\"", email),
						 errhint("An email needs one \"@\" with text on both sides and no spaces; leave it NULL if unknown.")));
		}
	}
	if (!isnull[cols->created_at - 1] &&
		TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(values[cols->created_at - 1])))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("lead creation time must be finite"),
				 errhint("Leave created_at out for now(), or give when the lead was really captured.")));
	if (cols->attributes != 0 && !isnull[cols->attributes - 1])
	{
		Jsonb	   *attrs = DatumGetJsonbP(values[cols->attributes - 1]);

		if (!JB_ROOT_IS_OBJECT(attrs) || JB_ROOT_IS_SCALAR(attrs))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("lead attributes must be a jsonb object"),
					 errhint("Store custom fields as {\"key\": value, ...}.")));
	}
}

static char *
text_col(Datum *values, bool *isnull, AttrNumber att)
{
	return (att == 0 || isnull[att - 1]) ? NULL : TextDatumGetCString(values[att - 1]);
}

/* Writes a new stage, and when it was entered, into the row. */
static void
write_stage(const LmLeadCols *cols, Datum *values, bool *isnull, const char *stage,
			TimestampTz at)
{
	values[cols->stage - 1] = CStringGetTextDatum(stage);
	isnull[cols->stage - 1] = false;
	values[cols->stage_changed_at - 1] = TimestampTzGetDatum(at);
	isnull[cols->stage_changed_at - 1] = false;
}

/*
 * Writes the stage a move by hand down holds the lead back from (NULL:
 * none) into the row, when the table has the column (0.2).
 */
static void
write_ceiling(const LmLeadCols *cols, Datum *values, bool *isnull, const char *ceiling)
{
	if (cols->stage_ceiling == 0)
		return;
	values[cols->stage_ceiling - 1] = ceiling ? CStringGetTextDatum(ceiling) : (Datum) 0;
	isnull[cols->stage_ceiling - 1] = (ceiling == NULL);
}

/*
 * Whether the lead rises to the stage its criteria reach (reached: an index
 * into cache->stages, -1 for none above its stage), given the hold a move by
 * hand down left (*ceiling, of rank *ceiling_rank; NULL for none).  A held
 * lead does not rise back to the stage it was moved down from, nor to one
 * between, while the criteria that would raise it keep holding: it rises
 * when it reaches a stage above the ceiling, or reaches one again after its
 * criteria had lapsed.  So the ceiling comes down to the highest stage the
 * criteria still reach, and goes when none does or the lead rises past it.
 */
static bool
ceiling_allows(LmCache *cache, int reached, const char **ceiling, int32 *ceiling_rank)
{
	if (*ceiling != NULL && reached >= 0 && cache->stages[reached].rank <= *ceiling_rank)
	{
		*ceiling = cache->stages[reached].name;
		*ceiling_rank = cache->stages[reached].rank;
		return false;
	}
	*ceiling = NULL;
	*ceiling_rank = -1;
	return reached >= 0;
}

/*
 * Adds to changed the columns of cols whose value in the new row differs
 * from oldtup's.  The segments and sequences test these columns: besides
 * what the application's UPDATE set (already in changed), lead_mgmt's own
 * writes change computed ones (last_event_at, converted_at, stage_changed_at,
 * owner_id, assigned_at), and a BEFORE trigger of the user's that runs
 * before ours may change any column, also during lead_mgmt's updates.
 */
static Bitmapset *
add_changed_cols(Bitmapset *changed, const Bitmapset *cols, TupleDesc desc,
				 HeapTuple oldtup, const Datum *values, const bool *isnull)
{
	int			a = -1;

	while ((a = bms_next_member(cols, a)) >= 0)
	{
		if (a > desc->natts || bms_is_member(a, changed) ||
			TupleDescAttr(desc, a - 1)->attisdropped)
			continue;
		if (!lm_attr_unchanged(desc, oldtup, a, values[a - 1], isnull[a - 1]))
			changed = bms_add_member(changed, a);
	}
	return changed;
}

/*
 * Ownership: a manual assignment, a reassignment (redistribute, SLA), or
 * the rules when the lead enters a stage that assigns on entry without an
 * owner.  Writes owner_id / assigned_at into the row and queues history.
 */
static void
decide_owner(LmCache *cache, LmLeadView *view, const LmLeadCols *cols,
			 Datum *values, bool *isnull, LmPendingLead *entry, int64 lead_id,
			 const char *from_stage, const char *to_stage, TimestampTz now,
			 Bitmapset **changed_cols)
{
	bool		owned = !isnull[cols->owner_id - 1];
	int64		owner = owned ? DatumGetInt64(values[cols->owner_id - 1]) : 0;
	bool		disqualified = !isnull[cols->disqualified_at - 1];
	int64		new_owner = owner;
	LmAssignChoice choice;

	if (entry != NULL && entry->owner_action == LM_OWNER_MANUAL)
	{
		new_owner = entry->owner_rep;
		lm_assign_queue(lead_id, new_owner, 0, "manual", now, "manual", owned);
	}
	else if (entry != NULL && entry->owner_action == LM_OWNER_REASSIGN)
	{
		if (!owned || owner != entry->owner_rep)
			return;				/* changed hands meanwhile: nothing to do */
		lm_assign_choose(cache, view, lead_id,
						 text_col(values, isnull, cols->region),
						 text_col(values, isnull, cols->industry),
						 owner, now, &choice);
		if (choice.rep_id == 0 && strcmp(entry->owner_reason, "sla_breach") == 0)
		{
			/*
			 * Nobody else is eligible (a one-rep team, the others away or
			 * full): a late owner is better than none, and nothing would
			 * assign the lead again.  The assignment stays open and due,
			 * followups lists it, and the next maintenance tries again.
			 */
			lm_assign_note_reassign(LM_REASSIGN_KEPT);
			return;
		}
		lm_assign_note_reassign(choice.rep_id != 0 ? LM_REASSIGN_MOVED : LM_REASSIGN_RELEASED);
		new_owner = choice.rep_id;
		lm_assign_queue(lead_id, new_owner, choice.rule_id, choice.method, now,
						entry->owner_reason, true);
		if (new_owner == 0)
			lm_assign_notify_unassigned(lead_id);
	}
	else if (!owned && !disqualified && to_stage != NULL &&
			 (from_stage == NULL || strcmp(from_stage, to_stage) != 0))
	{
		/*
		 * Entering a stage that assigns on entry, or passing over one (a lead
		 * that jumps from iql to customer has reached sql on the way).
		 */
		int32		from_rank = from_stage ? lm_cache_stage_rank(cache, from_stage) : -1;
		int32		to_rank = lm_cache_stage_rank(cache, to_stage);
		bool		crosses = false;

		for (int i = 0; i < cache->n_stages; i++)
			if (cache->stages[i].assign_on_entry &&
				cache->stages[i].rank > from_rank && cache->stages[i].rank <= to_rank)
				crosses = true;
		if (!crosses)
			return;
		lm_assign_choose(cache, view, lead_id,
						 text_col(values, isnull, cols->region),
						 text_col(values, isnull, cols->industry),
						 0, now, &choice);
		new_owner = choice.rep_id;
		if (new_owner != 0)
			lm_assign_queue(lead_id, new_owner, choice.rule_id, choice.method, now, "rule", false);
		else
			lm_assign_notify_unassigned(lead_id);
	}
	if (new_owner == owner)
		return;
	values[cols->owner_id - 1] = Int64GetDatum(new_owner);
	isnull[cols->owner_id - 1] = (new_owner == 0);
	values[cols->assigned_at - 1] = TimestampTzGetDatum(now);
	isnull[cols->assigned_at - 1] = (new_owner == 0);
	*changed_cols = bms_add_member(*changed_cols, cols->owner_id);
}

/*
 * The row trigger on leads (BEFORE INSERT OR UPDATE): refuses application
 * writes to computed columns, then derives every computed column from the
 * lead's fields and its counts (stored, plus a pending delta, or recounted).
 * Stage changes are queued for stage_history.
 */
HeapTuple
lm_leads_trigger_row(TriggerData *trigdata)
{
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	bool		is_insert = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event);
	HeapTuple	oldtup = is_insert ? NULL : trigdata->tg_trigtuple;
	HeapTuple	newtup = is_insert ? trigdata->tg_trigtuple : trigdata->tg_newtuple;
	const LmLeadCols *cols = lm_lead_cols(desc);
	LmCache    *cache;
	LmPending  *p = NULL;
	LmPendingLead *entry = NULL;
	Datum	   *values;
	bool	   *isnull;
	int64		lead_id;
	TimestampTz now = lm_now();
	LmLeadCounts c = {0};
	LmLeadView	view;
	LmDerived	derived;
	const char *from_stage = NULL;
	const char *to_stage = NULL;
	const char *reason = NULL;
	const char *note = NULL;
	int32		current_rank = -1;
	const char *ceiling = NULL; /* held back from it by a move by hand down */
	int32		ceiling_rank = -1;
	TimestampTz recheck;
	TimestampTz old_recheck = LM_NO_TIME;
	bool		full_eval = true;	/* counts recomputed: every segment re-evaluated */
	const int32 *delta = NULL;
	int			n_delta = 0;
	Bitmapset  *changed_cols = NULL;
	LmSegmentInput seg_in;
	int64	   *old_seg_ids = NULL;
	int			n_old_seg = 0;
	int64	   *new_seg_ids;
	int			n_new_seg;
	TimestampTz old_converted = LM_NO_TIME;
	bool		old_disqualified = false;
	int32		old_score = 0;
	int32		old_engagement = 0;
	int32		old_fit = 0;
	bool		old_score_null = true;
	Datum		segd;
	bool		segnull;
	bool		stage_moves;
	TimestampTz stage_changed_at;

	values = palloc(sizeof(Datum) * desc->natts);
	isnull = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(newtup, desc, values, isnull);
	if (!lm_internal_write())
		check_computed_unchanged(desc, cols, oldtup, values, isnull);
	check_lead_fields(desc, values, isnull, cols, oldtup);

	cache = lm_cache_get();
	lm_cache_pin(cache);		/* SPI below may process invalidations */
	lead_id = DatumGetInt64(values[cols->id - 1]);
	if (pending_applying && pending_top != NULL && !is_insert)
	{
		p = pending_top;
		entry = hash_search(p->leads, &lead_id, HASH_FIND, NULL);
	}

	/* the lead's counts under the current rules */
	if (is_insert)
	{
		lm_counts_init(&c, cache->preds.n);
	}
	else if (p != NULL && p->cache->version == cache->version &&
			 p->cache->preds.n == cache->preds.n &&
			 ((entry != NULL && entry->mode == LM_PENDING_SCRATCH) ||
			  (entry == NULL && p->scratch_all)))
	{
		if (entry != NULL)
			c = entry->counts;
		else
			lm_counts_init(&c, cache->preds.n);
	}
	else
	{
		bool		stale;
		bool		vnull = isnull[cols->rules_version - 1];

		stale = vnull || DatumGetInt64(values[cols->rules_version - 1]) != cache->version;
		if (!stale)
		{
			lm_counts_from_row(&c, cache->preds.n, desc, values, isnull, cols);
			stale = c.n < 0 ||
				(c.window_recheck != LM_NO_TIME && c.window_recheck <= now);
		}
		if (entry != NULL && (p->cache->version != cache->version ||
							  p->cache->preds.n != cache->preds.n))
			stale = true;
		if (stale)
			lm_compute_counts_for_lead(cache, lead_id, now, &c);
		else
		{
			full_eval = false;
			if (entry != NULL)
			{
				lm_counts_merge(&c, &entry->counts);
				delta = entry->counts.counts;
				n_delta = entry->counts.n;
			}
		}
	}

	if (p != NULL && p->eval_all_segments)
		full_eval = true;
	if (!is_insert)
	{
		if (!isnull[cols->recheck_at - 1])
			old_recheck = DatumGetTimestampTz(values[cols->recheck_at - 1]);
		old_score_null = isnull[cols->score - 1] || isnull[cols->engagement_score - 1] ||
			isnull[cols->fit_score - 1];
		if (!old_score_null)
		{
			old_score = DatumGetInt32(values[cols->score - 1]);
			old_engagement = DatumGetInt32(values[cols->engagement_score - 1]);
			old_fit = DatumGetInt32(values[cols->fit_score - 1]);
		}
		lm_segment_ids_from_datum(values[cols->segment_ids - 1], isnull[cols->segment_ids - 1],
								  &old_seg_ids, &n_old_seg);
		if (!isnull[cols->converted_at - 1])
			old_converted = DatumGetTimestampTz(values[cols->converted_at - 1]);
		{
			bool		onull;

			(void) heap_getattr(oldtup, cols->disqualified_at, desc, &onull);
			old_disqualified = !onull;
		}
		if (!lm_internal_write())
		{
			/* which columns did the application change? (one deform, not
			 * one heap_getattr per column) */
			Datum	   *ovalues = palloc(sizeof(Datum) * desc->natts);
			bool	   *onulls = palloc(sizeof(bool) * desc->natts);

			heap_deform_tuple(oldtup, desc, ovalues, onulls);
			for (int i = 0; i < desc->natts; i++)
			{
				Form_pg_attribute att = TupleDescAttr(desc, i);

				if (att->attisdropped)
					continue;
				if (onulls[i] != isnull[i] ||
					(!onulls[i] && !datum_image_eq(ovalues[i], values[i], att->attbyval, att->attlen)))
					changed_cols = bms_add_member(changed_cols, i + 1);
			}
		}
	}

	/* derive scores and stage */
	if (!is_insert && !isnull[cols->stage - 1])
	{
		from_stage = TextDatumGetCString(values[cols->stage - 1]);
		current_rank = lm_cache_stage_rank(cache, from_stage);
	}
	if (current_rank < 0 && cache->n_stages > 0)
	{
		/* a new lead (or one whose stage was removed) starts at the bottom */
		current_rank = cache->stages[0].rank;
		to_stage = cache->stages[0].name;
		reason = "condition";
	}
	else
		to_stage = from_stage;
	if (!is_insert && cols->stage_ceiling != 0 && !isnull[cols->stage_ceiling - 1])
	{
		const LmStage *st = lm_cache_stage(cache,
										   TextDatumGetCString(values[cols->stage_ceiling - 1]));

		if (st != NULL && st->rank > current_rank)
		{
			ceiling = st->name;
			ceiling_rank = st->rank;
		}
	}

	/* the times the counts give, before anything tests them */
	values[cols->last_event_at - 1] = TimestampTzGetDatum(c.last_event_at);
	isnull[cols->last_event_at - 1] = (c.last_event_at == LM_NO_TIME);
	values[cols->converted_at - 1] = TimestampTzGetDatum(c.converted_at);
	isnull[cols->converted_at - 1] = (c.converted_at == LM_NO_TIME);

	memset(&view, 0, sizeof(view));
	view.tupdesc = desc;
	view.values = values;
	view.isnull = isnull;
	view.counts = c.counts;
	view.ncounts = c.n;
	view.now = now;
	view.stage_rank = current_rank;
	lm_derive(cache, &view, current_rank, &derived);

	if (entry != NULL && entry->manual_stage != NULL)
	{
		int32		to_rank;

		to_stage = entry->manual_stage;
		reason = "manual";
		note = entry->manual_note;
		to_rank = lm_cache_stage_rank(cache, to_stage);

		/*
		 * Derive from the stage the lead is moved to, as a rescore will:
		 * what it reaches above that stage bounds the hold below, and the
		 * windowed conditions of the stages above it set its recheck.
		 */
		if (to_rank != current_rank)
			lm_derive(cache, &view, to_rank, &derived);

		/*
		 * Down: held back from where it was (or from the higher stage an
		 * earlier move down holds it back from), but only as far as its
		 * criteria still reach -- the ceiling comes down at once to the
		 * highest stage they reach, or goes if none above the new stage.
		 * Up or to the same stage: free to rise again.
		 */
		if (from_stage != NULL && to_rank < current_rank)
		{
			if (ceiling == NULL)
			{
				ceiling = from_stage;
				ceiling_rank = current_rank;
			}
			(void) ceiling_allows(cache, derived.stage_index, &ceiling, &ceiling_rank);
		}
		else
			ceiling = NULL;
	}
	else if (ceiling_allows(cache, derived.stage_index, &ceiling, &ceiling_rank))
	{
		to_stage = cache->stages[derived.stage_index].name;
		reason = reason_override ? reason_override : derived.reason;
	}
	write_ceiling(cols, values, isnull, ceiling);

	/* write the computed columns */
	values[cols->score - 1] = Int32GetDatum(derived.score);
	isnull[cols->score - 1] = false;
	values[cols->engagement_score - 1] = Int32GetDatum(derived.engagement_score);
	isnull[cols->engagement_score - 1] = false;
	values[cols->fit_score - 1] = Int32GetDatum(derived.fit_score);
	isnull[cols->fit_score - 1] = false;
	values[cols->event_counts - 1] = counts_datum(&c);
	isnull[cols->event_counts - 1] = false;
	values[cols->rules_version - 1] = Int64GetDatum(cache->version);
	isnull[cols->rules_version - 1] = false;

	/* a new lead's stage dates from its creation, a change from now */
	stage_changed_at = is_insert ? DatumGetTimestampTz(values[cols->created_at - 1]) : now;
	stage_moves = to_stage != NULL &&
		(from_stage == NULL || strcmp(from_stage, to_stage) != 0);
	if (stage_moves)
		write_stage(cols, values, isnull, to_stage, stage_changed_at);

	view.stage_rank = to_stage ? lm_cache_stage_rank(cache, to_stage) : -1;
	decide_owner(cache, &view, cols, values, isnull, entry, lead_id, from_stage, to_stage,
				 now, &changed_cols);
	if (cache->derive_tests_late_cols)
	{
		/*
		 * A rule or a stage tests what was decided after the scores and the
		 * stage (the owner, the assignment time, the stage time): derive
		 * again with those, until the stage holds -- at most once per stage
		 * above -- so that the lead is what a rescore would make it.  A
		 * stage reached now may assign the lead, as on entry.
		 */
		for (int pass = 0; pass < cache->n_stages; pass++)
		{
			const char *prev = to_stage;

			lm_derive(cache, &view, view.stage_rank, &derived);
			if ((entry != NULL && entry->manual_stage != NULL) ||
				!ceiling_allows(cache, derived.stage_index, &ceiling, &ceiling_rank))
				break;
			to_stage = cache->stages[derived.stage_index].name;
			reason = reason_override ? reason_override : derived.reason;
			stage_moves = true;
			write_stage(cols, values, isnull, to_stage, stage_changed_at);
			view.stage_rank = lm_cache_stage_rank(cache, to_stage);
			decide_owner(cache, &view, cols, values, isnull, NULL, lead_id, prev, to_stage,
						 now, &changed_cols);
		}
		values[cols->score - 1] = Int32GetDatum(derived.score);
		values[cols->engagement_score - 1] = Int32GetDatum(derived.engagement_score);
		values[cols->fit_score - 1] = Int32GetDatum(derived.fit_score);
		write_ceiling(cols, values, isnull, ceiling);
	}
	if (!is_insert && !full_eval && cache->cond_dep_cols != NULL)
		changed_cols = add_changed_cols(changed_cols, cache->cond_dep_cols, desc, oldtup,
										values, isnull);

	/* segments, seen with the new scores, stage and owner */
	memset(&seg_in, 0, sizeof(seg_in));
	seg_in.view = &view;
	seg_in.lead_id = lead_id;
	seg_in.old_ids = old_seg_ids;
	seg_in.n_old = n_old_seg;
	seg_in.full = full_eval;
	seg_in.delta = delta;
	seg_in.n_delta = n_delta;
	seg_in.score_changed = old_score_null || old_score != derived.score ||
		old_engagement != derived.engagement_score || old_fit != derived.fit_score;
	seg_in.stage_changed = (to_stage == NULL) != (from_stage == NULL) ||
		(to_stage != NULL && strcmp(to_stage, from_stage) != 0);
	seg_in.changed_cols = changed_cols;
	seg_in.lead_updated = !is_insert;
	seg_in.now = now;
	lm_segments_decide(cache, &seg_in, &new_seg_ids, &n_new_seg);
	segd = lm_segment_ids_datum(new_seg_ids, n_new_seg, &segnull);
	values[cols->segment_ids - 1] = segd;
	isnull[cols->segment_ids - 1] = segnull;

	/* nurture: enrolments and exits */
	if (cache->n_sequences > 0 || !isnull[cols->sequence_ids - 1])
	{
		LmNurtureInput nin;
		/* a purchase, or a stage at or above customer (set_stage) */
		bool		customer = c.converted_at != LM_NO_TIME ||
			lm_cache_customer_stage(cache, to_stage);
		bool		was_customer = old_converted != LM_NO_TIME ||
			lm_cache_customer_stage(cache, from_stage);
		bool		disqualified = !isnull[cols->disqualified_at - 1];
		int			up = cache->unsubscribe_pred;
		bool		unsubscribed = up >= 0 && up < c.n && c.counts[up] > 0;

		memset(&nin, 0, sizeof(nin));
		nin.seg = &seg_in;
		lm_segment_ids_from_datum(values[cols->sequence_ids - 1], isnull[cols->sequence_ids - 1],
								  (int64 **) &nin.old_ids, &nin.n_old);
		if (customer && (full_eval || !was_customer))
			nin.exit_all = "customer";
		else if (disqualified && (full_eval || !old_disqualified))
			nin.exit_all = "disqualified";
		else if (unsubscribed && (full_eval || (delta != NULL && up < n_delta && delta[up] > 0)))
			nin.exit_all = "unsubscribed";
		nin.can_enroll = !customer && !disqualified && !unsubscribed;
		lm_nurture_decide(cache, &nin, &new_seg_ids, &n_new_seg);
		segd = lm_segment_ids_datum(new_seg_ids, n_new_seg, &segnull);
		values[cols->sequence_ids - 1] = segd;
		isnull[cols->sequence_ids - 1] = segnull;
	}

	/*
	 * When a windowed or age term next changes: of the rules and stages
	 * (lm_derive), and of the segments and sequences evaluated above, which
	 * include every one with an age term.
	 */
	recheck = c.window_recheck;
	if (view.next_change != 0 && (recheck == LM_NO_TIME || view.next_change < recheck))
		recheck = view.next_change;
	values[cols->recheck_at - 1] = TimestampTzGetDatum(recheck);
	isnull[cols->recheck_at - 1] = (recheck == LM_NO_TIME);
	if (recheck != LM_NO_TIME && (old_recheck == LM_NO_TIME || recheck < old_recheck) &&
		!(p != NULL && p->scratch_all))	/* lm_recompute_all rebuilds them */
	{
		/* the entry at or before the old time may come too late */
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
		LmRecheckItem *r = palloc(sizeof(LmRecheckItem));

		r->subid = GetCurrentSubTransactionId();
		r->lead_id = lead_id;
		r->due_at = recheck;
		rechecks = lappend(rechecks, r);
		MemoryContextSwitchTo(old);
	}

	if (stage_moves)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
		LmHistoryItem *h = palloc(sizeof(LmHistoryItem));

		h->lead_id = lead_id;
		h->from_stage = from_stage ? pstrdup(from_stage) : NULL;
		h->to_stage = pstrdup(to_stage);
		h->changed_at = stage_changed_at;
		h->reason = pstrdup(reason ? reason : "condition");
		h->note = note ? pstrdup(note) : NULL;
		h->lead_updated = !is_insert;
		h->subid = GetCurrentSubTransactionId();
		history = lappend(history, h);
		MemoryContextSwitchTo(old);
	}

	lm_cache_unpin(cache);
	return heap_form_tuple(desc, values, isnull);
}

/*
 * Writes the queued stage changes to stage_history (from the statement
 * trigger on leads).  Entries of leads that were not inserted after all
 * (INSERT ... ON CONFLICT DO NOTHING) are skipped.
 */
void
lm_history_flush(void)
{
	lm_history_write();
	lm_rechecks_write();
	lm_segments_flush();
	lm_assign_flush();
	lm_nurture_flush();
}

/*
 * Writes one queued stage change (a single event's) without a statement,
 * if direct.c can; returns false when the statement must write it.
 */
static bool
lm_history_write_direct(LmHistoryItem *h)
{
	static const char *const cols[6] = {"lead_id", "from_stage", "to_stage",
	"changed_at", "reason", "note"};
	static const Oid types[6] = {INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID};
	Datum		values[6];
	bool		isnull[6] = {false, h->from_stage == NULL, false, false, false, h->note == NULL};
	LmDirectProbe probe;

	values[0] = Int64GetDatum(h->lead_id);
	values[1] = h->from_stage ? CStringGetTextDatum(h->from_stage) : (Datum) 0;
	values[2] = CStringGetTextDatum(h->to_stage);
	values[3] = TimestampTzGetDatum(h->changed_at);
	values[4] = CStringGetTextDatum(h->reason);
	values[5] = h->note ? CStringGetTextDatum(h->note) : (Datum) 0;
	/* a lead inserted may have been skipped (ON CONFLICT DO NOTHING) */
	probe.relid = h->lead_updated ? InvalidOid : lm_relid("leads");
	probe.key = h->lead_id;
	return lm_direct_insert(lm_relid("stage_history"), 6, cols, types, values, isnull,
							&probe, h->lead_updated ? 0 : 1, false) != LM_DIRECT_UNSUPPORTED;
}

static void
lm_history_write(void)
{
	List	   *items = lm_take_current(&history);
	int			n = list_length(items);
	int64	   *ids;
	char	  **from;
	char	  **to;
	char	  **reasons;
	char	  **notes;
	TimestampTz *at;
	int			i = 0;
	ListCell   *lc;
	bool	   *updated;
	Oid			types[7] = {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	TIMESTAMPTZARRAYOID, TEXTARRAYOID, TEXTARRAYOID, BOOLARRAYOID};
	Datum		args[7];

	if (n == 0)
		return;
	if (n == 1 && lm_history_write_direct(linitial(items)))
		return;
	ids = palloc(sizeof(int64) * n);
	from = palloc(sizeof(char *) * n);
	to = palloc(sizeof(char *) * n);
	reasons = palloc(sizeof(char *) * n);
	notes = palloc(sizeof(char *) * n);
	at = palloc(sizeof(TimestampTz) * n);
	updated = palloc(sizeof(bool) * n);
	foreach(lc, items)
	{
		LmHistoryItem *h = lfirst(lc);

		ids[i] = h->lead_id;
		from[i] = h->from_stage;
		to[i] = h->to_stage;
		reasons[i] = h->reason;
		notes[i] = h->note;
		at[i] = h->changed_at;
		updated[i] = h->lead_updated;
		i++;
	}
	args[0] = PointerGetDatum(lm_int8_array(ids, n));
	args[1] = PointerGetDatum(lm_text_array(from, n));
	args[2] = PointerGetDatum(lm_text_array(to, n));
	args[3] = PointerGetDatum(lm_timestamptz_array(at, n));
	args[4] = PointerGetDatum(lm_text_array(reasons, n));
	args[5] = PointerGetDatum(lm_text_array(notes, n));
	args[6] = PointerGetDatum(lm_bool_array(updated, n));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");

	/*
	 * A lead an UPDATE changed exists (it is locked); only the rows of
	 * leads an INSERT queued, which ON CONFLICT DO NOTHING may have
	 * skipped, look the lead up.
	 */
	if (SPI_execute_plan(lm_plan(&plan_history,
								 "INSERT INTO lead_mgmt.stage_history "
								 "(lead_id, from_stage, to_stage, changed_at, reason, note) "
								 "SELECT u.lead_id, u.from_stage, u.to_stage, u.changed_at, u.reason, u.note "
								 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
								 "               pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), "
								 "               pg_catalog.unnest($7)) "
								 "  AS u(lead_id, from_stage, to_stage, changed_at, reason, note, updated) "
								 "WHERE u.updated OR EXISTS (SELECT 1 FROM lead_mgmt.leads l "
								 "                           WHERE l.id OPERATOR(pg_catalog.=) u.lead_id)",
								 7, types), args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "lead_mgmt: writing stage_history failed");
	SPI_finish();
}

/*
 * Writes the queued rechecks entries: a single event's one entry without a
 * statement, more by one statement.  Entries are not checked against
 * leads: one of a lead that was not inserted after all is harmless, like
 * one of a deleted lead (maintenance finds no such lead and drops it).
 */
static void
lm_rechecks_write(void)
{
	List	   *items = lm_take_current(&rechecks);
	int			n = list_length(items);
	int64	   *ids;
	TimestampTz *due;
	int			i = 0;
	ListCell   *lc;
	Oid			types[2] = {TIMESTAMPTZARRAYOID, INT8ARRAYOID};
	Datum		args[2];
	Oid			relid;

	if (n == 0)
		return;

	/* a database still at 0.1 indexes leads.recheck_at instead */
	relid = lm_relid_if_exists("rechecks");
	if (!OidIsValid(relid))
		return;
	if (n == 1)
	{
		static const char *const cols[2] = {"due_at", "lead_id"};
		static const Oid coltypes[2] = {TIMESTAMPTZOID, INT8OID};
		LmRecheckItem *r = linitial(items);
		Datum		values[2];
		bool		isnull[2] = {false, false};

		values[0] = TimestampTzGetDatum(r->due_at);
		values[1] = Int64GetDatum(r->lead_id);
		if (lm_direct_insert(relid, 2, cols, coltypes, values, isnull,
							 NULL, 0, false) != LM_DIRECT_UNSUPPORTED)
			return;
	}
	ids = palloc(sizeof(int64) * n);
	due = palloc(sizeof(TimestampTz) * n);
	foreach(lc, items)
	{
		LmRecheckItem *r = lfirst(lc);

		ids[i] = r->lead_id;
		due[i] = r->due_at;
		i++;
	}
	args[0] = PointerGetDatum(lm_timestamptz_array(due, n));
	args[1] = PointerGetDatum(lm_int8_array(ids, n));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	if (SPI_execute_plan(lm_plan(&plan_rechecks,
								 "INSERT INTO lead_mgmt.rechecks (due_at, lead_id) "
								 "SELECT u.due_at, u.lead_id "
								 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) "
								 "  AS u(due_at, lead_id)",
								 2, types), args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "lead_mgmt: writing rechecks failed");
	SPI_finish();
	pfree(ids);
	pfree(due);
}
