/*-------------------------------------------------------------------------
 * condition.c
 *	  The condition language of lead_mgmt (DESIGN section 4): parsing with
 *	  complete validation, evaluation against one lead, the predicate sets
 *	  that event tests are interned into, and the SQL-callable validator
 *	  lead_mgmt.validate_condition().
 *
 * Rules of this file:
 *
 * - Memory: everything lm_cond_parse builds lives in the caller's
 *	 CurrentMemoryContext; interned predicates live in the predicate set's
 *	 own context.  lm_cond_eval allocates only scratch memory in
 *	 CurrentMemoryContext (callers evaluating many leads reset a short-lived
 *	 context between leads).
 * - No global state except the two SPI plans kept by the catalog lookups
 *	 used for validation.
 * - A malformed condition is a user error: it is reported with
 *	 ERRCODE_INVALID_PARAMETER_VALUE, a message "invalid condition at PATH:
 *	 ..." where PATH is jsonpath-like ("$", "$.all[1].op"), and a hint that
 *	 says what to write instead.  JSON types are always checked before use;
 *	 no input may crash the backend.  elog is used only for can't-happen.
 * - Evaluation is two-valued: a missing or NULL field makes every
 *	 comparison false, including "!=", "not_in" and "exists"; "not" inverts.
 *	 When the field is present, "!=" is exactly the negation of "=" and
 *	 "not_in" of "in" (so values that cannot be compared, such as a string
 *	 attribute against a number, are "!=").
 * - "age" is compared as instants: age OP V holds when now OP created_at +
 *	 V, where V is taken as a linear span (a month is 30 days, a day 24
 *	 hours: exactly interval_cmp's view of intervals, and independent of the
 *	 session time zone).  The evaluator records in next_change the earliest
 *	 instant after now at which any age term of the condition changes value,
 *	 whether or not evaluation short-circuited past it.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>

#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "regex/regex.h"
#include "storage/lockdefs.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/formatting.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "condition.h"

/* conditions may nest at most this many condition objects deep */
#define LM_COND_MAX_DEPTH 64

/* result of a comparison callback when the two values are incomparable */
#define CMP_NONE INT_MIN

/* the hint for anything that is not a condition object at all */
#define SHAPES_HINT \
	"A condition is an object of one of the forms {\"all\": [...]}, " \
	"{\"any\": [...]}, {\"not\": {...}}, {\"field\": F, \"op\": OP, \"value\": V} " \
	"or {\"event\": TYPE, \"within\": INTERVAL, \"min_count\": N, " \
	"\"max_count\": N, \"properties\": {...}}."

#define OPS_HINT \
	"Use one of the operators =, !=, <, <=, >, >=, in, not_in, contains, " \
	"exists, matches."

#define INTERVAL_HINT \
	"Write an interval such as \"30 days\", \"12 hours\" or \"1 year 6 months\"."

#define COUNT_HINT \
	"\"min_count\" and \"max_count\" are whole numbers of events from 0 to " \
	"2147483647, for example \"min_count\": 3."

/* the five shapes of a condition object, and the keys each takes */
typedef enum LmShape
{
	SHAPE_ALL,
	SHAPE_ANY,
	SHAPE_NOT,
	SHAPE_FIELD,
	SHAPE_EVENT,
	SHAPE_COUNT
} LmShape;

static const char *const shape_key[SHAPE_COUNT] = {
	"all", "any", "not", "field", "event"
};

static const char *const shape_keys[SHAPE_COUNT][6] = {
	{"all", NULL},
	{"any", NULL},
	{"not", NULL},
	{"field", "op", "value", NULL},
	{"event", "within", "min_count", "max_count", "properties", NULL}
};

static const char *const shape_hint[SHAPE_COUNT] = {
	"An \"all\" condition has only the key \"all\", holding an array of conditions.",
	"An \"any\" condition has only the key \"any\", holding an array of conditions.",
	"A \"not\" condition has only the key \"not\", holding one condition.",
	"A field test has the keys \"field\", \"op\" and \"value\" (no \"value\" for \"exists\").",
	/* one hint in two literals */
	"An event test has the keys \"event\", \"within\", \"min_count\", \"max_count\" "	/* NOLINT(bugprone-suspicious-missing-comma) */
	"and \"properties\"; only \"event\" is required."
};

/* operator names, indexed by LmOp */
static const char *const op_names[] = {
	"=", "!=", "<", "<=", ">", ">=", "in", "not_in", "contains", "exists",
	"matches"
};

/* columns of leads that are lead_mgmt's bookkeeping, not lead data */
static const char *const internal_columns[] = {
	"event_counts", "recheck_at", "rules_version"
};

/* names of the contexts, indexed by LmCondContext */
static const char *const context_names[] = {
	"scoring_rule", "stage", "segment", "assignment_rule", "sequence"
};

/* the state of one lm_cond_parse call */
typedef struct LmParse
{
	LmCondContext ctx;
	const LmCondCatalog *catalog;
	LmPredicateSet *preds;
	StringInfoData path;		/* where we are, "$.all[1]" */
	int			depth;			/* condition objects entered */
	bool		reporting;		/* raising our own error: no context line */
} LmParse;

/* one key of a condition object */
typedef struct LmKey
{
	char	   *key;
	JsonbValue	val;
} LmKey;

static SPIPlanPtr event_type_plan = NULL;
static SPIPlanPtr stage_rank_plan = NULL;

static LmCond *parse_node(LmParse *ps, JsonbValue *v);
static bool eval_node(const LmCond *cond, LmLeadView *lead);


/* ----------------------------------------------------------------
 * Small helpers
 * ----------------------------------------------------------------
 */

/*
 * Raise the error for a malformed condition at the current path.  The
 * message is "invalid condition at PATH: DETAIL"; hint may be NULL.
 */
static void
parse_error(LmParse *ps, const char *hint, const char *fmt,...)
pg_attribute_printf(3, 4) pg_attribute_noreturn();

static void
parse_error(LmParse *ps, const char *hint, const char *fmt,...)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}

	ps->reporting = true;
	if (hint)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid condition at %s: %s", ps->path.data, buf.data),
				 errhint("%s", hint)));
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid condition at %s: %s", ps->path.data, buf.data)));
	pg_unreachable();
}

/*
 * Error context callback: errors raised by PostgreSQL itself while we parse
 * (a time zone name DecodeDateTime refuses, a failed catalog lookup) still
 * say which part of the condition they came from.
 */
static void
parse_error_context(void *arg)
{
	LmParse    *ps = (LmParse *) arg;

	if (!ps->reporting)
		errcontext("condition at %s", ps->path.data);
}

/* Append ".key" to the path; returns the length to pop back to. */
static int
path_push_key(LmParse *ps, const char *key)
{
	int			saved = ps->path.len;

	appendStringInfo(&ps->path, ".%s", key);
	return saved;
}

/* Append "[i]" to the path; returns the length to pop back to. */
static int
path_push_index(LmParse *ps, int i)
{
	int			saved = ps->path.len;

	appendStringInfo(&ps->path, "[%d]", i);
	return saved;
}

/* Restore the path saved by path_push_*. */
static void
path_pop(LmParse *ps, int saved)
{
	ps->path.len = saved;
	ps->path.data[saved] = '\0';
}

/*
 * Turn a JsonbValue that is a binary scalar container (the root of a raw
 * scalar jsonb) into the scalar itself, so callers only see jbvBinary for
 * real arrays and objects.
 */
static void
jv_normalize(JsonbValue *v)
{
	if (v->type == jbvBinary && JsonContainerIsScalar(v->val.binary.data))
	{
		JsonbValue	s;

		if (JsonbExtractScalar(v->val.binary.data, &s))
			*v = s;
	}
}

static bool
jv_is_object(const JsonbValue *v)
{
	return v->type == jbvObject ||
		(v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data));
}

static bool
jv_is_array(const JsonbValue *v)
{
	return v->type == jbvArray ||
		(v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data) &&
		 !JsonContainerIsScalar(v->val.binary.data));
}

/* "a string", "an object", ...: for "expected X, found Y" messages */
static const char *
jv_type_name(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvArray:
			return "an array";
		case jbvObject:
			return "an object";
		case jbvBinary:
			return JsonContainerIsObject(v->val.binary.data) ? "an object" : "an array";
		default:
			return "an unsupported value";
	}
}

/* a palloc'd, NUL-terminated copy of a jbvString */
static char *
jv_cstring(const JsonbValue *v)
{
	Assert(v->type == jbvString);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * A user-supplied string for an error message: at most 100 characters, so a
 * huge value does not flood the log.
 */
static const char *
excerpt(const char *s)
{
	int			len = strlen(s);
	int			clip;

	if (len <= 100)
		return s;
	clip = pg_mbcliplen(s, len, 100);
	return psprintf("%.*s...", clip, s);
}

/* lower-case with the database collation, as text comparisons do */
static char *
lower_text(const char *s, size_t len)
{
	return str_tolower(s, len, DEFAULT_COLLATION_OID);
}

static char *
numeric_to_cstring(Numeric n)
{
	return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(n)));
}

/*
 * Whether s[0..len) is a plain decimal number numeric_in accepts without
 * error: optional sign, digits with an optional point, an optional exponent
 * of at most 1000, surrounding spaces.  NaN and Infinity are not numbers
 * here.  Bounded so that numeric_in can never fail on what we accept.
 */
static bool
string_is_number(const char *s, int len)
{
	int			i = 0;
	int			digits = 0;

	while (i < len && isspace((unsigned char) s[i]))
		i++;
	if (i < len && (s[i] == '+' || s[i] == '-'))
		i++;
	while (i < len && isdigit((unsigned char) s[i]))
		i++, digits++;
	if (i < len && s[i] == '.')
	{
		i++;
		while (i < len && isdigit((unsigned char) s[i]))
			i++, digits++;
	}
	if (digits == 0 || digits > 1000)
		return false;
	if (i < len && (s[i] == 'e' || s[i] == 'E'))
	{
		int			exp = 0;
		int			expdigits = 0;

		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		while (i < len && isdigit((unsigned char) s[i]))
		{
			if (exp <= 1000)
				exp = exp * 10 + (s[i] - '0');
			i++, expdigits++;
		}
		if (expdigits == 0 || exp > 1000)
			return false;
	}
	while (i < len && isspace((unsigned char) s[i]))
		i++;
	return i == len;
}

/* Parse a string already checked by string_is_number. */
static Numeric
string_to_numeric(const char *s, int len)
{
	char	   *copy = pnstrdup(s, len);
	Numeric		n;

	n = DatumGetNumeric(DirectFunctionCall3(numeric_in,
											CStringGetDatum(copy),
											ObjectIdGetDatum(InvalidOid),
											Int32GetDatum(-1)));
	pfree(copy);
	return n;
}

/*
 * Parse an interval without raising errors for malformed input (the same
 * steps as interval_in).  Returns false when str is not an interval.
 */
static bool
parse_interval_soft(const char *str, Interval *result)
{
	char		workbuf[256];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype = 0;
	int			dterr;
	struct pg_itm_in tt;

	memset(&tt, 0, sizeof(tt));
	dterr = ParseDateTime(str, workbuf, sizeof(workbuf), field, ftype,
						  MAXDATEFIELDS, &nf);
	if (dterr == 0)
		dterr = DecodeInterval(field, ftype, nf, INTERVAL_FULL_RANGE,
							   &dtype, &tt);
	if (dterr == DTERR_BAD_FORMAT)
	{
		char	   *copy = pstrdup(str);

		memset(&tt, 0, sizeof(tt));
		dterr = DecodeISO8601Interval(copy, &dtype, &tt);
		pfree(copy);
	}
	if (dterr != 0 || dtype != DTK_DELTA)
		return false;
	return itmin2interval(&tt, result) == 0;
}

/*
 * Parse a timestamptz without raising errors for malformed input (the same
 * steps as timestamptz_in).  Returns 1 on success, 0 when str is not a
 * timestamp, -1 when it is relative to the current time ("now", "today",
 * "tomorrow", "yesterday"): such a value would be frozen when the condition
 * is loaded, which is never what the writer meant.  A value without a zone
 * is read in UTC, not in the time zone of whichever session happens to load
 * the rules: a stored condition has one meaning.
 */
static int
parse_timestamptz_soft(const char *str, TimestampTz *result)
{
	char		workbuf[MAXDATELEN + MAXDATEFIELDS];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype = 0;
	int			dterr;
	struct pg_tm tt,
			   *tm = &tt;
	fsec_t		fsec = 0;
	int			tz = 0;
	int			i;

	dterr = ParseDateTime(str, workbuf, sizeof(workbuf), field, ftype,
						  MAXDATEFIELDS, &nf);
	if (dterr != 0)
		return 0;
	for (i = 0; i < nf; i++)
	{
		if (strcmp(field[i], "now") == 0 || strcmp(field[i], "today") == 0 ||
			strcmp(field[i], "tomorrow") == 0 ||
			strcmp(field[i], "yesterday") == 0)
			return -1;
	}
	memset(tm, 0, sizeof(tt));
	{
		/* neither call raises an error: the session's zone comes back */
		static pg_tz *utc = NULL;
		pg_tz	   *session = session_timezone;

		if (utc == NULL)
			utc = pg_tzset("UTC");
		if (utc != NULL)
			session_timezone = utc;
		dterr = DecodeDateTime(field, ftype, nf, &dtype, tm, &fsec, &tz);
		if (dterr == 0 && dtype == DTK_DATE && tm2timestamp(tm, fsec, &tz, result) != 0)
			dterr = DTERR_FIELD_OVERFLOW;
		session_timezone = session;
	}
	if (dterr != 0)
		return 0;
	switch (dtype)
	{
		case DTK_DATE:
			return 1;
		case DTK_EPOCH:
			*result = SetEpochTimestamp();
			return 1;
		case DTK_LATE:
			TIMESTAMP_NOEND(*result);
			return 1;
		case DTK_EARLY:
			TIMESTAMP_NOBEGIN(*result);
			return 1;
		default:
			return 0;
	}
}

/* An interval as microseconds, months of 30 days, saturating; as a double. */
static double
interval_linear(const Interval *iv)
{
	return ((double) iv->month * DAYS_PER_MONTH + (double) iv->day) *
		(double) USECS_PER_DAY + (double) iv->time;
}

/*
 * base + span, span taken linearly (a month is 30 days, a day 24 hours),
 * saturating to -infinity / +infinity instead of overflowing.
 */
static TimestampTz
add_linear(TimestampTz base, const Interval *iv)
{
	int64		days = (int64) iv->month * DAYS_PER_MONTH + iv->day;
	int64		span;
	int64		result;

	if (TIMESTAMP_NOT_FINITE(base))
		return base;
	if (pg_mul_s64_overflow(days, USECS_PER_DAY, &span) ||
		pg_add_s64_overflow(span, iv->time, &span) ||
		pg_add_s64_overflow(base, span, &result))
		return interval_linear(iv) >= 0 ? DT_NOEND : DT_NOBEGIN;
	if (result >= END_TIMESTAMP)
		return DT_NOEND;
	if (result < MIN_TIMESTAMP)
		return DT_NOBEGIN;
	return result;
}


/* ----------------------------------------------------------------
 * Predicate sets
 * ----------------------------------------------------------------
 */

/*
 * Initialise an empty predicate set whose items will live in cxt.
 */
void
lm_predset_init(LmPredicateSet *set, MemoryContext cxt)
{
	set->n = 0;
	set->cap = 0;
	set->items = NULL;
	set->cxt = cxt;
}

/* whether two properties filters are the same (NULL = any properties) */
static bool
properties_equal(Jsonb *a, Jsonb *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	if (VARSIZE(a) == VARSIZE(b) && memcmp(a, b, VARSIZE(a)) == 0)
		return true;
	return compareJsonbContainers(&a->root, &b->root) == 0;
}

/*
 * Return the index of the predicate equal to (event_type, properties,
 * within), appending a copy made in set->cxt if there is none.  Equal means
 * the same type, equal properties (an empty object is the same as none:
 * every object contains it) and the same window field for field ("1 month"
 * and "30 days" are different windows).  Indexes are stable: they are
 * positions in the engine's per-lead counts.
 */
int
lm_predset_intern(LmPredicateSet *set, const char *event_type,
				  Jsonb *properties, const Interval *within)
{
	int			i;
	LmPredicate *p;

	if (properties != NULL && JB_ROOT_IS_OBJECT(properties) &&
		JB_ROOT_COUNT(properties) == 0)
		properties = NULL;

	for (i = 0; i < set->n; i++)
	{
		p = &set->items[i];
		if (strcmp(p->event_type, event_type) != 0)
			continue;
		if (p->has_within != (within != NULL))
			continue;
		if (within != NULL &&
			(p->within.month != within->month || p->within.day != within->day ||
			 p->within.time != within->time))
			continue;
		if (!properties_equal(p->properties, properties))
			continue;
		return i;
	}

	if (set->n >= set->cap)
	{
		int			newcap = set->cap > 0 ? set->cap * 2 : 8;

		if (set->items == NULL)
			set->items = (LmPredicate *)
				MemoryContextAlloc(set->cxt, newcap * sizeof(LmPredicate));
		else
			set->items = (LmPredicate *)
				repalloc(set->items, newcap * sizeof(LmPredicate));
		set->cap = newcap;
	}

	p = &set->items[set->n];
	memset(p, 0, sizeof(LmPredicate));
	p->event_type = MemoryContextStrdup(set->cxt, event_type);
	if (properties != NULL)
	{
		p->properties = (Jsonb *) MemoryContextAlloc(set->cxt, VARSIZE(properties));
		memcpy(p->properties, properties, VARSIZE(properties));
	}
	if (within != NULL)
	{
		p->has_within = true;
		p->within = *within;
	}
	return set->n++;
}

/*
 * The start of a window: now - within, in calendar months and days counted
 * in UTC (timestamp arithmetic), whatever the session's time zone: every
 * session, maintenance included, counts a window alike, and a day is
 * always 24 hours.  A window reaching beyond the timestamp range starts at
 * -infinity (or, for a negative span, +infinity) instead of raising an
 * error: event ingest must not fail on an absurd window.
 */
static TimestampTz
window_start(TimestampTz now, const Interval *within)
{
	double		bound;

	if (TIMESTAMP_NOT_FINITE(now))
		return now;
	bound = (fabs((double) within->month) * 31.0 + fabs((double) within->day) + 2.0) *
		(double) USECS_PER_DAY + fabs((double) within->time);
	if ((double) now - bound <= (double) MIN_TIMESTAMP ||
		(double) now + bound >= (double) END_TIMESTAMP)
		return interval_linear(within) >= 0 ? DT_NOBEGIN : DT_NOEND;
	return DatumGetTimestampTz(DirectFunctionCall2(timestamp_mi_interval,
												   TimestampGetDatum(now),
												   IntervalPGetDatum((Interval *) within)));
}

/* Whether an event at occurred_at is inside a window that ends at now. */
static inline bool
in_window(TimestampTz occurred_at, TimestampTz now, const Interval *within)
{
	return occurred_at > window_start(now, within);
}

/*
 * When an event leaves a window: the first instant t at which
 * lm_predicate_matches stops counting it, the smallest t with
 * t - within >= occurred_at in window_start's arithmetic.  Maintenance
 * rechecks the lead then, so this must be neither early (the lead would be
 * recomputed, still match, and be due again at the same past time: every
 * run would recheck it) nor late (its score would stay stale).
 *
 * Usually that is occurred_at + within.  Calendar arithmetic makes it
 * later when a month clamps a day (Jan 31 + 1 month is Feb 28, but on
 * Feb 28 "now - 1 month" is Jan 28, so the Jan 31 event is inside until
 * Mar 1).  Then the exit is found by bisection between two instants on
 * either side of it
 * (t - within never decreases as t grows); that costs a few dozen interval
 * subtractions, only for such events.
 *
 * DT_NOEND when the exit lies beyond the last representable timestamp (an
 * event dated near year 294276): its window never closes, which is what it
 * means, rather than an overflow error.
 */
TimestampTz
lm_window_end(TimestampTz occurred_at, const Interval *within)
{
	/* calendar months are at most two days longer than 30 days; margin */
	int64		days = (int64) within->month * 30 + within->day +
		2 * Abs((int64) within->month) + 2;
	int64		span;
	int64		end;
	TimestampTz lo;
	TimestampTz hi;
	int64		step;

	if (TIMESTAMP_NOT_FINITE(occurred_at))
		return DT_NOEND;
	if (pg_mul_s64_overflow(days, USECS_PER_DAY, &span) ||
		pg_add_s64_overflow(span, within->time, &span) ||
		pg_add_s64_overflow(occurred_at, span, &end) ||
		end >= END_TIMESTAMP)
		return DT_NOEND;
	end = DatumGetTimestampTz(DirectFunctionCall2(timestamp_pl_interval,
												  TimestampGetDatum(occurred_at),
												  IntervalPGetDatum((Interval *) within)));
	if (!in_window(occurred_at, end, within) &&
		(end <= occurred_at || in_window(occurred_at, end - 1, within)))
		return end;

	/* bracket the exit: lo inside the window, hi outside, by doubling steps */
	if (in_window(occurred_at, end, within))
	{
		lo = end;
		for (step = USECS_PER_HOUR;; step *= 2)
		{
			if (pg_add_s64_overflow(end, step, &hi) || hi >= END_TIMESTAMP)
				return DT_NOEND;
			if (!in_window(occurred_at, hi, within))
				break;
			lo = hi;
		}
	}
	else
	{
		hi = end;
		for (step = USECS_PER_HOUR;; step *= 2)
		{
			lo = end - step;
			/* not monotonic (an interval of mixed signs): keep the sum */
			if (lo <= occurred_at)
				return end;
			if (in_window(occurred_at, lo, within))
				break;
			hi = lo;
		}
	}
	while (hi - lo > 1)
	{
		TimestampTz mid = lo + (hi - lo) / 2;

		if (in_window(occurred_at, mid, within))
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

/*
 * Whether an event (whose type the caller has already matched against
 * p->event_type) satisfies predicate p: its properties contain
 * p->properties (jsonb @>; NULL event properties count as {}), and, with a
 * window, occurred_at > now - within.
 */
bool
lm_predicate_matches(const LmPredicate *p, Jsonb *properties,
					 TimestampTz occurred_at, TimestampTz now)
{
	if (p->properties != NULL)
	{
		if (properties == NULL)
		{
			if (!(JB_ROOT_IS_OBJECT(p->properties) &&
				  JB_ROOT_COUNT(p->properties) == 0))
				return false;
		}
		else
		{
			JsonbIterator *it1;
			JsonbIterator *it2;

			if (JB_ROOT_IS_OBJECT(properties) != JB_ROOT_IS_OBJECT(p->properties))
				return false;
			it1 = JsonbIteratorInit(&properties->root);
			it2 = JsonbIteratorInit(&p->properties->root);
			if (!JsonbDeepContains(&it1, &it2))
				return false;
		}
	}

	if (p->has_within)
	{
		TimestampTz start = window_start(now, &p->within);

		if (!(occurred_at > start))
			return false;
	}
	return true;
}


/* ----------------------------------------------------------------
 * Parsing
 * ----------------------------------------------------------------
 */

/*
 * Read the keys of a condition object (one level; nested containers stay
 * jbvBinary).  Returns the number of keys; *keys is palloc'd.
 */
static int
read_object(JsonbValue *obj, LmKey **keys)
{
	JsonbContainer *jc = obj->val.binary.data;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			n = 0;
	int			cap = JsonContainerSize(jc) > 0 ? JsonContainerSize(jc) : 1;
	LmKey	   *out = (LmKey *) palloc0(cap * sizeof(LmKey));

	it = JsonbIteratorInit(jc);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			if (n >= cap)
			{
				cap *= 2;
				out = (LmKey *) repalloc(out, cap * sizeof(LmKey));
			}
			out[n].key = jv_cstring(&v);
		}
		else if (tok == WJB_VALUE)
		{
			out[n].val = v;
			jv_normalize(&out[n].val);
			n++;
		}
	}
	*keys = out;
	return n;
}

/* the value of key in keys[], or NULL */
static JsonbValue *
find_key(LmKey *keys, int nkeys, const char *key)
{
	int			i;

	for (i = 0; i < nkeys; i++)
	{
		if (strcmp(keys[i].key, key) == 0)
			return &keys[i].val;
	}
	return NULL;
}

/* whether key is one of the keys of shape s */
static bool
shape_has_key(LmShape s, const char *key)
{
	int			i;

	for (i = 0; shape_keys[s][i] != NULL; i++)
	{
		if (strcmp(shape_keys[s][i], key) == 0)
			return true;
	}
	return false;
}

/* the number of a column of leads by name (not dropped), or 0 */
static AttrNumber
find_column(TupleDesc td, const char *name)
{
	int			i;

	for (i = 0; i < td->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(td, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	return InvalidAttrNumber;
}

static void
error_unknown_field(LmParse *ps, const char *name) pg_attribute_noreturn();

static void
error_unknown_field(LmParse *ps, const char *name)
{
	parse_error(ps,
				"A field is a column of lead_mgmt.leads (for example email, "
				"country, company_size, score or stage), \"attributes.KEY\" for "
				"a key of the attributes column, or \"age\".",
				"unknown field \"%s\"", excerpt(name));
}

/*
 * Resolve the "field" string: set field, field_kind, attnum, atttypid and
 * (for attribute paths) path/npath, refusing bookkeeping columns and the
 * fields the context may not depend on.  ps->path is at ".field".
 */
static void
resolve_field(LmParse *ps, LmCond *c, const char *name)
{
	TupleDesc	td = ps->catalog->leads_desc;
	const char *column;
	const char *dot;
	AttrNumber	attnum;
	Form_pg_attribute att;
	int			i;

	if (td == NULL)
		elog(ERROR, "lm_cond_parse: the catalog has no tuple descriptor for leads");

	c->field = pstrdup(name);

	if (strcmp(name, "age") == 0)
	{
		attnum = find_column(td, "created_at");
		if (attnum == InvalidAttrNumber ||
			TupleDescAttr(td, attnum - 1)->atttypid != TIMESTAMPTZOID)
			elog(ERROR, "lead_mgmt.leads has no created_at column of type timestamptz");
		c->field_kind = LM_FIELD_AGE;
		c->attnum = attnum;
		c->atttypid = TIMESTAMPTZOID;
		return;
	}

	dot = strchr(name, '.');
	column = dot ? pnstrdup(name, dot - name) : name;

	for (i = 0; i < lengthof(internal_columns); i++)
	{
		if (strcmp(column, internal_columns[i]) == 0)
			parse_error(ps,
						"The columns event_counts, recheck_at and rules_version "
						"are lead_mgmt's bookkeeping; test events with an event "
						"test such as {\"event\": \"form_submitted\"}.",
						"field \"%s\" is internal to lead_mgmt", column);
	}

	attnum = find_column(td, column);
	if (attnum <= 0)
	{
		error_unknown_field(ps, name);
		return;					/* not reached */
	}
	att = TupleDescAttr(td, attnum - 1);
	c->attnum = attnum;
	c->atttypid = att->atttypid;

	if (ps->ctx == LM_CTX_SCORING_RULE &&
		(strcmp(column, "score") == 0 ||
		 strcmp(column, "engagement_score") == 0 ||
		 strcmp(column, "fit_score") == 0 ||
		 strcmp(column, "stage") == 0))
		parse_error(ps,
					"A scoring rule computes score, engagement_score and fit_score, "
					"and stages depend on them, so its condition cannot test "
					"score, engagement_score, fit_score or stage.",
					"a scoring rule cannot test field \"%s\"", column);
	if (ps->ctx == LM_CTX_STAGE && strcmp(column, "stage") == 0)
		parse_error(ps,
					"A stage condition decides the lead's stage, so it cannot "
					"test the stage itself; stages are already ordered by rank.",
					"a stage condition cannot test field \"stage\"");
	if ((ps->ctx == LM_CTX_SCORING_RULE || ps->ctx == LM_CTX_STAGE) &&
		strcmp(column, "stage_ceiling") == 0)
		parse_error(ps,
					"The column stage_ceiling records a move by hand down, which "
					"lead_mgmt lifts by what scoring rules and stage conditions "
					"decide, so they cannot test it; segments, assignment rules "
					"and sequences can.",
					"a %s cannot test field \"stage_ceiling\"",
					ps->ctx == LM_CTX_STAGE ? "stage condition" : "scoring rule");

	if (dot != NULL)
	{
		const char *p;
		int			n;

		if (att->atttypid != JSONBOID)
			error_unknown_field(ps, name);

		/* split the keys after the column name */
		n = 1;
		for (p = dot + 1; *p; p++)
			if (*p == '.')
				n++;
		c->path = (char **) palloc(n * sizeof(char *));
		c->npath = 0;
		p = dot + 1;
		for (;;)
		{
			const char *end = strchr(p, '.');
			int			len = end ? end - p : strlen(p);

			if (len == 0)
				parse_error(ps,
							"Write a path into the attributes column as "
							"\"attributes.KEY\" or \"attributes.KEY.SUBKEY\".",
							"empty key in attribute path \"%s\"", excerpt(name));
			c->path[c->npath++] = pnstrdup(p, len);
			if (end == NULL)
				break;
			p = end + 1;
		}
		c->field_kind = LM_FIELD_ATTRIBUTE;
		return;
	}

	if (strcmp(name, "stage") == 0)
	{
		c->field_kind = LM_FIELD_STAGE;
		return;
	}

	switch (att->atttypid)
	{
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			c->field_kind = LM_FIELD_TEXT;
			break;
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case NUMERICOID:
		case FLOAT4OID:
		case FLOAT8OID:
			c->field_kind = LM_FIELD_NUMBER;
			break;
		case TIMESTAMPTZOID:
			c->field_kind = LM_FIELD_TIMESTAMP;
			break;
		case JSONBOID:
			c->field_kind = LM_FIELD_JSONB;
			break;
		default:
			parse_error(ps,
						"Conditions can test text, number, timestamptz and jsonb "
						"columns.",
						"field \"%s\" has type %s, which conditions cannot test",
						name, format_type_be(att->atttypid));
	}
}

/* whether op can be used with a field of kind */
static bool
op_allowed(LmFieldKind kind, LmOp op)
{
	switch (kind)
	{
		case LM_FIELD_TEXT:
		case LM_FIELD_ATTRIBUTE:
			return true;
		case LM_FIELD_NUMBER:
		case LM_FIELD_TIMESTAMP:
		case LM_FIELD_STAGE:
		case LM_FIELD_AGE:
			return op != LM_OP_CONTAINS && op != LM_OP_MATCHES;
		case LM_FIELD_JSONB:
			return op == LM_OP_EXISTS || op == LM_OP_CONTAINS;
	}
	return false;
}

/* the hint for an operator a field kind does not take */
static char *
op_hint(const LmCond *c)
{
	switch (c->field_kind)
	{
		case LM_FIELD_NUMBER:
			return psprintf("Field \"%s\" is a number; use =, !=, <, <=, >, >=, "
							"in, not_in or exists.", c->field);
		case LM_FIELD_TIMESTAMP:
			return psprintf("Field \"%s\" is a timestamp; use =, !=, <, <=, >, "
							">=, in, not_in or exists.", c->field);
		case LM_FIELD_STAGE:
			return pstrdup("Field \"stage\" compares stages by rank; use =, !=, "
						   "<, <=, >, >=, in, not_in or exists.");
		case LM_FIELD_AGE:
			return pstrdup("Field \"age\" is the time since the lead was created; "
						   "use =, !=, <, <=, >, >=, in, not_in or exists with an "
						   "interval such as \"30 days\".");
		case LM_FIELD_JSONB:
			return psprintf("Field \"%s\" itself takes exists, or contains with an "
							"object; test one key with \"%s.KEY\".",
							c->field, c->field);
		default:
			return pstrdup(OPS_HINT);
	}
}

/*
 * Check that a pattern compiles as the case-insensitive advanced regular
 * expression texticregexeq will use, reporting the regex library's message
 * at the current path if not.
 *
 * The flags are texticregexeq's exactly, REG_NOSUB included (a match test
 * wants no sub-match positions): without it every parenthesised group is
 * a capture, which makes compiling "(a|b)*" repeated a thousand times ~25
 * times slower than the "~*" that evaluation will run, and lets patterns
 * that "~*" refuses at once as too complex run for minutes.
 */
static void
check_regex(LmParse *ps, const char *pat, int len)
{
	regex_t		re;
	pg_wchar   *wpat;
	int			wlen;
	int			rc;

	wpat = (pg_wchar *) palloc((len + 1) * sizeof(pg_wchar));
	wlen = pg_mb2wchar_with_len(pat, wpat, len);
	rc = pg_regcomp(&re, wpat, wlen, REG_ADVANCED | REG_ICASE | REG_NOSUB,
					DEFAULT_COLLATION_OID);
	if (rc != REG_OKAY)
	{
		char		errbuf[128];

		/*
		 * The library gives up with REG_CANCEL when a cancel or timeout is
		 * pending: raise that (57014), as PostgreSQL's own regex functions
		 * do, rather than call the pattern invalid.
		 */
		CHECK_FOR_INTERRUPTS();
		pg_regerror(rc, &re, errbuf, sizeof(errbuf));
		parse_error(ps,
					"Write a regular expression such as \"^acme\" or "
					"\"(gmail|yahoo)\\.com$\"; it is matched case-insensitively.",
					"invalid regular expression: %s", errbuf);
	}
	pg_regfree(&re);
	pfree(wpat);
}

/*
 * Parse one comparison value for field test c into out (zeroed by the
 * caller).  ps->path points at the value.
 */
static void
parse_value(LmParse *ps, LmCond *c, JsonbValue *v, LmValue *out)
{
	out->stage_rank = -1;
	if (v->type == jbvNull)
		parse_error(ps,
					"A missing or null field makes every comparison false; to "
					"test for one, write {\"not\": {\"field\": F, \"op\": \"exists\"}}.",
					"value must not be null");

	if (c->op == LM_OP_MATCHES)
	{
		if (v->type != jbvString)
			parse_error(ps,
						"Write the regular expression as a string, such as \"^acme\".",
						"expected a regular expression string, found %s",
						jv_type_name(v));
		check_regex(ps, v->val.string.val, v->val.string.len);
		out->text = jv_cstring(v);
		out->json = JsonbValueToJsonb(v);
		return;
	}

	switch (c->field_kind)
	{
		case LM_FIELD_NUMBER:
			if (v->type == jbvNumeric)
				out->number = DatumGetNumericCopy(NumericGetDatum(v->val.numeric));
			else if (v->type == jbvString &&
					 string_is_number(v->val.string.val, v->val.string.len))
				out->number = string_to_numeric(v->val.string.val,
												v->val.string.len);
			else if (v->type == jbvString)
				parse_error(ps,
							psprintf("Field \"%s\" is a number; write the value "
									 "as a JSON number such as 100.", c->field),
							"\"%s\" is not a number", excerpt(jv_cstring(v)));
			else
				parse_error(ps,
							psprintf("Field \"%s\" is a number; write the value "
									 "as a JSON number such as 100.", c->field),
							"expected a number, found %s", jv_type_name(v));
			out->has_number = true;
			out->text = numeric_to_cstring(out->number);
			break;

		case LM_FIELD_TIMESTAMP:
			{
				char	   *s;
				int			rc;

				if (v->type != jbvString)
					parse_error(ps,
								"Write a timestamp as a string such as "
								"\"2024-01-31\" or \"2024-01-31 09:00:00+00\".",
								"expected a timestamp string, found %s",
								jv_type_name(v));
				s = jv_cstring(v);
				rc = parse_timestamptz_soft(s, &out->timestamp);
				if (rc < 0)
					parse_error(ps,
								"It would be fixed when the condition is loaded; "
								"to test time relative to now, compare \"age\" "
								"with an interval or give an event test a "
								"\"within\".",
								"relative timestamp \"%s\" is not allowed",
								excerpt(s));
				if (rc == 0)
					parse_error(ps,
								"Write a timestamp such as \"2024-01-31\" or "
								"\"2024-01-31 09:00:00+00\".",
								"\"%s\" is not a valid timestamp", excerpt(s));
				out->has_timestamp = true;
				out->text = s;
				break;
			}

		case LM_FIELD_AGE:
			{
				char	   *s;

				if (v->type != jbvString)
					parse_error(ps, INTERVAL_HINT,
								"expected an interval string, found %s",
								jv_type_name(v));
				s = jv_cstring(v);
				if (!parse_interval_soft(s, &out->interval))
					parse_error(ps, INTERVAL_HINT,
								"\"%s\" is not a valid interval", excerpt(s));
				out->has_interval = true;
				out->text = s;
				break;
			}

		case LM_FIELD_STAGE:
			{
				const LmCondCatalog *cat = ps->catalog;
				char	   *s;

				if (v->type != jbvString)
					parse_error(ps,
								"Name a stage of lead_mgmt.stages, such as \"mql\".",
								"expected a stage name, found %s", jv_type_name(v));
				s = lower_text(v->val.string.val, v->val.string.len);
				if (cat->stage_rank != NULL && !cat->lenient)
				{
					out->stage_rank = cat->stage_rank(cat->arg, s);
					if (out->stage_rank < 0)
						parse_error(ps,
									"Stages are the names in lead_mgmt.stages "
									"(by default lead, iql, mql, sql and customer).",
									"unknown stage \"%s\"",
									excerpt(jv_cstring(v)));
				}
				else if (cat->stage_rank != NULL && *s != '\0')
					out->stage_rank = cat->stage_rank(cat->arg, s);
				out->text = s;
				break;
			}

		case LM_FIELD_TEXT:
		case LM_FIELD_ATTRIBUTE:
			if (v->type == jbvString)
			{
				out->text = lower_text(v->val.string.val, v->val.string.len);
				if (string_is_number(v->val.string.val, v->val.string.len))
				{
					out->has_number = true;
					out->number = string_to_numeric(v->val.string.val,
													v->val.string.len);
				}
			}
			else if (v->type == jbvNumeric)
			{
				out->has_number = true;
				out->number = DatumGetNumericCopy(NumericGetDatum(v->val.numeric));
				out->text = numeric_to_cstring(out->number);
			}
			else if (v->type == jbvBool)
			{
				out->is_bool = true;
				out->boolean = v->val.boolean;
				out->text = pstrdup(v->val.boolean ? "true" : "false");
				if (c->field_kind == LM_FIELD_ATTRIBUTE &&
					c->op >= LM_OP_LT && c->op <= LM_OP_GE)
					parse_error(ps,
								"Test a boolean with =, !=, in or not_in.",
								"operator \"%s\" cannot compare a boolean",
								op_names[c->op]);
			}
			else
				parse_error(ps,
							psprintf("Compare field \"%s\" with a string, a "
									 "number or a boolean.", c->field),
							"expected a string, number or boolean, found %s",
							jv_type_name(v));
			break;

		case LM_FIELD_JSONB:
			/* only "contains" gets here */
			if (!jv_is_object(v))
				parse_error(ps,
							psprintf("Field \"%s\" contains V when V is an object "
									 "whose keys and values all appear in it, "
									 "such as {\"plan\": \"pro\"}.", c->field),
							"expected an object, found %s", jv_type_name(v));
			break;
	}
	out->json = JsonbValueToJsonb(v);
}

/* {"field": F, "op": OP, "value": V} */
static LmCond *
parse_field_test(LmParse *ps, LmKey *keys, int nkeys)
{
	LmCond	   *c = (LmCond *) palloc0(sizeof(LmCond));
	JsonbValue *fv = find_key(keys, nkeys, "field");
	JsonbValue *opv = find_key(keys, nkeys, "op");
	JsonbValue *vv = find_key(keys, nkeys, "value");
	char	   *opname;
	int			saved;
	int			i;
	bool		found = false;

	c->kind = LM_COND_FIELD;

	/* field */
	saved = path_push_key(ps, "field");
	if (fv->type != jbvString)
		parse_error(ps,
					"Name the field as a string: a column of lead_mgmt.leads, "
					"\"attributes.KEY\" or \"age\".",
					"expected a string, found %s", jv_type_name(fv));
	resolve_field(ps, c, jv_cstring(fv));
	path_pop(ps, saved);

	/* op */
	if (opv == NULL)
	{
		parse_error(ps,
					"A field test needs \"field\", \"op\" and (except for "
					"\"exists\") \"value\"; the operators are =, !=, <, <=, >, >=, "
					"in, not_in, contains, exists and matches.",
					"missing key \"op\"");
		return NULL;			/* not reached */
	}
	saved = path_push_key(ps, "op");
	if (opv->type != jbvString)
		parse_error(ps, OPS_HINT, "expected a string, found %s",
					jv_type_name(opv));
	opname = jv_cstring(opv);
	for (i = 0; i < lengthof(op_names); i++)
	{
		if (strcmp(opname, op_names[i]) == 0)
		{
			c->op = (LmOp) i;
			found = true;
			break;
		}
	}
	if (!found)
		parse_error(ps, OPS_HINT, "unknown operator \"%s\"",
					excerpt(opname));
	if (!op_allowed(c->field_kind, c->op))
		parse_error(ps, op_hint(c),
					"operator \"%s\" cannot be used with field \"%s\"",
					opname, c->field);
	path_pop(ps, saved);

	/* value */
	if (c->op == LM_OP_EXISTS)
	{
		if (vv != NULL)
		{
			/* the error names the path of the value; nothing pops it */
			(void) path_push_key(ps, "value");
			parse_error(ps,
						"Remove \"value\"; to test that a field is missing, write "
						"{\"not\": {\"field\": F, \"op\": \"exists\"}}.",
						"operator \"exists\" takes no value");
		}
		return c;
	}
	if (vv == NULL)
		parse_error(ps,
					psprintf("Operator \"%s\" compares the field with \"value\", "
							 "for example {\"field\": \"country\", \"op\": \"%s\", "
							 "\"value\": %s}.", opname, opname,
							 (c->op == LM_OP_IN || c->op == LM_OP_NOT_IN) ?
							 "[\"FR\", \"DE\"]" : "\"FR\""),
					"missing key \"value\"");

	saved = path_push_key(ps, "value");
	if (c->op == LM_OP_IN || c->op == LM_OP_NOT_IN)
	{
		const char *inhint =
		psprintf("Write the values as a non-empty array, for example "
				 "{\"field\": \"country\", \"op\": \"%s\", \"value\": "
				 "[\"FR\", \"DE\"]}.", opname);
		JsonbIterator *it;
		JsonbValue	ev;
		JsonbIteratorToken tok;
		int			n;

		if (!jv_is_array(vv) || vv->type != jbvBinary)
			parse_error(ps, inhint,
						"operator \"%s\" needs an array of values, found %s",
						opname, jv_type_name(vv));
		n = JsonContainerSize(vv->val.binary.data);
		if (n == 0)
			parse_error(ps, inhint,
						"operator \"%s\" needs at least one value", opname);
		c->values = (LmValue *) palloc0(n * sizeof(LmValue));
		c->nvalues = 0;
		it = JsonbIteratorInit(vv->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &ev, true)) != WJB_DONE)
		{
			int			esaved;

			if (tok != WJB_ELEM)
				continue;
			if (c->nvalues >= n)
				elog(ERROR, "jsonb array has more elements than its header says");
			jv_normalize(&ev);
			esaved = path_push_index(ps, c->nvalues);
			parse_value(ps, c, &ev, &c->values[c->nvalues]);
			path_pop(ps, esaved);
			c->nvalues++;
		}
	}
	else
	{
		c->values = (LmValue *) palloc0(sizeof(LmValue));
		c->nvalues = 1;
		if (jv_is_array(vv) && c->field_kind != LM_FIELD_JSONB &&
			c->op != LM_OP_MATCHES)
		{
			/* a common slip: an array with "=" instead of "in" */
			parse_error(ps,
						psprintf("To compare with several values, use \"in\": "
								 "{\"field\": \"%s\", \"op\": \"in\", \"value\": [...]}.",
								 c->field),
						"operator \"%s\" takes a single value, found an array",
						opname);
		}
		parse_value(ps, c, vv, &c->values[0]);
		if (c->op == LM_OP_MATCHES)
			c->regex_text = cstring_to_text(c->values[0].text);
	}
	path_pop(ps, saved);
	return c;
}

/*
 * Parse a "min_count" or "max_count" value: a JSON integer from 0 to
 * INT32_MAX (2.0 counts as 2).
 */
static int32
parse_count(LmParse *ps, JsonbValue *v)
{
	char	   *s;
	char	   *p;
	int			ndigits;
	int64		result = 0;

	if (v->type != jbvNumeric)
		parse_error(ps, COUNT_HINT,
					"expected a non-negative integer, found %s", jv_type_name(v));
	s = numeric_to_cstring(v->val.numeric);
	for (p = s; isdigit((unsigned char) *p); p++)
		;
	ndigits = p - s;
	if (*p == '.')
	{
		char	   *q = p + 1;

		while (*q == '0')
			q++;
		if (*q == '\0')
			*p = '\0';
	}
	if (ndigits == 0 || s[ndigits] != '\0' || ndigits > 10)
		parse_error(ps, COUNT_HINT,
					"expected a non-negative integer, found %s", s);
	for (p = s; *p; p++)
		result = result * 10 + (*p - '0');
	if (result > PG_INT32_MAX)
		parse_error(ps, COUNT_HINT,
					"expected a non-negative integer, found %s", s);
	return (int32) result;
}

/* {"event": TYPE, "within": I, "min_count": N, "max_count": N, "properties": {}} */
static LmCond *
parse_event_test(LmParse *ps, LmKey *keys, int nkeys)
{
	const LmCondCatalog *cat = ps->catalog;
	LmCond	   *c = (LmCond *) palloc0(sizeof(LmCond));
	JsonbValue *ev = find_key(keys, nkeys, "event");
	JsonbValue *wv = find_key(keys, nkeys, "within");
	JsonbValue *minv = find_key(keys, nkeys, "min_count");
	JsonbValue *maxv = find_key(keys, nkeys, "max_count");
	JsonbValue *pv = find_key(keys, nkeys, "properties");
	char	   *type;
	Interval	within;
	Jsonb	   *props = NULL;
	int			saved;

	c->kind = LM_COND_EVENT;
	c->min_count = 1;
	c->max_count = -1;

	saved = path_push_key(ps, "event");
	if (ev->type != jbvString)
		parse_error(ps,
					"Name an event type of lead_mgmt.event_types as a string, "
					"such as \"form_submitted\".",
					"expected a string, found %s", jv_type_name(ev));
	type = jv_cstring(ev);
	if (*type == '\0')
		parse_error(ps,
					"Name an event type of lead_mgmt.event_types, such as "
					"\"form_submitted\".",
					"event type must not be empty");
	if (cat->event_type_exists != NULL && !cat->lenient &&
		!cat->event_type_exists(cat->arg, type))
		parse_error(ps,
					"Event types are the names in lead_mgmt.event_types; register "
					"a new one with INSERT INTO lead_mgmt.event_types (name) "
					"VALUES ('...').",
					"unknown event type \"%s\"", excerpt(type));
	path_pop(ps, saved);

	if (wv != NULL)
	{
		static const Interval zero = {0, 0, 0};
		const char *whint =
		"Write a positive interval such as \"30 days\", or leave out "
		"\"within\" to count events of all time.";
		char	   *s;

		saved = path_push_key(ps, "within");
		if (wv->type != jbvString)
			parse_error(ps, whint, "expected an interval string, found %s",
						jv_type_name(wv));
		s = jv_cstring(wv);
		if (!parse_interval_soft(s, &within))
			parse_error(ps, whint, "\"%s\" is not a valid interval",
						excerpt(s));
		if (DatumGetInt32(DirectFunctionCall2(interval_cmp,
											  IntervalPGetDatum(&within),
											  IntervalPGetDatum((Interval *) &zero))) <= 0)
			parse_error(ps, whint, "interval \"%s\" is not positive",
						excerpt(s));
		path_pop(ps, saved);
	}

	if (minv != NULL)
	{
		saved = path_push_key(ps, "min_count");
		c->min_count = parse_count(ps, minv);
		path_pop(ps, saved);
	}
	if (maxv != NULL)
	{
		saved = path_push_key(ps, "max_count");
		c->max_count = parse_count(ps, maxv);
		/* "max_count": 0 alone means "never": min_count then defaults to 0 */
		if (minv == NULL && c->max_count == 0)
			c->min_count = 0;
		if (c->max_count < c->min_count)
			parse_error(ps,
						"An event test holds when the number of events is "
						"between min_count and max_count inclusive; make "
						"max_count at least min_count.",
						"max_count %d is less than min_count %d",
						c->max_count, c->min_count);
		path_pop(ps, saved);
	}

	if (pv != NULL)
	{
		saved = path_push_key(ps, "properties");
		if (!jv_is_object(pv))
			parse_error(ps,
						"Write properties as an object that the event's "
						"properties must contain, for example {\"form\": \"contact\"}.",
						"expected an object, found %s", jv_type_name(pv));
		props = JsonbValueToJsonb(pv);
		path_pop(ps, saved);
	}

	c->pred = lm_predset_intern(ps->preds, type, props,
								wv != NULL ? &within : NULL);
	return c;
}

/* {"all": [...]} or {"any": [...]} */
static LmCond *
parse_all_any(LmParse *ps, LmCondKind kind, JsonbValue *arr)
{
	LmCond	   *c = (LmCond *) palloc0(sizeof(LmCond));
	const char *key = kind == LM_COND_ALL ? "all" : "any";
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			i = 0;
	int			saved;

	c->kind = kind;
	saved = path_push_key(ps, key);
	if (!jv_is_array(arr) || arr->type != jbvBinary)
		parse_error(ps,
					"\"all\" and \"any\" take an array of conditions, for example "
					"{\"all\": [{\"event\": \"form_submitted\"}, {\"field\": "
					"\"country\", \"op\": \"=\", \"value\": \"FR\"}]}.",
					"expected an array, found %s", jv_type_name(arr));

	it = JsonbIteratorInit(arr->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		int			esaved;

		if (tok != WJB_ELEM)
			continue;
		jv_normalize(&v);
		esaved = path_push_index(ps, i++);
		c->args = lappend(c->args, parse_node(ps, &v));
		path_pop(ps, esaved);
	}
	path_pop(ps, saved);
	return c;
}

/*
 * Parse one condition object at ps->path.
 */
static LmCond *
parse_node(LmParse *ps, JsonbValue *v)
{
	LmKey	   *keys;
	int			nkeys;
	int			nshapes = 0;
	LmShape		shapes[SHAPE_COUNT];
	LmShape		shape;
	LmCond	   *c;
	int			i;
	int			s;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();

	if (++ps->depth > LM_COND_MAX_DEPTH)
		parse_error(ps,
					"Conditions may nest at most 64 condition objects deep; "
					"flatten nested \"all\" and \"any\" lists.",
					"condition is nested too deeply");

	if (!jv_is_object(v) || v->type != jbvBinary)
		parse_error(ps, SHAPES_HINT, "expected an object, found %s",
					jv_type_name(v));

	nkeys = read_object(v, &keys);
	if (nkeys == 0)
		parse_error(ps, SHAPES_HINT, "empty condition object");

	for (s = 0; s < SHAPE_COUNT; s++)
	{
		if (find_key(keys, nkeys, shape_key[s]) != NULL)
			shapes[nshapes++] = (LmShape) s;
	}
	if (nshapes > 1)
		parse_error(ps,
					"Each condition object has exactly one form; combine "
					"conditions with {\"all\": [...]} or {\"any\": [...]}.",
					"\"%s\" cannot be combined with \"%s\"",
					shape_key[shapes[0]], shape_key[shapes[1]]);
	if (nshapes == 0)
	{
		for (i = 0; i < nkeys; i++)
		{
			if (shape_has_key(SHAPE_FIELD, keys[i].key))
				parse_error(ps, shape_hint[SHAPE_FIELD], "missing key \"field\"");
			if (shape_has_key(SHAPE_EVENT, keys[i].key))
				parse_error(ps, shape_hint[SHAPE_EVENT], "missing key \"event\"");
		}
		parse_error(ps, SHAPES_HINT, "unknown key \"%s\"",
					excerpt(keys[0].key));
	}
	shape = shapes[0];

	for (i = 0; i < nkeys; i++)
	{
		if (shape_has_key(shape, keys[i].key))
			continue;
		for (s = 0; s < SHAPE_COUNT; s++)
		{
			if (shape_has_key((LmShape) s, keys[i].key))
				parse_error(ps, shape_hint[shape],
							"key \"%s\" cannot be used with \"%s\"",
							keys[i].key, shape_key[shape]);
		}
		parse_error(ps, shape_hint[shape], "unknown key \"%s\"",
					excerpt(keys[i].key));
	}

	switch (shape)
	{
		case SHAPE_ALL:
			c = parse_all_any(ps, LM_COND_ALL, &keys[0].val);
			break;
		case SHAPE_ANY:
			c = parse_all_any(ps, LM_COND_ANY, &keys[0].val);
			break;
		case SHAPE_NOT:
			{
				int			saved = path_push_key(ps, "not");

				c = (LmCond *) palloc0(sizeof(LmCond));
				c->kind = LM_COND_NOT;
				c->arg = parse_node(ps, &keys[0].val);
				path_pop(ps, saved);
				break;
			}
		case SHAPE_FIELD:
			c = parse_field_test(ps, keys, nkeys);
			break;
		case SHAPE_EVENT:
			c = parse_event_test(ps, keys, nkeys);
			break;
		default:
			elog(ERROR, "unexpected condition shape %d", (int) shape);
			c = NULL;			/* keep compiler quiet */
	}

	ps->depth--;
	return c;
}

/*
 * Parse and completely validate a condition for use in ctx, reporting the
 * first problem with its location.  Event tests are interned into preds
 * (a throwaway set when preds is NULL).  The tree is allocated in
 * CurrentMemoryContext.
 */
LmCond *
lm_cond_parse(Jsonb *cond, LmCondContext ctx, const LmCondCatalog *catalog,
			  LmPredicateSet *preds)
{
	LmParse		ps;
	LmPredicateSet throwaway;
	ErrorContextCallback errcb;
	JsonbValue	root;
	LmCond	   *result;

	if (catalog == NULL)
		elog(ERROR, "lm_cond_parse called without a catalog");
	if (preds == NULL)
	{
		lm_predset_init(&throwaway, CurrentMemoryContext);
		preds = &throwaway;
	}

	memset(&ps, 0, sizeof(ps));
	ps.ctx = ctx;
	ps.catalog = catalog;
	ps.preds = preds;
	initStringInfo(&ps.path);
	appendStringInfoChar(&ps.path, '$');

	errcb.callback = parse_error_context;
	errcb.arg = &ps;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	if (cond == NULL)
	{
		root.type = jbvNull;
	}
	else
	{
		root.type = jbvBinary;
		root.val.binary.data = &cond->root;
		root.val.binary.len = VARSIZE(cond) - VARHDRSZ;
		jv_normalize(&root);
	}
	result = parse_node(&ps, &root);

	error_context_stack = errcb.previous;
	pfree(ps.path.data);
	return result;
}


/* ----------------------------------------------------------------
 * Evaluation
 * ----------------------------------------------------------------
 */

/* compares a field's value (arg) with one condition value: sign of field - value */
typedef int (*value_cmp_fn) (const LmValue *v, void *arg);

/*
 * Apply a comparison operator using cmp; the field is known to be present.
 * "!=" and "not_in" are the negations of "=" and "in"; ordering operators
 * are false for incomparable values.
 */
static bool
apply_op(LmOp op, const LmValue *values, int nvalues, value_cmp_fn cmp, void *arg)
{
	int			r;
	int			i;

	if (nvalues < 1)
		return false;
	switch (op)
	{
		case LM_OP_EQ:
			return cmp(&values[0], arg) == 0;
		case LM_OP_NE:
			return cmp(&values[0], arg) != 0;
		case LM_OP_LT:
			r = cmp(&values[0], arg);
			return r != CMP_NONE && r < 0;
		case LM_OP_LE:
			r = cmp(&values[0], arg);
			return r != CMP_NONE && r <= 0;
		case LM_OP_GT:
			r = cmp(&values[0], arg);
			return r != CMP_NONE && r > 0;
		case LM_OP_GE:
			r = cmp(&values[0], arg);
			return r != CMP_NONE && r >= 0;
		case LM_OP_IN:
		case LM_OP_NOT_IN:
			for (i = 0; i < nvalues; i++)
			{
				if (cmp(&values[i], arg) == 0)
					return op == LM_OP_IN;
			}
			return op == LM_OP_NOT_IN;
		default:
			return false;
	}
}

/*
 * The value of column attnum of the lead, if present and of the type the
 * condition was parsed against (a concurrently altered table makes the
 * field read as NULL rather than misinterpreting a datum).
 */
static bool
lead_column(const LmLeadView *lead, AttrNumber attnum, Oid typid, Datum *d)
{
	if (attnum < 1 || lead->values == NULL)
		return false;
	if (lead->tupdesc != NULL)
	{
		Form_pg_attribute att;

		if (attnum > lead->tupdesc->natts)
			return false;
		att = TupleDescAttr(lead->tupdesc, attnum - 1);
		if (att->attisdropped || att->atttypid != typid)
			return false;
	}
	if (lead->isnull != NULL && lead->isnull[attnum - 1])
		return false;
	*d = lead->values[attnum - 1];
	return true;
}

static int
sign_of(int r)
{
	return r < 0 ? -1 : (r > 0 ? 1 : 0);
}

/* numbers */
static int
cmp_number(const LmValue *v, void *arg)
{
	if (!v->has_number)
		return CMP_NONE;
	return sign_of(DatumGetInt32(DirectFunctionCall2(numeric_cmp,
													 NumericGetDatum((Numeric) arg),
													 NumericGetDatum(v->number))));
}

/* a number column as a Numeric */
static Numeric
datum_to_numeric(Datum d, Oid typid)
{
	switch (typid)
	{
		case INT2OID:
			return int64_to_numeric(DatumGetInt16(d));
		case INT4OID:
			return int64_to_numeric(DatumGetInt32(d));
		case INT8OID:
			return int64_to_numeric(DatumGetInt64(d));
		case FLOAT4OID:
			return DatumGetNumeric(DirectFunctionCall1(float4_numeric, d));
		case FLOAT8OID:
			return DatumGetNumeric(DirectFunctionCall1(float8_numeric, d));
		default:
			return DatumGetNumeric(d);
	}
}

/* text: the lower-cased field and whether ordering is needed */
typedef struct TextArg
{
	const char *s;
	int			len;
	bool		order;
} TextArg;

static int
cmp_text(const LmValue *v, void *arg)
{
	TextArg    *t = (TextArg *) arg;

	if (v->text == NULL)
		return CMP_NONE;
	if (strcmp(t->s, v->text) == 0)
		return 0;
	if (!t->order)
		return 1;
	return sign_of(varstr_cmp(t->s, t->len, v->text, strlen(v->text),
							  DEFAULT_COLLATION_OID));
}

static int
cmp_timestamp(const LmValue *v, void *arg)
{
	TimestampTz ts = *(TimestampTz *) arg;

	if (!v->has_timestamp)
		return CMP_NONE;
	return ts < v->timestamp ? -1 : (ts > v->timestamp ? 1 : 0);
}

/* stage: the lead's rank and (lower-cased) stage column, for unranked values */
typedef struct StageArg
{
	int32		rank;
	const char *name;
} StageArg;

static int
cmp_stage(const LmValue *v, void *arg)
{
	StageArg   *s = (StageArg *) arg;

	if (v->stage_rank >= 0)
		return s->rank < v->stage_rank ? -1 : (s->rank > v->stage_rank ? 1 : 0);
	/* a stage the catalog did not know: only equality by name */
	if (s->name != NULL && v->text != NULL && strcmp(s->name, v->text) == 0)
		return 0;
	return CMP_NONE;
}

/* age: age OP V is now OP created_at + V */
typedef struct AgeArg
{
	TimestampTz now;
	TimestampTz created;
} AgeArg;

static int
cmp_age(const LmValue *v, void *arg)
{
	AgeArg	   *a = (AgeArg *) arg;
	TimestampTz threshold;

	if (!v->has_interval)
		return CMP_NONE;
	threshold = add_linear(a->created, &v->interval);
	return a->now < threshold ? -1 : (a->now > threshold ? 1 : 0);
}

/* note a future instant at which an age term changes value */
static void
note_change(LmLeadView *lead, TimestampTz t)
{
	if (t > lead->now && IS_VALID_TIMESTAMP(t) &&
		(lead->next_change == 0 || t < lead->next_change))
		lead->next_change = t;
}

/*
 * Record in lead->next_change when this age term next changes value.  The
 * term compares now with threshold = created_at + V: ">=" and "<" flip when
 * now reaches the threshold, ">" and "<=" one microsecond later, "=" and
 * friends at both.
 */
static void
note_age_changes(const LmCond *c, LmLeadView *lead, TimestampTz created)
{
	int			i;

	if (c->op == LM_OP_EXISTS)
		return;
	for (i = 0; i < c->nvalues; i++)
	{
		TimestampTz threshold;

		if (!c->values[i].has_interval)
			continue;
		threshold = add_linear(created, &c->values[i].interval);
		if (TIMESTAMP_NOT_FINITE(threshold))
			continue;
		if (c->op != LM_OP_GT && c->op != LM_OP_LE)
			note_change(lead, threshold);
		if (c->op != LM_OP_GE && c->op != LM_OP_LT)
			note_change(lead, threshold + 1);
	}
}

/* the comparison of a json scalar attribute with a value */
typedef struct AttrArg
{
	JsonbValue *av;
	char	   *lowered;		/* lower-cased string attribute, made lazily */
	bool		order;
} AttrArg;

static int
cmp_attr_scalar(const LmValue *v, void *arg)
{
	AttrArg    *a = (AttrArg *) arg;
	JsonbValue *av = a->av;
	bool		v_is_string = v->json != NULL && JsonContainerIsScalar(&v->json->root) &&
		JBE_ISSTRING(v->json->root.children[0]);

	switch (av->type)
	{
		case jbvString:
			if (v_is_string)
			{
				TextArg		t;

				if (a->lowered == NULL)
					a->lowered = lower_text(av->val.string.val, av->val.string.len);
				t.s = a->lowered;
				t.len = strlen(a->lowered);
				t.order = a->order;
				return cmp_text(v, &t);
			}
			if (v->has_number &&
				string_is_number(av->val.string.val, av->val.string.len))
			{
				Numeric		n = string_to_numeric(av->val.string.val,
												  av->val.string.len);

				return cmp_number(v, n);
			}
			return CMP_NONE;
		case jbvNumeric:
			if (v->has_number)
				return cmp_number(v, av->val.numeric);
			return CMP_NONE;
		case jbvBool:
			if (v->is_bool)
				return av->val.boolean == v->boolean ? 0 :
					(av->val.boolean ? 1 : -1);
			return CMP_NONE;
		default:
			return CMP_NONE;
	}
}

/*
 * Find attributes.KEY.KEY... in the lead; false when missing or JSON null.
 */
static bool
attribute_lookup(const LmCond *c, const LmLeadView *lead, JsonbValue *out)
{
	Datum		d;
	Jsonb	   *jb;
	JsonbContainer *jc;
	JsonbValue	v;
	int			i;

	if (!lead_column(lead, c->attnum, c->atttypid, &d))
		return false;
	jb = DatumGetJsonbP(d);
	jc = &jb->root;
	v.type = jbvNull;
	for (i = 0; i < c->npath; i++)
	{
		if (!JsonContainerIsObject(jc))
			return false;
		if (getKeyJsonValueFromContainer(jc, c->path[i], strlen(c->path[i]), &v) == NULL)
			return false;
		if (i < c->npath - 1)
		{
			if (v.type != jbvBinary)
				return false;
			jc = v.val.binary.data;
		}
	}
	if (v.type == jbvNull)
		return false;
	*out = v;
	return true;
}

/* the text form of a json scalar for "matches", or NULL */
static text *
attr_scalar_text(const JsonbValue *av)
{
	switch (av->type)
	{
		case jbvString:
			return cstring_to_text_with_len(av->val.string.val, av->val.string.len);
		case jbvNumeric:
			return cstring_to_text(numeric_to_cstring(av->val.numeric));
		case jbvBool:
			return cstring_to_text(av->val.boolean ? "true" : "false");
		default:
			return NULL;
	}
}

static bool
regex_matches(const LmCond *c, Datum subject)
{
	return DatumGetBool(DirectFunctionCall2Coll(texticregexeq,
												DEFAULT_COLLATION_OID,
												subject,
												PointerGetDatum(c->regex_text)));
}

static bool
is_ordering(LmOp op)
{
	return op >= LM_OP_LT && op <= LM_OP_GE;
}

/* a field test on attributes.KEY... */
static bool
eval_attribute(const LmCond *c, LmLeadView *lead)
{
	JsonbValue	av;
	AttrArg		a;

	if (!attribute_lookup(c, lead, &av))
		return false;

	switch (c->op)
	{
		case LM_OP_EXISTS:
			return true;
		case LM_OP_MATCHES:
			{
				text	   *t = attr_scalar_text(&av);

				return t != NULL && regex_matches(c, PointerGetDatum(t));
			}
		case LM_OP_CONTAINS:
			{
				const LmValue *v = &c->values[0];

				if (av.type == jbvString)
				{
					char	   *s = lower_text(av.val.string.val, av.val.string.len);
					bool		r = v->text != NULL && strstr(s, v->text) != NULL;

					pfree(s);
					return r;
				}
				if (av.type == jbvBinary && JsonContainerIsArray(av.val.binary.data))
				{
					JsonbContainer *jc = av.val.binary.data;
					uint32		n = JsonContainerSize(jc);
					uint32		i;

					for (i = 0; i < n; i++)
					{
						JsonbValue *e = getIthJsonbValueFromContainer(jc, i);

						if (e == NULL || e->type == jbvBinary)
							continue;
						a.av = e;
						a.lowered = NULL;
						a.order = false;
						if (cmp_attr_scalar(v, &a) == 0)
							return true;
					}
				}
				return false;
			}
		default:
			a.av = &av;
			a.lowered = NULL;
			a.order = is_ordering(c->op);
			return apply_op(c->op, c->values, c->nvalues, cmp_attr_scalar, &a);
	}
}

/* whether a field name is one of the scores the engine may override */
static bool
score_override(const LmCond *c, const LmLeadView *lead, int32 *score)
{
	if (!lead->scores_valid)
		return false;
	if (strcmp(c->field, "score") == 0)
		*score = lead->score;
	else if (strcmp(c->field, "engagement_score") == 0)
		*score = lead->engagement_score;
	else if (strcmp(c->field, "fit_score") == 0)
		*score = lead->fit_score;
	else
		return false;
	return true;
}

/* a field test */
static bool
eval_field(const LmCond *c, LmLeadView *lead)
{
	Datum		d;

	switch (c->field_kind)
	{
		case LM_FIELD_NUMBER:
			{
				int32		score;
				Numeric		n;

				if (score_override(c, lead, &score))
					n = int64_to_numeric(score);
				else if (lead_column(lead, c->attnum, c->atttypid, &d))
					n = datum_to_numeric(d, c->atttypid);
				else
					return false;
				if (c->op == LM_OP_EXISTS)
					return true;
				return apply_op(c->op, c->values, c->nvalues, cmp_number, n);
			}

		case LM_FIELD_TEXT:
			{
				text	   *t;
				TextArg		ta;
				bool		r;

				if (!lead_column(lead, c->attnum, c->atttypid, &d))
					return false;
				if (c->op == LM_OP_EXISTS)
					return true;
				if (c->op == LM_OP_MATCHES)
					return regex_matches(c, d);
				t = DatumGetTextPP(d);
				ta.s = lower_text(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				ta.len = strlen(ta.s);
				ta.order = is_ordering(c->op);
				if (c->op == LM_OP_CONTAINS)
					r = c->values[0].text != NULL &&
						strstr(ta.s, c->values[0].text) != NULL;
				else
					r = apply_op(c->op, c->values, c->nvalues, cmp_text, &ta);
				pfree((char *) ta.s);
				return r;
			}

		case LM_FIELD_TIMESTAMP:
			{
				TimestampTz ts;

				if (!lead_column(lead, c->attnum, c->atttypid, &d))
					return false;
				if (c->op == LM_OP_EXISTS)
					return true;
				ts = DatumGetTimestampTz(d);
				return apply_op(c->op, c->values, c->nvalues, cmp_timestamp, &ts);
			}

		case LM_FIELD_STAGE:
			{
				StageArg	sa;
				int			i;
				bool		need_name = false;
				bool		r;

				if (lead->stage_rank < 0)
					return false;
				if (c->op == LM_OP_EXISTS)
					return true;
				sa.rank = lead->stage_rank;
				sa.name = NULL;
				for (i = 0; i < c->nvalues; i++)
					if (c->values[i].stage_rank < 0)
						need_name = true;
				if (need_name && lead_column(lead, c->attnum, c->atttypid, &d))
				{
					text	   *t = DatumGetTextPP(d);

					sa.name = lower_text(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				}
				r = apply_op(c->op, c->values, c->nvalues, cmp_stage, &sa);
				if (sa.name)
					pfree((char *) sa.name);
				return r;
			}

		case LM_FIELD_AGE:
			{
				AgeArg		aa;

				if (!lead_column(lead, c->attnum, c->atttypid, &d))
					return false;
				if (c->op == LM_OP_EXISTS)
					return true;
				aa.now = lead->now;
				aa.created = DatumGetTimestampTz(d);
				note_age_changes(c, lead, aa.created);
				return apply_op(c->op, c->values, c->nvalues, cmp_age, &aa);
			}

		case LM_FIELD_ATTRIBUTE:
			return eval_attribute(c, lead);

		case LM_FIELD_JSONB:
			{
				Jsonb	   *jb;
				Jsonb	   *tmpl;
				JsonbIterator *it1;
				JsonbIterator *it2;

				if (!lead_column(lead, c->attnum, c->atttypid, &d))
					return false;
				if (c->op == LM_OP_EXISTS)
					return true;
				if (c->op != LM_OP_CONTAINS || c->nvalues < 1 ||
					c->values[0].json == NULL)
					return false;
				jb = DatumGetJsonbP(d);
				tmpl = c->values[0].json;
				if (JB_ROOT_IS_OBJECT(jb) != JB_ROOT_IS_OBJECT(tmpl))
					return false;
				it1 = JsonbIteratorInit(&jb->root);
				it2 = JsonbIteratorInit(&tmpl->root);
				return JsonbDeepContains(&it1, &it2);
			}
	}
	return false;
}

/*
 * For a subtree that short-circuit evaluation skipped: still record when
 * its age terms change, so next_change covers every age term.
 */
static void
note_skipped(const LmCond *cond, LmLeadView *lead)
{
	ListCell   *lc;

	switch (cond->kind)
	{
		case LM_COND_ALL:
		case LM_COND_ANY:
			foreach(lc, cond->args)
				note_skipped((const LmCond *) lfirst(lc), lead);
			break;
		case LM_COND_NOT:
			note_skipped(cond->arg, lead);
			break;
		case LM_COND_FIELD:
			if (cond->field_kind == LM_FIELD_AGE)
				(void) eval_field(cond, lead);
			break;
		case LM_COND_EVENT:
			break;
	}
}

static bool
eval_node(const LmCond *cond, LmLeadView *lead)
{
	ListCell   *lc;

	switch (cond->kind)
	{
		case LM_COND_ALL:
		case LM_COND_ANY:
			{
				bool		stop_on = cond->kind == LM_COND_ANY;

				foreach(lc, cond->args)
				{
					if (eval_node((const LmCond *) lfirst(lc), lead) == stop_on)
					{
						int			next = foreach_current_index(lc) + 1;
						ListCell   *rest;

						for_each_from(rest, cond->args, next)
							note_skipped((const LmCond *) lfirst(rest), lead);
						return stop_on;
					}
				}
				return !stop_on;
			}
		case LM_COND_NOT:
			return !eval_node(cond->arg, lead);
		case LM_COND_FIELD:
			return eval_field(cond, lead);
		case LM_COND_EVENT:
			{
				int32		count = 0;

				if (lead->counts != NULL && cond->pred >= 0 &&
					cond->pred < lead->ncounts)
					count = lead->counts[cond->pred];
				return count >= cond->min_count &&
					(cond->max_count < 0 || count <= cond->max_count);
			}
	}
	return false;
}

/*
 * Evaluate a parsed condition against a lead (two-valued logic; see the
 * file header).  Updates lead->next_change for age terms.
 */
bool
lm_cond_eval(const LmCond *cond, LmLeadView *lead)
{
	if (cond == NULL)
		return false;
	return eval_node(cond, lead);
}

/*
 * Whether the condition contains an event test anywhere (scoring uses this
 * to class condition rules as engagement or fit).
 */
bool
lm_cond_uses_events(const LmCond *cond)
{
	ListCell   *lc;

	if (cond == NULL)
		return false;
	switch (cond->kind)
	{
		case LM_COND_ALL:
		case LM_COND_ANY:
			foreach(lc, cond->args)
				if (lm_cond_uses_events((const LmCond *) lfirst(lc)))
					return true;
			return false;
		case LM_COND_NOT:
			return lm_cond_uses_events(cond->arg);
		case LM_COND_FIELD:
			return false;
		case LM_COND_EVENT:
			return true;
	}
	return false;
}

/*
 * Whether the condition tests the named field anywhere.  A column name also
 * matches paths into it ("attributes" matches "attributes.plan"), and
 * "created_at" matches "age", which is computed from it.
 */
bool
lm_cond_uses_field(const LmCond *cond, const char *field)
{
	ListCell   *lc;

	if (cond == NULL || field == NULL)
		return false;
	switch (cond->kind)
	{
		case LM_COND_ALL:
		case LM_COND_ANY:
			foreach(lc, cond->args)
				if (lm_cond_uses_field((const LmCond *) lfirst(lc), field))
					return true;
			return false;
		case LM_COND_NOT:
			return lm_cond_uses_field(cond->arg, field);
		case LM_COND_FIELD:
			{
				size_t		len = strlen(field);

				if (strcmp(cond->field, field) == 0)
					return true;
				if (strncmp(cond->field, field, len) == 0 && cond->field[len] == '.')
					return true;
				if (cond->field_kind == LM_FIELD_AGE &&
					strcmp(field, "created_at") == 0)
					return true;
				return false;
			}
		case LM_COND_EVENT:
			return false;
	}
	return false;
}

/*
 * The SQL name of a context ("scoring_rule", "stage", "segment",
 * "assignment_rule", "sequence").
 */
const char *
lm_cond_context_name(LmCondContext ctx)
{
	if ((int) ctx < 0 || (int) ctx >= (int) lengthof(context_names))
		elog(ERROR, "invalid condition context %d", (int) ctx);
	return context_names[ctx];
}

/*
 * The context with the given SQL name; an unknown name is a user error.
 */
LmCondContext
lm_cond_context_from_name(const char *name)
{
	int			i;

	for (i = 0; i < lengthof(context_names); i++)
	{
		if (name != NULL && strcmp(name, context_names[i]) == 0)
			return (LmCondContext) i;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown condition context \"%s\"", name ? name : ""),
			 errhint("Use one of scoring_rule, stage, segment, assignment_rule, sequence.")));
	pg_unreachable();
}


/* ----------------------------------------------------------------
 * Catalog lookups for validation, and lead_mgmt.validate_condition()
 * ----------------------------------------------------------------
 */

/*
 * Prepare (once per backend) and keep an SPI plan taking one text
 * argument.  Must be called inside an SPI connection.
 */
static SPIPlanPtr
keep_plan(SPIPlanPtr *slot, const char *query)
{
	if (*slot == NULL)
	{
		Oid			argtypes[1] = {TEXTOID};
		SPIPlanPtr	plan = SPI_prepare(query, 1, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s",
				 query, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*slot = plan;
	}
	return *slot;
}

/*
 * Whether an event type is registered in lead_mgmt.event_types.  Opens its
 * own (possibly nested) SPI connection, so callers need none.
 */
static bool
catalog_event_type_exists(void *arg, const char *name)
{
	SPIPlanPtr	plan;
	Datum		values[1];
	int			rc;
	bool		found;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = keep_plan(&event_type_plan,
					 "SELECT 1 FROM lead_mgmt.event_types "
					 "WHERE name OPERATOR(pg_catalog.=) $1");
	values[0] = CStringGetTextDatum(name);
	rc = SPI_execute_plan(plan, values, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	found = SPI_processed > 0;
	SPI_finish();
	return found;
}

/*
 * The rank of a stage in lead_mgmt.stages, or -1 if there is none of that
 * name.  Opens its own SPI connection.
 */
static int32
catalog_stage_rank(void *arg, const char *name)
{
	SPIPlanPtr	plan;
	Datum		values[1];
	int			rc;
	int32		rank = -1;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = keep_plan(&stage_rank_plan,
					 "SELECT rank FROM lead_mgmt.stages "
					 "WHERE name OPERATOR(pg_catalog.=) $1");
	values[0] = CStringGetTextDatum(name);
	rc = SPI_execute_plan(plan, values, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (SPI_processed > 0)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			rank = DatumGetInt32(d);
	}
	SPI_finish();
	return rank;
}

/*
 * A catalog for validating conditions against the database as it is now:
 * a copy of lead_mgmt.leads' tuple descriptor, and event type and stage
 * lookups that query lead_mgmt.event_types and lead_mgmt.stages (each
 * callback opens its own SPI connection, so this works inside or outside
 * SPI).  Not lenient.  Built in CurrentMemoryContext.
 */
LmCondCatalog *
lm_catalog_for_validation(void)
{
	LmCondCatalog *cat = (LmCondCatalog *) palloc0(sizeof(LmCondCatalog));
	Oid			nsp = get_namespace_oid("lead_mgmt", false);
	Oid			relid = get_relname_relid("leads", nsp);
	Relation	rel;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"lead_mgmt.leads\" does not exist"),
				 errhint("Reinstall the extension with DROP EXTENSION lead_mgmt; "
						 "CREATE EXTENSION lead_mgmt.")));
	rel = relation_open(relid, AccessShareLock);
	cat->leads_desc = CreateTupleDescCopy(RelationGetDescr(rel));
	relation_close(rel, NoLock);

	cat->event_type_exists = catalog_event_type_exists;
	cat->stage_rank = catalog_stage_rank;
	cat->arg = NULL;
	cat->lenient = false;
	return cat;
}

PG_FUNCTION_INFO_V1(lm_validate_condition);

/*
 * lead_mgmt.validate_condition(condition jsonb, context text) returns bool:
 * true when the condition is valid in the context; otherwise the parser's
 * error says where and why.
 */
Datum
lm_validate_condition(PG_FUNCTION_ARGS)
{
	Jsonb	   *cond = PG_GETARG_JSONB_P(0);
	char	   *ctxname = text_to_cstring(PG_GETARG_TEXT_PP(1));
	LmCondContext ctx = lm_cond_context_from_name(ctxname);
	LmCondCatalog *cat = lm_catalog_for_validation();

	(void) lm_cond_parse(cond, ctx, cat, NULL);
	PG_RETURN_BOOL(true);
}
