/*  train_cluster.c: meshdl's own model, trained by 4 agents gossiping in one process.

    Loads Fashion-MNIST, splits the training set among 4 agents (IID), and runs them as an
    in-process cluster (real agents on inproc:// sockets): each trains the MLP on its
    shard for one epoch and averages with its ring neighbours after every step (D-PSGD,
    synchronous rounds). Then it evaluates the agents' mean model and prints a summary.

    Build against the installed library:
        cc -std=c11 -O2 -o train_cluster train_cluster.c $(pkg-config --cflags --libs meshdl)
    Run: ./train_cluster [DATA_DIR]          (default: Debian's dataset-fashion-mnist) */
#include <meshdl.h>
#include <stdio.h>

#define AGENTS 4

/* Loads split ("train" or "t10k") of an MNIST-format directory, or says why not. */
static mdl_dataset_t *
load (const char *dir, const char *split)
{
    int err = 0;
    char path[512] = "";
    mdl_dataset_t *ds = mdl_dataset_load_dir (dir, split, &err, path, sizeof path);
    if (!ds)
        fprintf (stderr, "train_cluster: %s: %s\n", path[0] ? path : dir, mdl_strerror (err));
    return ds;
}

/* Sets one setting, or says why not. */
static int
set (mdl_agent_cfg_t *cfg, const char *key, const char *value)
{
    int rc = mdl_agent_cfg_set (cfg, key, value);
    if (rc)
        fprintf (stderr, "train_cluster: %s\n", mdl_error_detail ());
    return rc;
}

int
main (int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : MDL_FMNIST_DIR;
    mdl_dataset_t *train = load (dir, "train"), *test = train ? load (dir, "t10k") : NULL;
    if (!train || !test)
        return 1;
    float mean, sd; /* standardise both sets with the training set's statistics */
    mdl_dataset_stats (train, &mean, &sd);
    mdl_dataset_normalize (train, mean, sd);
    mdl_dataset_normalize (test, mean, sd);

    int err = 0, rc = 1;
    mdl_part_spec_t iid;
    mdl_part_parse ("iid", &iid);
    mdl_partition_t *part = mdl_partition_new (&iid, mdl_dataset_labels (train), mdl_dataset_n (train),
                                               mdl_dataset_classes (train), AGENTS, 1, &err);
    mdl_agent_cfg_t *cfg = mdl_agent_cfg_new ();
    mdl_cluster_t *cl = NULL;
    if (!part || !cfg || set (cfg, "model", "mlp:784-128-10") || set (cfg, "epochs", "1") || set (cfg, "batch", "32")
        || set (cfg, "lr", "0.05") || set (cfg, "topology", "ring") || set (cfg, "algo", "dpsgd")
        || mdl_agent_cfg_set_data (cfg, train, test))
        goto done;
    if (!(cl = mdl_cluster_create (cfg, AGENTS, part, MDL_CLUSTER_EQUAL_ROUNDS, &err))) {
        fprintf (stderr, "train_cluster: %s (%s)\n", mdl_error_detail (), mdl_strerror (err));
        goto done;
    }
    fprintf (stderr, "train_cluster: meshdl %s, %d agents, %zu parameters each, training...\n", mdl_version (), AGENTS,
             mdl_cluster_dim (cl));
    if ((err = mdl_cluster_start (cl)) != 0) {
        fprintf (stderr, "train_cluster: %s\n", mdl_strerror (err));
        goto done;
    }
    mdl_cluster_join (cl);
    double steps = 0, sent = 0, failed = 0, loss = 0, acc = 0;
    mdl_cluster_counter (cl, "steps", &steps);
    mdl_cluster_counter (cl, "bytes_sent", &sent);
    mdl_cluster_counter (cl, "error", &failed);
    if (failed || (err = mdl_cluster_snapshot (cl, 30.0, NULL)) != 0) {
        fprintf (stderr, "train_cluster: an agent failed: %s\n", mdl_strerror (failed ? (int) failed : err));
        goto done;
    }
    /* the average of the agents' models, evaluated with agent 0's model structure */
    mdl_agent_evaluate (mdl_cluster_agent (cl, 0), mdl_cluster_mean (cl), test, 0, &loss, &acc);
    printf ("{\"summary\": {\"agents\": %d, \"steps\": %.0f, \"bytes_sent\": %.0f, \"consensus_distance\": %.3g, "
            "\"test_loss\": %.4f, \"test_acc\": %.4f}}\n",
            AGENTS, steps, sent, mdl_cluster_consensus (cl, NULL), loss, acc);
    rc = acc > 0.5 ? 0 : 1; /* chance is 0.1 */
done:
    mdl_cluster_destroy (&cl);
    mdl_agent_cfg_destroy (&cfg);
    mdl_partition_destroy (&part);
    mdl_dataset_destroy (&train);
    mdl_dataset_destroy (&test);
    return rc;
}
