/*  fuzz_status.c: libFuzzer target for the status file reader of `meshdl status` (the
    Docker HEALTHCHECK): it reads whatever is at the path and must answer with one
    sentence, healthy or not. */
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
    int rc = mdl_status_check (path, 1e12, line, sizeof line);
    if ((rc != 0 && rc != 1) || strlen (line) == 0 || strncmp (line, rc ? "unhealthy: " : "healthy: ", rc ? 11 : 9))
        abort ();
    return 0;
}
