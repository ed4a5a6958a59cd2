/*  keys.c: CURVE key pairs in zcert format. Both files are first created empty with
    O_EXCL and their final mode, so an existing file is never overwritten and the secret
    is never readable by others, not even for an instant; zcert then writes into them. */
#include "keys.h"

#include "err.h"
#include "peer.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int
s_create (const char *path, mode_t mode)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0)
        return errno == EEXIST ? MDL_EEXIST : errno == ENOENT ? MDL_ENOENT : MDL_EIO;
    fchmod (fd, mode); /* the umask may have narrowed it; never widens the secret */
    close (fd);
    return 0;
}

int
mdl_keys_generate (const char *path_base, const char *name)
{
    if (!path_base || !path_base[0] || strlen (path_base) > 4000)
        return MDL_EINVAL;
    char secret[4096];
    snprintf (secret, sizeof secret, "%s_secret", path_base);
    if (access (path_base, F_OK) == 0 || access (secret, F_OK) == 0)
        return MDL_EEXIST;
    int rc = s_create (secret, 0600);
    if (rc)
        return rc;
    rc = s_create (path_base, 0644);
    if (rc) {
        unlink (secret);
        return rc;
    }
    zcert_t *cert = zcert_new ();
    if (!cert) {
        rc = MDL_ENOMEM;
        goto err;
    }
    if (name && name[0])
        zcert_set_meta (cert, "name", "%s", name);
    zcert_set_meta (cert, "created-by", "meshdl keygen");
    if (zcert_save_secret (cert, secret) != 0 || zcert_save_public (cert, path_base) != 0) {
        rc = MDL_EIO;
        goto err;
    }
    zcert_destroy (&cert);
    return 0;
err:
    zcert_destroy (&cert);
    unlink (secret);
    unlink (path_base);
    return rc;
}

/* Finds `name = "<40 Z85 chars>"` on a line of its own in text; copies the key. */
static int
s_find_key (const char *text, const char *name, char *out)
{
    size_t nlen = strlen (name);
    for (const char *line = text; line && *line; line = strchr (line, '\n'), line = line ? line + 1 : NULL) {
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp (p, name, nlen) != 0)
            continue;
        p += nlen;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p++ != '=')
            continue;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p++ != '"')
            return MDL_ESECURITY;
        uint8_t bin[32];
        char key[MDL_PUBKEY_LEN + 1];
        memcpy (key, p, MDL_PUBKEY_LEN);
        key[MDL_PUBKEY_LEN] = 0;
        if (strlen (key) != MDL_PUBKEY_LEN || p[MDL_PUBKEY_LEN] != '"'
            || !zmq_z85_decode (bin, key))
            return MDL_ESECURITY;
        static const uint8_t zero[32];
        if (memcmp (bin, zero, 32) == 0)
            return MDL_ESECURITY;
        memcpy (out, key, MDL_PUBKEY_LEN + 1);
        return 0;
    }
    return MDL_ESECURITY;
}

int
mdl_keys_load (const char *path, char *pub, char *secret)
{
    if (!path)
        return MDL_ESECURITY;
    FILE *f = fopen (path, "rb");
    if (!f)
        return MDL_ESECURITY;
    char text[16384]; /* a certificate is a few hundred bytes; more is not one */
    size_t len = fread (text, 1, sizeof text - 1, f);
    bool too_long = !feof (f);
    fclose (f);
    if (too_long || memchr (text, 0, len))
        return MDL_ESECURITY;
    text[len] = 0;
    if (!strstr (text, "\ncurve\n") && strncmp (text, "curve\n", 6) != 0)
        return MDL_ESECURITY;
    if (s_find_key (text, "public-key", pub) != 0)
        return MDL_ESECURITY;
    if (secret && s_find_key (text, "secret-key", secret) != 0)
        return MDL_ESECURITY;
    return 0;
}

int
mdl_keys_public (const char *path, char *out)
{
    return mdl_keys_load (path, out, NULL);
}
