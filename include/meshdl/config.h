/*  meshdl/config.h: what an agent is told before it starts, as an opaque object of
    named settings, so that it can grow without breaking programs built against an older
    version.

    The names are those of `meshdl agent`'s options without the leading "--" ("topology",
    "codec", "lr", ...) and take the same values, as text: one vocabulary for the command
    line, MESHDL_* variables, config files and programs (and any language that can pass a
    string, e.g. Python's ctypes). mdl_agent_cfg_key lists them with their help lines.

        mdl_agent_cfg_t *cfg = mdl_agent_cfg_new ();
        if (mdl_agent_cfg_set (cfg, "topology", "ring") || mdl_agent_cfg_set (cfg, "codec", "q8"))
            fprintf (stderr, "%s\n", mdl_error_detail ());
        ...
        mdl_agent_cfg_destroy (&cfg);

    Settings that are not text (the datasets, an agent's shard, the log stream) have
    setters of their own. A configuration is read by mdl_agent_new, which copies what it
    keeps: the configuration may be changed or destroyed afterwards (the datasets and
    rows it points to may not). */
#ifndef MESHDL_CONFIG_H
#define MESHDL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "meshdl/data.h"
#include "meshdl/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mdl_agent_cfg mdl_agent_cfg_t;

/* A configuration holding every default (those `meshdl agent --help` shows): model
   mlp:784-256-128-10, momentum SGD at lr 0.02 on a cosine schedule, batch 64, 5 epochs;
   dpsgd, sync, fp32 on a ring with Metropolis-Hastings weights; cluster "meshdl", id 1,
   bound to tcp://127.0.0.1:0, no discovery. NULL when out of memory. Caller owns it and
   destroys it with mdl_agent_cfg_destroy. */
MDL_EXPORT mdl_agent_cfg_t *mdl_agent_cfg_new (void);

/* A copy of cfg with its own strings (NULL when out of memory). Caller owns it. */
MDL_EXPORT mdl_agent_cfg_t *mdl_agent_cfg_dup (const mdl_agent_cfg_t *cfg);

/* Frees cfg and sets *cfg to NULL; safe on NULL and twice. */
MDL_EXPORT void mdl_agent_cfg_destroy (mdl_agent_cfg_t **cfg);

/* Sets the setting key to value (copied). Numbers must parse whole and lie in the
   setting's range; flags take true/false/1/0/yes/no/on/off. Setting "algo" also sets the
   algorithm's own defaults (mode, gamma, optimizer, lr, momentum) for those of them not
   set before. Returns 0, or MDL_EINVAL (unknown key, a value that does not parse or is
   out of range) with the reason in mdl_error_detail(); cfg is unchanged on error. */
MDL_EXPORT int mdl_agent_cfg_set (mdl_agent_cfg_t *cfg, const char *key, const char *value);

/* Writes the current value of key as text into buf (cap bytes, always terminated;
   "" for an unset text setting). Returns 0 or MDL_EINVAL (unknown key). */
MDL_EXPORT int mdl_agent_cfg_get (const mdl_agent_cfg_t *cfg, const char *key, char *buf, size_t cap);

/* The i-th setting's name (i from 0), with its help line in *help (may be NULL), or
   NULL past the last one. */
MDL_EXPORT const char *mdl_agent_cfg_key (size_t i, const char **help);

/* Checks a value of the setting "peers": comma-separated entries tcp://HOST:PORT (with
   curve: tcp://HOST:PORT#KEY) or dns:NAME:PORT (every address NAME resolves to, again
   and again). *dns (may be NULL) is set when some entry is dns:. Returns 0, or MDL_EINVAL
   with the first bad entry and the form it should have in mdl_error_detail(). */
MDL_EXPORT int mdl_agent_cfg_check_peers (const char *list, bool *dns);

/* The training and test sets of meshdl's own models (test may be NULL). They are not
   copied: they must outlive every agent built from cfg. Returns 0 or MDL_EINVAL (train
   NULL). */
MDL_EXPORT int mdl_agent_cfg_set_data (mdl_agent_cfg_t *cfg, const mdl_dataset_t *train, const mdl_dataset_t *test);

/* The agent's shard: rows[0..nrows) of the training set (NULL: every row). Not copied:
   rows must outlive the agents built from cfg. Returns 0. */
MDL_EXPORT int mdl_agent_cfg_set_shard (mdl_agent_cfg_t *cfg, const uint32_t *rows, size_t nrows);

/* Where the agent writes its event lines (peers joining and leaving, refused updates),
   each prefixed with prefix (copied; NULL: "agent"); log NULL writes none (the default).
   log must stay open while agents built from cfg run. */
MDL_EXPORT void mdl_agent_cfg_set_log (mdl_agent_cfg_t *cfg, FILE *log, const char *prefix);

/* Where event lines go instead of a stream: fn (arg, "PREFIX: text") for each, without
   a newline, from whichever of the agent's threads logs it (lines of all agents of a
   process are serialised), e.g. to clear a terminal's progress line around it. fn NULL
   goes back to the stream of mdl_agent_cfg_set_log. */
MDL_EXPORT void mdl_agent_cfg_set_log_fn (mdl_agent_cfg_t *cfg, void (*fn) (void *arg, const char *line), void *arg);

/* A stable agent id from a name (a host name, a container's name): its 64-bit FNV-1a
   hash, never 0. The value of the setting "id" that `meshdl agent --name` gives. */
MDL_EXPORT uint64_t mdl_agent_id_of (const char *name);

/* The rules between settings and those of the algorithm (the options it takes, its
   mode, optimizer and codec), as mdl_agent_new checks them. Returns 0, or MDL_EINVAL /
   MDL_EALGO with the reason in mdl_error_detail(). */
MDL_EXPORT int mdl_agent_cfg_check (const mdl_agent_cfg_t *cfg);

/* The valid forms of a setting's value, as its refusals list them: "topology" (complete
   | ring | torus | ...) and "codec" (fp32, fp16, q8, qsgd:S, ...); NULL for other keys. */
MDL_EXPORT const char *mdl_agent_cfg_forms (const char *key);

/* Whether the codec spec (a value of the setting "codec") sends vectors exactly: 1
   (lossless: fp32), 0 (lossy: what it drops is lost unless error-feedback keeps it), or
   MDL_EINVAL (a spec that does not parse) with the reason in mdl_error_detail(). */
MDL_EXPORT int mdl_codec_lossless (const char *spec);

/* The i-th consensus algorithm's name (i from 0, in the registry's order: the values of
   the setting "algo"), or NULL past the last. */
MDL_EXPORT const char *mdl_algo_name (size_t i);

/* What the algorithm algo brings by itself, by key, as text into buf (cap bytes, always
   terminated): "about" (one line), "mode" (its default: sync or async), "modes" ("sync
   async", or "async" when it refuses sync), its own defaults "gamma", "optimizer", "lr"
   and "momentum" ("" when it has none: setting "algo" then leaves the configuration's),
   "codec" ("true" when it sends through the setting codec) and "replicas" ("true" when it
   keeps replicas of its neighbours' states, which accumulate what is sent: it needs a
   contractive codec) and "model-parallel" ("true" when the agents split the unknowns,
   not the rows: each trains on every row and holds its own block), "sampled" ("true"
   when each round is one of a sample of the agents, so that one agent at a time holds
   the newest aggregate) and "pairwise" ("true" when it averages with one peer at a time).
   Returns 0, or MDL_EINVAL (unknown algorithm or key) with the reason in
   mdl_error_detail(). */
MDL_EXPORT int mdl_algo_info (const char *algo, const char *key, char *buf, size_t cap);

/* True when the configured model's fp32 state (the caller's dim without a model) is
   larger than the blocks mdl_agent_provision keeps in glibc's heaps (32 MB): ZeroMQ
   then receives every state into a fresh mapping, faulted in 4 KB at a time, unless
   glibc asks the kernel for 2 MB pages for its mappings. That choice
   (GLIBC_TUNABLES=glibc.malloc.hugetlb=1) is read only when a program starts: `meshdl
   agent` starts itself again with it (4 agent processes on a 20 M-parameter model:
   training 2.3x faster). False for a model that does not parse. */
MDL_EXPORT bool mdl_agent_cfg_wants_huge_pages (const mdl_agent_cfg_t *cfg);

/* The rules between settings and the size of the cluster, for n agents numbered as
   mdl_cluster_create numbers them: robust trimmed:B needs 2B + 1 states in every agent's
   mixing, so it is refused when some agent has fewer than 2B in-neighbours in some round
   of the topology's first period (the reason names the largest B that fits). Returns 0
   or MDL_EINVAL with the reason in mdl_error_detail(). */
MDL_EXPORT int mdl_agent_cfg_check_agents (const mdl_agent_cfg_t *cfg, uint32_t n);

#ifdef __cplusplus
}
#endif

#endif
