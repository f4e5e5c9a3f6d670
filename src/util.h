/*-------------------------------------------------------------------------
 * util.h
 *	  Small shared helpers: kept SPI plans, catalog lookups of the
 *	  extension's own objects, array construction.
 *-------------------------------------------------------------------------
 */
#ifndef LM_UTIL_H
#define LM_UTIL_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/array.h"
#include "datatype/timestamp.h"

/* "no time" in timestamp fields we carry around (maps to SQL NULL) */
#define LM_NO_TIME DT_NOBEGIN

/*
 * Items queued for the statement trigger on leads start with the
 * subtransaction that queued them, so one helper can drop those of an
 * aborted subtransaction.
 */
typedef struct LmQueuedItem
{
	SubTransactionId subid;
} LmQueuedItem;

extern List *lm_drop_aborted(List *items, SubTransactionId aborted);
extern List *lm_take_current(List **items);
extern void lm_require_arg(FunctionCallInfo fcinfo, int argno, const char *name, const char *hint);
extern SPIPlanPtr lm_plan(SPIPlanPtr *cache, const char *sql, int nargs, Oid *argtypes);
extern void lm_util_init(void);
extern int	lm_jit_off(void);
extern void lm_jit_restore(int level);
extern Oid	lm_schema_oid(void);
extern Oid	lm_relid(const char *relname);
extern Oid	lm_relid_if_exists(const char *relname);
extern Oid	lm_lock_leads_for_write(void);
extern ArrayType *lm_int8_array(const int64 *values, int n);
extern ArrayType *lm_bool_array(const bool *values, int n);
extern ArrayType *lm_text_array(char **values, int n);
extern ArrayType *lm_timestamptz_array(const TimestampTz *values, int n);
extern int	lm_cmp_int64(const void *a, const void *b);
extern int	lm_sort_unique_int64(int64 *ids, int n);
extern bool lm_text_is_blank(Datum d);
extern bool lm_attr_unchanged(TupleDesc desc, HeapTuple oldtup, AttrNumber att,
							  Datum value, bool isnull);

/*
 * The position of key in ids[0..n-1] (ascending), or -1.  Inline: it runs
 * per segment for every event.
 */
static inline int
lm_int64_find(const int64 *ids, int n, int64 key)
{
	int			lo = 0;
	int			hi = n - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (ids[mid] == key)
			return mid;
		if (ids[mid] < key)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

#endif							/* LM_UTIL_H */
