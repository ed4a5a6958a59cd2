/*  fuzz_hello.c: libFuzzer target for the announcement parser (peer.h): what beacons
    from anyone on the LAN and hellos on the mesh carry. A parsed announcement must
    satisfy the parser's contract: an id, a valid or empty key, and packing it again
    gives the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "peer.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc (size ? size : 1); /* exact size: a read past it is an ASan error */
    if (!buf)
        abort ();
    memcpy (buf, data, size);
    const uint64_t cluster = mdl_cluster_hash ("fuzz");
    mdl_peer_info_t info;
    int rc = mdl_hello_unpack (buf, size, cluster, &info);
    if (rc == 0) {
        if (info.id == 0 || size != MDL_HELLO_SIZE)
            abort ();
        if (info.pubkey[0] && !mdl_pubkey_valid (info.pubkey, strlen (info.pubkey)))
            abort ();
        uint8_t again[MDL_HELLO_SIZE];
        mdl_hello_pack (&info, cluster, again);
        mdl_peer_info_t back;
        if (mdl_hello_unpack (again, sizeof again, cluster, &back) != 0 || back.id != info.id
            || back.incarnation != info.incarnation || back.port != info.port || strcmp (back.pubkey, info.pubkey))
            abort ();
    } else if (rc != MDL_EBEACON && rc != MDL_EWIRE_CLUSTER)
        abort ();
    free (buf);
    return 0;
}
