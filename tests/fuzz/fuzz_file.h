/*  fuzz_file.h: for fuzz targets of parsers that read a file by path: the input's bytes
    become a file (an anonymous memfd, seen at /proc/self/fd/N), so the parser runs as
    in the program, opening and reading a path, with nothing touching the disk. */
#ifndef MDL_FUZZ_FILE_H
#define MDL_FUZZ_FILE_H

#include <stddef.h>
#include <stdint.h>

/* Writes data[0..n) as file slot (0 or 1) and returns its path (valid until the next
   call for that slot). Aborts when the memfd cannot be made: a broken harness. */
const char *fuzz_file (const uint8_t *data, size_t n, int slot);

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#endif
