#!/usr/bin/env bash
# http.sh: what --http costs a training agent.
#   1. bench_http: CPU per /metrics render and per whole scrape over loopback (in-process);
#      at one scrape a second, the fraction of an agent's CPU is scrape / 1 s.
#   2. End to end, side by side: 2 `meshdl agent` processes (static peers on loopback,
#      the README's small setting) train the same steps, in alternating order per round,
#      (a) with --http and a scraper fetching both agents' /metrics HZ times a second,
#      (b) without --http; the agents' own CPU time (user + system, /usr/bin/time) per
#      step is compared within each round. HZ defaults to 10, ten times Prometheus'
#      usual rate, so the cost is large enough to see; the 1 Hz cost is a tenth of it.
# It builds nothing: cmake --build BUILD_DIR --target bench_http meshdl.
#
# usage: bench/http.sh [BUILD_DIR]      environment: ROUNDS [3], HZ [10], EPOCHS [2]
# Exit 0 when everything was measured (it measures, it does not assert).
set -u
build=${1:-build}
rounds=${ROUNDS:-3}; hz=${HZ:-10}; epochs=${EPOCHS:-2}
bench="$build/bench/bench_http"; bin="$build/meshdl"
[ -x "$bench" ] && [ -x "$bin" ] || { echo "http.sh: build first: cmake --build $build --target bench_http meshdl" >&2; exit 1; }
command -v curl >/dev/null && [ -x /usr/bin/time ] || { echo "http.sh: needs curl and /usr/bin/time (apt-get install curl time)" >&2; exit 1; }
export OPENBLAS_NUM_THREADS=1
for v in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$v"; done
tmp=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT

echo "== in-process ($bench)"
"$bench" | tee "$tmp/bench"
free_ports() { python3 -c 'import socket; s=[socket.socket() for _ in range(4)]; [x.bind(("127.0.0.1",0)) for x in s]; print(*[x.getsockname()[1] for x in s])'; }
# run MODE: one pair of agents; prints "cpu_s steps" summed over both
run() {
  local mode=$1 p0 p1 h0 h1 i args
  read -r p0 p1 h0 h1 <<<"$(free_ports)"
  for i in 0 1; do
    args=(--port "$([ $i = 0 ] && echo $p0 || echo $p1)" --peers "tcp://127.0.0.1:$([ $i = 0 ] && echo $p1 || echo $p0)"
          --shard $i/2 --min-peers 1 --epochs "$epochs" --train-subset 12000 --test-subset 1000 --batch 16 --threads 1 --quiet)
    [ "$mode" = scraped ] && args+=(--http "127.0.0.1:$([ $i = 0 ] && echo $h0 || echo $h1)")
    /usr/bin/time -f "%U %S" -o "$tmp/t$i" "$bin" agent "${args[@]}" >"$tmp/o$i" 2>"$tmp/e$i" &
  done
  if [ "$mode" = scraped ]; then
    ( n=0; while kill -0 $(jobs -p | head -1) 2>/dev/null || [ $n -lt 5 ]; do
        curl -s -o /dev/null "http://127.0.0.1:$h0/metrics"; curl -s -o /dev/null "http://127.0.0.1:$h1/metrics"
        n=$((n+1)); sleep "$(awk -v h="$hz" 'BEGIN { print 1 / h }')"
        [ -s "$tmp/t0" ] && [ -s "$tmp/t1" ] && break
      done; echo $n >"$tmp/scrapes" ) &
  fi
  wait
  python3 - "$tmp" <<'PY'
import json, sys, os
t = sys.argv[1]
cpu = steps = 0
for i in (0, 1):
    u, s = open(os.path.join(t, "t%d" % i)).read().split()[-2:]
    cpu += float(u) + float(s)
    steps += json.loads(open(os.path.join(t, "o%d" % i)).read().strip().splitlines()[-1])["summary"]["steps"]
print(cpu, steps)
PY
}
echo "== end to end: 2 agents, $epochs epochs over 12000 rows, batch 16; scraped at $hz Hz vs no --http; $rounds rounds"
: >"$tmp/rows"
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) = 1 ]; then order="none scraped"; else order="scraped none"; fi
  for m in $order; do
    read -r cpu steps <<<"$(run $m)"
    echo "$r $m $cpu $steps $(cat "$tmp/scrapes" 2>/dev/null || echo 0)" >>"$tmp/rows"; rm -f "$tmp/scrapes"
    echo "round $r $m: agents' CPU ${cpu} s for $steps steps" >&2
  done
done
python3 - "$tmp/rows" "$hz" "$tmp/bench" <<'PY'
import sys, statistics as st
rows = [l.split() for l in open(sys.argv[1])]
hz = float(sys.argv[2])
bench = dict(kv.split("=") for kv in open(sys.argv[3]).read().split()[1:])
per = {}
for r, m, cpu, steps, n in rows:
    per.setdefault(r, {})[m] = float(cpu) / float(steps) * 1e6
ratios = [v["scraped"] / v["none"] for v in per.values() if "scraped" in v and "none" in v]
none = st.median(v["none"] for v in per.values()); scr = st.median(v["scraped"] for v in per.values())
print("| | agents' CPU us / step (median of %d) |" % len(per))
print("|---|---|")
print("| no --http | %.0f |" % none)
print("| --http, scraped at %g Hz | %.0f |" % (hz, scr))
print("scraped / not, per round: %s; median %.4f (at %g Hz); at 1 Hz: %+.3f%% by this end-to-end ratio" %
      (", ".join("%.4f" % x for x in ratios), st.median(ratios), hz, (st.median(ratios) - 1) * 100 / hz))
step_us = none
print("in-process: a scrape costs %s us of CPU (render %s us): at 1 Hz, %.4f%% of a core, %.4f%% of the CPU of the %.0f steps a core takes per second"
      % (bench["scrape_cpu_us"], bench["render_us"], float(bench["scrape_cpu_us"]) / 1e4,
         float(bench["scrape_cpu_us"]) / 1e4, 1e6 / step_us))
PY
