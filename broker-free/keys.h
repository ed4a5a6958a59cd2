/*  keys.h: CURVE key pairs in CZMQ's zcert format (what `meshdl keygen` writes). */
#ifndef MDL_KEYS_H
#define MDL_KEYS_H

#include <stddef.h>

/* Writes a new key pair: path_base (secret certificate, mode 0600) and
   path_base_secret... see keys.c: the public certificate "path_base" and the secret
   "path_base_secret", as zcert_save does; name goes in the metadata. Refuses to
   overwrite an existing file. Returns 0, MDL_EIO, MDL_EINVAL. */
int mdl_keys_generate (const char *path_base, const char *name);

/* Reads the Z85 public key of a certificate file (public or secret) into out (41 bytes).
   Returns 0 or MDL_ESECURITY. */
int mdl_keys_public (const char *path, char *out);

#endif
