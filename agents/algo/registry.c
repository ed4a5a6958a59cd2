/*  algo/registry.c: the registry of consensus algorithms. Adding one: a file with its
    mdl_algo_ops_t, and one line here. */
#include "algo.h"

#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "err.h"

extern const mdl_algo_ops_t mdl_algo_dpsgd;
extern const mdl_algo_ops_t mdl_algo_choco;
extern const mdl_algo_ops_t mdl_algo_adagossip;
extern const mdl_algo_ops_t mdl_algo_dynavg;
extern const mdl_algo_ops_t mdl_algo_dmsgd;
extern const mdl_algo_ops_t mdl_algo_qgm;
extern const mdl_algo_ops_t mdl_algo_decentlam;
extern const mdl_algo_ops_t mdl_algo_dsgt;
extern const mdl_algo_ops_t mdl_algo_localsgd;
extern const mdl_algo_ops_t mdl_algo_adpsgd;
extern const mdl_algo_ops_t mdl_algo_codistill;
extern const mdl_algo_ops_t mdl_algo_plexus;
extern const mdl_algo_ops_t mdl_algo_mplinreg;

static const mdl_algo_ops_t *s_algos[] = {
    &mdl_algo_dpsgd,
    &mdl_algo_choco,
    &mdl_algo_adagossip,
    &mdl_algo_dynavg,
    &mdl_algo_dmsgd,
    &mdl_algo_qgm,
    &mdl_algo_decentlam,
    &mdl_algo_dsgt,
    &mdl_algo_localsgd,
    &mdl_algo_adpsgd,
    &mdl_algo_codistill,
    &mdl_algo_plexus,
    &mdl_algo_mplinreg,
};

const mdl_algo_ops_t *
mdl_algo_find (const char *name)
{
    for (size_t i = 0; i < sizeof s_algos / sizeof s_algos[0]; i++)
        if (strcmp (s_algos[i]->name, name) == 0)
            return s_algos[i];
    return NULL;
}

const mdl_algo_ops_t *const *
mdl_algo_all (size_t *n)
{
    *n = sizeof s_algos / sizeof s_algos[0];
    return s_algos;
}

const char *
mdl_algo_names (char *buf, size_t cap, const char *sep)
{
    size_t at = 0;
    if (cap)
        buf[0] = '\0';
    for (size_t i = 0; i < sizeof s_algos / sizeof s_algos[0] && at < cap; i++) {
        int w = snprintf (buf + at, cap - at, "%s%s", i ? sep : "", s_algos[i]->name);
        at += w > 0 ? (size_t) w : 0;
    }
    return buf;
}

const char *
mdl_algo_name (size_t i)
{
    return i < sizeof s_algos / sizeof s_algos[0] ? s_algos[i]->name : NULL;
}

/* A default of the algorithm's own: "" when it has none (0 or NULL). */
static void
s_own (char *buf, size_t cap, double v, const char *text)
{
    if (text)
        snprintf (buf, cap, "%s", text);
    else if (v > 0)
        snprintf (buf, cap, "%.17g", v);
    else if (cap)
        buf[0] = '\0';
}

int
mdl_algo_info (const char *algo, const char *key, char *buf, size_t cap)
{
    const mdl_algo_ops_t *ops = algo ? mdl_algo_find (algo) : NULL;
    if (!ops) {
        char names[256];
        return mdl_error_set (MDL_EINVAL, "--algo '%s' is not one of: %s", algo ? algo : "(null)",
                              mdl_algo_names (names, sizeof names, ", "));
    }
    const char *k = key ? key : "";
    if (!strcmp (k, "about"))
        s_own (buf, cap, 0, ops->about ? ops->about : "");
    else if (!strcmp (k, "mode"))
        s_own (buf, cap, 0, mdl_algo_default_mode (ops) == MDL_MODE_ASYNC ? "async" : "sync");
    else if (!strcmp (k, "modes"))
        s_own (buf, cap, 0, ops->async_only ? "async" : "sync async");
    else if (!strcmp (k, "gamma"))
        s_own (buf, cap, ops->gamma, NULL);
    else if (!strcmp (k, "optimizer"))
        s_own (buf, cap, 0, ops->optimizer ? ops->optimizer : "");
    else if (!strcmp (k, "lr"))
        s_own (buf, cap, ops->lr, NULL);
    else if (!strcmp (k, "momentum"))
        s_own (buf, cap, ops->momentum, NULL);
    else if (!strcmp (k, "codec"))
        s_own (buf, cap, 0, ops->takes & MDL_ALGO_TAKES_CODEC ? "true" : "false");
    else if (!strcmp (k, "replicas"))
        s_own (buf, cap, 0, ops->replicas ? "true" : "false");
    else if (!strcmp (k, "model-parallel"))
        s_own (buf, cap, 0, ops->model_parallel ? "true" : "false");
    else if (!strcmp (k, "sampled"))
        s_own (buf, cap, 0, ops->sampled ? "true" : "false");
    else if (!strcmp (k, "pairwise"))
        s_own (buf, cap, 0, ops->pairwise ? "true" : "false");
    else
        return mdl_error_set (MDL_EINVAL, "unknown algorithm key '%s' (about, mode, modes, gamma, optimizer, lr, "
                                          "momentum, codec, replicas, model-parallel, sampled, pairwise)", k);
    return 0;
}

mdl_mode_t
mdl_algo_default_mode (const mdl_algo_ops_t *ops)
{
    return ops->async_only ? MDL_MODE_ASYNC : MDL_MODE_SYNC;
}

int
mdl_algo_validate (const mdl_algo_ops_t *ops, const mdl_agent_cfg_t *cfg, char *err, size_t errlen)
{
    const char *opt = NULL;
    const unsigned t = ops->takes;
    const bool plain_codec = !cfg->codec || !strcmp (cfg->codec, "fp32");
    if (ops->async_only && cfg->mode == MDL_MODE_SYNC)
        opt = "--mode sync";
    else if (!(t & MDL_ALGO_TAKES_CODEC) && !plain_codec)
        opt = "--codec";
    else if (!(t & MDL_ALGO_TAKES_CODEC) && cfg->error_feedback)
        opt = "--error-feedback";
    else if (!(t & MDL_ALGO_TAKES_GOSSIP_STEPS) && cfg->gossip_steps > 1)
        opt = "--gossip-steps";
    else if (!(t & MDL_ALGO_TAKES_GOSSIP_STEPS) && cfg->cc_target > 0)
        opt = "--consensus-control";
    else if (!(t & MDL_ALGO_TAKES_LOCAL_STEPS) && cfg->local_steps > 1)
        opt = "--local-steps";
    else if (!(t & MDL_ALGO_TAKES_GLOBAL_EVERY) && cfg->global_every > 0)
        opt = "--global-every";
    else if (!(t & MDL_ALGO_TAKES_OVERLAP) && cfg->overlap)
        opt = "--overlap";
    else if (!(t & MDL_ALGO_TAKES_GRAPH) && cfg->ad_target > 0)
        opt = "--adaptive-degree";
    else if (!(t & MDL_ALGO_TAKES_GRAPH) && cfg->dense_len > 0)
        opt = "--dense-window";
    else if (!(t & MDL_ALGO_TAKES_DISTILL) && cfg->public_rows > 0)
        opt = "--public-rows";
    else if (!(t & MDL_ALGO_TAKES_DISTILL) && cfg->distill_weight_given)
        opt = "--distill-weight";
    else if (!(t & MDL_ALGO_TAKES_LOCAL_EPOCHS) && cfg->local_epochs > 0)
        opt = "--local-epochs";
    else if (!(t & MDL_ALGO_TAKES_SAMPLE) && cfg->sample > 0)
        opt = "--sample";
    else if (!(t & MDL_ALGO_TAKES_BLOCKS) && cfg->nblocks > 0)
        opt = "--blocks";
    else if (!(t & MDL_ALGO_TAKES_OFFLINE) && cfg->offline > 0)
        opt = "--offline";
    if (opt) {
        snprintf (err, errlen, "--algo %s does not take %s (%s)", ops->name, opt, ops->about);
        return MDL_EALGO;
    }
    return ops->check ? ops->check (cfg, err, errlen) : 0;
}

int
mdl_algo_require (const mdl_agent_cfg_t *cfg, unsigned optimizers, bool exact, char *err, size_t errlen)
{
    const char *algo = cfg->algo ? cfg->algo : "dpsgd";
    const mdl_opt_kind_t kind = cfg->learn.opt.kind;
    if (!(optimizers & (1u << kind))) {
        char list[96] = "";
        for (int k = 0; k <= MDL_OPT_ADAMW; k++)
            if (optimizers & (1u << k))
                snprintf (list + strlen (list), sizeof list - strlen (list), "%s%s", list[0] ? " | " : "",
                          mdl_opt_name ((mdl_opt_kind_t) k));
        snprintf (err, errlen, "--algo %s takes --optimizer %s (got %s)", algo, list, mdl_opt_name (kind));
        return MDL_EALGO;
    }
    if (!exact)
        return 0;
    if (cfg->mode != MDL_MODE_SYNC) {
        snprintf (err, errlen, "--algo %s needs --mode sync: its tracking variable keeps the average of the "
                  "gradients only under exact (doubly stochastic) mixing, which asynchronous renormalised "
                  "weights are not", algo);
        return MDL_EALGO;
    }
    int rc;
    mdl_codec_t *probe = mdl_codec_new (cfg->codec ? cfg->codec : "fp32", 64, 0, &rc);
    const bool lossless = probe && mdl_codec_is_lossless (probe);
    mdl_codec_destroy (&probe);
    if (!lossless) {
        snprintf (err, errlen, "--algo %s needs a lossless codec (fp32), not %s: compression errors in the "
                  "tracking variable add up without bound", algo, cfg->codec);
        return MDL_EALGO;
    }
    return 0;
}
