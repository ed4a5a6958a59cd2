/* mem.h - model-sized buffers whose pages are mapped for writing when they are made.

   A fresh calloc maps every page to the kernel's shared zero page; the first write to
   each page then faults again, copies, and flushes the TLB of every core the process
   runs on (an inter-processor interrupt per page). A buffer that is read before it is
   written (momentum, an optimizer's moments) pays that inside the first training
   steps, once per agent: 512 agents in one process took 3% of a run in those flushes.
   GCC folds malloc + memset (p, 0, n) into calloc, so writing the zeros by hand does
   not help either: mdl_mem_zeroed writes them where the compiler cannot see it. */
#ifndef MDL_MEM_H
#define MDL_MEM_H

#include <stddef.h>

/* A buffer of n bytes (at least one), zero, every page written once; free() it. NULL
   when memory is short. */
void *mdl_mem_zeroed (size_t n);

#endif
