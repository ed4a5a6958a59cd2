#!/usr/bin/env bash
# async_rss.sh: what an asynchronous agent holds (issue 14, "an agent process on the MLP
# needs <= 60 MB peak RSS"). Two `meshdl agent` processes on loopback (static peers,
# shards 0/2 and 1/2, the default MLP) train the same short workload once per setting
# of HWMS and once in sync mode; each setting is run ROUNDS times. Prints, per agent, the
# summary's peak_rss_mb, wall_s, test_acc and updates_applied / stale / dropped.
# Every run is bounded by `timeout` (TIMEOUT seconds).
#
# usage: bench/async_rss.sh [BUILD_DIR]                    e.g. bench/async_rss.sh build
# environment: KEEP=1 keeps the agents' output (a directory per run), HWMS (space-separated --hwm-mb values; "default" = no --hwm-mb)
#   ["default 256 8 2"], ROUNDS [1], EPOCHS [3], TIMEOUT [120]
# Exit status: 0 when measured (it does not assert), 1 when a run failed.
set -u
build=${1:-build}
meshdl=$build/meshdl
[ -x "$meshdl" ] || { echo "async_rss.sh: $meshdl not found: cmake --build $build --target meshdl" >&2; exit 1; }
source "$(dirname "$0")/../tests/integration/lib/agentlib.sh"
export OPENBLAS_NUM_THREADS=1
for v in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$v"; done
tmp=$(mktemp -d -t async-rss.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 $p 2>/dev/null; done; wait 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
common=(--train-subset 20000 --test-subset 500 --batch 16 --epochs "${EPOCHS:-3}" --threads 1 --quiet
        --cluster benchasyncrss --min-peers 1 --min-peers-timeout 30)
status=0
runs=0
# run NAME MODE HWM: one pair; prints one line per agent
run() {
  local name=$1 mode=$2 hwm=$3 a b extra=()
  [ "$hwm" = default ] || extra=(--hwm-mb "$hwm")
  read -r a b <<<"$(free_ports 2)"
  runs=$((runs + 1))
  local d="$tmp/$runs"   # each run's output kept apart (KEEP=1 keeps them all)
  mkdir -p "$d"
  pids=()
  timeout "${TIMEOUT:-120}" "$meshdl" agent --id 1 --port $a --peers tcp://127.0.0.1:$b --shard 0/2 \
      --mode "$mode" "${extra[@]}" "${common[@]}" >"$d/1.out" 2>"$d/1.err" & pids+=($!)
  timeout "${TIMEOUT:-120}" "$meshdl" agent --id 2 --port $b --peers tcp://127.0.0.1:$a --shard 1/2 \
      --mode "$mode" "${extra[@]}" "${common[@]}" >"$d/2.out" 2>"$d/2.err" & pids+=($!)
  local rc=0
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  pids=()
  for i in 1 2; do
    if ! tail -n 1 "$d/$i.out" | python3 -c '
import json, sys
s = json.loads(sys.stdin.read())["summary"]
g = lambda k: s.get(k, "?")
print("| %s | %s | %s | %.1f | %.2f | %.3f | %s / %s / %s |" % (sys.argv[1], sys.argv[2], sys.argv[3],
      s["peak_rss_mb"], s["wall_s"], s["test_acc"], g("updates_applied"), g("updates_stale"), g("updates_dropped")))
' "$name" "$mode" "agent $i"; then
      echo "async_rss.sh: $name agent $i failed (rc $rc):" >&2; tail -n 5 "$d/$i.err" >&2; status=1
    fi
  done
}
echo "| --hwm-mb | mode | agent | peak RSS MB | wall s | test acc | updates applied / stale / dropped |"
echo "|---|---|---|---|---|---|---|"
for r in $(seq 1 "${ROUNDS:-1}"); do
  for h in ${HWMS:-default 256 8 2}; do run "$h" async "$h"; done
  run default sync default
done
exit $status
