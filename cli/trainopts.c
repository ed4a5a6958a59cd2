/*  trainopts.c: shared training options (see trainopts.h). */
#include "trainopts.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "meshdl.h"

extern void openblas_set_num_threads (int);

void
mdl_trainopts_defaults (mdl_trainopts_t *o)
{
    memset (o, 0, sizeof *o);
    o->model = "mlp:784-256-128-10";
    o->epochs = 5;
    o->batch = 64;
    o->lr = 0.02;
    o->optimizer = "momentum";
    o->momentum = 0.9;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->schedule = "cosine";
    o->seed = 1;
    o->data = MDL_FMNIST_DIR;
    o->progress = 5.0;
}

#define D(nm, ty, ptr, mv, hl, lo, hi) \
    (mdl_optdef_t) { .name = nm, .type = ty, .dst = ptr, .metavar = mv, .help = hl, .min = lo, .max = hi }
/* An option whose default --help cannot read from its destination (NAN, NULL, 0 = all). */
#define DD(nm, ty, ptr, mv, hl, lo, hi, df) \
    (mdl_optdef_t) { .name = nm, .type = ty, .dst = ptr, .metavar = mv, .help = hl, .min = lo, .max = hi, .deflt = df }

void
mdl_trainopts_defs (mdl_trainopts_t *o, mdl_optdef_t *defs, size_t *n, size_t cap)
{
    const mdl_optdef_t add[] = {
        D ("model", MDL_OPTT_STR, &o->model, "SPEC", "model: mlp:784-256-128-10 (any widths), cnn, cnn:C1-C2-H, linreg:D; suffix ,act=tanh", 0, 0),
        D ("epochs", MDL_OPTT_INT, &o->epochs, "N", "passes over the (own) training data", 1, 100000),
        D ("batch", MDL_OPTT_INT, &o->batch, "B", "minibatch size (per agent)", 1, 1 << 20),
        D ("lr", MDL_OPTT_DOUBLE, &o->lr, "LR", "learning rate (0 = gossip only)", 0, 1e3),
        D ("optimizer", MDL_OPTT_STR, &o->optimizer, "NAME", "sgd | momentum | nesterov | adam | adamw | accumadam", 0, 0),
        DD ("accum", MDL_OPTT_INT, &o->accum, "K", "accumadam: Adam moments advance once per K steps, on their mean gradient (Wang et al.)", 1, 1000000, "4"),
        D ("momentum", MDL_OPTT_DOUBLE, &o->momentum, "MU", "momentum for momentum/nesterov, in [0,1)", 0, 0.999999),
        D ("beta1", MDL_OPTT_DOUBLE, &o->beta1, "B1", "Adam beta1", 0, 0.999999),
        D ("beta2", MDL_OPTT_DOUBLE, &o->beta2, "B2", "Adam beta2", 0, 0.999999),
        D ("eps", MDL_OPTT_DOUBLE, &o->eps, "EPS", "Adam epsilon", 1e-30, 1),
        D ("weight-decay", MDL_OPTT_DOUBLE, &o->weight_decay, "WD", "L2 weight decay (decoupled for adamw)", 0, 10),
        D ("schedule", MDL_OPTT_STR, &o->schedule, "S", "constant | cosine | step:GAMMA:E1,E2,... (decay at epochs) | clr:MIN:MAX:PERIOD (triangular cyclical rate, PERIOD epochs per cycle; replaces --lr)", 0, 0),
        D ("warmup", MDL_OPTT_DOUBLE, &o->warmup, "EPOCHS", "linear learning-rate warm-up", 0, 1e6),
        D ("lr-min", MDL_OPTT_DOUBLE, &o->lr_min, "LR", "floor of the cosine schedule", 0, 1e3),
        D ("seed", MDL_OPTT_U64, &o->seed, "S", "random seed: same seed, same run", 0, 18446744073709551615.0),
        D ("data", MDL_OPTT_STR, &o->data, "DIR|FILE.csv|synthetic:...", "MNIST-format directory (train-/t10k-*-ubyte[.gz]), a CSV file label,f1,..., or synthetic:linreg:N:D:NOISE[:HET] (least squares, use --model linreg:D)", 0, 0),
        D ("test-data", MDL_OPTT_STR, &o->test_data, "FILE.csv", "test set when --data is a CSV file", 0, 0),
        D ("no-data-cache", MDL_OPTT_FLAG, &o->no_data_cache, NULL, "read the gzip IDX files at every start instead of a memory-mapped decompressed copy in $XDG_CACHE_HOME/meshdl (or DIR/.data-cache with --results DIR)", 0, 0),
        DD ("train-subset", MDL_OPTT_U64, &o->train_subset, "N", "use only the first N training rows", 0, 1e12, "all"),
        DD ("test-subset", MDL_OPTT_U64, &o->test_subset, "N", "evaluate on the first N test rows", 0, 1e12, "all"),
        D ("metrics", MDL_OPTT_STR, &o->metrics, "FILE.jsonl", "append one JSON object per evaluation (each with the run's id, --run)", 0, 0),
        DD ("run", MDL_OPTT_STR, &o->run, "ID", "the run's id in metrics and the summary: tells runs appended to one file apart", 0, 0, "random, new for every run"),
        D ("checkpoint", MDL_OPTT_STR, &o->checkpoint, "FILE", "write a checkpoint after every epoch and at the end (atomically)", 0, 0),
        D ("resume", MDL_OPTT_STR, &o->resume, "FILE", "start from this checkpoint (parameters, optimizer state, step)", 0, 0),
        D ("threads", MDL_OPTT_INT, &o->threads, "N", "BLAS threads (0 = OpenBLAS default)", 0, 1024),
        DD ("target-acc", MDL_OPTT_DOUBLE, &o->target_acc, "A", "report the time when test accuracy first reaches A (0..1)", 0, 1, "off"),
        D ("stop-at-target", MDL_OPTT_FLAG, &o->stop_at_target, NULL, "stop once --target-acc is reached", 0, 0),
        D ("progress", MDL_OPTT_DOUBLE, &o->progress, "SEC", "seconds between progress lines when stderr is not a terminal", 0.1, 1e6),
        D ("quiet", MDL_OPTT_FLAG, &o->quiet, NULL, "no progress line", 0, 0),
        D ("config", MDL_OPTT_STR, &o->config, "FILE", "read options from a CZMQ zconfig file (name = value lines); command line and MESHDL_* win", 0, 0),
    };
    for (size_t i = 0; i < sizeof add / sizeof add[0] && *n + 1 < cap; i++)
        defs[(*n)++] = add[i];
    defs[*n] = (mdl_optdef_t) { 0 };
}

int
mdl_trainopts_set (mdl_agent_cfg_t *cfg, const char *cmd, const char *key, char *err, size_t errlen, const char *fmt, ...)
{
    char v[4096];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (v, sizeof v, fmt, ap);
    va_end (ap);
    int rc = mdl_agent_cfg_set (cfg, key, v);
    if (rc && err)
        snprintf (err, errlen, "meshdl %s: %s", cmd, mdl_error_detail ()[0] ? mdl_error_detail () : mdl_strerror (rc));
    return rc;
}

int
mdl_trainopts_config (const mdl_trainopts_t *o, const char *cmd, mdl_agent_cfg_t *cfg, char *err, size_t errlen)
{
    char hint[96];
    if (!o->model[0]) { /* "" is the setting's "no model" (a vector of the caller's own) */
        snprintf (err, errlen, "meshdl %s: --model must not be empty", cmd);
        return MDL_ESPEC;
    }
    if (mdl_trainopts_set (cfg, cmd, "model", err, errlen, "%s", o->model))
        return MDL_ESPEC;
    if (mdl_agent_cfg_set (cfg, "optimizer", o->optimizer)) {
        snprintf (err, errlen, "meshdl %s: --optimizer '%s' is not one of sgd, momentum, nesterov, adam, adamw, accumadam%s",
                  cmd, o->optimizer,
                  mdl_did_you_mean_in (hint, sizeof hint, o->optimizer, "sgd momentum nesterov adam adamw accumadam"));
        return MDL_EINVAL;
    }
    if (o->accum && strcmp (o->optimizer, "accumadam")) {
        snprintf (err, errlen, "meshdl %s: --accum applies to --optimizer accumadam only (got --optimizer %s)", cmd,
                  o->optimizer);
        return MDL_EINVAL;
    }
    if ((o->accum && mdl_trainopts_set (cfg, cmd, "accum", err, errlen, "%d", o->accum))
        || mdl_trainopts_set (cfg, cmd, "momentum", err, errlen, "%.17g", o->momentum)
        || mdl_trainopts_set (cfg, cmd, "beta1", err, errlen, "%.17g", o->beta1)
        || mdl_trainopts_set (cfg, cmd, "beta2", err, errlen, "%.17g", o->beta2) || mdl_trainopts_set (cfg, cmd, "eps", err, errlen, "%.17g", o->eps)
        || mdl_trainopts_set (cfg, cmd, "weight-decay", err, errlen, "%.17g", o->weight_decay))
        return MDL_EINVAL;
    if (mdl_agent_cfg_set (cfg, "schedule", o->schedule)) {
        snprintf (err, errlen, "meshdl %s: --schedule '%s' is not constant, cosine, step:GAMMA:E1,E2,... (e.g. step:0.1:3,4) "
                  "or clr:MIN:MAX:PERIOD (0 <= MIN < MAX, PERIOD > 0 epochs, e.g. clr:0.005:0.05:1)%s",
                  cmd, o->schedule, mdl_did_you_mean_in (hint, sizeof hint, o->schedule, "constant cosine step clr"));
        return MDL_EINVAL;
    }
    /* a cyclical rate sets the rate itself, between its MIN and MAX */
    const bool clr = !strncmp (o->schedule, "clr:", 4);
    if (clr && (o->lr_given || o->lr_min_given)) {
        snprintf (err, errlen, "meshdl %s: --schedule %s sets the learning rate between its MIN and MAX: drop %s", cmd,
                  o->schedule, o->lr_given ? "--lr" : "--lr-min");
        return MDL_EINVAL;
    }
    if ((!clr && (mdl_trainopts_set (cfg, cmd, "lr", err, errlen, "%.17g", o->lr)
                  || mdl_trainopts_set (cfg, cmd, "lr-min", err, errlen, "%.17g", o->lr_min)))
        || mdl_trainopts_set (cfg, cmd, "warmup", err, errlen, "%.17g", o->warmup)
        || mdl_trainopts_set (cfg, cmd, "seed", err, errlen, "%llu", (unsigned long long) o->seed)
        || mdl_trainopts_set (cfg, cmd, "batch", err, errlen, "%d", o->batch)
        || mdl_trainopts_set (cfg, cmd, "epochs", err, errlen, "%d", o->epochs))
        return MDL_EINVAL;
    return 0;
}

static int
s_is_csv (const char *path)
{
    size_t n = strlen (path);
    return n > 4 && strcmp (path + n - 4, ".csv") == 0;
}

int
mdl_trainopts_data (const mdl_trainopts_t *o, const char *cmd, mdl_dataset_t **train,
                    mdl_dataset_t **test, char *err, size_t errlen)
{
    int rc = 0;
    char path[4096] = "";
    *train = *test = NULL;
    const bool synthetic = mdl_dataset_is_synthetic (o->data);
    const bool regression = !strncmp (o->model, "linreg:", 7);
    if (synthetic && (rc = mdl_dataset_synthetic (o->data, o->seed, train, test))) {
        if (rc == MDL_EINVAL)
            snprintf (err, errlen, "meshdl %s: --data %s", cmd, mdl_error_detail ());
        else
            snprintf (err, errlen, "meshdl %s: --data %s: %s", cmd, o->data, mdl_strerror (rc));
        return rc;
    }
    if (regression && !synthetic) {
        snprintf (err, errlen, "meshdl %s: --model %s needs regression data: --data synthetic:linreg:N:D:NOISE[:HET]", cmd,
                  o->model);
        return MDL_EINVAL;
    }
    if (!regression && synthetic) {
        snprintf (err, errlen, "meshdl %s: --data %s is regression data: use --model linreg:%zu", cmd, o->data,
                  mdl_dataset_dim (*train));
        rc = MDL_EINVAL;
        goto fail;
    }
    if (!synthetic && s_is_csv (o->data)) {
        size_t line = 0;
        if (!o->test_data) {
            snprintf (err, errlen, "meshdl %s: --data %s is a CSV file: give the test set with --test-data FILE.csv",
                      cmd, o->data);
            return MDL_EINVAL;
        }
        const char *files[2] = { o->data, o->test_data };
        mdl_dataset_t **out[2] = { train, test };
        for (int k = 0; k < 2; k++)
            if (!(*out[k] = mdl_dataset_load_csv (files[k], &rc, &line))) {
                if (rc == MDL_EFORMAT && line)
                    snprintf (err, errlen, "meshdl %s: %s line %zu: %s (rows are label,f1,f2,...)", cmd, files[k],
                              line, mdl_strerror (rc));
                else
                    snprintf (err, errlen, "meshdl %s: %s: %s", cmd, files[k], mdl_strerror (rc));
                goto fail;
            }
        if (mdl_dataset_dim (*train) != mdl_dataset_dim (*test)) {
            snprintf (err, errlen, "meshdl %s: %s has %zu features but %s has %zu", cmd, o->data,
                      mdl_dataset_dim (*train), o->test_data, mdl_dataset_dim (*test));
            rc = MDL_EFORMAT;
            goto fail;
        }
    } else if (!synthetic) {
        struct stat st;
        if (stat (o->data, &st) != 0 || !S_ISDIR (st.st_mode)) {
            snprintf (err, errlen,
                      "meshdl %s: data directory %s not found: install Fashion-MNIST (apt-get install dataset-fashion-mnist) or pass --data DIR",
                      cmd, o->data);
            return MDL_ENOENT;
        }
        /* The decompressed, memory-mapped copy (dataset.h): where --results puts it, or
           the user's cache directory. */
        char cbuf[4096];
        const char *cache = NULL, *xdg = getenv ("XDG_CACHE_HOME"), *home = getenv ("HOME");
        if (o->no_data_cache)
            cache = NULL;
        else if (o->data_cache)
            cache = o->data_cache;
        else if (xdg && xdg[0] == '/' && snprintf (cbuf, sizeof cbuf, "%s/meshdl", xdg) < (int) sizeof cbuf)
            cache = cbuf;
        else if (home && home[0] == '/' && snprintf (cbuf, sizeof cbuf, "%s/.cache/meshdl", home) < (int) sizeof cbuf)
            cache = cbuf;
        const char *split[2] = { "train", "t10k" };
        mdl_dataset_t **out[2] = { train, test };
        for (int k = 0; k < 2; k++)
            if (!(*out[k] = mdl_dataset_load_dir_cached (o->data, split[k], cache, &rc, path, sizeof path, NULL))) {
                snprintf (err, errlen, "meshdl %s: %s: %s (reinstall dataset-fashion-mnist, or check --data)", cmd,
                          path[0] ? path : o->data, mdl_strerror (rc));
                goto fail;
            }
        if (mdl_dataset_dim (*train) != mdl_dataset_dim (*test)) {
            snprintf (err, errlen, "meshdl %s: train and t10k images in %s differ in size", cmd, o->data);
            rc = MDL_EFORMAT;
            goto fail;
        }
    }
    if (o->train_subset && o->train_subset < mdl_dataset_n (*train))
        mdl_dataset_truncate (*train, (size_t) o->train_subset);
    if (o->test_subset && o->test_subset < mdl_dataset_n (*test))
        mdl_dataset_truncate (*test, (size_t) o->test_subset);
    /* Standardise both sets with the training set's statistics (never the test set's);
       synthetic features are standard already and stay as drawn, so the generator's
       regression vectors remain the exact answer. */
    if (synthetic)
        return 0;
    float mean, sd;
    mdl_dataset_stats (*train, &mean, &sd);
    if (!(sd > 0.0f))
        sd = 1.0f;
    mdl_dataset_normalize (*train, mean, sd);
    mdl_dataset_normalize (*test, mean, sd);
    return 0;
fail:
    mdl_dataset_destroy (train);
    mdl_dataset_destroy (test);
    return rc ? rc : MDL_EINVAL;
}

void
mdl_blas_threads (int n)
{
    if (n > 0)
        openblas_set_num_threads (n);
}

int
mdl_trainopts_parse (const char *cmd, const char *usage, mdl_optdef_t *defs, const char *unused, int argc,
                     char **argv, void **keep, char *err, size_t errlen)
{
    (void) unused;
    *keep = NULL;
    int rc = mdl_opts_parse (cmd, defs, argc, argv, err, errlen);
    if (rc == 1) {
        mdl_opts_help (stdout, usage, defs);
        return 1;
    }
    if (rc == 0)
        rc = mdl_opts_env (cmd, defs, err, errlen);
    if (rc == 0) {
        const char *path = NULL;
        for (int i = 0; defs[i].name; i++)
            if (!strcmp (defs[i].name, "config") && defs[i].given)
                path = *(const char **) defs[i].dst;
        if (path)
            rc = mdl_opts_config (cmd, defs, path, keep, err, errlen);
    }
    return rc;
}
