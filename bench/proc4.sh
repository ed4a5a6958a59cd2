#!/usr/bin/env bash
# proc4.sh: the 4-process workload side by side (issue 14: whole run <= 2.2 s, <= 0.25x of
# a Python D-PSGD over ZeroMQ). Each round runs both sides once, in alternating order:
#   meshdl: 4 `meshdl agent` processes, static peers on 127.0.0.1, ring, --shard I/4,
#           --id I+1 (the ring follows the ids: I's neighbours are I-1 and I+1, as the
#           reference's ranks; by default an id comes from the host name and pid, and
#           the ring's order, so the accuracy, changed from run to run),
#           --min-peers 3, 1 epoch of batch 64, plain SGD lr 0.05 constant, full
#           Fashion-MNIST, --threads T;
#   python: 4 bench/proc4_ref.py processes (torch + pyzmq, PUB/SUB, the same model, init,
#           shards, steps, mixing weights 1/3; torch.set_num_threads(T)).
# Whole run = from the first exec to the last exit (the four are started back to back).
# Also each side's CPU time (user + system of the four, /usr/bin/time: what a shared
# machine's load does not inflate), startup_s / discovery_s / wall_s (max of the four), the
# time from the last one ready to the last first step (the wait for peers once all are up),
# the test accuracy (min-max of the four), the peak RSS (max, from wait4 via /usr/bin/time, both
# sides alike) and the load average before each run. Prints the runs, then a table of medians [ranges].
# Loopback only; every process under `timeout`; leftovers killed on exit.
#
# usage: bench/proc4.sh [BUILD_DIR]          e.g. bench/proc4.sh build
# environment: ROUNDS [5], THREADS (BLAS threads per process, both sides) [1],
#   PORT (first of 8 TCP ports) [35000], PYTHON [/usr/bin/python3], TIMEOUT (s per run) [120],
#   AGENT_OPTS (more options for the meshdl side, e.g. --final-merge) [],
#   SEED (both sides' --seed: initial model, shards, batch order) [1],
#   KEEP=1 keeps the outputs (their directory is printed)
# Exit status: 0 when every run completed (it measures, it does not assert); 1 when a run
# failed; 3 when torch's BLAS is not OpenBLAS (netlib's reference BLAS would make the
# comparison meaningless; the machine's alternatives are not changed).
set -u
build=${1:-build}
rounds=${ROUNDS:-5}
threads=${THREADS:-1}
port0=${PORT:-35000}
py=${PYTHON:-/usr/bin/python3}
tmo=${TIMEOUT:-120}
seed=${SEED:-1}
read -r -a agent_opts <<<"${AGENT_OPTS:-}"
here=$(cd "$(dirname "$0")" && pwd)
meshdl="$build/meshdl"
ref="$here/proc4_ref.py"
if [ ! -x "$meshdl" ]; then
    echo "proc4.sh: $meshdl not found; build it first:" >&2
    echo "  cmake -S . -B $build -DCMAKE_BUILD_TYPE=Release && cmake --build $build --target meshdl" >&2
    exit 1
fi
for f in /usr/bin/time "$py"; do
    [ -x "$f" ] || { echo "proc4.sh: $f not found (apt-get install time python3-torch python3-zmq)" >&2; exit 1; }
done
"$py" -c 'import torch, zmq' 2>/dev/null \
    || { echo "proc4.sh: $py cannot import torch and zmq (apt-get install python3-torch python3-zmq)" >&2; exit 1; }
for v in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$v"; done
export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
out=$(mktemp -d /tmp/mdl-proc4.XXXXXX)
pids=()
# A run's process and what it started (/usr/bin/time -> timeout -> the peer): by pid.
tree() { local c; for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do tree "$c"; done; echo "$1"; }
cleanup() {
    local all=() p
    for p in "${pids[@]}"; do all+=($(tree "$p")); done
    [ ${#all[@]} -gt 0 ] && { kill -TERM "${all[@]}" 2>/dev/null; sleep 1; kill -KILL "${all[@]}" 2>/dev/null; }
    wait 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then echo "outputs kept in $out"; else rm -rf "$out"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM # the EXIT trap then ends the run's processes too
load() { cut -d' ' -f1 /proc/loadavg; }
now() { date +%s.%N; }

echo "== proc4: 4 processes, ring, 1 epoch of batch 64, SGD lr 0.05, full Fashion-MNIST, BLAS threads $threads, seed $seed${AGENT_OPTS:+, meshdl also $AGENT_OPTS}"
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(grep -c ^processor /proc/cpuinfo) cpus," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "build: $build, CMAKE_BUILD_TYPE=$(grep -m1 '^CMAKE_BUILD_TYPE' "$build/CMakeCache.txt" 2>/dev/null | cut -d= -f2)," \
     "$("$meshdl" --version)"
echo "meshdl BLAS: $(ldd "$meshdl" | awk '/blas/ { print $1, "=>", $3 }' | tr '\n' ' ')"
# Which BLAS torch calls: the alternative as it is (never changed here) and the library
# behind sgemm_ in a torch process (bench/torch_step.py's check; exit 3 for netlib's).
echo "libblas.so.3 alternative: $(update-alternatives --display libblas.so.3-x86_64-linux-gnu 2>/dev/null \
    | grep -m1 'currently points to' | sed 's/^ *//')"
"$py" "$ref" --check-blas --threads "$threads" >"$out/blas" 2>&1
brc=$?
sed 's/^/  /' "$out/blas"
if [ $brc -ne 0 ]; then
    echo "proc4.sh: torch's BLAS is not OpenBLAS (exit $brc): no comparison made. The alternative is left as it is;" >&2
    echo "  update-alternatives --config libblas.so.3-x86_64-linux-gnu selects OpenBLAS if you want it." >&2
    exit 3
fi

# side NAME RUN: starts the 4 processes of one side back to back, waits for all; writes
# RUN.whole (seconds from the first exec to the last exit), RUN.load, RUN.pI.{out,err,time}
side() {
    local name=$1 run=$2 base i k peers t0 t1 failed=0
    base=$port0; [ "$name" = python ] && base=$((port0 + 4))
    echo "$(load)" >"$run.load"
    pids=()
    t0=$(now)
    for i in 0 1 2 3; do
        if [ "$name" = meshdl ]; then
            peers=""; for k in 0 1 2 3; do [ $k -ne $i ] && peers="$peers${peers:+,}tcp://127.0.0.1:$((base + k))"; done
            /usr/bin/time -f "%e %M %U %S" -o "$run.p$i.time" timeout -k 5 "$tmo" "$meshdl" agent \
                --id $((i + 1)) --port $((base + i)) --peers "$peers" --shard "$i/4" --min-peers 3 --topology ring \
                --epochs 1 --batch 64 --optimizer sgd --lr 0.05 --schedule constant --threads "$threads" --seed "$seed" --quiet \
                ${agent_opts[@]+"${agent_opts[@]}"} \
                >"$run.p$i.out" 2>"$run.p$i.err" &
        else
            /usr/bin/time -f "%e %M %U %S" -o "$run.p$i.time" timeout -k 5 "$tmo" "$py" "$ref" \
                --rank "$i" --world 4 --port "$base" --epochs 1 --batch 64 --lr 0.05 --threads "$threads" \
                --seed "$seed" --timeout "$((tmo / 2))" >"$run.p$i.out" 2>"$run.p$i.err" &
        fi
        pids+=($!)
    done
    for i in 0 1 2 3; do wait "${pids[$i]}" || failed=$((failed + 1)); done
    t1=$(now)
    pids=()
    echo "$t0 $t1" | awk '{ printf "%.3f\n", $2 - $1 }' >"$run.whole"
    if [ $failed -gt 0 ]; then
        echo "proc4.sh: $name: $failed of 4 processes failed, e.g.: $(tail -2 "$(grep -l . "$run".p*.err | head -1)" 2>/dev/null)" >&2
        return 1
    fi
}

status=0
# One unmeasured run of each side first: meshdl writes its data cache (the gunzip is
# paid once per machine), and both sides' libraries come into the page cache.
echo "warm-up: one run of each side (not counted)"
side meshdl "$out/warm-m" || status=1
side python "$out/warm-p" || status=1
echo
echo "| round | side | whole run s | CPU s (4 processes) | startup_s (max) | discovery_s (max) | last ready to last first step s | wall_s (max) | test_acc (min-max) | peak RSS MB (max) | load before |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for ((r = 1; r <= rounds; r++)); do
    if [ $((r % 2)) = 1 ]; then order="meshdl python"; else order="python meshdl"; fi
    for s in $order; do
        side "$s" "$out/r$r-$s" || status=1
        "$py" - "$out/r$r-$s" "$r" "$s" <<'PY'
import json, sys
run, r, s = sys.argv[1:4]
S, rss, cpu = [], [], 0.0
for i in range(4):
    try:
        S.append(json.loads(open("%s.p%d.out" % (run, i)).read().strip().splitlines()[-1])["summary"])
    except Exception:
        pass
    try:
        t = open("%s.p%d.time" % (run, i)).read().split()[-4:]  # elapsed, max RSS KB, user, system
        rss.append(float(t[1]) / 1024.0)
        cpu += float(t[2]) + float(t[3])
    except Exception:
        pass
whole = float(open(run + ".whole").read())
load = open(run + ".load").read().strip()
# a figure an agent could not give (discovery_s of one that never trained) is null
num = lambda v: v if isinstance(v, (int, float)) else float("nan")
mx = lambda k: max((num(x.get(k)) for x in S), default=float("nan"))
# the wait for peers once all are up: last first step - last ready, both counted from the
# side's first exec (the four are exec'd within milliseconds of each other)
meet = max((num(x.get("startup_s")) + num(x.get("discovery_s")) for x in S), default=float("nan")) - mx("startup_s")
acc = [x["test_acc"] for x in S]
print("| %s | %s | %.3f | %.2f | %.3f | %.3f | %.3f | %.3f | %s | %.0f | %s |" % (
    r, s, whole, cpu, mx("startup_s"), mx("discovery_s"), meet, mx("wall_s"),
    "%.4f-%.4f" % (min(acc), max(acc)) if len(acc) == 4 else "%d of 4 summaries" % len(acc),
    max(rss) if rss else float("nan"), load))
with open(run + ".row", "w") as f:
    json.dump({"side": s, "whole": whole, "cpu": cpu, "startup": mx("startup_s"), "discovery": mx("discovery_s"), "meet": meet,
               "wall": mx("wall_s"), "acc": acc, "rss": max(rss) if rss else None, "load": float(load),
               "ok": len(S) == 4}, f)
PY
    done
done

echo
"$py" - "$out" "$rounds" <<'PY'
import json, os, statistics as st, sys
out, rounds = sys.argv[1], int(sys.argv[2])
R = {}
for r in range(1, rounds + 1):
    for s in ("meshdl", "python"):
        p = os.path.join(out, "r%d-%s.row" % (r, s))
        if os.path.exists(p):
            R[(r, s)] = json.load(open(p))
def col(s, k):
    return [v[k] for (r, side), v in sorted(R.items()) if side == s and v["ok"]]
def mr(v, f="%.2f"):
    return ("%s [%s-%s]" % (f % st.median(v), f % min(v), f % max(v))) if v else "-"
both = [r for r in range(1, rounds + 1)
        if (r, "meshdl") in R and (r, "python") in R and R[(r, "meshdl")]["ok"] and R[(r, "python")]["ok"]]
ratios = [R[(r, "meshdl")]["whole"] / R[(r, "python")]["whole"] for r in both]
cratios = [R[(r, "meshdl")]["cpu"] / R[(r, "python")]["cpu"] for r in both]
acc = {s: [a for v in col(s, "acc") for a in v] for s in ("meshdl", "python")}
loads = [v["load"] for v in R.values()]
print("Medians [min-max] over %d rounds (ratios: per round, meshdl / python; CPU: user + system of the 4):" % rounds)
print()
print("| side | whole run s | meshdl / python | CPU s (4 processes) | meshdl / python | startup_s (max) | discovery_s (max) | last ready to last first step s | wall_s (max) | test_acc (all 4 x rounds) | peak RSS MB (max) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for s in ("meshdl", "python"):
    a = acc[s]
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        s, mr(col(s, "whole")), mr(ratios) if s == "meshdl" else "1", mr(col(s, "cpu")),
        mr(cratios) if s == "meshdl" else "1", mr(col(s, "startup"), "%.3f"),
        mr(col(s, "discovery"), "%.3f"), mr(col(s, "meet"), "%.3f"), mr(col(s, "wall")),
        ("%.4f [%.4f-%.4f]" % (st.median(a), min(a), max(a))) if a else "-", mr(col(s, "rss"), "%.0f")))
print()
if loads:
    print("load average before the runs: %.1f-%.1f (2 cores)" % (min(loads), max(loads)))
PY
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at end"
exit $status
