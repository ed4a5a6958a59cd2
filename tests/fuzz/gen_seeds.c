/*  gen_seeds.c: writes the seed corpora of the file and announcement fuzz targets
    (hello, config, ckpt, idx, csv, status) under ROOT/<name>/, using the project's own
    writers where it has one, so that every seed starts as something the program
    accepts, beside a few it must refuse.
    Usage: fuzz_seeds ROOT   (the checked-in corpora are tests/fuzz/corpus/) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "checkpoint.h"
#include "peer.h"
#include "status.h"

static const char *s_root;

static void
s_put (const char *target, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/%s", s_root, target);
    mkdir (path, 0755);
    snprintf (path, sizeof path, "%s/%s/%s", s_root, target, name);
    FILE *f = fopen (path, "wb");
    if (!f || fwrite (data, 1, len, f) != len || fclose (f) != 0) {
        perror (path);
        exit (1);
    }
}

static void
s_text (const char *target, const char *name, const char *text)
{
    s_put (target, name, text, strlen (text));
}

/* The bytes of a file written by a writer that only takes a path. */
static size_t
s_slurp (const char *path, unsigned char *buf, size_t cap)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        exit (1);
    size_t n = fread (buf, 1, cap, f);
    fclose (f);
    unlink (path);
    return n;
}

static void
s_hellos (void)
{
    const uint64_t cluster = mdl_cluster_hash ("fuzz");
    mdl_peer_info_t info;
    memset (&info, 0, sizeof info);
    info.id = 0x1234;
    info.incarnation = 99;
    info.port = 41000;
    uint8_t b[MDL_HELLO_SIZE];
    mdl_hello_pack (&info, cluster, b);
    s_put ("hello", "valid", b, sizeof b);
    s_put ("hello", "bad-short", b, sizeof b - 1);
    snprintf (info.pubkey, sizeof info.pubkey, "%s", "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
    mdl_hello_pack (&info, cluster, b);
    s_put ("hello", "valid-key", b, sizeof b);
    mdl_hello_pack (&info, mdl_cluster_hash ("other"), b);
    s_put ("hello", "other-cluster", b, sizeof b);
    info.id = 0;
    mdl_hello_pack (&info, cluster, b);
    s_put ("hello", "bad-id0", b, sizeof b);
}

static void
s_configs (void)
{
    s_text ("config", "valid", "agents = 4\nepochs = 2\ntopology = exp\nrobust = clip\nlr = 0.05\nerror-feedback = true\n");
    s_text ("config", "valid-list", "slow = 0:2\nslow = 1:3\n# a comment\nmodel = \"mlp:784-32-10\"\n");
    s_text ("config", "bad-value", "epochs = many\n");
    s_text ("config", "bad-unknown", "speed = 11\n");
    s_text ("config", "nested", "agents = 2\nsection\n    inner = 1\n        deeper = \"x\"\n");
    s_text ("config", "bad-syntax", "= 3\n\tagents 4\n");
}

static void
s_checkpoints (void)
{
    unsigned char buf[8192];
    float p[10], st[10];
    for (int i = 0; i < 10; i++)
        p[i] = (float) i * 0.5f - 2.0f, st[i] = (float) i;
    mdl_ckpt_t ck = { .spec = "mlp:4-2", .params = p, .d = 10, .opt_state = st, .opt_len = 10, .step = 7, .epoch = 1 };
    char path[4096];
    snprintf (path, sizeof path, "%s/seed.ckpt", s_root);
    if (mdl_ckpt_save (path, &ck))
        exit (1);
    size_t n = s_slurp (path, buf, sizeof buf);
    s_put ("ckpt", "valid", buf, n);
    s_put ("ckpt", "bad-truncated", buf, n / 2);
    buf[20] ^= 0x40;
    s_put ("ckpt", "bad-crc", buf, n);
    mdl_ckpt_t empty = { .spec = "", .d = 0, .opt_len = 0 };
    if (mdl_ckpt_save (path, &empty))
        exit (1);
    n = s_slurp (path, buf, sizeof buf);
    s_put ("ckpt", "valid-empty", buf, n);
}

/* An IDX input of the fuzz target: u16 length of the images file, images, labels. */
static void
s_idx_seed (const char *name, const unsigned char *img, size_t ni, const unsigned char *lab, size_t nl)
{
    unsigned char buf[4096];
    buf[0] = (unsigned char) (ni & 0xff);
    buf[1] = (unsigned char) (ni >> 8);
    memcpy (buf + 2, img, ni);
    memcpy (buf + 2 + ni, lab, nl);
    s_put ("idx", name, buf, 2 + ni + nl);
}

static size_t
s_gzip (const unsigned char *in, size_t n, unsigned char *out, size_t cap)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/seed.gz", s_root);
    gzFile g = gzopen (path, "wb");
    if (!g || gzwrite (g, in, (unsigned) n) != (int) n || gzclose (g) != Z_OK)
        exit (1);
    return s_slurp (path, out, cap);
}

static void
s_idx (void)
{
    /* 3 images of 2x2 pixels, labels 0, 1, 2 */
    const unsigned char img[16 + 12] = { 0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2,
                                         0, 64, 128, 255, 1, 2, 3, 4, 200, 100, 50, 25 };
    const unsigned char lab[8 + 3] = { 0, 0, 8, 1, 0, 0, 0, 3, 0, 1, 2 };
    s_idx_seed ("valid-plain", img, sizeof img, lab, sizeof lab);
    unsigned char gi[512], gl[512];
    size_t ni = s_gzip (img, sizeof img, gi, sizeof gi), nl = s_gzip (lab, sizeof lab, gl, sizeof gl);
    s_idx_seed ("valid-gzip", gi, ni, gl, nl);
    s_idx_seed ("bad-count", img, sizeof img, lab, sizeof lab - 1);
    s_idx_seed ("bad-truncated-gzip", gi, ni / 2, gl, nl);
}

static void
s_csvs (void)
{
    s_text ("csv", "valid-header", "label,a,b,c\n0,1.5,2,3\n1,-4,5e-3,6\n2,0,0,0\n");
    s_text ("csv", "valid-crlf", "1,0.5\r\n0,2\r\n\r\n3,1\r\n");
    s_text ("csv", "bad-ragged", "0,1,2\n1,2\n");
    s_text ("csv", "bad-label", "-1,1\n");
    s_text ("csv", "bad-nan", "0,nan\n");
}

static void
s_statuses (void)
{
    char path[4096];
    unsigned char buf[4096];
    snprintf (path, sizeof path, "%s/seed-status.json", s_root);
    mdl_status_t st = { .agent = "00000000000004d2", .state = "training", .peers = 3, .min_peers = 3, .step = 120,
                        .epoch = 0.52, .shard = 1, .shards = 4, .first_step_time = 1790000000.0,
                        .message = "quote \" and \\ back" };
    const char *states[] = { "training", "waiting", "failed" };
    for (int i = 0; i < 3; i++) {
        st.state = states[i];
        if (mdl_status_write (path, &st))
            exit (1);
        size_t n = s_slurp (path, buf, sizeof buf);
        s_put ("status", states[i], buf, n);
    }
    s_text ("status", "bad-empty", "");
    s_text ("status", "bad-unterminated", "{\"agent\": \"12");
}

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: %s ROOT\n", argv[0]);
        return 2;
    }
    s_root = argv[1];
    s_hellos ();
    s_configs ();
    s_checkpoints ();
    s_idx ();
    s_csvs ();
    s_statuses ();
    return 0;
}
