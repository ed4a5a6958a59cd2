/*  own_model.c: bring your own model. Multinomial logistic regression (softmax over the
    784 pixels, 10 classes: d = 7850 parameters), written here, trained by 4 agents that
    gossip their parameter vectors through meshdl.

    meshdl never sees the model: each agent is built with "dim" and no model, and the
    program's own loop takes a minibatch SGD step on the agent's shard, then calls
    mdl_agent_exchange, which publishes the vector to the ring neighbours and mixes
    theirs into it (D-PSGD, synchronous rounds) through the real engine. The agents run
    in one process (an in-process cluster, one thread each); the same calls work across
    machines with "bind" and "peers" (see examples/python/torch_gossip.py).

    Build against the installed library:
        cc -std=c11 -O2 -o own_model own_model.c $(pkg-config --cflags --libs meshdl)
    Run: ./own_model [DATA_DIR]             (default: Debian's dataset-fashion-mnist) */
#include <math.h>
#include <meshdl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#define AGENTS 4
#define IN 784
#define CLASSES 10
#define D (CLASSES * IN + CLASSES) /* W (CLASSES, IN) then b (CLASSES) */
#define BATCH 32
#define LR 0.05f

typedef struct {
    mdl_agent_t *agent;
    const mdl_dataset_t *train;
    const uint32_t *rows; /* this agent's shard */
    size_t nrows, steps;
    float w[D];          /* the model: the vector meshdl gossips */
    float g[D];          /* its gradient */
    float x[BATCH * IN]; /* its minibatch's rows as floats */
    int rc;
} worker_t;

/* Class probabilities p (CLASSES) of row x under the model w. */
static void
predict (const float *w, const float *x, float *p)
{
    float top = -INFINITY, sum = 0;
    for (int c = 0; c < CLASSES; c++) {
        float z = w[CLASSES * IN + c];
        for (int i = 0; i < IN; i++)
            z += w[c * IN + i] * x[i];
        p[c] = z;
        top = z > top ? z : top;
    }
    for (int c = 0; c < CLASSES; c++)
        sum += p[c] = expf (p[c] - top);
    for (int c = 0; c < CLASSES; c++)
        p[c] /= sum;
}

/* The gradient of the mean cross-entropy over a minibatch, then an SGD step. Returns the loss. */
static float
sgd_step (worker_t *wk, size_t step)
{
    float *X = wk->x;
    uint32_t rows[BATCH];
    int32_t y[BATCH];
    float p[CLASSES], loss = 0;
    for (size_t r = 0; r < BATCH; r++)
        rows[r] = wk->rows[(step * BATCH + r * 7919) % wk->nrows]; /* a fixed walk over the shard */
    mdl_dataset_gather (wk->train, rows, BATCH, X, y);             /* the rows as floats (IDX data is held as bytes) */
    memset (wk->g, 0, sizeof wk->g);
    for (size_t r = 0; r < BATCH; r++) {
        const float *x = X + r * IN;
        predict (wk->w, x, p);
        loss -= logf (p[y[r]] + 1e-12f) / BATCH;
        for (int c = 0; c < CLASSES; c++) {
            const float e = (p[c] - (c == y[r])) / BATCH; /* d loss / d z_c */
            for (int i = 0; i < IN; i++)
                wk->g[c * IN + i] += e * x[i];
            wk->g[CLASSES * IN + c] += e;
        }
    }
    for (int k = 0; k < D; k++)
        wk->w[k] -= LR * wk->g[k];
    return loss;
}

static int
run (void *arg)
{
    worker_t *wk = arg;
    for (size_t t = 0; t < wk->steps && !wk->rc; t++) {
        mdl_agent_set_loss (wk->agent, sgd_step (wk, t));
        int mixed = mdl_agent_exchange (wk->agent, wk->w, D, t); /* publish, mix in place */
        if (mixed < 0) {
            fprintf (stderr, "own_model: exchange at step %zu: %s\n", t, mdl_error_detail ());
            wk->rc = mixed;
        }
    }
    if (!wk->rc)
        wk->rc = mdl_agent_finish (wk->agent, wk->w, D);
    return 0;
}

static double
accuracy (const float *w, const mdl_dataset_t *test)
{
    size_t right = 0, n = mdl_dataset_n (test);
    float p[CLASSES], x[IN];
    for (size_t r = 0; r < n; r++) {
        const uint32_t row = (uint32_t) r;
        mdl_dataset_gather (test, &row, 1, x, NULL);
        predict (w, x, p);
        int best = 0;
        for (int c = 1; c < CLASSES; c++)
            best = p[c] > p[best] ? c : best;
        right += best == mdl_dataset_labels (test)[r];
    }
    return (double) right / (double) n;
}

int
main (int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : MDL_FMNIST_DIR;
    int err = 0, rc = 1;
    mdl_dataset_t *train = mdl_dataset_load_dir (dir, "train", &err, NULL, 0);
    mdl_dataset_t *test = train ? mdl_dataset_load_dir (dir, "t10k", &err, NULL, 0) : NULL;
    if (!train || !test || mdl_dataset_dim (train) != IN) {
        fprintf (stderr, "own_model: %s: %s\n", dir, train && test ? "not 28x28 images" : mdl_strerror (err));
        return 1;
    }
    float mean, sd;
    mdl_dataset_stats (train, &mean, &sd);
    mdl_dataset_normalize (train, mean, sd);
    mdl_dataset_normalize (test, mean, sd);
    mdl_part_spec_t iid;
    mdl_part_parse ("iid", &iid);
    mdl_partition_t *part = mdl_partition_new (&iid, mdl_dataset_labels (train), mdl_dataset_n (train),
                                               mdl_dataset_classes (train), AGENTS, 1, &err);
    mdl_agent_cfg_t *cfg = mdl_agent_cfg_new ();
    char dim[32];
    snprintf (dim, sizeof dim, "%d", D);
    mdl_cluster_t *cl = NULL;
    worker_t *wk = calloc (AGENTS, sizeof *wk);
    if (!part || !cfg || !wk || mdl_agent_cfg_set (cfg, "model", "") || mdl_agent_cfg_set (cfg, "dim", dim)
        || mdl_agent_cfg_set (cfg, "topology", "ring") || mdl_agent_cfg_set (cfg, "mode", "sync")) {
        fprintf (stderr, "own_model: %s\n", mdl_error_detail ());
        goto done;
    }
    if (!(cl = mdl_cluster_create (cfg, AGENTS, NULL, 0, &err))) {
        fprintf (stderr, "own_model: %s\n", mdl_error_detail ());
        goto done;
    }
    thrd_t th[AGENTS];
    for (int i = 0; i < AGENTS; i++) {
        wk[i].agent = mdl_cluster_agent (cl, i);
        wk[i].train = train;
        wk[i].rows = mdl_partition_shard (part, (uint32_t) i, &wk[i].nrows);
        wk[i].steps = mdl_dataset_n (train) / AGENTS / BATCH; /* one epoch of the shard */
        thrd_create (&th[i], run, &wk[i]);                    /* every agent starts from w = 0 */
    }
    for (int i = 0; i < AGENTS; i++)
        thrd_join (th[i], NULL);
    double acc = 0, sent = 0, applied = 0;
    for (int i = 0; i < AGENTS; i++) {
        if (wk[i].rc) {
            fprintf (stderr, "own_model: agent %d: %s\n", i, mdl_strerror (wk[i].rc));
            goto done;
        }
        acc += accuracy (wk[i].w, test) / AGENTS;
    }
    mdl_cluster_counter (cl, "bytes_sent", &sent);
    mdl_cluster_counter (cl, "updates_applied", &applied);
    printf ("{\"summary\": {\"agents\": %d, \"params\": %d, \"steps\": %zu, \"updates_applied\": %.0f, "
            "\"bytes_sent\": %.0f, \"test_acc\": %.4f}}\n",
            AGENTS, D, wk[0].steps, applied, sent, acc);
    rc = acc > 0.5 ? 0 : 1; /* chance is 0.1 */
done:
    mdl_cluster_destroy (&cl);
    free (wk);
    mdl_agent_cfg_destroy (&cfg);
    mdl_partition_destroy (&part);
    mdl_dataset_destroy (&train);
    mdl_dataset_destroy (&test);
    return rc;
}
