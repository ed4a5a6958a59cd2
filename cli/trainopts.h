/*  trainopts.h: the training options every subcommand shares (train, sim, agent), their
    validation, and loading the data they name. */
#ifndef MDL_TRAINOPTS_H
#define MDL_TRAINOPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshdl.h"
#include "opts.h"

typedef struct {
    const char *model;
    int epochs;
    int batch;
    double lr;
    const char *optimizer;
    double momentum, beta1, beta2, eps, weight_decay;
    int accum;            /* accumadam: steps per moment update (0 = not given: 4) */
    const char *schedule;
    double warmup;        /* epochs of linear warm-up */
    double lr_min;        /* cosine floor */
    uint64_t seed;
    const char *data;     /* MNIST-format directory, or a CSV file */
    const char *test_data;/* CSV test file (with --data FILE.csv) */
    uint64_t train_subset, test_subset; /* 0 = all rows */
    bool no_data_cache;   /* --no-data-cache: gunzip the IDX files at every start */
    const char *data_cache; /* the cache's directory (NULL: $XDG_CACHE_HOME/meshdl, or
                               ~/.cache/meshdl); `agent --results DIR` sets DIR/.data-cache */
    const char *metrics;  /* JSONL path */
    const char *run;      /* run id (NULL: mdl_run_id's) */
    const char *checkpoint;
    const char *resume;
    int threads;          /* BLAS threads, 0 = library default */
    double target_acc;    /* 0 = none */
    bool stop_at_target;
    double progress;      /* seconds between progress lines when not a terminal */
    bool quiet;
    const char *config;   /* zconfig file of options */
    bool lr_given;        /* --lr / --lr-min were given (any source), set by the */
    bool lr_min_given;    /* caller after parsing; a CLR schedule owns both */
} mdl_trainopts_t;

void mdl_trainopts_defaults (mdl_trainopts_t *o);

/* Appends the shared option definitions for o to defs (at *n, capacity cap). */
void mdl_trainopts_defs (mdl_trainopts_t *o, mdl_optdef_t *defs, size_t *n, size_t cap);

/* Sets the training settings of cfg (meshdl/config.h: model, optimizer and its
   parameters, schedule, lr, warmup, seed, batch, epochs) from o, checking the model
   spec, the optimizer's name and parameters, and the schedule. Returns 0 or
   MDL_EINVAL/MDL_ESPEC with a one-line message. */
int mdl_trainopts_config (const mdl_trainopts_t *o, const char *cmd, mdl_agent_cfg_t *cfg, char *err, size_t errlen);

/* Sets key to the formatted value in cfg. 0, or the setting's error with "meshdl CMD: "
   and its reason in err (err may be NULL). */
int mdl_trainopts_set (mdl_agent_cfg_t *cfg, const char *cmd, const char *key, char *err, size_t errlen, const char *fmt,
                       ...) __attribute__ ((format (printf, 6, 7)));

/* Loads the training and test sets named by o, normalised with the training set's mean
   and std, truncated to the subsets. Returns 0 or an error code with a one-line message
   naming the file and the fix. */
int mdl_trainopts_data (const mdl_trainopts_t *o, const char *cmd, mdl_dataset_t **train,
                        mdl_dataset_t **test, char *err, size_t errlen);

/* Parses argv, then MESHDL_<OPTION> variables, then --config FILE, in that order of
   precedence. Returns 0, 1 (--help was printed) or MDL_EINVAL with a message; *keep
   holds the config file's strings (free with mdl_opts_config_free). */
int mdl_trainopts_parse (const char *cmd, const char *usage, mdl_optdef_t *defs, const char *config_path_of,
                         int argc, char **argv, void **keep, char *err, size_t errlen);

/* Sets the BLAS thread count (0 leaves the library's default). */
void mdl_blas_threads (int n);

#endif
