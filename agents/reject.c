/*  reject.c: the names of the reasons a message is refused, and of what sent bytes carry
    (agent.h). */
#include "agent.h"

#include "err.h"
#include "wire.h"

_Static_assert(MDL_SENT_GLOBAL == MDL_KIND_LAST + 1, "one slot per wire type before the others");

const char *
mdl_sent_kind_name (int kind)
{
    static const char *names[MDL_SENT_KINDS] = {
        [MDL_KIND_STATE] = "state",       [MDL_KIND_DELTA] = "delta",       [MDL_KIND_RESYNC] = "resync",
        [MDL_KIND_MERGED] = "merged",     [MDL_KIND_SKIP] = "skip",         [MDL_KIND_PAIR_REQ] = "pair_req",
        [MDL_KIND_PAIR_ACK] = "pair_ack", [MDL_KIND_PAIR_NAK] = "pair_nak", [MDL_KIND_FIN] = "fin",
        [MDL_KIND_RESEND] = "resend",     [MDL_KIND_OUTPUTS] = "outputs",   [MDL_SENT_GLOBAL] = "global_state",
        [MDL_SENT_SNAPSHOT] = "snapshot", [MDL_SENT_HELLO] = "hello",
    };
    return kind >= 0 && kind < MDL_SENT_KINDS ? names[kind] : "other";
}

const char *
mdl_reject_name (int reason)
{
    static const char *names[MDL_REJECT_COUNT] = {
        [MDL_REJECT_FRAMES] = "frames",
        [MDL_REJECT_HEADER] = "header",
        [MDL_REJECT_MAGIC] = "magic",
        [MDL_REJECT_VERSION] = "version",
        [MDL_REJECT_CLUSTER] = "cluster",
        [MDL_REJECT_DIM] = "dim",
        [MDL_REJECT_CODEC] = "codec",
        [MDL_REJECT_LENGTH] = "length",
        [MDL_REJECT_INDEX] = "index",
        [MDL_REJECT_NONFINITE] = "nonfinite",
        [MDL_REJECT_TOPIC] = "topic",
        [MDL_REJECT_PAYLOAD] = "payload",
        [MDL_REJECT_SELF] = "self",
        [MDL_REJECT_SENDER_ZERO] = "sender_zero",
        [MDL_REJECT_UNKNOWN] = "unknown_sender",
        [MDL_REJECT_KIND] = "kind",
        [MDL_REJECT_REPLAY] = "replay",
        [MDL_REJECT_BACKWARDS] = "step_backwards",
        [MDL_REJECT_AHEAD] = "step_ahead",
        [MDL_REJECT_HELLO] = "hello",
        [MDL_REJECT_JOIN_RATE] = "join_rate",
        [MDL_REJECT_PEERS_FULL] = "peers_full",
        [MDL_REJECT_REJOIN] = "rejoin_backoff",
        [MDL_REJECT_KEY] = "key_not_allowed",
    };
    return reason >= 0 && reason < MDL_REJECT_COUNT ? names[reason] : "other";
}

mdl_reject_t
mdl_reject_from_wire (int rc)
{
    switch (rc) {
    case MDL_EWIRE_FRAMES: return MDL_REJECT_FRAMES;
    case MDL_EWIRE_HEADER: return MDL_REJECT_HEADER;
    case MDL_EWIRE_MAGIC: return MDL_REJECT_MAGIC;
    case MDL_EWIRE_VERSION: return MDL_REJECT_VERSION;
    case MDL_EWIRE_CLUSTER: return MDL_REJECT_CLUSTER;
    case MDL_EWIRE_DIM: return MDL_REJECT_DIM;
    case MDL_EWIRE_CODEC: return MDL_REJECT_CODEC;
    case MDL_EWIRE_LENGTH: return MDL_REJECT_LENGTH;
    case MDL_EWIRE_INDEX: return MDL_REJECT_INDEX;
    case MDL_EWIRE_NONFINITE: return MDL_REJECT_NONFINITE;
    case MDL_EWIRE_TOPIC: return MDL_REJECT_TOPIC;
    default: return MDL_REJECT_PAYLOAD;
    }
}
