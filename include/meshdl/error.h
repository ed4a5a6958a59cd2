/*  meshdl/error.h: the one error enum of meshdl, and the reason of a failure.

    Every fallible function in every layer returns an int: 0 (MDL_OK) on success, a
    negative MDL_E... code on failure (or a pointer that is NULL with the code in an
    out-parameter); mdl_strerror() turns any code into a sentence a user can act on. One
    enum for all layers, as nng does, so codes never collide and a program can print any
    of them; codes are grouped by the layer that raises them and never change value (new
    ones are added, old ones kept).

    A code says what kind of failure; where there is more to say (which option, which
    value, what it should be), the call also leaves a one-line reason that
    mdl_error_detail() returns, on the calling thread, until the next failure there. */
#ifndef MESHDL_ERROR_H
#define MESHDL_ERROR_H

#include "meshdl/export.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    MDL_OK = 0,
    /* generic */
    MDL_ENOMEM = -1,  /* allocation failed or size overflowed */
    MDL_EINVAL = -2,  /* bad argument / option value */
    MDL_EIO = -3,     /* read/write/fsync/rename failed */
    MDL_ENOENT = -4,  /* file or directory does not exist */
    MDL_ERANGE = -5,  /* value out of its allowed range */
    MDL_ENOTSUP = -6, /* valid but not supported here */
    MDL_EEXIST = -7,  /* file exists and will not be overwritten */
    /* lib: models */
    MDL_ESPEC = -20,      /* model spec string does not parse */
    MDL_ESHAPE = -21,     /* model input/output does not fit the data */
    MDL_ENONFINITE = -22, /* a loss or value became NaN/Inf */
    /* lib: data */
    MDL_EMAGIC = -30,    /* IDX file has a wrong magic number */
    MDL_ETRUNC = -31,    /* file shorter than its header says */
    MDL_EFORMAT = -32,   /* file content does not parse (CSV, IDX dims) */
    MDL_EMISMATCH = -33, /* images and labels disagree in count */
    /* lib: checkpoints */
    MDL_ECKPT_MAGIC = -40,   /* not a meshdl checkpoint */
    MDL_ECKPT_VERSION = -41, /* checkpoint format version not supported */
    MDL_ECKPT_CORRUPT = -42, /* checksum mismatch or truncated checkpoint */
    MDL_ECKPT_MODEL = -43,   /* checkpoint was written for another model */
    /* compress: codecs and wire format */
    MDL_ECODEC = -50,          /* codec spec string does not parse */
    MDL_EWIRE_FRAMES = -51,    /* wrong number of frames in an update */
    MDL_EWIRE_HEADER = -52,    /* header is not valid MessagePack of our schema */
    MDL_EWIRE_MAGIC = -53,     /* protocol magic does not match */
    MDL_EWIRE_VERSION = -54,   /* protocol version not supported */
    MDL_EWIRE_CLUSTER = -55,   /* update from another cluster */
    MDL_EWIRE_DIM = -56,       /* d differs from the receiver's model */
    MDL_EWIRE_CODEC = -57,     /* codec id/params differ from expected */
    MDL_EWIRE_LENGTH = -58,    /* payload length does not match header */
    MDL_EWIRE_INDEX = -59,     /* sparse index out of range or not increasing */
    MDL_EWIRE_NONFINITE = -60, /* payload holds NaN or Inf */
    MDL_EWIRE_TOPIC = -61,     /* topic frame malformed */
    MDL_EWIRE_PAYLOAD = -62,   /* payload structure malformed (format byte, padding, scale) */
    /* broker-free: discovery and mesh */
    MDL_EBEACON = -70,   /* malformed beacon */
    MDL_ESOCKET = -71,   /* a ZeroMQ socket could not be created/bound */
    MDL_EPEER = -72,     /* unknown or dead peer */
    MDL_ETOPO = -73,     /* topology name does not parse or does not fit n */
    MDL_ESECURITY = -74, /* keys missing, unreadable or not allowed */
    MDL_ETIMEOUT = -75,  /* a bounded wait ran out */
    MDL_EWEIGHTS = -76,  /* mixing-weights name unknown */
    MDL_ERATE = -77,     /* refused by a rate limit (a flood of new peers) */
    MDL_EBACKOFF = -78,  /* a peer came back sooner than its rejoin back-off allows */
    /* agents */
    MDL_EALGO = -90,        /* algorithm name unknown or options do not fit it */
    MDL_EINTERRUPTED = -91, /* stopped by a signal */
    MDL_ELIMIT = -92,       /* a limit of the system (sockets, files, threads, peers) */
    MDL_ELAST = -100
};

/* Returns a static sentence for code; never NULL (unknown codes get a generic text). */
MDL_EXPORT const char *mdl_strerror (int code);

/* Returns a short stable name for code (e.g. "EWIRE_DIM"), for counters and logs. */
MDL_EXPORT const char *mdl_errname (int code);

/* The reason of the last failure of a meshdl call on this thread: one line naming what
   was refused and what it should be (e.g. "--algo dsgt needs --mode sync: ..."), or ""
   when the failure said nothing more than its code. Valid until the next failure on
   this thread; never NULL. */
MDL_EXPORT const char *mdl_error_detail (void);

#ifdef __cplusplus
}
#endif

#endif
