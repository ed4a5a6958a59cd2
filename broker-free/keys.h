/*  keys.h: CURVE key pairs in CZMQ's zcert format (what `meshdl keygen` writes). */
#ifndef MDL_KEYS_H
#define MDL_KEYS_H

#include <stddef.h>

/* Writes a new key pair as zcert_save does: the public certificate at path_base
   (mode 0644: copy it into the allow-list directory of the other agents) and the secret
   certificate at path_base + "_secret" (mode 0600: the agent's --cert). name goes in
   the metadata. Refuses to overwrite either file. Returns 0, MDL_EEXIST, MDL_ENOENT (no such
   directory), MDL_EIO (not writable; nothing is left behind) or MDL_EINVAL. */
int mdl_keys_generate (const char *path_base, const char *name);

/* Reads the Z85 public key of a certificate file (public or secret) into out (41 bytes).
   Returns 0 or MDL_ESECURITY. */
int mdl_keys_public (const char *path, char *out);

/* Reads a certificate file: its Z85 public key into pub (41 bytes) and, when secret is
   not NULL, its Z85 secret key into secret (41 bytes). Our own strict reader of the
   zcert text format (a "curve" section with public-key = "..." and secret-key = "..."),
   which rejects anything else without touching CZMQ's parser. Returns 0 or
   MDL_ESECURITY (missing, unreadable, malformed, or no secret key when one is asked). */
int mdl_keys_load (const char *path, char *pub, char *secret);

#endif
