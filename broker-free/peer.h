/*  peer.h: what identifies an agent on the mesh, and the fixed binary announcement
    ("hello") that carries it in beacons and on the mesh.

    Announcement layout (little-endian, exactly MDL_HELLO_SIZE bytes):
      0  "MDLB"             magic
      4  u8  version        MDL_HELLO_VERSION
      5  u8  flags          bit 0: a CURVE public key follows
      6  u16 port           TCP port of the sender's PUB socket (0: not over TCP)
      8  u64 cluster        64-bit FNV-1a of the cluster name
      16 u64 id             agent id (never 0)
      24 u64 incarnation    changes on every restart of the agent
      32 40 bytes pubkey    Z85 CURVE public key, or zeros
    Fixed size on purpose: CZMQ's zbeacon carries at most 255 bytes, and a parser of a
    fixed layout has nothing to get wrong. */
#ifndef MDL_PEER_H
#define MDL_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshdl/keys.h"  /* MDL_PUBKEY_LEN */
#include "meshdl/watch.h" /* MDL_ENDPOINT_MAX */

#define MDL_HELLO_VERSION 1
#define MDL_HELLO_SIZE 72

typedef struct {
    uint64_t id;                          /* agent id, never 0 */
    uint64_t incarnation;                 /* new on every start */
    uint16_t port;                        /* PUB port (TCP), 0 otherwise */
    char endpoint[MDL_ENDPOINT_MAX];      /* PUB endpoint to connect to; "" if unknown */
    char pubkey[MDL_PUBKEY_LEN + 1];      /* Z85 CURVE public key, "" when security is off */
} mdl_peer_info_t;

/* 64-bit FNV-1a of a cluster name (the same function as the wire header's cluster id). */
uint64_t mdl_cluster_hash (const char *name);

/* Writes info's announcement for cluster into buf (MDL_HELLO_SIZE bytes). */
void mdl_hello_pack (const mdl_peer_info_t *info, uint64_t cluster, uint8_t *buf);

/* Parses an untrusted announcement. Returns 0, MDL_EBEACON (wrong size, magic, version,
   id 0, key not Z85) or MDL_EWIRE_CLUSTER (another cluster). Fills info (endpoint "")
   only on success. */
int mdl_hello_unpack (const void *buf, size_t len, uint64_t cluster, mdl_peer_info_t *info);

/* True when key[0..len) is a Z85 CURVE public key: MDL_PUBKEY_LEN characters of the
   Z85 alphabet (ZeroMQ RFC 32). */
bool mdl_pubkey_valid (const char *key, size_t len);

/* Formats an id as 16 lowercase hex digits (buf >= 17 bytes); returns buf. */
const char *mdl_id_str (uint64_t id, char *buf);

#endif
