/*  version.c: the version of libmeshdl.so. This is the shared library's own source file:
    everything else in it comes whole from the per-layer static libraries (CMakeLists.txt);
    programs linked against those (the meshdl binary, the tests) read MDL_VERSION_STRING. */
#include "meshdl/version.h"

const char *
mdl_version (void)
{
    return MDL_VERSION_STRING;
}
