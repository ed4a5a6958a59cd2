/* mem.c - see mem.h. */
#include "mem.h"

#include <stdlib.h>
#include <string.h>

/* Called through a volatile pointer: the compiler cannot prove it is memset, so it
   keeps the writes instead of turning malloc + memset into calloc. */
static void *(*volatile s_fill) (void *, int, size_t) = memset;

void *
mdl_mem_zeroed (size_t n)
{
    void *p = malloc (n ? n : 1);
    if (p)
        s_fill (p, 0, n);
    return p;
}
