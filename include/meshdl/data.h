/*  meshdl/data.h: datasets in memory and how they are split among agents.

    A dataset is labelled rows in memory (IDX/MNIST format, gzip or plain; CSV): features
    are one row-major float matrix (n x dim) and labels one int32 array, so a minibatch is
    a gather of rows into a contiguous buffer. IDX pixel bytes are scaled to [0, 1] on
    load; mdl_dataset_normalize then standardises. Every length read from a file is
    checked against the bytes actually present before it sizes anything.

    A partition splits a dataset's rows among N agents, deterministically from a seed:
    every agent computes the whole partition from the same (spec, labels, N, seed) and
    takes its own shard, so no coordination is needed. Shards are disjoint; IID and
    shards:K cover every row; Dirichlet covers every row as well (each row goes to one
    agent drawn from that class's Dirichlet proportions). */
#ifndef MESHDL_DATA_H
#define MESHDL_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshdl/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mdl_dataset_t mdl_dataset_t;

/* Default location of Fashion-MNIST (Debian package dataset-fashion-mnist). */
#define MDL_FMNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Makes an empty dataset of n rows of dim features, classes classes (0 = regression),
   all zero; fill it through mdl_dataset_x_mut/labels_mut. NULL + *err on failure.
   Caller owns the return value and must destroy it. */
MDL_EXPORT mdl_dataset_t *mdl_dataset_new (size_t n, size_t dim, int classes, int *err);

/* Loads an IDX images file (magic 0x00000803, u8 pixels) and an IDX labels file
   (0x00000801), each gzip-compressed or plain (detected by content). Errors: MDL_ENOENT,
   MDL_EMAGIC, MDL_ETRUNC (file shorter than its dims say, or a broken gzip stream),
   MDL_EFORMAT (absurd dims: a zero dimension or more than 2^31 elements; or bytes after
   the data), MDL_EMISMATCH (counts differ). NULL + *err on failure. */
MDL_EXPORT mdl_dataset_t *mdl_dataset_load_idx (const char *images, const char *labels, int *err);

/* Loads split "train" or "t10k" from an MNIST-format directory: DIR/SPLIT-images-idx3-ubyte
   and DIR/SPLIT-labels-idx1-ubyte, with or without .gz. On failure *err is set and, when
   path is non-NULL, the offending file's path is written there (pathlen bytes). */
MDL_EXPORT mdl_dataset_t *mdl_dataset_load_dir (const char *dir, const char *split, int *err, char *path,
                                                size_t pathlen);

/* What mdl_dataset_load_dir_cached did with its cache. */
typedef enum { MDL_CACHE_NONE = 0, MDL_CACHE_HIT = 1, MDL_CACHE_WRITTEN = 2 } mdl_cache_use_t;

/* mdl_dataset_load_dir through a decompressed copy of the IDX files in cache_dir (NULL
   or "": none), keyed by the sources' sizes and modification times: a fresh copy is
   memory-mapped (no gunzip; a process's resident memory is the rows it touches),
   otherwise the files are read and the copy (re)written for the next start, which
   fails silently when the directory cannot be written. *use (may be NULL) says which.
   Errors as mdl_dataset_load_dir. */
MDL_EXPORT mdl_dataset_t *mdl_dataset_load_dir_cached (const char *dir, const char *split, const char *cache_dir,
                                                       int *err, char *path, size_t pathlen, mdl_cache_use_t *use);

/* Loads a CSV file of rows "label,f1,f2,...,fdim" (an optional non-numeric header line is
   skipped: a first line whose first field is not a number). Every row must have the same
   number of fields (at least 2); labels are integers >= 0; features finite numbers.
   CRLF line ends are accepted and blank lines skipped.
   Errors: MDL_ENOENT, MDL_EFORMAT (with *line set to the 1-based bad line when line != NULL). */
MDL_EXPORT mdl_dataset_t *mdl_dataset_load_csv (const char *path, int *err, size_t *line);

/* True when spec names generated data ("synthetic:..."), not a file or directory. */
MDL_EXPORT bool mdl_dataset_is_synthetic (const char *spec);

/* Generates a training and a test set with a known answer from spec and seed (same
   seed, same bits). "synthetic:linreg:N:D:NOISE[:HET]" is least squares: N training
   rows (and N/5, at least 1, test rows) of D standard Gaussian features, targets
   y = <w* + HET u_g, x> + NOISE e (mdl_dataset_targets), each row in one of 10 groups g
   (its label, which the label partitions split by: HET > 0 gives each group its own
   regression vector). Train it with the model "linreg:D". Returns 0, MDL_EINVAL (spec
   does not parse: the reason in mdl_error_detail()) or MDL_ENOMEM, with *train and
   *test NULL on error. Caller owns both and destroys them. */
MDL_EXPORT int mdl_dataset_synthetic (const char *spec, uint64_t seed, mdl_dataset_t **train, mdl_dataset_t **test);

/* Destroys ds and sets *ds to NULL; safe on NULL. */
MDL_EXPORT void mdl_dataset_destroy (mdl_dataset_t **ds);

MDL_EXPORT size_t mdl_dataset_n (const mdl_dataset_t *ds);
MDL_EXPORT size_t mdl_dataset_dim (const mdl_dataset_t *ds);
/* number of classes (max label + 1 for loaded data); groups for synthetic regression data */
MDL_EXPORT int mdl_dataset_classes (const mdl_dataset_t *ds);
/* (n, dim) row-major floats, or NULL for pixel (IDX) data, which is held as its bytes:
   read its rows with mdl_dataset_gather */
MDL_EXPORT const float *mdl_dataset_x (const mdl_dataset_t *ds);
MDL_EXPORT const int32_t *mdl_dataset_labels (const mdl_dataset_t *ds); /* (n) */
/* (n) regression targets (synthetic:linreg data), or NULL for classification data */
MDL_EXPORT const float *mdl_dataset_targets (const mdl_dataset_t *ds);
MDL_EXPORT float *mdl_dataset_x_mut (mdl_dataset_t *ds);
MDL_EXPORT int32_t *mdl_dataset_labels_mut (mdl_dataset_t *ds);

/* Computes the mean and standard deviation over all features of all rows. */
MDL_EXPORT void mdl_dataset_stats (const mdl_dataset_t *ds, float *mean, float *std);

/* x <- (x - mean) / std for every feature; std must be > 0. */
MDL_EXPORT void mdl_dataset_normalize (mdl_dataset_t *ds, float mean, float std);

/* Copies rows idx[0..n) into x (n, dim) and their labels into y (either may be NULL).
   Indices must be < mdl_dataset_n. No allocation: the training loop's gather. */
MDL_EXPORT void mdl_dataset_gather (const mdl_dataset_t *ds, const uint32_t *idx, size_t n, float *x, int32_t *y);

/* Keeps in memory of its own only the pixels of rows[0..n) (any order, repeats
   allowed) of an IDX dataset, and lets go of the rest (a mapped cache is unmapped): a
   process that trains on one shard holds that shard, not the training set. Row indices
   stay those of the full set; gathering another row afterwards is a programming error.
   Labels stay (the partitioners need them all). Call it after mdl_dataset_stats. Returns
   0, or MDL_ENOMEM with ds unchanged; a no-op (0) for float data. */
MDL_EXPORT int mdl_dataset_keep_rows (mdl_dataset_t *ds, const uint32_t *rows, size_t n);

/* Keeps only the first n rows (n <= current n); used for quick runs on a subset. */
MDL_EXPORT void mdl_dataset_truncate (mdl_dataset_t *ds, size_t n);

/* The minimum-norm least-squares solution w (mdl_dataset_dim doubles) of X w = y over
   every row of a regression dataset (synthetic:linreg: float features X, targets y):
   w = X^+ y, through a singular value decomposition in double precision; the centralized
   answer that model-parallel least squares is compared with. For a few hundred rows and
   columns (O(rows dim^2) per sweep). Returns 0, MDL_EINVAL (no targets or no float
   features), MDL_ENOMEM, or MDL_ERANGE (the decomposition did not converge, a non-finite
   entry), with the reason in mdl_error_detail(); w is undefined on error. */
MDL_EXPORT int mdl_dataset_minnorm (const mdl_dataset_t *ds, double *w);

/* ---- partitions ---- */

typedef enum {
    MDL_PART_IID = 0,       /* shuffled, equal-size shards */
    MDL_PART_DIRICHLET = 1, /* per-class proportions p_c ~ Dir(alpha) over agents */
    MDL_PART_SHARDS = 2,    /* rows sorted by label cut in N*K shards, K per agent */
} mdl_part_kind_t;

typedef struct {
    mdl_part_kind_t kind;
    double alpha; /* DIRICHLET: concentration > 0; smaller = more skewed */
    int k;        /* SHARDS: label shards per agent >= 1 */
} mdl_part_spec_t;

typedef struct mdl_partition_t mdl_partition_t;

/* Parses "iid", "dirichlet:ALPHA" or "shards:K". Returns 0 or MDL_EINVAL. */
MDL_EXPORT int mdl_part_parse (const char *s, mdl_part_spec_t *out);

/* Partitions n rows with labels (in [0, classes)) among agents, from seed.
   Every agent gets at least one row: a Dirichlet draw that leaves an agent empty is
   redrawn (up to 16 times), then single rows are moved to the empty agents from agents
   holding two or more. labels may be NULL for IID only. NULL + *err on failure
   (MDL_EINVAL: agents == 0, agents > n, n >= 2^32, agents * K > n for shards:K,
   a label outside [0, classes), bad spec; MDL_ENOMEM).
   Caller owns the return value and must destroy it. */
MDL_EXPORT mdl_partition_t *mdl_partition_new (const mdl_part_spec_t *spec, const int32_t *labels, size_t n,
                                               int classes, uint32_t agents, uint64_t seed, int *err);

/* Destroys p and sets *p to NULL; safe on NULL. */
MDL_EXPORT void mdl_partition_destroy (mdl_partition_t **p);

MDL_EXPORT uint32_t mdl_partition_agents (const mdl_partition_t *p);

/* Row indices of agent i's shard (ascending), count in *count. Valid until destroy. */
MDL_EXPORT const uint32_t *mdl_partition_shard (const mdl_partition_t *p, uint32_t i, size_t *count);

#ifdef __cplusplus
}
#endif

#endif
