/*  loss.c: the losses at the end of a model. */
#include "layer.h"

#include <math.h>

float
mdl_loss_softmax_xent (const float *logits, const int32_t *labels, size_t B, size_t C,
                       float *dlogits, size_t *correct)
{
    double total = 0.0;
    size_t ok = 0;
    const float inv_b = 1.0f / (float) B;
    for (size_t r = 0; r < B; r++) {
        const float *z = logits + r * C;
        /* Subtract the max before exp: softmax is shift-invariant and this cannot overflow. */
        size_t arg = 0;
        for (size_t c = 1; c < C; c++)
            if (z[c] > z[arg])
                arg = c;
        const float zmax = z[arg];
        double sum = 0.0;
        for (size_t c = 0; c < C; c++)
            sum += exp ((double) z[c] - zmax);
        const int32_t y = labels[r];
        const double logp = (double) z[y] - zmax - log (sum);
        total -= logp;
        ok += arg == (size_t) y;
        if (dlogits) {
            float *dz = dlogits + r * C;
            for (size_t c = 0; c < C; c++)
                dz[c] = (float) (exp ((double) z[c] - zmax) / sum) * inv_b;
            dz[y] -= inv_b;
        }
    }
    if (correct)
        *correct = ok;
    return (float) (total / (double) B);
}

float
mdl_loss_mse (const float *pred, const float *targets, size_t B, float *dpred)
{
    /* L = (1/B) sum 0.5 (p - t)^2, so dL/dp = (p - t)/B. */
    double total = 0.0;
    for (size_t r = 0; r < B; r++) {
        const double e = (double) pred[r] - targets[r];
        total += 0.5 * e * e;
        if (dpred)
            dpred[r] = (float) (e / (double) B);
    }
    return (float) (total / (double) B);
}

float
mdl_loss_softmax_kl (const float *logits, const float *q, size_t B, size_t C, float *dlogits, float *probs)
{
    /* L = (1/B) sum_r KL(q_r || p_r), p_r = softmax(z_r):
         KL = sum_c q_c (log q_c - log p_c)     (0 log 0 = 0)
       and dL/dz_rc = (p_rc - sum_c' q_rc' ... ) / B = (p_rc - q_rc) / B for rows of q that
       sum to 1 (the log-partition's gradient is p times the row sum of q). The general form
       (p_rc * sum_c' q_rc' - q_rc) / B is used, so a row of q that is not exactly normalised
       still gets the gradient of the value returned. */
    double total = 0.0;
    const double inv_b = 1.0 / (double) B;
    for (size_t r = 0; r < B; r++) {
        const float *z = logits + r * C;
        const float *t = q + r * C;
        float zmax = z[0];
        for (size_t c = 1; c < C; c++)
            zmax = z[c] > zmax ? z[c] : zmax;
        double sum = 0.0, qsum = 0.0;
        for (size_t c = 0; c < C; c++) {
            sum += exp ((double) z[c] - zmax);
            qsum += t[c];
        }
        const double lse = log (sum);
        for (size_t c = 0; c < C; c++) {
            const double logp = (double) z[c] - zmax - lse;
            if (t[c] > 0)
                total += (double) t[c] * (log ((double) t[c]) - logp);
            const double p = exp (logp);
            if (probs)
                probs[r * C + c] = (float) p;
            if (dlogits)
                dlogits[r * C + c] = (float) ((p * qsum - (double) t[c]) * inv_b);
        }
    }
    return (float) (total * inv_b);
}
