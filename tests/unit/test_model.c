/*  test_model.c: layers, losses and models against finite differences and naive kernels. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "layer.h"
#include "model.h"
#include "rng.h"

static void
s_fill (float *x, size_t n, mdl_rng_t *rng, float scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = scale * (float) mdl_rng_normal (rng);
}

/* Scalar objective of a layer's output: sum(out .* R), so d/d(out) = R. */
static double
s_objective (mdl_layer_t *l, const float *p, const float *in, float *out, const float *R,
             size_t B)
{
    l->ops->forward (l, p, in, out, B);
    double s = 0.0;
    for (size_t i = 0; i < B * l->out_size; i++)
        s += (double) out[i] * R[i];
    return s;
}

/* Checks a layer's parameter and input gradients against central differences, on every
   element (shapes are small). Perturbations use h = 1e-2 in float, so the tolerance is
   relative 2e-2 plus an absolute floor. */
static void
s_gradcheck_layer (mdl_layer_t *l, size_t B, uint64_t seed, int separated)
{
    mdl_rng_t rng;
    mdl_rng_seed (&rng, seed, 1);
    assert_int_equal (l->ops->reserve (l, B), 0);
    size_t np = l->pcount ? l->pcount : 1;
    float *p = calloc (np, sizeof (float)), *g = calloc (np, sizeof (float));
    float *in = malloc (B * l->in_size * sizeof (float)), *din = malloc (B * l->in_size * sizeof (float));
    float *out = malloc (B * l->out_size * sizeof (float)), *R = malloc (B * l->out_size * sizeof (float));
    s_fill (p, l->pcount, &rng, 0.5f);
    s_fill (in, B * l->in_size, &rng, 1.0f);
    /* keep inputs away from ReLU's kink at 0 so the difference quotient is defined */
    for (size_t i = 0; i < B * l->in_size; i++)
        if (fabsf (in[i]) < 0.05f)
            in[i] = in[i] < 0 ? -0.05f - in[i] : 0.05f + in[i];
    if (separated) {
        /* max-pool: distinct inputs 0.1 apart, so a step of h never changes the arg-max */
        uint32_t *perm = malloc (B * l->in_size * sizeof *perm);
        for (size_t i = 0; i < B * l->in_size; i++)
            perm[i] = (uint32_t) i;
        mdl_rng_shuffle (&rng, perm, B * l->in_size);
        for (size_t i = 0; i < B * l->in_size; i++)
            in[i] = 0.1f * (float) perm[i] - 1.0f;
        free (perm);
    }
    s_fill (R, B * l->out_size, &rng, 1.0f);
    s_objective (l, p, in, out, R, B);
    l->ops->backward (l, p, g, in, out, R, din, B);
    const float h = 1e-2f;
    for (size_t i = 0; i < l->pcount; i++) {
        float save = p[i];
        p[i] = save + h;
        double fp = s_objective (l, p, in, out, R, B);
        p[i] = save - h;
        double fm = s_objective (l, p, in, out, R, B);
        p[i] = save;
        double num = (fp - fm) / (2.0 * h);
        if (fabs (num - g[i]) > 2e-2 * fabs (num) + 2e-3)
            fail_msg ("%s: dparam[%zu] analytic %g numeric %g", l->name, i, g[i], num);
    }
    for (size_t i = 0; i < B * l->in_size; i++) {
        float save = in[i];
        in[i] = save + h;
        double fp = s_objective (l, p, in, out, R, B);
        in[i] = save - h;
        double fm = s_objective (l, p, in, out, R, B);
        in[i] = save;
        double num = (fp - fm) / (2.0 * h);
        if (fabs (num - din[i]) > 2e-2 * fabs (num) + 2e-3)
            fail_msg ("%s: din[%zu] analytic %g numeric %g", l->name, i, din[i], num);
    }
    l->ops->destroy (l);
    free (p); free (g); free (in); free (din); free (out); free (R);
}

static void
test_dense_layer_gradients_match_finite_differences (void **state)
{
    mdl_rng_t rng;
    mdl_rng_seed (&rng, 7, 0);
    for (int trial = 0; trial < 4; trial++) {
        mdl_layer_t l = { 0 };
        int in = 1 + (int) mdl_rng_below (&rng, 9), out = 1 + (int) mdl_rng_below (&rng, 7);
        assert_int_equal (mdl_layer_dense (&l, in, out), 0);
        s_gradcheck_layer (&l, 1 + mdl_rng_below (&rng, 4), 100 + trial, 0);
    }
}

static void
test_conv2d_layer_gradients_match_finite_differences (void **state)
{
    mdl_rng_t rng;
    mdl_rng_seed (&rng, 8, 0);
    for (int trial = 0; trial < 4; trial++) {
        mdl_layer_t l = { 0 };
        int c = 1 + (int) mdl_rng_below (&rng, 3), oc = 1 + (int) mdl_rng_below (&rng, 3);
        int k = 1 + 2 * (int) mdl_rng_below (&rng, 2), pad = (int) mdl_rng_below (&rng, (uint64_t) k);
        int h = k + (int) mdl_rng_below (&rng, 4), w = k + (int) mdl_rng_below (&rng, 4);
        assert_int_equal (mdl_layer_conv2d (&l, c, h, w, oc, k, pad), 0);
        s_gradcheck_layer (&l, 1 + mdl_rng_below (&rng, 3), 200 + trial, 0);
    }
}

static void
test_maxpool_relu_tanh_flatten_gradients_match_finite_differences (void **state)
{
    mdl_layer_t l = { 0 };
    assert_int_equal (mdl_layer_maxpool (&l, 2, 6, 5, 2), 0);
    s_gradcheck_layer (&l, 3, 301, 1);
    memset (&l, 0, sizeof l);
    assert_int_equal (mdl_layer_relu (&l, 17), 0);
    s_gradcheck_layer (&l, 3, 302, 0);
    memset (&l, 0, sizeof l);
    assert_int_equal (mdl_layer_tanh (&l, 13), 0);
    s_gradcheck_layer (&l, 2, 303, 0);
    memset (&l, 0, sizeof l);
    assert_int_equal (mdl_layer_flatten (&l, 2, 3, 3), 0);
    s_gradcheck_layer (&l, 2, 304, 0);
}

/* A loss of the logits and its target (labels or probabilities), without gradient. */
typedef double (s_logit_loss_fn) (const float *z, const void *target, size_t B, size_t C);
static double s_xent (const float *z, const void *t, size_t B, size_t C) { return mdl_loss_softmax_xent (z, t, B, C, NULL, NULL); }
static double s_kl (const float *z, const void *t, size_t B, size_t C) { return mdl_loss_softmax_kl (z, t, B, C, NULL, NULL); }

/* Central differences of loss in every logit against the analytic dz. */
static void
s_check_logit_grad (s_logit_loss_fn *loss, float *z, const void *target, size_t B, size_t C, const float *dz, double tol)
{
    for (size_t i = 0; i < B * C; i++) {
        float save = z[i];
        z[i] = save + 1e-2f;
        double fp = loss (z, target, B, C);
        z[i] = save - 1e-2f;
        double fm = loss (z, target, B, C);
        z[i] = save;
        if (fabs ((fp - fm) / 2e-2 - dz[i]) >= tol)
            fail_msg ("logit %zu: analytic %g numeric %g", i, dz[i], (fp - fm) / 2e-2);
    }
}

static void
test_softmax_xent_gradient_matches_finite_differences (void **state)
{
    mdl_rng_t rng;
    mdl_rng_seed (&rng, 9, 0);
    const size_t B = 3, C = 5;
    float z[15], dz[15];
    int32_t y[3] = { 0, 4, 2 };
    s_fill (z, B * C, &rng, 2.0f);
    mdl_loss_softmax_xent (z, y, B, C, dz, NULL);
    s_check_logit_grad (s_xent, z, y, B, C, dz, 1e-3);
    /* a huge logit must not overflow to Inf/NaN */
    z[0] = 1e30f;
    float loss = mdl_loss_softmax_xent (z, y, B, C, dz, NULL);
    assert_true (isfinite (loss) || isinf (loss));
    assert_false (isnan (loss));
}

static void
test_softmax_kl_value_and_gradient_match_hand_computation_and_finite_differences (void **state)
{
    /* By hand: logits (0, log 3) give p = (1/4, 3/4); against q = (1/2, 1/2)
       KL = 1/2 log(2) + 1/2 log(2/3) = 1/2 log(4/3); d/dz = p - q = (-1/4, 1/4), over B = 1. */
    float z1[2] = { 0.0f, logf (3.0f) }, q1[2] = { 0.5f, 0.5f }, d1[2], p1[2];
    float kl = mdl_loss_softmax_kl (z1, q1, 1, 2, d1, p1);
    assert_float_equal (kl, 0.5 * log (4.0 / 3.0), 1e-6);
    assert_float_equal (p1[0], 0.25f, 1e-6);
    assert_float_equal (p1[1], 0.75f, 1e-6);
    assert_float_equal (d1[0], -0.25f, 1e-6);
    assert_float_equal (d1[1], 0.25f, 1e-6);
    /* Equal distributions: KL 0, gradient 0; a zero in q contributes 0 log 0 = 0. */
    float q2[2] = { 0.25f, 0.75f };
    assert_float_equal (mdl_loss_softmax_kl (z1, q2, 1, 2, d1, NULL), 0.0f, 1e-6);
    assert_float_equal (d1[0], 0.0f, 1e-6);
    float q3[2] = { 0.0f, 1.0f };
    assert_float_equal (mdl_loss_softmax_kl (z1, q3, 1, 2, NULL, NULL), -log (0.75), 1e-6);

    /* Finite differences on random logits and random target rows. */
    mdl_rng_t rng;
    mdl_rng_seed (&rng, 12, 0);
    const size_t B = 4, C = 6;
    float z[24], q[24], dz[24];
    s_fill (z, B * C, &rng, 2.0f);
    for (size_t r = 0; r < B; r++) {
        double sum = 0;
        for (size_t c = 0; c < C; c++)
            sum += q[r * C + c] = mdl_rng_uniform (&rng) + 0.01f;
        for (size_t c = 0; c < C; c++)
            q[r * C + c] = (float) (q[r * C + c] / sum);
    }
    mdl_loss_softmax_kl (z, q, B, C, dz, NULL);
    s_check_logit_grad (s_kl, z, q, B, C, dz, 1e-4);
}

/* mlp:12-8-4 (seed 5) for minibatches of B rows, and B random rows in x (rng seeded). */
static mdl_model_t *
s_small_mlp (size_t B, float *x, uint64_t seed)
{
    int err = 0;
    mdl_model_t *m = mdl_model_new ("mlp:12-8-4", 5, &err);
    assert_non_null (m);
    assert_int_equal (mdl_model_reserve (m, B), 0);
    mdl_rng_t rng;
    mdl_rng_seed (&rng, seed, 0);
    s_fill (x, 12 * B, &rng, 1.0f);
    return m;
}

static void
test_model_distill_gradient_matches_finite_differences_of_the_kl_term (void **state)
{
    const size_t B = 3;
    float x[36], q[12], p[12], p2[12];
    mdl_model_t *m = s_small_mlp (B, x, 13);
    const size_t d = mdl_model_nparams (m);
    for (size_t r = 0; r < B; r++)
        for (size_t c = 0; c < 4; c++)
            q[r * 4 + c] = c == r ? 0.7f : 0.1f;
    float kl = mdl_model_distill (m, x, q, B, p);
    assert_true (kl > 0 && isfinite (kl));
    mdl_model_predict (m, x, B, p2);
    assert_memory_equal (p, p2, sizeof p);
    for (size_t r = 0; r < B; r++)
        assert_float_equal (p[r * 4] + p[r * 4 + 1] + p[r * 4 + 2] + p[r * 4 + 3], 1.0f, 1e-6);
    float *g = malloc (d * sizeof (float));
    mdl_model_distill (m, x, q, B, NULL);
    memcpy (g, mdl_model_grads (m), d * sizeof (float));
    float *w = mdl_model_params (m);
    size_t bad = 0;
    for (size_t i = 0; i < d; i++) {
        float save = w[i];
        w[i] = save + 1e-3f;
        mdl_model_predict (m, x, B, p2);
        double fp = mdl_loss_softmax_kl (mdl_model_forward (m, x, B), q, B, 4, NULL, NULL);
        w[i] = save - 1e-3f;
        double fm = mdl_loss_softmax_kl (mdl_model_forward (m, x, B), q, B, 4, NULL, NULL);
        w[i] = save;
        double num = (fp - fm) / 2e-3;
        bad += fabs (num - g[i]) > 5e-2 * fabs (num) + 1e-3;
    }
    if (bad > d / 50)
        fail_msg ("%zu of %zu distillation gradients off", bad, d);
    int e2 = 0;
    mdl_model_t *lr = mdl_model_new ("linreg:3", 1, &e2);
    assert_non_null (lr);
    assert_int_equal (mdl_model_reserve (lr, 1), 0);
    assert_true (isnan (mdl_model_distill (lr, x, q, 1, NULL)));
    mdl_model_destroy (&lr);
    free (g);
    mdl_model_destroy (&m);
}

/* mdl_model_use_params: forward and backward read the parameters where the caller put
   them (agents/fused.c keeps x in its message buffers), and NULL goes back to the model's
   own array, which the move left untouched. */
static void
test_the_parameters_can_live_in_a_buffer_of_the_callers (void **state)
{
    const size_t B = 2;
    float x[24], p[8], p2[8];
    mdl_model_t *m = s_small_mlp (B, x, 17);
    const size_t d = mdl_model_nparams (m);
    float *own = mdl_model_params (m);
    assert_ptr_equal (mdl_model_own_params (m), own);
    mdl_model_predict (m, x, B, p);
    float *buf = malloc (d * sizeof (float));
    for (size_t i = 0; i < d; i++)
        buf[i] = 2.0f * own[i];
    mdl_model_use_params (m, buf);
    assert_ptr_equal (mdl_model_params (m), buf);
    mdl_model_predict (m, x, B, p2);
    assert_true (memcmp (p, p2, sizeof p) != 0); /* the doubled weights answer */
    mdl_model_use_params (m, NULL);
    assert_ptr_equal (mdl_model_params (m), own);
    mdl_model_predict (m, x, B, p2);
    assert_memory_equal (p, p2, sizeof p);
    free (buf);
    mdl_model_destroy (&m);
}

/* mdl_model_use_grads: a backward pass writes every element of the caller's buffer (one
   that held other values, as the pooled buffer agents/fused.c lends it does) with the
   same floats as into the model's own array, leaves that array alone, and NULL goes back
   to it. The MLP and the CNN (dense, convolution, pooling layers). */
static void
test_the_gradient_can_go_to_a_buffer_of_the_callers (void **state)
{
    const char *specs[] = { "mlp:12-8-4", "cnn" };
    for (size_t s = 0; s < sizeof specs / sizeof *specs; s++) {
        int err = 0;
        const size_t B = 2;
        mdl_model_t *m = mdl_model_new (specs[s], 7, &err);
        assert_non_null (m);
        assert_int_equal (mdl_model_reserve (m, B), 0);
        const size_t d = mdl_model_nparams (m), in = mdl_model_in_dim (m);
        float *x = malloc (in * B * sizeof *x), *g1 = malloc (d * sizeof *g1), *buf = malloc (d * sizeof *buf);
        assert_true (x && g1 && buf);
        mdl_rng_t rng;
        mdl_rng_seed (&rng, 23, 0);
        s_fill (x, in * B, &rng, 1.0f);
        const int32_t y[2] = { 1, 3 };
        float *own = mdl_model_grads (m);
        mdl_model_forward (m, x, B);
        const float l1 = mdl_model_backward (m, y, NULL, B);
        memcpy (g1, own, d * sizeof *g1);
        for (size_t i = 0; i < d; i++) {
            buf[i] = NAN; /* what the buffer held before: all of it must be overwritten */
            own[i] = -7.0f;
        }
        mdl_model_use_grads (m, buf);
        assert_ptr_equal (mdl_model_grads (m), buf);
        mdl_model_forward (m, x, B);
        const float l2 = mdl_model_backward (m, y, NULL, B);
        assert_true (l1 == l2);
        assert_memory_equal (buf, g1, d * sizeof *g1);
        for (size_t i = 0; i < d; i++)
            assert_true (own[i] == -7.0f);
        mdl_model_use_grads (m, NULL);
        assert_ptr_equal (mdl_model_grads (m), own);
        free (x);
        free (g1);
        free (buf);
        mdl_model_destroy (&m);
    }
}

static void
test_mse_gradient_matches_finite_differences (void **state)
{
    float p[4] = { 0.5f, -1.0f, 2.0f, 0.0f }, t[4] = { 1.0f, 1.0f, -1.0f, 0.25f }, dp[4];
    float loss = mdl_loss_mse (p, t, 4, dp);
    /* 0.5 * (0.25 + 4 + 9 + 0.0625) / 4 */
    assert_float_equal (loss, 0.5f * 13.3125f / 4.0f, 1e-6);
    for (int i = 0; i < 4; i++)
        assert_float_equal (dp[i], (p[i] - t[i]) / 4.0f, 1e-7);
}

static void
test_fast_dense_and_conv_match_naive_references (void **state)
{
    mdl_rng_t rng;
    mdl_rng_seed (&rng, 10, 0);
    mdl_layer_t l = { 0 };
    assert_int_equal (mdl_layer_dense (&l, 37, 11), 0);
    size_t B = 5;
    float *p = malloc (l.pcount * sizeof (float)), *x = malloc (B * 37 * sizeof (float));
    float y[55], yr[55];
    s_fill (p, l.pcount, &rng, 1.0f);
    s_fill (x, B * 37, &rng, 1.0f);
    l.ops->forward (&l, p, x, y, B);
    mdl_ref_dense_forward (p, p + 37 * 11, x, yr, B, 37, 11);
    for (size_t i = 0; i < 55; i++)
        assert_float_equal (y[i], yr[i], 1e-4 * (1 + fabsf (yr[i])));
    free (p); free (x);

    mdl_layer_t c = { 0 };
    assert_int_equal (mdl_layer_conv2d (&c, 3, 9, 7, 4, 5, 2), 0);
    assert_int_equal (c.ops->reserve (&c, B), 0);
    p = malloc (c.pcount * sizeof (float));
    x = malloc (B * c.in_size * sizeof (float));
    float *yc = malloc (B * c.out_size * sizeof (float)), *ycr = malloc (B * c.out_size * sizeof (float));
    s_fill (p, c.pcount, &rng, 1.0f);
    s_fill (x, B * c.in_size, &rng, 1.0f);
    c.ops->forward (&c, p, x, yc, B);
    mdl_ref_conv2d_forward (p, p + 4 * 3 * 25, x, ycr, B, 3, 9, 7, 4, 5, 2);
    for (size_t i = 0; i < B * c.out_size; i++)
        assert_float_equal (yc[i], ycr[i], 1e-4 * (1 + fabsf (ycr[i])));
    c.ops->destroy (&c);
    free (p); free (x); free (yc); free (ycr);
}

/* Whole-model check: the loss gradient of mlp and a tiny cnn w.r.t. sampled parameters. */
static void
s_gradcheck_model (const char *spec, size_t B, size_t samples)
{
    int err = 0;
    mdl_model_t *m = mdl_model_new (spec, 42, &err);
    assert_non_null (m);
    assert_int_equal (mdl_model_reserve (m, B), 0);
    mdl_rng_t rng;
    mdl_rng_seed (&rng, 11, 0);
    size_t in = mdl_model_in_dim (m), d = mdl_model_nparams (m);
    float *x = malloc (B * in * sizeof (float));
    int32_t *y = malloc (B * sizeof (int32_t));
    float *g = malloc (d * sizeof (float));
    s_fill (x, B * in, &rng, 1.0f);
    for (size_t i = 0; i < B; i++)
        y[i] = (int32_t) mdl_rng_below (&rng, mdl_model_out_dim (m));
    mdl_model_forward (m, x, B);
    mdl_model_backward (m, y, NULL, B);
    memcpy (g, mdl_model_grads (m), d * sizeof (float));
    float *p = mdl_model_params (m);
    size_t bad = 0;
    for (size_t s = 0; s < samples; s++) {
        size_t i = mdl_rng_below (&rng, d);
        float save = p[i];
        const float h = 1e-3f;
        p[i] = save + h;
        mdl_model_forward (m, x, B);
        double fp = mdl_model_loss (m, y, NULL, B, NULL);
        p[i] = save - h;
        mdl_model_forward (m, x, B);
        double fm = mdl_model_loss (m, y, NULL, B, NULL);
        p[i] = save;
        double num = (fp - fm) / (2.0 * h);
        /* ReLU/max-pool kinks can be crossed by a finite step: allow a few misses */
        if (fabs (num - g[i]) > 5e-2 * fabs (num) + 1e-3) {
            bad++;
            if (getenv ("MDL_TEST_VERBOSE"))
                print_message ("%s: param %zu analytic %g numeric %g\n", spec, i, g[i], num);
        }
    }
    if (bad > samples / 50)
        fail_msg ("%s: %zu of %zu sampled gradients off", spec, bad, samples);
    free (x); free (y); free (g);
    mdl_model_destroy (&m);
    assert_null (m);
}

static void
test_mlp_and_cnn_loss_gradients_match_finite_differences (void **state)
{
    s_gradcheck_model ("mlp:20-16-8-5", 4, 300);
    s_gradcheck_model ("mlp:20-16-5,act=tanh", 4, 300);
    s_gradcheck_model ("cnn:2-3-8", 2, 300);
}

static void
test_model_specs_parse_or_are_refused (void **state)
{
    int err = 0;
    mdl_model_t *m = mdl_model_new ("mlp:784-256-128-10", 1, &err);
    assert_non_null (m);
    assert_int_equal (mdl_model_nparams (m), 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
    assert_int_equal (mdl_model_in_dim (m), 784);
    assert_int_equal (mdl_model_out_dim (m), 10);
    mdl_model_destroy (&m);
    m = mdl_model_new ("cnn", 1, &err);
    assert_non_null (m);
    assert_int_equal (mdl_model_nparams (m), (16 * 25 + 16) + (32 * 16 * 25 + 32) + (1568 * 128 + 128) + (128 * 10 + 10));
    mdl_model_destroy (&m);
    m = mdl_model_new ("linreg:7", 1, &err);
    assert_non_null (m);
    assert_int_equal (mdl_model_nparams (m), 8);
    assert_true (mdl_model_is_regression (m));
    mdl_model_destroy (&m);
    const char *bad[] = { "bogus:1-2", "mlp", "mlp:", "mlp:784", "mlp:784-", "mlp:-10", "mlp:784--10",
                          "mlp:784-0-10", "mlp:784-x-10", "mlp:784-10,act=sigmoid", "cnn:1-2",
                          "mlp:99999999-10", "mlp:784-1", "", "linreg:", "cnn:16-32-128-5" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err = 0;
        m = mdl_model_new (bad[i], 1, &err);
        if (m)
            fail_msg ("spec '%s' was accepted", bad[i]);
        assert_int_equal (err, MDL_ESPEC);
    }
}

/* mdl_model_check (what --model's option check uses) agrees with mdl_model_new on every
   spec: the same number of parameters, the same refusals. */
static void
test_a_spec_check_agrees_with_building_the_model (void **state)
{
    const char *specs[] = { "mlp:784-256-128-10", "cnn", "linreg:7", "mlp:784-32-10,act=tanh", "mlp:784-4096-4096-10",
                            "bogus:1-2", "mlp:784-", "mlp:784-0-10", "cnn:1-2", "", "mlp:99999999-10" };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        int err = 0;
        size_t d = 0;
        mdl_model_t *m = mdl_model_new (specs[i], 1, &err);
        const int rc = mdl_model_check (specs[i], &d);
        if (m) {
            if (rc != 0 || d != mdl_model_nparams (m))
                fail_msg ("'%s': check %d, d %zu, built %zu", specs[i], rc, d, mdl_model_nparams (m));
        } else if (rc != err)
            fail_msg ("'%s': check %d, build %d", specs[i], rc, err);
        mdl_model_destroy (&m);
    }
}

static void
test_same_seed_gives_same_parameters (void **state)
{
    int err;
    mdl_model_t *a = mdl_model_new ("mlp:30-20-10", 5, &err), *b = mdl_model_new ("mlp:30-20-10", 5, &err),
                *c = mdl_model_new ("mlp:30-20-10", 6, &err);
    size_t d = mdl_model_nparams (a);
    assert_memory_equal (mdl_model_params (a), mdl_model_params (b), d * sizeof (float));
    assert_memory_not_equal (mdl_model_params (a), mdl_model_params (c), d * sizeof (float));
    mdl_model_destroy (&a);
    mdl_model_destroy (&b);
    mdl_model_destroy (&c);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_dense_layer_gradients_match_finite_differences),
        cmocka_unit_test (test_softmax_kl_value_and_gradient_match_hand_computation_and_finite_differences),
        cmocka_unit_test (test_model_distill_gradient_matches_finite_differences_of_the_kl_term),
        cmocka_unit_test (test_conv2d_layer_gradients_match_finite_differences),
        cmocka_unit_test (test_maxpool_relu_tanh_flatten_gradients_match_finite_differences),
        cmocka_unit_test (test_softmax_xent_gradient_matches_finite_differences),
        cmocka_unit_test (test_mse_gradient_matches_finite_differences),
        cmocka_unit_test (test_fast_dense_and_conv_match_naive_references),
        cmocka_unit_test (test_mlp_and_cnn_loss_gradients_match_finite_differences),
        cmocka_unit_test (test_model_specs_parse_or_are_refused),
        cmocka_unit_test (test_same_seed_gives_same_parameters),
        cmocka_unit_test (test_the_parameters_can_live_in_a_buffer_of_the_callers),
        cmocka_unit_test (test_the_gradient_can_go_to_a_buffer_of_the_callers),
        cmocka_unit_test (test_a_spec_check_agrees_with_building_the_model),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
