/*-------------------------------------------------------------------------
 * nurture.c
 *	  Nurture enrolment and exit.
 *
 * Each lead carries the ids of the sequences it was ever enrolled in
 * (leads.sequence_ids, ascending): enrolment happens once per lead and
 * sequence, when the enroll_condition holds (re-evaluated, like segments,
 * only when something it depends on changed).  An enrolled sequence's
 * exit_condition, or the lead becoming a customer, disqualified or
 * unsubscribed, exits it.  Decisions are queued (TopTransactionContext) and
 * written by the statement trigger on leads through lead_mgmt._exit() and
 * lead_mgmt._enroll(), which also create the first touch.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "condition.h"
#include "nurture.h"
#include "util.h"

typedef struct LmNurtureItem
{
	SubTransactionId subid;	/* first: see LmQueuedItem */
	bool		enroll;			/* else exit */
	int64		lead_id;
	int64		sequence_id;	/* exit: 0 means every enrolment */
	const char *reason;
	TimestampTz at;
} LmNurtureItem;

static List *queued = NIL;
static SPIPlanPtr plan_enroll = NULL;
static SPIPlanPtr plan_exit = NULL;

static void
queue(bool enroll, int64 lead_id, int64 sequence_id, const char *reason, TimestampTz at)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	LmNurtureItem *it = palloc(sizeof(LmNurtureItem));

	it->enroll = enroll;
	it->lead_id = lead_id;
	it->sequence_id = sequence_id;
	it->reason = reason;		/* static strings only */
	it->at = at;
	it->subid = GetCurrentSubTransactionId();
	queued = lappend(queued, it);
	MemoryContextSwitchTo(old);
}

static bool
id_in(const int64 *ids, int n, int64 id)
{
	for (int i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/*
 * Decides enrolments and exits for one lead; returns the sequences it was
 * ever enrolled in (ascending, palloc'd).
 */
void
lm_nurture_decide(LmCache *cache, const LmNurtureInput *in, int64 **new_ids, int *n_new)
{
	const LmSegmentInput *s = in->seg;
	int64	   *ids = palloc(sizeof(int64) * (in->n_old + cache->n_sequences + 1));
	int			n = 0;
	int			k = 0;

	if (in->exit_all != NULL && in->n_old > 0)
		queue(false, s->lead_id, 0, in->exit_all, s->now);

	for (int i = 0; i < cache->n_sequences; i++)
	{
		const LmSequence *sq = &cache->sequences[i];
		bool		enrolled = id_in(in->old_ids, in->n_old, sq->id);

		if (enrolled)
		{
			if (in->exit_all == NULL && sq->has_exit &&
				lm_segment_affected(&sq->exit, s) && lm_cond_eval(sq->exit.cond, s->view))
				queue(false, s->lead_id, sq->id, "exit_condition", s->now);
			continue;
		}
		if (!in->can_enroll || !lm_segment_affected(&sq->enroll, s))
			continue;
		if (!lm_cond_eval(sq->enroll.cond, s->view))
			continue;
		if (sq->has_exit && lm_cond_eval(sq->exit.cond, s->view))
			continue;			/* would leave at once: do not start */
		queue(true, s->lead_id, sq->id, NULL, s->now);
		ids[n++] = sq->id;
	}

	/* merge with the old ids (they stay: enrolment is once per sequence) */
	{
		int64	   *merged = palloc(sizeof(int64) * (in->n_old + n + 1));
		int			a = 0;
		int			b = 0;

		while (a < in->n_old || b < n)
		{
			if (b >= n || (a < in->n_old && in->old_ids[a] < ids[b]))
				merged[k++] = in->old_ids[a++];
			else
				merged[k++] = ids[b++];
		}
		*new_ids = merged;
		*n_new = k;
	}
}

/* Writes queued exits, then enrolments (with their first touches). */
void
lm_nurture_flush(void)
{
	List	   *items = lm_take_current(&queued);
	int			n = list_length(items);
	int64	   *el = palloc(sizeof(int64) * Max(n, 1));
	int64	   *es = palloc(sizeof(int64) * Max(n, 1));
	TimestampTz *et = palloc(sizeof(TimestampTz) * Max(n, 1));
	int64	   *xl = palloc(sizeof(int64) * Max(n, 1));
	int64	   *xs = palloc(sizeof(int64) * Max(n, 1));
	char	  **xr = palloc(sizeof(char *) * Max(n, 1));
	TimestampTz *xt = palloc(sizeof(TimestampTz) * Max(n, 1));
	int			ne = 0;
	int			nx = 0;
	ListCell   *lc;

	if (n == 0)
		return;
	foreach(lc, items)
	{
		LmNurtureItem *it = lfirst(lc);

		if (it->enroll)
		{
			el[ne] = it->lead_id;
			es[ne] = it->sequence_id;
			et[ne++] = it->at;
		}
		else
		{
			xl[nx] = it->lead_id;
			xs[nx] = it->sequence_id;
			xr[nx] = (char *) it->reason;
			xt[nx++] = it->at;
		}
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lead_mgmt: SPI_connect failed");
	if (nx > 0)
	{
		Oid			types[4] = {INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID};
		Datum		args[4];

		args[0] = PointerGetDatum(lm_int8_array(xl, nx));
		args[1] = PointerGetDatum(lm_int8_array(xs, nx));
		args[2] = PointerGetDatum(lm_text_array(xr, nx));
		args[3] = PointerGetDatum(lm_timestamptz_array(xt, nx));
		if (SPI_execute_plan(lm_plan(&plan_exit, "SELECT lead_mgmt._exit($1, $2, $3, $4)", 4, types),
							 args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "lead_mgmt: exiting enrolments failed");
	}
	if (ne > 0)
	{
		Oid			types[3] = {INT8ARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID};
		Datum		args[3];

		args[0] = PointerGetDatum(lm_int8_array(el, ne));
		args[1] = PointerGetDatum(lm_int8_array(es, ne));
		args[2] = PointerGetDatum(lm_timestamptz_array(et, ne));
		if (SPI_execute_plan(lm_plan(&plan_enroll, "SELECT lead_mgmt._enroll($1, $2, $3)", 3, types),
							 args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "lead_mgmt: enrolling failed");
	}
	SPI_finish();
}

/* Forgets queued decisions (all, or an aborted subtransaction's). */
void
lm_nurture_reset(SubTransactionId aborted)
{
	queued = lm_drop_aborted(queued, aborted);
}
