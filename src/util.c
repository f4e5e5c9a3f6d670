/*-------------------------------------------------------------------------
 * util.c
 *	  Shared helpers.  Kept SPI plans live for the backend's lifetime (the
 *	  plan cache re-plans them after DDL); the OIDs of the extension's
 *	  relations are kept by name until a relcache invalidation of one of
 *	  them (or of all); everything else allocates in the caller's memory
 *	  context.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "storage/lmgr.h"
#include "catalog/pg_type.h"
#include "jit/jit.h"
#include "nodes/parsenodes.h"
#include "utils/guc.h"
#include "parser/scansup.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "util.h"

/*
 * Returns the plan for sql, preparing and keeping it on first use.  Must be
 * called inside SPI_connect.  Plans are generic: our statements are short
 * and their parameters (arrays of ids) say nothing the planner could use,
 * so a custom plan per execution would only cost planning time.
 */
SPIPlanPtr
lm_plan(SPIPlanPtr *cache, const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan;

	if (*cache != NULL)
		return *cache;
	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "lead_mgmt: SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "lead_mgmt: SPI_keepplan failed");
	*cache = plan;
	return plan;
}

/*
 * Turns JIT off until lm_jit_restore(), for a statement lead_mgmt runs once
 * per lead.  A generic plan is costed for every branch, also those its
 * parameters never take, and its estimate grows with the tables: the
 * statement that read a rule's pool, counting each rep's open leads in a
 * branch taken only under a capacity, passed jit_above_cost at ~100k
 * leads, and each execution, a fraction of a millisecond of work, then
 * compiled code for 15-20 ms.  Returns the GUC nest
 * level for lm_jit_restore() (0: JIT was off, nothing changed).  An error
 * in between restores the setting with the (sub)transaction's abort.
 */
int
lm_jit_off(void)
{
	int			level;

	if (!jit_enabled)
		return 0;
	level = NewGUCNestLevel();
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

/* Restores what lm_jit_off() changed. */
void
lm_jit_restore(int level)
{
	if (level > 0)
		AtEOXact_GUC(true, level);
}

/*
 * The items of a queue (TopTransactionContext) that survive the abort of
 * subtransaction `aborted`: those queued before it.  InvalidSubTransactionId
 * (transaction end) drops them all.
 */
List *
lm_drop_aborted(List *items, SubTransactionId aborted)
{
	List	   *keep = NIL;
	ListCell   *lc;
	MemoryContext old;

	if (aborted == InvalidSubTransactionId)
		return NIL;
	old = MemoryContextSwitchTo(TopTransactionContext);
	foreach(lc, items)
	{
		LmQueuedItem *it = lfirst(lc);

		if (it->subid < aborted)
			keep = lappend(keep, it);
	}
	MemoryContextSwitchTo(old);
	return keep;
}

/*
 * Takes from a queue the items a statement's flush writes: those queued in
 * the current subtransaction or in subtransactions under it (released into
 * it).  Items of an enclosing subtransaction stay queued: they belong to a
 * statement still running around this one (a trigger of yours on leads
 * that records events inside an exception block), which writes them at its
 * own end; written here, they would be lost when the exception block rolls
 * back.
 */
List *
lm_take_current(List **items)
{
	SubTransactionId cur = GetCurrentSubTransactionId();
	List	   *take = NIL;
	List	   *keep = NIL;
	ListCell   *lc;
	MemoryContext old;

	foreach(lc, *items)
	{
		LmQueuedItem *it = lfirst(lc);

		if (it->subid < cur)
			break;
	}
	if (lc == NULL)
	{
		/* the usual case: all of them */
		take = *items;
		*items = NIL;
		return take;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	foreach(lc, *items)
	{
		LmQueuedItem *it = lfirst(lc);

		if (it->subid < cur)
			keep = lappend(keep, it);
		else
			take = lappend(take, it);
	}
	MemoryContextSwitchTo(old);
	*items = keep;
	return take;
}

/* Errors clearly when a required argument is NULL. */
void
lm_require_arg(FunctionCallInfo fcinfo, int argno, const char *name, const char *hint)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name),
				 errhint("%s", hint)));
}

/* OID of the lead_mgmt schema; a clear error if the extension is missing. */
Oid
lm_schema_oid(void)
{
	Oid			nsp = get_namespace_oid("lead_mgmt", true);

	if (!OidIsValid(nsp))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_SCHEMA),
				 errmsg("schema \"lead_mgmt\" does not exist"),
				 errhint("Run CREATE EXTENSION lead_mgmt in this database.")));
	return nsp;
}

/*
 * The extension's relations found by name (a few per event, each two
 * catalog cache lookups otherwise).  Only relations that exist are kept;
 * dropping or renaming one invalidates its relcache entry, which empties
 * this list.
 */
#define LM_RELID_SLOTS 16
typedef struct LmRelidSlot
{
	char		name[NAMEDATALEN];
	Oid			relid;
} LmRelidSlot;

static LmRelidSlot relid_slots[LM_RELID_SLOTS];
static int	n_relid_slots = 0;

/* Forgets the relations found by name when one of them (or all) changes. */
static void
relid_relcache_cb(Datum arg, Oid relid)
{
	for (int i = 0; i < n_relid_slots; i++)
		if (!OidIsValid(relid) || relid_slots[i].relid == relid)
		{
			n_relid_slots = 0;
			return;
		}
}

/* Registers the invalidation callback; called from _PG_init. */
void
lm_util_init(void)
{
	CacheRegisterRelcacheCallback(relid_relcache_cb, (Datum) 0);
}

/*
 * OID of a relation of the extension's schema, or InvalidOid if it has
 * none by that name: for relations newer than the oldest install script
 * this library serves (a database stays at its version until ALTER
 * EXTENSION UPDATE).
 */
Oid
lm_relid_if_exists(const char *relname)
{
	Oid			relid;

	for (int i = 0; i < n_relid_slots; i++)
		if (strcmp(relid_slots[i].name, relname) == 0)
			return relid_slots[i].relid;
	relid = get_relname_relid(relname, lm_schema_oid());
	if (OidIsValid(relid) && n_relid_slots < LM_RELID_SLOTS && strlen(relname) < NAMEDATALEN)
	{
		strlcpy(relid_slots[n_relid_slots].name, relname, NAMEDATALEN);
		relid_slots[n_relid_slots].relid = relid;
		n_relid_slots++;
	}
	return relid;
}

/* OID of a relation of the extension's schema; a clear error if it is missing. */
Oid
lm_relid(const char *relname)
{
	Oid			relid = lm_relid_if_exists(relname);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"lead_mgmt.%s\" does not exist", relname),
				 errhint("Reinstall the extension with DROP EXTENSION lead_mgmt; CREATE EXTENSION lead_mgmt.")));
	return relid;
}

/*
 * Takes ROW EXCLUSIVE on leads before rows are locked FOR UPDATE: the row
 * locks only need ROW SHARE, and a rule change (SHARE ROW EXCLUSIVE) could
 * slip in between and wait for our rows while we wait for the table.
 * Returns the OID of leads.
 */
Oid
lm_lock_leads_for_write(void)
{
	Oid			relid = lm_relid("leads");

	LockRelationOid(relid, RowExclusiveLock);
	return relid;
}

/* A one-dimensional bigint[] of n values. */
ArrayType *
lm_int8_array(const int64 *values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(values[i]);
	return construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/* A one-dimensional boolean[] of n values. */
ArrayType *
lm_bool_array(const bool *values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = BoolGetDatum(values[i]);
	return construct_array(d, n, BOOLOID, 1, true, TYPALIGN_CHAR);
}

/* A one-dimensional text[] of n values; NULL pointers become NULL elements. */
ArrayType *
lm_text_array(char **values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		nulls[i] = (values[i] == NULL);
		d[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum(values[i]);
	}
	if (n == 0)
		return construct_empty_array(TEXTOID);
	return construct_md_array(d, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT);
}

/* A one-dimensional timestamptz[] of n values; LM_NO_TIME becomes NULL. */
ArrayType *
lm_timestamptz_array(const TimestampTz *values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		nulls[i] = (values[i] == LM_NO_TIME);
		d[i] = TimestampTzGetDatum(values[i]);
	}
	if (n == 0)
		return construct_empty_array(TIMESTAMPTZOID);
	return construct_md_array(d, nulls, 1, dims, lbs, TIMESTAMPTZOID, 8,
							  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/* qsort comparator of int64 values, ascending. */
int
lm_cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/* Sorts ids ascending and drops repeats in place; returns how many remain. */
int
lm_sort_unique_int64(int64 *ids, int n)
{
	int			nu = 0;

	if (n > 1)
		qsort(ids, n, sizeof(int64), lm_cmp_int64);
	for (int i = 0; i < n; i++)
		if (nu == 0 || ids[nu - 1] != ids[i])
			ids[nu++] = ids[i];
	return nu;
}

/*
 * Whether a text datum is empty or white space only: such a value of a key
 * (external_id, dedupe_key) would match every other blank one, so the
 * callers refuse it.  Cheap for real keys: it stops at the first character
 * that is not white space.
 */
bool
lm_text_is_blank(Datum d)
{
	text	   *t = DatumGetTextPP(d);
	const char *p = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);

	for (int i = 0; i < len; i++)
		if (!scanner_isspace(p[i]))
			return false;
	return true;
}

/*
 * Whether column att keeps its value in an update or insert: oldtup's
 * value (NULL for an insert, whose old values count as NULL) is (value,
 * isnull), compared by image as the executor does for HOT.  Used to refuse
 * what an application changed but not what a row already had, and to tell
 * which columns lead_mgmt's own updates changed.
 */
bool
lm_attr_unchanged(TupleDesc desc, HeapTuple oldtup, AttrNumber att, Datum value, bool isnull)
{
	Form_pg_attribute a = TupleDescAttr(desc, att - 1);
	bool		oldnull = true;
	Datum		o = (Datum) 0;

	if (oldtup != NULL)
		o = heap_getattr(oldtup, att, desc, &oldnull);
	if (oldnull || isnull)
		return oldnull && isnull;
	return datum_image_eq(o, value, a->attbyval, a->attlen);
}
