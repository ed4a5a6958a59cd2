/*  testutil.c: helpers shared by the cmocka tests. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
mdl_test_tmpdir (char *buf, size_t len)
{
    const char *base = getenv ("TMPDIR");
    snprintf (buf, len, "%s/meshdl-test-XXXXXX", base ? base : "/tmp");
    assert_non_null (mkdtemp (buf));
}

void
mdl_test_rmtree (const char *path)
{
    char cmd[4200];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", path);
    int rc = system (cmd);
    (void) rc;
}

void
mdl_test_write_file (const char *path, const void *data, size_t len)
{
    FILE *f = fopen (path, "wb");
    assert_non_null (f);
    assert_int_equal (fwrite (data, 1, len, f), len);
    assert_int_equal (fclose (f), 0);
}

const char *
mdl_test_fmnist_dir (void)
{
    static const char *dir = "/usr/share/datasets/fashion-mnist";
    return access ("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) == 0 ? dir : NULL;
}
