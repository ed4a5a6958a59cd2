#!/usr/bin/env bash
# The soak in CI (issue 15): bench/soak.sh for 2 minutes with 4 agents (a small MLP, ring,
# static peers on loopback), sampling every 5 s. Holds when RSS and open fds stay within 5%
# of their level after warm-up (the first 30 s), `meshdl status` finds every training
# agent healthy (both threads beating) at every sample, and every agent exits 0 on
# SIGTERM. Step rates are printed, not judged (RATES=0): on a shared machine they follow
# the load. Light on purpose so that it runs beside the other tests (no RESOURCE_LOCK).
bin=${1:?usage: soak_short.sh path/to/meshdl}
DURATION=${DURATION:-120} N=4 SAMPLE=5 RATES=0 exec bash "$(dirname "$0")/../../bench/soak.sh" "$bin"
