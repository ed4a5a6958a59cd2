/*  fused.c: D-PSGD's round with x living in the outgoing message buffers (issue 14,
    "gossip near its limit").

    Unfused, a D-PSGD step on fp32 (adapt-then-combine) makes three passes over the
    model: the optimizer (x, m, g read; x, m written), the encode of x into a pooled
    message buffer (x read, the buffer written) and the mix (x and the neighbours' states
    read, x written). Fused, x itself is a pooled message buffer: the optimizer steps it
    in place, it goes out zero-copy (blob.h), and the mix reads it there as the agent's
    own term and writes the next x into a fresh buffer from the pool, which becomes the
    model's parameters (mdl_model_use_params). The encode's pass (2d floats) is gone.
    From the second fused step on, the gradient goes into that fresh buffer too
    (mdl_model_use_grads): taken at the start of the step, written by the backward pass,
    read by the optimizer, then overwritten by the mix with the next x. A round touches x,
    m and that buffer, the no-gossip step's three vectors; the state sent a round before
    stays out until the next one goes (comm.c keeps it for a resend), so the buffers
    rotate in threes. The floats are the same bit for bit (mdl_vec_mix_from_checked): a
    step is fused or not without changing the run.

    Only where that is exactly what the algorithm does: its own local step is the
    learner's, it publishes x and mixes x (D-PSGD, DmSGD), fp32 on the wire is the vector
    itself, no replicas, --robust, --byzantine or --overlap; and only in a round with
    neighbours to send to and to mix with (so --isolated keeps its plain encode). x moves
    into the pool at the first fused step and back into the model's own array when the
    worker ends (mdl_worker_fused_end); in between, the unfused paths use it where it is. */
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

/* A buffer of the pool that holds x (one reference), or NULL. */
static mdl_blob_t *
s_take (mdl_ctx_t *c)
{
    mdl_blob_t *b = mdl_blob_take (c->a->pool);
    if (b && mdl_blob_cap (b) < c->d * sizeof (float)) {
        mdl_blob_unref (b);
        return NULL;
    }
    if (b)
        mdl_blob_set_len (b, c->d * sizeof (float));
    return b;
}

/* x is b's floats from now on (b NULL: the model's own array); takes b's reference and
   gives back the one of the buffer x was in. The caller moved the values. */
static void
s_move_x (mdl_ctx_t *c, mdl_blob_t *b)
{
    mdl_model_t *m = mdl_learner_model (c->a->learner);
    mdl_model_use_params (m, b ? mdl_blob_data (b) : NULL);
    c->x = mdl_model_params (m);
    if (c->xblob)
        mdl_blob_unref (c->xblob);
    c->xblob = b;
}

/* The gradient back in the model's own array; its pooled buffer back to the pool. */
static void
s_drop_g (mdl_ctx_t *c)
{
    if (!c->gblob)
        return;
    mdl_model_use_grads (mdl_learner_model (c->a->learner), NULL);
    mdl_blob_unref (c->gblob);
    c->gblob = NULL;
}

int
mdl_worker_local_step (mdl_ctx_t *c)
{
    if (!s_fusable (c))
        return c->algo->local_step ? c->algo->local_step (c->state, c) : mdl_ctx_sgd_step (c);
    mdl_agent_t *a = c->a;
    mdl_learner_t *l = a->learner;
    mdl_model_t *m = mdl_learner_model (l);
    /* Once x lives in the pool, the gradient goes into the buffer the round's mix will
       write the next x into: read by the optimizer before the mix overwrites it, so an
       agent's round touches x, m and that buffer, as many model-sized vectors as without
       gossip, instead of a gradient array besides. */
    if (c->xblob && !c->gblob && (c->gblob = s_take (c)) != NULL)
        mdl_model_use_grads (m, mdl_blob_data (c->gblob));
    float loss;
    int rc = mdl_learner_grad (l, &loss);
    c->last_loss = loss;
    if (rc) {
        s_drop_g (c);
        return rc;
    }
    /* c->step is round 0 of this step (worker.c's loop): its neighbourhood decides */
    if (mdl_worker_round (c) == 0 && c->nnbr > 0 && c->nout > 0 && !c->xblob) {
        mdl_blob_t *b = s_take (c); /* the first fused step: x moves into the pool, once */
        if (b) {
            mdl_vec_copy (mdl_blob_data (b), c->x, c->d);
            s_move_x (c, b);
        }
    }
    mdl_learner_apply (l); /* in place: in x's buffer, only this worker's until it is sent */
    mdl_model_use_grads (m, NULL);
    if (c->xblob && mdl_worker_round (c) == 0 && c->nnbr > 0 && c->nout > 0)
        c->fused = c->xblob;
    else
        s_drop_g (c);
    return 0;
}

int
mdl_worker_fused_round (mdl_ctx_t *c)
{
    mdl_blob_t *b = c->fused;
    c->fused = NULL;
    const float *xh = mdl_blob_data (b);
    /* Sync mode: the state carries the round's 'A' to the comm actor (worker.c left it
       out), one message and often one wake-up of that thread less per round. */
    const bool sync = c->a->cfg.mode == MDL_MODE_SYNC;
    int rc = mdl_worker_round (c);
    if (rc == 0 && c->nout > 0) {
        mdl_blob_ref (b, 1); /* the send's; x keeps its own until the mix is done */
        rc = mdl_worker_publish_blob (c, 0, c->step, b, sync);
    } else if (sync)
        mdl_handoff_command (c->a->handoff, 'A', NULL, NULL, 0);
    if (rc) { /* as unfused: the step's result stays in x, unmixed */
        mdl_agent_log (c->a, "publish failed at round %llu: %s", (unsigned long long) c->step, mdl_strerror (rc));
        return rc;
    }
    /* The next x: the buffer that held this step's gradient (read by the optimizer, free
       now), else one of the pool, else the model's own array when the pool has none.
       Never x's: the neighbours read it now. */
    mdl_blob_t *nb = c->gblob ? c->gblob : s_take (c);
    c->gblob = NULL;
    mdl_worker_mix_from (c, 0, mdl_ctx_gamma (c), xh,
                         nb ? mdl_blob_data (nb) : mdl_model_own_params (mdl_learner_model (c->a->learner)));
    s_move_x (c, nb);
    return 0;
}

void
mdl_worker_fused_end (mdl_ctx_t *c)
{
    s_drop_g (c);
    if (!c->xblob)
        return;
    mdl_vec_copy (mdl_model_own_params (mdl_learner_model (c->a->learner)), c->x, c->d);
    s_move_x (c, NULL);
}
