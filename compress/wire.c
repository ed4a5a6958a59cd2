/*  wire.c: header packing with msgpack-c, strict bounded unpacking, frame validation. */
#include "wire.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "err.h"
#include "hash.h"

#define S_NFIELDS 14
#define S_NCODEC 8
static const char s_magic[3] = { 'M', 'D', 'L' };

uint64_t
mdl_wire_cluster_id (const char *name)
{
    return mdl_hash_fnv1a64 (name, strlen (name));
}

void
mdl_wire_header_init (mdl_wire_header_t *h, uint64_t cluster, uint64_t sender,
                      const mdl_codec_t *codec)
{
    memset (h, 0, sizeof *h);
    h->version = MDL_WIRE_VERSION;
    h->cluster = cluster;
    h->sender = sender;
    mdl_codec_params (codec, &h->codec);
    h->d = mdl_codec_dim (codec);
}

void
mdl_wire_expect_init (mdl_wire_expect_t *exp, uint64_t cluster, uint64_t self,
                      const mdl_codec_t *codec)
{
    memset (exp, 0, sizeof *exp);
    exp->cluster = cluster;
    exp->self = self;
    exp->d = mdl_codec_dim (codec);
    mdl_codec_params (codec, &exp->codec);
}

/* ---- packing: msgpack-c into a fixed buffer, no allocation ------------------------- */

typedef struct {
    uint8_t *buf;
    size_t cap, len;
    bool overflow;
} s_sink_t;

static int
s_sink_write (void *data, const char *buf, size_t len)
{
    s_sink_t *s = data;
    if (len > s->cap - s->len) {
        s->overflow = true;
        return -1;
    }
    memcpy (s->buf + s->len, buf, len);
    s->len += len;
    return 0;
}

int
mdl_wire_pack (const mdl_wire_header_t *h, void *buf, size_t cap, size_t *len)
{
    s_sink_t sink = { .buf = buf, .cap = cap };
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sink, s_sink_write);
    const mdl_codec_params_t *c = &h->codec;
    msgpack_pack_array (&pk, S_NFIELDS);
    msgpack_pack_str (&pk, sizeof s_magic);
    msgpack_pack_str_body (&pk, s_magic, sizeof s_magic);
    msgpack_pack_uint32 (&pk, h->version);
    msgpack_pack_uint64 (&pk, h->cluster);
    msgpack_pack_uint64 (&pk, h->sender);
    msgpack_pack_uint64 (&pk, h->seq);
    msgpack_pack_uint64 (&pk, h->step);
    msgpack_pack_uint64 (&pk, h->timestamp_us);
    msgpack_pack_uint32 (&pk, h->kind);
    msgpack_pack_array (&pk, S_NCODEC);
    msgpack_pack_uint32 (&pk, c->id);
    msgpack_pack_uint32 (&pk, c->bits);
    msgpack_pack_uint32 (&pk, c->block);
    msgpack_pack_uint64 (&pk, c->k);
    msgpack_pack_uint32 (&pk, c->vid);
    msgpack_pack_uint32 (&pk, c->vbits);
    msgpack_pack_uint32 (&pk, c->vblock);
    msgpack_pack_uint32 (&pk, c->flags);
    msgpack_pack_uint64 (&pk, h->d);
    if (h->keyframe)
        msgpack_pack_true (&pk);
    else
        msgpack_pack_false (&pk);
    msgpack_pack_double (&pk, h->loss);
    msgpack_pack_double (&pk, h->aux);
    msgpack_pack_uint64 (&pk, h->payload_len);
    if (sink.overflow)
        return MDL_EINVAL;
    *len = sink.len;
    return 0;
}

/* ---- unpacking: a bounded cursor over untrusted bytes ------------------------------ */

typedef struct {
    const uint8_t *p, *end;
} s_cur_t;

static bool
s_take (s_cur_t *c, size_t n, const uint8_t **out)
{
    if ((size_t) (c->end - c->p) < n)
        return false;
    *out = c->p;
    c->p += n;
    return true;
}

static uint64_t
s_be (const uint8_t *b, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | b[i];
    return v;
}

static bool
s_rd_uint (s_cur_t *c, uint64_t *v)
{
    const uint8_t *b;
    if (!s_take (c, 1, &b))
        return false;
    const uint8_t t = b[0];
    size_t n;
    bool sgn = false;
    if (t <= 0x7f) {
        *v = t;
        return true;
    }
    switch (t) {
    case 0xcc: n = 1; break;
    case 0xcd: n = 2; break;
    case 0xce: n = 4; break;
    case 0xcf: n = 8; break;
    case 0xd0: n = 1; sgn = true; break;
    case 0xd1: n = 2; sgn = true; break;
    case 0xd2: n = 4; sgn = true; break;
    case 0xd3: n = 8; sgn = true; break;
    default: return false;
    }
    if (!s_take (c, n, &b))
        return false;
    if (sgn && (b[0] & 0x80))
        return false; /* other packers may use signed types: only values >= 0 */
    *v = s_be (b, n);
    return true;
}

static bool
s_rd_u32 (s_cur_t *c, uint32_t *v)
{
    uint64_t w;
    if (!s_rd_uint (c, &w) || w > UINT32_MAX)
        return false;
    *v = (uint32_t) w;
    return true;
}

static bool
s_rd_array (s_cur_t *c, uint64_t *n)
{
    const uint8_t *b;
    if (!s_take (c, 1, &b))
        return false;
    if ((b[0] & 0xf0) == 0x90) {
        *n = b[0] & 0x0f;
        return true;
    }
    size_t w = b[0] == 0xdc ? 2 : b[0] == 0xdd ? 4 : 0;
    if (!w || !s_take (c, w, &b))
        return false;
    *n = s_be (b, w);
    return true;
}

static bool
s_rd_str (s_cur_t *c, const uint8_t **s, size_t *n)
{
    const uint8_t *b;
    if (!s_take (c, 1, &b))
        return false;
    if ((b[0] & 0xe0) == 0xa0)
        *n = b[0] & 0x1f;
    else {
        size_t w = b[0] == 0xd9 ? 1 : b[0] == 0xda ? 2 : b[0] == 0xdb ? 4 : 0;
        if (!w || !s_take (c, w, &b))
            return false;
        *n = (size_t) s_be (b, w);
    }
    return s_take (c, *n, s);
}

static bool
s_rd_float (s_cur_t *c, double *v)
{
    const uint8_t *b;
    if (!s_take (c, 1, &b))
        return false;
    if (b[0] == 0xcb) {
        if (!s_take (c, 8, &b))
            return false;
        uint64_t u = s_be (b, 8);
        memcpy (v, &u, 8);
        return true;
    }
    if (b[0] == 0xca) {
        if (!s_take (c, 4, &b))
            return false;
        uint32_t u = (uint32_t) s_be (b, 4);
        float f;
        memcpy (&f, &u, 4);
        *v = f;
        return true;
    }
    return false;
}

static bool
s_rd_bool (s_cur_t *c, bool *v)
{
    const uint8_t *b;
    if (!s_take (c, 1, &b) || (b[0] != 0xc2 && b[0] != 0xc3))
        return false;
    *v = b[0] == 0xc3;
    return true;
}

int
mdl_wire_unpack (const void *buf, size_t len, mdl_wire_header_t *h)
{
    s_cur_t c = { .p = buf, .end = (const uint8_t *) buf + len };
    memset (h, 0, sizeof *h);
    uint64_t n, v;
    const uint8_t *s;
    size_t sn;
    if (!buf || !s_rd_array (&c, &n) || n < 2)
        return MDL_EWIRE_HEADER;
    /* magic and version come first so that a future version with another layout is
       reported as a version mismatch, not as garbage */
    if (!s_rd_str (&c, &s, &sn) || sn != sizeof s_magic || memcmp (s, s_magic, sn) != 0)
        return MDL_EWIRE_MAGIC;
    if (!s_rd_uint (&c, &v))
        return MDL_EWIRE_HEADER;
    if (v != MDL_WIRE_VERSION)
        return MDL_EWIRE_VERSION;
    h->version = (uint32_t) v;
    if (n != S_NFIELDS)
        return MDL_EWIRE_HEADER;
    mdl_codec_params_t *p = &h->codec;
    uint64_t nc;
    if (!s_rd_uint (&c, &h->cluster) || !s_rd_uint (&c, &h->sender)
        || !s_rd_uint (&c, &h->seq) || !s_rd_uint (&c, &h->step)
        || !s_rd_uint (&c, &h->timestamp_us) || !s_rd_u32 (&c, &h->kind) || h->kind > 255
        || !s_rd_array (&c, &nc) || nc != S_NCODEC || !s_rd_u32 (&c, &p->id)
        || !s_rd_u32 (&c, &p->bits) || !s_rd_u32 (&c, &p->block) || !s_rd_uint (&c, &p->k)
        || !s_rd_u32 (&c, &p->vid) || !s_rd_u32 (&c, &p->vbits)
        || !s_rd_u32 (&c, &p->vblock) || !s_rd_u32 (&c, &p->flags)
        || !s_rd_uint (&c, &h->d) || !s_rd_bool (&c, &h->keyframe)
        || !s_rd_float (&c, &h->loss) || !s_rd_float (&c, &h->aux)
        || !s_rd_uint (&c, &h->payload_len) || c.p != c.end)
        return MDL_EWIRE_HEADER;
    return 0;
}

/* ---- topics, frames ----------------------------------------------------------------- */

static const char s_hex[] = "0123456789abcdef";

size_t
mdl_wire_topic (uint64_t recipient, char *buf)
{
    if (recipient == MDL_WIRE_BROADCAST) {
        buf[0] = 'U';
        return 1;
    }
    buf[0] = 'T';
    for (int i = 0; i < 16; i++)
        buf[1 + i] = s_hex[(recipient >> (60 - 4 * i)) & 15];
    return MDL_WIRE_TOPIC_MAX;
}

int
mdl_wire_check_topic (const void *topic, size_t len, uint64_t self)
{
    const char *t = topic;
    if (len == 1 && t[0] == 'U')
        return 0;
    char want[MDL_WIRE_TOPIC_MAX];
    if (self != MDL_WIRE_BROADCAST && len == MDL_WIRE_TOPIC_MAX
        && mdl_wire_topic (self, want) == len && memcmp (t, want, len) == 0)
        return 0;
    return MDL_EWIRE_TOPIC;
}

static bool
s_same_codec (const mdl_codec_params_t *a, const mdl_codec_params_t *b)
{
    return a->id == b->id && a->bits == b->bits && a->block == b->block && a->k == b->k
           && a->vid == b->vid && a->vbits == b->vbits && a->vblock == b->vblock
           && a->flags == b->flags;
}

int
mdl_wire_check (const mdl_wire_frame_t *frames, size_t nframes,
                const mdl_wire_expect_t *exp, const mdl_codec_t *codec,
                mdl_wire_header_t *h)
{
    if (nframes != 3 || !frames)
        return MDL_EWIRE_FRAMES;
    int rc = mdl_wire_check_topic (frames[0].data, frames[0].len, exp->self);
    if (rc)
        return rc;
    if (frames[1].len > MDL_WIRE_HEADER_MAX)
        return MDL_EWIRE_HEADER;
    rc = mdl_wire_unpack (frames[1].data, frames[1].len, h);
    if (rc)
        return rc;
    if (h->cluster != exp->cluster)
        return MDL_EWIRE_CLUSTER;
    if (h->d != exp->d)
        return MDL_EWIRE_DIM;
    if (!s_same_codec (&h->codec, &exp->codec))
        return MDL_EWIRE_CODEC;
    if (!isfinite (h->loss) || !isfinite (h->aux))
        return MDL_EWIRE_NONFINITE;
    if (h->payload_len != frames[2].len || frames[2].len > mdl_codec_max_size (codec)
        || (frames[2].len && !frames[2].data))
        return MDL_EWIRE_LENGTH;
    return 0;
}

int
mdl_wire_decode (const mdl_wire_frame_t *frames, size_t nframes,
                 const mdl_wire_expect_t *exp, mdl_codec_t *codec, mdl_wire_header_t *h,
                 float *y)
{
    int rc = mdl_wire_check (frames, nframes, exp, codec, h);
    if (rc)
        return rc;
    return mdl_codec_decode (codec, frames[2].data, frames[2].len, y);
}

void *
mdl_wire_payload_alloc (size_t n)
{
    return malloc (n ? n : 1);
}

void
mdl_wire_payload_free (void *data, void *hint)
{
    (void) hint;
    free (data);
}

static size_t
s_slot (int rc)
{
    return rc <= MDL_EWIRE_FRAMES && rc >= MDL_EWIRE_PAYLOAD
               ? (size_t) (MDL_EWIRE_FRAMES - rc)
               : MDL_WIRE_NSLOTS - 1;
}

void
mdl_wire_stats_count (mdl_wire_stats_t *s, int rc)
{
    if (rc == 0) {
        s->ok++;
        return;
    }
    s->rejected++;
    s->by_code[s_slot (rc)]++;
}

uint64_t
mdl_wire_stats_get (const mdl_wire_stats_t *s, int rc)
{
    return rc == 0 ? s->ok : s->by_code[s_slot (rc)];
}

int
mdl_wire_check_probs (const float *v, size_t n, size_t classes)
{
    if (classes == 0 || n % classes)
        return MDL_EWIRE_PAYLOAD;
    for (size_t r = 0; r < n; r += classes) {
        double sum = 0;
        for (size_t c = 0; c < classes; c++) {
            if (!(v[r + c] >= 0.0f && v[r + c] <= 1.0f))
                return MDL_EWIRE_PAYLOAD;
            sum += v[r + c];
        }
        if (fabs (sum - 1.0) > 1e-3)
            return MDL_EWIRE_PAYLOAD;
    }
    return 0;
}
