/*  fuzz_idx.c: libFuzzer target for the IDX reader (dataset.h: gzip or plain images and
    labels files). An input is u16 little-endian n, then n bytes of the images file and
    the rest as the labels file. A dataset that loads must agree with what it claims. */
#include <stdlib.h>

#include "dataset.h"
#include "err.h"
#include "fuzz_file.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t n = (size_t) data[0] | (size_t) data[1] << 8;
    if (n > size - 2)
        n = size - 2;
    const char *images = fuzz_file (data + 2, n, 0), *labels = fuzz_file (data + 2 + n, size - 2 - n, 1);
    int err = 0;
    mdl_dataset_t *ds = mdl_dataset_load_idx (images, labels, &err);
    if (ds) {
        const size_t rows = mdl_dataset_n (ds), dim = mdl_dataset_dim (ds);
        const int32_t *y = mdl_dataset_labels (ds);
        double sum = 0;
        /* IDX data keeps its pixel bytes (mdl_dataset_x is NULL): every row through a gather */
        float *row = malloc ((dim ? dim : 1) * sizeof (float));
        if (!row)
            abort ();
        for (uint32_t i = 0; i < rows; i++) {
            int32_t label;
            mdl_dataset_gather (ds, &i, 1, row, &label);
            for (size_t k = 0; k < dim; k++)
                sum += row[k]; /* every element readable */
            if (label != y[i])
                abort ();
        }
        free (row);
        for (size_t i = 0; i < rows; i++)
            if (y[i] < 0 || y[i] >= mdl_dataset_classes (ds))
                abort ();
        if (!(sum == sum))
            abort ();
        mdl_dataset_destroy (&ds);
    } else if (err != MDL_EMAGIC && err != MDL_ETRUNC && err != MDL_EFORMAT && err != MDL_EMISMATCH && err != MDL_ENOMEM
               && err != MDL_EIO)
        abort ();
    return 0;
}
