/*  peer.c: the hello announcement: a fixed 72-byte little-endian record (see peer.h).
    The parser trusts nothing: every field is checked before info is touched. */
#include "peer.h"

#include "err.h"
#include "hash.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define S_MAGIC "MDLB"
#define S_FLAG_KEY 0x01u

static void
s_put16 (uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t) v;
    p[1] = (uint8_t) (v >> 8);
}

static void
s_put64 (uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static uint16_t
s_get16 (const uint8_t *p)
{
    return (uint16_t) (p[0] | (p[1] << 8));
}

static uint64_t
s_get64 (const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* The Z85 alphabet of ZeroMQ RFC 32. */
static bool
s_is_z85 (uint8_t c)
{
    static const char *alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
                                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    return c != 0 && strchr (alphabet, c) != NULL;
}

bool
mdl_pubkey_valid (const char *key, size_t len)
{
    if (!key || len != MDL_PUBKEY_LEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!s_is_z85 ((uint8_t) key[i]))
            return false;
    return true;
}

uint64_t
mdl_cluster_hash (const char *name)
{
    return mdl_hash_fnv1a64 (name, strlen (name));
}

void
mdl_hello_pack (const mdl_peer_info_t *info, uint64_t cluster, uint8_t *buf)
{
    memset (buf, 0, MDL_HELLO_SIZE);
    memcpy (buf, S_MAGIC, 4);
    buf[4] = MDL_HELLO_VERSION;
    size_t keylen = strnlen (info->pubkey, sizeof info->pubkey);
    buf[5] = keylen == MDL_PUBKEY_LEN ? S_FLAG_KEY : 0;
    s_put16 (buf + 6, info->port);
    s_put64 (buf + 8, cluster);
    s_put64 (buf + 16, info->id);
    s_put64 (buf + 24, info->incarnation);
    if (buf[5] & S_FLAG_KEY)
        memcpy (buf + 32, info->pubkey, MDL_PUBKEY_LEN);
}

int
mdl_hello_unpack (const void *data, size_t len, uint64_t cluster, mdl_peer_info_t *info)
{
    const uint8_t *buf = data;
    if (!buf || len != MDL_HELLO_SIZE || memcmp (buf, S_MAGIC, 4) != 0
        || buf[4] != MDL_HELLO_VERSION)
        return MDL_EBEACON;
    if (s_get64 (buf + 8) != cluster)
        return MDL_EWIRE_CLUSTER;
    uint8_t flags = buf[5];
    if (flags & ~S_FLAG_KEY)
        return MDL_EBEACON;
    uint64_t id = s_get64 (buf + 16);
    if (id == 0)
        return MDL_EBEACON;
    if (flags & S_FLAG_KEY) {
        if (!mdl_pubkey_valid ((const char *) buf + 32, MDL_PUBKEY_LEN))
            return MDL_EBEACON;
    }
    else
        for (int i = 0; i < MDL_PUBKEY_LEN; i++)
            if (buf[32 + i] != 0)
                return MDL_EBEACON;
    memset (info, 0, sizeof *info);
    info->id = id;
    info->incarnation = s_get64 (buf + 24);
    info->port = s_get16 (buf + 6);
    if (flags & S_FLAG_KEY)
        memcpy (info->pubkey, buf + 32, MDL_PUBKEY_LEN);
    return 0;
}

const char *
mdl_id_str (uint64_t id, char *buf)
{
    snprintf (buf, 17, "%016" PRIx64, id);
    return buf;
}
