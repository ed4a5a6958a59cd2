/*  agentopts.h: the options of decentralized runs, shared by `meshdl sim` and
    `meshdl agent` (beside the training options of trainopts.h). */
#ifndef MDL_AGENTOPTS_H
#define MDL_AGENTOPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshdl.h"
#include "opts.h"
#include "trainopts.h"

typedef struct {
    const char *topology;
    const char *weights;
    const char *algo;
    const char *mode;
    const char *codec;
    bool error_feedback;
    bool error_feedback_given; /* else on for lossy codecs (mdl_agentopts_apply) */
    int keyframe_every;
    bool verify_replicas;
    double gamma;
    double gamma_max;
    int gossip_steps;
    const char *consensus_control;
    bool final_merge;
    double delta;
    bool adaptive_degree;
    const char *degree_target;
    int check_every;
    int local_steps;       /* localsgd: H */
    int local_epochs;      /* localsgd: E, 0 = off */
    uint64_t public_rows;  /* codistill: N */
    double distill_weight; /* codistill: lambda */
    bool distill_weight_given; /* else the engine's default, which other algorithms accept */
    int sample;            /* plexus: S */
    const char *blocks;    /* mp-linreg: P1,...,PK */
    uint32_t block_sizes[1024];
    bool isolated;         /* no communication at all */
    int global_every;      /* P, 0 = off */
    bool overlap;
    const char *dense_window;
    double merge_timeout;
    const char *consensus_scale;
    double staleness_decay;
    int max_staleness;
    double sync_timeout;
    const char *partition;
    const char *cluster;
    double peer_timeout;
    double hwm_mb;          /* --hwm-mb: a mesh queue's bytes, in MB */
    double hello_interval;
    int evals_per_epoch;
    uint64_t eval_rows;    /* evaluations while training (0 = all; not given: automatic) */
    bool eval_rows_given;
    double drift_at;
    const char *log;       /* event log file ("-" = stderr) */
    const char *robust;    /* --robust NAME[:ARG] */
    int max_lead;          /* --max-lead rounds, 0 = the mode's default */
    char codec_buf[160];   /* the codec spec when it had to be adjusted */
    char algo_optimizer[32]; /* the algorithm's own optimizer (mdl_algo_info) */
    /* help lines built from the algorithm registry (its names, modes, defaults) */
    char algo_help[640], mode_help[192], gamma_help[64], mode_deflt[128], gamma_deflt[128];
} mdl_agentopts_t;

void mdl_agentopts_defaults (mdl_agentopts_t *o);
void mdl_agentopts_defs (mdl_agentopts_t *o, mdl_optdef_t *defs, size_t *n, size_t cap);

/* Validates o (topology, weights, algorithm, mode, codec, partition, ranges) and sets
   the consensus part of cfg (a configuration of the public API: mdl_agent_cfg_new) by
   name, and fills *part. Returns 0 or MDL_EINVAL with a one-line message (listing the
   valid forms); cfg may then hold some of the settings. */
int mdl_agentopts_apply (mdl_agentopts_t *o, const char *cmd, mdl_agent_cfg_t *cfg,
                         mdl_part_spec_t *part, char *err, size_t errlen);

/* Sets cfg's learning part (model, optimizer, schedule, batch, epochs, seeds) from to
   (mdl_trainopts_config). Returns 0 or an error code with a one-line message. */
int mdl_agentopts_learning (const mdl_trainopts_t *to, const char *cmd, mdl_agent_cfg_t *cfg, char *err, size_t errlen);

/* Appends the training options (trainopts.h) and these to defs (at *n, capacity cap):
   the table of `sim` and `agent` after their own options. */
void mdl_agentopts_table (mdl_trainopts_t *to, mdl_agentopts_t *ao, mdl_optdef_t *defs, size_t *n, size_t cap);

/* Parses argv / MESHDL_* / --config into the table defs (mdl_agentopts_table), and sets
   cfg's learner and consensus parts (cfg from mdl_agent_cfg_new, owned by the caller)
   and fills *part: the start shared by `sim` and `agent`.
   Returns 0, 1 (--help printed) or an error code with a one-line message. *keep as
   mdl_trainopts_parse. */
int mdl_agentopts_setup (const char *cmd, const char *usage, mdl_optdef_t *defs, mdl_trainopts_t *to, mdl_agentopts_t *ao,
                         mdl_agent_cfg_t *cfg, mdl_part_spec_t *part, int argc, char **argv, void **keep, char *err,
                         size_t errlen);

/* The seeds of agent i (from 0) of an in-process cluster run with --seed seed, as `meshdl
   sim` sets them: its minibatch order ("data-seed") and its injections ("injection-seed"),
   different for every agent and the same in every run. Returns 0 or the setting's error. */
int mdl_agentopts_seed_agent (mdl_agent_cfg_t *cfg, uint64_t seed, int i);

/* The test rows of an evaluation while training: --eval-rows when given (0 = all),
   all of them with --target-acc, else as many as make the evaluation of models models
   cost about a quarter of the training between two evaluations (samples_between
   training samples), at least 200, in hundreds. At most test_rows. */
size_t mdl_agentopts_eval_rows (const mdl_agentopts_t *o, const mdl_trainopts_t *to, double samples_between, int models,
                                size_t test_rows);
/* The agents whose own models an evaluation while training of a cluster of agents
   covers, rows test rows each (mdl_agentopts_eval_rows): given when >= 0 (`sim
   --eval-agents`; 0 = all), all of them with --eval-rows or --target-acc; else as many
   as keep the evaluation of the averaged model and theirs within the same quarter of
   the training work between two evaluations, at least 1. At most agents. */
int mdl_agentopts_eval_agents (const mdl_agentopts_t *o, const mdl_trainopts_t *to, int given, double samples_between,
                               size_t rows, int agents);
/* The k agents (of agents) such an evaluation covers, into which[0..k): increasing and
   evenly spread, the same every time. */
void mdl_agentopts_eval_sample (int k, int agents, int *which);

/* Writes an agent's traffic and update counters into j (the keys metrics and summaries
   share: bytes_sent, bytes_received, updates_applied, updates_stale, updates_dropped,
   updates_rejected and rejected_by_reason, an object of the nonzero counters by reason),
   from values[0..n): the counters in mdl_agent_counter_name's order, as mdl_agent_counters
   gives them. */
void mdl_agentopts_json_counters (void *json, const double *values, size_t n);

/* Writes the run's consensus settings into j (summaries of sim and agent): algo, mode,
   topology, codec, error_feedback, and the batch of to. */
void mdl_agentopts_json_settings (void *json, const mdl_agentopts_t *o, const mdl_trainopts_t *to);

/* The counter named name among values[0..n) (mdl_agent_counter_name's order, as
   mdl_agent_counters gives them), 0 when it is not there. */
double mdl_agentopts_counter (const double *values, size_t n, const char *name);
/* The index of the counter called name in mdl_agent_counters' values, or -1: for a
   reader of many agents' counters, which looks it up once, not per agent. */
long mdl_agentopts_counter_index (const char *name);

/* Writes what --robust did (robust, robust_clipped, robust_tau, robust_short) and the
   agent's --byzantine mode, when set, into j (values as mdl_agentopts_json_counters). */
void mdl_agentopts_json_robust (void *json, const mdl_agent_cfg_t *cfg, const double *values, size_t n);

#endif
