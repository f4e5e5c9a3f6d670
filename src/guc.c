/*-------------------------------------------------------------------------
 * guc.c
 *	  Defines the lead_mgmt.* parameters and reserves the prefix, so that a
 *	  misspelt lead_mgmt setting is an error rather than silently ignored.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "guc.h"

int			lm_unknown_event_types = LM_UNKNOWN_EVENT_ERROR;
bool		lm_defer_rescore = false;

static const struct config_enum_entry unknown_event_type_options[] = {
	{"error", LM_UNKNOWN_EVENT_ERROR, false},
	{"register", LM_UNKNOWN_EVENT_REGISTER, false},
	{NULL, 0, false}
};

/* Define every lead_mgmt.* parameter; called from _PG_init. */
void
lm_guc_init(void)
{
	DefineCustomEnumVariable("lead_mgmt.unknown_event_types",
							 "What to do with an event of an unregistered type.",
							 "error rejects the event; register adds the type to lead_mgmt.event_types.",
							 &lm_unknown_event_types,
							 LM_UNKNOWN_EVENT_ERROR,
							 unknown_event_type_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("lead_mgmt.defer_rescore",
							 "Defers rescoring after changes to scoring rules or stages.",
							 "When on, lead_mgmt.rescore() applies rule changes later; leads touched meanwhile are recomputed from scratch.",
							 &lm_defer_rescore,
							 false,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("lead_mgmt");
}
