/*  partition.h: splitting a dataset's rows among N agents, deterministically from a seed.
    Declared in the public meshdl/data.h (mdl_part_*, mdl_partition_*); this header is
    kept so that the layers include "partition.h" as before. */
#ifndef MDL_PARTITION_H
#define MDL_PARTITION_H

#include "meshdl/data.h"

#endif
