/*  fuzz_wire.c: libFuzzer target for the whole receive path of an update.

    The input is split into frames (fuzz_wire.h); they go through mdl_wire_decode (frame
    count, topic, header, expectations, payload) and, independently of the header,
    through every payload check, so that the payload parsers are reached even when the
    mutated header does not match. Each frame is copied into a heap buffer of its exact
    size, so that any read past a frame is an ASan error. */
#include "fuzz_wire.h"

#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "err.h"
#include "wire.h"

static mdl_codec_t *s_codecs[FUZZ_NSPECS];
static mdl_wire_expect_t s_exp[FUZZ_NSPECS];
static float s_y[FUZZ_D];

static void
s_init (void)
{
    static int done;
    if (done)
        return;
    static const char *specs[] = FUZZ_SPECS;
    for (int i = 0; i < FUZZ_NSPECS; i++) {
        int err;
        s_codecs[i] = mdl_codec_new (specs[i], FUZZ_D, 1, &err);
        if (!s_codecs[i])
            abort ();
        mdl_wire_expect_init (&s_exp[i], mdl_wire_cluster_id (FUZZ_CLUSTER), FUZZ_SELF,
                              s_codecs[i]);
    }
    done = 1;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_init ();
    if (size < 2)
        return 0;
    const int ci = data[0] % FUZZ_NSPECS;
    const size_t nframes = data[1] % 6;
    size_t off = 2;
    mdl_wire_frame_t f[5];
    void *bufs[5] = { 0 };
    for (size_t i = 0; i < nframes; i++) {
        size_t len = 0;
        if (off + 2 <= size) {
            len = (size_t) data[off] | ((size_t) data[off + 1] << 8);
            off += 2;
        } else
            off = size;
        if (len > size - off)
            len = size - off;
        bufs[i] = malloc (len ? len : 1);
        if (!bufs[i])
            abort ();
        memcpy (bufs[i], data + off, len);
        off += len;
        f[i] = (mdl_wire_frame_t) { bufs[i], len };
    }
    mdl_codec_t *c = s_codecs[ci];
    mdl_wire_header_t h;
    mdl_wire_stats_t stats = { 0 };
    int rc = mdl_wire_decode (f, nframes, &s_exp[ci], c, &h, s_y);
    mdl_wire_stats_count (&stats, rc);
    if (rc == 0) {
        for (size_t i = 0; i < FUZZ_D; i++)
            if (!(s_y[i] - s_y[i] == 0.0f))
                abort (); /* a validated payload decoded to NaN/Inf */
        memset (s_y, 0, sizeof s_y);
        if (mdl_codec_apply (c, f[2].data, f[2].len, 0.5f, s_y) != 0)
            abort (); /* decode accepted what apply refuses */
    }
    if (nframes >= 3)
        for (int i = 0; i < FUZZ_NSPECS; i++)
            if (mdl_codec_check (s_codecs[i], f[2].data, f[2].len) == 0)
                mdl_codec_decode (s_codecs[i], f[2].data, f[2].len, s_y);
    for (size_t i = 0; i < nframes; i++)
        free (bufs[i]);
    return 0;
}
