#!/usr/bin/env bash
# flood.sh: what a hostile peer costs an honest agent (issue 16). Two pairs of
# `meshdl agent` processes train side by side over loopback TCP (static peers), for the
# same SECONDS on the same loaded machine: in pair A, agent A1 also lists the flood tool
# (tests/flood/flood.c) as a peer, which floods it for the whole run (hellos with fresh
# ids, its own leave/rejoin churn, oversize frames, random topics, garbage frames,
# far-future states, replays); pair B lists a port where nothing listens instead. Each
# agent is stopped by SIGTERM and writes its summary. Prints a markdown table: steps per
# second during the flood (from the agents' status files; and A1/B1), the seconds sync
# rounds waited (sync_wait_s of the run; and over the flood, from each agent's sync_wait
# histogram on --http 127.0.0.1:PORT, the rounds that waited over 10 ms, 100 ms, 0.5 s:
# a count the machine's load hardly moves, where a ratio of step rates does), peak RSS, CPU
# seconds of the whole run, the connections suspended (log lines), the refusals by reason,
# the flood's messages. Step rates are
# ratios within one run: the pairs share the CPU.
#
# usage: bench/flood.sh [BUILD_DIR] [SECONDS]          e.g. bench/flood.sh build 60
# environment: MODE (sync|async) [sync], FLOOD_MODES (flood --modes) [its default set],
#   RATE (flood messages per second, 0 = as fast as it can) [0], ROUNDS [1],
#   PROFILE=DIR: also write, for the flood's window, the CPU seconds of each thread of the
#   four agents and the flooder (DIR/threads.txt, from /proc/PID/task) and, with PERF=1,
#   a `perf record -g` of A1 (DIR/A1.perf.data; needs perf and perf_event_paranoid <= 2);
#   KEEP=1: keep the agents' logs and summaries of each round (the directory is printed)
# Exit status: 0 when measured (it does not assert), 1 when a run failed.
set -u
build=${1:-build}
secs=${2:-30}
mode=${MODE:-sync}
rounds=${ROUNDS:-1}
meshdl=$build/meshdl
flood=$build/tests/flood
for f in "$meshdl" "$flood"; do
  [ -x "$f" ] || { echo "flood.sh: $f not found: cmake --build $build --target meshdl flood" >&2; exit 1; }
done
tmp=$(mktemp -d -t adversaries-flood.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 $p 2>/dev/null; done; wait 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
export OPENBLAS_NUM_THREADS=1
for v in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$v"; done
source "$(dirname "$0")/../tests/integration/lib/agentlib.sh"
common=(--train-subset 12000 --test-subset 1000 --batch 16 --threads 1 --epochs 1000 --quiet --mode "$mode"
        --cluster benchflood --min-peers 1 --min-peers-timeout 30)
d=$(python3 -c 'print(784*256+256+256*128+128+128*10+10)')
status=0
for r in $(seq 1 "$rounds"); do
  read -r a1 a2 b1 b2 f dead h1 h2 h3 h4 <<<"$(free_ports 10)"
  pids=()
  # meshdl runs as our own child (not under /usr/bin/time, which a SIGTERM would end
  # while the agent kept running): its CPU time is read from /proc before it is stopped
  start() { local name=$1; shift; "$meshdl" agent "$@" "${common[@]}" \
      --status "$tmp/$name.status" >"$tmp/$name.out" 2>"$tmp/$name.err" & pids+=($!); }
  # threads_of PID...: one line per thread: pid tid name utime+stime (ticks)
  threads_of() { local p t; for p in "$@"; do for t in /proc/$p/task/*; do
      awk -v p=$p -v t=${t##*/} '{ n = $0; sub(/^[^(]*\(/, "", n); sub(/\).*$/, "", n); sub(/^.*\) /, "");
                                  gsub(/ /, "_", n); print p, t, n, $12 + $13 }' $t/stat 2>/dev/null; done; done; }
  # thread_table BEFORE AFTER: CPU seconds of each thread between the two
  thread_table() { awk -v hz="$(getconf CLK_TCK)" -v names="A1 A2 B1 B2" '
      BEGIN { split(names, nm) } NR == FNR { b[$2] = $4; next }
      !($1 in who) { who[$1] = nm[++k] }
      { s = ($4 - b[$2]) / hz; if (s > 0.05) printf "%-6s %-8s %-16s %7.2f\n", who[$1], $2, $3, s; tot[who[$1]] += s }
      END { for (i = 1; i <= k; i++) printf "%-6s total %7.2f CPU s\n", nm[i], tot[nm[i]] }' "$1" "$2"; }
  cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"; }
  # the step an agent's status file says now
  step_of() { status_step "$tmp/$1.status"; }
  # waits_to FILE: each agent's sync-wait histogram now (GET /metrics on loopback), one
  # "AGENT metric value" line per sample: the rounds that waited long, whatever the load
  waits_to() { local a p; for a in A1:$h1 A2:$h2 B1:$h3 B2:$h4; do p=${a#*:}
      curl -s --max-time 5 "http://127.0.0.1:$p/metrics" | awk -v n=${a%%:*} '/^meshdl_sync_wait_seconds/ { print n, $1, $2 }'
    done >"$1"; }
  start A1 --id 11 --port $a1 --peers tcp://127.0.0.1:$a2,tcp://127.0.0.1:$f --shard 0/2 --http 127.0.0.1:$h1
  start A2 --id 12 --port $a2 --peers tcp://127.0.0.1:$a1 --shard 1/2 --http 127.0.0.1:$h2
  start B1 --id 21 --port $b1 --peers tcp://127.0.0.1:$b2,tcp://127.0.0.1:$dead --shard 0/2 --http 127.0.0.1:$h3
  start B2 --id 22 --port $b2 --peers tcp://127.0.0.1:$b1 --shard 1/2 --http 127.0.0.1:$h4
  # the flood and the measurement start once all four are training (loading the data
  # takes a while on a loaded machine)
  for i in $(seq 1 600); do
    n=0; for a in A1 A2 B1 B2; do [ "$(step_of $a)" -gt 0 ] && n=$((n+1)); done
    [ $n -eq 4 ] && break; sleep 0.5
  done
  s0=""; for a in A1 A2 B1 B2; do s0="$s0 $(step_of $a)"; done
  waits_to "$tmp/waits0"
  "$flood" --port $f --to 11 --d $d --cluster benchflood --seconds "$secs" ${FLOOD_MODES:+--modes "$FLOOD_MODES"} \
    --count 100000000 --rate "${RATE:-0}" >"$tmp/flood.out" 2>"$tmp/flood.err" &
  fpid=$!
  ppid=""
  if [ -n "${PROFILE:-}" ]; then
    mkdir -p "$PROFILE"
    threads_of "${pids[@]}" >"$tmp/threads0"
    if [ -n "${PERF:-}" ]; then
      perf record -g -o "$PROFILE/A1.perf.data" -p "${pids[0]}" -- sleep "$secs" >/dev/null 2>"$PROFILE/perf.err" &
      ppid=$!
    fi
  fi
  wait $fpid
  [ -z "${PROFILE:-}" ] || threads_of "${pids[@]}" >"$tmp/threads1"
  sleep 1.5 # a status is at most a second old
  s1=""; for a in A1 A2 B1 B2; do s1="$s1 $(step_of $a)"; done
  waits_to "$tmp/waits1"
  [ -z "$ppid" ] || wait $ppid
  [ -z "${PROFILE:-}" ] || thread_table "$tmp/threads0" "$tmp/threads1" | tee "$PROFILE/threads.txt"
  echo "$s0" >"$tmp/steps0"; echo "$s1" >"$tmp/steps1"
  i=0; for a in A1 A2 B1 B2; do cpu_of "${pids[$i]}" >"$tmp/$a.time"; i=$((i+1)); done
  for p in "${pids[@]}"; do kill -TERM $p 2>/dev/null; done
  for p in "${pids[@]}"; do wait $p || status=1; done
  pids=()
  python3 - "$tmp" "$secs" "$mode" <<'PY' || status=1
import json, sys
tmp, secs, mode = sys.argv[1], sys.argv[2], sys.argv[3]
def summ(n):
    s = json.loads(open(f"{tmp}/{n}.out").read().strip().splitlines()[-1])["summary"]
    s["cpu_s"] = float(open(f"{tmp}/{n}.time").read())
    s["suspended"] = sum("suspended our connection" in line for line in open(f"{tmp}/{n}.err"))
    return s
S = {n: summ(n) for n in ("A1", "A2", "B1", "B2")}
fl = json.loads(open(f"{tmp}/flood.out").read().strip().splitlines()[-1])["flood"]
s0 = list(map(int, open(f"{tmp}/steps0").read().split()))
s1 = list(map(int, open(f"{tmp}/steps1").read().split()))
# the flood window's sync waits (histogram difference): seconds, and rounds that waited
# more than 10 ms / 100 ms / 0.5 s
def waits(f):
    w = {}
    for line in open(f):
        n, k, v = line.split()
        w[(n, k)] = float(v)
    return w
w0, w1 = waits(f"{tmp}/waits0"), waits(f"{tmp}/waits1")
def wd(n, k):
    return w1.get((n, k), 0.0) - w0.get((n, k), 0.0)
def over(n, le):
    return wd(n, "meshdl_sync_wait_seconds_count") - wd(n, f'meshdl_sync_wait_seconds_bucket{{le="{le}"}}')
rate = {n: (s1[i] - s0[i]) / (float(fl["seconds"]) + 1.5) for i, n in enumerate(("A1", "A2", "B1", "B2"))}
print(f"\n{secs} s, --mode {mode}; flood: {fl['messages']} messages in {fl['seconds']} s "
      + "(" + ", ".join(f"{k} {v}" for k, v in fl.items() if k not in ("seconds", "messages")) + ")\n")
print("| agent | flooded | steps/s | vs unflooded | sync wait s (run) | flood: wait s, rounds > 10 ms / 100 ms / 0.5 s | peak RSS MiB | CPU s | MB received | peers seen | suspensions | refused by reason |")
print("|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|")
for n, peer in (("A1", "B1"), ("A2", "B2"), ("B1", None), ("B2", None)):
    s = S[n]
    rej = ", ".join(f"{k} {v}" for k, v in sorted(s.get("rejected_by_reason", {}).items())) or "-"
    print(f"| {n} | {'yes' if n == 'A1' else 'no'} | {rate[n]:.1f} | {rate[n] / rate[peer]:.2f} |" if peer else
          f"| {n} | no | {rate[n]:.1f} | |", end="")
    print(f" {s.get('sync_wait_s', float('nan')):.1f} | {wd(n, 'meshdl_sync_wait_seconds_sum'):.1f}, "
          f"{over(n, '0.01'):.0f} / {over(n, '0.1'):.0f} / {over(n, '0.5'):.0f} |", end="")
    print(f" {s['peak_rss_mb']:.0f} | {s['cpu_s']:.1f} | {s['bytes_received'] / 1e6:.0f} | {s['peers_seen']} | {s['suspended']} | {rej} |")
PY
  # KEEP=1: each round's logs, summaries and statuses stay in $tmp/round$r
  if [ -n "${KEEP:-}" ]; then mkdir -p "$tmp/round$r" && cp "$tmp"/*.out "$tmp"/*.err "$tmp"/*.status "$tmp"/waits? "$tmp/round$r/" 2>/dev/null
    echo "(KEEP: $tmp/round$r)"; fi
done
exit $status
