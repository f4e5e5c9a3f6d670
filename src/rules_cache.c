/*-------------------------------------------------------------------------
 * rules_cache.c
 *	  Per-backend cache of the rules that scoring, stages and ingest need:
 *	  event types (with their category), active scoring rules, stages,
 *	  segments, sequences and assignment rules, the setting default_sla,
 *	  and the set of distinct event predicates whose counts every lead
 *	  carries.
 *
 * Rules:
 *	- The cache lives in its own memory context ("lead_mgmt rules cache")
 *	  under CacheMemoryContext and is rebuilt whole on invalidation; it
 *	  never grows with the data, only with the rules.
 *	- Invalidation: a relcache callback marks it stale when any table it is
 *	  built from (or lead_mgmt.leads itself) is invalidated.  Row changes do
 *	  not send relcache invalidations, so the configuration triggers call
 *	  lm_cache_invalidate_all_backends(), which queues one at commit.
 *	- A caller that keeps using a cache across code that may reload it (any
 *	  SPI call) pins it; a stale pinned cache is freed at the last unpin or
 *	  at transaction end.
 *	- Stored conditions are parsed leniently: an event type or stage deleted
 *	  after a condition was written must not break ingest.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "catalog/namespace.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "rules_cache.h"
#include "util.h"

#define LM_WATCHED_MAX 16

static LmCache *current_cache = NULL;
static List *orphans = NIL;		/* stale caches still pinned */
static Oid	watched[LM_WATCHED_MAX];
static int	n_watched = 0;
static bool callback_registered = false;

static const char *const watched_tables[] = {
	"engine_state", "event_types", "scoring_rules", "stages", "segments",
	"sequences", "assignment_rules", "leads", NULL
};

/* Relcache callback: any change to a table we are built from makes us stale. */
static void
lm_cache_relcache_cb(Datum arg, Oid relid)
{
	if (current_cache == NULL)
		return;
	if (!OidIsValid(relid))
	{
		current_cache->stale = true;
		return;
	}
	for (int i = 0; i < n_watched; i++)
		if (watched[i] == relid)
		{
			current_cache->stale = true;
			return;
		}
}

/* Registers the invalidation callback; called from _PG_init. */
void
lm_cache_init(void)
{
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(lm_cache_relcache_cb, (Datum) 0);
		callback_registered = true;
	}
}

/* Marks this backend's cache stale (after our own configuration writes). */
void
lm_cache_invalidate(void)
{
	if (current_cache != NULL)
		current_cache->stale = true;
}

/*
 * Queues a relcache invalidation of the rules tables, delivered to every
 * backend when the current transaction commits (and to this one at the next
 * command), and marks our own cache stale now.
 */
void
lm_cache_invalidate_all_backends(void)
{
	CacheInvalidateRelcacheByRelid(lm_relid("scoring_rules"));
	lm_cache_invalidate();
}

static void
free_cache(LmCache *cache)
{
	MemoryContextDelete(cache->cxt);
}

void
lm_cache_pin(LmCache *cache)
{
	cache->pins++;
}

/* Releases a pin; frees the cache if it was replaced while pinned. */
void
lm_cache_unpin(LmCache *cache)
{
	Assert(cache->pins > 0);
	cache->pins--;
	if (cache->pins == 0 && cache != current_cache && list_member_ptr(orphans, cache))
	{
		MemoryContext old = MemoryContextSwitchTo(CacheMemoryContext);

		orphans = list_delete_ptr(orphans, cache);
		MemoryContextSwitchTo(old);
		free_cache(cache);
	}
}

/* At transaction end no pin survives (an error may have skipped unpins). */
void
lm_cache_at_xact_end(void)
{
	ListCell   *lc;

	foreach(lc, orphans)
		free_cache((LmCache *) lfirst(lc));
	list_free(orphans);
	orphans = NIL;
	if (current_cache != NULL)
		current_cache->pins = 0;
}

/* catalog callbacks used while parsing stored conditions */
static bool
cache_type_exists(void *arg, const char *name)
{
	LmCache    *cache = (LmCache *) arg;

	return lm_cache_type(cache, name) != NULL;
}

static int32
cache_stage_rank(void *arg, const char *name)
{
	return lm_cache_stage_rank((LmCache *) arg, name);
}

static char *
spi_text(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static Jsonb *
spi_jsonb(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : DatumGetJsonbPCopy(d);
}

/* Returns (creating) the type entry for a name, in the cache's hash. */
static LmTypeEntry *
type_entry(LmCache *cache, const char *name)
{
	char		key[LM_TYPE_NAME_LEN];
	bool		found;
	LmTypeEntry *e;

	memset(key, 0, sizeof(key));
	strlcpy(key, name, sizeof(key));
	e = hash_search(cache->types, key, HASH_ENTER, &found);
	if (!found)
	{
		e->registered = false;
		e->sales_touch = false;
		e->npreds = 0;
		e->preds = NULL;
		e->nrules = 0;
		e->rules = NULL;
	}
	return e;
}

static void
append_int(int **arr, int *n, int value)
{
	if (*arr == NULL)
		*arr = palloc(sizeof(int) * 4);
	else if ((*n & (*n - 1)) == 0 && *n >= 4)
		*arr = repalloc(*arr, sizeof(int) * (*n) * 2);
	(*arr)[(*n)++] = value;
}

/*
 * Records what a segment condition depends on, so the row trigger
 * re-evaluates a segment only when one of those things changed.
 */
static void
collect_deps(const LmCond *c, LmSegment *seg)
{
	ListCell   *lc;

	switch (c->kind)
	{
		case LM_COND_ALL:
		case LM_COND_ANY:
			foreach(lc, c->args)
				collect_deps((const LmCond *) lfirst(lc), seg);
			break;
		case LM_COND_NOT:
			collect_deps(c->arg, seg);
			break;
		case LM_COND_EVENT:
			seg->dep_preds = bms_add_member(seg->dep_preds, c->pred);
			break;
		case LM_COND_FIELD:
			if (c->field_kind == LM_FIELD_AGE)
				seg->dep_age = true;
			else if (c->field_kind == LM_FIELD_STAGE)
				seg->dep_stage = true;
			else if (strcmp(c->field, "score") == 0 ||
					 strcmp(c->field, "engagement_score") == 0 ||
					 strcmp(c->field, "fit_score") == 0)
				seg->dep_score = true;
			else if (c->attnum > 0)
				seg->dep_cols = bms_add_member(seg->dep_cols, c->attnum);
			break;
	}
}

/*
 * Notes in cache->derive_tests_late_cols whether a scoring rule's or a
 * stage's condition tests a column that lead_mgmt sets only after it has
 * derived the scores and the stage: owner_id and assigned_at (decided by
 * the new stage) and stage_changed_at.  The row trigger then derives again
 * once those are written.
 */
static void
note_late_cols(LmCache *cache, const LmCond *cond)
{
	static const char *const late[] = {"owner_id", "assigned_at", "stage_changed_at"};
	LmSegment	deps;

	if (cond == NULL || cache->derive_tests_late_cols)
		return;
	memset(&deps, 0, sizeof(deps));
	collect_deps(cond, &deps);
	for (int i = 0; i < lengthof(late); i++)
	{
		for (int a = 0; a < cache->leads_desc->natts; a++)
		{
			Form_pg_attribute att = TupleDescAttr(cache->leads_desc, a);

			if (!att->attisdropped && strcmp(NameStr(att->attname), late[i]) == 0 &&
				bms_is_member(a + 1, deps.dep_cols))
				cache->derive_tests_late_cols = true;
		}
	}
	bms_free(deps.dep_cols);
	bms_free(deps.dep_preds);
}

/* Builds a new cache from the tables, in a fresh context. */
static LmCache *
load_cache(void)
{
	MemoryContext cxt;
	MemoryContext old;
	LmCache    *cache;
	HASHCTL		ctl;
	LmCondCatalog catalog;
	Relation	rel;
	uint64		i;
	int			ret;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "lead_mgmt rules cache",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	cache = palloc0(sizeof(LmCache));
	cache->cxt = cxt;
	lm_predset_init(&cache->preds, cxt);
	lm_predset_init(&cache->assign_preds, cxt);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = LM_TYPE_NAME_LEN;
	ctl.entrysize = sizeof(LmTypeEntry);
	ctl.hcxt = cxt;
	cache->types = hash_create("lead_mgmt event types", 64, &ctl,
							   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	rel = relation_open(lm_relid("leads"), AccessShareLock);
	cache->leads_desc = CreateTupleDescCopy(RelationGetDescr(rel));
	relation_close(rel, AccessShareLock);

	n_watched = 0;
	for (int w = 0; watched_tables[w] != NULL && n_watched < LM_WATCHED_MAX; w++)
		watched[n_watched++] = lm_relid(watched_tables[w]);
	MemoryContextSwitchTo(old);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");

	ret = SPI_execute("SELECT rules_version, rescore_pending FROM lead_mgmt.engine_state", false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: reading engine_state failed");
	if (SPI_processed == 1)
	{
		bool		isnull;

		cache->version = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		cache->rescore_pending = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}

	/* event types */
	ret = SPI_execute("SELECT name, category FROM lead_mgmt.event_types", false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: reading event_types failed");
	old = MemoryContextSwitchTo(cxt);
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *name = spi_text(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *category;
		LmTypeEntry *e;

		if (name == NULL || strlen(name) >= LM_TYPE_NAME_LEN)
			continue;
		e = type_entry(cache, name);
		e->registered = true;
		category = spi_text(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		e->sales_touch = category != NULL && strcmp(category, "sales_touch") == 0;
	}
	MemoryContextSwitchTo(old);

	/* stages, ascending rank; conditions parsed after all names are known */
	ret = SPI_execute("SELECT name, rank, min_score, condition, assign_on_entry "
					  "FROM lead_mgmt.stages ORDER BY rank", false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: reading stages failed");
	old = MemoryContextSwitchTo(cxt);
	cache->n_stages = (int) SPI_processed;
	cache->stages = palloc0(sizeof(LmStage) * Max(cache->n_stages, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		LmStage    *st = &cache->stages[i];
		bool		isnull;
		Datum		d;

		st->name = spi_text(tup, desc, 1);
		st->rank = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		d = SPI_getbinval(tup, desc, 3, &isnull);
		st->has_min_score = !isnull;
		st->min_score = isnull ? 0 : DatumGetInt32(d);
		st->assign_on_entry = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
	}
	catalog.leads_desc = cache->leads_desc;
	catalog.event_type_exists = cache_type_exists;
	catalog.stage_rank = cache_stage_rank;
	catalog.arg = cache;
	catalog.lenient = true;
	for (i = 0; i < SPI_processed; i++)
	{
		Jsonb	   *cond = spi_jsonb(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 4);

		if (cond != NULL)
		{
			cache->stages[i].cond = lm_cond_parse(cond, LM_CTX_STAGE, &catalog, &cache->preds);
			note_late_cols(cache, cache->stages[i].cond);
		}
	}
	MemoryContextSwitchTo(old);

	/* active scoring rules */
	ret = SPI_execute("SELECT id, name, event_type, properties, condition, points, "
					  "max_occurrences, within FROM lead_mgmt.scoring_rules "
					  "WHERE active ORDER BY id", false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: reading scoring_rules failed");
	old = MemoryContextSwitchTo(cxt);
	cache->event_rules = palloc0(sizeof(LmEventRule) * Max(SPI_processed, 1));
	cache->cond_rules = palloc0(sizeof(LmCondRule) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;
		int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		char	   *name = spi_text(tup, desc, 2);
		char	   *etype = spi_text(tup, desc, 3);
		int32		points = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));

		if (etype != NULL)
		{
			LmEventRule *r = &cache->event_rules[cache->n_event_rules++];
			Interval   *within = NULL;

			r->id = id;
			r->name = name;
			r->event_type = etype;
			r->properties = spi_jsonb(tup, desc, 4);
			r->points = points;
			d = SPI_getbinval(tup, desc, 7, &isnull);
			r->max_occurrences = isnull ? -1 : DatumGetInt32(d);
			d = SPI_getbinval(tup, desc, 8, &isnull);
			if (!isnull)
			{
				within = palloc(sizeof(Interval));
				memcpy(within, DatumGetIntervalP(d), sizeof(Interval));
			}
			r->pred = lm_predset_intern(&cache->preds, etype, r->properties, within);
		}
		else
		{
			Jsonb	   *cond = spi_jsonb(tup, desc, 5);
			LmCondRule *r;

			if (cond == NULL)
				continue;		/* refused by validation; be safe */
			r = &cache->cond_rules[cache->n_cond_rules++];
			r->id = id;
			r->name = name;
			r->points = points;
			r->cond = lm_cond_parse(cond, LM_CTX_SCORING_RULE, &catalog, &cache->preds);
			r->engagement = lm_cond_uses_events(r->cond);
			note_late_cols(cache, r->cond);
		}
	}

	/* active segments */
	ret = SPI_execute("SELECT id, name, condition FROM lead_mgmt.segments "
					  "WHERE active ORDER BY id", false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: reading segments failed");
	MemoryContextSwitchTo(cxt);	/* SPI_execute returns in SPI's context */
	cache->n_segments = 0;
	cache->segments = palloc0(sizeof(LmSegment) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Jsonb	   *cond = spi_jsonb(tup, desc, 3);
		LmSegment  *seg;

		if (cond == NULL)
			continue;
		seg = &cache->segments[cache->n_segments++];
		seg->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		seg->name = spi_text(tup, desc, 2);
		seg->cond = lm_cond_parse(cond, LM_CTX_SEGMENT, &catalog, &cache->preds);
		collect_deps(seg->cond, seg);
		cache->cond_dep_cols = bms_union(cache->cond_dep_cols, seg->dep_cols);
	}

	/* active nurture sequences */
	cache->unsubscribe_pred = -1;
	ret = SPI_execute("SELECT id, enroll_condition, exit_condition FROM lead_mgmt.sequences "
					  "WHERE active ORDER BY id", false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: reading sequences failed");
	MemoryContextSwitchTo(cxt);
	cache->sequences = palloc0(sizeof(LmSequence) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Jsonb	   *enroll = spi_jsonb(tup, desc, 2);
		Jsonb	   *exitc = spi_jsonb(tup, desc, 3);
		LmSequence *sq;

		if (enroll == NULL)
			continue;
		sq = &cache->sequences[cache->n_sequences++];
		sq->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		sq->enroll.id = sq->id;
		sq->enroll.cond = lm_cond_parse(enroll, LM_CTX_SEQUENCE, &catalog, &cache->preds);
		collect_deps(sq->enroll.cond, &sq->enroll);
		cache->cond_dep_cols = bms_union(cache->cond_dep_cols, sq->enroll.dep_cols);
		sq->has_exit = exitc != NULL;
		if (exitc != NULL)
		{
			sq->exit.id = sq->id;
			sq->exit.cond = lm_cond_parse(exitc, LM_CTX_SEQUENCE, &catalog, &cache->preds);
			collect_deps(sq->exit.cond, &sq->exit);
			cache->cond_dep_cols = bms_union(cache->cond_dep_cols, sq->exit.dep_cols);
		}
	}
	if (cache->n_sequences > 0)
		cache->unsubscribe_pred = lm_predset_intern(&cache->preds, "email_unsubscribed", NULL, NULL);

	/* active assignment rules, by priority; relation may not exist in old installs */
	if (OidIsValid(get_relname_relid("assignment_rules", lm_schema_oid())))
	{
		ret = SPI_execute("SELECT id, name, priority, condition, method, rep_ids, match_region, "
						  "match_industry, min_seniority, sla FROM lead_mgmt.assignment_rules "
						  "WHERE active ORDER BY priority, id", false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "lead_mgmt: reading assignment_rules failed");
		MemoryContextSwitchTo(cxt);
		cache->assign_rules = palloc0(sizeof(LmAssignRule) * Max(SPI_processed, 1));
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			LmAssignRule *r = &cache->assign_rules[cache->n_assign_rules++];
			bool		isnull;
			Datum		d;
			Jsonb	   *cond = spi_jsonb(tup, desc, 4);
			char	   *sen;

			r->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			r->name = spi_text(tup, desc, 2);
			r->priority = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
			r->cond = cond ? lm_cond_parse(cond, LM_CTX_ASSIGNMENT, &catalog, &cache->assign_preds) : NULL;
			r->method = spi_text(tup, desc, 5);
			d = SPI_getbinval(tup, desc, 6, &isnull);
			r->has_rep_ids = !isnull;
			r->rep_ids = isnull ? NULL : DatumGetArrayTypePCopy(d);
			r->match_region = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull));
			r->match_industry = DatumGetBool(SPI_getbinval(tup, desc, 8, &isnull));
			sen = spi_text(tup, desc, 9);
			r->min_seniority = sen == NULL ? -1 :
				strcmp(sen, "junior") == 0 ? 0 : strcmp(sen, "senior") == 0 ? 1 : 2;
			d = SPI_getbinval(tup, desc, 10, &isnull);
			r->has_sla = !isnull;
			if (!isnull)
				memcpy(&r->sla, DatumGetIntervalP(d), sizeof(Interval));
		}
	}

	/*
	 * The setting default_sla, for the SLA of assignments by rules without
	 * one of their own (a change to settings invalidates this cache).
	 */
	ret = SPI_execute("SELECT value::pg_catalog.interval FROM lead_mgmt.settings "
					  "WHERE name OPERATOR(pg_catalog.=) 'default_sla'", false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "lead_mgmt: reading the setting default_sla failed");
	MemoryContextSwitchTo(cxt);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		cache->has_default_sla = !isnull;
		if (!isnull)
			memcpy(&cache->default_sla, DatumGetIntervalP(d), sizeof(Interval));
	}

	/* index predicates and event rules by event type */
	for (int p = 0; p < cache->preds.n; p++)
	{
		const char *t = cache->preds.items[p].event_type;

		if (strlen(t) < LM_TYPE_NAME_LEN)
		{
			LmTypeEntry *e = type_entry(cache, t);

			append_int(&e->preds, &e->npreds, p);
		}
	}
	for (int r = 0; r < cache->n_event_rules; r++)
	{
		const char *t = cache->event_rules[r].event_type;

		if (strlen(t) < LM_TYPE_NAME_LEN)
		{
			LmTypeEntry *e = type_entry(cache, t);

			append_int(&e->rules, &e->nrules, r);
		}
	}
	MemoryContextSwitchTo(old);

	SPI_finish();

	MemoryContextSetParent(cxt, CacheMemoryContext);
	return cache;
}

/*
 * Returns the current cache, loading it if there is none or it went stale.
 * Processes pending invalidations first so a rule change committed by
 * another backend is seen by the next statement.
 */
LmCache *
lm_cache_get(void)
{
	LmCache    *fresh;

	if (current_cache != NULL && !current_cache->stale)
		return current_cache;

	fresh = load_cache();
	if (current_cache != NULL)
	{
		if (current_cache->pins > 0)
		{
			/* the list outlives any statement: keep it with the caches */
			MemoryContext old = MemoryContextSwitchTo(CacheMemoryContext);

			orphans = lappend(orphans, current_cache);
			MemoryContextSwitchTo(old);
		}
		else
			free_cache(current_cache);
	}
	current_cache = fresh;
	return current_cache;
}

/* The entry of a registered (or rule-referenced) event type, or NULL. */
LmTypeEntry *
lm_cache_type(LmCache *cache, const char *event_type)
{
	char		key[LM_TYPE_NAME_LEN];

	if (strlen(event_type) >= LM_TYPE_NAME_LEN)
		return NULL;
	memset(key, 0, sizeof(key));
	strlcpy(key, event_type, sizeof(key));
	return hash_search(cache->types, key, HASH_FIND, NULL);
}

/* The stage of that name, or NULL. */
const LmStage *
lm_cache_stage(LmCache *cache, const char *name)
{
	for (int i = 0; i < cache->n_stages; i++)
		if (strcmp(cache->stages[i].name, name) == 0)
			return &cache->stages[i];
	return NULL;
}

/* Rank of the named stage, or -1. */
int32
lm_cache_stage_rank(LmCache *cache, const char *name)
{
	const LmStage *st = lm_cache_stage(cache, name);

	return st ? st->rank : -1;
}

/*
 * Whether a lead in this stage is a customer by its stage: the stage named
 * customer or one ranked above it (set_stage can put a lead there without
 * a purchase).  A lead with a purchase (converted_at) is a customer
 * whatever its stage.  No stage named customer: none is.
 */
bool
lm_cache_customer_stage(LmCache *cache, const char *stage)
{
	int32		customer = lm_cache_stage_rank(cache, "customer");

	return customer >= 0 && stage != NULL && lm_cache_stage_rank(cache, stage) >= customer;
}

/* The stages lm_cache_customer_stage() holds for, as a text[]. */
ArrayType *
lm_cache_customer_stages(LmCache *cache)
{
	int32		customer = lm_cache_stage_rank(cache, "customer");
	Datum	   *d = palloc(sizeof(Datum) * Max(cache->n_stages, 1));
	int			n = 0;

	for (int i = 0; i < cache->n_stages; i++)
		if (customer >= 0 && cache->stages[i].rank >= customer)
			d[n++] = CStringGetTextDatum(cache->stages[i].name);
	return construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT);
}
