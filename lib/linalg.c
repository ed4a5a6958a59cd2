/*  linalg.c: pseudo-inverse by one-sided Jacobi SVD (see linalg.h).

    Hestenes' method orthogonalises the columns of G (p, q), q <= p, by plane rotations
    applied on the right, G V = U diag(s), accumulating V (q, q). A pair of columns is
    rotated when their cosine exceeds the tolerance; a sweep with no rotation ends it. It
    needs no bidiagonalisation and is accurate for small singular values, which matter
    here: a block of unknowns whose count nears the number of observations is nearly
    square, and its small singular values are what the pseudo-inverse amplifies. O(p q^2)
    per sweep, a handful of sweeps. */
#include "linalg.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "err.h"

#define S_MAX_SWEEPS 100

/* G (p, q) row-major, columns orthogonalised in place; V (q, q) gets the rotations. */
static int
s_jacobi (double *G, size_t p, size_t q, double *V)
{
    for (size_t i = 0; i < q; i++)
        for (size_t j = 0; j < q; j++)
            V[i * q + j] = i == j;
    for (int sweep = 0; sweep < S_MAX_SWEEPS; sweep++) {
        size_t rotated = 0;
        for (size_t i = 0; i + 1 < q; i++)
            for (size_t j = i + 1; j < q; j++) {
                double a = 0, b = 0, c = 0;
                for (size_t k = 0; k < p; k++) {
                    const double gi = G[k * q + i], gj = G[k * q + j];
                    a += gi * gi;
                    b += gj * gj;
                    c += gi * gj;
                }
                if (!isfinite (a + b + c))
                    return MDL_ERANGE;
                if (c == 0 || fabs (c) <= DBL_EPSILON * sqrt (a * b))
                    continue;
                rotated++;
                /* The rotation that zeroes the off-diagonal of the 2x2 Gram block. */
                const double zeta = (b - a) / (2 * c);
                const double t = (zeta >= 0 ? 1.0 : -1.0) / (fabs (zeta) + sqrt (1 + zeta * zeta));
                const double cs = 1 / sqrt (1 + t * t), sn = cs * t;
                for (size_t k = 0; k < p; k++) {
                    const double gi = G[k * q + i], gj = G[k * q + j];
                    G[k * q + i] = cs * gi - sn * gj;
                    G[k * q + j] = sn * gi + cs * gj;
                }
                for (size_t k = 0; k < q; k++) {
                    const double vi = V[k * q + i], vj = V[k * q + j];
                    V[k * q + i] = cs * vi - sn * vj;
                    V[k * q + j] = sn * vi + cs * vj;
                }
            }
        if (rotated == 0)
            return 0;
    }
    return MDL_ERANGE;
}

int
mdl_linalg_pinv (const double *A, size_t m, size_t n, double rcond, double *Ap, size_t *rank)
{
    if (m == 0 || n == 0)
        return MDL_EINVAL;
    for (size_t i = 0; i < m * n; i++)
        if (!isfinite (A[i]))
            return MDL_ERANGE;
    /* Orthogonalise the columns of the matrix with fewer columns: G = A (m >= n) or A^T. */
    const int tall = m >= n;
    const size_t p = tall ? m : n, q = tall ? n : m;
    if (q > SIZE_MAX / p / sizeof (double) || q > SIZE_MAX / q / sizeof (double))
        return MDL_ENOMEM;
    double *G = malloc (p * q * sizeof *G), *V = malloc (q * q * sizeof *V), *s = malloc (q * sizeof *s);
    int rc = MDL_ENOMEM;
    if (!G || !V || !s)
        goto done;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++)
            G[tall ? i * n + j : j * m + i] = A[i * n + j];
    if ((rc = s_jacobi (G, p, q, V)))
        goto done;
    /* G = U diag(s): the column norms are the singular values. */
    double smax = 0;
    for (size_t k = 0; k < q; k++) {
        double ss = 0;
        for (size_t r = 0; r < p; r++)
            ss += G[r * q + k] * G[r * q + k];
        s[k] = sqrt (ss);
        smax = s[k] > smax ? s[k] : smax;
    }
    const double cut = (rcond > 0 ? rcond : (double) p * DBL_EPSILON) * smax;
    size_t kept = 0;
    for (size_t k = 0; k < q; k++)
        kept += s[k] > cut;
    /* With U = G diag(1/s): A = U S V^T (tall) gives A^+ = V S^-1 U^T = V S^-2 G^T, and
       A^T = U S V^T (wide) gives A^+ = U S^-1 V^T = G S^-2 V^T. */
    for (size_t k = 0; k < q; k++)
        s[k] = s[k] > cut ? 1.0 / (s[k] * s[k]) : 0.0;
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < m; i++) {
            double v = 0;
            for (size_t k = 0; k < q; k++)
                v += tall ? V[j * q + k] * s[k] * G[i * q + k] : G[j * q + k] * s[k] * V[i * q + k];
            Ap[j * m + i] = v;
        }
    if (rank)
        *rank = kept;
    rc = 0;
done:
    free (G);
    free (V);
    free (s);
    return rc;
}

int
mdl_linalg_minnorm (const double *A, size_t m, size_t n, const double *y, double *x)
{
    if (m == 0 || n == 0)
        return MDL_EINVAL;
    if (n > SIZE_MAX / m / sizeof (double))
        return MDL_ENOMEM;
    double *Ap = malloc (n * m * sizeof *Ap);
    if (!Ap)
        return MDL_ENOMEM;
    int rc = mdl_linalg_pinv (A, m, n, 0, Ap, NULL);
    for (size_t j = 0; rc == 0 && j < n; j++) {
        double v = 0;
        for (size_t i = 0; i < m; i++)
            v += Ap[j * m + i] * y[i];
        x[j] = v;
    }
    free (Ap);
    return rc;
}

int
mdl_dataset_minnorm (const mdl_dataset_t *ds, double *w)
{
    mdl_error_clear ();
    const float *X = mdl_dataset_x (ds), *t = mdl_dataset_targets (ds);
    if (!X || !t)
        return mdl_error_set (MDL_EINVAL, "mdl_dataset_minnorm: %s", !t ? "no regression targets" : "no float features");
    const size_t n = mdl_dataset_n (ds), dim = mdl_dataset_dim (ds);
    if (dim && n > SIZE_MAX / sizeof (double) / dim)
        return mdl_error_set (MDL_ENOMEM, "mdl_dataset_minnorm: %zu x %zu is too large", n, dim);
    double *A = malloc (n * dim * sizeof *A), *y = malloc (n * sizeof *y);
    int rc = MDL_ENOMEM;
    if (A && y) {
        for (size_t i = 0; i < n; i++) {
            y[i] = t[i];
            for (size_t k = 0; k < dim; k++)
                A[i * dim + k] = X[i * dim + k];
        }
        rc = mdl_linalg_minnorm (A, n, dim, y, w);
    }
    free (A);
    free (y);
    return rc ? mdl_error_set (rc, "mdl_dataset_minnorm: %s", mdl_strerror (rc)) : 0;
}
