/*-------------------------------------------------------------------------
 * stages.h
 *	  Moving leads by hand: set_stage() and disqualify().
 *-------------------------------------------------------------------------
 */
#ifndef LM_STAGES_H
#define LM_STAGES_H

#endif							/* LM_STAGES_H */
