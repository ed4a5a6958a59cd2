/*  cmd_keygen.c: `meshdl keygen`: writes a CURVE key pair in CZMQ's zcert format, for
    agents run with CURVE security on. */
#include "cli.h"
#include "opts.h"

#include "meshdl.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *s_usage =
    "usage: meshdl keygen [--out PATH] [--name NAME]\n\n"
    "Writes a new CURVE key pair in CZMQ's zcert format:\n"
    "  PATH         the public certificate: copy it into the allow-list directory\n"
    "               (--allow) of every agent that may talk to this one\n"
    "  PATH_secret  the secret certificate (mode 0600): this agent's --cert\n"
    "Existing files are never overwritten. Exit status: 0 written, 1 could not write\n"
    "(file exists, directory missing), 2 bad usage.\n";

int
mdl_cmd_keygen (int argc, char **argv)
{
    const char *out = "meshdl-key", *name = NULL;
    mdl_optdef_t defs[] = {
        { .name = "out", .type = MDL_OPTT_STR, .dst = &out, .metavar = "PATH",
          .help = "public certificate path; the secret goes to PATH_secret (default meshdl-key)" },
        { .name = "name", .type = MDL_OPTT_STR, .dst = &name, .metavar = "NAME",
          .help = "name stored in the certificate's metadata (default: the host name)" },
        { 0 },
    };
    char err[512] = "";
    int rc = mdl_opts_parse ("keygen", defs, argc, argv, err, sizeof err);
    if (rc == 1) {
        mdl_opts_help (stdout, s_usage, defs);
        return 0;
    }
    if (rc) {
        fprintf (stderr, "%s\n", err);
        return 2;
    }
    if (!out[0]) {
        fprintf (stderr, "meshdl keygen: --out must not be empty\n");
        return 2;
    }
    char host[256] = "meshdl";
    if (!name) {
        if (gethostname (host, sizeof host) != 0)
            snprintf (host, sizeof host, "meshdl");
        host[sizeof host - 1] = 0;
        name = host;
    }
    rc = mdl_keys_generate (out, name);
    if (rc) {
        fprintf (stderr, "meshdl keygen: cannot write %s and %s_secret: %s\n", out, out,
                 mdl_strerror (rc));
        return rc == MDL_EINVAL ? 2 : 1;
    }
    char key[MDL_PUBKEY_LEN + 1] = "";
    mdl_keys_public (out, key);
    printf ("public certificate: %s (copy it into the other agents' allow-list directory)\n"
            "secret certificate: %s_secret (keep it private; pass it as --cert)\n"
            "public key: %s\n",
            out, out, key);
    return 0;
}
