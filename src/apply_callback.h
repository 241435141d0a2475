/*-------------------------------------------------------------------------
 *
 * apply_callback.h
 *	  The SQL function paycons.apply_callback() (apply_callback.c): the
 *	  size limits of its arguments, documented in doc/callbacks.md.
 *
 * IDENTIFICATION
 *	  src/apply_callback.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_APPLY_CALLBACK_H
#define PAYCONS_APPLY_CALLBACK_H

#define CALLBACKS_MAX_PAYLOAD		65536	/* bytes of jsonb */
#define CALLBACKS_MAX_SIGNATURE		1024	/* bytes */
#define CALLBACKS_MAX_SIGNED_BODY	1048576 /* bytes */

#endif							/* PAYCONS_APPLY_CALLBACK_H */
