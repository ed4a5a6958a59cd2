/*  hash.h: small non-cryptographic hashes shared by the layers above. */
#ifndef MDL_HASH_H
#define MDL_HASH_H

#include <stddef.h>
#include <stdint.h>

/* 64-bit FNV-1a of len bytes (the cluster id on the wire and in beacons). */
uint64_t mdl_hash_fnv1a64 (const void *data, size_t len);

#endif
