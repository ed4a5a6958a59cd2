/*  dataset.h: labelled datasets in memory (IDX/MNIST format, gzip or plain; CSV).

    Features are a row-major n x dim matrix and labels one int32 array, so a minibatch
    is a gather of rows into a contiguous float buffer. CSV and generated data hold
    floats; IDX data holds its pixel bytes as they come (a quarter of the memory) and a
    gather turns each into v / 255, standardised once mdl_dataset_normalize ran: the same
    floats the float matrix would hold. Every length read from
    a file is checked against the bytes actually present before it sizes anything. */
#ifndef MDL_DATASET_H
#define MDL_DATASET_H

#include <stddef.h>
#include <stdint.h>

typedef struct mdl_dataset_t mdl_dataset_t;

/* Default location of Fashion-MNIST (Debian package dataset-fashion-mnist). */
#define MDL_FMNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Makes an empty dataset of n rows of dim features, classes classes (0 = regression),
   all zero; fill it through mdl_dataset_x_mut/labels_mut. NULL + *err on failure.
   Caller owns the return value and must destroy it. */
mdl_dataset_t *mdl_dataset_new (size_t n, size_t dim, int classes, int *err);

/* Loads an IDX images file (magic 0x00000803, u8 pixels) and an IDX labels file
   (0x00000801), each gzip-compressed or plain (detected by content). Errors: MDL_ENOENT,
   MDL_EMAGIC, MDL_ETRUNC (file shorter than its dims say, or a broken gzip stream),
   MDL_EFORMAT (absurd dims: a zero dimension or more than 2^31 elements; or bytes after
   the data), MDL_EMISMATCH (counts differ). NULL + *err on failure. */
mdl_dataset_t *mdl_dataset_load_idx (const char *images, const char *labels, int *err);

/* Loads split "train" or "t10k" from an MNIST-format directory: DIR/SPLIT-images-idx3-ubyte
   and DIR/SPLIT-labels-idx1-ubyte, with or without .gz. On failure *err is set and, when
   path is non-NULL, the offending file's path is written there (pathlen bytes). */
mdl_dataset_t *mdl_dataset_load_dir (const char *dir, const char *split, int *err,
                                     char *path, size_t pathlen);

/* What mdl_dataset_load_dir_cached did with its cache. */
typedef enum { MDL_CACHE_NONE = 0, MDL_CACHE_HIT = 1, MDL_CACHE_WRITTEN = 2 } mdl_cache_use_t;

/* mdl_dataset_load_dir through a decompressed copy of the IDX files in cache_dir (NULL
   or "": none), keyed by the sources' sizes and modification times: a fresh copy is
   memory-mapped (no gunzip; a process's resident memory is the rows it touches),
   otherwise the files are read and the copy (re)written for the next start, which
   fails silently when the directory cannot be written. *use (may be NULL) says which.
   Errors as mdl_dataset_load_dir. */
mdl_dataset_t *mdl_dataset_load_dir_cached (const char *dir, const char *split, const char *cache_dir, int *err,
                                            char *path, size_t pathlen, mdl_cache_use_t *use);

/* Loads a CSV file of rows "label,f1,f2,...,fdim" (an optional non-numeric header line is
   skipped: a first line whose first field is not a number). Every row must have the same
   number of fields (at least 2); labels are integers >= 0; features finite numbers.
   CRLF line ends are accepted and blank lines skipped.
   Errors: MDL_ENOENT, MDL_EFORMAT (with *line set to the 1-based bad line when line != NULL). */
mdl_dataset_t *mdl_dataset_load_csv (const char *path, int *err, size_t *line);

/* Destroys ds and sets *ds to NULL; safe on NULL. */
void mdl_dataset_destroy (mdl_dataset_t **ds);

size_t mdl_dataset_n (const mdl_dataset_t *ds);
size_t mdl_dataset_dim (const mdl_dataset_t *ds);
/* number of classes (max label + 1 for loaded data); groups for synthetic regression data */
int mdl_dataset_classes (const mdl_dataset_t *ds);
const float *mdl_dataset_x (const mdl_dataset_t *ds);      /* (n, dim) row-major, or NULL
                                                               for pixel (IDX) data:
                                                               read rows with gather */
const int32_t *mdl_dataset_labels (const mdl_dataset_t *ds); /* (n) */
float *mdl_dataset_x_mut (mdl_dataset_t *ds);
int32_t *mdl_dataset_labels_mut (mdl_dataset_t *ds);

/* Gives ds a regression target per row (all zero; fill through mdl_dataset_targets_mut).
   Labels stay: on regression data they are group ids that the partitioners split by.
   Returns 0, or MDL_ENOMEM with ds unchanged. */
int mdl_dataset_add_targets (mdl_dataset_t *ds);
/* (n) regression targets, or NULL for classification data */
const float *mdl_dataset_targets (const mdl_dataset_t *ds);
float *mdl_dataset_targets_mut (mdl_dataset_t *ds);
/* Copies the targets of rows idx[0..n) into t; ds must have targets. */
void mdl_dataset_gather_targets (const mdl_dataset_t *ds, const uint32_t *idx, size_t n, float *t);

/* Computes the mean and standard deviation over all features of all rows. */
void mdl_dataset_stats (const mdl_dataset_t *ds, float *mean, float *std);

/* x <- (x - mean) / std for every feature; std must be > 0. */
void mdl_dataset_normalize (mdl_dataset_t *ds, float mean, float std);

/* Copies rows idx[0..n) into x (n, dim) and their labels into y (either may be NULL).
   Indices must be < mdl_dataset_n. No allocation: the training loop's gather. */
void mdl_dataset_gather (const mdl_dataset_t *ds, const uint32_t *idx, size_t n, float *x,
                         int32_t *y);

/* Keeps in memory of its own only the pixels of rows[0..n) (any order, repeats
   allowed) of an IDX dataset, and lets go of the rest (a mapped cache is unmapped): a
   process that trains on one shard holds that shard, not the training set. Row indices
   stay those of the full set; gathering another row afterwards is a programming error.
   Labels stay (the partitioners need them all). Call it after mdl_dataset_stats. Returns
   0, or MDL_ENOMEM with ds unchanged; a no-op (0) for float data. */
int mdl_dataset_keep_rows (mdl_dataset_t *ds, const uint32_t *rows, size_t n);

/* Keeps only the first n rows (n <= current n); used for quick runs on a subset. */
void mdl_dataset_truncate (mdl_dataset_t *ds, size_t n);

#endif
