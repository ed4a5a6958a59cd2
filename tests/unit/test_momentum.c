/*  test_momentum.c: the update rules of QGM, DecentLaM, heavy ball/Nesterov and gradient
    tracking (agents/algo/momentum.c) on a two-agent round computed by hand, with the mixing
    matrix W = [[3/4, 1/4], [1/4, 3/4]] applied by the test as the agents' gossip would. */
#include "testutil.h"

#include "momentum.h"

#include <string.h>

enum { D = 2 };
static const float x1[D] = { 1, 2 }, m1[D] = { 0.2f, -0.4f }, g1[D] = { 1, 0 };
static const float x2[D] = { 3, -2 }, m2[D] = { 0, 1 }, g2[D] = { -2, 4 };
static const float mu = 0.5f, lr = 0.1f;

static void
s_gossip (const float *a, const float *b, float *wa, float *wb)
{
    for (int k = 0; k < D; k++) {
        wa[k] = 0.75f * a[k] + 0.25f * b[k];
        wb[k] = 0.25f * a[k] + 0.75f * b[k];
    }
}

static void
s_expect (const float *got, float e0, float e1)
{
    assert_float_equal (got[0], e0, 1e-5);
    assert_float_equal (got[1], e1, 1e-5);
}

static void
test_heavy_ball_and_nesterov_directions_by_hand (void **state)
{
    (void) state;
    float u[D];
    mdl_mom_direction (u, m1, g1, mu, false, D);
    s_expect (u, 1.1f, -0.2f);              /* mu m + g */
    mdl_mom_direction (u, m1, g1, mu, true, D);
    s_expect (u, 1.55f, -0.1f);             /* g + mu (mu m + g) */
    float g[D] = { 1, 0 };
    mdl_mom_direction (g, m1, g, mu, false, D); /* in place */
    s_expect (g, 1.1f, -0.2f);
}

/*  QGM, heavy ball:  u1 = (1.1, -0.2), u2 = (-2, 4.5)
    x½ = x - lr u:    (0.89, 2.02), (3.2, -2.45)
    x+ = W x½:        (1.4675, 0.9025), (2.6225, -1.3325)
    m+ = mu m + (1 - mu)(x - x+)/lr:  (-2.2375, 5.2875), (1.8875, -2.8375) */
static void
test_qgm_round_of_two_agents_matches_the_hand_computation (void **state)
{
    (void) state;
    float a[D], b[D], ma[D], mb[D], ua[D], ub[D];
    memcpy (ma, m1, sizeof ma);
    memcpy (mb, m2, sizeof mb);
    mdl_mom_direction (ua, ma, g1, mu, false, D);
    mdl_mom_direction (ub, mb, g2, mu, false, D);
    float ha[D], hb[D];
    for (int k = 0; k < D; k++) {
        ha[k] = x1[k] - lr * ua[k];
        hb[k] = x2[k] - lr * ub[k];
    }
    s_gossip (ha, hb, a, b);
    s_expect (a, 1.4675f, 0.9025f);
    s_expect (b, 2.6225f, -1.3325f);
    mdl_qgm_momentum (ma, x1, a, mu, lr, D);
    mdl_qgm_momentum (mb, x2, b, mu, lr, D);
    s_expect (ma, -2.2375f, 5.2875f);
    s_expect (mb, 1.8875f, -2.8375f);
}

/* At a fixed point with a constant gradient (one agent, so gossip is the identity), the
   quasi-global buffer converges to heavy ball's g / (1 - mu), so the step is heavy ball's
   lr g / (1 - mu). It gets there at the rate mu (2 - mu) per step (0.99 for mu = 0.9).
   x is translated back to 0 every step (only displacements matter) to keep the floats
   small. */
static void
test_qgm_buffer_converges_to_heavy_balls_under_a_constant_gradient (void **state)
{
    (void) state;
    const float g[D] = { 1, -3 }, zero[D] = { 0, 0 };
    float x[D], m[D] = { 0, 0 }, u[D];
    for (int t = 0; t < 2000; t++) {
        mdl_mom_direction (u, m, g, 0.9f, false, D);
        for (int k = 0; k < D; k++)
            x[k] = -lr * u[k];
        mdl_qgm_momentum (m, zero, x, 0.9f, lr, D);
    }
    assert_float_equal (m[0], 10.0f, 1e-3);
    assert_float_equal (m[1], -30.0f, 3e-3);
}

/*  DecentLaM, beta = mu = 0.5:
    Wx:   (1.5, 1), (2.5, -1)
    x+ = Wx - lr (beta m + g):          (1.39, 1.02), (2.7, -1.45)
    m+ = beta m + g + (x - Wx)/lr:      (-3.9, 9.8), (3, -5.5)
    and x+ = x - lr m+; the mean of x moves by -lr mean(beta m + g) = (0.045, -0.215). */
static void
test_decentlam_round_of_two_agents_matches_the_hand_computation (void **state)
{
    (void) state;
    float a[D], b[D], wa[D], wb[D], ma[D], mb[D];
    memcpy (a, x1, sizeof a);
    memcpy (b, x2, sizeof b);
    memcpy (ma, m1, sizeof ma);
    memcpy (mb, m2, sizeof mb);
    s_gossip (a, b, wa, wb);
    mdl_decentlam_step (a, ma, g1, wa, mu, lr, D);
    mdl_decentlam_step (b, mb, g2, wb, mu, lr, D);
    s_expect (a, 1.39f, 1.02f);
    s_expect (b, 2.7f, -1.45f);
    s_expect (ma, -3.9f, 9.8f);
    s_expect (mb, 3.0f, -5.5f);
    for (int k = 0; k < D; k++)
        assert_float_equal (a[k], x1[k] - lr * ma[k], 1e-5);
    s_expect ((float[]) { (a[0] + b[0]) / 2, (a[1] + b[1]) / 2 }, 2.045f, -0.215f);
}

static void
test_gradient_tracking_adds_the_change_of_gradient (void **state)
{
    (void) state;
    float y[D] = { 1, 1 }, gold[D] = { 0.5f, 2 };
    const float gnew[D] = { 2, -1 };
    mdl_gt_track (y, gold, gnew, D);
    s_expect (y, 2.5f, -2.0f);
    s_expect (gold, 2.0f, -1.0f);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_heavy_ball_and_nesterov_directions_by_hand),
        cmocka_unit_test (test_qgm_round_of_two_agents_matches_the_hand_computation),
        cmocka_unit_test (test_qgm_buffer_converges_to_heavy_balls_under_a_constant_gradient),
        cmocka_unit_test (test_decentlam_round_of_two_agents_matches_the_hand_computation),
        cmocka_unit_test (test_gradient_tracking_adds_the_change_of_gradient),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
