/*  linalg.h: the small dense linear algebra that BLAS does not do: the Moore-Penrose
    pseudo-inverse through a singular value decomposition, and minimum-norm least-squares
    solves with it. For problems of a few hundred rows and columns (model-parallel least
    squares, its centralized reference); in double precision throughout. Matrices are
    row-major. */
#ifndef MDL_LINALG_H
#define MDL_LINALG_H

#include <stddef.h>

/* The pseudo-inverse of A (m, n) into Ap (n, m): V diag(1/s) U^T over the singular values
   s > rcond * s_max (rcond <= 0: m_or_n_max * DBL_EPSILON, the usual default); *rank (may
   be NULL) gets how many were kept. One-sided Jacobi SVD (Hestenes), accurate to the
   relative precision of the singular values. Returns 0, MDL_EINVAL (m or n is 0),
   MDL_ENOMEM or MDL_ERANGE (no convergence in 100 sweeps, or a non-finite entry); Ap is
   undefined on error. */
int mdl_linalg_pinv (const double *A, size_t m, size_t n, double rcond, double *Ap, size_t *rank);

/* The minimum-norm least-squares solution x (n) of A x = y (A (m, n), y (m)): x = A^+ y.
   Returns as mdl_linalg_pinv. */
int mdl_linalg_minnorm (const double *A, size_t m, size_t n, const double *y, double *x);

#endif
