/*  codec_sparse.c: the index section and the values section shared by sparse codecs.

    Index section: u8 format, 3 zero bytes, u32 n = length of the index bytes, the n
    bytes, zero padding to a multiple of 4 (so the values start 4-aligned in the payload).
    Format 0: k LEB128 varints, the gaps idx[j] - idx[j-1] (idx[-1] = -1), each >= 1, so
    strictly increasing order is built in and a 0 gap is an error. Format 1: a bitmap of
    ceil(d/8) bytes, bit i (LSB first) set when i is an index. The encoder takes the
    smaller of the two; 5 bytes bound a varint of a 32-bit gap. */
#include "codec_impl.h"

static size_t
s_round4 (size_t n)
{
    return (n + 3) & ~(size_t) 3;
}

size_t
mdl_sparse_index_max (size_t d, size_t k)
{
    const size_t bitmap = (d + 7) / 8, varint = 5 * k;
    return 8 + s_round4 (varint < bitmap ? varint : bitmap);
}

static inline size_t
s_varint_len (uint32_t v)
{
    return 1 + (v >= (1u << 7)) + (v >= (1u << 14)) + (v >= (1u << 21)) + (v >= (1u << 28));
}

size_t
mdl_sparse_index_encode (const mdl_codec_t *c, uint8_t *out)
{
    const uint32_t *idx = c->idx;
    const size_t k = c->k, bitmap = (c->d + 7) / 8;
    size_t varint = 0;
    uint32_t prev = UINT32_MAX; /* idx[-1] = -1: gaps wrap to idx[0] + 1 */
    for (size_t j = 0; j < k; j++) {
        varint += s_varint_len (idx[j] - prev);
        prev = idx[j];
    }
    uint8_t *w = out + 8;
    size_t n;
    if (bitmap < varint) {
        n = bitmap;
        memset (w, 0, n);
        for (size_t j = 0; j < k; j++)
            w[idx[j] / 8] |= (uint8_t) (1u << (idx[j] & 7));
        out[0] = 1;
    } else {
        n = varint;
        prev = UINT32_MAX;
        for (size_t j = 0; j < k; j++) {
            uint32_t g = idx[j] - prev;
            prev = idx[j];
            while (g >= 0x80u) {
                *w++ = (uint8_t) (g | 0x80u);
                g >>= 7;
            }
            *w++ = (uint8_t) g;
        }
        out[0] = 0;
    }
    out[1] = out[2] = out[3] = 0;
    mdl_st32 (out + 4, (uint32_t) n);
    for (size_t i = n; i < s_round4 (n); i++)
        out[8 + i] = 0;
    return 8 + s_round4 (n);
}

static int
s_check_varint (mdl_codec_t *c, const uint8_t *p, size_t n)
{
    const uint8_t *end = p + n;
    uint64_t prev = 0; /* stands for idx[-1] + 1 */
    for (size_t j = 0; j < c->k; j++) {
        uint64_t g = 0;
        for (unsigned sh = 0;; sh += 7) {
            if (p == end)
                return MDL_EWIRE_LENGTH;
            const uint8_t b = *p++;
            if (sh == 28 && b > 0x0f)
                return MDL_EWIRE_INDEX; /* more than 32 bits or a 6th byte */
            g |= (uint64_t) (b & 0x7fu) << sh;
            if (!(b & 0x80u))
                break;
        }
        if (g == 0)
            return MDL_EWIRE_INDEX; /* repeated index */
        const uint64_t i = prev + g - 1;
        if (i >= c->d)
            return MDL_EWIRE_INDEX;
        c->idx[j] = (uint32_t) i;
        prev = i + 1;
    }
    return p == end ? 0 : MDL_EWIRE_LENGTH;
}

static int
s_check_bitmap (mdl_codec_t *c, const uint8_t *p, size_t n)
{
    const size_t d = c->d, k = c->k;
    if (n != (d + 7) / 8)
        return MDL_EWIRE_LENGTH;
    if ((d & 7) && (p[n - 1] >> (d & 7)))
        return MDL_EWIRE_INDEX; /* a bit beyond d */
    size_t cnt = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy (&w, p + i, 8);
        while (w) {
            if (cnt == k)
                return MDL_EWIRE_INDEX;
            c->idx[cnt++] = (uint32_t) (8 * i + (size_t) __builtin_ctzll (w));
            w &= w - 1;
        }
    }
    for (; i < n; i++)
        for (unsigned b = 0; b < 8; b++)
            if ((p[i] >> b) & 1u) {
                if (cnt == k)
                    return MDL_EWIRE_INDEX;
                c->idx[cnt++] = (uint32_t) (8 * i + b);
            }
    return cnt == k ? 0 : MDL_EWIRE_INDEX;
}

int
mdl_sparse_index_check (mdl_codec_t *c, const uint8_t *p, size_t len, size_t *used)
{
    if (len < 8)
        return MDL_EWIRE_LENGTH;
    if (p[0] > 1 || p[1] || p[2] || p[3])
        return MDL_EWIRE_PAYLOAD;
    const size_t n = mdl_ld32 (p + 4);
    if (n > len - 8 || s_round4 (n) > len - 8)
        return MDL_EWIRE_LENGTH;
    for (size_t i = n; i < s_round4 (n); i++)
        if (p[8 + i])
            return MDL_EWIRE_PAYLOAD;
    int rc = p[0] ? s_check_bitmap (c, p + 8, n) : s_check_varint (c, p + 8, n);
    if (rc)
        return rc;
    *used = 8 + s_round4 (n);
    return 0;
}

int
mdl_sparse_values_encode (mdl_codec_t *c, uint8_t *out, size_t *len, mdl_rng_t *rng)
{
    return c->values->ops->encode (c->values, c->val, out, len, rng);
}

int
mdl_sparse_values_check (mdl_codec_t *c, const uint8_t *p, size_t len)
{
    mdl_codec_t *v = c->values;
    int rc = v->ops->check (v, p, len);
    if (rc)
        return rc;
    v->ops->decode (v, p, c->val);
    return 0;
}
