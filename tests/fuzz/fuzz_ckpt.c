/*  fuzz_ckpt.c: libFuzzer target for the checkpoint reader (checkpoint.h), as --resume
    reads a file: against the spec and sizes of a small model (d = 10, 10 floats of
    optimizer state) and of none (d = 0), so both the header checks and the payload
    reads are reached. The reader must answer with one of its documented codes. */
#include <stdlib.h>

#include "checkpoint.h"
#include "err.h"
#include "fuzz_file.h"

#define S_D 10

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *path = fuzz_file (data, size, 0);
    float params[S_D], state[S_D];
    uint64_t step = 0, epoch = 0;
    int rc = mdl_ckpt_load (path, "mlp:4-2", params, S_D, state, S_D, &step, &epoch);
    if (rc && rc != MDL_ECKPT_MAGIC && rc != MDL_ECKPT_VERSION && rc != MDL_ECKPT_MODEL && rc != MDL_ECKPT_CORRUPT
        && rc != MDL_EIO)
        abort ();
    rc = mdl_ckpt_load (path, "", NULL, 0, NULL, 0, NULL, NULL);
    (void) rc;
    return 0;
}
