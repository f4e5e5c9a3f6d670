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
#include "utils/array.h"
#include "datatype/timestamp.h"

/* "no time" in timestamp fields we carry around (maps to SQL NULL) */
#define LM_NO_TIME DT_NOBEGIN

extern SPIPlanPtr lm_plan(SPIPlanPtr *cache, const char *sql, int nargs, Oid *argtypes);
extern Oid	lm_schema_oid(void);
extern Oid	lm_relid(const char *relname);
extern ArrayType *lm_int8_array(const int64 *values, int n);
extern ArrayType *lm_text_array(char **values, int n);
extern ArrayType *lm_timestamptz_array(const TimestampTz *values, int n);

#endif							/* LM_UTIL_H */
