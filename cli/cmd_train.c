/*  cmd_train.c: `meshdl train`, the centralized baseline: one model, the full training
    set, evaluated on the test set after every epoch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "meshdl.h"
#include "report.h"
#include "signals.h"
#include "trainopts.h"

static const char *s_usage =
    "usage: meshdl train [options]\n\n"
    "Trains one model on the whole training set (centralized baseline) and evaluates it\n"
    "on the test set after every epoch. The last line on stdout is a JSON summary:\n"
    "{\"summary\": {\"test_acc\": ..., \"test_loss\": ..., \"steps\": ..., \"wall_s\": ..., \"params\": ...}}\n"
    "Exit codes: 0 done, 2 bad input, 3 training diverged (NaN/Inf loss; the last good\n"
    "checkpoint is kept), 130/143 stopped by SIGINT/SIGTERM after writing checkpoint and summary.";

static int
s_save (const mdl_trainopts_t *o, mdl_learner_t *l, uint64_t epoch)
{
    if (!o->checkpoint)
        return 0;
    int rc = mdl_learner_checkpoint (l, o->checkpoint, epoch);
    if (rc)
        fprintf (stderr, "meshdl train: cannot write checkpoint %s: %s\n", o->checkpoint, mdl_strerror (rc));
    return rc;
}

static int
s_resume (const mdl_trainopts_t *o, mdl_learner_t *l, uint64_t *epoch)
{
    int rc = mdl_learner_resume (l, o->resume, epoch);
    if (rc)
        fprintf (stderr, "meshdl train: cannot resume from %s: %s%s\n", o->resume, mdl_strerror (rc),
                 rc == MDL_ECKPT_MODEL ? " (use the same --model and --optimizer as the run that wrote it)" : "");
    return rc;
}

/* The state of one training run (what the loop, the epoch ends and the summary share). */
typedef struct {
    mdl_trainopts_t o;
    mdl_learner_t *l;
    const mdl_dataset_t *test;
    FILE *metrics;
    uint64_t spe, total, epoch;
    double t0, t_target, test_loss, test_acc, loss_ema, samples, t_compute;
    bool diverged;
    int exit_code;
} s_train_t;

/* The learner, or NULL with the reason said on stderr. */
static mdl_learner_t *
s_learner (const mdl_trainopts_t *o, const mdl_agent_cfg_t *cfg, const mdl_dataset_t *train)
{
    int rc;
    mdl_learner_t *l = mdl_learner_create (cfg, &rc);
    if (l)
        return l;
    if (rc == MDL_ESHAPE && mdl_dataset_targets (train))
        fprintf (stderr, "meshdl train: --data %s has %zu features: use --model linreg:%zu\n", o->data,
                 mdl_dataset_dim (train), mdl_dataset_dim (train));
    else if (rc == MDL_ESHAPE)
        fprintf (stderr, "meshdl train: model %s does not fit the data (%zu features, %d classes): "
                         "its input must be %zu wide and its output at least %d\n",
                 o->model, mdl_dataset_dim (train), mdl_dataset_classes (train), mdl_dataset_dim (train),
                 mdl_dataset_classes (train));
    else
        fprintf (stderr, "meshdl train: %s\n", mdl_error_detail ()[0] ? mdl_error_detail () : mdl_strerror (rc));
    return NULL;
}

/* The end of an epoch (or of the run): evaluation, progress, metrics line, checkpoint.
   False when the run must stop (out of memory, or --stop-at-target reached). */
static bool
s_epoch_end (s_train_t *t, mdl_progress_t *prog, uint64_t step)
{
    t->epoch = (step + t->spe - 1) / t->spe;
    if (mdl_learner_evaluate (t->l, NULL, t->test, 0, &t->test_loss, &t->test_acc)) {
        fprintf (stderr, "meshdl train: out of memory while evaluating\n");
        t->exit_code = 2;
        return false;
    }
    const double now = mdl_cli_now () - t->t0;
    if (t->o.target_acc > 0 && isnan (t->t_target) && t->test_acc >= t->o.target_acc)
        t->t_target = now;
    if (!t->o.quiet) {
        mdl_progress_show (prog, true, "epoch %llu  step %llu  train loss %.4f  test loss %.4f  test acc %.4f  %.1fs",
                           (unsigned long long) t->epoch, (unsigned long long) step, t->loss_ema, t->test_loss,
                           t->test_acc, now);
        mdl_progress_end (prog);
    }
    if (t->metrics) {
        mdl_json_t j;
        mdl_json_begin (&j);
        mdl_json_num (&j, "time", mdl_cli_wallclock ());
        mdl_json_num (&j, "elapsed_s", now);
        mdl_json_str (&j, "run", t->o.run ? t->o.run : mdl_run_id ());
        mdl_json_int (&j, "step", (long long) step);
        mdl_json_num (&j, "epoch", (double) step / t->spe);
        mdl_json_num (&j, "train_loss", t->loss_ema);
        mdl_json_num (&j, "test_loss", t->test_loss);
        mdl_json_num (&j, "test_acc", t->test_acc);
        mdl_json_num (&j, "lr", mdl_learner_lr (t->l));
        mdl_json_end (&j, t->metrics);
    }
    if (s_save (&t->o, t->l, t->epoch))
        t->exit_code = 2;
    return !(t->o.stop_at_target && !isnan (t->t_target));
}

/* The training loop, until the last step, divergence, a signal or the target. */
static void
s_loop (s_train_t *t)
{
    mdl_progress_t prog;
    mdl_progress_init (&prog, stderr, "", t->o.progress);
    while (mdl_learner_steps (t->l) < t->total && !mdl_signals_stop ()) {
        const double ts = mdl_cli_now ();
        float loss;
        if (mdl_learner_step (t->l, &loss)) {
            fprintf (stderr, "\nmeshdl train: loss became %g at step %llu: training diverged (lower --lr?); "
                             "the last good checkpoint is kept\n",
                     (double) loss, (unsigned long long) mdl_learner_steps (t->l));
            t->diverged = true;
            break;
        }
        t->t_compute += mdl_cli_now () - ts;
        t->samples += t->o.batch;
        t->loss_ema = isnan (t->loss_ema) ? loss : 0.98 * t->loss_ema + 0.02 * loss;
        const uint64_t step = mdl_learner_steps (t->l);
        if (!t->o.quiet)
            mdl_progress_show (&prog, false, "step %llu/%llu  epoch %.2f  loss %.4f  %.0f samples/s",
                               (unsigned long long) step, (unsigned long long) t->total, (double) step / t->spe,
                               t->loss_ema, t->samples / t->t_compute);
        if ((step % t->spe == 0 || step == t->total) && !s_epoch_end (t, &prog, step))
            break;
    }
    if (!t->diverged && mdl_signals_stop ()) {
        if (!t->o.quiet)
            mdl_progress_end (&prog);
        fprintf (stderr, "meshdl train: stopped by signal %d at step %llu; writing checkpoint and summary\n",
                 mdl_signals_which (), (unsigned long long) mdl_learner_steps (t->l));
        if (mdl_learner_evaluate (t->l, NULL, t->test, 0, &t->test_loss, &t->test_acc) == 0)
            s_save (&t->o, t->l, t->epoch);
        t->exit_code = 128 + mdl_signals_which ();
    }
    if (t->diverged)
        t->exit_code = 3;
    else if (isnan (t->test_acc) && mdl_learner_evaluate (t->l, NULL, t->test, 0, &t->test_loss, &t->test_acc) == 0
             && !t->o.quiet)
        /* nothing left to train (--resume at or past --epochs): the model as it was loaded */
        fprintf (stderr, "meshdl train: nothing to train from step %llu (--epochs %d): test acc %.4f\n",
                 (unsigned long long) mdl_learner_steps (t->l), t->o.epochs, t->test_acc);
}

/* The summary, the last stdout line. */
static void
s_summary (const s_train_t *t)
{
    mdl_json_t j;
    mdl_json_begin (&j);
    mdl_json_open (&j, "summary");
    mdl_json_num (&j, "test_acc", t->test_acc);
    mdl_json_num (&j, "test_loss", t->test_loss);
    mdl_json_int (&j, "steps", (long long) mdl_learner_steps (t->l));
    mdl_json_num (&j, "epochs", mdl_learner_epoch (t->l));
    mdl_json_num (&j, "wall_s", mdl_cli_now () - t->t0);
    mdl_json_int (&j, "params", (long long) mdl_learner_dim (t->l));
    mdl_json_str (&j, "model", t->o.model);
    mdl_json_int (&j, "batch", t->o.batch);
    mdl_json_str (&j, "run", t->o.run ? t->o.run : mdl_run_id ());
    mdl_json_num (&j, "samples_per_s", t->t_compute > 0 ? t->samples / t->t_compute : NAN);
    mdl_json_num (&j, "peak_rss_mb", mdl_peak_rss_mb ());
    if (t->o.target_acc > 0) {
        mdl_json_num (&j, "target_acc", t->o.target_acc);
        if (isnan (t->t_target))
            mdl_json_null (&j, "time_to_target_s");
        else
            mdl_json_num (&j, "time_to_target_s", t->t_target);
    }
    mdl_json_str (&j, "status", t->diverged ? "diverged" : mdl_signals_stop () ? "interrupted" : "done");
    mdl_json_close (&j);
    mdl_json_end (&j, stdout);
}

const mdl_optdef_t *
mdl_cmd_train_options (void)
{
    static mdl_trainopts_t probe;
    static mdl_optdef_t defs[64];
    size_t n = 0;
    mdl_trainopts_defaults (&probe);
    mdl_trainopts_defs (&probe, defs, &n, 64);
    mdl_opts_note_defaults (defs);
    return defs;
}

int
mdl_cmd_train (int argc, char **argv)
{
    s_train_t t = { .t_target = NAN, .test_loss = NAN, .test_acc = NAN, .loss_ema = NAN, .exit_code = 2 };
    mdl_trainopts_t *o = &t.o;
    mdl_trainopts_defaults (o);
    mdl_optdef_t defs[64];
    size_t n = 0;
    mdl_trainopts_defs (o, defs, &n, 64);
    char err[512] = "";
    void *cfgkeep = NULL; /* --config strings, freed at the end */
    int rc = mdl_trainopts_parse ("train", s_usage, defs, NULL, argc, argv, &cfgkeep, err, sizeof err);
    if (rc == 1)
        return 0;
    o->lr_given = mdl_opts_given (defs, "lr");
    o->lr_min_given = mdl_opts_given (defs, "lr-min");
    mdl_agent_cfg_t *cfg = rc == 0 ? mdl_agent_cfg_new () : NULL;
    if (rc == 0 && !cfg) {
        snprintf (err, sizeof err, "meshdl train: out of memory");
        rc = MDL_ENOMEM;
    }
    if (rc == 0)
        rc = mdl_trainopts_config (o, "train", cfg, err, sizeof err);
    mdl_dataset_t *train = NULL, *test = NULL;
    if (rc == 0) {
        mdl_blas_threads (o->threads);
        rc = mdl_trainopts_data (o, "train", &train, &test, err, sizeof err);
    }
    if (rc) {
        fprintf (stderr, "%s\n", err);
        mdl_agent_cfg_destroy (&cfg);
        mdl_opts_config_free (&cfgkeep);
        return 2;
    }
    uint64_t epoch0 = 0;
    t.test = test;
    mdl_agent_cfg_set_data (cfg, train, test);
    if (!(t.l = s_learner (o, cfg, train)) || (o->resume && s_resume (o, t.l, &epoch0)))
        goto done;
    if (o->metrics && !(t.metrics = fopen (o->metrics, "a"))) {
        fprintf (stderr, "meshdl train: cannot open metrics file %s for appending\n", o->metrics);
        goto done;
    }
    mdl_signals_install ();
    t.spe = mdl_learner_steps_per_epoch (t.l);
    t.total = t.spe * (uint64_t) o->epochs;
    t.epoch = epoch0;
    if (!o->quiet)
        fprintf (stderr, "meshdl train: %s, %zu parameters, %zu training rows, batch %d, %s lr %g\n", o->model,
                 mdl_learner_dim (t.l), mdl_dataset_n (train), o->batch, o->optimizer, o->lr);
    t.t0 = mdl_cli_now ();
    t.exit_code = 0;
    s_loop (&t);
    s_summary (&t);
done:
    if (t.metrics)
        fclose (t.metrics);
    mdl_learner_destroy (&t.l);
    mdl_agent_cfg_destroy (&cfg);
    mdl_dataset_destroy (&train);
    mdl_dataset_destroy (&test);
    mdl_opts_config_free (&cfgkeep);
    return t.exit_code;
}
