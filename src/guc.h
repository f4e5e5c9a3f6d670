/*-------------------------------------------------------------------------
 * guc.h
 *	  lead_mgmt.* configuration parameters.
 *-------------------------------------------------------------------------
 */
#ifndef LM_GUC_H
#define LM_GUC_H

typedef enum LmUnknownEventTypes
{
	LM_UNKNOWN_EVENT_ERROR,
	LM_UNKNOWN_EVENT_REGISTER
} LmUnknownEventTypes;

extern int	lm_unknown_event_types;
extern bool lm_defer_rescore;

extern void lm_guc_init(void);

#endif							/* LM_GUC_H */
