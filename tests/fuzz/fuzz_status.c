/*  fuzz_status.c: libFuzzer target for the status file reader of `meshdl status` (the
    Docker HEALTHCHECK): it reads whatever is at the path and must answer with one
    sentence, healthy or not. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"
#include "status.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *path = fuzz_file (data, size, 0);
    char line[512];
    line[0] = 0;
    /* the first byte picks --waiting-ok, so both readings are fuzzed */
    int rc = mdl_status_check (path, 1e12, size > 0 && (data[0] & 1), line, sizeof line);
    /* "healthy: ..." or, with --waiting-ok, "healthy (--waiting-ok): ..." */
    const bool good = rc == 0 && (!strncmp (line, "healthy", 7) || !strncmp (line, "finished: ", 10));
    if (!good && (rc != 1 || strncmp (line, "unhealthy: ", 11)))
        abort ();
    return 0;
}
