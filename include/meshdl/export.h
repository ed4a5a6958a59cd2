/*  meshdl/export.h: MDL_EXPORT marks the functions of the public API.

    libmeshdl.so is built with -fvisibility=hidden, so a function is visible to programs
    linking the shared library only when its declaration carries MDL_EXPORT. Everything
    else in the library (the engine's internals) stays private to it. */
#ifndef MESHDL_EXPORT_H
#define MESHDL_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define MDL_EXPORT __attribute__ ((visibility ("default")))
#else
#define MDL_EXPORT
#endif

#endif
