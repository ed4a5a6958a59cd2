/*  fuzz_wire.h: the input format of the wire fuzz target, shared with the corpus
    generator. An input is: u8 receiver codec (index into FUZZ_SPECS, mod its length),
    u8 frame count (mod 6), then per frame a u16 little-endian length and that many bytes
    (cut short at the end of the input). Receivers: cluster "fuzz", self FUZZ_SELF,
    d = FUZZ_D. */
#ifndef MDL_FUZZ_WIRE_H
#define MDL_FUZZ_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_D 100
#define FUZZ_SELF 5
#define FUZZ_CLUSTER "fuzz"
#define FUZZ_SPECS                                                                        \
    { "fp32", "fp16", "bf16", "qsgd:3:16", "q8:32", "q4:7", "sign:10", "topk:10",        \
      "topk:0.6", "randk:10", "topk:8+q4:4", "randk:0.2+qsgd:2" }
#define FUZZ_NSPECS 12

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#endif
