/*  algo/mplinreg.c: model-parallel least squares (Hellkvist, Özçelikkale & Ahlén, IEEE
    TSP 2021; PAPERS.md, paper 20). The unknowns of linreg:D are cut into the blocks of
    --blocks P1,...,PK, one per agent in id order: agent k owns the columns A_k (n x P_k)
    of the training matrix and the unknowns x_k; it never sees another block's. Every
    agent starts at x = 0 and each iteration (one step) runs
        u_k = A_k x_k                                  (its partial prediction, n floats)
        r   = y - sum_j u_j                            (the shared residual: every agent
                                                        sends u_k to every other)
        x_k <- x_k + (1/K) A_k^+ r                     (a local minimum-norm block solve)
    CoCoA with local solves averaged over the K blocks (sigma' = K): the residual
    contracts, r <- (I - (1/K) sum_k P_k) r with P_k the projector on A_k's columns, so
    the training error goes to 0 when the blocks together span the observations; each x_k
    stays in the row space of A_k. The limit is a solution of the training system, but not
    in general its minimum-norm solution A^+ y: that is the paper's point, a distributed
    solution fits the training data as well as the centralized one and can generalise
    much worse, most when a block's P_k nears n (A_k nearly square: A_k^+ amplifies the
    noise). The pseudo-inverse (lib/linalg.c, one-sided Jacobi SVD in double) is computed
    once, at the first step.

    The bias of linreg stays 0 (the synthetic data has none). Sync mode only: the residual
    needs every block's prediction of the same iteration; a peer whose prediction does not
    come within --sync-timeout makes the agent skip that iteration's update. The model of
    the run is the sum of the agents' vectors (.model_parallel): each holds zeros outside
    its block. */
#include <stdlib.h>
#include <string.h>

#include "algo.h"
#include "err.h"
#include "linalg.h"
#include "vec.h"

typedef struct {
    int K;                 /* blocks = agents */
    int k;                 /* this agent's block (-1: not set up yet) */
    size_t off, p;         /* its unknowns: [off, off + p) of x */
    size_t n;              /* observations (training rows) */
    double *A;             /* (n, p) its columns */
    double *Ap;            /* (p, n) their pseudo-inverse */
    double *y;             /* (n) targets */
    double *xk;            /* (p) its unknowns, in double */
    float *u;              /* (n) its partial prediction, sent */
    float *sum;            /* (n) the others' */
    double *r;             /* (n) the residual */
} s_mp_t;

/* The D of a linreg:D spec, or 0. */
static size_t
s_linreg_dim (const char *spec)
{
    if (!spec || strncmp (spec, "linreg:", 7))
        return 0;
    char *end;
    unsigned long long d = strtoull (spec + 7, &end, 10);
    return *end ? 0 : (size_t) d;
}

static int
s_check (const mdl_agent_cfg_t *cfg, char *err, size_t errlen)
{
    const size_t D = s_linreg_dim (cfg->learn.spec);
    if (!D) {
        snprintf (err, errlen, "--algo mp-linreg solves least squares: it needs --model linreg:D (got %s)",
                  cfg->learn.spec ? cfg->learn.spec : "none");
        return MDL_EALGO;
    }
    if (cfg->nblocks < 1 || !cfg->blocks) {
        snprintf (err, errlen, "--algo mp-linreg needs --blocks P1,...,PK: the unknowns of each agent, adding up to %zu",
                  D);
        return MDL_EALGO;
    }
    size_t total = 0;
    for (int i = 0; i < cfg->nblocks; i++)
        total += cfg->blocks[i];
    if (total != D) {
        snprintf (err, errlen, "--algo mp-linreg: --blocks add up to %zu unknowns, but --model linreg:%zu has %zu", total, D,
                  D);
        return MDL_EALGO;
    }
    if (cfg->mode != MDL_MODE_SYNC) {
        snprintf (err, errlen, "--algo mp-linreg iterates on the residual of all blocks at once: --mode sync only");
        return MDL_EALGO;
    }
    return 0;
}

static int
s_init (void *state, mdl_ctx_t *ctx)
{
    s_mp_t *s = state;
    s->k = -1;
    /* x = 0: every agent starts its block there, and owns nothing else. */
    mdl_vec_zero (mdl_ctx_x (ctx), mdl_ctx_dim (ctx));
    return 0;
}

static void
s_destroy (void *state)
{
    s_mp_t *s = state;
    free (s->A);
    free (s->Ap);
    free (s->y);
    free (s->xk);
    free (s->u);
    free (s->sum);
    free (s->r);
}

/* At the first step, once every agent is in the view: this agent's block (its rank by id
   among the members), its columns and their pseudo-inverse. */
static int
s_setup (s_mp_t *s, mdl_ctx_t *ctx)
{
    const mdl_agent_cfg_t *cfg = mdl_ctx_cfg (ctx);
    const uint64_t *ids;
    const size_t members = mdl_ctx_members (ctx, &ids);
    if ((int) members != cfg->nblocks) {
        mdl_ctx_log (ctx, "mp-linreg: %zu agents for %d blocks (--blocks gives one block per agent)", members,
                     cfg->nblocks);
        return MDL_EALGO;
    }
    s->K = cfg->nblocks;
    while (ids[++s->k] != mdl_ctx_id (ctx))
        ;
    for (int i = 0; i < s->k; i++)
        s->off += cfg->blocks[i];
    s->p = cfg->blocks[s->k];
    const uint32_t *rows;
    const mdl_dataset_t *ds = mdl_ctx_train (ctx, &rows, &s->n);
    const size_t D = mdl_dataset_dim (ds);
    const float *X = mdl_dataset_x (ds), *Y = mdl_dataset_targets (ds);
    if (!Y || s->off + s->p > D || s->n * 1 != mdl_ctx_outputs_len (ctx))
        return MDL_EALGO;
    if (!(s->A = malloc (s->n * s->p * sizeof *s->A)) || !(s->Ap = malloc (s->p * s->n * sizeof *s->Ap))
        || !(s->y = malloc (s->n * sizeof *s->y)) || !(s->xk = calloc (s->p, sizeof *s->xk))
        || !(s->u = malloc (s->n * sizeof *s->u)) || !(s->sum = malloc (s->n * sizeof *s->sum))
        || !(s->r = malloc (s->n * sizeof *s->r)))
        return MDL_ENOMEM;
    for (size_t i = 0; i < s->n; i++) {
        const size_t row = rows ? rows[i] : i;
        for (size_t j = 0; j < s->p; j++)
            s->A[i * s->p + j] = X[row * D + s->off + j];
        s->y[i] = Y[row];
    }
    int rc = mdl_linalg_pinv (s->A, s->n, s->p, 0, s->Ap, NULL);
    if (rc)
        return rc;
    mdl_ctx_log (ctx, "mp-linreg: block %d of %d, unknowns [%zu, %zu) of %zu, %zu observations", s->k, s->K, s->off,
                 s->off + s->p, D, s->n);
    return 0;
}

static int
s_local_step (void *state, mdl_ctx_t *ctx)
{
    s_mp_t *s = state;
    int rc;
    if (s->k < 0 && (rc = s_setup (s, ctx)))
        return rc;
    for (size_t i = 0; i < s->n; i++) {
        double v = 0;
        for (size_t j = 0; j < s->p; j++)
            v += s->A[i * s->p + j] * s->xk[j];
        s->u[i] = (float) v;
    }
    mdl_ctx_step_done (ctx);
    return 0;
}

static int
s_publish (void *state, mdl_ctx_t *ctx)
{
    s_mp_t *s = state;
    return mdl_ctx_publish_outputs (ctx, 0, s->u, true);
}

static int
s_mix (void *state, mdl_ctx_t *ctx)
{
    s_mp_t *s = state;
    uint64_t round;
    const int heard = mdl_ctx_gather_outputs (ctx, 0, true, s->sum, &round);
    if (heard != s->K - 1) {
        if (!mdl_ctx_stopping (ctx))
            mdl_ctx_log (ctx, "mp-linreg: iteration %llu heard %d of the %d other blocks: no update",
                         (unsigned long long) mdl_ctx_step (ctx), heard, s->K - 1);
        return 0;
    }
    /* r = y - sum_j u_j, and the training MSE of the assembled model */
    double *r = s->r, sse = 0;
    for (size_t i = 0; i < s->n; i++) {
        r[i] = s->y[i] - (double) s->u[i] - (double) s->sum[i];
        sse += r[i] * r[i];
    }
    mdl_ctx_residual (ctx, sse / (double) s->n);
    float *x = mdl_ctx_x (ctx);
    for (size_t j = 0; j < s->p; j++) {
        double v = 0;
        for (size_t i = 0; i < s->n; i++)
            v += s->Ap[j * s->n + i] * r[i];
        s->xk[j] += v / (double) s->K;
        x[s->off + j] = (float) s->xk[j];
    }
    return 0;
}

const mdl_algo_ops_t mdl_algo_mplinreg = {
    .name = "mp-linreg",
    .about = "model-parallel least squares: --blocks P1,...,PK unknowns per agent, local minimum-norm solves on the "
             "shared residual, partial predictions exchanged (Hellkvist et al. 2021)",
    .takes = MDL_ALGO_TAKES_BLOCKS,
    .channels = 1,
    .outputs = MDL_ALGO_OUTPUTS_PREDICTIONS,
    .model_parallel = true,
    .state_size = sizeof (s_mp_t),
    .check = s_check,
    .init = s_init,
    .local_step = s_local_step,
    .publish = s_publish,
    .mix = s_mix,
    .destroy = s_destroy,
};
