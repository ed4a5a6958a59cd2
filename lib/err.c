/*  err.c: sentences for the error codes of err.h. */
#include "err.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

typedef struct {
    int code;
    const char *name;
    const char *text;
} s_entry_t;

static const s_entry_t s_table[] = {
    { MDL_OK, "OK", "success" },
    { MDL_ENOMEM, "ENOMEM", "out of memory (or a size too large to allocate)" },
    { MDL_EINVAL, "EINVAL", "invalid argument or option value" },
    { MDL_EIO, "EIO", "input/output error" },
    { MDL_ENOENT, "ENOENT", "no such file or directory" },
    { MDL_ERANGE, "ERANGE", "value out of range" },
    { MDL_ENOTSUP, "ENOTSUP", "not supported" },
    { MDL_EEXIST, "EEXIST", "file already exists (refusing to overwrite it)" },
    { MDL_ESPEC, "ESPEC", "model spec does not parse: use mlp:IN-H1-...-OUT (e.g. mlp:784-256-128-10), cnn, cnn:C1-C2-H or linreg:D" },
    { MDL_ESHAPE, "ESHAPE", "model input or output size does not fit the data" },
    { MDL_ENONFINITE, "ENONFINITE", "a value became NaN or Inf" },
    { MDL_EMAGIC, "EMAGIC", "not an IDX file (wrong magic number)" },
    { MDL_ETRUNC, "ETRUNC", "file is truncated (shorter than its header says)" },
    { MDL_EFORMAT, "EFORMAT", "file content does not parse" },
    { MDL_EMISMATCH, "EMISMATCH", "images and labels files disagree in count" },
    { MDL_ECKPT_MAGIC, "ECKPT_MAGIC", "not a meshdl checkpoint file" },
    { MDL_ECKPT_VERSION, "ECKPT_VERSION", "checkpoint format version not supported" },
    { MDL_ECKPT_CORRUPT, "ECKPT_CORRUPT", "checkpoint is truncated or corrupted (checksum mismatch)" },
    { MDL_ECKPT_MODEL, "ECKPT_MODEL", "checkpoint was written for a different model spec" },
    { MDL_ECODEC, "ECODEC", "codec spec does not parse" },
    { MDL_EWIRE_FRAMES, "EWIRE_FRAMES", "update has the wrong number of frames" },
    { MDL_EWIRE_HEADER, "EWIRE_HEADER", "update header is not valid" },
    { MDL_EWIRE_MAGIC, "EWIRE_MAGIC", "update has the wrong protocol magic" },
    { MDL_EWIRE_VERSION, "EWIRE_VERSION", "update protocol version not supported" },
    { MDL_EWIRE_CLUSTER, "EWIRE_CLUSTER", "update comes from another cluster" },
    { MDL_EWIRE_DIM, "EWIRE_DIM", "update dimension d differs from this model's" },
    { MDL_EWIRE_CODEC, "EWIRE_CODEC", "update codec or codec parameters not as expected" },
    { MDL_EWIRE_LENGTH, "EWIRE_LENGTH", "update payload length does not match its header" },
    { MDL_EWIRE_INDEX, "EWIRE_INDEX", "update has a sparse index out of range or out of order" },
    { MDL_EWIRE_NONFINITE, "EWIRE_NONFINITE", "update payload holds NaN or Inf" },
    { MDL_EWIRE_TOPIC, "EWIRE_TOPIC", "update topic frame is malformed" },
    { MDL_EWIRE_PAYLOAD, "EWIRE_PAYLOAD", "update payload is malformed (bad format byte, padding or scale)" },
    { MDL_EBEACON, "EBEACON", "malformed beacon" },
    { MDL_ESOCKET, "ESOCKET", "socket could not be created, bound or connected" },
    { MDL_EPEER, "EPEER", "unknown or dead peer" },
    { MDL_ETOPO, "ETOPO", "topology name does not parse or does not fit the number of agents" },
    { MDL_ESECURITY, "ESECURITY", "security keys missing, unreadable or not allowed" },
    { MDL_ETIMEOUT, "ETIMEOUT", "timed out" },
    { MDL_EWEIGHTS, "EWEIGHTS", "mixing weights unknown: use mh (Metropolis-Hastings) or uniform" },
    { MDL_ERATE, "ERATE", "refused by a rate limit (too many new peers too fast)" },
    { MDL_EBACKOFF, "EBACKOFF", "a peer that keeps leaving and rejoining must wait longer before it rejoins" },
    { MDL_EALGO, "EALGO", "algorithm unknown, or its options do not fit it" },
    { MDL_EINTERRUPTED, "EINTERRUPTED", "interrupted by a signal" },
    { MDL_ELIMIT, "ELIMIT", "too many agents for this process's limits (ZeroMQ sockets, open files, threads or peers)" },
};

static const s_entry_t *
s_find (int code)
{
    for (size_t i = 0; i < sizeof s_table / sizeof s_table[0]; i++)
        if (s_table[i].code == code)
            return &s_table[i];
    return NULL;
}

const char *
mdl_strerror (int code)
{
    const s_entry_t *e = s_find (code);
    return e ? e->text : "unknown error";
}

const char *
mdl_errname (int code)
{
    const s_entry_t *e = s_find (code);
    return e ? e->name : "EUNKNOWN";
}

/* The reason of the last failure, per thread: agents are built and driven from several
   threads (sim, the exchange calls of a caller's threads). */
static _Thread_local char s_detail[512];

const char *
mdl_error_detail (void)
{
    return s_detail;
}

int
mdl_error_set (int code, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (s_detail, sizeof s_detail, fmt, ap);
    va_end (ap);
    return code;
}

void
mdl_error_clear (void)
{
    s_detail[0] = '\0';
}
