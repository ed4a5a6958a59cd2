/*  agentopts.c: see agentopts.h. */
#include "agentopts.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "report.h"

void
mdl_agentopts_defaults (mdl_agentopts_t *o)
{
    memset (o, 0, sizeof *o);
    o->topology = "ring";
    o->weights = "mh";
    o->algo = "dpsgd";
    o->mode = NULL; /* the algorithm's own (mdl_algo_default_mode) */
    o->codec = "fp32";
    o->keyframe_every = 100;
    o->gossip_steps = 1;
    o->local_steps = 1;
    o->merge_timeout = 30.0;
    o->gamma = NAN; /* the algorithm's own default */
    o->delta = 1.0;
    o->gamma_max = NAN;
    o->check_every = 1;
    o->staleness_decay = 0.98;
    o->max_staleness = 500;
    o->sync_timeout = 10.0;
    o->partition = "iid";
    o->cluster = "meshdl";
    o->peer_timeout = 3.0;
    o->hello_interval = 0.25;
    o->hwm_mb = NAN; /* by mode (mdl_agent_hwm_bytes) */
    o->evals_per_epoch = 2;
    o->distill_weight = 0.5;
}

#define D(nm, ty, ptr, mv, hl, lo, hi) \
    (mdl_optdef_t) { .name = nm, .type = ty, .dst = ptr, .metavar = mv, .help = hl, .min = lo, .max = hi }
/* An option whose default --help cannot read from its destination (NAN, NULL, 0 = off). */
#define DD(nm, ty, ptr, mv, hl, lo, hi, df) \
    (mdl_optdef_t) { .name = nm, .type = ty, .dst = ptr, .metavar = mv, .help = hl, .min = lo, .max = hi, .deflt = df }

/* The names of the algorithms, joined by sep, into buf. */
static const char *
s_algo_names (char *buf, size_t cap, const char *sep)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; mdl_algo_name (i) && at < cap; i++) {
        int w = snprintf (buf + at, cap - at, "%s%s", i ? sep : "", mdl_algo_name (i));
        at += w > 0 ? (size_t) w : 0;
    }
    return buf;
}

/* A number the algorithm brings by itself (mdl_algo_info), 0 when it has none. */
static double
s_algo_number (const char *algo, const char *key)
{
    char b[64];
    return mdl_algo_info (algo, key, b, sizeof b) == 0 && b[0] ? strtod (b, NULL) : 0;
}

/* Whether the algorithm says "true" to key (mdl_algo_info). */
static bool
s_algo_is (const char *algo, const char *key)
{
    char b[16];
    return mdl_algo_info (algo, key, b, sizeof b) == 0 && !strcmp (b, "true");
}

/* The help lines that list algorithms, from the registry, so they cannot drift from it. */
static void
s_algo_help (mdl_agentopts_t *o)
{
    char names[256], defaults[320] = "", asyncs[96] = "", gammas[120] = "";
    s_algo_names (names, sizeof names, " | ");
    for (size_t i = 0; mdl_algo_name (i); i++) {
        const char *a = mdl_algo_name (i);
        char opt[32], modes[32];
        mdl_algo_info (a, "optimizer", opt, sizeof opt);
        mdl_algo_info (a, "modes", modes, sizeof modes);
        const double lr = s_algo_number (a, "lr"), gamma = s_algo_number (a, "gamma");
        size_t at = strlen (defaults);
        if (opt[0] || lr > 0)
            snprintf (defaults + at, sizeof defaults - at, "%s%s: %s%s%.3g", at ? "; " : "", a, opt,
                      opt[0] ? ", lr " : "lr ", lr);
        if (!strcmp (modes, "async"))
            snprintf (asyncs + strlen (asyncs), sizeof asyncs - strlen (asyncs), "; %s: async", a);
        if (gamma > 0)
            snprintf (gammas + strlen (gammas), sizeof gammas - strlen (gammas), ", %s %g", a, gamma);
    }
    snprintf (o->algo_help, sizeof o->algo_help, "consensus algorithm: %s (their own defaults unless given: %s)", names,
              defaults);
    snprintf (o->mode_help, sizeof o->mode_help, "sync (wait for each round, at most --sync-timeout) | async (newest states, never wait)");
    snprintf (o->mode_deflt, sizeof o->mode_deflt, "sync%s", asyncs);
    snprintf (o->gamma_help, sizeof o->gamma_help, "consensus step size in (0, 1]");
    snprintf (o->gamma_deflt, sizeof o->gamma_deflt, "1%s", gammas);
}

void
mdl_agentopts_defs (mdl_agentopts_t *o, mdl_optdef_t *defs, size_t *n, size_t cap)
{
    s_algo_help (o);
    const mdl_optdef_t add[] = {
        D ("topology", MDL_OPTT_STR, &o->topology, "NAME", "complete | ring | torus | exp | one-peer-exp | base:K | random:D", 0, 0),
        D ("weights", MDL_OPTT_STR, &o->weights, "W", "mixing weights: mh | uniform", 0, 0),
        D ("algo", MDL_OPTT_STR, &o->algo, "NAME", o->algo_help, 0, 0),
        DD ("mode", MDL_OPTT_STR, &o->mode, "M", o->mode_help, 0, 0, o->mode_deflt),
        D ("codec", MDL_OPTT_STR, &o->codec, "SPEC", "codec of published updates, e.g. fp32, fp16, q8, qsgd:4, sign, topk:0.01, randk:0.01, topk:0.01+q8", 0, 0),
        DD ("error-feedback", MDL_OPTT_FLAG, &o->error_feedback, NULL, "lossy codecs: send compressed deltas against replicas, keeping what the codec dropped (without it a lossy codec loses that every round: --error-feedback=false)", 0, 0, "on with a lossy codec"),
        D ("keyframe-every", MDL_OPTT_INT, &o->keyframe_every, "K", "replica streams: a full fp32 keyframe every K sends, 0 = only on a gap or a new peer", 0, 1e9),
        DD ("gamma", MDL_OPTT_DOUBLE, &o->gamma, "G", o->gamma_help, 0, 1, o->gamma_deflt),
        D ("gossip-steps", MDL_OPTT_INT, &o->gossip_steps, "K", "gossip rounds per SGD step (Kong et al.'s consensus control)", -1e9, 1e9),
        DD ("consensus-scale", MDL_OPTT_STR, &o->consensus_scale, "S", "scale the consensus step by alpha_t (Wang & Johansson): A (constant), lr (lr_t/lr_0) or lr:A (A lr_t/lr_0)", 0, 0, "none"),
        D ("consensus-control", MDL_OPTT_STR, &o->consensus_control, "T", "extra gossip rounds (up to --gossip-steps, default 4) while the disagreement estimate exceeds T; lr:T = T times the learning rate; suffix ,all = also after the first lr decay", 0, 0),
        D ("local-steps", MDL_OPTT_INT, &o->local_steps, "H", "localsgd: H local steps between gossip rounds", 1, 1e9),
        DD ("local-epochs", MDL_OPTT_INT, &o->local_epochs, "E", "localsgd: no gossip; an exact average over all live peers, weighted by shard size, every E epochs (Xu, Mi et al.); plain SGD unless --optimizer", 1, 1e6, "off"),
        DD ("public-rows", MDL_OPTT_U64, &o->public_rows, "N", "codistill: the first N training rows are the public pool the agents predict on (labels unused)", 1, 1e12, "needed by codistill"),
        D ("distill-weight", MDL_OPTT_DOUBLE, &o->distill_weight, "L", "codistill: weight of KL(neighbours' mean || own) in the loss", 0, 1e6),
        DD ("sample", MDL_OPTT_INT, &o->sample, "S", "plexus: agents sampled per round", 1, 1024, "needed by plexus"),
        DD ("blocks", MDL_OPTT_STR, &o->blocks, "P1,...,PK", "mp-linreg: unknowns of each agent (in id order), adding up to D of --model linreg:D", 0, 0, "needed by mp-linreg"),
        D ("isolated", MDL_OPTT_FLAG, &o->isolated, NULL, "no communication at all: every agent trains alone (the baseline of every decentralized method)", 0, 0),
        DD ("global-every", MDL_OPTT_INT, &o->global_every, "P", "an exact average over all live peers every P steps (Gossip-PGA; dpsgd, localsgd)", 1, 1e9, "off"),
        D ("overlap", MDL_OPTT_FLAG, &o->overlap, NULL, "dpsgd: mix the neighbours' states of the previous step while computing this one (Decent-DP)", 0, 0),
        D ("final-merge", MDL_OPTT_FLAG, &o->final_merge, NULL, "end with one exact average over all live peers (acknowledged, retried)", 0, 0),
        DD ("gamma-max", MDL_OPTT_DOUBLE, &o->gamma_max, "G", "adagossip: cap of the per-coordinate consensus step, in (0, 1]", -1e300, 1e300, "1; 0.05 with topk/randk codecs"),
        D ("verify-replicas", MDL_OPTT_FLAG, &o->verify_replicas, NULL, "replica streams: every update carries a digest of the sender's copy, checked by receivers (a pass over the vector per message)", 0, 0),
        D ("delta", MDL_OPTT_DOUBLE, &o->delta, "D", "dynavg: synchronise when ||x - r||^2 exceeds D (0 = periodic averaging)", -1e300, 1e300),
        D ("check-every", MDL_OPTT_INT, &o->check_every, "B", "dynavg: check the local condition every B steps", -1e9, 1e9),
        D ("adaptive-degree", MDL_OPTT_FLAG, &o->adaptive_degree, NULL, "the exponential graph while the disagreement estimate is above --degree-target, --topology below it (after Xie et al.'s Ada)", 0, 0),
        DD ("degree-target", MDL_OPTT_STR, &o->degree_target, "T", "--adaptive-degree's target: T, or lr:T = T times the learning rate", 0, 0, "lr:1"),
        DD ("drift-at", MDL_OPTT_DOUBLE, &o->drift_at, "EPOCH", "concept drift: from this epoch on every label y reads (y + 1) mod classes, in training and test", 0, 1e9, "off"),
        D ("dense-window", MDL_OPTT_STR, &o->dense_window, "START:LEN", "gossip on the complete graph during epochs [START, START+LEN) (Zhu et al.'s late dense window)", 0, 0),
        D ("merge-timeout", MDL_OPTT_DOUBLE, &o->merge_timeout, "SEC", "how long the final merge may take", 0.1, 3600),
        D ("staleness-decay", MDL_OPTT_DOUBLE, &o->staleness_decay, "L", "a neighbour state s steps old weighs L^s, in (0, 1]", 0, 1),
        D ("max-staleness", MDL_OPTT_INT, &o->max_staleness, "S", "states older than S steps are dropped", 0, 1e9),
        D ("sync-timeout", MDL_OPTT_DOUBLE, &o->sync_timeout, "SEC", "sync mode: how long to wait for a round before mixing what arrived", 0.001, 3600),
        D ("partition", MDL_OPTT_STR, &o->partition, "P", "how the training set is split: iid | dirichlet:ALPHA | shards:K", 0, 0),
        D ("cluster", MDL_OPTT_STR, &o->cluster, "NAME", "cluster name; agents of other clusters are ignored", 0, 0),
        D ("peer-timeout", MDL_OPTT_DOUBLE, &o->peer_timeout, "SEC", "a peer silent this long is dead", 0.05, 3600),
        D ("hello-interval", MDL_OPTT_DOUBLE, &o->hello_interval, "SEC", "seconds between hellos on the mesh", 0.01, 60),
        DD ("hwm-mb", MDL_OPTT_DOUBLE, &o->hwm_mb, "MB", "memory one message queue may hold (each peer's in the sender, the receiver's), as whole messages, at least 2 models (0 = ZeroMQ's 100 / 1000 messages)", 0, 1e6, "256 in sync mode; in async mode 4 models, at least 8"),
        D ("evals-per-epoch", MDL_OPTT_INT, &o->evals_per_epoch, "N", "evaluations (metrics lines) per epoch while training, at k/N of an epoch; one more at the end", 1, 1000),
        DD ("eval-rows", MDL_OPTT_U64, &o->eval_rows, "N", "test rows of the evaluations while training (0 = all); the final one uses all (--test-subset)", 0, 1e12, "auto: a quarter of the training work between evaluations, at least 200; all with --target-acc"),
        D ("log", MDL_OPTT_STR, &o->log, "FILE", "write peer events (join, leave, rejoins, rejected updates) to FILE ('-' = stderr)", 0, 0),
        DD ("robust", MDL_OPTT_STR, &o->robust, "RULE", "Byzantine-robust mixing of neighbour states: clip (self-centred clipping, adaptive radius), clip:TAU, trimmed:B (coordinate-wise, drop B at each end) or median", 0, 0, "off"),
        DD ("max-lead", MDL_OPTT_INT, &o->max_lead, "R", "refuse a state stamped more than R rounds ahead of this agent's round", 0, 1e9, "sync: 8 x --gossip-steps; async: --max-staleness"),
    };
    for (size_t i = 0; i < sizeof add / sizeof add[0] && *n + 1 < cap; i++)
        defs[(*n)++] = add[i];
    defs[*n] = (mdl_optdef_t) { 0 };
}

/* Where the options below go: the configuration (set by name through the public API,
   so the command line and programs read every value the same way) and the refusal. */
typedef struct {
    mdl_agent_cfg_t *cfg;
    const char *cmd;
    char *err;
    size_t errlen;
} s_dest_t;

/* A one-line refusal "meshdl CMD: ..." in the destination's err. Returns MDL_EINVAL. */
static int s_refuse (const s_dest_t *t, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static int
s_refuse (const s_dest_t *t, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    snprintf (t->err, t->errlen, "meshdl %s: %s", t->cmd, msg);
    return MDL_EINVAL;
}

/* Sets key to the formatted value; a refusal is the setting's reason (mdl_error_detail)
   with the command's prefix. */
static int s_set (const s_dest_t *t, const char *key, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

static int
s_set (const s_dest_t *t, const char *key, const char *fmt, ...)
{
    char v[4096];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (v, sizeof v, fmt, ap);
    va_end (ap);
    int rc = mdl_agent_cfg_set (t->cfg, key, v);
    if (rc)
        snprintf (t->err, t->errlen, "meshdl %s: %s", t->cmd, mdl_error_detail ()[0] ? mdl_error_detail () : mdl_strerror (rc));
    return rc;
}

static const char *
s_bool (bool b)
{
    return b ? "true" : "false";
}

/* Whether value is one of the setting key's (mdl_agent_cfg_set on a configuration of its
   own: the option's refusal is the command line's, with its hint). */
static bool
s_valid (const char *key, const char *value)
{
    mdl_agent_cfg_t *c = mdl_agent_cfg_new ();
    const bool ok = c && mdl_agent_cfg_set (c, key, value) == 0;
    mdl_agent_cfg_destroy (&c);
    return ok;
}

/* The gossip graph: --topology, --weights, --dense-window, --adaptive-degree. */
static int
s_apply_graph (const mdl_agentopts_t *o, const s_dest_t *t)
{
    char hint[96];
    if (mdl_agent_cfg_set (t->cfg, "topology", o->topology)) {
        const char *forms = mdl_agent_cfg_forms ("topology");
        return s_refuse (t, "--topology '%s' is not valid (%s)%s", o->topology, forms,
                         mdl_did_you_mean_in (hint, sizeof hint, o->topology, forms));
    }
    if (mdl_agent_cfg_set (t->cfg, "weights", o->weights))
        return s_refuse (t, "--weights '%s' is not mh or uniform%s", o->weights,
                         mdl_did_you_mean_in (hint, sizeof hint, o->weights, "mh uniform"));
    if (o->dense_window && s_set (t, "dense-window", "%s", o->dense_window))
        return MDL_EINVAL;
    if (o->degree_target && !o->adaptive_degree)
        return s_refuse (t, "--degree-target needs --adaptive-degree");
    if (o->adaptive_degree
        && (s_set (t, "degree-target", "%s", o->degree_target ? o->degree_target : "lr:1")
            || s_set (t, "adaptive-degree", "true")))
        return MDL_EINVAL;
    return 0;
}

/* Replica streams (error feedback, CHOCO) accumulate what is sent, which needs a
   contractive codec; scaled random-k is unbiased but multiplies values by d/K, and its
   accumulated noise diverges. Such streams use the unscaled variant (said on stderr). */
static void
s_contractive_codec (mdl_agentopts_t *o, const char *cmd)
{
    if (!(o->error_feedback || s_algo_is (o->algo, "replicas")) || strncmp (o->codec, "randk:", 6) || strstr (o->codec, "unscaled"))
        return;
    const char *plus = strchr (o->codec, '+');
    size_t head = plus ? (size_t) (plus - o->codec) : strlen (o->codec);
    snprintf (o->codec_buf, sizeof o->codec_buf, "%.*s:unscaled%s", (int) head, o->codec, plus ? plus : "");
    if (s_valid ("codec", o->codec_buf)) {
        fprintf (stderr, "meshdl %s: note: replica streams need a contractive codec: using %s instead of %s\n", cmd,
                 o->codec_buf, o->codec);
        o->codec = o->codec_buf;
    }
}

/* Whether a codec spec (checked already) loses information. */
static bool
s_codec_lossy (const char *spec)
{
    return mdl_codec_lossless (spec) != 1;
}

/* Error feedback is the safe choice with a lossy codec: without it, whatever the codec
   drops is lost every round (topk:0.01 ends near chance). On unless asked off; only
   where the algorithm takes a codec and has no replicas of its own. */
static void
s_error_feedback (mdl_agentopts_t *o, const char *cmd)
{
    const bool lossy = s_codec_lossy (o->codec);
    const bool takes = s_algo_is (o->algo, "codec") && !s_algo_is (o->algo, "replicas");
    if (!o->error_feedback_given)
        o->error_feedback = lossy && takes;
    else if (!o->error_feedback && lossy && takes)
        fprintf (stderr, "meshdl %s: note: --codec %s without error feedback: what the codec drops is lost every round, "
                         "which usually costs accuracy (or diverges)\n",
                 cmd, o->codec);
}

/* Sets "algo" without the algorithm's own learning rate: --lr's value, or the algorithm's
   when not given, was set by the training options already (s_algo_defaults), except
   under a cyclical schedule, which sets the rate itself. */
static int
s_set_algo (const mdl_agentopts_t *o, const s_dest_t *t)
{
    char lr[64];
    mdl_agent_cfg_get (t->cfg, "lr", lr, sizeof lr);
    return s_set (t, "algo", "%s", o->algo) || s_set (t, "lr", "%s", lr) ? MDL_EINVAL : 0;
}

/* The algorithm and what it sends: --algo, --mode (the algorithm's by default), --codec,
   --gamma and --gamma-max (by algorithm and codec when not given). *gamma_bad: --gamma
   is out of (0, 1], which is refused after the rules between settings, where the engine
   checks it. */
static int
s_apply_algo (mdl_agentopts_t *o, const s_dest_t *t, bool *gamma_bad)
{
    char hint[96], mode[16];
    if (mdl_algo_info (o->algo, "mode", mode, sizeof mode)) {
        char names[256];
        s_algo_names (names, sizeof names, ", ");
        return s_refuse (t, "--algo '%s' is not one of: %s%s", o->algo, names,
                         mdl_did_you_mean_in (hint, sizeof hint, o->algo, names));
    }
    if (s_set_algo (o, t))
        return MDL_EINVAL;
    if (!o->mode)
        o->mode = strcmp (mode, "async") ? "sync" : "async";
    if (strcmp (o->mode, "sync") && strcmp (o->mode, "async"))
        return s_refuse (t, "--mode '%s' is not sync or async%s", o->mode,
                         mdl_did_you_mean_in (hint, sizeof hint, o->mode, "sync async"));
    if (s_set (t, "mode", "%s", o->mode))
        return MDL_EINVAL;
    if (!s_valid ("codec", o->codec)) {
        mdl_did_you_mean_in (hint, sizeof hint, o->codec, "fp32 fp16 bf16 qsgd q8 q4 sign topk randk");
        return s_refuse (t, "--codec '%s' does not parse%s; %s", o->codec, hint, mdl_agent_cfg_forms ("codec"));
    }
    s_error_feedback (o, t->cmd);
    s_contractive_codec (o, t->cmd);
    if (s_set (t, "codec", "%s", o->codec) || s_set (t, "error-feedback", "%s", s_bool (o->error_feedback)))
        return MDL_EINVAL;
    *gamma_bad = !isnan (o->gamma) && !(o->gamma > 0 && o->gamma <= 1);
    if (!isnan (o->gamma) && !*gamma_bad && s_set (t, "gamma", "%.17g", o->gamma))
        return MDL_EINVAL;
    /* unset (NaN): the engine's default by codec */
    if (!isnan (o->gamma_max) && !(o->gamma_max > 0 && o->gamma_max <= 1))
        return s_refuse (t, "--gamma-max must be in (0, 1] (got %g)", o->gamma_max);
    if (!isnan (o->gamma_max) && s_set (t, "gamma-max", "%.17g", o->gamma_max))
        return MDL_EINVAL;
    return 0;
}

/* The rounds: --gossip-steps, --consensus-control (4 rounds by default), --consensus-scale. */
static int
s_apply_rounds (const mdl_agentopts_t *o, const s_dest_t *t)
{
    if (o->gossip_steps < 1 || o->gossip_steps > 1000)
        return s_refuse (t, "--gossip-steps must be an integer from 1 to 1000 (got %d)", o->gossip_steps);
    if (s_set (t, "gossip-steps", "%d", o->gossip_steps)
        || (o->consensus_control && s_set (t, "consensus-control", "%s", o->consensus_control))
        || (o->consensus_scale && s_set (t, "consensus-scale", "%s", o->consensus_scale)))
        return MDL_EINVAL;
    return 0;
}

/* Ranges the option table cannot say, and the split of the data. */
static int
s_apply_ranges (const mdl_agentopts_t *o, const s_dest_t *t, mdl_part_spec_t *part)
{
    if (!(o->delta >= 0) || !isfinite (o->delta))
        return s_refuse (t, "--delta must be a finite number >= 0 (got %g)", o->delta);
    if (o->check_every < 1)
        return s_refuse (t, "--check-every must be >= 1 (got %d)", o->check_every);
    if (!(o->staleness_decay > 0 && o->staleness_decay <= 1))
        return s_refuse (t, "--staleness-decay must be in (0, 1] (got %g)", o->staleness_decay);
    char hint[96];
    if (mdl_part_parse (o->partition, part))
        return s_refuse (t, "--partition '%s' is not iid, dirichlet:ALPHA (ALPHA > 0) or shards:K (K >= 1)%s",
                         o->partition, mdl_did_you_mean_in (hint, sizeof hint, o->partition, "iid dirichlet shards"));
    if (!o->cluster[0])
        return s_refuse (t, "--cluster must not be empty");
    return 0;
}

/* The settings of codistillation, Plexus, model-parallel least squares and data-centre
   averaging, and what guards the mixing: --robust and --max-lead. */
static int
s_apply_seeds (const mdl_agentopts_t *o, const s_dest_t *t)
{
    if (s_set (t, "local-epochs", "%d", o->local_epochs)
        || s_set (t, "public-rows", "%llu", (unsigned long long) o->public_rows)
        || (o->distill_weight_given && s_set (t, "distill-weight", "%.17g", o->distill_weight))
        || s_set (t, "sample", "%d", o->sample) || (o->blocks && s_set (t, "blocks", "%s", o->blocks))
        || s_set (t, "max-lead", "%d", o->max_lead) || (o->robust && s_set (t, "robust", "%s", o->robust)))
        return MDL_EINVAL;
    return 0;
}

/* The options that are set as they are (their ranges checked by the option table). */
static int
s_apply_plain (const mdl_agentopts_t *o, const s_dest_t *t)
{
    if (s_set (t, "local-steps", "%d", o->local_steps) || s_set (t, "global-every", "%d", o->global_every)
        || s_set (t, "overlap", "%s", s_bool (o->overlap)) || s_set (t, "keyframe-every", "%d", o->keyframe_every)
        || s_set (t, "final-merge", "%s", s_bool (o->final_merge)) || s_set (t, "delta", "%.17g", o->delta)
        || s_set (t, "verify-replicas", "%s", s_bool (o->verify_replicas))
        || s_set (t, "drift-at", "%.17g", o->drift_at) || s_set (t, "check-every", "%d", o->check_every)
        || s_set (t, "merge-timeout", "%.17g", o->merge_timeout)
        || s_set (t, "staleness-decay", "%.17g", o->staleness_decay)
        || s_set (t, "max-staleness", "%d", o->max_staleness) || s_set (t, "sync-timeout", "%.17g", o->sync_timeout)
        || s_set (t, "cluster", "%s", o->cluster) || s_set (t, "peer-timeout", "%.17g", o->peer_timeout)
        || s_set (t, "hello-interval", "%.17g", o->hello_interval)
        || (!isnan (o->hwm_mb) && s_set (t, "hwm-mb", "%.17g", o->hwm_mb))
        || s_set (t, "evals-per-epoch", "%d", o->evals_per_epoch))
        return MDL_EINVAL;
    return 0;
}

int
mdl_agentopts_apply (mdl_agentopts_t *o, const char *cmd, mdl_agent_cfg_t *cfg, mdl_part_spec_t *part, char *err,
                     size_t errlen)
{
    const s_dest_t t = { .cfg = cfg, .cmd = cmd, .err = err, .errlen = errlen };
    bool gamma_bad = false;
    if (s_apply_graph (o, &t) || s_apply_algo (o, &t, &gamma_bad) || s_apply_rounds (o, &t)
        || s_apply_ranges (o, &t, part) || s_apply_seeds (o, &t) || s_apply_plain (o, &t))
        return MDL_EINVAL;
    /* the rules between options and those of the algorithm, as mdl_agent_new applies them */
    if (mdl_agent_cfg_check (cfg))
        return s_refuse (&t, "%s", mdl_error_detail ());
    if (gamma_bad)
        return s_refuse (&t, "--gamma must be in (0, 1] (got %g)", o->gamma);
    return 0;
}

/* An algorithm's own defaults for --optimizer, --lr and --momentum, where not given. */
static void
s_algo_defaults (const mdl_optdef_t *defs, mdl_agentopts_t *ao, mdl_trainopts_t *to)
{
    if (mdl_algo_info (ao->algo, "optimizer", ao->algo_optimizer, sizeof ao->algo_optimizer))
        return; /* refused with a message by mdl_agentopts_apply */
    if (ao->algo_optimizer[0] && !mdl_opts_given (defs, "optimizer"))
        to->optimizer = ao->algo_optimizer;
    /* Data-centre averaging trains alone for whole epochs: with momentum 0.9 the peak of a
       cyclical rate such as clr:0.005:0.05:1 is an effective step of 0.5, at which a lone
       agent's MLP ends the epoch at 0.72 (4 agents, docs/results.md), so plain SGD unless
       asked otherwise. */
    if (ao->local_epochs > 0 && !mdl_opts_given (defs, "optimizer"))
        to->optimizer = "sgd";
    const double lr = s_algo_number (ao->algo, "lr"), momentum = s_algo_number (ao->algo, "momentum");
    if (lr > 0 && !mdl_opts_given (defs, "lr"))
        to->lr = lr;
    if (momentum > 0 && !mdl_opts_given (defs, "momentum"))
        to->momentum = momentum;
}

int
mdl_agentopts_learning (const mdl_trainopts_t *to, const char *cmd, mdl_agent_cfg_t *cfg, char *err, size_t errlen)
{
    return mdl_trainopts_config (to, cmd, cfg, err, errlen);
}

void
mdl_agentopts_table (mdl_trainopts_t *to, mdl_agentopts_t *ao, mdl_optdef_t *defs, size_t *n, size_t cap)
{
    mdl_trainopts_defs (to, defs, n, cap);
    mdl_agentopts_defs (ao, defs, n, cap);
}

int
mdl_agentopts_setup (const char *cmd, const char *usage, mdl_optdef_t *defs, mdl_trainopts_t *to, mdl_agentopts_t *ao,
                     mdl_agent_cfg_t *cfg, mdl_part_spec_t *part, int argc, char **argv, void **keep, char *err,
                     size_t errlen)
{
    int rc = mdl_trainopts_parse (cmd, usage, defs, NULL, argc, argv, keep, err, errlen);
    ao->distill_weight_given = mdl_opts_given (defs, "distill-weight");
    to->lr_given = mdl_opts_given (defs, "lr");
    to->lr_min_given = mdl_opts_given (defs, "lr-min");
    ao->error_feedback_given = mdl_opts_given (defs, "error-feedback");
    ao->eval_rows_given = mdl_opts_given (defs, "eval-rows");
    if (rc == 0)
        s_algo_defaults (defs, ao, to);
    if (rc == 0)
        rc = mdl_agentopts_learning (to, cmd, cfg, err, errlen);
    if (rc == 0)
        rc = mdl_agentopts_apply (ao, cmd, cfg, part, err, errlen);
    return rc;
}

size_t
mdl_agentopts_eval_rows (const mdl_agentopts_t *o, const mdl_trainopts_t *to, double samples_between, int models,
                         size_t test_rows)
{
    if (o->eval_rows_given)
        return o->eval_rows && o->eval_rows < test_rows ? (size_t) o->eval_rows : test_rows;
    if (to->target_acc > 0)
        return test_rows; /* the time to the target is the point of the run: no sampling */
    /* A forward pass is about a third of a training step's work: an evaluation of
       models x rows costs a quarter of the training between two when rows is this. */
    double rows = 0.25 * 3.0 * samples_between / (models > 0 ? models : 1);
    rows = rows < 200 ? 200 : rows;
    return rows < (double) test_rows ? (size_t) (rows / 100) * 100 : test_rows;
}

int
mdl_agentopts_eval_agents (const mdl_agentopts_t *o, const mdl_trainopts_t *to, int given, double samples_between,
                           size_t rows, int agents)
{
    if (given >= 0)
        return given > 0 && given < agents ? given : agents;
    if (o->eval_rows_given || to->target_acc > 0 || rows == 0)
        return agents;
    /* The budget of mdl_agentopts_eval_rows, in rows over all the models: when its floor
       of rows per model overdraws it (many agents, short epochs), fewer agents. */
    const double models = floor (0.25 * 3.0 * samples_between / (double) rows);
    const double k = models - 1; /* the averaged model is always evaluated */
    return k < 1 ? 1 : k < agents ? (int) k : agents;
}

void
mdl_agentopts_eval_sample (int k, int agents, int *which)
{
    /* the middle agent of each of k equal spans: spread over the ids (and so over a
       ring or a torus), and the same in every run and every evaluation */
    for (int j = 0; j < k; j++)
        which[j] = (int) (((2 * (int64_t) j + 1) * agents) / (2 * (int64_t) k));
}

void
mdl_agentopts_json_counters (void *json, const double *values, size_t n)
{
    mdl_http_stats_t h;
    mdl_http_stats_from (&h, values, n);
    mdl_http_json_counters (json, &h);
}

int
mdl_agentopts_seed_agent (mdl_agent_cfg_t *cfg, uint64_t seed, int i)
{
    int rc = mdl_trainopts_set (cfg, "sim", "data-seed", NULL, 0, "%llu",
                                (unsigned long long) (seed * 1000003ULL + (uint64_t) i));
    if (!rc)
        rc = mdl_trainopts_set (cfg, "sim", "injection-seed", NULL, 0, "%llu",
                                (unsigned long long) (seed + (uint64_t) i * 7919));
    return rc;
}

void
mdl_agentopts_json_settings (void *json, const mdl_agentopts_t *o, const mdl_trainopts_t *to)
{
    mdl_json_t *j = json;
    mdl_json_str (j, "algo", o->algo);
    mdl_json_str (j, "mode", o->mode);
    mdl_json_str (j, "topology", o->topology);
    mdl_json_str (j, "codec", o->codec);
    mdl_json_bool (j, "error_feedback", o->error_feedback);
    mdl_json_int (j, "batch", to->batch);
}

long
mdl_agentopts_counter_index (const char *name)
{
    const char *c;
    for (size_t i = 0; (c = mdl_agent_counter_name (i)) != NULL; i++)
        if (!strcmp (c, name))
            return (long) i;
    return -1;
}

double
mdl_agentopts_counter (const double *values, size_t n, const char *name)
{
    const long i = mdl_agentopts_counter_index (name);
    return i >= 0 && (size_t) i < n ? values[i] : 0;
}

void
mdl_agentopts_json_robust (void *json, const mdl_agent_cfg_t *cfg, const double *values, size_t n)
{
    mdl_json_t *j = json;
    char b[64];
    mdl_agent_cfg_get (cfg, "robust", b, sizeof b);
    if (b[0]) {
        mdl_json_str (j, "robust", b);
        if (!strncmp (b, "clip", 4)) {
            mdl_json_int (j, "robust_clipped", (long long) mdl_agentopts_counter (values, n, "robust_clipped"));
            mdl_json_num (j, "robust_tau", mdl_agentopts_counter (values, n, "robust_tau"));
        } else
            mdl_json_int (j, "robust_short", (long long) mdl_agentopts_counter (values, n, "robust_short"));
    }
    mdl_agent_cfg_get (cfg, "byzantine", b, sizeof b);
    if (b[0])
        mdl_json_str (j, "byzantine", b);
}
