/*  config.c: an agent's configuration by name (meshdl/config.h): the table of settings,
    their parsers, the defaults, and the rules between settings (mdl_agent_cfg_check),
    which mdl_agent_new and the command line both apply.

    Each setting is one row of s_keys: a name (the command-line option without "--"), a
    type, the field it writes (offsetof into struct mdl_agent_cfg), a range, and for the
    settings with a structure of their own a parser. Strings given to mdl_agent_cfg_set
    are copied into the configuration's extra part, which mdl_agent_cfg_destroy frees. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "agent_impl.h"
#include "codec.h"
#include "err.h"
#include "hash.h"
#include "model.h"
#include "topo.h"

/* The largest 64-bit setting (ids, seeds) as a bound: every uint64_t in digits passes
   it as a double; s_parse_num refuses what strtoull cannot hold. */
#define S_U64_MAX 18446744073709551615.0

/* K_MODE, K_WEIGHTS, K_OPT: enums read back by name; K_ROBUST, K_BYZ: rules read back in
   their canonical form ("" when off) */
typedef enum {
    K_STR,
    K_INT,
    K_U64,
    K_SIZE,
    K_DBL,
    K_FLT,
    K_BOOL,
    K_FN,
    K_MODE,
    K_WEIGHTS,
    K_OPT,
    K_ROBUST,
    K_BYZ
} s_type_t;

typedef int (s_set_fn) (mdl_agent_cfg_t *cfg, const char *value);

typedef struct {
    const char *name;
    s_type_t type;
    size_t off;      /* field (K_FN: the field get reads, or SIZE_MAX: the text last set) */
    s_type_t get_as; /* K_FN: the field's type for mdl_agent_cfg_get */
    double min, max; /* numbers: inclusive range */
    s_set_fn *set;   /* K_FN */
    const char *help;
} s_key_t;

#define S_MAX_KEYS 96

struct mdl_cfg_extra {
    char **strs; /* copies of the strings set */
    size_t nstrs, cap;
    bool given[S_MAX_KEYS];
    const char *text[S_MAX_KEYS]; /* K_FN settings: the text last set (one of strs) */
};

/* ---- parsers of the settings with a structure of their own ---- */

/* Reads "T" or "lr:T" with T > 0 and finite. */
static int
s_target (const char *spec, double *t, bool *relative)
{
    *relative = !strncmp (spec, "lr:", 3);
    const char *num = *relative ? spec + 3 : spec;
    char *end = NULL;
    *t = strtod (num, &end);
    return end && !*end && end != num && *t > 0 && isfinite (*t) ? 0 : MDL_EINVAL;
}

int
mdl_agent_cfg_consensus_control (mdl_agent_cfg_t *cfg, const char *spec)
{
    char buf[64];
    snprintf (buf, sizeof buf, "%s", spec);
    char *comma = strchr (buf, ',');
    bool all = false;
    if (comma) {
        *comma = '\0';
        if (strcmp (comma + 1, "all"))
            return mdl_error_set (MDL_EINVAL, "--consensus-control '%s': the only suffix is ,all", spec);
        all = true;
    }
    double t;
    bool rel;
    if (strlen (spec) >= sizeof buf || s_target (buf, &t, &rel))
        return mdl_error_set (MDL_EINVAL, "--consensus-control '%s' is not T or lr:T with T > 0 (optionally ,all)",
                              spec);
    cfg->cc_target = t;
    cfg->cc_relative = rel;
    cfg->cc_all_phases = all;
    if (cfg->gossip_steps <= 1)
        cfg->gossip_steps = 4; /* the most rounds control may add per step */
    return 0;
}

int
mdl_agent_cfg_consensus_scale (mdl_agent_cfg_t *cfg, const char *sc)
{
    char *end = NULL;
    mdl_scale_t kind;
    double v = 1.0;
    if (!strncmp (sc, "lr", 2) && (sc[2] == '\0' || sc[2] == ':')) {
        kind = MDL_SCALE_LR;
        if (sc[2] == ':')
            v = strtod (sc + 3, &end);
    } else {
        kind = MDL_SCALE_CONSTANT;
        v = strtod (sc, &end);
    }
    if ((end && (*end || end == sc)) || !(v > 0 && v <= 1))
        return mdl_error_set (MDL_EINVAL, "--consensus-scale '%s' is not A, lr or lr:A with A in (0, 1]", sc);
    cfg->scale_kind = kind;
    cfg->scale_value = v;
    return 0;
}

int
mdl_agent_cfg_degree_target (mdl_agent_cfg_t *cfg, const char *spec)
{
    double t;
    bool rel;
    if (s_target (spec, &t, &rel))
        return mdl_error_set (MDL_EINVAL, "--degree-target '%s' is not T or lr:T with T > 0", spec);
    cfg->ad_target = t;
    cfg->ad_relative = rel;
    return 0;
}

int
mdl_agent_cfg_dense_window (mdl_agent_cfg_t *cfg, const char *spec)
{
    char *end = NULL;
    double start = strtod (spec, &end), len = 0;
    if (end && *end == ':')
        len = strtod (end + 1, &end);
    if (!end || *end || !(start >= 0) || !(len > 0) || !isfinite (start + len))
        return mdl_error_set (MDL_EINVAL, "--dense-window '%s' is not START:LEN in epochs (START >= 0, LEN > 0)", spec);
    cfg->dense_start = start;
    cfg->dense_len = len;
    return 0;
}

int
mdl_agent_cfg_parse_blocks (const char *spec, uint32_t *out, int cap)
{
    int k = 0;
    const char *p = spec;
    for (;;) {
        char *end = NULL;
        unsigned long v = *p >= '0' && *p <= '9' ? strtoul (p, &end, 10) : 0;
        if (v == 0 || v > 1u << 30 || k == cap || (*end != ',' && *end))
            return mdl_error_set (MDL_EINVAL, "--blocks '%s' must be P1,...,PK: 1 to %d whole numbers >= 1", spec, cap);
        out[k++] = (uint32_t) v;
        if (!*end)
            return k;
        p = end + 1;
    }
}

int
mdl_agent_cfg_robust (mdl_agent_cfg_t *cfg, const char *spec)
{
    char why[256];
    if (mdl_robust_parse (spec, &cfg->robust, why, sizeof why))
        return mdl_error_set (MDL_EINVAL, "%s", why);
    return 0;
}

/* ---- the settings' own setters (K_FN) ---- */

/* A copy of value (n bytes) owned by cfg's extra part, freed with its strings (NULL when
   out of memory); s_keep for a string. */
static void *s_keep_bytes (mdl_agent_cfg_t *cfg, const void *value, size_t n);
static const char *s_keep (mdl_agent_cfg_t *cfg, const char *value);
/* true/false/1/0/yes/no/on/off, any case. */
static bool s_parse_bool (const char *v, bool *out);

static int
s_set_cluster (mdl_agent_cfg_t *cfg, const char *v)
{
    if (!v[0])
        return mdl_error_set (MDL_EINVAL, "--cluster must not be empty");
    if (!(cfg->cluster = cfg->disc.cluster = s_keep (cfg, v)))
        return MDL_ENOMEM;
    return 0;
}

int
mdl_agent_cfg_check_peers (const char *list, bool *dns)
{
    char why[512];
    if (!list || !list[0])
        return mdl_error_set (MDL_EINVAL, "--peers takes PUB endpoints tcp://HOST:PORT,... (none given)");
    if (mdl_discovery_check_peers (list, dns, why, sizeof why))
        return mdl_error_set (MDL_EINVAL, "--peers: %s", why);
    return 0;
}

/* v as one whole number within [lo, hi] (NaN is in no range). */
static bool
s_number_in (const char *v, double lo, double hi, double *out)
{
    char *end = NULL;
    *out = strtod (v, &end);
    return end != v && !*end && *out >= lo && *out <= hi;
}

/* seconds, kept in ms */
static int
s_set_dns_interval (mdl_agent_cfg_t *cfg, const char *v)
{
    double sec;
    if (!s_number_in (v, 0.1, 3600, &sec))
        return mdl_error_set (MDL_EINVAL, "--dns-interval '%s' must be seconds from 0.1 to 3600", v);
    cfg->disc.dns_interval_ms = (int) (sec * 1000 + 0.5);
    return 0;
}

/* A list with dns: entries is the DNS back-end's (it reads tcp:// entries too). */
static int
s_set_peers (mdl_agent_cfg_t *cfg, const char *v)
{
    bool dns = false;
    int rc = mdl_agent_cfg_check_peers (v, &dns);
    if (rc)
        return rc;
    if (!(cfg->disc.peers = s_keep (cfg, v)))
        return MDL_ENOMEM;
    cfg->disc.kind = dns ? MDL_DISC_DNS : MDL_DISC_STATIC;
    return 0;
}

static int
s_set_interface (mdl_agent_cfg_t *cfg, const char *v)
{
    if (!(cfg->disc.iface = v[0] ? s_keep (cfg, v) : NULL) && v[0])
        return MDL_ENOMEM;
    cfg->disc.kind = MDL_DISC_BEACON;
    return 0;
}

static int
s_set_hello (mdl_agent_cfg_t *cfg, const char *v)
{
    /* parsed and range-checked by the K_DBL row before (see s_apply) */
    cfg->disc.interval_ms = (int) (cfg->hello_interval * 1000);
    return 0;
}

/* megabytes, kept in bytes; "auto" by mode (mdl_agent_hwm_bytes) */
static int
s_set_hwm (mdl_agent_cfg_t *cfg, const char *v)
{
    double mb;
    if (v && strcmp (v, "auto") == 0) {
        cfg->hwm_bytes = MDL_AGENT_HWM_AUTO;
        return 0;
    }
    if (!s_number_in (v, 0, 1e6, &mb))
        return mdl_error_set (MDL_EINVAL, "--hwm-mb '%s' must be megabytes from 0 to 1e6, or auto", v);
    cfg->hwm_bytes = (int64_t) (mb * 1e6);
    return 0;
}

/* Sync mode: a state dropped at a full queue costs its round a RESEND, so queues may
   hold much (256 MB). Async mode: only a neighbour's newest state is mixed, and a sender
   outpacing a loaded receiver filled its queue with stale states (peak RSS 129-135 MB
   at 256 MB against 64-75 MB at 2 MB, mlp:784-256-128-10, bench/async_rss.sh): a few
   models are enough. */
#define S_HWM_SYNC ((int64_t) 256 * 1000 * 1000)
#define S_HWM_ASYNC_MODELS 4
#define S_HWM_ASYNC_MIN ((int64_t) 8 * 1000 * 1000)

int64_t
mdl_agent_hwm_bytes (const mdl_agent_cfg_t *cfg, size_t msg_bytes)
{
    if (cfg->hwm_bytes != MDL_AGENT_HWM_AUTO)
        return cfg->hwm_bytes;
    if (cfg->mode != MDL_MODE_ASYNC)
        return S_HWM_SYNC;
    const int64_t models = S_HWM_ASYNC_MODELS * (int64_t) msg_bytes;
    return models > S_HWM_ASYNC_MIN ? models : S_HWM_ASYNC_MIN;
}

static int
s_set_model (mdl_agent_cfg_t *cfg, const char *v)
{
    if (!v[0]) { /* none: a vector of the caller's own (dim) */
        cfg->learn.spec = NULL;
        return 0;
    }
    int rc = mdl_model_check (v, NULL);
    if (rc)
        return mdl_error_set (MDL_EINVAL, "--model '%s': %s", v, mdl_strerror (rc));
    if (!(cfg->learn.spec = s_keep (cfg, v)))
        return MDL_ENOMEM;
    return 0;
}

static int
s_set_epochs (mdl_agent_cfg_t *cfg, const char *v)
{
    cfg->learn.epochs = cfg->epochs;
    return 0;
}

static int
s_set_seed (mdl_agent_cfg_t *cfg, const char *v)
{
    cfg->learn.data_seed = cfg->seed = cfg->learn.seed;
    return 0;
}

static int
s_set_optimizer (mdl_agent_cfg_t *cfg, const char *v)
{
    mdl_opt_kind_t kind;
    if (mdl_opt_parse (v, &kind))
        return mdl_error_set (MDL_EINVAL,
                              "--optimizer '%s' is not one of sgd, momentum, nesterov, adam, adamw, accumadam", v);
    cfg->learn.opt.kind = kind;
    return 0;
}

/* accumadam's K (a uint32_t field: read here, not by the K_INT row) */
static int
s_set_accum (mdl_agent_cfg_t *cfg, const char *v)
{
    double k;
    if (!s_number_in (v, 1, 1000000, &k) || k != floor (k))
        return mdl_error_set (MDL_EINVAL, "--accum '%s' must be an integer from 1 to 1000000", v);
    cfg->learn.opt.accum = (uint32_t) k;
    return 0;
}

static int
s_set_schedule (mdl_agent_cfg_t *cfg, const char *v)
{
    if (mdl_sched_parse (v, &cfg->learn.sched))
        return mdl_error_set (MDL_EINVAL,
                              "--schedule '%s' is not constant, cosine or step:GAMMA:E1,E2,... (e.g. step:0.1:3,4)", v);
    return 0;
}

static int s_set_algo (mdl_agent_cfg_t *cfg, const char *v);

static int
s_set_mode (mdl_agent_cfg_t *cfg, const char *v)
{
    if (!strcmp (v, "sync"))
        cfg->mode = MDL_MODE_SYNC;
    else if (!strcmp (v, "async"))
        cfg->mode = MDL_MODE_ASYNC;
    else
        return mdl_error_set (MDL_EINVAL, "--mode '%s' is not sync or async", v);
    return 0;
}

static int
s_set_topology (mdl_agent_cfg_t *cfg, const char *v)
{
    int rc;
    mdl_topo_t *t = mdl_topo_new (v, 0, &rc);
    if (!t)
        return mdl_error_set (MDL_EINVAL, "--topology '%s' is not valid: %s", v, mdl_topo_help ());
    mdl_topo_destroy (&t);
    if (!(cfg->topology = s_keep (cfg, v)))
        return MDL_ENOMEM;
    return 0;
}

static int
s_set_weights (mdl_agent_cfg_t *cfg, const char *v)
{
    if (mdl_weights_parse (v, &cfg->weights))
        return mdl_error_set (MDL_EINVAL, "--weights '%s' is not mh or uniform", v);
    return 0;
}

static const s_key_t *s_find (const char *name, size_t *index);

/* Error feedback unless "error-feedback" was set: on with a lossy codec where the
   algorithm takes a codec and keeps no replicas of its own (CHOCO does), as the command
   line does: without it, what the codec drops is lost every round (topk:0.01 ends near
   chance). Applied when "codec" or "algo" is set. */
static void
s_error_feedback_default (mdl_agent_cfg_t *cfg)
{
    size_t i;
    if (!cfg->extra || !s_find ("error-feedback", &i) || cfg->extra->given[i])
        return;
    const mdl_algo_ops_t *ops = mdl_algo_find (cfg->algo ? cfg->algo : "dpsgd");
    int rc;
    mdl_codec_t *c = mdl_codec_new (cfg->codec ? cfg->codec : "fp32", 100000, 0, &rc);
    const bool lossy = !c || !mdl_codec_is_lossless (c);
    mdl_codec_destroy (&c);
    cfg->error_feedback = ops && lossy && (ops->takes & MDL_ALGO_TAKES_CODEC) && !ops->replicas;
}

static int
s_set_codec (mdl_agent_cfg_t *cfg, const char *v)
{
    if (mdl_codec_check_spec (v))
        return mdl_error_set (MDL_EINVAL, "--codec '%s' does not parse. %s", v, mdl_codec_help ());
    if (!(cfg->codec = s_keep (cfg, v)))
        return MDL_ENOMEM;
    s_error_feedback_default (cfg);
    return 0;
}

static int
s_set_cc (mdl_agent_cfg_t *cfg, const char *v)
{
    return mdl_agent_cfg_consensus_control (cfg, v);
}

static int
s_set_scale (mdl_agent_cfg_t *cfg, const char *v)
{
    return mdl_agent_cfg_consensus_scale (cfg, v);
}

static int
s_set_degree (mdl_agent_cfg_t *cfg, const char *v)
{
    return mdl_agent_cfg_degree_target (cfg, v);
}

static int
s_set_adaptive (mdl_agent_cfg_t *cfg, const char *v)
{
    /* on: with the default target lr:1 unless degree-target set one */
    bool on;
    if (!s_parse_bool (v, &on))
        return mdl_error_set (MDL_EINVAL, "--adaptive-degree '%s' is not true or false", v);
    if (!on)
        cfg->ad_target = 0;
    else if (!(cfg->ad_target > 0))
        cfg->ad_target = 1, cfg->ad_relative = true;
    return 0;
}

static int
s_set_dense (mdl_agent_cfg_t *cfg, const char *v)
{
    return mdl_agent_cfg_dense_window (cfg, v);
}

static int
s_set_robust (mdl_agent_cfg_t *cfg, const char *v)
{
    return mdl_agent_cfg_robust (cfg, v[0] ? v : NULL);
}

static int
s_set_byzantine (mdl_agent_cfg_t *cfg, const char *v)
{
    char why[256];
    if (!v[0]) {
        memset (&cfg->byzantine, 0, sizeof cfg->byzantine);
        return 0;
    }
    if (mdl_byz_parse (v, &cfg->byzantine, why, sizeof why))
        return mdl_error_set (MDL_EINVAL, "%s", why);
    return 0;
}

static int
s_set_bootstrap (mdl_agent_cfg_t *cfg, const char *v)
{
    if (strcmp (v, "peer") && strcmp (v, "none"))
        return mdl_error_set (MDL_EINVAL, "--bootstrap '%s' must be peer or none", v);
    cfg->bootstrap = strcmp (v, "peer") ? MDL_BOOT_NONE : MDL_BOOT_PEER;
    return 0;
}

static int
s_set_distill_weight (mdl_agent_cfg_t *cfg, const char *v)
{
    double w;
    if (!s_number_in (v, 0, 1e6, &w))
        return mdl_error_set (MDL_EINVAL, "--distill-weight '%s' must be a number from 0 to 1e6", v);
    cfg->distill_weight = w;
    cfg->distill_weight_given = true; /* other algorithms refuse it */
    return 0;
}

/* Kept with the configuration's strings (mdl_agent_cfg_adopt_strings copies it into the
   agent too). */
static int
s_set_blocks (mdl_agent_cfg_t *cfg, const char *v)
{
    uint32_t b[1024];
    int k = mdl_agent_cfg_parse_blocks (v, b, (int) (sizeof b / sizeof b[0]));
    if (k < 0)
        return k;
    const uint32_t *kept = s_keep_bytes (cfg, b, (size_t) k * sizeof b[0]);
    if (!kept)
        return mdl_error_set (MDL_ENOMEM, "out of memory");
    cfg->blocks = kept;
    cfg->nblocks = k;
    return 0;
}

#define F(field) offsetof (struct mdl_agent_cfg, field)
#define TEXT SIZE_MAX

/* The settings. Ranges and help lines are those of the command line's options. */
static const s_key_t s_keys[] = {
    /* identity and network */
    { "id", K_U64, F (id), 0, 1, S_U64_MAX, NULL, "agent id, never 0 [random]" },
    { "cluster", K_FN, F (cluster), K_STR, 0, 0, s_set_cluster,
      "cluster name; agents of other clusters are ignored [meshdl]" },
    { "bind", K_STR, F (bind), 0, 0, 0, NULL,
      "PUB endpoint to bind: tcp://HOST:PORT (PORT 0: any free one) or inproc://NAME [tcp://127.0.0.1:0]" },
    { "peers", K_FN, F (disc.peers), K_STR, 0, 0, s_set_peers,
      "static discovery: comma-separated PUB endpoints tcp://HOST:PORT (with curve: tcp://HOST:PORT#KEY)" },
    { "interface", K_FN, F (disc.iface), K_STR, 0, 0, s_set_interface,
      "beacon discovery (UDP broadcast) on this network interface" },
    { "beacon-port", K_INT, F (disc.beacon_port), 0, 1, 65535, NULL, "UDP port of the beacons [5670]" },
    { "dns-interval", K_FN, TEXT, 0, 0, 0, s_set_dns_interval,
      "dns: peers: seconds between resolutions of each name (a failing one is retried every second) [5]" },
    { "peer-timeout", K_DBL, F (peer_timeout), 0, 0.05, 3600, NULL, "a peer silent this long (seconds) is dead [3]" },
    { "hello-interval", K_FN, F (hello_interval), K_DBL, 0.01, 60, s_set_hello,
      "seconds between hellos on the mesh [0.25]" },
    { "hwm-mb", K_FN, TEXT, 0, 0, 0, s_set_hwm,
      "memory one message queue may hold (each peer's in the sender, the receiver's), in MB, as whole messages, at "
      "least 2 models (0 = ZeroMQ's 100 / 1000 messages) [auto: 256 in sync mode; in async mode 4 models, at least "
      "8]" },
    { "min-peers", K_INT, F (min_peers), 0, 0, 1024, NULL, "wait for this many peers before the first step [0]" },
    { "min-peers-timeout", K_DBL, F (min_peers_timeout), 0, 0.1, 86400, NULL,
      "how long to wait for them, seconds [60]" },
    { "curve", K_BOOL, F (curve), 0, 0, 0, NULL, "CURVE security: encrypt and authenticate (needs cert and allow)" },
    { "cert", K_STR, F (cert), 0, 0, 0, NULL, "this agent's secret certificate (meshdl keygen)" },
    { "allow", K_STR, F (allow_dir), 0, 0, 0, NULL, "directory of the public certificates allowed in the cluster" },
    { "seed", K_FN, F (learn.seed), K_U64, 0, S_U64_MAX, s_set_seed,
      "random seed: initial model, minibatch order, codecs' randomness [1]" },
    /* meshdl's own models (way 1) */
    { "data-seed", K_U64, F (learn.data_seed), 0, 0, S_U64_MAX, NULL,
      "order of the agent's minibatches (seed sets it too; set it after seed) [1]" },
    { "injection-seed", K_U64, F (seed), 0, 0, S_U64_MAX, NULL,
      "random stream of fault injections and --byzantine noise (seed sets it too; set it after seed) [1]" },
    { "model", K_FN, F (learn.spec), K_STR, 0, 0, s_set_model,
      "model: mlp:784-256-128-10 (any widths), cnn, cnn:C1-C2-H, linreg:D; suffix ,act=tanh; \"\" for none (with "
      "dim)" },
    { "epochs", K_FN, F (epochs), K_INT, 1, 100000, s_set_epochs, "passes over the agent's shard [5]" },
    { "batch", K_SIZE, F (learn.batch), 0, 1, 1 << 20, NULL, "minibatch size [64]" },
    { "lr", K_FLT, F (learn.sched.lr0), 0, 0, 1e3, NULL, "learning rate (0 = gossip only) [0.02]" },
    { "optimizer", K_FN, F (learn.opt.kind), K_OPT, 0, 0, s_set_optimizer,
      "sgd | momentum | nesterov | adam | adamw | accumadam [momentum]" },
    { "accum", K_FN, TEXT, 0, 0, 0, s_set_accum,
      "accumadam: Adam moments advance once per K steps, on their mean gradient [4]" },
    { "momentum", K_FLT, F (learn.opt.momentum), 0, 0, 0.999999, NULL,
      "momentum for momentum/nesterov, in [0,1) [0.9]" },
    { "beta1", K_FLT, F (learn.opt.beta1), 0, 0, 0.999999, NULL, "Adam beta1 [0.9]" },
    { "beta2", K_FLT, F (learn.opt.beta2), 0, 0, 0.999999, NULL, "Adam beta2 [0.999]" },
    { "eps", K_FLT, F (learn.opt.eps), 0, 1e-30, 1, NULL, "Adam epsilon [1e-8]" },
    { "weight-decay", K_FLT, F (learn.opt.weight_decay), 0, 0, 10, NULL, "L2 weight decay (decoupled for adamw) [0]" },
    { "schedule", K_FN, TEXT, 0, 0, 0, s_set_schedule,
      "constant | cosine | step:GAMMA:E1,E2,... (decay at epochs) [cosine]" },
    { "warmup", K_DBL, F (learn.sched.warmup_epochs), 0, 0, 1e6, NULL, "epochs of linear learning-rate warm-up [0]" },
    { "lr-min", K_FLT, F (learn.sched.lr_min), 0, 0, 1e3, NULL, "floor of the cosine schedule [0]" },
    { "test-rows", K_SIZE, F (test_rows), 0, 0, 1e12, NULL,
      "the agent's own evaluations use the first N test rows (0 = all) [0]" },
    { "evals-per-epoch", K_INT, F (evals_per_epoch), 0, 0, 1000, NULL,
      "evaluations by the agent per epoch while training (with a test set), at k/N of an epoch; one more, "
      "the final, when training ends [2]" },
    { "eval-rows", K_SIZE, F (eval_rows), 0, 0, 1e12, NULL,
      "test rows of the evaluations while training (0 = those of test-rows) [0]" },
    { "drift-at", K_DBL, F (drift_epoch), 0, 0, 1e9, NULL,
      "concept drift: from this epoch on every label y reads (y + 1) mod classes [off]" },
    /* your own model (way 2) */
    { "dim", K_SIZE, F (dim), 0, 0, 1e12, NULL,
      "length of your parameter vector, for mdl_agent_exchange (with model \"\") [0]" },
    /* consensus */
    { "algo", K_FN, F (algo), K_STR, 0, 0, s_set_algo, "consensus algorithm (mdl_agent_cfg_check lists them) [dpsgd]" },
    { "mode", K_FN, F (mode), K_MODE, 0, 0, s_set_mode,
      "sync (wait for each round, at most sync-timeout) | async (newest states, never wait) [sync]" },
    { "topology", K_FN, F (topology), K_STR, 0, 0, s_set_topology,
      "complete | ring | torus | exp | one-peer-exp | base:K | random:D [ring]" },
    { "weights", K_FN, F (weights), K_WEIGHTS, 0, 0, s_set_weights, "mixing weights: mh | uniform [mh]" },
    { "codec", K_FN, F (codec), K_STR, 0, 0, s_set_codec,
      "codec of published updates: fp32, fp16, q8, qsgd:4, sign, topk:0.01, randk:0.01, topk:0.01+q8 [fp32]" },
    { "error-feedback", K_BOOL, F (error_feedback), 0, 0, 0, NULL,
      "lossy codecs: send compressed deltas against replicas, keeping what the codec dropped [on with a lossy "
      "codec, unless the algorithm keeps replicas of its own]" },
    { "keyframe-every", K_INT, F (keyframe_every), 0, 0, 1e9, NULL,
      "replica streams: a full fp32 keyframe every K sends, 0 = only on a gap or a new peer [100]" },
    { "verify-replicas", K_BOOL, F (verify_replicas), 0, 0, 0, NULL,
      "replica streams: every update carries a digest of the sender's copy, checked by receivers" },
    { "gamma", K_DBL, F (gamma), 0, 1e-12, 1, NULL,
      "consensus step size in (0, 1] [the algorithm's: 1, choco 0.1, adagossip 0.01]" },
    { "gamma-max", K_DBL, F (gamma_max), 0, 1e-12, 1, NULL,
      "adagossip: cap of the per-coordinate consensus step, in (0, 1] [1; 0.05 with topk/randk codecs]" },
    { "gossip-steps", K_INT, F (gossip_steps), 0, 1, 1000, NULL,
      "gossip rounds per step (Kong et al.'s consensus control) [1]" },
    { "consensus-scale", K_FN, TEXT, 0, 0, 0, s_set_scale,
      "scale the consensus step by alpha_t: A (constant), lr (lr_t/lr_0) or lr:A [none]" },
    { "consensus-control", K_FN, TEXT, 0, 0, 0, s_set_cc,
      "extra gossip rounds (up to gossip-steps, default 4) while the disagreement estimate exceeds T; lr:T; suffix "
      ",all" },
    { "local-steps", K_INT, F (local_steps), 0, 1, 1e9, NULL, "localsgd: H local steps between gossip rounds [1]" },
    { "global-every", K_INT, F (global_every), 0, 0, 1e9, NULL,
      "an exact average over all live peers every P steps (Gossip-PGA; dpsgd, localsgd) [0 = off]" },
    { "overlap", K_BOOL, F (overlap), 0, 0, 0, NULL,
      "dpsgd: mix the neighbours' states of the previous step while computing this one (Decent-DP)" },
    { "final-merge", K_BOOL, F (final_merge), 0, 0, 0, NULL,
      "end with one exact average over all live peers (acknowledged, retried)" },
    { "merge-timeout", K_DBL, F (merge_timeout), 0, 0.1, 3600, NULL,
      "how long the final merge may take, seconds [30]" },
    { "delta", K_DBL, F (dyn_delta), 0, 0, 1e300, NULL,
      "dynavg: synchronise when ||x - r||^2 exceeds D (0 = periodic averaging) [1]" },
    { "check-every", K_INT, F (check_every), 0, 1, 1e9, NULL, "dynavg: check the local condition every B steps [1]" },
    { "adaptive-degree", K_FN, TEXT, 0, 0, 0, s_set_adaptive,
      "the exponential graph while the disagreement estimate is above degree-target, topology below it" },
    { "degree-target", K_FN, TEXT, 0, 0, 0, s_set_degree,
      "adaptive degree's target: T, or lr:T = T times the learning rate [lr:1]" },
    { "dense-window", K_FN, TEXT, 0, 0, 0, s_set_dense,
      "gossip on the complete graph during epochs [START, START+LEN)" },
    { "staleness-decay", K_DBL, F (staleness_decay), 0, 1e-12, 1, NULL,
      "a neighbour state s steps old weighs L^s, in (0, 1] [0.98]" },
    { "max-staleness", K_INT, F (max_staleness), 0, 0, 1e9, NULL, "states older than S steps are dropped [500]" },
    { "sync-timeout", K_DBL, F (sync_timeout), 0, 0.001, 3600, NULL,
      "sync mode: how long to wait for a round before mixing what arrived, seconds [10]" },
    { "local-epochs", K_INT, F (local_epochs), 0, 0, 1e6, NULL,
      "localsgd: no gossip; an exact average over all live peers, weighted by shard size, every E epochs [off]" },
    { "public-rows", K_SIZE, F (public_rows), 0, 0, 1e12, NULL,
      "codistill: the first N training rows are the public pool the agents predict on [needed by codistill]" },
    { "distill-weight", K_FN, F (distill_weight), K_DBL, 0, 1e6, s_set_distill_weight,
      "codistill: weight of KL(neighbours' mean || own) in the loss [0.5]" },
    { "sample", K_INT, F (sample), 0, 0, 1024, NULL, "plexus: agents sampled per round [needed by plexus]" },
    { "blocks", K_FN, TEXT, 0, 0, 0, s_set_blocks,
      "mp-linreg: unknowns of each agent (in id order) P1,...,PK, adding up to D of model linreg:D" },
    /* defences and joining (issues 15, 16) */
    { "robust", K_FN, F (robust), K_ROBUST, 0, 0, s_set_robust,
      "Byzantine-robust mixing: clip, clip:TAU, trimmed:B or median; \"\" for none [off]" },
    { "max-lead", K_INT, F (max_lead), 0, 0, 1e9, NULL,
      "refuse a state stamped more than R rounds ahead of this agent's round [sync: max(8, 2 log2 N) x gossip-steps x "
      "local-steps; "
      "async: the larger of max-staleness and gossip-steps x local-steps, counted from the furthest of this agent's "
      "round and the sender's last accepted one]" },
    { "bootstrap", K_FN, TEXT, 0, 0, 0, s_set_bootstrap,
      "a fresh agent joining a training cluster starts from the snapshot of the live peer with the highest step "
      "(peer) or from its own initial model (none) [none; meshdl agent: peer]" },
    { "bootstrap-timeout", K_DBL, F (bootstrap_timeout), 0, 0, 86400, NULL,
      "seconds a snapshot transfer may take (0: 60) [0]" },
    { "linger", K_DBL, F (linger), 0, 0, 86400, NULL,
      "after training, stay in the mesh while live peers still train or one that vanished without a goodbye in "
      "the last SEC seconds may come back, at most SEC seconds: serve snapshots, out of everyone's rounds "
      "[0; meshdl agent: 10]" },
    { "join-rate", K_DBL, F (join_rate), 0, 0, 1e6, NULL, "new peers per second at most (0: 16) [0]" },
    { "join-burst", K_INT, F (join_burst), 0, 0, 1e9, NULL, "... after a burst of this many (0: 4 x rate, >= 64) [0]" },
    /* fault injection (experiments) */
    { "offline", K_DBL, F (offline), 0, 0, 0.999999, NULL,
      "probability that the agent sits a round out, from a trace every agent knows [0]" },
    { "byzantine", K_FN, F (byzantine), K_BYZ, 0, 0, s_set_byzantine,
      "this agent lies, to test defences: scale:K | noise:SIGMA | zero | stale:S | alie:Z | future:K [off]" },
    { "drop", K_DBL, F (drop), 0, 0, 0.999999, NULL, "drop this fraction of incoming updates [0]" },
    { "delay-ms", K_DBL, F (delay_ms), 0, 0, 1e6, NULL, "add this delay to every incoming message, ms [0]" },
    { "slow-factor", K_DBL, F (slow_factor), 0, 1, 1e6, NULL, "compute this many times slower [1]" },
    { "pace", K_DBL, F (pace_s), 0, 0, 3600, NULL,
      "emulated compute time of one step, seconds (slow-factor multiplies it; 0 = the real one) [0]" },
};

#define S_NKEYS (sizeof s_keys / sizeof s_keys[0])
_Static_assert(sizeof s_keys / sizeof s_keys[0] <= S_MAX_KEYS, "raise S_MAX_KEYS");

static const s_key_t *
s_find (const char *name, size_t *index)
{
    for (size_t i = 0; i < S_NKEYS; i++)
        if (!strcmp (s_keys[i].name, name)) {
            if (index)
                *index = i;
            return &s_keys[i];
        }
    return NULL;
}

/* ---- the configuration object ---- */

static struct mdl_cfg_extra *
s_extra (mdl_agent_cfg_t *cfg)
{
    if (!cfg->extra)
        cfg->extra = calloc (1, sizeof *cfg->extra);
    return cfg->extra;
}

static void *
s_keep_bytes (mdl_agent_cfg_t *cfg, const void *value, size_t n)
{
    struct mdl_cfg_extra *x = s_extra (cfg);
    if (!x)
        return NULL;
    if (x->nstrs == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 16;
        char **s = realloc (x->strs, cap * sizeof *s);
        if (!s)
            return NULL;
        x->strs = s;
        x->cap = cap;
    }
    char *copy = malloc (n ? n : 1);
    if (copy) {
        memcpy (copy, value, n);
        x->strs[x->nstrs++] = copy;
    }
    return copy;
}

static const char *
s_keep (mdl_agent_cfg_t *cfg, const char *value)
{
    return s_keep_bytes (cfg, value, strlen (value) + 1);
}

/* An id nobody else picks by chance: the process, the clock and a counter, hashed. */
static uint64_t
s_random_id (void)
{
    static _Atomic uint64_t s_count;
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    uint64_t v[4] = { (uint64_t) getpid (), (uint64_t) ts.tv_sec, (uint64_t) ts.tv_nsec, s_count++ };
    uint64_t h = mdl_hash_fnv1a64 (v, sizeof v);
    return h ? h : 1;
}

void
mdl_agent_cfg_defaults (mdl_agent_cfg_t *c)
{
    memset (c, 0, sizeof *c);
    c->id = 0;
    c->cluster = "meshdl";
    c->bind = "tcp://127.0.0.1:0";
    c->disc = (mdl_disc_cfg_t){ .kind = MDL_DISC_STATIC, .cluster = "meshdl", .beacon_port = 5670, .interval_ms = 250 };
    c->peer_timeout = 3.0;
    c->hello_interval = 0.25;
    c->min_peers_timeout = 60.0;
    c->learn.spec = "mlp:784-256-128-10";
    c->learn.seed = c->learn.data_seed = c->seed = 1;
    c->learn.batch = 64;
    mdl_opt_defaults (&c->learn.opt, MDL_OPT_MOMENTUM);
    mdl_sched_parse ("cosine", &c->learn.sched);
    c->learn.sched.lr0 = 0.02f;
    c->learn.epochs = c->epochs = 5;
    c->evals_per_epoch = 2;
    c->algo = "dpsgd";
    c->topology = "ring";
    c->weights = MDL_WEIGHTS_MH;
    c->mode = MDL_MODE_SYNC;
    c->hwm_bytes = MDL_AGENT_HWM_AUTO;
    c->codec = "fp32";
    c->keyframe_every = 100;
    c->gamma = 1.0;
    c->gamma_max = NAN; /* by codec, at mdl_agent_new */
    c->gossip_steps = 1;
    c->scale_kind = MDL_SCALE_NONE;
    c->scale_value = 1.0;
    c->local_steps = 1;
    c->merge_timeout = 30.0;
    c->dyn_delta = 1.0;
    c->check_every = 1;
    c->staleness_decay = 0.98;
    c->max_staleness = 500;
    c->sync_timeout = 10.0;
    c->slow_factor = 1.0;
    c->distill_weight = 0.5;
}

mdl_agent_cfg_t *
mdl_agent_cfg_new (void)
{
    mdl_agent_cfg_t *c = malloc (sizeof *c);
    if (!c)
        return NULL;
    mdl_agent_cfg_defaults (c);
    c->id = s_random_id ();
    return c;
}

void
mdl_agent_cfg_clear (mdl_agent_cfg_t *cfg)
{
    if (!cfg || !cfg->extra)
        return;
    for (size_t i = 0; i < cfg->extra->nstrs; i++)
        free (cfg->extra->strs[i]);
    free (cfg->extra->strs);
    free (cfg->extra);
    cfg->extra = NULL;
}

void
mdl_agent_cfg_destroy (mdl_agent_cfg_t **pcfg)
{
    if (!pcfg || !*pcfg)
        return;
    mdl_agent_cfg_clear (*pcfg);
    free (*pcfg);
    *pcfg = NULL;
}

/* The string fields of the configuration: what mdl_agent_cfg_dup and
   mdl_agent_cfg_adopt_strings copy. */
static const char **
s_strfield (mdl_agent_cfg_t *c, size_t i)
{
    const char **f[] = {
        &c->cluster,   &c->bind,       &c->disc.cluster, &c->disc.iface, &c->disc.peers, &c->cert,
        &c->allow_dir, &c->learn.spec, &c->algo,         &c->topology,   &c->codec,      &c->log_prefix
    };
    return i < sizeof f / sizeof f[0] ? f[i] : NULL;
}

int
mdl_agent_cfg_adopt_strings (mdl_agent_cfg_t *c, char **arena)
{
    const size_t nb = c->blocks && c->nblocks > 0 ? (size_t) c->nblocks * sizeof *c->blocks : 0;
    size_t total = nb; /* the blocks first: malloc's alignment fits uint32_t */
    const char **f;
    for (size_t i = 0; (f = s_strfield (c, i)); i++)
        total += *f ? strlen (*f) + 1 : 0;
    char *a = malloc (total ? total : 1), *at = a;
    if (!a)
        return MDL_ENOMEM;
    if (nb) {
        memcpy (at, c->blocks, nb);
        c->blocks = (const uint32_t *) (void *) at;
        at += nb;
    }
    for (size_t i = 0; (f = s_strfield (c, i)); i++)
        if (*f) {
            size_t n = strlen (*f) + 1;
            memcpy (at, *f, n);
            *f = at;
            at += n;
        }
    c->extra = NULL;
    *arena = a;
    return 0;
}

mdl_agent_cfg_t *
mdl_agent_cfg_dup (const mdl_agent_cfg_t *cfg)
{
    mdl_agent_cfg_t *c = malloc (sizeof *c);
    if (!c)
        return NULL;
    *c = *cfg;
    c->extra = NULL;
    const char **f;
    for (size_t i = 0; (f = s_strfield (c, i)); i++)
        if (*f && !(*f = s_keep (c, *f))) {
            mdl_agent_cfg_destroy (&c);
            return NULL;
        }
    if (c->blocks && c->nblocks > 0
        && !(c->blocks = s_keep_bytes (c, cfg->blocks, (size_t) cfg->nblocks * sizeof *cfg->blocks))) {
        mdl_agent_cfg_destroy (&c);
        return NULL;
    }
    if (!cfg->extra)
        return c;
    if (!s_extra (c)) {
        mdl_agent_cfg_destroy (&c);
        return NULL;
    }
    memcpy (c->extra->given, cfg->extra->given, sizeof c->extra->given);
    for (size_t k = 0; k < S_NKEYS; k++)
        if (cfg->extra->text[k] && !(c->extra->text[k] = s_keep (c, cfg->extra->text[k]))) {
            mdl_agent_cfg_destroy (&c);
            return NULL;
        }
    return c;
}

/* ---- set and get ---- */

static bool
s_parse_bool (const char *v, bool *out)
{
    static const char *const yes[] = { "true", "1", "yes", "on" }, *const no[] = { "false", "0", "no", "off" };
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp (v, yes[i]))
            return *out = true, true;
        if (!strcasecmp (v, no[i]))
            return *out = false, true;
    }
    return false;
}

/* Parses a number of the whole string, finite and in [min, max]. */
static int
s_parse_num (const s_key_t *k, const char *v, double *out)
{
    char *end = NULL;
    errno = 0;
    double x = strtod (v, &end);
    if (!v[0] || !end || *end || errno == ERANGE || !isfinite (x))
        return mdl_error_set (MDL_EINVAL, "--%s '%s' is not a number", k->name, v);
    if (x < k->min || x > k->max)
        return mdl_error_set (MDL_EINVAL, "--%s %s is out of range [%g, %g]", k->name, v, k->min, k->max);
    const s_type_t t = k->type == K_FN ? k->get_as : k->type;
    if (t == K_U64 && v[0] != '-') {
        errno = 0;
        (void) strtoull (v, &end, 10);
        if (errno == ERANGE)
            return mdl_error_set (MDL_EINVAL, "--%s %s is out of range [%g, %s]", k->name, v, k->min,
                                  "18446744073709551615");
    }
    if ((t == K_INT || t == K_U64 || t == K_SIZE) && x != floor (x))
        return mdl_error_set (MDL_EINVAL, "--%s '%s' is not a whole number", k->name, v);
    *out = x;
    return 0;
}

/* Writes a parsed value into the field at k->off. A 64-bit integer written in digits is
   read again as one: a double holds only 53 bits (ids and seeds are drawn from 64). */
static void
s_store (mdl_agent_cfg_t *cfg, s_type_t t, size_t off, double x, bool b, const char *v)
{
    char *p = (char *) cfg + off;
    char *end = NULL;
    unsigned long long u = 0;
    switch (t) {
    case K_INT: *(int *) p = (int) x; break;
    case K_U64:
        u = v ? strtoull (v, &end, 10) : 0;
        *(uint64_t *) p = v && end != v && !*end && v[0] != '-' ? (uint64_t) u : (uint64_t) x;
        break;
    case K_SIZE: *(size_t *) p = (size_t) x; break;
    case K_DBL: *(double *) p = x; break;
    case K_FLT: *(float *) p = (float) x; break;
    case K_BOOL: *(bool *) p = b; break;
    default: break;
    }
}

/* One setting into cfg; cfg may be partly written on failure (mdl_agent_cfg_set works
   on a copy). */
static int
s_apply (mdl_agent_cfg_t *cfg, const s_key_t *k, const char *v)
{
    double x = 0;
    bool b = false;
    switch (k->type) {
    case K_STR:
        if (!(*(const char **) ((char *) cfg + k->off) = v[0] ? s_keep (cfg, v) : NULL) && v[0])
            return MDL_ENOMEM;
        return 0;
    case K_BOOL:
        if (!s_parse_bool (v, &b))
            return mdl_error_set (MDL_EINVAL, "--%s '%s' is not true or false", k->name, v);
        s_store (cfg, K_BOOL, k->off, 0, b, NULL);
        return 0;
    case K_FN:
        /* settings read as a number first (hello-interval, epochs, seed), then tied to
           the fields that follow them */
        if (k->off != TEXT && (k->get_as == K_DBL || k->get_as == K_INT || k->get_as == K_U64) && k->max > k->min) {
            int rc = s_parse_num (k, v, &x);
            if (rc)
                return rc;
            s_store (cfg, k->get_as, k->off, x, false, v);
        }
        return k->set (cfg, v);
    default: {
        int rc = s_parse_num (k, v, &x);
        if (rc)
            return rc;
        s_store (cfg, k->type, k->off, x, false, v);
        return 0;
    }
    }
}

int
mdl_agent_cfg_set (mdl_agent_cfg_t *cfg, const char *key, const char *value)
{
    mdl_error_clear ();
    size_t idx = 0;
    const s_key_t *k = key ? s_find (key, &idx) : NULL;
    if (!cfg || !k)
        return mdl_error_set (MDL_EINVAL, "unknown setting '%s' (mdl_agent_cfg_key lists them)", key ? key : "(null)");
    if (!value)
        return mdl_error_set (MDL_EINVAL, "--%s needs a value", key);
    if (!s_extra (cfg))
        return MDL_ENOMEM;
    /* Work on a copy, so that a refused value leaves cfg as it was. Strings it keeps go
       to cfg's extra part (shared by the copy), at worst unused. */
    mdl_agent_cfg_t c = *cfg;
    int rc = s_apply (&c, k, value);
    if (rc)
        return rc;
    if (k->type == K_FN) {
        const char *t = s_keep (&c, value);
        if (!t)
            return MDL_ENOMEM;
        c.extra->text[idx] = t;
    }
    c.extra->given[idx] = true;
    *cfg = c;
    return 0;
}

int
mdl_agent_cfg_get (const mdl_agent_cfg_t *cfg, const char *key, char *buf, size_t cap)
{
    size_t idx = 0;
    const s_key_t *k = key ? s_find (key, &idx) : NULL;
    if (!cfg || !k || !buf || !cap)
        return mdl_error_set (MDL_EINVAL, "unknown setting '%s' (mdl_agent_cfg_key lists them)", key ? key : "(null)");
    const s_type_t t = k->type == K_FN ? k->get_as : k->type;
    const char *p = (const char *) cfg + (k->off == TEXT ? 0 : k->off);
    const bool rule = t == K_ROBUST || t == K_BYZ; /* read from the field however it was set */
    if (k->type == K_FN && !rule && (k->off == TEXT || (cfg->extra && cfg->extra->text[idx]))) {
        const char *text = cfg->extra ? cfg->extra->text[idx] : NULL;
        snprintf (buf, cap, "%s", text ? text : "");
        return 0;
    }
    switch (t) {
    case K_STR: snprintf (buf, cap, "%s", *(const char *const *) p ? *(const char *const *) p : ""); break;
    case K_INT: snprintf (buf, cap, "%d", *(const int *) p); break;
    case K_U64: snprintf (buf, cap, "%llu", (unsigned long long) *(const uint64_t *) p); break;
    case K_SIZE: snprintf (buf, cap, "%zu", *(const size_t *) p); break;
    case K_DBL: snprintf (buf, cap, "%.17g", *(const double *) p); break;
    case K_FLT: snprintf (buf, cap, "%.9g", (double) *(const float *) p); break;
    case K_BOOL: snprintf (buf, cap, "%s", *(const bool *) p ? "true" : "false"); break;
    case K_MODE: snprintf (buf, cap, "%s", *(const mdl_mode_t *) p == MDL_MODE_ASYNC ? "async" : "sync"); break;
    case K_WEIGHTS: snprintf (buf, cap, "%s", mdl_weights_name (*(const mdl_weights_t *) p)); break;
    case K_OPT: snprintf (buf, cap, "%s", mdl_opt_name (*(const mdl_opt_kind_t *) p)); break;
    case K_ROBUST: mdl_robust_str ((const mdl_robust_cfg_t *) p, buf, cap); break;
    case K_BYZ: mdl_byz_str ((const mdl_byz_cfg_t *) p, buf, cap); break;
    default: buf[0] = '\0'; break;
    }
    if (rule && !strcmp (buf, "none")) /* off reads as it is set: "" */
        buf[0] = '\0';
    return 0;
}

const char *
mdl_agent_cfg_key (size_t i, const char **help)
{
    if (i >= S_NKEYS)
        return NULL;
    if (help)
        *help = s_keys[i].help;
    return s_keys[i].name;
}

/* Setting "algo" brings the algorithm's defaults for what was not set explicitly. */
static int
s_set_algo (mdl_agent_cfg_t *cfg, const char *v)
{
    const mdl_algo_ops_t *ops = mdl_algo_find (v);
    if (!ops) {
        char names[256];
        return mdl_error_set (MDL_EINVAL, "--algo '%s' is not one of: %s", v,
                              mdl_algo_names (names, sizeof names, ", "));
    }
    if (!(cfg->algo = s_keep (cfg, v)))
        return MDL_ENOMEM;
    const bool *given = cfg->extra->given;
    size_t i;
    if (s_find ("mode", &i) && !given[i])
        cfg->mode = mdl_algo_default_mode (ops);
    if (s_find ("gamma", &i) && !given[i])
        cfg->gamma = ops->gamma > 0 ? ops->gamma : 1.0;
    if (s_find ("optimizer", &i) && !given[i] && ops->optimizer)
        mdl_opt_parse (ops->optimizer, &cfg->learn.opt.kind);
    if (s_find ("lr", &i) && !given[i] && ops->lr > 0)
        cfg->learn.sched.lr0 = (float) ops->lr;
    if (s_find ("momentum", &i) && !given[i] && ops->momentum > 0)
        cfg->learn.opt.momentum = (float) ops->momentum;
    s_error_feedback_default (cfg);
    return 0;
}

/* ---- the data, the shard and the log ---- */

int
mdl_agent_cfg_set_data (mdl_agent_cfg_t *cfg, const mdl_dataset_t *train, const mdl_dataset_t *test)
{
    if (!cfg || !train)
        return mdl_error_set (MDL_EINVAL, "mdl_agent_cfg_set_data: no training set");
    cfg->train = train;
    cfg->test = test;
    return 0;
}

int
mdl_agent_cfg_set_shard (mdl_agent_cfg_t *cfg, const uint32_t *rows, size_t nrows)
{
    cfg->rows = rows;
    cfg->nrows = rows ? nrows : 0;
    return 0;
}

void
mdl_agent_cfg_set_log (mdl_agent_cfg_t *cfg, FILE *log, const char *prefix)
{
    cfg->log = log;
    cfg->log_prefix = prefix ? s_keep (cfg, prefix) : NULL;
}

void
mdl_agent_cfg_set_log_fn (mdl_agent_cfg_t *cfg, void (*fn) (void *arg, const char *line), void *arg)
{
    cfg->log_fn = fn;
    cfg->log_arg = fn ? arg : NULL;
}

uint64_t
mdl_agent_id_of (const char *name)
{
    uint64_t h = mdl_hash_fnv1a64 (name, strlen (name));
    return h ? h : 1;
}

/* ---- the rules between settings ---- */

void
mdl_agent_cfg_resolve (mdl_agent_cfg_t *c)
{
    const mdl_algo_ops_t *ops = mdl_algo_find (c->algo ? c->algo : "dpsgd");
    const char *codec = c->codec ? c->codec : "fp32";
    if (isnan (c->gamma) && ops)
        c->gamma = ops->gamma > 0 ? ops->gamma : 1.0;
    /* adagossip's cap: 0.05 for the sparse codecs (adagossip.c says why), else 1 */
    if (isnan (c->gamma_max))
        c->gamma_max = !strncmp (codec, "topk", 4) || !strncmp (codec, "randk", 5) ? 0.05 : 1.0;
}

int
mdl_agent_cfg_check (const mdl_agent_cfg_t *cfg)
{
    mdl_error_clear ();
    if (!cfg)
        return mdl_error_set (MDL_EINVAL, "no configuration");
    if (cfg->overlap && (cfg->gossip_steps > 1 || cfg->cc_target > 0))
        return mdl_error_set (MDL_EINVAL,
                              "--overlap takes one gossip round per step: no --gossip-steps or --consensus-control");
    if (cfg->ad_target > 0 && (cfg->dense_len > 0 || cfg->verify_replicas))
        return mdl_error_set (MDL_EINVAL, "--adaptive-degree chooses the gossip graph: it does not combine with "
                                          "--dense-window or --verify-replicas (its vote uses the same header field)");
    if (cfg->cc_target > 0 && (cfg->ad_target > 0 || cfg->verify_replicas))
        return mdl_error_set (MDL_EINVAL, "--consensus-control shares its estimate in the states' aux field, which "
                                          "--adaptive-degree and --verify-replicas use too: take one");
    if (cfg->gossip_steps > 1000)
        return mdl_error_set (MDL_EINVAL, "--gossip-steps must be an integer from 1 to 1000 (got %d)",
                              cfg->gossip_steps);
    if (!(cfg->gamma > 0 && cfg->gamma <= 1))
        return mdl_error_set (MDL_EINVAL, "--gamma must be in (0, 1] (got %g)", cfg->gamma);
    if (!isnan (cfg->gamma_max) && !(cfg->gamma_max > 0 && cfg->gamma_max <= 1) && cfg->gamma_max != 0)
        return mdl_error_set (MDL_EINVAL, "--gamma-max must be in (0, 1] (got %g)", cfg->gamma_max);
    const mdl_algo_ops_t *ops = mdl_algo_find (cfg->algo ? cfg->algo : "dpsgd");
    if (!ops) {
        char names[256];
        return mdl_error_set (MDL_EALGO, "--algo '%s' is not one of: %s", cfg->algo,
                              mdl_algo_names (names, sizeof names, ", "));
    }
    if (cfg->robust.kind > MDL_ROBUST_CLIP && ops->pairwise)
        return mdl_error_set (MDL_EINVAL,
                              "--algo %s averages with one peer at a time: of the --robust rules only clip "
                              "applies (trimmed and median need 3 or more states)",
                              ops->name);
    const bool own = cfg->learn.spec && cfg->learn.spec[0];
    if (!own && cfg->dim == 0)
        return mdl_error_set (MDL_EINVAL, "set model (meshdl's models, trained by mdl_agent_start) or dim (the length "
                                          "of your own vector, exchanged by mdl_agent_exchange)");
    char why[384];
    if (mdl_algo_validate (ops, cfg, why, sizeof why))
        return mdl_error_set (MDL_EALGO, "%s", why);
    if (!own)
        return mdl_exchange_check (ops, cfg);
    return 0;
}

const char *
mdl_agent_cfg_forms (const char *key)
{
    if (key && !strcmp (key, "topology"))
        return mdl_topo_help ();
    if (key && !strcmp (key, "codec"))
        return mdl_codec_help ();
    return NULL;
}

int
mdl_codec_lossless (const char *spec)
{
    int rc;
    if (!spec || mdl_codec_check_spec (spec))
        return mdl_error_set (MDL_EINVAL, "--codec '%s' does not parse. %s", spec ? spec : "(null)", mdl_codec_help ());
    mdl_codec_t *c = mdl_codec_new (spec, 100000, 0, &rc);
    if (!c)
        return mdl_error_set (rc, "--codec '%s': %s", spec, mdl_strerror (rc));
    const int lossless = mdl_codec_is_lossless (c) ? 1 : 0;
    mdl_codec_destroy (&c);
    return lossless;
}

/* The least in-degree over the first period of the topology (16 rounds when it has none),
   SIZE_MAX when no agent has a degree. */
static size_t
s_least_degree (mdl_topo_t *t, uint32_t n)
{
    int period = mdl_topo_period (t, n);
    const uint64_t rounds = period > 0 ? (uint64_t) period : 16;
    size_t least = SIZE_MAX;
    for (uint64_t r = 0; r < rounds; r++)
        for (uint32_t i = 0; i < n; i++) {
            size_t deg = 0;
            if (mdl_topo_degree (t, n, i, r, &deg) == 0 && deg < least)
                least = deg;
        }
    return least;
}

bool
mdl_agent_cfg_wants_huge_pages (const mdl_agent_cfg_t *cfg)
{
    size_t d = cfg->dim;
    if (cfg->learn.spec && mdl_model_check (cfg->learn.spec, &d))
        return false;
    return d > MDL_AGENT_HEAP_BLOCK_MAX / sizeof (float);
}

int
mdl_agent_cfg_check_agents (const mdl_agent_cfg_t *cfg, uint32_t n)
{
    mdl_error_clear ();
    if (!cfg || cfg->robust.kind != MDL_ROBUST_TRIMMED || n == 0)
        return 0;
    const char *name = cfg->topology ? cfg->topology : "ring";
    int rc;
    mdl_topo_t *t = mdl_topo_new (name, 0, &rc);
    if (!t)
        return 0; /* refused with its own reason by the setting topology */
    const size_t least = s_least_degree (t, n);
    mdl_topo_destroy (&t);
    const size_t B = (size_t) cfg->robust.trim;
    if (least != SIZE_MAX && 2 * B >= least + 1)
        return mdl_error_set (MDL_EINVAL,
                              "--robust trimmed:%zu drops %zu values at each end of every coordinate, but on "
                              "--topology %s with %u agents an agent mixes as few as %zu states (its own and %zu "
                              "neighbours'): B must be at most %zu (trimmed:B needs 2B + 1 states; B >= half of them "
                              "is refused)",
                              B, B, name, n, least + 1, least, least / 2);
    return 0;
}

/* meshdl/learner.h: a learner from the learning part of a configuration (here, since
   only the agents' layer knows the configuration's fields). */
mdl_learner_t *
mdl_learner_create (const mdl_agent_cfg_t *cfg, int *err)
{
    int rc = MDL_EINVAL;
    mdl_learner_t *l = NULL;
    mdl_error_clear ();
    if (!cfg || !cfg->train)
        rc = mdl_error_set (MDL_EINVAL, "a learner needs a training set (mdl_agent_cfg_set_data)");
    else if (!cfg->learn.spec)
        rc = mdl_error_set (MDL_EINVAL, "a learner needs a model (the setting \"model\"; \"dim\" has none)");
    else
        l = mdl_learner_new (&cfg->learn, cfg->train, cfg->rows, cfg->nrows, &rc);
    if (err)
        *err = l ? 0 : rc;
    return l;
}
