/*  keys.h: CURVE key pairs in CZMQ's zcert format: the public part (writing a pair,
    reading a public key) is meshdl/keys.h; here the engine's reader of both keys. */
#ifndef MDL_KEYS_H
#define MDL_KEYS_H

#include <stddef.h>

#include "meshdl/keys.h" /* mdl_keys_generate, mdl_keys_public */

/* Reads a certificate file: its Z85 public key into pub (41 bytes) and, when secret is
   not NULL, its Z85 secret key into secret (41 bytes). Our own strict reader of the
   zcert text format (a "curve" section with public-key = "..." and secret-key = "..."),
   which rejects anything else without touching CZMQ's parser. Returns 0 or
   MDL_ESECURITY (missing, unreadable, malformed, or no secret key when one is asked). */
int mdl_keys_load (const char *path, char *pub, char *secret);

#endif
