/*  wire.h: the wire format of one update, and its strict validation.

    One update is a three-frame ZeroMQ multipart message, built here as plain byte
    buffers (compress/ does not link ZeroMQ; the agent layer sends them):
      1. topic    "U" (broadcast) or "T" + 16 lowercase hex digits of the recipient id
                  (fixed width, so SUB prefix matching never confuses "T1" with "T12")
      2. header   MessagePack, an array of 14 elements, version 1:
                  [ "MDL", version, cluster, sender, seq, step, timestamp_us, kind,
                    [codec id, bits, block, k, vid, vbits, vblock, flags], d, keyframe,
                    loss (float64), aux (float64), payload_len ]
                  all integers unsigned; keyframe a MessagePack boolean; cluster is the
                  64-bit FNV-1a hash of the cluster name's bytes, without the NUL
                  (mdl_wire_cluster_id); kind is MDL_KIND_MAKE (type, channel), aux a
                  scalar for the algorithm (e.g. a push-sum weight); d is the model's size,
                  except for MDL_KIND_OUTPUTS (its own size). docs/PROTOCOL.md specifies all
                  of it.
      3. payload  the codec's bytes (codec.h), sent zero-copy: encode into a buffer from
                  mdl_wire_payload_alloc and hand it to zmq_msg_init_data with
                  mdl_wire_payload_free, whose signature is zmq_free_fn's.

    A receiver calls mdl_wire_check on the frames (count, topic, header fields against
    its expectations, payload length), then mdl_codec_decode/apply on the payload (which
    validate its content); every failure is a distinct MDL_EWIRE_* code, counted with
    mdl_wire_stats_count. The header reader is a bounded cursor over the bytes: it never
    allocates (msgpack_unpack_next would size a zone by the element counts the sender
    claims: 6 bytes can ask it for 100 GB). */
#ifndef MDL_WIRE_H
#define MDL_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"

#define MDL_WIRE_VERSION 1
#define MDL_WIRE_HEADER_MAX 256 /* bytes; a packed header is at most ~170 */
#define MDL_WIRE_TOPIC_MAX 17   /* "T" + 16 hex digits */
#define MDL_WIRE_BROADCAST UINT64_MAX /* recipient id meaning "everyone" ("U") */

/* The header's kind (0..255) = type | channel << 4: the low 4 bits say what the message
   is, the high 4 bits which of the algorithm's vectors it carries (the mailbox channel;
   agents use channels 0..3). Control types carry no payload. */
enum {
    MDL_KIND_STATE = 0,    /* a model state (keyframe true: fp32, exact; else the run's codec) */
    MDL_KIND_DELTA = 1,    /* a codec-compressed difference against the sender's public copy */
    MDL_KIND_RESYNC = 2,   /* control: "send me a keyframe" (merge channel: "send your state") */
    MDL_KIND_MERGED = 3,   /* control: the sender finished the global average of round step */
    MDL_KIND_SKIP = 4,     /* control: the sender sits round step out (consensus control) */
    MDL_KIND_PAIR_REQ = 5, /* AD-PSGD: a pairwise average requested (fp32 model; step = exchange no.) */
    MDL_KIND_PAIR_ACK = 6, /* ... accepted (fp32 model) */
    MDL_KIND_PAIR_NAK = 7, /* control: ... refused */
    MDL_KIND_FIN = 8,      /* control: the sender finished training */
    MDL_KIND_RESEND = 9,   /* control: "send me again your state of round step on this channel"
                              (sync mode: a state published before the recipient's
                              subscription reached the publisher is lost without a trace) */
    MDL_KIND_OUTPUTS = 10  /* the sender's model outputs on inputs every agent shares, fp32, not
                              model-sized: d = rows x outputs (codistillation: probabilities on
                              the public batch of the round, rows summing to 1; model-parallel
                              least squares: its partial predictions on the training rows) */
};
#define MDL_KIND_LAST MDL_KIND_OUTPUTS /* the highest type defined */
#define MDL_KIND_TYPE(kind) ((uint32_t) (kind) & 15u)
#define MDL_KIND_CHANNEL(kind) ((uint32_t) (kind) >> 4)
#define MDL_KIND_MAKE(type, channel) ((uint32_t) (type) | (uint32_t) (channel) << 4)

typedef struct {
    uint32_t version;
    uint64_t cluster;      /* mdl_wire_cluster_id (name) */
    uint64_t sender;
    uint64_t seq;          /* per link (sender -> this recipient): 1 for the first message
                              after the link opened, +1 for every message of any kind */
    uint64_t step;         /* the round this message belongs to: gossip round t = s * K + k
                              of local step s (docs/PROTOCOL.md section 7) */
    uint64_t timestamp_us; /* sender's wall clock, microseconds */
    uint32_t kind;         /* 0..255: MDL_KIND_MAKE (type, channel) */
    mdl_codec_params_t codec;
    uint64_t d;
    bool keyframe;
    double loss;           /* sender's training loss, finite */
    double aux;            /* algorithm-defined scalar, finite (0 when unused) */
    uint64_t payload_len;
} mdl_wire_header_t;

/* What a receiver expects of every update. */
typedef struct {
    uint64_t cluster;
    uint64_t self;            /* own id: topics "T<self>" are accepted, other "T" not */
    uint64_t d;
    mdl_codec_params_t codec;
} mdl_wire_expect_t;

typedef struct {
    const void *data;
    size_t len;
} mdl_wire_frame_t;

/* Per-code counters of rejected updates: slot for each MDL_EWIRE_* code, plus other. */
#define MDL_WIRE_NSLOTS 13
typedef struct {
    uint64_t ok;
    uint64_t rejected;
    uint64_t by_code[MDL_WIRE_NSLOTS];
} mdl_wire_stats_t;

/* 64-bit FNV-1a of name: the cluster id carried in headers. */
uint64_t mdl_wire_cluster_id (const char *name);

/* Fills h for an update from sender with codec: magic/version, codec params, d;
   everything else zero (the caller sets seq, step, timestamp, loss, payload_len...). */
void mdl_wire_header_init (mdl_wire_header_t *h, uint64_t cluster, uint64_t sender,
                           const mdl_codec_t *codec);

/* Fills exp from the receiver's identity and codec. */
void mdl_wire_expect_init (mdl_wire_expect_t *exp, uint64_t cluster, uint64_t self,
                           const mdl_codec_t *codec);

/* Packs h as MessagePack into buf (cap bytes; MDL_WIRE_HEADER_MAX always suffices);
   sets *len. Returns 0 or MDL_EINVAL (cap too small). No allocation. */
int mdl_wire_pack (const mdl_wire_header_t *h, void *buf, size_t cap, size_t *len);

/* Parses an untrusted header into h (structure only, no expectations). Returns 0,
   MDL_EWIRE_MAGIC, MDL_EWIRE_VERSION or MDL_EWIRE_HEADER (anything else malformed,
   including trailing bytes). h is undefined on error. */
int mdl_wire_unpack (const void *buf, size_t len, mdl_wire_header_t *h);

/* Writes the topic for recipient (MDL_WIRE_BROADCAST: "U") into buf (cap >=
   MDL_WIRE_TOPIC_MAX, not NUL-terminated); returns its length. */
size_t mdl_wire_topic (uint64_t recipient, char *buf);

/* Validates a topic frame: 0 for "U" or "T<self>", else MDL_EWIRE_TOPIC. */
int mdl_wire_check_topic (const void *topic, size_t len, uint64_t self);

/* Validates a received message short of the payload's content: frame count (exactly
   3, else MDL_EWIRE_FRAMES), topic, header (magic, version, schema), then cluster, d,
   codec params, finite loss/aux, and payload length against header and codec bound.
   Fills *h when it returns 0. The payload bytes are not read: pass them to
   mdl_codec_decode/apply, which validate them. */
int mdl_wire_check (const mdl_wire_frame_t *frames, size_t nframes,
                    const mdl_wire_expect_t *exp, const mdl_codec_t *codec,
                    mdl_wire_header_t *h);

/* mdl_wire_check, then mdl_codec_decode of the payload into y (d floats, untouched on
   error). The whole receive path in one call. */
int mdl_wire_decode (const mdl_wire_frame_t *frames, size_t nframes,
                     const mdl_wire_expect_t *exp, mdl_codec_t *codec,
                     mdl_wire_header_t *h, float *y);

/* The content of a decoded MDL_KIND_OUTPUTS payload of probabilities: n floats, rows of
   classes entries (n a multiple of classes), each entry in [0, 1], each row summing to 1
   within 1e-3 (a softmax's float rounding is far below). 0 or MDL_EWIRE_PAYLOAD. */
int mdl_wire_check_probs (const float *v, size_t n, size_t classes);

/* Payload buffers that can be handed to zmq_msg_init_data (ffn = mdl_wire_payload_free,
   hint unused). alloc returns NULL when out of memory. */
void *mdl_wire_payload_alloc (size_t n);
void mdl_wire_payload_free (void *data, void *hint);

/* Counts one result: rc == 0 increments ok, anything else rejected and its slot. */
void mdl_wire_stats_count (mdl_wire_stats_t *s, int rc);

/* Count of rejections with code rc (an MDL_EWIRE_* code; others share one slot). */
uint64_t mdl_wire_stats_get (const mdl_wire_stats_t *s, int rc);

#endif
