/*-------------------------------------------------------------------------
 * analytics.c
 *	  The counting behind funnel() and the funnel views:
 *	  lead_mgmt._segment_funnel(from, to) gives, for each segment and for
 *	  the leads in no segment, how many leads created in [from, to) it
 *	  holds, how many of them are at or beyond iql, mql, sql and customer,
 *	  and how many started a trial; lead_mgmt._group_funnel(from, to,
 *	  group_by) the same for each channel, campaign or owner, or for all
 *	  the leads of the range; lead_mgmt._reach_days(with_deals) the leads,
 *	  trials and won deals per day of creation, channel, campaign and
 *	  stage, which funnel_by_month and acquisition_costs sum.
 *
 * In SQL this is a join of every membership (1.6M for 1M leads) to the
 * leads of the range: a hash table of a million leads, or bitmaps built out
 * of bit strings, 1.2-1.6 s at 1M leads.  Here each lead of the range gets
 * a byte of flags, kept in an array indexed by lead id (or, when the ids
 * are too sparse for that, sorted by id and searched), and each membership
 * costs one lookup.
 *
 * Rules: every query runs through SPI as the caller, so permissions and
 * row security apply as they do to the views.  Rows are read from the
 * executor's slots by a DestReceiver of our own, not copied into an SPI
 * tuple table.  JIT is off for the queries (plain scans: it would only add
 * compile time).  All memory is in the function's context (st->cxt, not
 * SPI's, which the executor's callbacks do not run in): the
 * flags of the leads of the range, 16 bytes a lead, and the dense array,
 * one byte for each id between the smallest and the largest; for
 * _group_funnel, 8 bytes a lead with a trial (or a byte for each id between
 * the smallest and the largest of them) and the groups seen, not the leads;
 * for _reach_days the same, and the won deals (see there).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "analytics.h"
#include "util.h"

PG_FUNCTION_INFO_V1(lm_segment_funnel);
PG_FUNCTION_INFO_V1(lm_group_funnel);
PG_FUNCTION_INFO_V1(lm_reach_days);

/* flags of a lead of the range */
#define F_IQL		0x01
#define F_MQL		0x02
#define F_SQL		0x04
#define F_CUSTOMER	0x08
#define F_TRIAL		0x10
#define F_MEMBER	0x20		/* in at least one segment */
#define F_IN_RANGE	0x40		/* dense array only: a lead of the range */

/* the counts of one group, in the order of the result's columns */
enum
{
	C_LEADS, C_IQL, C_MQL, C_SQL, C_CUSTOMERS, C_TRIALS, N_COUNTS
};

typedef struct RangeLead
{
	int64		id;
	uint8		flags;
} RangeLead;

/*
 * The leads with a trial (_group_funnel, _reach_days): their ids, then
 * either a byte for each id between the smallest and the largest (dense)
 * or the ids sorted.
 */
typedef struct TrialSet
{
	int64	   *ids;
	int64		n;
	int64		cap;
	uint8	   *dense;
	int64		min;
	int64		max;
} TrialSet;

typedef struct FunnelState
{
	MemoryContext cxt;			/* where everything below lives */

	/* the stages: name, rank and the flags a lead at that stage gets */
	int			nstages;
	int			capstages;
	text	  **stage_names;
	int32	   *stage_ranks;
	uint8	   *stage_flags;

	/* the leads of the range, in the order read; sorted when sparse */
	RangeLead  *leads;
	int64		nleads;
	int64		capleads;
	int64		min_id;
	int64		max_id;

	/* dense lookup: flags by id - min_id (NULL when sparse) */
	uint8	   *dense;

	/* the segments (sorted ids) and their counts; [nseg] is "no segment" */
	int64	   *seg_ids;
	int			nseg;
	int			capseg;
	int64	  (*counts)[N_COUNTS];

	/* the leads with a trial (_group_funnel, _reach_days) */
	TrialSet	trials;

	/* the calling function's own state (GroupFunnelState, ReachState) */
	void	   *group_state;
} FunnelState;

/* a DestReceiver that hands each row's slot to a callback */
typedef struct RowReceiver
{
	DestReceiver pub;
	void		(*row) (FunnelState *st, TupleTableSlot *slot);
	FunnelState *st;
} RowReceiver;

static bool
receive_row(TupleTableSlot *slot, DestReceiver *self)
{
	RowReceiver *r = (RowReceiver *) self;

	r->row(r->st, slot);
	return true;
}

static void
receiver_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
receiver_shutdown(DestReceiver *self)
{
}

static void
receiver_destroy(DestReceiver *self)
{
}

/*
 * Runs a kept plan read-only with nargs parameters of the given types,
 * passing each row to fn.
 */
static void
run_rows(SPIPlanPtr plan, int nargs, const Oid *types, const Datum *args, FunnelState *st,
		 void (*fn) (FunnelState *st, TupleTableSlot *slot))
{
	RowReceiver r;
	SPIExecuteOptions opts;
	ParamListInfo params = NULL;
	int			rc;

	memset(&r, 0, sizeof(r));
	r.pub.receiveSlot = receive_row;
	r.pub.rStartup = receiver_startup;
	r.pub.rShutdown = receiver_shutdown;
	r.pub.rDestroy = receiver_destroy;
	r.pub.mydest = DestNone;
	r.row = fn;
	r.st = st;

	if (nargs > 0)
	{
		params = makeParamList(nargs);
		for (int i = 0; i < nargs; i++)
		{
			params->params[i].value = args[i];
			params->params[i].isnull = false;
			params->params[i].pflags = PARAM_FLAG_CONST;
			params->params[i].ptype = types[i];
		}
	}
	memset(&opts, 0, sizeof(opts));
	opts.params = params;
	opts.read_only = true;
	opts.dest = (DestReceiver *) &r;
	rc = SPI_execute_plan_extended(plan, &opts);
	/* SPI_OK_UTILITY: SPI's word for a SELECT whose rows went to DestNone */
	if (rc != SPI_OK_SELECT && rc != SPI_OK_UTILITY)
		elog(ERROR, "lead_mgmt: reading the funnel's rows failed: %s",
			 SPI_result_code_string(rc));
}

/* a stage: its name and rank (the stages are few) */
static void
stage_row(FunnelState *st, TupleTableSlot *slot)
{
	MemoryContext old = MemoryContextSwitchTo(st->cxt);

	slot_getsomeattrs(slot, 2);
	if (st->nstages == st->capstages)
	{
		st->capstages = st->capstages ? st->capstages * 2 : 8;
		st->stage_names = st->stage_names ? repalloc(st->stage_names, sizeof(text *) * st->capstages)
			: palloc(sizeof(text *) * st->capstages);
		st->stage_ranks = st->stage_ranks ? repalloc(st->stage_ranks, sizeof(int32) * st->capstages)
			: palloc(sizeof(int32) * st->capstages);
	}
	st->stage_names[st->nstages] = DatumGetTextPCopy(slot->tts_values[0]);
	st->stage_ranks[st->nstages] = DatumGetInt32(slot->tts_values[1]);
	st->nstages++;
	MemoryContextSwitchTo(old);
}

/*
 * The flags of a lead at each stage: at or beyond iql when its rank is at
 * least iql's, and so on (a stage missing from the table reaches nothing).
 */
static void
stage_flags(FunnelState *st)
{
	static const char *const names[4] = {"iql", "mql", "sql", "customer"};
	static const uint8 bits[4] = {F_IQL, F_MQL, F_SQL, F_CUSTOMER};

	st->stage_flags = MemoryContextAllocZero(st->cxt, Max(st->nstages, 1));
	for (int j = 0; j < st->nstages; j++)
	{
		char	   *name = text_to_cstring(st->stage_names[j]);

		for (int t = 0; t < 4; t++)
			if (strcmp(name, names[t]) == 0)
				for (int i = 0; i < st->nstages; i++)
					if (st->stage_ranks[i] >= st->stage_ranks[j])
						st->stage_flags[i] |= bits[t];
		pfree(name);
	}
}

/* The flags of a lead at stage (NULL, or a stage not in the table: none). */
static uint8
flags_of_stage(FunnelState *st, Datum stage, bool isnull)
{
	text	   *t;
	const char *p;
	Size		len;
	uint8		flags = 0;

	if (isnull)
		return 0;
	t = DatumGetTextPP(stage);
	p = VARDATA_ANY(t);
	len = VARSIZE_ANY_EXHDR(t);
	for (int i = 0; i < st->nstages; i++)
		if (VARSIZE_ANY_EXHDR(st->stage_names[i]) == len &&
			memcmp(VARDATA_ANY(st->stage_names[i]), p, len) == 0)
		{
			flags = st->stage_flags[i];
			break;
		}
	if ((Pointer) t != DatumGetPointer(stage))
		pfree(t);
	return flags;
}

static SPIPlanPtr plan_stages = NULL;

/* Reads the stages and the flags a lead at each gets. */
static void
read_stages(FunnelState *st)
{
	run_rows(lm_plan(&plan_stages,
					 "SELECT st.name, st.rank FROM lead_mgmt.stages st", 0, NULL),
			 0, NULL, NULL, st, stage_row);
	stage_flags(st);
}

/* a lead of the range: its id and stage (NULL: none) */
static void
lead_row(FunnelState *st, TupleTableSlot *slot)
{
	RangeLead  *l;
	int64		id;

	slot_getsomeattrs(slot, 2);
	id = DatumGetInt64(slot->tts_values[0]);
	if (st->nleads == st->capleads)
	{
		st->capleads *= 2;
		st->leads = repalloc_huge(st->leads, sizeof(RangeLead) * st->capleads);
	}
	l = &st->leads[st->nleads++];
	l->id = id;
	l->flags = flags_of_stage(st, slot->tts_values[1], slot->tts_isnull[1]);
	if (st->nleads == 1 || id < st->min_id)
		st->min_id = id;
	if (st->nleads == 1 || id > st->max_id)
		st->max_id = id;
}

/*
 * How many values lie from lo to hi (lo <= hi), saturating: the whole int64
 * range has 2^64 of them, one more than a uint64 holds, and imported ids
 * may span it.
 */
static inline uint64
id_span(int64 lo, int64 hi)
{
	uint64		d = (uint64) hi - (uint64) lo;

	return d == PG_UINT64_MAX ? d : d + 1;
}

/*
 * Are n ids spread over span values dense enough for a byte per value: at
 * most 4 bytes per id, or 1 MB, whichever is more (identity ids of a live
 * table are)?
 */
static inline bool
dense_enough(int64 n, uint64 span)
{
	return span <= Max((uint64) n * 4, (uint64) 1 << 20);
}

static int
cmp_range_lead(const void *a, const void *b)
{
	int64		x = ((const RangeLead *) a)->id;
	int64		y = ((const RangeLead *) b)->id;

	return (x > y) - (x < y);
}

/*
 * Makes the leads of the range searchable by id: an array of flags indexed
 * by id when the ids are dense enough, else the leads sorted by id.
 */
static void
index_leads(FunnelState *st)
{
	uint64		span;

	if (st->nleads == 0)
		return;
	span = id_span(st->min_id, st->max_id);
	if (dense_enough(st->nleads, span))
	{
		st->dense = MemoryContextAllocHuge(st->cxt, span);
		memset(st->dense, 0, span);
		for (int64 i = 0; i < st->nleads; i++)
			st->dense[st->leads[i].id - st->min_id] = st->leads[i].flags | F_IN_RANGE;
	}
	else
		qsort(st->leads, st->nleads, sizeof(RangeLead), cmp_range_lead);
}

/* The flags of lead id, or NULL when it is not a lead of the range. */
static inline uint8 *
lookup_lead(FunnelState *st, int64 id)
{
	if (st->nleads == 0 || id < st->min_id || id > st->max_id)
		return NULL;
	if (st->dense != NULL)
	{
		uint8	   *f = &st->dense[id - st->min_id];

		return (*f & F_IN_RANGE) ? f : NULL;
	}
	else
	{
		RangeLead	key = {.id = id};
		RangeLead  *l = bsearch(&key, st->leads, st->nleads, sizeof(RangeLead), cmp_range_lead);

		return l ? &l->flags : NULL;
	}
}

/* a lead that started a trial */
static void
trial_row(FunnelState *st, TupleTableSlot *slot)
{
	uint8	   *f;

	slot_getsomeattrs(slot, 1);
	if (slot->tts_isnull[0])
		return;
	f = lookup_lead(st, DatumGetInt64(slot->tts_values[0]));
	if (f != NULL)
		*f |= F_TRIAL;
}

/* a segment (rows in id order) */
static void
segment_row(FunnelState *st, TupleTableSlot *slot)
{
	slot_getsomeattrs(slot, 1);
	if (st->nseg == st->capseg)
	{
		st->capseg = st->capseg ? st->capseg * 2 : 16;
		st->seg_ids = st->seg_ids ? repalloc(st->seg_ids, sizeof(int64) * st->capseg)
			: MemoryContextAlloc(st->cxt, sizeof(int64) * st->capseg);
	}
	st->seg_ids[st->nseg++] = DatumGetInt64(slot->tts_values[0]);
}

/* Adds a lead's flags to a group's counts. */
static inline void
count_lead(int64 *c, uint8 flags)
{
	c[C_LEADS]++;
	c[C_IQL] += (flags & F_IQL) != 0;
	c[C_MQL] += (flags & F_MQL) != 0;
	c[C_SQL] += (flags & F_SQL) != 0;
	c[C_CUSTOMERS] += (flags & F_CUSTOMER) != 0;
	c[C_TRIALS] += (flags & F_TRIAL) != 0;
}

/* a membership: counted for its segment if its lead is of the range */
static void
member_row(FunnelState *st, TupleTableSlot *slot)
{
	uint8	   *f;
	int			g;

	slot_getsomeattrs(slot, 2);
	f = lookup_lead(st, DatumGetInt64(slot->tts_values[1]));
	if (f == NULL)
		return;
	/* a segment deleted since they were read is not counted, as before */
	g = lm_int64_find(st->seg_ids, st->nseg, DatumGetInt64(slot->tts_values[0]));
	if (g < 0)
		return;
	count_lead(st->counts[g], *f);
	*f |= F_MEMBER;
}

static SPIPlanPtr plan_leads = NULL;
static SPIPlanPtr plan_trials = NULL;
static SPIPlanPtr plan_segments = NULL;
static SPIPlanPtr plan_members = NULL;

/*
 * lead_mgmt._segment_funnel(from timestamptz, to timestamptz): rows of
 * (segment_id, leads, iql, mql, sql, customers, trials), one for each
 * segment with leads of the range and one with a NULL segment_id for the
 * leads of the range in no segment (when there are such leads).  Leads are
 * counted at their current stage; the caller adds the leads moved by hand.
 * STRICT; funnel() passes -infinity and infinity for open ends.
 */
Datum
lm_segment_funnel(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			range_types[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		range[2];
	FunnelState st;
	int			jit_level;

	range[0] = PG_GETARG_DATUM(0);
	range[1] = PG_GETARG_DATUM(1);

	InitMaterializedSRF(fcinfo, 0);

	memset(&st, 0, sizeof(st));
	st.cxt = CurrentMemoryContext;
	st.capleads = 1024;
	st.leads = MemoryContextAllocHuge(st.cxt, sizeof(RangeLead) * st.capleads);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	jit_level = lm_jit_off();

	read_stages(&st);
	run_rows(lm_plan(&plan_leads,
					 "SELECT l.id, l.stage FROM lead_mgmt.leads l"
					 " WHERE l.created_at OPERATOR(pg_catalog.>=) $1"
					 "   AND l.created_at OPERATOR(pg_catalog.<) $2", 2, range_types),
			 2, range_types, range, &st, lead_row);
	index_leads(&st);
	run_rows(lm_plan(&plan_trials,
					 "SELECT t.lead_id FROM lead_mgmt._trial_leads t", 0, NULL),
			 0, NULL, NULL, &st, trial_row);
	run_rows(lm_plan(&plan_segments,
					 "SELECT sg.id FROM lead_mgmt.segments sg ORDER BY sg.id", 0, NULL),
			 0, NULL, NULL, &st, segment_row);
	st.counts = MemoryContextAllocZero(st.cxt, sizeof(int64[N_COUNTS]) * (st.nseg + 1));
	if (st.nseg > 0 && st.nleads > 0)
		run_rows(lm_plan(&plan_members,
						 "SELECT sm.segment_id, sm.lead_id FROM lead_mgmt.segment_members sm",
						 0, NULL),
				 0, NULL, NULL, &st, member_row);

	/* the leads of the range in no segment */
	for (int64 i = 0; i < st.nleads; i++)
	{
		uint8		flags = st.dense ? st.dense[st.leads[i].id - st.min_id] : st.leads[i].flags;

		if (!(flags & F_MEMBER))
			count_lead(st.counts[st.nseg], flags);
	}

	lm_jit_restore(jit_level);
	SPI_finish();

	for (int g = 0; g <= st.nseg; g++)
	{
		Datum		values[1 + N_COUNTS];
		bool		nulls[1 + N_COUNTS] = {0};

		if (st.counts[g][C_LEADS] == 0)
			continue;
		if (g < st.nseg)
			values[0] = Int64GetDatum(st.seg_ids[g]);
		else
			nulls[0] = true;
		for (int k = 0; k < N_COUNTS; k++)
			values[1 + k] = Int64GetDatum(st.counts[g][k]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * funnel() grouped by a column of the lead (or not grouped), in C as well:
 * one pass over the leads of the range (the same index-only scan the SQL
 * made), each lead's trial looked up in an array of the leads with one
 * (read first, from the partial index of trial_started events), and its
 * group found in a small hash table of the groups seen, instead of a hash
 * join of every lead to the trials and a hash aggregate.
 */

/*
 * An open-addressing index of numbered entries, kept beside their array:
 * a slot holds an entry's number + 1 (0: empty); the size is a power of
 * two, at most half full.  The callers probe it themselves (they compare
 * their own keys) and add through num_index_put().
 */
typedef struct NumIndex
{
	int		   *slots;
	int			nslots;
} NumIndex;

static void
num_index_init(NumIndex *x, MemoryContext cxt, int nslots)
{
	x->nslots = nslots;
	x->slots = MemoryContextAllocZero(cxt, sizeof(int) * nslots);
}

/*
 * Puts entry num into free slot i (where the probe for it ended); once
 * the index is half full (n entries), doubles it, placing each entry again
 * by its hash (hashes[number]).
 */
static void
num_index_put(NumIndex *x, MemoryContext cxt, int i, int num, int n, const uint32 *hashes)
{
	int		   *old_slots = x->slots;
	int			old_n = x->nslots;

	x->slots[i] = num + 1;
	if (n * 2 <= x->nslots)
		return;
	x->nslots *= 2;
	x->slots = MemoryContextAllocExtended(cxt, sizeof(int) * x->nslots,
										  MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (int k = 0; k < old_n; k++)
		if (old_slots[k] != 0)
		{
			int			j = hashes[old_slots[k] - 1] & (x->nslots - 1);

			while (x->slots[j] != 0)
				j = (j + 1) & (x->nslots - 1);
			x->slots[j] = old_slots[k];
		}
	pfree(old_slots);
}

/* the distinct values of a text column, numbered in the order first seen */
typedef struct InternTable
{
	text	  **values;
	uint32	   *hashes;
	int			n;
	int			cap;
	NumIndex	index;
	int			last;			/* the number of the last value found, or -1 */
} InternTable;

static void
intern_init(InternTable *t, MemoryContext cxt)
{
	t->cap = 16;
	t->values = MemoryContextAlloc(cxt, sizeof(text *) * t->cap);
	t->hashes = MemoryContextAlloc(cxt, sizeof(uint32) * t->cap);
	num_index_init(&t->index, cxt, 64);
	t->last = -1;
}

/* The number of a text value (-1 for NULL), numbering it if new. */
static int
intern(InternTable *t, MemoryContext cxt, Datum value, bool isnull)
{
	text	   *v;
	const char *p;
	Size		len;
	uint32		h;
	int			i;
	int			num;

	if (isnull)
		return -1;
	v = DatumGetTextPP(value);
	p = VARDATA_ANY(v);
	len = VARSIZE_ANY_EXHDR(v);
	/* leads next to each other often share the value */
	if (t->last >= 0 && VARSIZE_ANY_EXHDR(t->values[t->last]) == len &&
		memcmp(VARDATA_ANY(t->values[t->last]), p, len) == 0)
	{
		num = t->last;
		goto done;
	}
	h = hash_bytes((const unsigned char *) p, (int) len);
	for (i = h & (t->index.nslots - 1); t->index.slots[i] != 0; i = (i + 1) & (t->index.nslots - 1))
	{
		num = t->index.slots[i] - 1;
		if (t->hashes[num] == h && VARSIZE_ANY_EXHDR(t->values[num]) == len &&
			memcmp(VARDATA_ANY(t->values[num]), p, len) == 0)
			goto found;
	}
	/* a new value */
	if (t->n == t->cap)
	{
		t->cap *= 2;
		t->values = repalloc(t->values, sizeof(text *) * t->cap);
		t->hashes = repalloc(t->hashes, sizeof(uint32) * t->cap);
	}
	num = t->n++;
	t->values[num] = (text *) MemoryContextAlloc(cxt, VARHDRSZ + len);
	SET_VARSIZE(t->values[num], VARHDRSZ + len);
	memcpy(VARDATA(t->values[num]), p, len);
	t->hashes[num] = h;
	num_index_put(&t->index, cxt, i, num, t->n, t->hashes);
found:
	t->last = num;
done:
	if ((Pointer) v != DatumGetPointer(value))
		pfree(v);
	return num;
}

/* a lead with a trial (rows of _trial_leads) */
static void
trial_set_row(FunnelState *st, TupleTableSlot *slot)
{
	TrialSet   *t = &st->trials;

	slot_getsomeattrs(slot, 1);
	if (slot->tts_isnull[0])
		return;
	if (t->n == t->cap)
	{
		t->cap = Max(t->cap * 2, 1024);
		t->ids = t->ids == NULL ? MemoryContextAllocHuge(st->cxt, sizeof(int64) * t->cap)
			: repalloc_huge(t->ids, sizeof(int64) * t->cap);
	}
	t->ids[t->n++] = DatumGetInt64(slot->tts_values[0]);
}

/*
 * Reads the leads with a trial into st->trials and makes them searchable:
 * dense bytes by id when dense enough, else sorted.
 */
static void
read_trials(FunnelState *st)
{
	TrialSet   *t = &st->trials;
	uint64		span;

	run_rows(lm_plan(&plan_trials,
					 "SELECT t.lead_id FROM lead_mgmt._trial_leads t", 0, NULL),
			 0, NULL, NULL, st, trial_set_row);
	if (t->n == 0)
		return;
	t->min = t->max = t->ids[0];
	for (int64 i = 1; i < t->n; i++)
	{
		t->min = Min(t->min, t->ids[i]);
		t->max = Max(t->max, t->ids[i]);
	}
	span = id_span(t->min, t->max);
	if (dense_enough(t->n, span))
	{
		t->dense = MemoryContextAllocHuge(st->cxt, span);
		memset(t->dense, 0, span);
		for (int64 i = 0; i < t->n; i++)
			t->dense[t->ids[i] - t->min] = 1;
	}
	else
		qsort(t->ids, t->n, sizeof(int64), lm_cmp_int64);
}

/* Did lead id start a trial? */
static inline bool
has_trial(const TrialSet *t, int64 id)
{
	if (t->n == 0)
		return false;
	if (t->dense != NULL)
		return id >= t->min && id <= t->max && t->dense[id - t->min] != 0;
	return bsearch(&id, t->ids, t->n, sizeof(int64), lm_cmp_int64) != NULL;
}

/* _group_funnel's groups: their values, numbered, and counts by number */
typedef struct GroupFunnelState
{
	InternTable values;
	int64	  (*counts)[N_COUNTS];
	int			capcounts;
	int64		null_counts[N_COUNTS];	/* the leads without a value */
	bool		has_null;
} GroupFunnelState;

/* a lead of the range: its id, stage and group value */
static void
group_lead_row(FunnelState *st, TupleTableSlot *slot)
{
	GroupFunnelState *gs = (GroupFunnelState *) st->group_state;
	uint8		flags;
	int			g;

	slot_getsomeattrs(slot, 3);
	flags = flags_of_stage(st, slot->tts_values[1], slot->tts_isnull[1]);
	if (has_trial(&st->trials, DatumGetInt64(slot->tts_values[0])))
		flags |= F_TRIAL;
	g = intern(&gs->values, st->cxt, slot->tts_values[2], slot->tts_isnull[2]);
	if (g < 0)
	{
		gs->has_null = true;
		count_lead(gs->null_counts, flags);
		return;
	}
	if (gs->values.n > gs->capcounts)
	{
		int			old = gs->capcounts;

		gs->capcounts *= 2;
		gs->counts = repalloc(gs->counts, sizeof(int64[N_COUNTS]) * gs->capcounts);
		memset(gs->counts[old], 0, sizeof(int64[N_COUNTS]) * (gs->capcounts - old));
	}
	count_lead(gs->counts[g], flags);
}

static SPIPlanPtr plan_group_leads[4] = {NULL, NULL, NULL, NULL};

/*
 * lead_mgmt._group_funnel(from timestamptz, to timestamptz, group_by
 * text): rows of (group_value, leads, iql, mql, sql, customers, trials),
 * one for each value of the grouping among the leads created in [from,
 * to) (a NULL group_value for the leads without one).  group_by is
 * 'channel', 'campaign', 'owner' (owner_id as text) or 'all' (one group,
 * '(all)').  Leads are counted at their current stage; the caller adds
 * the leads moved by hand.  STRICT; funnel() passes -infinity and infinity
 * for open ends.
 */
Datum
lm_group_funnel(PG_FUNCTION_ARGS)
{
	static const char *const names[4] = {"channel", "campaign", "owner", "all"};
	static const char *const exprs[4] = {"l.channel", "l.campaign", "l.owner_id::pg_catalog.text",
	"'(all)'::pg_catalog.text"};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			range_types[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		range[2];
	char	   *by = text_to_cstring(PG_GETARG_TEXT_PP(2));
	int			k = -1;
	FunnelState st;
	GroupFunnelState	gs;
	int			jit_level;
	char		sql[256];

	for (int i = 0; i < 4; i++)
		if (strcmp(by, names[i]) == 0)
			k = i;
	if (k < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown funnel grouping \"%s\"", by),
				 errhint("Group by channel, campaign, owner or all.")));
	range[0] = PG_GETARG_DATUM(0);
	range[1] = PG_GETARG_DATUM(1);

	InitMaterializedSRF(fcinfo, 0);

	memset(&st, 0, sizeof(st));
	memset(&gs, 0, sizeof(gs));
	st.cxt = CurrentMemoryContext;
	st.group_state = &gs;
	intern_init(&gs.values, st.cxt);
	gs.capcounts = 64;
	gs.counts = MemoryContextAllocZero(st.cxt, sizeof(int64[N_COUNTS]) * gs.capcounts);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	jit_level = lm_jit_off();

	read_stages(&st);
	read_trials(&st);
	snprintf(sql, sizeof(sql),
			 "SELECT l.id, l.stage, %s FROM lead_mgmt.leads l"
			 " WHERE l.created_at OPERATOR(pg_catalog.>=) $1"
			 "   AND l.created_at OPERATOR(pg_catalog.<) $2", exprs[k]);
	run_rows(lm_plan(&plan_group_leads[k], sql, 2, range_types),
			 2, range_types, range, &st, group_lead_row);

	lm_jit_restore(jit_level);
	SPI_finish();

	for (int g = gs.has_null ? -1 : 0; g < gs.values.n; g++)
	{
		const int64 *counts = g < 0 ? gs.null_counts : gs.counts[g];
		Datum		values[1 + N_COUNTS];
		bool		nulls[1 + N_COUNTS] = {0};

		if (g >= 0)
			values[0] = PointerGetDatum(gs.values.values[g]);
		else
			nulls[0] = true;
		for (int c = 0; c < N_COUNTS; c++)
			values[1 + c] = Int64GetDatum(counts[c]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * The rows the funnel views and acquisition_costs sum, in C as well:
 * lead_mgmt._reach_days(with_deals) counts every lead once, per day of
 * creation (in the session's time zone, as created_at::date), channel,
 * campaign and current stage, with how many of them started a trial and,
 * with_deals, how many deals they won and for how much, and when the
 * first and the last of them was created (unknown_campaigns).  In SQL this was a
 * hash join of every lead to the leads with a trial (and to the won deals,
 * aggregated per lead) and a hash aggregate of the join on three text
 * columns and a date (1M leads: 0.7-1.0 s, acquisition_costs 1.0-1.5 s);
 * here the trials and deals are arrays searched by id, each text column's
 * few distinct values are numbered once, and a lead's day is recomputed
 * only when its created_at leaves the previous lead's day (the leads come
 * in index order, by created_at).
 *
 * Memory: the trials (as in _group_funnel), the won deals (16 bytes each,
 * and with dense ids 4 bytes for each id between the smallest and the
 * largest), the distinct values and the groups; not the leads.
 */

/* a group of _reach_days: day, channel, campaign, stage (-1: NULL) */
typedef struct ReachKey
{
	int32		day;
	int32		channel;
	int32		campaign;
	int32		stage;
} ReachKey;

typedef struct ReachGroup
{
	ReachKey	key;
	int64		leads;
	int64		trials;
	int64		deals;
	Datum		revenue;		/* numeric; valid when deals > 0 */
	TimestampTz first_at;		/* the earliest and latest created_at */
	TimestampTz last_at;
} ReachGroup;

/* a won deal: its lead (first: the deals are sorted as int64s) and amount */
typedef struct WonDeal
{
	int64		lead_id;
	Datum		amount;
} WonDeal;

typedef struct ReachState
{
	FunnelState *st;			/* the trials, and st->cxt for memory */
	bool		with_deals;

	InternTable channels;
	InternTable campaigns;
	InternTable stages;

	/* the day of the last lead, and the instants it starts and ends */
	DateADT		day;
	TimestampTz day_lo;
	TimestampTz day_hi;

	/* the won deals, sorted by lead; dense: index + 1 of a lead's first */
	WonDeal    *deals;
	int64		ndeals;
	int64		capdeals;
	int32	   *deal_dense;
	int64		deal_min;
	int64		deal_max;

	/* the groups, their hashes, and an index of them */
	ReachGroup *groups;
	uint32	   *hashes;
	int			ngroups;
	int			capgroups;
	NumIndex	index;
} ReachState;

/*
 * The creation day of a lead created at ts, in the session's time zone.
 * The day's first and last instants are kept, so that the next lead of
 * the same day (the next lead, mostly) costs two comparisons instead of a
 * time zone conversion; days at the ends of the timestamp range, where the
 * next day's start may not be representable, are not kept.
 */
static DateADT
reach_day(ReachState *rs, TimestampTz ts)
{
	DateADT		d;

	if (ts >= rs->day_lo && ts < rs->day_hi)
		return rs->day;
	d = DatumGetDateADT(DirectFunctionCall1(timestamptz_date, TimestampTzGetDatum(ts)));
	rs->day_lo = rs->day_hi = 0;
	if (!TIMESTAMP_NOT_FINITE(ts) && !DATE_NOT_FINITE(d) &&
		d > DATETIME_MIN_JULIAN - POSTGRES_EPOCH_JDATE + 2 &&
		d < TIMESTAMP_END_JULIAN - POSTGRES_EPOCH_JDATE - 2)
	{
		rs->day = d;
		rs->day_lo = DatumGetTimestampTz(DirectFunctionCall1(date_timestamptz, DateADTGetDatum(d)));
		rs->day_hi = DatumGetTimestampTz(DirectFunctionCall1(date_timestamptz, DateADTGetDatum(d + 1)));
	}
	return d;
}

/* a won deal (rows of lead_id, amount) */
static void
won_deal_row(FunnelState *st, TupleTableSlot *slot)
{
	ReachState *rs = (ReachState *) st->group_state;
	MemoryContext old;

	slot_getsomeattrs(slot, 2);
	if (slot->tts_isnull[0] || slot->tts_isnull[1])
		return;
	if (rs->ndeals == rs->capdeals)
	{
		rs->capdeals *= 2;
		rs->deals = repalloc_huge(rs->deals, sizeof(WonDeal) * rs->capdeals);
	}
	old = MemoryContextSwitchTo(st->cxt);
	rs->deals[rs->ndeals].lead_id = DatumGetInt64(slot->tts_values[0]);
	rs->deals[rs->ndeals].amount = PointerGetDatum(PG_DETOAST_DATUM_COPY(slot->tts_values[1]));
	rs->ndeals++;
	MemoryContextSwitchTo(old);
}

/*
 * Sorts the won deals by lead, and indexes the first of each lead by id
 * when the ids are dense enough (4 bytes an id, at most 16 ids a deal or
 * 4M ids).
 */
static void
index_deals(ReachState *rs)
{
	uint64		span;

	if (rs->ndeals == 0)
		return;
	/* by lead_id, their first member */
	qsort(rs->deals, rs->ndeals, sizeof(WonDeal), lm_cmp_int64);
	rs->deal_min = rs->deals[0].lead_id;
	rs->deal_max = rs->deals[rs->ndeals - 1].lead_id;
	span = id_span(rs->deal_min, rs->deal_max);
	if (span <= Max((uint64) rs->ndeals * 16, (uint64) 1 << 22) && rs->ndeals < PG_INT32_MAX)
	{
		rs->deal_dense = MemoryContextAllocHuge(rs->st->cxt, sizeof(int32) * span);
		memset(rs->deal_dense, 0, sizeof(int32) * span);
		for (int64 i = rs->ndeals - 1; i >= 0; i--)
			rs->deal_dense[rs->deals[i].lead_id - rs->deal_min] = (int32) (i + 1);
	}
}

/* The index of lead id's first won deal, or -1. */
static int64
first_deal(ReachState *rs, int64 id)
{
	int64		lo,
				hi;

	if (rs->ndeals == 0 || id < rs->deal_min || id > rs->deal_max)
		return -1;
	if (rs->deal_dense != NULL)
		return (int64) rs->deal_dense[id - rs->deal_min] - 1;
	/* the first deal with lead_id >= id */
	lo = 0;
	hi = rs->ndeals;
	while (lo < hi)
	{
		int64		mid = lo + (hi - lo) / 2;

		if (rs->deals[mid].lead_id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo < rs->ndeals && rs->deals[lo].lead_id == id) ? lo : -1;
}

/* The group of key, added if new. */
static ReachGroup *
reach_group(ReachState *rs, const ReachKey *key)
{
	uint32		h = hash_bytes((const unsigned char *) key, sizeof(ReachKey));
	NumIndex   *x = &rs->index;
	int			i;
	ReachGroup *g;

	for (i = h & (x->nslots - 1); x->slots[i] != 0; i = (i + 1) & (x->nslots - 1))
	{
		int			num = x->slots[i] - 1;

		if (rs->hashes[num] == h && memcmp(&rs->groups[num].key, key, sizeof(ReachKey)) == 0)
			return &rs->groups[num];
	}
	if (rs->ngroups == rs->capgroups)
	{
		rs->capgroups *= 2;
		rs->groups = repalloc_huge(rs->groups, sizeof(ReachGroup) * rs->capgroups);
		rs->hashes = repalloc_huge(rs->hashes, sizeof(uint32) * rs->capgroups);
	}
	g = &rs->groups[rs->ngroups];
	memset(g, 0, sizeof(ReachGroup));
	g->key = *key;
	rs->hashes[rs->ngroups] = h;
	rs->ngroups++;
	num_index_put(x, rs->st->cxt, i, rs->ngroups - 1, rs->ngroups, rs->hashes);
	return g;
}

/* a lead: id, created_at, channel, campaign, stage */
static void
reach_lead_row(FunnelState *st, TupleTableSlot *slot)
{
	ReachState *rs = (ReachState *) st->group_state;
	ReachKey	key;
	ReachGroup *g;
	int64		id;
	TimestampTz ts;

	slot_getsomeattrs(slot, 5);
	id = DatumGetInt64(slot->tts_values[0]);
	if (slot->tts_isnull[1])
		elog(ERROR, "lead_mgmt: lead " INT64_FORMAT " has no created_at", id);	/* NOT NULL */
	ts = DatumGetTimestampTz(slot->tts_values[1]);
	memset(&key, 0, sizeof(key));
	key.day = reach_day(rs, ts);
	key.channel = intern(&rs->channels, st->cxt, slot->tts_values[2], slot->tts_isnull[2]);
	key.campaign = intern(&rs->campaigns, st->cxt, slot->tts_values[3], slot->tts_isnull[3]);
	key.stage = intern(&rs->stages, st->cxt, slot->tts_values[4], slot->tts_isnull[4]);
	g = reach_group(rs, &key);
	if (g->leads == 0 || ts < g->first_at)
		g->first_at = ts;
	if (g->leads == 0 || ts > g->last_at)
		g->last_at = ts;
	g->leads++;
	if (has_trial(&st->trials, id))
		g->trials++;
	if (rs->with_deals)
	{
		int64		i = first_deal(rs, id);

		for (; i >= 0 && i < rs->ndeals && rs->deals[i].lead_id == id; i++)
		{
			MemoryContext old = MemoryContextSwitchTo(st->cxt);

			g->revenue = g->deals == 0 ? rs->deals[i].amount :
				DirectFunctionCall2(numeric_add, g->revenue, rs->deals[i].amount);
			g->deals++;
			MemoryContextSwitchTo(old);
		}
	}
}

static SPIPlanPtr plan_won_deals = NULL;
static SPIPlanPtr plan_reach_leads = NULL;

/*
 * lead_mgmt._reach_days(with_deals boolean): rows of (day, channel,
 * campaign, stage, leads, trials, deals_won, revenue, first_created_at,
 * last_created_at), one for each day (created_at::date), channel, campaign
 * and current stage with leads: how many, how many started a trial, and,
 * with_deals, how many won deals they have and the sum of their amounts
 * (0 and NULL without); and when the first and the last of them was
 * created.  Every lead is counted at its current stage; the caller adds
 * the leads moved by hand.  STRICT.
 */
Datum
lm_reach_days(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FunnelState st;
	ReachState	rs;
	int			jit_level;

	InitMaterializedSRF(fcinfo, 0);

	memset(&st, 0, sizeof(st));
	memset(&rs, 0, sizeof(rs));
	st.cxt = CurrentMemoryContext;
	st.group_state = &rs;
	rs.st = &st;
	rs.with_deals = PG_GETARG_BOOL(0);
	intern_init(&rs.channels, st.cxt);
	intern_init(&rs.campaigns, st.cxt);
	intern_init(&rs.stages, st.cxt);
	rs.capdeals = 1024;
	rs.deals = MemoryContextAllocHuge(st.cxt, sizeof(WonDeal) * rs.capdeals);
	rs.capgroups = 1024;
	rs.groups = MemoryContextAllocHuge(st.cxt, sizeof(ReachGroup) * rs.capgroups);
	rs.hashes = MemoryContextAllocHuge(st.cxt, sizeof(uint32) * rs.capgroups);
	num_index_init(&rs.index, st.cxt, 4096);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	jit_level = lm_jit_off();

	read_trials(&st);
	if (rs.with_deals)
	{
		run_rows(lm_plan(&plan_won_deals,
						 "SELECT d.lead_id, d.amount FROM lead_mgmt.deals d"
						 " WHERE d.status OPERATOR(pg_catalog.=) 'won'", 0, NULL),
				 0, NULL, NULL, &st, won_deal_row);
		index_deals(&rs);
	}
	run_rows(lm_plan(&plan_reach_leads,
					 "SELECT l.id, l.created_at, l.channel, l.campaign, l.stage"
					 "  FROM lead_mgmt.leads l", 0, NULL),
			 0, NULL, NULL, &st, reach_lead_row);

	lm_jit_restore(jit_level);
	SPI_finish();

	for (int i = 0; i < rs.ngroups; i++)
	{
		ReachGroup *g = &rs.groups[i];
		Datum		values[10];
		bool		nulls[10] = {0};

		values[0] = DateADTGetDatum(g->key.day);
		if (g->key.channel >= 0)
			values[1] = PointerGetDatum(rs.channels.values[g->key.channel]);
		else
			nulls[1] = true;
		if (g->key.campaign >= 0)
			values[2] = PointerGetDatum(rs.campaigns.values[g->key.campaign]);
		else
			nulls[2] = true;
		if (g->key.stage >= 0)
			values[3] = PointerGetDatum(rs.stages.values[g->key.stage]);
		else
			nulls[3] = true;
		values[4] = Int64GetDatum(g->leads);
		values[5] = Int64GetDatum(g->trials);
		values[6] = Int64GetDatum(g->deals);
		if (g->deals > 0)
			values[7] = g->revenue;
		else
			nulls[7] = true;
		values[8] = TimestampTzGetDatum(g->first_at);
		values[9] = TimestampTzGetDatum(g->last_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
