/*  meshdl/keys.h: CURVE key pairs for agents run with security on (the settings "curve",
    "cert" and "allow" of meshdl/config.h), in CZMQ's zcert text format: what
    `meshdl keygen` writes.

    Each agent has a key pair; its secret certificate is its "cert", and the public
    certificates of the agents it accepts lie in its "allow" directory. */
#ifndef MESHDL_KEYS_H
#define MESHDL_KEYS_H

#include "meshdl/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Length of a public key as Z85 text (a 32-byte key), without the terminating NUL. */
#define MDL_PUBKEY_LEN 40

/* Writes a new key pair: the public certificate at path_base (mode 0644: copy it into
   the allow directory of the other agents) and the secret certificate at path_base +
   "_secret" (mode 0600: this agent's cert). name (may be NULL) goes in the metadata.
   Refuses to overwrite either file. Returns 0, MDL_EEXIST, MDL_ENOENT (no such
   directory), MDL_EIO (not writable; nothing is left behind), MDL_ENOMEM or MDL_EINVAL
   (path_base NULL, empty or longer than 4000 bytes). */
MDL_EXPORT int mdl_keys_generate (const char *path_base, const char *name);

/* Reads the Z85 public key of a certificate file (public or secret) into out
   (MDL_PUBKEY_LEN + 1 bytes). Returns 0 or MDL_ESECURITY (missing, unreadable or
   malformed). */
MDL_EXPORT int mdl_keys_public (const char *path, char *out);

#ifdef __cplusplus
}
#endif

#endif
