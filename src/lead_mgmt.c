/*-------------------------------------------------------------------------
 * lead_mgmt.c
 *	  Module entry point: PG_MODULE_MAGIC and _PG_init, which hands off to
 *	  each concern's initialisation.  Nothing else lives here.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "direct.h"
#include "guc.h"
#include "lead_state.h"
#include "rules_cache.h"
#include "util.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * Called once per backend when the library is loaded: define GUCs, register
 * the cache invalidation callbacks and the transaction callbacks that drop
 * per-statement state on abort.
 */
void
_PG_init(void)
{
	lm_guc_init();
	lm_cache_init();
	lm_state_init();
	lm_direct_init();
	lm_util_init();
}
