/*  fuzz_csv.c: libFuzzer target for the CSV reader (dataset.h: "label,f1,...,fdim" rows,
    an optional header). A dataset that loads must hold finite features and labels in
    range; a refusal must say which line. */
#include <math.h>
#include <stdlib.h>

#include "dataset.h"
#include "err.h"
#include "fuzz_file.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *path = fuzz_file (data, size, 0);
    int err = 0;
    size_t line = 0;
    mdl_dataset_t *ds = mdl_dataset_load_csv (path, &err, &line);
    if (ds) {
        const size_t rows = mdl_dataset_n (ds), dim = mdl_dataset_dim (ds);
        const float *x = mdl_dataset_x (ds);
        const int32_t *y = mdl_dataset_labels (ds);
        for (size_t i = 0; i < rows * dim; i++)
            if (!isfinite (x[i]))
                abort ();
        for (size_t i = 0; i < rows; i++)
            if (y[i] < 0 || y[i] >= mdl_dataset_classes (ds))
                abort ();
        mdl_dataset_destroy (&ds);
    } else if (err != MDL_EFORMAT && err != MDL_ENOMEM && err != MDL_EIO && err != MDL_ETRUNC)
        abort ();
    return 0;
}
