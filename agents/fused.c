/*  fused.c: D-PSGD's round with the optimizer writing the outgoing message (issue 14,
    "gossip near its limit").

    Unfused, a D-PSGD step on fp32 (adapt-then-combine) makes three passes over the
    model: the optimizer (x, m, g read; x, m written), the encode of x into a pooled
    message buffer (x read, the buffer written) and the mix (x and the neighbours' states
    read, x written). Fused, the optimizer writes x - lr u straight into the message
    buffer, which goes out zero-copy (blob.h), and the mix reads it there as the agent's
    own term and writes x: the encode's pass (2d floats) is gone. The floats are the same
    bit for bit (mdl_optim_step_to, mdl_vec_mix_from_checked): a step is fused or not
    without changing the run.

    Only where that is exactly what the algorithm does: its own local step is the
    learner's, it publishes x and mixes x (D-PSGD, DmSGD), fp32 on the wire is the vector
    itself, no replicas, --robust, --byzantine or --overlap; and only in a round with
    neighbours to send to and to mix with (so --isolated keeps its plain encode). */
#include "err.h"
#include "vec.h"
#include "worker_impl.h"

static bool
s_fusable (mdl_ctx_t *c)
{
    mdl_agent_t *a = c->a;
    const mdl_algo_ops_t *algo = c->algo;
    return !a->cfg.unfused && a->learner && c->x == mdl_model_params (mdl_learner_model (a->learner))
           && !algo->local_step && algo->publish == mdl_algo_publish_x && algo->mix == mdl_algo_mix_x && !a->cfg.overlap
           && !a->replicas && !c->byz && a->cfg.robust.kind == MDL_ROBUST_NONE
           && mdl_codec_view (c->codec, c->x, c->d * sizeof (float)) == c->x;
}

int
mdl_worker_local_step (mdl_ctx_t *c)
{
    if (!s_fusable (c))
        return c->algo->local_step ? c->algo->local_step (c->state, c) : mdl_ctx_sgd_step (c);
    mdl_agent_t *a = c->a;
    mdl_learner_t *l = a->learner;
    float loss;
    int rc = mdl_learner_grad (l, &loss);
    c->last_loss = loss;
    if (rc)
        return rc;
    /* c->step is round 0 of this step (worker.c's loop): its neighbourhood decides */
    mdl_blob_t *b = NULL;
    if (mdl_worker_round (c) == 0 && c->nnbr > 0 && c->nout > 0 && (b = mdl_blob_take (a->pool))
        && mdl_blob_cap (b) >= c->d * sizeof (float)) {
        mdl_learner_apply_to (l, mdl_blob_data (b));
        mdl_blob_set_len (b, c->d * sizeof (float));
        c->fused = b;
        return 0;
    }
    if (b)
        mdl_blob_unref (b);
    mdl_learner_apply (l);
    return 0;
}

int
mdl_worker_fused_round (mdl_ctx_t *c)
{
    mdl_blob_t *b = c->fused;
    c->fused = NULL;
    const float *xh = mdl_blob_data (b);
    mdl_blob_ref (b, 1); /* the mix's: the sends may all be released before it reads */
    int rc = mdl_worker_round (c);
    if (rc == 0)
        rc = mdl_worker_publish_blob (c, 0, c->step, b);
    else
        mdl_blob_unref (b);
    if (rc) {
        /* as unfused: the step's result stays, unmixed */
        mdl_vec_copy (c->x, xh, c->d);
        mdl_agent_log (c->a, "publish failed at round %llu: %s", (unsigned long long) c->step, mdl_strerror (rc));
    } else
        mdl_worker_mix_from (c, 0, mdl_ctx_gamma (c), xh, c->x);
    mdl_blob_unref (b);
    return rc;
}
