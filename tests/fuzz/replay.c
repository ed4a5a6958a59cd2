/*  replay.c: runs the fuzz target without libFuzzer, for builds without clang.

    Linked with each target (fuzz_<name>.c); feeds every file given (or every file in a
    directory given) to
    LLVMFuzzerTestOneInput, then every truncation of it and a few single-byte mutations
    at every position: a small deterministic fuzz pass over the seed corpus, registered
    as a ctest unit test so the decoder is exercised (under ASan/UBSan when enabled) in
    every build. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static long s_runs;

static void
s_run (const uint8_t *data, size_t n)
{
    uint8_t *b = malloc (n ? n : 1);
    if (!b)
        exit (1);
    memcpy (b, data, n);
    LLVMFuzzerTestOneInput (b, n);
    s_runs++;
    free (b);
}

static int
s_file (const char *path)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        fprintf (stderr, "replay: cannot open %s\n", path);
        return 1;
    }
    static uint8_t buf[1 << 16];
    size_t n = fread (buf, 1, sizeof buf, f);
    fclose (f);
    s_run (buf, n);
    uint8_t *m = malloc (n ? n : 1);
    if (!m)
        return 1;
    for (size_t len = 0; len < n; len++)
        s_run (buf, len);
    static const uint8_t vals[] = { 0x00, 0xff, 0x80, 0x7f, 0x01 };
    for (size_t i = 0; i < n; i++)
        for (size_t v = 0; v < sizeof vals; v++) {
            memcpy (m, buf, n);
            m[i] = vals[v];
            s_run (m, n);
            m[i] = buf[i] ^ (uint8_t) (1u << (i % 8));
            s_run (m, n);
        }
    free (m);
    return 0;
}

int
main (int argc, char **argv)
{
    int bad = 0, files = 0;
    for (int a = 1; a < argc; a++) {
        struct stat st;
        if (stat (argv[a], &st) == 0 && S_ISDIR (st.st_mode)) {
            DIR *d = opendir (argv[a]);
            struct dirent *e;
            while (d && (e = readdir (d))) {
                if (e->d_name[0] == '.')
                    continue;
                char p[4096];
                snprintf (p, sizeof p, "%s/%s", argv[a], e->d_name);
                bad |= s_file (p);
                files++;
            }
            if (d)
                closedir (d);
        } else {
            bad |= s_file (argv[a]);
            files++;
        }
    }
    printf ("replay: %d files, %ld runs\n", files, s_runs);
    return bad || files == 0;
}
