/*  testutil.h: helpers shared by the cmocka tests. */
#ifndef MDL_TESTUTIL_H
#define MDL_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Makes a fresh temporary directory for one test; returns its path in buf. */
void mdl_test_tmpdir (char *buf, size_t len);

/* Removes a directory tree made by mdl_test_tmpdir. */
void mdl_test_rmtree (const char *path);

/* Writes len bytes to path; fails the test on error. */
void mdl_test_write_file (const char *path, const void *data, size_t len);

/* Path of the Fashion-MNIST directory, or NULL when it is not installed. */
const char *mdl_test_fmnist_dir (void);

#endif
