/*  agentrun.c: see agentrun.h. */
#include "agentrun.h"

#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "err.h"
#include "model.h"

mdl_dataset_t *
agentrun_dataset (int dim)
{
    int err = 0;
    mdl_dataset_t *ds = mdl_dataset_new (64, (size_t) dim, 2, &err);
    assert_non_null (ds);
    float *x = mdl_dataset_x_mut (ds);
    int32_t *y = mdl_dataset_labels_mut (ds);
    for (int i = 0; i < 64 * dim; i++)
        x[i] = (float) ((i * 37) % 11) / 11.0f;
    for (int i = 0; i < 64; i++)
        y[i] = i % 2;
    return ds;
}

void
agentrun_learn_cfg (const agentrun_cfg_t *o, int i, mdl_learner_cfg_t *l)
{
    memset (l, 0, sizeof *l);
    l->spec = o->spec;
    l->seed = (uint64_t) i + 1; /* different initial vectors */
    l->data_seed = (uint64_t) i;
    l->batch = o->batch ? o->batch : 8;
    mdl_opt_defaults (&l->opt, o->opt);
    if (o->momentum > 0)
        l->opt.momentum = o->momentum;
    mdl_sched_parse ("constant", &l->sched);
    l->sched.lr0 = o->lr;
    l->epochs = o->epochs;
}

static void
s_tweak (mdl_agent_cfg_t *c, int i, void *arg)
{
    const agentrun_cfg_t *o = arg;
    c->id = (uint64_t) (i + 1) * 1000;
    agentrun_learn_cfg (o, i, &c->learn);
    c->rows = o->rows ? o->rows[i] : NULL;
    c->nrows = o->rows ? o->nrows : 0;
    if (o->tweak)
        o->tweak (c);
}

agentrun_result_t
agentrun (const agentrun_cfg_t *o)
{
    const int n = o->n;
    mdl_dataset_t *ds = o->data ? NULL : agentrun_dataset (o->dim);
    mdl_agent_cfg_t c;
    memset (&c, 0, sizeof c);
    c.cluster = "test";
    c.peer_timeout = 5;
    c.hello_interval = 0.05;
    c.min_peers_timeout = 20;
    c.train = o->data ? o->data : ds;
    c.epochs = o->epochs;
    c.algo = o->algo ? o->algo : "dpsgd";
    c.local_steps = o->local_steps ? o->local_steps : 1;
    c.global_every = o->global_every;
    c.overlap = o->overlap;
    c.drop = o->drop;
    c.merge_timeout = o->merge_timeout > 0 ? o->merge_timeout : 30;
    c.topology = o->topology;
    c.weights = MDL_WEIGHTS_MH;
    c.mode = o->mode;
    c.codec = o->codec ? o->codec : "fp32";
    c.error_feedback = o->ef;
    c.keyframe_every = 0;
    c.gamma = 1.0;
    c.gossip_steps = o->gossip_steps ? o->gossip_steps : 1;
    c.staleness_decay = 1.0;
    c.max_staleness = 1000000;
    c.sync_timeout = 20;
    c.seed = 7;
    agentrun_cfg_t oc = *o; /* the tweak's argument (not const) */
    mdl_cluster_cfg_t cc = { .n = n, .base = &c, .name = "agentrun", .tweak = s_tweak, .tweak_arg = &oc };
    int err = 0, failed = -1;
    mdl_cluster_t *cl = mdl_cluster_new (&cc, &err, &failed);
    if (!cl)
        fail_msg ("agent %d: %s", failed, mdl_strerror (err));
    const size_t d = mdl_cluster_dim (cl);
    double *mean0 = calloc (d, sizeof *mean0);
    for (int i = 0; i < n; i++) {
        const float *p = mdl_model_params (mdl_learner_model (mdl_agent_learner (mdl_cluster_agent (cl, i))));
        for (size_t k = 0; k < d; k++)
            mean0[k] += p[k] / n;
    }
    assert_int_equal (mdl_cluster_wait_peers (cl, 20, NULL), 0);
    assert_int_equal (mdl_cluster_start (cl), 0);
    mdl_cluster_join (cl);
    for (int i = 0; i < n; i++) {
        mdl_agent_stats_t st;
        mdl_agent_stats (mdl_cluster_agent (cl, i), &st);
        assert_int_equal (st.error, 0);
        if (o->stats)
            o->stats[i] = st;
    }
    assert_int_equal (mdl_cluster_snapshot (cl, 10, NULL), 0);
    const float *xbar = mdl_cluster_mean (cl);
    double nm = 0, nb = 0, moved = 0;
    for (size_t k = 0; k < d; k++) {
        nm += mean0[k] * mean0[k];
        nb += (double) xbar[k] * xbar[k];
        moved += ((double) xbar[k] - mean0[k]) * ((double) xbar[k] - mean0[k]);
    }
    agentrun_result_t r = { 0, 0, 0, sqrt (moved / nm) };
    const float *x0 = mdl_cluster_snap (cl, 0);
    for (int i = 0; i < n; i++) {
        const float *xi = mdl_cluster_snap (cl, i);
        double e0 = 0, e1 = 0;
        for (size_t k = 0; k < d; k++) {
            e0 += (xi[k] - mean0[k]) * (xi[k] - mean0[k]);
            e1 += ((double) xi[k] - xbar[k]) * ((double) xi[k] - xbar[k]);
            r.max_abs_diff = fmax (r.max_abs_diff, fabs ((double) xi[k] - (double) x0[k]));
        }
        r.max_rel_to_mean = fmax (r.max_rel_to_mean, sqrt (e0 / nm));
        r.max_rel_spread = fmax (r.max_rel_spread, sqrt (e1 / nb));
        if (o->final) {
            o->final[i] = malloc (d * sizeof (float));
            memcpy (o->final[i], xi, d * sizeof (float));
        }
    }
    mdl_cluster_destroy (&cl);
    free (mean0);
    mdl_dataset_destroy (&ds);
    return r;
}
