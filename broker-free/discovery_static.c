/*  discovery_static.c: a fixed list of PUB endpoints, for networks without broadcast.
    Each endpoint is announced once with id 0; who is behind it is learned from the
    hellos heard over the mesh. With CURVE the subscriber must know the server's public
    key before its first byte arrives (the hello comes after the handshake), so an entry
    may carry it: tcp://HOST:PORT#<40-character Z85 key>. */
#include "discovery_ops.h"

#include "err.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    mdl_peer_info_t *entries; /* endpoint, and pubkey when the entry has one */
    size_t n;
    size_t next; /* first endpoint not yet announced */
} s_state_t;

/* tcp://HOST:PORT (PORT 1..65535), ipc://PATH or inproc://NAME. */
static bool
s_valid (const char *ep, size_t len)
{
    if (len == 0 || len >= MDL_ENDPOINT_MAX)
        return false;
    if (len > 6 && strncmp (ep, "tcp://", 6) == 0) {
        const char *colon = NULL;
        for (const char *p = ep + 6; p < ep + len; p++)
            if (*p == ':')
                colon = p;
        if (!colon || colon == ep + 6 || colon + 1 == ep + len || colon + 6 < ep + len)
            return false;
        long port = 0;
        for (const char *p = colon + 1; p < ep + len; p++) {
            if (*p < '0' || *p > '9')
                return false;
            port = port * 10 + (*p - '0');
        }
        return port >= 1 && port <= 65535;
    }
    if (len > 6 && strncmp (ep, "ipc://", 6) == 0)
        return true;
    if (len > 9 && strncmp (ep, "inproc://", 9) == 0)
        return true;
    return false;
}

int
mdl_disc_parse_static (const char *p, size_t len, mdl_peer_info_t *out)
{
    /* the key is the last 40 characters ('#' is also a Z85 character) */
    const char *key = NULL;
    if (len > MDL_PUBKEY_LEN + 1 && p[len - MDL_PUBKEY_LEN - 1] == '#') {
        key = p + len - MDL_PUBKEY_LEN;
        len -= MDL_PUBKEY_LEN + 1;
    }
    if (!s_valid (p, len) || memchr (p, '#', len) || (key && !mdl_pubkey_valid (key, MDL_PUBKEY_LEN)))
        return MDL_EINVAL;
    memset (out, 0, sizeof *out);
    memcpy (out->endpoint, p, len);
    if (key)
        memcpy (out->pubkey, key, MDL_PUBKEY_LEN);
    return 0;
}

static int
s_add (void *arg, const char *p, size_t len)
{
    s_state_t *st = arg;
    mdl_peer_info_t e;
    if (mdl_disc_parse_static (p, len, &e))
        return MDL_EINVAL;
    for (size_t i = 0; i < st->n; i++)
        if (!strcmp (st->entries[i].endpoint, e.endpoint))
            return 0; /* listed twice */
    st->entries[st->n++] = e;
    return 0;
}

static int
s_start (mdl_discovery_t *self, const mdl_disc_cfg_t *cfg)
{
    if (!cfg->peers || !cfg->peers[0])
        return MDL_EINVAL;
    s_state_t *st = calloc (1, sizeof *st);
    const size_t count = mdl_disc_count (cfg->peers);
    if (!st || !(st->entries = calloc (count, sizeof *st->entries))) {
        free (st);
        return MDL_ENOMEM;
    }
    if (mdl_disc_split (cfg->peers, s_add, st)) {
        free (st->entries);
        free (st);
        return MDL_EINVAL;
    }
    self->state = st;
    return 0;
}

static void
s_stop (mdl_discovery_t *self)
{
    s_state_t *st = self->state;
    free (st->entries);
    free (st);
}

static int
s_recv (mdl_discovery_t *self, mdl_peer_info_t *out, size_t cap, size_t *n)
{
    s_state_t *st = self->state;
    size_t k = 0;
    for (; st->next < st->n && k < cap; st->next++, k++) {
        out[k] = st->entries[st->next];
        self->stats.received++;
    }
    *n = k;
    return 0;
}

const mdl_disc_ops_t mdl_disc_static_ops = {
    .name = "static",
    .kind = MDL_DISC_STATIC,
    .start = s_start,
    .stop = s_stop,
    .socket = NULL,
    .recv = s_recv,
};
