/*  gen_corpus.c: writes the seed corpus of fuzz_wire into a directory.
    Usage: fuzz_wire_corpus DIR   (the checked-in corpus is tests/fuzz/corpus/wire/) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "fuzz_wire.h"
#include "wire.h"

static const char *s_dir;

static void
s_write (const char *name, int spec, size_t nframes, const mdl_wire_frame_t *f)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    FILE *out = fopen (path, "wb");
    if (!out) {
        perror (path);
        exit (1);
    }
    fputc (spec, out);
    fputc ((int) nframes, out);
    for (size_t i = 0; i < nframes; i++) {
        fputc ((int) (f[i].len & 0xff), out);
        fputc ((int) (f[i].len >> 8), out);
        fwrite (f[i].data, 1, f[i].len, out);
    }
    fclose (out);
}

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    s_dir = argv[1];
    static const char *specs[] = FUZZ_SPECS;
    float x[FUZZ_D];
    for (int i = 0; i < FUZZ_D; i++)
        x[i] = sinf ((float) i * 0.7f) * (float) (i % 7);
    const uint64_t cluster = mdl_wire_cluster_id (FUZZ_CLUSTER);
    for (int s = 0; s < FUZZ_NSPECS; s++) {
        int err;
        mdl_codec_t *c = mdl_codec_new (specs[s], FUZZ_D, 9, &err);
        uint8_t payload[4096], head[MDL_WIRE_HEADER_MAX];
        size_t plen, hlen;
        if (!c || mdl_codec_encode (c, x, payload, sizeof payload, &plen, NULL))
            return 1;
        mdl_wire_header_t h;
        mdl_wire_header_init (&h, cluster, 3, c);
        h.seq = 1 + (uint64_t) s;
        h.step = 100;
        h.timestamp_us = 1700000000000000ULL;
        h.loss = 0.5;
        h.payload_len = plen;
        h.keyframe = s & 1;
        mdl_wire_pack (&h, head, sizeof head, &hlen);
        char topic[MDL_WIRE_TOPIC_MAX];
        size_t tlen = mdl_wire_topic (s & 1 ? MDL_WIRE_BROADCAST : FUZZ_SELF, topic);
        mdl_wire_frame_t f[4] = { { topic, tlen }, { head, hlen }, { payload, plen },
                                  { "x", 1 } };
        char name[64];
        snprintf (name, sizeof name, "valid-%02d-%s", s, mdl_codec_name (c));
        for (char *p = name; *p; p++)
            if (*p == ':' || *p == '+')
                *p = '_';
        s_write (name, s, 3, f);
        if (s == 0) {
            /* broken ones, from the fp32 message */
            s_write ("bad-extra-frame", s, 4, f);
            s_write ("bad-two-frames", s, 2, f);
            head[2] = 'X';
            s_write ("bad-magic", s, 3, f);
            head[2] = 'D';
            mdl_wire_frame_t g[3] = { f[0], { head, hlen - 3 }, f[2] };
            s_write ("bad-truncated-header", s, 3, g);
            float nan = NAN;
            memcpy (payload + 8, &nan, 4);
            s_write ("bad-nan-payload", s, 3, f);
            s_write ("bad-codec", 1, 3, f);
        }
        if (s == 7) {
            payload[8] = 0; /* zero gap: repeated index */
            s_write ("bad-index-order", s, 3, f);
            mdl_wire_frame_t g[3] = { f[0], f[1], { payload, plen - 1 } };
            s_write ("bad-truncated-payload", s, 3, g);
        }
        mdl_codec_destroy (&c);
    }
    return 0;
}
