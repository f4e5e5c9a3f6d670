/*-------------------------------------------------------------------------
 * triggers.c
 *	  Trigger entry points:
 *	  - leads: the row trigger that derives computed columns (lead_state.c)
 *	    and the statement trigger that writes queued stage history;
 *	  - events: a row trigger that checks the type and computes points (no
 *	    SPI, rules from the cache), and statement triggers that turn the
 *	    statement's rows into one update of the affected leads;
 *	  - configuration tables: row validation, then cache invalidation and
 *	    retroactive rescoring at the end of the statement;
 *	  - the restore helper that lets dumped rows replace shipped ones.
 *
 * Bulk loads (COPY, multi-row INSERT) cost one pass over the transition
 * table and one UPDATE per statement, not one per row.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "assignment.h"
#include "condition.h"
#include "guc.h"
#include "lead_state.h"
#include "rules_cache.h"
#include "scoring.h"
#include "triggers.h"
#include "util.h"

PG_FUNCTION_INFO_V1(lm_leads_before_row);
PG_FUNCTION_INFO_V1(lm_leads_after_statement);
PG_FUNCTION_INFO_V1(lm_leads_after_delete);
PG_FUNCTION_INFO_V1(lm_events_before_row);
PG_FUNCTION_INFO_V1(lm_events_after_insert);
PG_FUNCTION_INFO_V1(lm_events_after_change);
PG_FUNCTION_INFO_V1(lm_config_validate);
PG_FUNCTION_INFO_V1(lm_config_changed);
PG_FUNCTION_INFO_V1(lm_replace_on_restore);
PG_FUNCTION_INFO_V1(lm_assignments_first_touch);

static SPIPlanPtr plan_register_type = NULL;
static SPIPlanPtr plan_bump_version = NULL;
static SPIPlanPtr plan_stage_in_use = NULL;
static SPIPlanPtr plan_stage_in_use_01 = NULL;
static SPIPlanPtr plan_missing_lead = NULL;

/*
 * The column numbers of lead_mgmt.events (desc: its tuple descriptor),
 * looked up by name once per descriptor.
 */
const LmEventCols *
lm_event_cols(TupleDesc desc)
{
	static LmEventCols cols;
	static int	natts = -1;
	static Oid	tdtypeid = InvalidOid;

	if (natts != desc->natts || tdtypeid != desc->tdtypeid)
	{
		cols.lead_id = SPI_fnumber(desc, "lead_id");
		cols.event_type = SPI_fnumber(desc, "event_type");
		cols.occurred_at = SPI_fnumber(desc, "occurred_at");
		cols.properties = SPI_fnumber(desc, "properties");
		cols.points = SPI_fnumber(desc, "points");
		cols.dedupe_key = SPI_fnumber(desc, "dedupe_key");
		if (cols.lead_id <= 0 || cols.event_type <= 0 || cols.occurred_at <= 0 ||
			cols.properties <= 0 || cols.points <= 0 || cols.dedupe_key <= 0)
			elog(ERROR, "lead_mgmt: lead_mgmt.events lacks expected columns");
		natts = desc->natts;
		tdtypeid = desc->tdtypeid;
	}
	return &cols;
}

static TriggerData *
trigger_data(FunctionCallInfo fcinfo, const char *fname)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired as a trigger", fname),
				 errhint("It is used by lead_mgmt's own tables; do not call it directly.")));
	return (TriggerData *) fcinfo->context;
}

/* BEFORE INSERT OR UPDATE row trigger on leads. */
Datum
lm_leads_before_row(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo, "lm_leads_before_row");

	return PointerGetDatum(lm_leads_trigger_row(td));
}

/* AFTER INSERT OR UPDATE statement trigger on leads: write stage history. */
Datum
lm_leads_after_statement(PG_FUNCTION_ARGS)
{
	(void) trigger_data(fcinfo, "lm_leads_after_statement");
	lm_history_flush();
	return PointerGetDatum(NULL);
}

/*
 * AFTER DELETE / TRUNCATE statement trigger on leads: their events, stage
 * history and segment memberships go with them (those tables carry no
 * foreign key; see the install script).  Their rechecks entries go with a
 * TRUNCATE; a deleted lead's are dropped by maintenance when due.
 */
Datum
lm_leads_after_delete(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo, "lm_leads_after_delete");
	int			ret;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
	{
		ret = SPI_execute("TRUNCATE lead_mgmt.events", false, 0);
		if (ret >= 0)
			ret = SPI_execute("TRUNCATE lead_mgmt.stage_history", false, 0);
		if (ret >= 0)
			ret = SPI_execute("TRUNCATE lead_mgmt.segment_members", false, 0);
		if (ret >= 0)
			ret = SPI_execute("TRUNCATE lead_mgmt.rechecks", false, 0);
	}
	else
	{
		if (SPI_register_trigger_data(td) != SPI_OK_TD_REGISTER)
			elog(ERROR, "lead_mgmt: registering transition tables failed");
		ret = SPI_execute("DELETE FROM lead_mgmt.events e USING old_rows o "
						  "WHERE e.lead_id OPERATOR(pg_catalog.=) o.id", false, 0);
		if (ret >= 0)
			ret = SPI_execute("DELETE FROM lead_mgmt.stage_history h USING old_rows o "
							  "WHERE h.lead_id OPERATOR(pg_catalog.=) o.id", false, 0);
		if (ret >= 0)
			ret = SPI_execute("DELETE FROM lead_mgmt.segment_members m USING old_rows o "
							  "WHERE m.lead_id OPERATOR(pg_catalog.=) o.id", false, 0);
	}
	if (ret < 0)
		elog(ERROR, "lead_mgmt: deleting the events of deleted leads failed");
	SPI_finish();
	return PointerGetDatum(NULL);
}

/*
 * BEFORE INSERT OR UPDATE OF lead_id, rep_id, assigned_at row trigger on
 * assignments: first_touch_at is read off the events already recorded,
 * whatever the writer put there (later events keep it current).
 */
Datum
lm_assignments_first_touch(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo, "lm_assignments_first_touch");
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	HeapTuple	tuple;
	int			cols[4];
	Datum		v[3];
	bool		nulls[3];
	Datum		value;
	bool		isnull = true;

	if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(td->tg_event))
		elog(ERROR, "lead_mgmt: lm_assignments_first_touch must fire before insert or update, for each row");
	tuple = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	cols[0] = SPI_fnumber(desc, "lead_id");
	cols[1] = SPI_fnumber(desc, "rep_id");
	cols[2] = SPI_fnumber(desc, "assigned_at");
	cols[3] = SPI_fnumber(desc, "first_touch_at");
	for (int i = 0; i < 4; i++)
		if (cols[i] <= 0)
			elog(ERROR, "lead_mgmt: lead_mgmt.assignments lacks expected columns");
	for (int i = 0; i < 3; i++)
		v[i] = heap_getattr(tuple, cols[i], desc, &nulls[i]);
	if (!nulls[0] && !nulls[1] && !nulls[2])
		value = TimestampTzGetDatum(lm_assign_first_touch_recorded(DatumGetInt64(v[0]),
																   DatumGetInt64(v[1]),
																   DatumGetTimestampTz(v[2]),
																   &isnull));
	else
		value = (Datum) 0;
	return PointerGetDatum(heap_modify_tuple_by_cols(tuple, desc, 1, &cols[3], &value, &isnull));
}

/*
 * Refuses events of leads that do not exist: ids are the distinct lead ids
 * of a statement's events, of which only `found` were updated.
 */
static void
check_leads_exist(const int64 *ids, int n)
{
	Oid			types[1] = {INT8ARRAYOID};
	Datum		args[1];
	int64		missing;
	bool		isnull;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	args[0] = PointerGetDatum(lm_int8_array(ids, n));
	if (SPI_execute_plan(lm_plan(&plan_missing_lead,
								 "SELECT u.id FROM pg_catalog.unnest($1) AS u(id) "
								 "WHERE NOT EXISTS (SELECT 1 FROM lead_mgmt.leads l "
								 "                  WHERE l.id OPERATOR(pg_catalog.=) u.id) "
								 "ORDER BY u.id LIMIT 1",
								 1, types), args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: checking leads failed");
	if (SPI_processed == 0)
	{
		SPI_finish();
		return;
	}
	missing = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	ereport(ERROR,
			(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
			 errmsg("lead " INT64_FORMAT " does not exist", missing),
			 errdetail("Every event must belong to a lead of lead_mgmt.leads."),
			 errhint("Capture the lead first with lead_mgmt.capture() or INSERT INTO lead_mgmt.leads.")));
}

/* Adds an event type (lead_mgmt.unknown_event_types = register). */
static void
register_event_type(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1];

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	args[0] = CStringGetTextDatum(name);
	if (SPI_execute_plan(lm_plan(&plan_register_type,
								 "INSERT INTO lead_mgmt.event_types (name, description) "
								 "VALUES ($1, 'registered automatically') ON CONFLICT DO NOTHING",
								 1, types), args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "lead_mgmt: registering event type failed");
	SPI_finish();
}

/*
 * BEFORE INSERT OR UPDATE row trigger on events: the type must be
 * registered, properties an object; points are what the active event rules
 * give the event.  Reads rules from the cache only.
 */
Datum
lm_events_before_row(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo, "lm_events_before_row");
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	bool		is_insert = TRIGGER_FIRED_BY_INSERT(td->tg_event);
	HeapTuple	newtup = is_insert ? td->tg_trigtuple : td->tg_newtuple;
	const LmEventCols *cols = lm_event_cols(desc);
	bool		isnull;
	Datum		d;
	char	   *etype;
	Jsonb	   *props = NULL;
	LmCache    *cache;
	LmTypeEntry *te;
	int			attnum[1];
	Datum		newval[1];
	bool		newnull[1];

	d = heap_getattr(newtup, cols->event_type, desc, &isnull);
	if (isnull)
		return PointerGetDatum(newtup);	/* NOT NULL reports it */
	etype = TextDatumGetCString(d);

	cache = lm_cache_get();
	te = lm_cache_type(cache, etype);
	if (te == NULL || !te->registered)
	{
		if (lm_unknown_event_types == LM_UNKNOWN_EVENT_REGISTER)
		{
			register_event_type(etype);
			cache = lm_cache_get();
			te = lm_cache_type(cache, etype);
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("unknown event type \"%s\"", etype),
					 errdetail("Every event type must be registered in lead_mgmt.event_types."),
					 errhint("Register it with INSERT INTO lead_mgmt.event_types (name) VALUES ('%s'), "
							 "or SET lead_mgmt.unknown_event_types = register to add new types automatically.",
							 etype)));
	}

	/*
	 * A blank dedupe_key would make every later event with one look like a
	 * redelivery of the first.  (An update that keeps a blank key stored
	 * under 0.1 is let through.)
	 */
	d = heap_getattr(newtup, cols->dedupe_key, desc, &isnull);
	if (!isnull && lm_text_is_blank(d) &&
		!lm_attr_unchanged(desc, is_insert ? NULL : td->tg_trigtuple, cols->dedupe_key, d, false))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dedupe_key must not be empty"),
				 errhint("Leave dedupe_key NULL for an event that needs no deduplication, or use the id the source gave the delivery.")));

	d = heap_getattr(newtup, cols->occurred_at, desc, &isnull);
	if (!isnull && TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(d)))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("event time must be finite"),
				 errhint("Record when the event happened; leave occurred_at out for now().")));

	d = heap_getattr(newtup, cols->properties, desc, &isnull);
	if (!isnull)
	{
		props = DatumGetJsonbP(d);
		if (!JB_ROOT_IS_OBJECT(props) || JB_ROOT_IS_SCALAR(props))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("event properties must be a jsonb object"),
					 errhint("Pass properties as {\"key\": value, ...}, or '{}' for none.")));
	}

	/* points are computed: an application may not set them */
	d = heap_getattr(newtup, cols->points, desc, &isnull);
	if (!lm_internal_write())
	{
		bool		changed;

		if (is_insert)
			changed = !isnull;
		else
		{
			bool		oldnull;
			Datum		o = heap_getattr(td->tg_trigtuple, cols->points, desc, &oldnull);

			changed = (isnull != oldnull) ||
				(!isnull && DatumGetInt32(o) != DatumGetInt32(d));
		}
		if (changed)
			ereport(ERROR,
					(errcode(ERRCODE_GENERATED_ALWAYS),
					 errmsg("column \"points\" of lead_mgmt.events is computed by lead_mgmt"),
					 errdetail("An event's points are what the active event rules give it when it is recorded."),
					 errhint("Leave the column out.")));
	}

	attnum[0] = cols->points;
	newval[0] = Int32GetDatum(props ? lm_event_points(cache, te, props) : 0);
	newnull[0] = false;
	return PointerGetDatum(heap_modify_tuple_by_cols(newtup, desc, 1, attnum, newval, newnull));
}

/*
 * Reads every row of a transition table with a private read pointer, calling
 * fn for each with a per-row memory context that is reset between rows.
 */
typedef void (*row_fn) (TupleTableSlot *slot, void *arg);

static void
for_each_transition_row(Tuplestorestate *ts, TupleDesc desc, row_fn fn, void *arg)
{
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext,
												  "lead_mgmt transition row",
												  ALLOCSET_SMALL_SIZES);
	int			ptr = tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND);

	tuplestore_select_read_pointer(ts, ptr);
	tuplestore_rescan(ts);
	while (tuplestore_gettupleslot(ts, true, false, slot))
	{
		MemoryContext old = MemoryContextSwitchTo(row_cxt);

		fn(slot, arg);
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_cxt);
	}
	tuplestore_select_read_pointer(ts, 0);
	ExecDropSingleTupleTableSlot(slot);
	MemoryContextDelete(row_cxt);
}

/*
 * A growing list of lead ids, allocated in cxt: a context that outlives
 * for_each_transition_row's per-row one.
 */
typedef struct LeadIds
{
	int64	   *ids;
	int			n;
	int			cap;
	MemoryContext cxt;
} LeadIds;

static void
lead_ids_init(LeadIds *l)
{
	l->ids = NULL;
	l->n = 0;
	l->cap = 0;
	l->cxt = CurrentMemoryContext;
}

static void
lead_ids_add(LeadIds *l, int64 id)
{
	if (l->n == l->cap)
	{
		l->cap = l->cap ? l->cap * 2 : 16;
		l->ids = l->ids ? repalloc(l->ids, sizeof(int64) * l->cap)
			: MemoryContextAlloc(l->cxt, sizeof(int64) * l->cap);
	}
	l->ids[l->n++] = id;
}

/* Whether the event of this row is a sales touch, by the cached types. */
static bool
row_is_sales_touch(TupleTableSlot *slot, const LmEventCols *cols, LmCache *cache)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, cols->event_type, &isnull);
	LmTypeEntry *te;

	if (isnull)
		return false;
	te = lm_cache_type(cache, TextDatumGetCString(d));
	return te != NULL && te->sales_touch;
}

typedef struct InsertScan
{
	LmPending  *p;
	const LmEventCols *cols;
	LeadIds		touched;		/* leads with a new sales touch */
} InsertScan;

static SPIPlanPtr plan_first_touch = NULL;

/*
 * Recomputes assignments.first_touch_at of the given leads (n < 0: of
 * every lead) from their events, by lead_mgmt._first_touch_recompute: the
 * one definition of a first sales touch.  Sales touches are rare events,
 * so each statement that records or changes one pays this, nothing else.
 * Give each lead once.
 */
void
lm_first_touch_recompute(const int64 *ids, int n)
{
	Oid			types[1] = {INT8ARRAYOID};
	Datum		args[1];
	char		nulls[2] = " ";
	List	   *name;

	if (n == 0)
		return;

	/*
	 * A database still at 0.1 (the library is newer than its SQL until
	 * ALTER EXTENSION UPDATE) has no first touches to keep.
	 */
	name = list_make1(makeString("lead_mgmt"));
	name = lappend(name, makeString("_first_touch_recompute"));
	if (!OidIsValid(LookupFuncName(name, 1, types, true)))
		return;
	if (n < 0)
	{
		args[0] = (Datum) 0;
		nulls[0] = 'n';
	}
	else
		args[0] = PointerGetDatum(lm_int8_array(ids, n));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	if (SPI_execute_plan(lm_plan(&plan_first_touch,
								 "SELECT lead_mgmt._first_touch_recompute($1)", 1, types),
						 args, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: recomputing first sales touches failed");
	SPI_finish();
}

/*
 * The leads lm_events_after_change recounted from scratch in this
 * transaction (TopTransactionContext; forgotten when the transaction's
 * lxid is not ours any more).  One query may fire both it and the insert
 * trigger: an INSERT ... ON CONFLICT DO UPDATE, or a writable CTE that
 * inserts events and updates or deletes others.  When the recount ran
 * first it saw the new events already, so the insert trigger must not add
 * them again as deltas: it recounts those leads from scratch too.  Past
 * SCRATCHED_MAX leads, every lead counts as recounted.
 */
#define SCRATCHED_MAX 65536
static HTAB *scratched = NULL;
static LocalTransactionId scratched_lxid = InvalidLocalTransactionId;
static bool scratched_all = false;

static bool
scratched_active(void)
{
	return scratched_lxid == MyProc->lxid && scratched_lxid != InvalidLocalTransactionId;
}

/* Remembers that these leads (n < 0: every lead) were recounted. */
static void
note_scratched(const int64 *ids, int n)
{
	if (!scratched_active())
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(int64);
		ctl.hcxt = TopTransactionContext;
		scratched = hash_create("lead_mgmt leads recounted", 64, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		scratched_lxid = MyProc->lxid;
		scratched_all = false;
	}
	if (n < 0 || hash_get_num_entries(scratched) + n > SCRATCHED_MAX)
	{
		scratched_all = true;
		return;
	}
	for (int i = 0; i < n; i++)
		(void) hash_search(scratched, &ids[i], HASH_ENTER, NULL);
}

/*
 * Of the leads of p, those recounted earlier in this transaction: they are
 * recounted again, with the statement's new events, instead of getting
 * them as deltas.
 */
static void
rescratch_recounted(LmPending *p)
{
	HASH_SEQ_STATUS seq;
	LmPendingLead *e;
	int64	   *ids;
	int			n = 0;

	if (!scratched_active())
		return;
	ids = palloc(sizeof(int64) * hash_get_num_entries(p->leads));
	hash_seq_init(&seq, p->leads);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (scratched_all || hash_search(scratched, &e->lead_id, HASH_FIND, NULL) != NULL)
			ids[n++] = e->lead_id;
	n = lm_sort_unique_int64(ids, n);
	lm_pending_rescratch(p, ids, n);
}

static void
count_new_event(TupleTableSlot *slot, void *arg)
{
	InsertScan *s = (InsertScan *) arg;
	bool		isnull;
	int64		lead_id = DatumGetInt64(slot_getattr(slot, s->cols->lead_id, &isnull));
	char	   *etype = TextDatumGetCString(slot_getattr(slot, s->cols->event_type, &isnull));
	TimestampTz at = DatumGetTimestampTz(slot_getattr(slot, s->cols->occurred_at, &isnull));
	Jsonb	   *props = DatumGetJsonbP(slot_getattr(slot, s->cols->properties, &isnull));
	LmPendingLead *e = lm_pending_lead(s->p, lead_id, LM_PENDING_DELTA);
	LmTypeEntry *te;

	lm_counts_add_event(s->p->cache, &e->counts, etype, props, at, s->p->now);
	te = lm_cache_type(s->p->cache, etype);
	if (te != NULL && te->sales_touch)
		lead_ids_add(&s->touched, lead_id);
}

/*
 * AFTER INSERT statement trigger on events (with the new rows): counts the
 * statement's events per lead and applies the deltas in one UPDATE.
 */
Datum
lm_events_after_insert(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo, "lm_events_after_insert");
	InsertScan	s;

	if (td->tg_newtable == NULL)
		return PointerGetDatum(NULL);
	s.p = lm_pending_begin(lm_cache_get(), lm_now());
	s.cols = lm_event_cols(RelationGetDescr(td->tg_relation));
	lead_ids_init(&s.touched);
	for_each_transition_row(td->tg_newtable, RelationGetDescr(td->tg_relation),
							count_new_event, &s);
	rescratch_recounted(s.p);
	if (lm_pending_apply(s.p, false) < (uint64) hash_get_num_entries(s.p->leads))
	{
		HASH_SEQ_STATUS seq;
		LmPendingLead *e;
		int64	   *ids = palloc(sizeof(int64) * hash_get_num_entries(s.p->leads));
		int			n = 0;

		hash_seq_init(&seq, s.p->leads);
		while ((e = hash_seq_search(&seq)) != NULL)
			ids[n++] = e->lead_id;
		check_leads_exist(ids, n);
	}
	lm_pending_end(s.p);
	/* a lead called twice in one statement is recomputed once */
	lm_first_touch_recompute(s.touched.ids, lm_sort_unique_int64(s.touched.ids, s.touched.n));
	return PointerGetDatum(NULL);
}

typedef struct ChangeScan
{
	const LmEventCols *cols;
	LmCache    *cache;
	LeadIds		leads;			/* every lead with an event changed */
	LeadIds		touched;		/* those with a sales touch changed */
} ChangeScan;

static void
collect_lead_id(TupleTableSlot *slot, void *arg)
{
	ChangeScan *s = (ChangeScan *) arg;
	bool		isnull;
	int64		id = DatumGetInt64(slot_getattr(slot, s->cols->lead_id, &isnull));

	if (isnull)
		return;
	lead_ids_add(&s->leads, id);
	if (row_is_sales_touch(slot, s->cols, s->cache))
		lead_ids_add(&s->touched, id);
}

/*
 * AFTER UPDATE / DELETE / TRUNCATE statement trigger on events: the leads
 * whose events changed or went are recomputed from scratch, and the first
 * touches of those where a sales touch changed or went (the old row's type
 * or the new one's).
 */
Datum
lm_events_after_change(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo, "lm_events_after_change");
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	ChangeScan	s;
	int			n;

	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
	{
		note_scratched(NULL, -1);
		lm_recompute_all();
		lm_first_touch_recompute(NULL, -1);
		return PointerGetDatum(NULL);
	}
	s.cols = lm_event_cols(desc);
	s.cache = lm_cache_get();
	lead_ids_init(&s.leads);
	lead_ids_init(&s.touched);
	if (td->tg_oldtable)
		for_each_transition_row(td->tg_oldtable, desc, collect_lead_id, &s);
	if (td->tg_newtable)
	{
		int			before = s.leads.n;

		for_each_transition_row(td->tg_newtable, desc, collect_lead_id, &s);
		if (s.leads.n > before)
			check_leads_exist(s.leads.ids + before, s.leads.n - before);
	}
	if (s.leads.n == 0)
		return PointerGetDatum(NULL);
	n = lm_sort_unique_int64(s.leads.ids, s.leads.n);
	note_scratched(s.leads.ids, n);
	lm_recompute_leads(s.leads.ids, n);
	lm_first_touch_recompute(s.touched.ids, lm_sort_unique_int64(s.touched.ids, s.touched.n));
	return PointerGetDatum(NULL);
}

/* ---- configuration ---- */

static char *
get_text(HeapTuple tup, TupleDesc desc, const char *col)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, SPI_fnumber(desc, col), desc, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static Jsonb *
get_jsonb(HeapTuple tup, TupleDesc desc, const char *col)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, SPI_fnumber(desc, col), desc, &isnull);

	return isnull ? NULL : DatumGetJsonbP(d);
}

static bool
is_null(HeapTuple tup, TupleDesc desc, const char *col)
{
	bool		isnull;

	(void) heap_getattr(tup, SPI_fnumber(desc, col), desc, &isnull);
	return isnull;
}

static bool
valid_identifier_name(const char *name, bool lower_only)
{
	int			len = strlen(name);

	if (len == 0 || len > 63)
		return false;
	if (!((name[0] >= 'a' && name[0] <= 'z') || (!lower_only && name[0] >= 'A' && name[0] <= 'Z')))
		return false;
	for (int i = 1; i < len; i++)
	{
		char		ch = name[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')
			continue;
		if (!lower_only && ((ch >= 'A' && ch <= 'Z') || ch == '.' || ch == ':' || ch == '-'))
			continue;
		return false;
	}
	return true;
}

/* Validates one row of lead_mgmt.scoring_rules. */
static void
validate_scoring_rule(HeapTuple tup, TupleDesc desc)
{
	char	   *name = get_text(tup, desc, "name");
	char	   *etype = get_text(tup, desc, "event_type");
	Jsonb	   *props = get_jsonb(tup, desc, "properties");
	Jsonb	   *cond = get_jsonb(tup, desc, "condition");
	bool		isnull;
	Datum		within;
	Datum		d;

	if (name == NULL || name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scoring rule name must not be empty"),
				 errhint("Name the rule after what it rewards, for example 'visited the pricing page'.")));
	if (etype != NULL && cond != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scoring rule \"%s\" has both an event_type and a condition", name),
				 errdetail("An event rule (event_type) gives points per matching event; a condition rule (condition) gives points once while it holds."),
				 errhint("Split it into two rules.")));
	if (etype == NULL && cond == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scoring rule \"%s\" needs an event_type or a condition", name),
				 errhint("Set event_type for points per event, or condition for points while a condition holds.")));
	if (etype != NULL)
	{
		LmTypeEntry *te = lm_cache_type(lm_cache_get(), etype);

		if (te == NULL || !te->registered)
			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("scoring rule \"%s\" refers to unknown event type \"%s\"", name, etype),
					 errhint("Register the type first: INSERT INTO lead_mgmt.event_types (name) VALUES ('%s').", etype)));
		if (props != NULL && (!JB_ROOT_IS_OBJECT(props) || JB_ROOT_IS_SCALAR(props)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("properties of scoring rule \"%s\" must be a jsonb object", name),
					 errhint("An event matches when its properties contain this object, for example {\"page\": \"/pricing\"}.")));
		d = heap_getattr(tup, SPI_fnumber(desc, "max_occurrences"), desc, &isnull);
		if (!isnull && DatumGetInt32(d) < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_occurrences of scoring rule \"%s\" must be at least 1", name),
					 errhint("It caps how many matching events count; leave it NULL to count them all.")));
		within = heap_getattr(tup, SPI_fnumber(desc, "within"), desc, &isnull);
		if (!isnull)
		{
			Interval	zero;

			memset(&zero, 0, sizeof(zero));
			if (DatumGetInt32(DirectFunctionCall2(interval_cmp, within, IntervalPGetDatum(&zero))) <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("within of scoring rule \"%s\" must be a positive interval", name),
						 errhint("Write it as, for example, '30 days'; leave it NULL to count events of all time.")));
		}
	}
	else
	{
		if (props != NULL || !is_null(tup, desc, "max_occurrences") || !is_null(tup, desc, "within"))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("condition rule \"%s\" cannot have properties, max_occurrences or within", name),
					 errdetail("Those apply to event rules; a condition rule counts once while its condition holds."),
					 errhint("Put the filter in the condition, for example {\"event\": \"email_opened\", \"within\": \"30 days\", \"properties\": {...}}.")));
		(void) lm_cond_parse(cond, LM_CTX_SCORING_RULE, lm_catalog_for_validation(), NULL);
	}
}

/*
 * Refuses to delete or rename a stage that leads are in, or that leads moved
 * down by hand are held back from (their stage_ceiling names it: without it
 * they would rise back at their next event).
 */
static void
check_stage_unused(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1];
	int64		n;
	int64		held;
	bool		isnull;
	bool		has_ceiling = get_attnum(lm_relid("leads"), "stage_ceiling") != InvalidAttrNumber;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	args[0] = CStringGetTextDatum(name);
	if (SPI_execute_plan(has_ceiling ?
						 lm_plan(&plan_stage_in_use,
								 "SELECT (SELECT pg_catalog.count(*) FROM lead_mgmt.leads "
								 "         WHERE stage OPERATOR(pg_catalog.=) $1), "
								 "       (SELECT pg_catalog.count(*) FROM lead_mgmt.leads "
								 "         WHERE stage_ceiling OPERATOR(pg_catalog.=) $1)",
								 1, types) :
						 lm_plan(&plan_stage_in_use_01,
								 "SELECT pg_catalog.count(*), 0::bigint FROM lead_mgmt.leads "
								 "WHERE stage OPERATOR(pg_catalog.=) $1",
								 1, types), args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: counting leads by stage failed");
	n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	held = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	SPI_finish();
	if (n > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg_plural("stage \"%s\" still holds " INT64_FORMAT " lead",
							   "stage \"%s\" still holds " INT64_FORMAT " leads",
							   (unsigned long) n, name, n),
				 errhint("Move them first with lead_mgmt.set_stage(), or keep the stage and change its min_score or condition.")));
	if (held > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg_plural("stage \"%s\" still holds back " INT64_FORMAT " lead moved down from it by hand",
							   "stage \"%s\" still holds back " INT64_FORMAT " leads moved down from it by hand",
							   (unsigned long) held, name, held),
				 errdetail("Their stage_ceiling names it: they do not rise back to it until they earn it anew."),
				 errhint("Release them first with lead_mgmt.set_stage(lead_id, stage) to the stage they are in, or keep the stage and change its min_score or condition.")));
}

/* Validates one row of lead_mgmt.stages (or its deletion). */
static void
validate_stage(TriggerData *td, TupleDesc desc)
{
	HeapTuple	newtup;
	char	   *name;
	Jsonb	   *cond;

	if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		check_stage_unused(get_text(td->tg_trigtuple, desc, "name"));
		return;
	}
	newtup = TRIGGER_FIRED_BY_INSERT(td->tg_event) ? td->tg_trigtuple : td->tg_newtuple;
	name = get_text(newtup, desc, "name");
	if (name == NULL || !valid_identifier_name(name, true))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid stage name \"%s\"", name ? name : ""),
				 errhint("Use lower-case letters, digits and underscores, starting with a letter (at most 63 characters).")));
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		char	   *oldname = get_text(td->tg_trigtuple, desc, "name");

		if (strcmp(oldname, name) != 0)
			check_stage_unused(oldname);
	}
	cond = get_jsonb(newtup, desc, "condition");
	if (cond != NULL)
		(void) lm_cond_parse(cond, LM_CTX_STAGE, lm_catalog_for_validation(), NULL);
}

static void
setting_error_context(void *arg)
{
	errcontext("lead_mgmt setting \"%s\" must be an interval such as '14 days'", (const char *) arg);
}

static bool
valid_seniority(const char *s)
{
	return strcmp(s, "junior") == 0 || strcmp(s, "senior") == 0 || strcmp(s, "enterprise") == 0;
}

/* Validates a rep; refuses to delete one that owns leads or has history. */
static void
validate_rep(TriggerData *td, TupleDesc desc)
{
	HeapTuple	tup;
	char	   *sen;
	bool		isnull;
	Datum		d;

	if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		Oid			types[1] = {INT8OID};
		Datum		args[1];
		int64		n;

		d = heap_getattr(td->tg_trigtuple, SPI_fnumber(desc, "id"), desc, &isnull);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "lead_mgmt: SPI_connect failed");
		args[0] = d;
		SPI_execute_with_args("SELECT (SELECT pg_catalog.count(*) FROM lead_mgmt.leads WHERE owner_id OPERATOR(pg_catalog.=) $1) "
							  "     OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM lead_mgmt.assignments WHERE rep_id OPERATOR(pg_catalog.=) $1)",
							  1, types, args, NULL, false, 1);
		n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		SPI_finish();
		if (n > 0)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("rep " INT64_FORMAT " owns leads or has assignment history", DatumGetInt64(d)),
					 errdetail("Assignment history is kept for reporting."),
					 errhint("Deactivate the rep instead (UPDATE lead_mgmt.reps SET active = false) and move their leads with lead_mgmt.redistribute().")));
		return;
	}
	tup = TRIGGER_FIRED_BY_INSERT(td->tg_event) ? td->tg_trigtuple : td->tg_newtuple;
	sen = get_text(tup, desc, "seniority");
	if (sen != NULL && !valid_seniority(sen))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown seniority \"%s\"", sen),
				 errhint("Use junior, senior or enterprise.")));
	d = heap_getattr(tup, SPI_fnumber(desc, "weight"), desc, &isnull);
	if (!isnull && DatumGetInt32(d) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rep weight must be at least 1"),
				 errhint("A weight of 2 gets twice the leads of a weight of 1 under weighted rules; deactivate a rep to give none.")));
	d = heap_getattr(tup, SPI_fnumber(desc, "capacity"), desc, &isnull);
	if (!isnull && DatumGetInt32(d) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rep capacity must not be negative"),
				 errhint("Capacity is the most open leads the rep may own; leave it NULL for no limit.")));
}

/*
 * The longest interval lead_mgmt accepts in configuration: settings, a
 * rule's sla, a step's delay.  Times are computed from them (assigned_at +
 * sla, the due time of a touch, the end of a lease); a longer one would
 * put those times out of range, and every writer that computes one (an
 * application's track(), the sender, maintenance) would then fail with a
 * bare "timestamp out of range" that names none of them.  A century is
 * beyond any sensible policy.
 */
#define LM_MAX_INTERVAL "100 years"

/* Whether iv is longer than LM_MAX_INTERVAL. */
static bool
interval_too_long(Datum iv)
{
	Datum		max = DirectFunctionCall3(interval_in, CStringGetDatum(LM_MAX_INTERVAL),
										  ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));

	return DatumGetInt32(DirectFunctionCall2(interval_cmp, iv, max)) > 0;
}

/* Validates one row of lead_mgmt.settings: known names, interval values. */
static void
validate_setting(HeapTuple tup, TupleDesc desc)
{
	static const char *const known[] = {
		"mql_stall_after", "winback_after", "default_sla", "touch_lease", NULL
	};
	char	   *name = get_text(tup, desc, "name");
	char	   *value = get_text(tup, desc, "value");
	bool		ok = false;
	Interval   *iv;
	Interval	zero;

	for (int i = 0; known[i] != NULL; i++)
		if (name != NULL && strcmp(name, known[i]) == 0)
			ok = true;
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("unknown lead_mgmt setting \"%s\"", name ? name : ""),
				 errhint("The settings are mql_stall_after, winback_after, default_sla and touch_lease.")));
	if (value == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("setting \"%s\" must have a value", name),
				 errhint("Write an interval such as '14 days'; delete the row to use the documented default.")));
	{
		ErrorContextCallback cb;

		cb.callback = setting_error_context;
		cb.arg = name;
		cb.previous = error_context_stack;
		error_context_stack = &cb;
		iv = DatumGetIntervalP(DirectFunctionCall3(interval_in, CStringGetDatum(value),
												   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
		error_context_stack = cb.previous;
	}
	memset(&zero, 0, sizeof(zero));
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(iv), IntervalPGetDatum(&zero))) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("setting \"%s\" must be a positive interval", name),
				 errhint("Write it as, for example, '14 days'.")));
	if (interval_too_long(IntervalPGetDatum(iv)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("setting \"%s\" must be at most %s", name, LM_MAX_INTERVAL),
				 errdetail("Times computed from it would be out of range."),
				 errhint("Write it as, for example, '14 days'.")));
}

/*
 * BEFORE row trigger on the configuration tables: refuses malformed rows
 * with a message that says what is wrong and what to do.
 */
Datum
lm_config_validate(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo, "lm_config_validate");
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	const char *table = RelationGetRelationName(td->tg_relation);
	HeapTuple	ret = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;

	if (strcmp(table, "event_types") == 0)
	{
		char	   *name = get_text(ret, desc, "name");

		if (name == NULL || !valid_identifier_name(name, false))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid event type name \"%s\"", name ? name : ""),
					 errhint("Use letters, digits and _ . : -, starting with a letter (at most 63 characters), for example webinar_attended.")));
	}
	else if (strcmp(table, "scoring_rules") == 0)
		validate_scoring_rule(ret, desc);
	else if (strcmp(table, "stages") == 0)
		validate_stage(td, desc);
	else if (strcmp(table, "settings") == 0)
		validate_setting(ret, desc);
	else if (strcmp(table, "reps") == 0)
		validate_rep(td, desc);
	else if (strcmp(table, "assignment_rules") == 0)
	{
		char	   *name = get_text(ret, desc, "name");
		Jsonb	   *cond = get_jsonb(ret, desc, "condition");
		char	   *method = get_text(ret, desc, "method");
		char	   *sen = get_text(ret, desc, "min_seniority");
		bool		isnull;
		Datum		sla = heap_getattr(ret, SPI_fnumber(desc, "sla"), desc, &isnull);

		if (method != NULL && strcmp(method, "round_robin") != 0 && strcmp(method, "weighted") != 0 &&
			strcmp(method, "least_loaded") != 0 && strcmp(method, "performance") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown assignment method \"%s\"", method),
					 errhint("Use round_robin, weighted, least_loaded or performance.")));
		if (sen != NULL && !valid_seniority(sen))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown seniority \"%s\"", sen),
					 errhint("Use junior, senior or enterprise.")));

		if (name == NULL || name[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("assignment rule name must not be empty"),
					 errhint("Name the rule after the leads it routes, for example 'enterprise deals in EMEA'.")));
		if (!isnull)
		{
			Interval	zero;

			memset(&zero, 0, sizeof(zero));
			if (DatumGetInt32(DirectFunctionCall2(interval_cmp, sla, IntervalPGetDatum(&zero))) <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("sla of assignment rule \"%s\" must be a positive interval", name),
						 errhint("Write it as, for example, '4 hours'; leave it NULL to use the setting default_sla.")));
			if (interval_too_long(sla))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("sla of assignment rule \"%s\" must be at most %s", name, LM_MAX_INTERVAL),
						 errdetail("The times by which its leads must be contacted would be out of range."),
						 errhint("Write it as, for example, '4 hours'; leave it NULL to use the setting default_sla.")));
		}
		if (cond != NULL)
			(void) lm_cond_parse(cond, LM_CTX_ASSIGNMENT, lm_catalog_for_validation(), NULL);
	}
	else if (strcmp(table, "sequences") == 0)
	{
		char	   *name = get_text(ret, desc, "name");
		Jsonb	   *exitc = get_jsonb(ret, desc, "exit_condition");

		if (name == NULL || name[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("sequence name must not be empty"),
					 errhint("Name the sequence after its purpose, for example 'webinar follow-up'.")));
		(void) lm_cond_parse(get_jsonb(ret, desc, "enroll_condition"), LM_CTX_SEQUENCE,
							 lm_catalog_for_validation(), NULL);
		if (exitc != NULL)
			(void) lm_cond_parse(exitc, LM_CTX_SEQUENCE, lm_catalog_for_validation(), NULL);
	}
	else if (strcmp(table, "sequence_steps") == 0)
	{
		/* (0.2) a delay from 0 to LM_MAX_INTERVAL (NULL: the NOT NULL says so) */
		bool		delay_null;
		bool		step_null;
		Datum		delay = heap_getattr(ret, SPI_fnumber(desc, "delay"), desc, &delay_null);
		Datum		stepd = heap_getattr(ret, SPI_fnumber(desc, "step"), desc, &step_null);
		int32		step = step_null ? 0 : DatumGetInt32(stepd);
		Interval	zero;

		memset(&zero, 0, sizeof(zero));
		if (!delay_null &&
			DatumGetInt32(DirectFunctionCall2(interval_cmp, delay, IntervalPGetDatum(&zero))) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("delay of step %d must not be negative", step),
					 errdetail("A step is due its delay after the previous touch was done (the first step: after enrolment)."),
					 errhint("Write '0' for a step due at once, or for example '2 days'.")));
		if (!delay_null && interval_too_long(delay))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("delay of step %d must be at most %s", step, LM_MAX_INTERVAL),
					 errdetail("The touch's due time would be out of range."),
					 errhint("Write it as, for example, '2 days'.")));
	}
	else if (strcmp(table, "segments") == 0)
	{
		char	   *name = get_text(ret, desc, "name");

		if (name == NULL || name[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("segment name must not be empty"),
					 errhint("Name the segment after who is in it, for example 'fintech decision makers'.")));
		(void) lm_cond_parse(get_jsonb(ret, desc, "condition"), LM_CTX_SEGMENT,
							 lm_catalog_for_validation(), NULL);
	}
	return PointerGetDatum(ret);
}

/*
 * AFTER statement trigger on the configuration tables: other backends drop
 * their caches at commit; a change to scoring rules or stages bumps the
 * rules version and rescores every lead now, unless lead_mgmt.defer_rescore.
 */
Datum
lm_config_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo, "lm_config_changed");
	const char *table = RelationGetRelationName(td->tg_relation);

	lm_cache_invalidate_all_backends();
	if (strcmp(table, "scoring_rules") == 0 || strcmp(table, "stages") == 0 ||
		strcmp(table, "segments") == 0 || strcmp(table, "sequences") == 0)
	{
		Oid			types[1] = {BOOLOID};
		Datum		args[1];

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "lead_mgmt: SPI_connect failed");
		args[0] = BoolGetDatum(lm_defer_rescore);
		if (SPI_execute_plan(lm_plan(&plan_bump_version,
									 "UPDATE lead_mgmt.engine_state "
									 "SET rules_version = rules_version OPERATOR(pg_catalog.+) 1, "
									 "    rescore_pending = $1",
									 1, types), args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "lead_mgmt: bumping the rules version failed");
		SPI_finish();
		lm_cache_invalidate();
		if (!lm_defer_rescore)
			lm_recompute_all();
	}
	return PointerGetDatum(NULL);
}

/*
 * BEFORE INSERT row trigger (enabled ALWAYS) on tables with shipped rows:
 * while restoring with session_replication_role = replica, a dumped row
 * replaces the shipped row of the same key that CREATE EXTENSION made.
 */
Datum
lm_replace_on_restore(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo, "lm_replace_on_restore");
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	const char *keycol;
	int			attno;
	bool		isnull;
	Datum		key;
	Oid			keytype;
	StringInfoData sql;

	if (SessionReplicationRole != SESSION_REPLICATION_ROLE_REPLICA)
		return PointerGetDatum(td->tg_trigtuple);
	if (td->tg_trigger->tgnargs != 1)
		elog(ERROR, "lead_mgmt: lm_replace_on_restore needs the key column as argument");
	keycol = td->tg_trigger->tgargs[0];
	attno = SPI_fnumber(desc, keycol);
	if (attno <= 0)
		elog(ERROR, "lead_mgmt: no column \"%s\"", keycol);
	key = heap_getattr(td->tg_trigtuple, attno, desc, &isnull);
	if (isnull)
		return PointerGetDatum(td->tg_trigtuple);
	keytype = TupleDescAttr(desc, attno - 1)->atttypid;

	initStringInfo(&sql);
	appendStringInfo(&sql, "DELETE FROM lead_mgmt.%s WHERE %s OPERATOR(pg_catalog.=) $1",
					 quote_identifier(RelationGetRelationName(td->tg_relation)),
					 quote_identifier(keycol));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	if (SPI_execute_with_args(sql.data, 1, &keytype, &key, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "lead_mgmt: replacing a shipped row failed");
	SPI_finish();
	return PointerGetDatum(td->tg_trigtuple);
}
