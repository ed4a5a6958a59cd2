/*  test_mem.c: mdl_mem_zeroed gives zeros whose pages are already mapped for writing, so
    that a buffer read before it is written (momentum) takes no page fault in the first
    training steps; the page-fault count is read from getrusage. */
#include "testutil.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "mem.h"

static long
s_minor_faults (void)
{
    struct rusage u;
    assert_int_equal (getrusage (RUSAGE_SELF, &u), 0);
    return u.ru_minflt;
}

/* Reads every page, then writes it, the way momentum is first used; returns the page
   faults that took. */
static long
s_read_then_write_faults (volatile unsigned char *p, size_t n, size_t page)
{
    unsigned sum = 0;
    const long f0 = s_minor_faults ();
    for (size_t i = 0; i < n; i += page)
        sum += p[i];
    for (size_t i = 0; i < n; i += page)
        p[i] = (unsigned char) (sum + 1);
    return s_minor_faults () - f0;
}

static void
test_zeroed_pages_take_no_fault_when_first_used (void **state)
{
    (void) state;
    const size_t page = (size_t) sysconf (_SC_PAGESIZE), n = 8u << 20, pages = n / page;
    /* The measure first: a fresh anonymous mapping, read then written, faults on about
       every page (twice, with the zero page; at least once). */
    unsigned char *m = mmap (NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true (m != MAP_FAILED);
    (void) madvise (m, n, MADV_NOHUGEPAGE);
    assert_true (s_read_then_write_faults (m, n, page) >= (long) (pages / 2));
    munmap (m, n);
    /* mdl_mem_zeroed: zeros, and the same use takes (almost) no fault */
    unsigned char *p = mdl_mem_zeroed (n);
    assert_non_null (p);
    for (size_t i = 0; i < n; i++)
        if (p[i]) {
            fail_msg ("byte %zu is %u, not 0", i, p[i]);
        }
    assert_true (s_read_then_write_faults (p, n, page) < (long) (pages / 8));
    free (p);
}

static void
test_zero_bytes_is_a_buffer_not_an_error (void **state)
{
    (void) state;
    void *p = mdl_mem_zeroed (0);
    assert_non_null (p);
    free (p);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_zeroed_pages_take_no_fault_when_first_used),
        cmocka_unit_test (test_zero_bytes_is_a_buffer_not_an_error),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
