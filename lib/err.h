/*  err.h: the error codes (the public meshdl/error.h) and, for the layers inside the
    library, the setter of the reason that mdl_error_detail() returns. */
#ifndef MDL_ERR_H
#define MDL_ERR_H

#include "meshdl/error.h"

/* Records the reason of a failure for mdl_error_detail() on this thread (printf format;
   truncated to 512 bytes) and returns code, so that a failing path can end in
   `return mdl_error_set (MDL_EINVAL, "...", ...);`. */
int mdl_error_set (int code, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

/* Clears the reason (a call that fails without one must not show an older one). */
void mdl_error_clear (void);

#endif
