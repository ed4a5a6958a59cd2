#!/usr/bin/env bash
# Soak: N agents (8) on loopback train for DURATION seconds (1800) with static peers, and
# every SAMPLE seconds (10) each agent's resident set (VmRSS), open file descriptors
# (/proc/PID/fd), step and thread heartbeats (its --status file) are sampled. At the end:
# per agent, RSS and fd growth from the end of warm-up (the first quarter) to the end, and
# the step rate of each quarter; fails (exit 1) when RSS or fds grew by 5% or more, a
# step rate fell below half of the second quarter's, `meshdl status` found an agent
# unhealthy while it trained (a stuck thread, a stale status), or an agent exited
# non-zero. Not CI: 30 minutes by default; CI runs the 2-minute version with 4 agents
# (tests/integration/soak_short.sh: DURATION=120 N=4 SAMPLE=5 RATES=0). RATES=0 leaves the
# step rates out of the verdict (printed still): on a shared machine they follow the load.
#   bench/soak.sh build/meshdl            # DURATION=1800 N=8 SAMPLE=10 RATES=1
set -uo pipefail
bin=${1:?usage: bench/soak.sh path/to/meshdl}
N=${N:-8}; DURATION=${DURATION:-1800}; SAMPLE=${SAMPLE:-10}; RATES=${RATES:-1}
data=/usr/share/datasets/fashion-mnist
[ -f $data/train-images-idx3-ubyte.gz ] || { echo "SKIP: Fashion-MNIST not installed"; exit 0; }
for v in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$v"; done
export OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/soak-reliability.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill -9 $p 2>/dev/null; done; wait 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
. "$(dirname "$0")/../tests/integration/lib/agentnet.sh"
read -r -a ports <<<"$(free_ports "$N")"
# Far more epochs than the run lasts: the agents are stopped with SIGTERM at DURATION.
for i in $(seq 0 $((N-1))); do
  "$bin" agent --port "${ports[$i]}" --peers "$(peers_of "$i" "${ports[@]}")" --shard "$i/$N" --min-peers 1 \
    --model mlp:784-64-10 --train-subset 16000 --test-subset 500 --batch 16 --epochs 100000 --threads 1 --quiet \
    --topology ring --status "$tmp/s$i.json" >"$tmp/o$i" 2>"$tmp/e$i" &
  pids+=($!)
done
echo "# $N agents, ${DURATION} s, a sample every ${SAMPLE} s; samples in $tmp/samples.tsv"
printf 't\tagent\trss_kb\tfds\tstep\tworker_s\tcomm_s\thealth\n' >"$tmp/samples.tsv"
t0=$(date +%s)
while :; do
  now=$(( $(date +%s) - t0 )); [ $now -ge "$DURATION" ] && break
  sleep "$SAMPLE"
  now=$(( $(date +%s) - t0 ))
  # one python for every agent's status (a python per agent made a round ~58 s at load 10)
  mapfile -t beats < <(python3 - "$tmp" "$N" <<'PY'
import json, sys
for i in range(int(sys.argv[2])):
    try:
        d = json.load(open(f"{sys.argv[1]}/s{i}.json")); print(d.get("step", 0), d.get("worker_s"), d.get("comm_s"))
    except Exception:
        print("0 None None")
PY
)
  for i in $(seq 0 $((N-1))); do
    p=${pids[$i]}
    rss=$(awk '/^VmRSS/ {print $2}' /proc/$p/status 2>/dev/null || echo 0)
    fds=$(ls /proc/$p/fd 2>/dev/null | wc -l)
    read -r st ws cs <<<"${beats[$i]:-0 None None}"
    h=$("$bin" status "$tmp/s$i.json" >/dev/null 2>&1 && echo ok || echo sick)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$now" "$i" "${rss:-0}" "$fds" "$st" "$ws" "$cs" "$h" >>"$tmp/samples.tsv"
  done
done
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
rcs=(); for p in "${pids[@]}"; do wait "$p"; rcs+=($?); done; pids=()
python3 - "$tmp/samples.tsv" "$RATES" "${rcs[@]}" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
check_rates = sys.argv[2] != "0"
rcs = [int(x) for x in sys.argv[3:]]
fails = [f"agent {i} exit {r}" for i, r in enumerate(rcs) if r != 0]
by = {}
for r in rows:
    by.setdefault(int(r["agent"]), []).append(r)
print("agent  rss_kb warm->end (growth)  fds warm->end  steps/s per quarter  max worker_s/comm_s  sick samples")
for a, rs in sorted(by.items()):
    rs.sort(key=lambda r: int(r["t"]))
    T = int(rs[-1]["t"]); q = [r for r in rs if int(r["t"]) >= T / 4]
    if len(q) < 2:
        fails.append(f"agent {a}: too few samples after warm-up ({len(q)})"); continue
    w, e = q[0], q[-1]
    rg = (int(e["rss_kb"]) - int(w["rss_kb"])) / max(1, int(w["rss_kb"]))
    fg = (int(e["fds"]) - int(w["fds"])) / max(1, int(w["fds"]))
    rates = []
    for k in range(4):
        lo, hi = T * k / 4, T * (k + 1) / 4
        s = [r for r in rs if lo <= int(r["t"]) <= hi]
        rates.append((int(s[-1]["step"]) - int(s[0]["step"])) / max(1, int(s[-1]["t"]) - int(s[0]["t"])) if len(s) > 1 else float("nan"))
    beats = [float(r[k]) for r in rs for k in ("worker_s", "comm_s") if r[k] not in ("None", "")]
    sick = sum(1 for r in rs if r["health"] != "ok" and int(r["step"]) > 0)
    print(f"{a:5d}  {w['rss_kb']}->{e['rss_kb']} ({rg:+.1%})  {w['fds']}->{e['fds']}  "
          + " ".join(f"{x:.1f}" for x in rates) + f"  {max(beats) if beats else float('nan'):.2f}  {sick}")
    if rg >= 0.05: fails.append(f"agent {a}: RSS grew {rg:.1%}")
    if fg >= 0.05: fails.append(f"agent {a}: fds grew {fg:.1%}")
    if check_rates and rates[1] == rates[1] and rates[3] == rates[3] and rates[3] < rates[1] / 2:
        fails.append(f"agent {a}: step rate fell from {rates[1]:.1f} to {rates[3]:.1f}/s")
    if sick: fails.append(f"agent {a}: unhealthy in {sick} samples")
print(("FAIL " + "; ".join(fails)) if fails else "soak ok: RSS and fds flat after warm-up, "
      + ("step rates steady, " if check_rates else "(step rates not judged), ") + "every agent healthy")
sys.exit(1 if fails else 0)
PY
