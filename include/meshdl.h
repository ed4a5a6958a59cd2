/*  meshdl.h: the public API of meshdl, decentralized deep-learning training over ZeroMQ
    (no parameter server, no broker). Include this one header and link libmeshdl
    (`pkg-config --cflags --libs meshdl`, or CMake's find_package(meshdl) and the target
    meshdl::meshdl).

      meshdl/version.h   MDL_VERSION_STRING (compiled against), mdl_version() (running)
      meshdl/error.h     the error codes, mdl_strerror, mdl_error_detail (the reason)
      meshdl/data.h      datasets (IDX/MNIST, CSV) and partitions among agents
      meshdl/config.h    an agent's configuration: settings by name, with defaults
      meshdl/learner.h   one model learning alone, no gossip (what `meshdl train` runs)
      meshdl/agent.h     one agent: train meshdl's models (mdl_agent_start), or bring
                         your own and gossip it (mdl_agent_exchange)
      meshdl/cluster.h   N agents in one process (what `meshdl sim` runs)
      meshdl/watch.h     the agents of a cluster found without joining it (`meshdl top`)
      meshdl/keys.h      CURVE key pairs for agents with security on (`meshdl keygen`)

    Conventions (docs/DESIGN.md): objects are opaque, built by mdl_X_new (NULL + an error
    code in an out-parameter on failure) and freed by mdl_X_destroy (&p), which sets p to
    NULL and is safe twice; fallible functions return 0 or a negative MDL_E... code, and
    mdl_error_detail() says why in one line. No function exits or aborts the process.
    Names starting with mdl_ and MDL_ are reserved for meshdl. */
#ifndef MESHDL_H
#define MESHDL_H

#include "meshdl/version.h"
#include "meshdl/error.h"
#include "meshdl/data.h"
#include "meshdl/config.h"
#include "meshdl/learner.h"
#include "meshdl/checkpoint.h"
#include "meshdl/agent.h"
#include "meshdl/cluster.h"
#include "meshdl/keys.h"
#include "meshdl/watch.h"

#endif
