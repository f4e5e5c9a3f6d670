/*-------------------------------------------------------------------------
 * analytics.h
 *	  The counting behind funnel() and the funnel views:
 *	  lead_mgmt._segment_funnel(from, to), lead_mgmt._group_funnel(from,
 *	  to, group_by) and lead_mgmt._reach_days(with_deals), SQL-callable.
 *-------------------------------------------------------------------------
 */
#ifndef LM_ANALYTICS_H
#define LM_ANALYTICS_H

#include "postgres.h"

#include "fmgr.h"

extern Datum lm_segment_funnel(PG_FUNCTION_ARGS);
extern Datum lm_group_funnel(PG_FUNCTION_ARGS);
extern Datum lm_reach_days(PG_FUNCTION_ARGS);

#endif							/* LM_ANALYTICS_H */
