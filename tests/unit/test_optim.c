/*  test_optim.c: optimizers against hand-computed steps.

    Every case starts from x0 = (1, -2, 0.5) with g1 = (0.5, 1, -0.25), lr = 0.1. The
    expected numbers were worked out by hand (and checked with exact fractions), never
    by re-running the update rule of optim.c. */
#include "testutil.h"

#include "err.h"
#include "optim.h"

#include <math.h>
#include <string.h>

#define TOL 2e-6f

static const float s_x0[3] = { 1.0f, -2.0f, 0.5f };
static const float s_g1[3] = { 0.5f, 1.0f, -0.25f };
/* g2 flips the sign of the last two elements of g1: g2^2 = g1^2, so Adam's second
   v_hat is exactly g1^2 and its second step stays computable by hand. */
static const float s_g2[3] = { 0.5f, -1.0f, 0.25f };

static void
s_assert_vec (const float *got, const float *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_float_equal (got[i], want[i], TOL);
}

static mdl_optim_t *
s_new (mdl_opt_kind_t kind, float wd, float eps)
{
    mdl_opt_cfg_t cfg;
    mdl_opt_defaults (&cfg, kind);
    cfg.weight_decay = wd;
    cfg.eps = eps;
    int err = 1;
    mdl_optim_t *o = mdl_optim_new (&cfg, 3, &err);
    assert_non_null (o);
    assert_int_equal (err, MDL_OK);
    return o;
}

static void
test_sgd_steps_against_the_gradient (void **state)
{
    mdl_optim_t *o = s_new (MDL_OPT_SGD, 0.0f, 1e-8f);
    float x[3];
    memcpy (x, s_x0, sizeof x);
    mdl_optim_step (o, x, s_g1, 0.1f);
    s_assert_vec (x, (float[]){ 0.95f, -2.1f, 0.525f }, 3);
    mdl_optim_step (o, x, s_g1, 0.1f);
    s_assert_vec (x, (float[]){ 0.9f, -2.2f, 0.55f }, 3);
    assert_int_equal (mdl_optim_steps (o), 2);
    mdl_optim_destroy (&o);
    assert_null (o);
    mdl_optim_destroy (&o); /* safe twice */
}

static void
test_momentum_accumulates_a_heavy_ball_buffer (void **state)
{
    /* m1 = g, m2 = 1.9 g, m3 = 2.71 g; x -= 0.1 m each step. */
    mdl_optim_t *o = s_new (MDL_OPT_MOMENTUM, 0.0f, 1e-8f);
    float x[3];
    memcpy (x, s_x0, sizeof x);
    mdl_optim_step (o, x, s_g1, 0.1f);
    s_assert_vec (x, (float[]){ 0.95f, -2.1f, 0.525f }, 3);
    mdl_optim_step (o, x, s_g1, 0.1f);
    s_assert_vec (x, (float[]){ 0.855f, -2.29f, 0.5725f }, 3);
    size_t len;
    float *m = mdl_optim_state (o, &len);
    s_assert_vec (m, (float[]){ 0.95f, 1.9f, -0.475f }, 3);
    mdl_optim_step (o, x, s_g1, 0.1f);
    s_assert_vec (x, (float[]){ 0.7195f, -2.561f, 0.64025f }, 3);
    s_assert_vec (m, (float[]){ 1.355f, 2.71f, -0.6775f }, 3);
    mdl_optim_destroy (&o);
}

static void
test_nesterov_steps_along_gradient_plus_looked_ahead_momentum (void **state)
{
    /* Updates g + 0.9 m: 1.9 g, 2.71 g, 3.439 g. */
    mdl_optim_t *o = s_new (MDL_OPT_NESTEROV, 0.0f, 1e-8f);
    float x[3];
    memcpy (x, s_x0, sizeof x);
    mdl_optim_step (o, x, s_g1, 0.1f);
    s_assert_vec (x, (float[]){ 0.905f, -2.19f, 0.5475f }, 3);
    mdl_optim_step (o, x, s_g1, 0.1f);
    s_assert_vec (x, (float[]){ 0.7695f, -2.461f, 0.61525f }, 3);
    mdl_optim_step (o, x, s_g1, 0.1f);
    s_assert_vec (x, (float[]){ 0.59755f, -2.8049f, 0.701225f }, 3);
    size_t len;
    s_assert_vec (mdl_optim_state (o, &len), (float[]){ 1.355f, 2.71f, -0.6775f }, 3);
    mdl_optim_destroy (&o);
}

static void
test_adam_steps_are_bias_corrected_with_eps_outside_the_root (void **state)
{
    /* eps = 0.5 makes its place visible: sqrt(v_hat) + eps = |g1| + 0.5 = (1, 1.5, 0.75).
       Step 1: m_hat = g1, update g1 / (|g1| + 0.5) = (0.5, 2/3, -1/3).
       Step 2: m_hat = (0.9 g1 + g2) / 1.9 = (0.5, -1/19, 0.25/19), v_hat = g1^2,
       update = (0.5, -2/57, 1/57). */
    mdl_optim_t *o = s_new (MDL_OPT_ADAM, 0.0f, 0.5f);
    float x[3];
    memcpy (x, s_x0, sizeof x);
    mdl_optim_step (o, x, s_g1, 0.1f);
    s_assert_vec (x, (float[]){ 0.95f, -2.0666667f, 0.5333333f }, 3);
    size_t len;
    float *st = mdl_optim_state (o, &len);
    assert_int_equal (len, 6);
    /* m = 0.1 g1, then v = 0.001 g1^2 (to 2e-5 relative: 1 - 0.999f is 0.00099998713) */
    s_assert_vec (st, (float[]){ 0.05f, 0.1f, -0.025f }, 3);
    assert_float_equal (st[3], 0.00025f, 5e-9f);
    assert_float_equal (st[4], 0.001f, 2e-8f);
    assert_float_equal (st[5], 0.0000625f, 1.25e-9f);
    mdl_optim_step (o, x, s_g2, 0.1f);
    s_assert_vec (x, (float[]){ 0.9f, -2.0631579f, 0.5315789f }, 3);
    assert_int_equal (mdl_optim_steps (o), 2);
    mdl_optim_destroy (&o);
}

static void
test_adam_with_default_eps_moves_each_element_by_lr_on_the_first_step (void **state)
{
    mdl_optim_t *o = s_new (MDL_OPT_ADAM, 0.0f, 1e-8f);
    float x[3];
    memcpy (x, s_x0, sizeof x);
    mdl_optim_step (o, x, s_g1, 0.1f);
    s_assert_vec (x, (float[]){ 0.9f, -2.1f, 0.6f }, 3);
    mdl_optim_destroy (&o);
}

static void
test_weight_decay_is_coupled_except_in_adamw (void **state)
{
    /* wd = 0.5. Coupled: g' = g1 + 0.5 x0 = (1, 0, 0), so only x[0] moves. */
    float x[3];
    mdl_optim_t *o = s_new (MDL_OPT_SGD, 0.5f, 1e-8f);
    memcpy (x, s_x0, sizeof x);
    mdl_optim_step (o, x, s_g1, 0.1f);
    s_assert_vec (x, (float[]){ 0.9f, -2.0f, 0.5f }, 3);
    mdl_optim_destroy (&o);

    /* Momentum: second g' = (0.95, 0, 0), m = 0.9 + 0.95 = 1.85. */
    o = s_new (MDL_OPT_MOMENTUM, 0.5f, 1e-8f);
    memcpy (x, s_x0, sizeof x);
    mdl_optim_step (o, x, s_g1, 0.1f);
    mdl_optim_step (o, x, s_g1, 0.1f);
    s_assert_vec (x, (float[]){ 0.715f, -2.0f, 0.5f }, 3);
    mdl_optim_destroy (&o);

    /* Adam, eps 0.5: g' = (1, 0, 0) -> update (1/1.5, 0, 0). The decay goes through
       the normalisation: elements whose g' is 0 do not move at all. */
    o = s_new (MDL_OPT_ADAM, 0.5f, 0.5f);
    memcpy (x, s_x0, sizeof x);
    mdl_optim_step (o, x, s_g1, 0.1f);
    s_assert_vec (x, (float[]){ 0.9333333f, -2.0f, 0.5f }, 3);
    mdl_optim_destroy (&o);

    /* AdamW, eps 0.5: x *= 1 - 0.1*0.5 -> (0.95, -1.9, 0.475), then the plain Adam
       update 0.1 * (0.5, 2/3, -1/3): every element shrinks by 5 % on top of Adam. */
    o = s_new (MDL_OPT_ADAMW, 0.5f, 0.5f);
    memcpy (x, s_x0, sizeof x);
    mdl_optim_step (o, x, s_g1, 0.1f);
    s_assert_vec (x, (float[]){ 0.9f, -1.9666667f, 0.5083333f }, 3);
    /* Its moments saw g1, not g1 + wd x. */
    size_t len;
    s_assert_vec (mdl_optim_state (o, &len), (float[]){ 0.05f, 0.1f, -0.025f }, 3);
    mdl_optim_destroy (&o);
}

static void
test_state_length_is_zero_d_or_2d_by_kind (void **state)
{
    const struct {
        mdl_opt_kind_t kind;
        size_t len;
    } cases[] = {
        { MDL_OPT_SGD, 0 },      { MDL_OPT_MOMENTUM, 7 }, { MDL_OPT_NESTEROV, 7 },
        { MDL_OPT_ADAM, 14 },    { MDL_OPT_ADAMW, 14 },    { MDL_OPT_ACCUMADAM, 21 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mdl_opt_cfg_t cfg;
        mdl_opt_defaults (&cfg, cases[c].kind);
        int err;
        mdl_optim_t *o = mdl_optim_new (&cfg, 7, &err);
        assert_non_null (o);
        size_t len = 99;
        float *st = mdl_optim_state (o, &len);
        assert_int_equal (len, cases[c].len);
        if (len == 0)
            assert_null (st);
        for (size_t i = 0; i < len; i++)
            assert_true (st[i] == 0.0f);
        assert_int_equal (mdl_optim_steps (o), 0);
        mdl_optim_destroy (&o);
    }
}

static void
test_reset_zeroes_state_and_step_count (void **state)
{
    mdl_optim_t *o = s_new (MDL_OPT_ADAM, 0.0f, 1e-8f);
    float x[3];
    memcpy (x, s_x0, sizeof x);
    mdl_optim_step (o, x, s_g1, 0.1f);
    mdl_optim_reset (o);
    assert_int_equal (mdl_optim_steps (o), 0);
    size_t len;
    float *st = mdl_optim_state (o, &len);
    for (size_t i = 0; i < len; i++)
        assert_true (st[i] == 0.0f);
    /* After a reset the next step is a first step again. */
    memcpy (x, s_x0, sizeof x);
    mdl_optim_step (o, x, s_g1, 0.1f);
    s_assert_vec (x, (float[]){ 0.9f, -2.1f, 0.6f }, 3);
    mdl_optim_destroy (&o);
}

static void
test_adam_resumes_exactly_from_copied_state_and_step_count (void **state)
{
    mdl_optim_t *a = s_new (MDL_OPT_ADAM, 0.0f, 1e-8f);
    mdl_optim_t *b = s_new (MDL_OPT_ADAM, 0.0f, 1e-8f);
    mdl_optim_t *c = s_new (MDL_OPT_ADAM, 0.0f, 1e-8f);
    float xa[3], xb[3], xc[3];
    memcpy (xa, s_x0, sizeof xa);
    mdl_optim_step (a, xa, s_g1, 0.1f);
    mdl_optim_step (a, xa, s_g2, 0.1f);
    /* b and c take a's state as a checkpoint restores it; only b gets the step count. */
    size_t la, lb, lc;
    float *sa = mdl_optim_state (a, &la);
    float *sb = mdl_optim_state (b, &lb);
    float *sc = mdl_optim_state (c, &lc);
    assert_int_equal (la, 6);
    assert_int_equal (lb, la);
    assert_int_equal (lc, la);
    memcpy (sb, sa, la * sizeof (float));
    memcpy (sc, sa, la * sizeof (float));
    mdl_optim_set_steps (b, mdl_optim_steps (a));
    memcpy (xb, xa, sizeof xb);
    memcpy (xc, xa, sizeof xc);
    mdl_optim_step (a, xa, s_g1, 0.1f);
    mdl_optim_step (b, xb, s_g1, 0.1f);
    mdl_optim_step (c, xc, s_g1, 0.1f);
    assert_memory_equal (xa, xb, sizeof xa);
    /* Without the step count the bias correction is that of step 1: a different x. */
    assert_true (fabsf (xc[0] - xa[0]) > 1e-3f);
    mdl_optim_destroy (&a);
    mdl_optim_destroy (&b);
    mdl_optim_destroy (&c);
}

static void
test_adam_minimises_an_ill_conditioned_quadratic (void **state)
{
    /* f(x) = 1/2 sum a_i (x_i - c_i)^2, curvatures 1 to 100. */
    const float a[3] = { 1.0f, 10.0f, 100.0f };
    const float c[3] = { 3.0f, -1.0f, 0.25f };
    float x[3] = { 0.0f, 0.0f, 0.0f }, g[3];
    mdl_optim_t *o = s_new (MDL_OPT_ADAM, 0.0f, 1e-8f);
    for (int t = 0; t < 3000; t++) {
        for (int i = 0; i < 3; i++)
            g[i] = a[i] * (x[i] - c[i]);
        mdl_optim_step (o, x, g, t < 2000 ? 0.01f : 0.001f);
    }
    for (int i = 0; i < 3; i++)
        assert_float_equal (x[i], c[i], 1e-2f);
    mdl_optim_destroy (&o);
}

static void
test_parse_accepts_the_six_names_and_rejects_others (void **state)
{
    const char *names[] = { "sgd", "momentum", "nesterov", "adam", "adamw", "accumadam" };
    for (int k = 0; k < 5; k++) {
        mdl_opt_kind_t kind = (mdl_opt_kind_t) 99;
        assert_int_equal (mdl_opt_parse (names[k], &kind), MDL_OK);
        assert_int_equal (kind, k);
        assert_string_equal (mdl_opt_name (kind), names[k]);
    }
    const char *bad[] = { "", "Adam", "adam ", " sgd", "adamwx", "nesterov-momentum", "sg" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mdl_opt_kind_t kind = MDL_OPT_SGD;
        assert_int_equal (mdl_opt_parse (bad[i], &kind), MDL_EINVAL);
        assert_int_equal (kind, MDL_OPT_SGD);
    }
    mdl_opt_kind_t kind;
    assert_int_equal (mdl_opt_parse (NULL, &kind), MDL_EINVAL);
}

static void
test_check_accepts_defaults_and_rejects_out_of_range_values (void **state)
{
    mdl_opt_cfg_t ok;
    for (int k = 0; k < 5; k++) {
        mdl_opt_defaults (&ok, (mdl_opt_kind_t) k);
        assert_int_equal (mdl_opt_check (&ok), MDL_OK);
    }
    mdl_opt_defaults (&ok, MDL_OPT_ADAM);
    assert_true (ok.momentum == 0.9f && ok.beta1 == 0.9f && ok.beta2 == 0.999f);
    assert_true (ok.eps == 1e-8f && ok.weight_decay == 0.0f);
    /* Edges that are allowed. */
    mdl_opt_cfg_t cfg = ok;
    cfg.momentum = 0.0f;
    cfg.beta1 = 0.0f;
    cfg.beta2 = 0.0f;
    assert_int_equal (mdl_opt_check (&cfg), MDL_OK);

    const float nan = NAN, inf = INFINITY;
    const float bad_unit[] = { 1.0f, 1.5f, -0.1f, nan, inf, -inf };
    for (size_t i = 0; i < sizeof bad_unit / sizeof bad_unit[0]; i++) {
        cfg = ok;
        cfg.momentum = bad_unit[i];
        assert_int_equal (mdl_opt_check (&cfg), MDL_ERANGE);
        cfg = ok;
        cfg.beta1 = bad_unit[i];
        assert_int_equal (mdl_opt_check (&cfg), MDL_ERANGE);
        cfg = ok;
        cfg.beta2 = bad_unit[i];
        assert_int_equal (mdl_opt_check (&cfg), MDL_ERANGE);
    }
    const float bad_eps[] = { 0.0f, -1e-8f, nan, inf };
    for (size_t i = 0; i < sizeof bad_eps / sizeof bad_eps[0]; i++) {
        cfg = ok;
        cfg.eps = bad_eps[i];
        assert_int_equal (mdl_opt_check (&cfg), MDL_ERANGE);
    }
    const float bad_wd[] = { -1e-4f, nan, inf };
    for (size_t i = 0; i < sizeof bad_wd / sizeof bad_wd[0]; i++) {
        cfg = ok;
        cfg.weight_decay = bad_wd[i];
        assert_int_equal (mdl_opt_check (&cfg), MDL_ERANGE);
    }
    cfg = ok;
    cfg.kind = (mdl_opt_kind_t) 6;
    assert_int_equal (mdl_opt_check (&cfg), MDL_ERANGE);

    /* The constructor refuses what check refuses. */
    cfg = ok;
    cfg.beta2 = 1.0f;
    int err = 0;
    assert_null (mdl_optim_new (&cfg, 3, &err));
    assert_int_equal (err, MDL_ERANGE);
}

/* AccumAdam (Wang et al., Decent-DP) with K = 2, beta1 = beta2 = 1/2, lr 1, eps ~ 0, from
   x = 0 on g = 1, -3, 2, 0. By hand (m, v kept pre-multiplied by beta; k = ceil(t/2)):
   t=1: m~ = 1/2, v~ = 1/2, k=1 (c1 = c2 = 2): x -= 1 / sqrt(1) -> -1;  a = 1/2
   t=2: m~ = -3/2, v~ = 9/2, k=1: x -= -3 / 3 -> 0;  a = -1, window closes:
        m = (1/2)(0 + (1/2)(-1)) = -1/4,  v = (1/2)(0 + (1/2)(1)) = 1/4,  a = 0
   t=3: m~ = -1/4 + 1 = 3/4, v~ = 1/4 + 2 = 9/4, k=2 (c1 = c2 = 4/3):
        x -= 1 / sqrt(3) -> -0.5773503;  a = 1
   t=4: m~ = -1/4, v~ = 1/4: x -= (-1/3) / sqrt(1/3) = -1/sqrt(3) -> 0;  a = 1, closes:
        m = (1/2)(-1/4 + 1/2) = 1/8,  v = (1/2)(1/4 + 1/2) = 3/8,  a = 0.
   Plain Adam on the same gradients is at -0.5294 after t = 3 (its moments move every
   step: M3 = 3/8, V3 = 35/8), so this also tells the two apart. */
static void
test_accumadam_updates_its_moments_once_per_window_of_k_steps (void **state)
{
    mdl_opt_cfg_t cfg;
    mdl_opt_defaults (&cfg, MDL_OPT_ACCUMADAM);
    cfg.beta1 = cfg.beta2 = 0.5f;
    cfg.eps = 1e-30f;
    cfg.accum = 2;
    int err;
    mdl_optim_t *o = mdl_optim_new (&cfg, 1, &err);
    assert_non_null (o);
    float x = 0.0f;
    const float g[4] = { 1.0f, -3.0f, 2.0f, 0.0f };
    const float want[4] = { -1.0f, 0.0f, -0.57735027f, 0.0f };
    for (int t = 0; t < 4; t++) {
        mdl_optim_step (o, &x, &g[t], 1.0f);
        assert_float_equal (x, want[t], TOL);
        size_t len;
        const float *st = mdl_optim_state (o, &len);
        assert_int_equal (len, 3);
        if (t == 1)
            s_assert_vec (st, (float[]){ -0.25f, 0.25f, 0.0f }, 3);
        if (t == 2)
            s_assert_vec (st, (float[]){ -0.25f, 0.25f, 1.0f }, 3);
        if (t == 3)
            s_assert_vec (st, (float[]){ 0.125f, 0.375f, 0.0f }, 3);
    }
    mdl_optim_destroy (&o);
}

static void
test_accumadam_with_one_step_windows_is_adam (void **state)
{
    mdl_opt_cfg_t ca, cb;
    mdl_opt_defaults (&ca, MDL_OPT_ADAM);
    mdl_opt_defaults (&cb, MDL_OPT_ACCUMADAM);
    cb.accum = 1;
    int err;
    mdl_optim_t *a = mdl_optim_new (&ca, 3, &err), *b = mdl_optim_new (&cb, 3, &err);
    float xa[3], xb[3];
    memcpy (xa, s_x0, sizeof xa);
    memcpy (xb, s_x0, sizeof xb);
    for (int t = 0; t < 5; t++) {
        const float *g = t % 2 ? s_g2 : s_g1;
        mdl_optim_step (a, xa, g, 0.1f);
        mdl_optim_step (b, xb, g, 0.1f);
        s_assert_vec (xb, xa, 3);
    }
    mdl_optim_destroy (&a);
    mdl_optim_destroy (&b);
}

static void
test_check_refuses_an_accumadam_window_of_zero (void **state)
{
    mdl_opt_cfg_t cfg;
    mdl_opt_defaults (&cfg, MDL_OPT_ACCUMADAM);
    assert_int_equal (cfg.accum, 4);
    cfg.accum = 0;
    assert_int_equal (mdl_opt_check (&cfg), MDL_ERANGE);
    int err = 0;
    assert_null (mdl_optim_new (&cfg, 3, &err));
    assert_int_equal (err, MDL_ERANGE);
}

/* step_to writes what the in-place step leaves in x, bit for bit, into another vector,
   advances the same state, and leaves x alone: for every kind, two steps, with weight
   decay (so x is read inside the update too). */
static void
test_step_to_is_the_in_place_step_written_elsewhere (void **state)
{
    for (int kind = MDL_OPT_SGD; kind <= MDL_OPT_ACCUMADAM; kind++) {
        mdl_optim_t *a = s_new ((mdl_opt_kind_t) kind, 0.01f, 1e-8f), *b = s_new ((mdl_opt_kind_t) kind, 0.01f, 1e-8f);
        float xa[3], xb[3], before[3], out[3];
        memcpy (xa, s_x0, sizeof xa);
        memcpy (xb, s_x0, sizeof xb);
        for (int t = 0; t < 2; t++) {
            const float *g = t ? s_g2 : s_g1;
            memcpy (before, xb, sizeof before);
            mdl_optim_step (a, xa, g, 0.1f);
            mdl_optim_step_to (b, xb, g, 0.1f, out);
            for (int i = 0; i < 3; i++)
                assert_true (out[i] == xa[i] && xb[i] == before[i]);
            memcpy (xb, out, sizeof xb);
        }
        size_t la, lb;
        const float *sa = mdl_optim_state (a, &la), *sb = mdl_optim_state (b, &lb);
        assert_int_equal (la, lb);
        for (size_t i = 0; i < la; i++)
            assert_true (sa[i] == sb[i]);
        assert_int_equal (mdl_optim_steps (a), mdl_optim_steps (b));
        mdl_optim_destroy (&a);
        mdl_optim_destroy (&b);
    }
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_sgd_steps_against_the_gradient),
        cmocka_unit_test (test_momentum_accumulates_a_heavy_ball_buffer),
        cmocka_unit_test (test_nesterov_steps_along_gradient_plus_looked_ahead_momentum),
        cmocka_unit_test (test_adam_steps_are_bias_corrected_with_eps_outside_the_root),
        cmocka_unit_test (test_adam_with_default_eps_moves_each_element_by_lr_on_the_first_step),
        cmocka_unit_test (test_weight_decay_is_coupled_except_in_adamw),
        cmocka_unit_test (test_state_length_is_zero_d_or_2d_by_kind),
        cmocka_unit_test (test_reset_zeroes_state_and_step_count),
        cmocka_unit_test (test_adam_resumes_exactly_from_copied_state_and_step_count),
        cmocka_unit_test (test_adam_minimises_an_ill_conditioned_quadratic),
        cmocka_unit_test (test_parse_accepts_the_six_names_and_rejects_others),
        cmocka_unit_test (test_check_accepts_defaults_and_rejects_out_of_range_values),
        cmocka_unit_test (test_accumadam_updates_its_moments_once_per_window_of_k_steps),
        cmocka_unit_test (test_accumadam_with_one_step_windows_is_adam),
        cmocka_unit_test (test_check_refuses_an_accumadam_window_of_zero),
        cmocka_unit_test (test_step_to_is_the_in_place_step_written_elsewhere),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
