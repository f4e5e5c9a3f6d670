/*-------------------------------------------------------------------------
 * triggers.h
 *	  Trigger entry points on leads, events and the configuration tables.
 *	  (SQL-callable only; nothing to export.)
 *-------------------------------------------------------------------------
 */
#ifndef LM_TRIGGERS_H
#define LM_TRIGGERS_H

#endif							/* LM_TRIGGERS_H */
