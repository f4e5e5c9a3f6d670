/*-------------------------------------------------------------------------
 * analytics.h
 *	  The counting behind funnel(from, to, 'segment'):
 *	  lead_mgmt._segment_funnel(from, to), an SQL-callable function.
 *-------------------------------------------------------------------------
 */
#ifndef LM_ANALYTICS_H
#define LM_ANALYTICS_H

#include "postgres.h"

#include "fmgr.h"

extern Datum lm_segment_funnel(PG_FUNCTION_ARGS);

#endif							/* LM_ANALYTICS_H */
