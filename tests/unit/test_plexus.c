/*  test_plexus.c: Plexus's sample and aggregator (agents/algo/plexus.c) as a pure function
    of the round and the membership view: the same on every agent, the offline skipped,
    the stand-ins in order, every agent sampled about S/n of the rounds. */
#include "testutil.h"

#include <string.h>

#include "plexus.h"
#include "rng.h"

#define N 16

/* Offline: agents whose id is a multiple of 3 in even rounds. */
static bool
s_offline (void *arg, uint64_t id, uint64_t round)
{
    (void) arg;
    return id % 3 == 0 && round % 2 == 0;
}

static void
test_every_agent_computes_the_same_sample_and_aggregator_from_its_view (void **state)
{
    uint64_t view[N];
    for (int i = 0; i < N; i++)
        view[i] = 1000 + 37 * (uint64_t) i;
    mdl_rng_t rng;
    mdl_rng_seed (&rng, 7, 0);
    for (uint64_t round = 0; round < 200; round++) {
        uint64_t ref[N];
        size_t nref = mdl_plexus_sample (42, round, view, N, 4, NULL, NULL, ref);
        assert_int_equal (nref, 4);
        /* Each of the N agents holds the view in an order of its own. */
        for (int agent = 0; agent < N; agent++) {
            uint64_t mine[N], out[N];
            memcpy (mine, view, sizeof view);
            for (int i = N - 1; i > 0; i--) {
                int j = (int) mdl_rng_below (&rng, (uint64_t) i + 1);
                uint64_t t = mine[i];
                mine[i] = mine[j], mine[j] = t;
            }
            assert_int_equal (mdl_plexus_sample (42, round, mine, N, 4, NULL, NULL, out), 4);
            assert_memory_equal (out, ref, sizeof ref[0] * 4);
        }
        /* distinct members of the view */
        for (size_t a = 0; a < nref; a++) {
            bool in = false;
            for (int i = 0; i < N; i++)
                in |= view[i] == ref[a];
            assert_true (in);
            for (size_t b = 0; b < a; b++)
                assert_true (ref[a] != ref[b]);
        }
    }
}

static void
test_sample_skips_offline_agents_and_shrinks_when_few_are_online (void **state)
{
    uint64_t view[N], out[N];
    for (int i = 0; i < N; i++)
        view[i] = (uint64_t) i + 1;
    for (uint64_t round = 0; round < 50; round++) {
        size_t n = mdl_plexus_sample (9, round, view, N, 8, s_offline, NULL, out);
        assert_int_equal (n, 8);
        for (size_t k = 0; k < n; k++)
            assert_false (s_offline (NULL, out[k], round));
    }
    /* 3 agents, S = 8: all three; with the offline one skipped in even rounds, two. */
    const uint64_t three[3] = { 2, 3, 4 };
    assert_int_equal (mdl_plexus_sample (9, 1, three, 3, 8, s_offline, NULL, out), 3);
    assert_int_equal (mdl_plexus_sample (9, 2, three, 3, 8, s_offline, NULL, out), 2);
    assert_int_equal (mdl_plexus_sample (9, 2, three, 0, 8, s_offline, NULL, out), 0);
}

static void
test_when_the_aggregator_leaves_the_next_in_the_order_takes_over (void **state)
{
    uint64_t view[N], out[N], after[N], rest[N];
    for (int i = 0; i < N; i++)
        view[i] = (uint64_t) i + 1;
    for (uint64_t round = 0; round < 100; round++) {
        mdl_plexus_sample (5, round, view, N, 4, NULL, NULL, out);
        size_t m = 0;
        for (int i = 0; i < N; i++)
            if (view[i] != out[0])
                rest[m++] = view[i];
        /* The view without the aggregator: the old stand-ins, in order, then one more. */
        assert_int_equal (mdl_plexus_sample (5, round, rest, m, 4, NULL, NULL, after), 4);
        assert_memory_equal (after, out + 1, 3 * sizeof out[0]);
    }
}

static void
test_every_agent_is_sampled_about_s_over_n_of_the_rounds (void **state)
{
    uint64_t view[N], out[N];
    for (int i = 0; i < N; i++)
        view[i] = (uint64_t) i + 1;
    unsigned sampled[N + 1] = { 0 }, aggregated[N + 1] = { 0 };
    const unsigned rounds = 8000;
    uint64_t prev0 = 0;
    unsigned repeats = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        size_t n = mdl_plexus_sample (1, r, view, N, 4, NULL, NULL, out);
        for (size_t k = 0; k < n; k++)
            sampled[out[k]]++;
        aggregated[out[0]]++;
        repeats += out[0] == prev0;
        prev0 = out[0];
    }
    for (int i = 1; i <= N; i++) {
        /* expected 2000 and 500; binomial sd about 39 and 22 */
        assert_in_range (sampled[i], 1800, 2200);
        assert_in_range (aggregated[i], 400, 600);
    }
    assert_in_range (repeats, 400, 600); /* rounds are independent: 1/16 repeat */
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_every_agent_computes_the_same_sample_and_aggregator_from_its_view),
        cmocka_unit_test (test_sample_skips_offline_agents_and_shrinks_when_few_are_online),
        cmocka_unit_test (test_when_the_aggregator_leaves_the_next_in_the_order_takes_over),
        cmocka_unit_test (test_every_agent_is_sampled_about_s_over_n_of_the_rounds),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
