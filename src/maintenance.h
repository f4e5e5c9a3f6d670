/*-------------------------------------------------------------------------
 * maintenance.h
 *	  rescore() and run_maintenance(): recomputation on demand and as time
 *	  passes.
 *-------------------------------------------------------------------------
 */
#ifndef LM_MAINTENANCE_H
#define LM_MAINTENANCE_H

#endif							/* LM_MAINTENANCE_H */
