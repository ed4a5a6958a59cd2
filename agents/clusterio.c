/*  clusterio.c: a cluster's model checkpoints (mdl_cluster_resume, mdl_cluster_checkpoint)
    and the step time to emulate when its agents share the cores (mdl_cluster_pace): see
    meshdl/cluster.h. Only the agents' learners are touched, through the cluster's public
    accessors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "clock.h"
#include "cluster.h"
#include "err.h"
#include "learner.h"
#include "model.h"
#include "optim.h"
#include "topo.h"
#include "vec.h"

/* Agent i's learner, or NULL (with the reason set) for an agent without a model. */
static mdl_learner_t *
s_learner (mdl_cluster_t *cl, int i, const char *fn)
{
    mdl_learner_t *l = mdl_agent_learner (mdl_cluster_agent (cl, i));
    if (!l)
        mdl_error_set (MDL_EINVAL, "%s: the agents have no model of their own (\"dim\")", fn);
    return l;
}

int
mdl_cluster_resume (mdl_cluster_t *cl, const char *path, uint64_t *step)
{
    mdl_error_clear ();
    uint64_t at = 0, epoch = 0;
    for (int i = 0; i < mdl_cluster_size (cl); i++) {
        mdl_learner_t *l = s_learner (cl, i, "mdl_cluster_resume");
        if (!l)
            return MDL_EINVAL;
        mdl_model_t *m = mdl_learner_model (l);
        size_t slen = 0;
        float *state = mdl_optim_state (mdl_learner_optim (l), &slen);
        int rc = mdl_ckpt_load (path, mdl_model_spec (m), mdl_model_params (m), mdl_model_nparams (m), state, slen, &at,
                                &epoch);
        if (rc)
            return mdl_error_set (rc, "cannot resume from %s: %s%s", path, mdl_strerror (rc),
                                  rc == MDL_ECKPT_MODEL ? " (use the model and optimizer of the run that wrote it)" : "");
        mdl_learner_set_steps (l, at);
        mdl_optim_set_steps (mdl_learner_optim (l), at);
    }
    if (step)
        *step = at;
    return 0;
}

int
mdl_cluster_checkpoint (mdl_cluster_t *cl, const char *path, uint64_t step, uint64_t epoch)
{
    mdl_error_clear ();
    const int n = mdl_cluster_size (cl);
    mdl_learner_t *l0 = s_learner (cl, 0, "mdl_cluster_checkpoint");
    if (!l0)
        return MDL_EINVAL;
    if (!mdl_cluster_mean (cl))
        return mdl_error_set (MDL_EINVAL, "mdl_cluster_checkpoint: no snapshot yet (mdl_cluster_snapshot)");
    size_t slen = 0;
    mdl_optim_state (mdl_learner_optim (l0), &slen);
    float *state = slen ? calloc (slen, sizeof (float)) : NULL;
    if (slen && !state)
        return mdl_error_set (MDL_ENOMEM, "out of memory writing checkpoint %s", path);
    for (int i = 0; i < n; i++) {
        size_t len = 0;
        const float *si = mdl_optim_state (mdl_learner_optim (mdl_agent_learner (mdl_cluster_agent (cl, i))), &len);
        if (len == slen && si)
            mdl_vec_axpy (state, 1.0f / (float) n, si, slen);
    }
    mdl_ckpt_t ck = { .spec = mdl_model_spec (mdl_learner_model (l0)), .params = mdl_cluster_mean (cl),
                      .d = mdl_cluster_dim (cl), .opt_state = state, .opt_len = slen, .step = step, .epoch = epoch };
    int rc = mdl_ckpt_save (path, &ck);
    free (state);
    if (rc)
        return mdl_error_set (rc, "cannot write checkpoint %s: %s", path, mdl_strerror (rc));
    return 0;
}

/* Seconds of the gossip of one step done with plain buffers: one encode copy of x (d
   floats), a decode copy per neighbour, the mixing pass over them; k times, averaged. */
static double
s_gossip_time (float *x, size_t d, int degree, int k)
{
    if (degree <= 0 || degree > 64)
        return 0;
    float *buf = calloc (d * (size_t) (degree + 1), sizeof (float));
    if (!buf)
        return 0;
    const float *v[64];
    float cf[64];
    for (int j = 0; j < degree; j++) {
        v[j] = buf + d * (size_t) (j + 1);
        cf[j] = 0.0f;
    }
    const double t0 = mdl_now ();
    for (int i = 0; i < k; i++) {
        memcpy (buf, x, d * sizeof (float));
        for (int j = 0; j < degree; j++)
            memcpy (buf + d * (size_t) (j + 1), buf, d * sizeof (float)); /* v[j] */
        mdl_vec_mix (x, 1.0f, NULL, 0.0f, v, cf, (size_t) degree, d);
    }
    const double t = (mdl_now () - t0) / k;
    free (buf);
    return t;
}

int
mdl_cluster_pace (const mdl_agent_cfg_t *base, int n, const mdl_partition_t *part, double *seconds)
{
    mdl_error_clear ();
    if (!base || n < 1 || !base->train || !base->learn.spec)
        return mdl_error_set (MDL_EINVAL, "mdl_cluster_pace: %s",
                              !base || n < 1 ? "no configuration or n < 1" : "a configuration without a model or data");
    int rc;
    size_t deg = 2;
    mdl_topo_t *t = mdl_topo_new (base->topology, 0, &rc);
    if (t) {
        mdl_topo_degree (t, (uint32_t) n, 0, 0, &deg);
        mdl_topo_destroy (&t);
    }
    mdl_learner_cfg_t lc = base->learn;
    if (part) {
        lc.sched.steps_per_epoch = mdl_cluster_equal_steps (part, n, lc.batch);
        lc.sched.total_steps = lc.sched.steps_per_epoch * (uint64_t) (base->epochs > 0 ? base->epochs : 1);
    }
    mdl_learner_t *l = mdl_learner_new (&lc, base->train, NULL, 0, &rc);
    if (!l)
        return mdl_error_set (rc, "mdl_cluster_pace: %s", mdl_strerror (rc));
    float loss;
    for (int i = 0; i < 5; i++) /* warm-up: caches, first allocations */
        mdl_learner_step (l, &loss);
    const int k = 30;
    double t0 = mdl_now ();
    for (int i = 0; i < k; i++)
        mdl_learner_step (l, &loss);
    double step = (mdl_now () - t0) / k;
    mdl_model_t *m = mdl_learner_model (l);
    step += s_gossip_time (mdl_model_params (m), mdl_model_nparams (m), (int) deg, k);
    mdl_learner_destroy (&l);
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    if (cores < 1)
        cores = 1;
    /* x1.5: the comm threads, the coordinator's evaluations and memory bandwidth shared
       by all cores. */
    *seconds = step * 1.5 * ((double) n / (double) cores);
    return 0;
}
