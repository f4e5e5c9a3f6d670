/*-------------------------------------------------------------------------
 * direct.c
 *	  Writes without an SQL statement: the update of the leads a statement
 *	  of events touched (one, for a single event), and the few inserts
 *	  into stage_history, assignments and inserts and deletes in
 *	  segment_members that follow a single event.
 *
 * A single event's statement used to run one more SQL statement for each
 * of these writes, and setting a statement up (plan cache, executor start
 * with every index opened, portal) cost as much again as the write.  These
 * functions do what the statement does, through the same table, index and
 * trigger machinery, and nothing else.  The leads are updated in id order
 * by construction, which a statement's plan does not promise.
 *
 * Rules: each write first increments the command counter and takes a
 * fresh snapshot, as an SPI statement would.  An insert or delete is done
 * directly only when the statement would do nothing more: the table has no
 * rules or row security that applies, a delete no triggers, an insert no
 * statement triggers and none with a transition table (its row triggers,
 * foreign keys' among them, fire through the trigger manager), and for an
 * insert every column is either given, in its exact type, or a bigint
 * identity column; otherwise lm_direct_insert / lm_direct_delete say so
 * and the caller runs its statement.  Identity sequences and compiled CHECK
 * constraints are kept per table and forgotten on a relcache invalidation
 * of it.
 *
 * The lead's update calls lead_mgmt's own two UPDATE triggers on leads
 * (the row trigger that derives the computed columns, the statement
 * trigger that writes what it queued) as functions, not through the
 * trigger manager, when nothing else would differ: no other trigger fires
 * on an UPDATE of leads (foreign keys' triggers still run, through the
 * trigger manager), session_replication_role is not replica, and the
 * current user is the functions' owner, as their SECURITY DEFINER would
 * make it.  (Such calls are not counted in pg_stat_user_functions.)
 * Otherwise every trigger fires through the trigger manager, transition
 * tables included.  Either way the update's target columns are the
 * computed columns, as for "SET score = score, stage = stage, ...": UPDATE
 * OF triggers on them fire, and index entries get the executor's hints.
 * What leads' triggers are is kept until a relcache invalidation of leads
 * or any change to pg_proc.  When a rule or row security applies to an
 * UPDATE of leads the caller runs the statement instead.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/readfuncs.h"
#include "optimizer/optimizer.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "direct.h"
#include "lead_state.h"

/* identity sequences of the tables written here (a handful) */
#define LM_IDENTITY_SLOTS 4
typedef struct LmIdentitySeq
{
	Oid			relid;
	AttrNumber	attnum;
	Oid			seqid;
} LmIdentitySeq;

static LmIdentitySeq identity_seqs[LM_IDENTITY_SLOTS];
static int	n_identity_seqs = 0;

/*
 * Compiled CHECK constraints of the tables written here.  A statement
 * parses and compiles them again each time it runs, which costs more than
 * inserting the row; these live in a context of their own until the
 * table's relcache entry is invalidated (then they are marked stale, and
 * freed at the next lookup once no insert is evaluating them).
 */
#define LM_CHECK_SLOTS 4
typedef struct LmCheckCache
{
	Oid			relid;			/* InvalidOid: slot free */
	bool		stale;
	int			in_use;			/* inserts evaluating them now */
	int			ncheck;
	ExprState **exprs;
	MemoryContext cxt;
} LmCheckCache;

static LmCheckCache check_caches[LM_CHECK_SLOTS];

/*
 * Whether an UPDATE of leads fires only lead_mgmt's own triggers (besides
 * foreign keys'), and which they are (see the file header).
 */
typedef struct LmLeadTriggers
{
	bool		valid;
	Oid			relid;
	bool		own_only;
	Oid			before_row;		/* pg_trigger oid of the row trigger */
	Oid			owner;			/* owner of both trigger functions */
} LmLeadTriggers;

static LmLeadTriggers lead_triggers;

static bool direct_write_ok(Relation rel);

/*
 * Forgets what was derived from a changed relation (from all: InvalidOid):
 * its identity sequences and its compiled CHECK constraints.
 */
static void
direct_relcache_cb(Datum arg, Oid relid)
{
	int			j = 0;

	for (int i = 0; i < n_identity_seqs; i++)
		if (OidIsValid(relid) && identity_seqs[i].relid != relid)
			identity_seqs[j++] = identity_seqs[i];
	n_identity_seqs = j;
	for (int i = 0; i < LM_CHECK_SLOTS; i++)
		if (OidIsValid(check_caches[i].relid) &&
			(!OidIsValid(relid) || check_caches[i].relid == relid))
			check_caches[i].stale = true;
	if (!OidIsValid(relid) || relid == lead_triggers.relid)
		lead_triggers.valid = false;
}

/* Forgets what leads' triggers are on any change to pg_proc. */
static void
direct_proc_cb(Datum arg, int cacheid, uint32 hashvalue)
{
	lead_triggers.valid = false;
}

/*
 * The compiled CHECK constraints of rel (which has some), in the order of
 * its relcache entry, as ExecConstraints expects them; NULL when every slot
 * is taken, and the executor compiles them itself.
 */
static pg_noinline LmCheckCache *
check_cache(Relation rel)
{
	TupleConstr *constr = rel->rd_att->constr;
	LmCheckCache *free_slot = NULL;
	MemoryContext old;

	for (int i = 0; i < LM_CHECK_SLOTS; i++)
	{
		LmCheckCache *c = &check_caches[i];

		if (OidIsValid(c->relid) && c->stale && c->in_use == 0)
		{
			MemoryContextDelete(c->cxt);
			memset(c, 0, sizeof(*c));
		}
		if (c->relid == RelationGetRelid(rel) && !c->stale && c->ncheck == constr->num_check)
			return c;
		if (!OidIsValid(c->relid) && free_slot == NULL)
			free_slot = c;
	}
	if (free_slot == NULL)
		return NULL;

	free_slot->cxt = AllocSetContextCreate(CacheMemoryContext, "lead_mgmt check constraints",
										   ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(free_slot->cxt);
	free_slot->exprs = palloc(sizeof(ExprState *) * constr->num_check);
	for (int i = 0; i < constr->num_check; i++)
		free_slot->exprs[i] = ExecInitExpr(expression_planner(stringToNode(constr->check[i].ccbin)),
										   NULL);
	MemoryContextSwitchTo(old);
	free_slot->ncheck = constr->num_check;
	free_slot->stale = false;
	free_slot->in_use = 0;
	free_slot->relid = RelationGetRelid(rel);
	return free_slot;
}

/* ExecConstraints, with the CHECK constraints compiled once (see above). */
static void
direct_check_constraints(ResultRelInfo *rri, TupleTableSlot *slot, EState *estate)
{
	Relation	rel = rri->ri_RelationDesc;
	LmCheckCache *c = rel->rd_att->constr->num_check > 0 ? check_cache(rel) : NULL;

	if (c == NULL)
	{
		ExecConstraints(rri, slot, estate);
		return;
	}
	rri->ri_ConstraintExprs = c->exprs;
	c->in_use++;
	PG_TRY();
	{
		ExecConstraints(rri, slot, estate);
	}
	PG_FINALLY();
	{
		c->in_use--;
	}
	PG_END_TRY();
}

/* Registers the invalidation callback; called from _PG_init. */
void
lm_direct_init(void)
{
	CacheRegisterRelcacheCallback(direct_relcache_cb, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, direct_proc_cb, (Datum) 0);
}

/* The sequence behind an identity column, looked up in pg_depend once. */
static Oid
identity_seq(Oid relid, AttrNumber attnum)
{
	Oid			seqid;

	for (int i = 0; i < n_identity_seqs; i++)
		if (identity_seqs[i].relid == relid && identity_seqs[i].attnum == attnum)
			return identity_seqs[i].seqid;
	seqid = getIdentitySequence(relid, attnum, false);
	if (n_identity_seqs < LM_IDENTITY_SLOTS)
	{
		identity_seqs[n_identity_seqs].relid = relid;
		identity_seqs[n_identity_seqs].attnum = attnum;
		identity_seqs[n_identity_seqs].seqid = seqid;
		n_identity_seqs++;
	}
	return seqid;
}

/* Sets up an executor state with rel as its one result relation. */
static EState *
direct_estate(Relation rel, ResultRelInfo **rri)
{
	EState	   *estate = CreateExecutorState();
	RangeTblEntry *rte = makeNode(RangeTblEntry);

	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	ExecInitRangeTable(estate, list_make1(rte));
	*rri = makeNode(ResultRelInfo);
	InitResultRelInfo(*rri, rel, 1, NULL, 0);
	estate->es_snapshot = GetActiveSnapshot();
	estate->es_output_cid = GetCurrentCommandId(true);
	return estate;
}

/* Closes what direct_estate and the write opened, and frees the state. */
static void
direct_estate_end(EState *estate, ResultRelInfo *rri)
{
	ExecCloseIndices(rri);
	ExecCloseTrigTargetRelations(estate);
	ExecCloseRangeTableRelations(estate);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
}

/*
 * Whether fn is lead_mgmt's C function named symbol, in the schema of
 * leads, SECURITY DEFINER without settings of its own; sets *owner.
 */
static bool
own_trigger_function(Oid fn, Oid nsp, const char *symbol, Oid *owner)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;
	bool		ours = false;

	if (!HeapTupleIsValid(tup))
		return false;
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->prolang == ClanguageId && proc->pronamespace == nsp && proc->prosecdef &&
		heap_attisnull(tup, Anum_pg_proc_proconfig, NULL))
	{
		bool		isnull;
		Datum		src = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_prosrc, &isnull);

		if (!isnull)
		{
			char	   *name = TextDatumGetCString(src);

			ours = strcmp(name, symbol) == 0;
			pfree(name);
		}
		*owner = proc->proowner;
	}
	ReleaseSysCache(tup);
	return ours;
}

/*
 * Finds out whether an UPDATE of leads fires lead_mgmt's two triggers and
 * nothing else but foreign keys' (see the file header); cached.
 */
static const LmLeadTriggers *
lead_triggers_get(Relation rel)
{
	TriggerDesc *td = rel->trigdesc;
	LmLeadTriggers t = {true, RelationGetRelid(rel), false, InvalidOid, InvalidOid};
	Oid			after_statement = InvalidOid;
	Oid			as_owner = InvalidOid;
	bool		other = false;

	if (lead_triggers.valid && lead_triggers.relid == RelationGetRelid(rel))
		return &lead_triggers;

	for (int i = 0; td != NULL && i < td->numtriggers && !other; i++)
	{
		Trigger    *trig = &td->triggers[i];
		Oid			owner = InvalidOid;

		/* what does not fire on an UPDATE (with replication role origin) */
		if (!TRIGGER_FOR_UPDATE(trig->tgtype) ||
			trig->tgenabled == TRIGGER_DISABLED || trig->tgenabled == TRIGGER_FIRES_ON_REPLICA)
			continue;
		/* foreign keys' row triggers still go through the trigger manager */
		if (RI_FKey_trigger_type(trig->tgfoid) != RI_TRIGGER_NONE)
			continue;
		if (trig->tgqual != NULL || trig->tgnattr > 0 ||
			trig->tgoldtable != NULL || trig->tgnewtable != NULL)
			other = true;
		else if (TRIGGER_FOR_BEFORE(trig->tgtype) && TRIGGER_FOR_ROW(trig->tgtype) &&
				 !OidIsValid(t.before_row) &&
				 own_trigger_function(trig->tgfoid, RelationGetNamespace(rel),
									  "lm_leads_before_row", &owner))
		{
			t.before_row = trig->tgoid;
			t.owner = owner;
		}
		else if (TRIGGER_FOR_AFTER(trig->tgtype) && !TRIGGER_FOR_ROW(trig->tgtype) &&
				 !OidIsValid(after_statement) &&
				 own_trigger_function(trig->tgfoid, RelationGetNamespace(rel),
									  "lm_leads_after_statement", &owner))
		{
			after_statement = trig->tgoid;
			as_owner = owner;
		}
		else
			other = true;
	}
	t.own_only = !other && OidIsValid(t.before_row) && OidIsValid(after_statement) &&
		t.owner == as_owner;
	lead_triggers = t;
	return &lead_triggers;
}

/*
 * Runs lead_mgmt's row trigger on leads for the update of oldslot's row
 * into newslot, as the trigger manager would (in the per-tuple context);
 * returns false if it skipped the update.
 */
static bool
call_lead_row_trigger(EState *estate, ResultRelInfo *rri, Oid trigger_oid,
					  TupleTableSlot *oldslot, TupleTableSlot *newslot)
{
	TriggerDesc *td = rri->ri_TrigDesc;
	TriggerData tdata = {0};
	MemoryContext old = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
	bool		should_free;
	HeapTuple	newtup;
	HeapTuple	result;

	tdata.type = T_TriggerData;
	tdata.tg_event = TRIGGER_EVENT_UPDATE | TRIGGER_EVENT_ROW | TRIGGER_EVENT_BEFORE;
	tdata.tg_relation = rri->ri_RelationDesc;
	for (int i = 0; i < td->numtriggers; i++)
		if (td->triggers[i].tgoid == trigger_oid)
			tdata.tg_trigger = &td->triggers[i];
	if (tdata.tg_trigger == NULL)
		elog(ERROR, "lead_mgmt: trigger %u of leads not found", trigger_oid);
	tdata.tg_trigtuple = ExecFetchSlotHeapTuple(oldslot, false, NULL);
	newtup = ExecFetchSlotHeapTuple(newslot, true, &should_free);
	tdata.tg_newtuple = newtup;
	tdata.tg_trigslot = oldslot;
	tdata.tg_newslot = newslot;

	result = lm_leads_trigger_row(&tdata);
	if (result != NULL && result != newtup)
		ExecForceStoreHeapTuple(result, newslot, false);
	if (should_free && result != newtup)
		heap_freetuple(newtup);
	MemoryContextSwitchTo(old);
	return result != NULL;
}

/*
 * The error an UPDATE or DELETE gives when, under REPEATABLE READ or
 * SERIALIZABLE, its row was updated (or deleted) by a transaction its
 * snapshot does not see.
 */
static void
serialization_failure(bool deleted)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 deleted ? errmsg("could not serialize access due to concurrent delete")
			 : errmsg("could not serialize access due to concurrent update"),
			 errhint("Retry the transaction: another one changed the same row after this one's snapshot was taken.")));
}

/*
 * Finds the lead whose id is lead_id with the index scan and locks its
 * newest version into slot, as an UPDATE would before changing it.
 * Returns false if there is no such lead (or it was deleted concurrently,
 * at READ COMMITTED).
 */
static bool
lock_lead(Relation rel, IndexScanDesc scan, Snapshot snap, CommandId cid,
		  int64 lead_id, TupleTableSlot *slot)
{
	ScanKeyData key;
	TM_FailureData tmfd;
	TM_Result	res;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(lead_id));
	index_rescan(scan, &key, 1, NULL, 0);
	if (!index_getnext_slot(scan, ForwardScanDirection, slot))
		return false;
	res = table_tuple_lock(rel, &slot->tts_tid, snap, slot, cid, LockTupleNoKeyExclusive,
						   LockWaitBlock,
						   IsolationUsesXactSnapshot() ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
						   &tmfd);
	switch (res)
	{
		case TM_Ok:
			return true;
		case TM_Updated:
			serialization_failure(false);
			break;
		case TM_Deleted:
			if (IsolationUsesXactSnapshot())
				serialization_failure(true);
			return false;
		default:
			elog(ERROR, "lead_mgmt: unexpected result %d locking lead " INT64_FORMAT,
				 (int) res, lead_id);
	}
	return false;
}

/*
 * Updates the leads whose ids are ids[0..n-1] (ascending, distinct) the
 * way "UPDATE lead_mgmt.leads SET <each computed column to itself> WHERE
 * id = ANY ($1)" does, without planning and running that statement: a single
 * event's statement costs about as much again as the event's own INSERT
 * when it goes through the executor, and most of that is setting the
 * statement up; a bulk load's statement had to lock its leads in id order
 * by a query of its own first, as the UPDATE's order depends on its plan.
 *
 * What an UPDATE guarantees is kept: a fresh snapshot after a command
 * counter increment (like an SPI statement), the newest version of each
 * row locked (READ COMMITTED follows concurrent updates; REPEATABLE READ
 * and SERIALIZABLE get the serialization failure an UPDATE gives), in id
 * order so that concurrent writers cannot deadlock, the BEFORE and AFTER
 * ROW and STATEMENT triggers of leads (the row trigger derives the
 * computed columns; the statement trigger writes what they queued;
 * lead_mgmt's own two are called directly when they are the only ones, see
 * the file header), stored generated columns of yours (recomputed after
 * the row triggers), CHECK constraints, index entries only when an update
 * is not HOT, and the replica identity check of publications.  Per-lead
 * work runs in the per-tuple context, reset after each lead.
 *
 * Sets *updated to the number of leads updated (those that no longer
 * exist are skipped) and returns true; returns false, having done nothing,
 * when a rule or row security applies to an UPDATE of leads (FORCE ROW
 * LEVEL SECURITY; rep isolation does not force it): the caller runs the
 * statement.
 */
bool
lm_direct_update_leads(Oid leads_relid, const int64 *ids, int n, uint64 *updated)
{
	Relation	rel;
	Relation	idx;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *oldslot;
	TupleTableSlot *newslot;
	IndexScanDesc scan;
	Snapshot	snap;
	EPQState	epq;
	TM_FailureData tmfd;
	TransitionCaptureState *transitions = NULL;
	uint64		processed = 0;
	const LmLeadTriggers *own;
	bool		own_triggers;
	Oid			before_row;

	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	snap = GetActiveSnapshot();

	rel = table_open(leads_relid, RowExclusiveLock);
	if (!direct_write_ok(rel))
	{
		/* a rule or row security applies to the statement: the caller runs it */
		table_close(rel, NoLock);
		PopActiveSnapshot();
		return false;
	}
	CheckCmdReplicaIdentity(rel, CMD_UPDATE);
	own = lead_triggers_get(rel);
	own_triggers = own->own_only && SessionReplicationRole != SESSION_REPLICATION_ROLE_REPLICA &&
		GetUserId() == own->owner;
	before_row = own->before_row;

	estate = direct_estate(rel, &rri);

	/*
	 * The update sets the computed columns, as if it named them: triggers
	 * of yours that are UPDATE OF one of them fire, and the index entries of
	 * a non-HOT update are hinted as the executor would for that UPDATE.
	 */
	exec_rt_fetch(rri->ri_RangeTableIndex, estate)->updatedCols =
		lm_lead_computed_cols(RelationGetDescr(rel));
	EvalPlanQualInit(&epq, estate, NULL, NIL, -1);
	oldslot = table_slot_create(rel, &estate->es_tupleTable);
	newslot = table_slot_create(rel, &estate->es_tupleTable);
	idx = index_open(RelationGetPrimaryKeyIndex(rel), RowExclusiveLock);
	scan = index_beginscan(rel, idx, snap, 1, 0);

	AfterTriggerBeginQuery();
	if (!own_triggers)
	{
		/* a trigger of yours with a transition table gets the rows */
		transitions = MakeTransitionCaptureState(rel->trigdesc, RelationGetRelid(rel), CMD_UPDATE);
		ExecBSUpdateTriggers(estate, rri);
	}
	for (int i = 0; i < n; i++)
	{
		bool		skip = false;
		bool		update_indexes;
		List	   *recheck = NIL;

		CHECK_FOR_INTERRUPTS();
		ResetPerTupleExprContext(estate);
		if (!lock_lead(rel, scan, snap, estate->es_output_cid, ids[i], oldslot))
			continue;

		ExecCopySlot(newslot, oldslot);
		if (own_triggers)
			skip = !call_lead_row_trigger(estate, rri, before_row, oldslot, newslot);
		else if (rri->ri_TrigDesc && rri->ri_TrigDesc->trig_update_before_row &&
				 !ExecBRUpdateTriggers(estate, &epq, rri, &oldslot->tts_tid, NULL, newslot, &tmfd))
			skip = true;
		if (skip)
			continue;

		if (rel->rd_att->constr && rel->rd_att->constr->has_generated_stored)
			ExecComputeStoredGenerated(rri, estate, newslot, CMD_UPDATE);
		if (rel->rd_att->constr)
			direct_check_constraints(rri, newslot, estate);
		simple_table_tuple_update(rel, &oldslot->tts_tid, newslot, snap, &update_indexes);
		if (update_indexes && rel->rd_rel->relhasindex)
		{
			if (rri->ri_IndexRelationDescs == NULL)
				ExecOpenIndices(rri, false);
			recheck = ExecInsertIndexTuples(rri, newslot, estate, true, false, NULL, NIL);
		}

		/*
		 * The AFTER ROW triggers' OLD is the version updated (tid of
		 * oldslot): foreign keys' checks compare it with the new one.
		 */
		ExecARUpdateTriggers(estate, rri, NULL, NULL, &oldslot->tts_tid, NULL, newslot,
							 recheck, transitions, false);
		list_free(recheck);
		processed++;
	}
	index_endscan(scan);
	index_close(idx, NoLock);
	if (!own_triggers)
		ExecASUpdateTriggers(estate, rri, transitions);
	AfterTriggerEndQuery(estate);
	/* lead_mgmt's statement trigger, after foreign keys' row triggers */
	if (own_triggers)
		lm_history_flush();

	EvalPlanQualEnd(&epq);
	direct_estate_end(estate, rri);
	table_close(rel, NoLock);
	PopActiveSnapshot();
	*updated = processed;
	return true;
}


/*
 * Whether a statement writing rel is a plain table's write: no rule or row
 * security applies.
 */
static bool
direct_write_ok(Relation rel)
{
	return rel->rd_rel->relkind == RELKIND_RELATION && rel->rd_rules == NULL &&
		!(rel->rd_rel->relrowsecurity &&
		  check_enable_rls(RelationGetRelid(rel), InvalidOid, true) == RLS_ENABLED);
}

/*
 * Whether "DELETE FROM rel WHERE ..." would do anything beyond deleting the
 * rows: fire a trigger, apply a rule or row security.
 */
static bool
direct_delete_ok(Relation rel)
{
	return direct_write_ok(rel) && rel->trigdesc == NULL;
}

/*
 * Whether "INSERT INTO rel (cols) VALUES (...)" would do anything beyond
 * inserting the row and its index entries, checking its constraints and
 * firing its row triggers (foreign keys' checks among them): fire a
 * statement trigger or one with a transition table, apply a rule or row
 * security, coerce a value to its column's type, or compute a column that
 * is not given and not a bigint identity column.
 */
static bool
direct_insert_ok(Relation rel, int ncols, const char *const *cols, const Oid *types)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TriggerDesc *td = rel->trigdesc;

	if (!direct_write_ok(rel))
		return false;
	if (td != NULL && (td->trig_insert_instead_row || td->trig_insert_before_statement ||
					   td->trig_insert_after_statement || td->trig_insert_new_table))
		return false;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		given = false;

		if (att->attisdropped)
			continue;
		if (att->attgenerated)
			return false;
		for (int c = 0; c < ncols && !given; c++)
		{
			given = strcmp(NameStr(att->attname), cols[c]) == 0;
			/* a value of another type (a domain, a typmod) needs coercing */
			if (given && (att->atttypid != types[c] || att->atttypmod != -1))
				return false;
		}
		if (!given && !(att->attidentity && att->atttypid == INT8OID))
			return false;
	}
	return true;
}

/* Whether the row of relid whose primary key is key is visible now. */
static bool
direct_row_exists(Oid relid, int64 key)
{
	Relation	rel = table_open(relid, AccessShareLock);
	Relation	idx = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	IndexScanDesc scan;
	ScanKeyData skey;
	bool		found;

	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(key));
	scan = index_beginscan(rel, idx, GetActiveSnapshot(), 1, 0);
	index_rescan(scan, &skey, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, NoLock);
	table_close(rel, NoLock);
	return found;
}

/*
 * Inserts one row the way
 *   INSERT INTO rel (cols) SELECT values (of the given types)
 *    WHERE EXISTS (row of each probe) [ON CONFLICT DO NOTHING]
 * does, without planning and running that statement; identity columns not
 * among cols take their next value.  skip_conflicts inserts speculatively,
 * as ON CONFLICT DO NOTHING does (waiting for a concurrent insert of the
 * same key and skipping the row if that commits).  The table's row
 * triggers fire through the trigger manager, as for the statement: BEFORE
 * ROW ones may change the row or skip it, AFTER ROW ones (foreign keys'
 * checks) run when the insert is done, before this returns.
 *
 * Returns LM_DIRECT_UNSUPPORTED, having done nothing, when the statement
 * would do more than this (see direct_insert_ok), or when skip_conflicts
 * is asked at REPEATABLE READ or above, where ON CONFLICT also checks the
 * conflicting row against the transaction snapshot.
 */
LmDirectResult
lm_direct_insert(Oid relid, int ncols, const char *const *cols, const Oid *types,
				 const Datum *values, const bool *nulls,
				 const LmDirectProbe *probes, int nprobes, bool skip_conflicts)
{
	Relation	rel;
	TupleDesc	desc;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	List	   *recheck = NIL;
	bool		triggers;
	LmDirectResult result = LM_DIRECT_DONE;

	if (skip_conflicts && IsolationUsesXactSnapshot())
		return LM_DIRECT_UNSUPPORTED;

	rel = table_open(relid, RowExclusiveLock);
	if (!direct_insert_ok(rel, ncols, cols, types))
	{
		table_close(rel, NoLock);
		return LM_DIRECT_UNSUPPORTED;
	}

	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	for (int i = 0; i < nprobes; i++)
		if (!direct_row_exists(probes[i].relid, probes[i].key))
		{
			PopActiveSnapshot();
			table_close(rel, NoLock);
			return LM_DIRECT_SKIPPED;
		}

	CheckCmdReplicaIdentity(rel, CMD_INSERT);
	estate = direct_estate(rel, &rri);
	triggers = rri->ri_TrigDesc != NULL;
	desc = RelationGetDescr(rel);
	slot = table_slot_create(rel, &estate->es_tupleTable);
	ExecClearTuple(slot);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		int			c;

		slot->tts_values[i] = (Datum) 0;
		slot->tts_isnull[i] = true;
		if (att->attisdropped)
			continue;
		for (c = 0; c < ncols; c++)
			if (strcmp(NameStr(att->attname), cols[c]) == 0)
				break;
		if (c < ncols)
		{
			slot->tts_values[i] = values[c];
			slot->tts_isnull[i] = nulls[c];
		}
		else
		{
			slot->tts_values[i] = Int64GetDatum(nextval_internal(identity_seq(relid, att->attnum),
																 false));
			slot->tts_isnull[i] = false;
		}
	}
	ExecStoreVirtualTuple(slot);

	if (triggers)
		AfterTriggerBeginQuery();
	if (triggers && rri->ri_TrigDesc->trig_insert_before_row &&
		!ExecBRInsertTriggers(estate, rri, slot))
	{
		/* a trigger skipped the row */
		AfterTriggerEndQuery(estate);
		direct_estate_end(estate, rri);
		table_close(rel, NoLock);
		PopActiveSnapshot();
		return LM_DIRECT_SKIPPED;
	}
	if (rel->rd_att->constr)
		direct_check_constraints(rri, slot, estate);

	if (rel->rd_rel->relhasindex)
		ExecOpenIndices(rri, skip_conflicts);
	if (skip_conflicts && rri->ri_NumIndices > 0)
	{
		for (;;)
		{
			ItemPointerData conflict;
			uint32		token;
			bool		spec_conflict = false;

			/* waits for an in-progress insert of the same key */
			if (!ExecCheckIndexConstraints(rri, slot, estate, &conflict, NIL))
			{
				result = LM_DIRECT_SKIPPED;
				break;
			}
			token = SpeculativeInsertionLockAcquire(GetCurrentTransactionId());
			table_tuple_insert_speculative(rel, slot, estate->es_output_cid, 0, NULL, token);
			recheck = ExecInsertIndexTuples(rri, slot, estate, false, true, &spec_conflict, NIL);
			table_tuple_complete_speculative(rel, slot, token, !spec_conflict);
			SpeculativeInsertionLockRelease(GetCurrentTransactionId());
			if (!spec_conflict)
				break;
			/* lost a race with a concurrent insert: check again */
			list_free(recheck);
			recheck = NIL;
		}
	}
	else
	{
		table_tuple_insert(rel, slot, estate->es_output_cid, 0, NULL);
		if (rri->ri_NumIndices > 0)
			recheck = ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL);
	}
	if (triggers && result == LM_DIRECT_DONE)
		ExecARInsertTriggers(estate, rri, slot, recheck, NULL);
	list_free(recheck);
	if (triggers)
		AfterTriggerEndQuery(estate);

	direct_estate_end(estate, rri);
	table_close(rel, NoLock);
	PopActiveSnapshot();
	return result;
}

/*
 * Deletes the row of relid whose primary key (of nkeys bigint columns)
 * equals keys, the way "DELETE FROM rel WHERE pk = keys" does, without
 * planning and running that statement.  A row already deleted by a
 * committed concurrent transaction is gone, as for the statement.
 *
 * Returns LM_DIRECT_UNSUPPORTED, having deleted nothing, when the statement
 * would do more (triggers, rules, row security that applies), when the
 * primary key is not nkeys bigint columns, or when the row was updated
 * concurrently (the statement re-checks the new version); otherwise
 * LM_DIRECT_DONE if a row was deleted, LM_DIRECT_SKIPPED if none was
 * there.
 */
LmDirectResult
lm_direct_delete(Oid relid, int nkeys, const int64 *keys)
{
	Relation	rel;
	Relation	idx;
	IndexScanDesc scan;
	ScanKeyData skey[INDEX_MAX_KEYS];
	TupleTableSlot *slot;
	Snapshot	snap;
	LmDirectResult result = LM_DIRECT_SKIPPED;

	rel = table_open(relid, RowExclusiveLock);
	if (!direct_delete_ok(rel))
	{
		table_close(rel, NoLock);
		return LM_DIRECT_UNSUPPORTED;
	}
	idx = index_open(RelationGetPrimaryKeyIndex(rel), RowExclusiveLock);
	if (nkeys > INDEX_MAX_KEYS || IndexRelationGetNumberOfKeyAttributes(idx) != nkeys)
	{
		index_close(idx, NoLock);
		table_close(rel, NoLock);
		return LM_DIRECT_UNSUPPORTED;
	}
	for (int i = 0; i < nkeys; i++)
		if (TupleDescAttr(RelationGetDescr(idx), i)->atttypid != INT8OID)
		{
			index_close(idx, NoLock);
			table_close(rel, NoLock);
			return LM_DIRECT_UNSUPPORTED;
		}

	CheckCmdReplicaIdentity(rel, CMD_DELETE);
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	snap = GetActiveSnapshot();
	for (int i = 0; i < nkeys; i++)
		ScanKeyInit(&skey[i], i + 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(keys[i]));
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idx, snap, nkeys, 0);
	index_rescan(scan, skey, nkeys, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		TM_FailureData tmfd;
		TM_Result	res = table_tuple_delete(rel, &slot->tts_tid, GetCurrentCommandId(true),
											 snap, InvalidSnapshot, true, &tmfd, false);

		if (res == TM_Ok)
			result = LM_DIRECT_DONE;
		else if (res == TM_Updated && !IsolationUsesXactSnapshot() && result == LM_DIRECT_SKIPPED)
		{
			result = LM_DIRECT_UNSUPPORTED;
			break;
		}
		else if (res == TM_Updated)
			serialization_failure(false);
		else if (res == TM_Deleted && IsolationUsesXactSnapshot())
			serialization_failure(true);
		/* deleted by a committed transaction, or by this command: gone */
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, NoLock);
	table_close(rel, NoLock);
	PopActiveSnapshot();
	return result;
}
