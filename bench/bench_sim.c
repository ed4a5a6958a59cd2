/*  bench_sim.c: what gossip costs an agent of `meshdl sim` per step. It builds N agents
    exactly as `meshdl sim` does (same options, same partition, same agent code over
    inproc:// and the in-process registry), runs them to the end of their epochs and
    measures only the training: from mdl_agent_start to the last mdl_agent_join, with
    no coordinator evaluations in between. With --isolated every agent gets a cluster of
    its own in-process registry, so it finds no peer: the same N threads, shards, steps
    and CPU contention, with gossip (receiving, decoding, mixing, sending) taken out. What is left of the
    gossip path then is one encode of x per step into a buffer that goes to nobody.

    usage: bench_sim --agents N [--isolated] [any `meshdl sim` training/consensus option]
    e.g.   bench_sim --agents 8 --topology ring --codec topk:0.01 --error-feedback --epochs 1

    Output: one "sim: k=v ..." line (bench/sim.sh parses it):
      cpu_us_per_agent_step  process CPU time (user + sys, all threads: workers, comm
                             actors, ZeroMQ's I/O) over the run / (agents * steps). The
                             cost of a step whatever else runs on the machine.
      wall_us_per_round      wall time / steps: one step of every agent.
      wall_us_per_agent_step wall_us_per_round * min(agents, cores) / agents: a step's
                             share of the cores, waiting included (sync rounds).
      bytes_per_agent_step   bytes sent / (agents * steps), every recipient counted.
      setup_s                process start to every agent seeing the others (data read,
                             agents built, sockets bound, discovery done).
      connections, mailboxes per agent at the end, mean (and _max): what an agent holds
                             for its peers, O(degree).
      peak_rss_mb            the process's peak resident memory.
      buffers, buffers_on_demand  message buffers an agent made, mean, and how many of
                             them a send made on the spot (the pool empty: a malloc and
                             page faults mid-round), mean (and _max).
    Exit status: 0, 1 when an agent failed, 2 on bad options. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "agentopts.h"
#include "clock.h"
#include "cluster.h"
#include "err.h"
#include "opts.h"
#include "partition.h"
#include "report.h"
#include "trainopts.h"

static const char *s_usage = "usage: bench_sim --agents N [--isolated] [meshdl sim options]\n\n"
                             "Times the training of N sim agents with gossip, or without (--isolated).";

/* Process CPU seconds (user + sys, every thread). */
static double
s_cpu_s (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The seeds of agent i, as `meshdl sim` sets them (mdl_cluster_each_fn). */
static int
s_each (mdl_agent_cfg_t *cfg, int i, void *arg)
{
    const mdl_trainopts_t *to = arg;
    return mdl_agentopts_seed_agent (cfg, to->seed, i);
}

int
main (int argc, char **argv)
{
    mdl_trainopts_t to;
    mdl_agentopts_t ao;
    int nagents = 8;
    mdl_trainopts_defaults (&to);
    mdl_agentopts_defaults (&ao);
    to.batch = 8; /* meshdl sim's default */
    mdl_optdef_t defs[96];
    size_t n = 0;
    defs[n++] = (mdl_optdef_t) { .name = "agents", .type = MDL_OPTT_INT, .dst = &nagents, .metavar = "N",
                                 .help = "number of agents", .min = 1, .max = MDL_AGENT_MAX_PEERS };
    mdl_trainopts_defs (&to, defs, &n, 96);
    mdl_agentopts_defs (&ao, defs, &n, 96);
    char err[1024] = "";
    int rc = mdl_opts_parse ("sim", defs, argc - 1, argv + 1, err, sizeof err);
    if (rc == 1) {
        mdl_opts_help (stdout, s_usage, defs);
        return 0;
    }
    mdl_agent_cfg_t *base = mdl_agent_cfg_new ();
    if (!base)
        return 2;
    mdl_part_spec_t pspec;
    if (rc == 0)
        rc = mdl_agentopts_learning (&to, "sim", base, err, sizeof err);
    if (rc == 0)
        rc = mdl_agentopts_apply (&ao, "sim", base, &pspec, err, sizeof err);
    mdl_dataset_t *train = NULL, *test = NULL;
    if (rc == 0)
        rc = mdl_trainopts_data (&to, "sim", &train, &test, err, sizeof err);
    if (rc) {
        fprintf (stderr, "bench_sim: %s\n", err);
        mdl_agent_cfg_destroy (&base);
        return 2;
    }
    if (mdl_agent_provision ((size_t) nagents, 0, err, sizeof err)) {
        fprintf (stderr, "bench_sim: %s\n", err);
        return 2;
    }
    mdl_blas_threads (to.threads > 0 ? to.threads : 1);

    int status = 1;
    mdl_partition_t *part = NULL;
    mdl_cluster_t *cl = NULL;
    if (!(part = mdl_partition_new (&pspec, mdl_dataset_labels (train), mdl_dataset_n (train),
                                    mdl_dataset_classes (train), (uint32_t) nagents, to.seed, &rc))) {
        fprintf (stderr, "bench_sim: cannot partition: %s\n", mdl_strerror (rc));
        goto done;
    }
    /* As cmd_sim.c: the same cluster set-up, seeds and equal rounds per epoch. --isolated
       (an option of every sim since issue 18) puts every agent in a registry of its own (not --cluster: the in-process registry
       announces every agent to every other whatever its cluster, and agents of other
       clusters would still connect and then reject each other's updates). */
    int which = -1;
    const unsigned flags = MDL_CLUSTER_EQUAL_ROUNDS | (ao.isolated ? MDL_CLUSTER_ISOLATED : 0);
    if (mdl_agent_cfg_set_data (base, train, NULL)
        || !(cl = mdl_cluster_create_each (base, nagents, part, flags, s_each, &to, &rc))) {
        fprintf (stderr, "bench_sim: %s\n", mdl_error_detail ());
        goto done;
    }
    if (mdl_cluster_wait_peers (cl, 30.0, &which)) {
        fprintf (stderr, "bench_sim: agent %d did not see all %d peers within 30 s\n", which, nagents - 1);
        goto done;
    }
    const double setup_s = mdl_process_age ();
    const double c0 = s_cpu_s (), t0 = mdl_now ();
    mdl_cluster_start (cl);
    mdl_cluster_join (cl);
    const double wall = mdl_now () - t0, cpu = s_cpu_s () - c0;
    /* mdl_agent_join: the worker had its comm actor count every send before it ended */
    uint64_t steps = 0, bytes = 0, applied = 0, peers_min = UINT64_MAX;
    double wait = 0, conns = 0, boxes = 0;
    uint64_t conns_max = 0, boxes_max = 0, demand_max = 0;
    double bufs = 0, demand = 0;
    int failed = 0;
    for (int i = 0; i < nagents; i++) {
        mdl_agent_stats_t st;
        mdl_agent_stats (mdl_cluster_agent (cl, i), &st);
        steps += st.steps;
        bytes += st.bytes_sent;
        applied += st.updates_applied;
        wait += st.wait_s / nagents;
        peers_min = st.peers_seen < peers_min ? st.peers_seen : peers_min;
        failed += st.error != 0;
        conns += (double) st.connections / nagents;
        boxes += (double) st.mailboxes / nagents;
        conns_max = st.connections > conns_max ? st.connections : conns_max;
        boxes_max = st.mailboxes > boxes_max ? st.mailboxes : boxes_max;
        bufs += (double) st.buffers / nagents;
        demand += (double) st.buffers_on_demand / nagents;
        demand_max = st.buffers_on_demand > demand_max ? st.buffers_on_demand : demand_max;
    }
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    cores = cores < 1 ? 1 : cores;
    const double rounds = (double) steps / nagents;
    const double busy = (double) (nagents < cores ? nagents : cores);
    printf ("sim: agents=%d isolated=%d topology=%s mode=%s algo=%s codec=%s ef=%d model=%s batch=%d cores=%ld "
            "steps_per_agent=%.0f wall_s=%.3f cpu_s=%.3f cpu_us_per_agent_step=%.1f wall_us_per_round=%.1f "
            "wall_us_per_agent_step=%.1f bytes_per_agent_step=%.0f updates_applied=%llu sync_wait_s=%.3f "
            "peers_seen_min=%llu peak_rss_mb=%.1f setup_s=%.3f connections=%.2f connections_max=%llu mailboxes=%.2f "
            "mailboxes_max=%llu buffers=%.2f buffers_on_demand=%.2f buffers_on_demand_max=%llu failed=%d\n",
            nagents, ao.isolated, ao.topology, ao.mode, ao.algo, ao.codec, ao.error_feedback, to.model, to.batch, cores,
            rounds, wall, cpu, 1e6 * cpu / (double) (steps ? steps : 1), 1e6 * wall / (rounds > 0 ? rounds : 1),
            1e6 * wall / (rounds > 0 ? rounds : 1) * busy / nagents, (double) bytes / (double) (steps ? steps : 1),
            (unsigned long long) applied, wait, (unsigned long long) (peers_min == UINT64_MAX ? 0 : peers_min),
            mdl_peak_rss_mb (), setup_s, conns, (unsigned long long) conns_max, boxes, (unsigned long long) boxes_max,
            bufs, demand, (unsigned long long) demand_max, failed);
    status = failed ? 1 : 0;
done:
    mdl_cluster_destroy (&cl);
    mdl_partition_destroy (&part);
    mdl_dataset_destroy (&train);
    mdl_dataset_destroy (&test);
    mdl_agent_cfg_destroy (&base);
    return status;
}
