/*  fuzz_config.c: libFuzzer target for --config files (opts.h: a CZMQ zconfig file of
    "name = value" lines), read against the option table of `meshdl sim` (every option
    of train and of decentralized runs, of every type). It must refuse or accept with a
    message, never crash, and free what it loaded. */
#include <stdlib.h>
#include <string.h>

#include "agentopts.h"
#include "err.h"
#include "fuzz_file.h"
#include "opts.h"
#include "trainopts.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *path = fuzz_file (data, size, 0);
    mdl_trainopts_t to;
    mdl_agentopts_t ao;
    mdl_trainopts_defaults (&to);
    mdl_agentopts_defaults (&ao);
    int agents = 8;
    mdl_strlist_t slow = { .n = 0 };
    mdl_optdef_t defs[128];
    size_t n = 0;
    defs[n++] = (mdl_optdef_t) { .name = "agents", .type = MDL_OPTT_INT, .dst = &agents, .min = 1, .max = 1024 };
    defs[n++] = (mdl_optdef_t) { .name = "slow", .type = MDL_OPTT_LIST, .dst = &slow };
    mdl_trainopts_defs (&to, defs, &n, 128);
    mdl_agentopts_defs (&ao, defs, &n, 128);
    char err[1024] = "";
    void *keep = NULL;
    int rc = mdl_opts_config ("sim", defs, path, &keep, err, sizeof err);
    if (rc && (rc != MDL_EINVAL || !err[0] || keep))
        abort ();
    mdl_opts_config_free (&keep);
    return 0;
}
