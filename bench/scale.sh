#!/usr/bin/env bash
# scale.sh: an agent's cost against the cluster's size. (1) N agents in one `meshdl sim`
# process (bench_sim: the same agents, training measured alone), N = 16 ... 1024, on ring,
# exp and one-peer-exp with a small model: CPU and wall per agent-step, memory per agent,
# connections and mailboxes per agent, set-up time. (2) P `meshdl agent` processes on
# loopback with static peers, P = 4 ... 64, ring: each process's peak RSS, startup_s
# (exec to ready), discovery_s (ready to the first step), connections, CPU per step.
# Prints markdown tables and writes a gnuplot PNG of the per-agent cost against N.
# It builds nothing: build meshdl and bench_sim first (see bench/README.md).
#
# usage: bench/scale.sh [BUILD_DIR]                          e.g. bench/scale.sh build
# environment: SIM_N (agent counts of (1)) [16 64 256 1024], TOPOS [ring exp one-peer-exp],
#   PROC_N (process counts of (2)) [4 16 64], STEPS (steps per agent, about) [48],
#   MODEL [mlp:784-32-10], PORT (first TCP port of (2); P ports from it) [32000],
#   PNG (the plot) [docs/scale.png]
# Exit status: 0 when everything was measured (it measures, it does not assert), 1 when a
# run failed.
set -u
build=${1:-build}
sim_n=${SIM_N:-16 64 256 1024}
topos=${TOPOS:-ring exp one-peer-exp}
proc_n=${PROC_N:-4 16 64}
steps=${STEPS:-48}
model=${MODEL:-mlp:784-32-10}
port0=${PORT:-32000}
png=${PNG:-docs/scale.png}
bench="$build/bench/bench_sim"
meshdl="$build/meshdl"
for f in "$bench" "$meshdl"; do
    if [ ! -x "$f" ]; then
        echo "scale.sh: $f not found; build it first:" >&2
        echo "  cmake -S . -B $build -DCMAKE_BUILD_TYPE=Release && cmake --build $build --target bench_sim meshdl" >&2
        exit 1
    fi
done
for v in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$v"; done
export OPENBLAS_NUM_THREADS=1
out=$(mktemp -d /tmp/mdl-scale.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$out"' EXIT
status=0
start=$(date +%s)
echo "== scale: $model, batch 8, about $steps steps per agent"
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cpus," \
     "$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "build: $build, CMAKE_BUILD_TYPE=$(grep -m1 '^CMAKE_BUILD_TYPE' "$build/CMakeCache.txt" 2>/dev/null | cut -d= -f2)," \
     "$("$meshdl" --version)"
# rows N: training rows per agent, a multiple of 8, at most 400, all N shards within the
# 60 000 rows; epochs R: enough passes over them for about $steps steps
rows() { local r=$((60000 / $1)); [ $r -gt 400 ] && r=400; echo $((r / 8 * 8)); }
epochs() { local spe=$(($1 / 8)); echo $(((steps + spe - 1) / spe)); }
kv() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }
# The data cache is written by the first run that reads the files: warm it first, so
# that no run below pays the gunzip.
"$meshdl" train --model "$model" --epochs 1 --train-subset 64 --test-subset 64 --quiet >/dev/null 2>&1

echo
echo "### N agents in one process (bench_sim, the training alone)"
echo
echo "Command: \`bench_sim --agents N --topology T --model $model --batch 8 --threads 1 --test-subset 100 --train-subset N*ROWS --epochs E\`"
echo "(ROWS = min(400, 60000/N) rows per agent, E passes: about $steps steps)"
echo
echo "| topology | N | steps | CPU µs / agent-step | × first N | CPU µs / agent-step / mailbox | wall µs / agent-step | peak RSS MB | MB / agent | MB / extra agent (vs first N) | connections / agent (max) | mailboxes / agent (max) | buffers / agent (made mid-run) | setup s |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
rm -f "$out"/sim-*.dat
for t in $topos; do
    rss0=""; n0=""; cpu0=""
    for n in $sim_n; do
        r=$(rows "$n"); e=$(epochs "$r")
        if ! line=$("$bench" --agents "$n" --topology "$t" --model "$model" --batch 8 --threads 1 --test-subset 100 \
                    --train-subset $((n * r)) --epochs "$e" 2>"$out/err" | grep '^sim:'); then
            echo "scale.sh: bench_sim --agents $n --topology $t failed: $(tail -3 "$out/err")" >&2
            status=1
            continue
        fi
        cpu=$(kv "$line" cpu_us_per_agent_step); wall=$(kv "$line" wall_us_per_agent_step)
        rss=$(kv "$line" peak_rss_mb); st=$(kv "$line" steps_per_agent); setup=$(kv "$line" setup_s)
        c=$(kv "$line" connections); cm=$(kv "$line" connections_max)
        b=$(kv "$line" mailboxes); bm=$(kv "$line" mailboxes_max)
        bu=$(kv "$line" buffers); bd=$(kv "$line" buffers_on_demand)
        [ "$(kv "$line" failed)" = 0 ] || status=1
        [ -z "$rss0" ] && { rss0=$rss; n0=$n; cpu0=$cpu; }
        extra=$(awk -v a="$rss0" -v b="$rss" -v n0="$n0" -v n="$n" 'BEGIN { if (n == n0) print "-"; else printf "%.2f", (b - a) / (n - n0) }')
        # x first N: the goal's ratio (one-peer-exp within 2x); per mailbox (an in-neighbour
        # of the period): flat across N when the cost follows the degree, not the cluster
        awk -v t="$t" -v n="$n" -v st="$st" -v cpu="$cpu" -v cpu0="$cpu0" -v wall="$wall" -v rss="$rss" -v x="$extra" -v c="$c" -v cm="$cm" \
            -v b="$b" -v bm="$bm" -v bu="$bu" -v bd="$bd" -v s="$setup" \
            'BEGIN { printf "| %s | %d | %d | %.0f | %.2f | %s | %.0f | %.0f | %.2f | %s | %.1f (%d) | %.1f (%d) | %.1f (%.2f) | %.1f |\n", t, n, st, cpu, cpu / cpu0, (b > 0 ? sprintf ("%.0f", cpu / b) : "-"), wall, rss, rss / n, x, c, cm, b, bm, bu, bd, s }'
        echo "$n $cpu $wall $(awk -v r="$rss" -v n="$n" 'BEGIN { print r / n }') $c" >>"$out/sim-$t.dat"
    done
done

echo
echo "### P agent processes on one machine (static peers on 127.0.0.1, ring)"
echo
echo "Command: \`meshdl agent --port PORT --peers (the others) --shard I/P --min-peers P-1 --topology ring --model $model --batch 8 --threads 1 --train-subset P*400 --test-subset 200 --epochs E\`"
echo
echo "| P | steps | peak RSS MB per process (max) | startup_s (max) | discovery_s (max) | wall_s (max) | CPU ms / process | CPU µs / step | connections (max) | test_acc (min) |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
: >"$out/proc.dat"
for p in $proc_n; do
    e=$(epochs 400)
    ports=(); for ((i = 0; i < p; i++)); do ports+=($((port0 + i))); done
    pids=()
    for ((i = 0; i < p; i++)); do
        peers=""; for ((k = 0; k < p; k++)); do [ $k -ne $i ] && peers="$peers${peers:+,}tcp://127.0.0.1:${ports[$k]}"; done
        /usr/bin/time -f "%U %S" -o "$out/p$i.time" timeout -k 5 600 "$meshdl" agent --port "${ports[$i]}" --peers "$peers" \
            --shard "$i/$p" --min-peers $((p - 1)) --min-peers-timeout 120 --peer-timeout 10 --topology ring --model "$model" \
            --batch 8 --threads 1 --train-subset $((p * 400)) --test-subset 200 --epochs "$e" --quiet \
            >"$out/p$i.out" 2>"$out/p$i.err" &
        pids+=($!)
    done
    failed=0
    for ((i = 0; i < p; i++)); do wait "${pids[$i]}" || failed=$((failed + 1)); done
    pids=()
    if [ $failed -gt 0 ]; then
        echo "scale.sh: $failed of $p agent processes failed, e.g.: $(tail -2 "$(grep -l . "$out"/p*.err | head -1)")" >&2
        status=1
    fi
    python3 - "$out" "$p" >>"$out/proc.row" <<'PY'
import json, sys, os
d, p = sys.argv[1], int(sys.argv[2])
S, T = [], []
for i in range(p):
    try:
        S.append(json.loads(open(os.path.join(d, "p%d.out" % i)).read().strip().splitlines()[-1])["summary"])
        u, s = open(os.path.join(d, "p%d.time" % i)).read().split()[-2:]
        T.append(float(u) + float(s))
    except Exception as e:
        tail = lambda f: open(os.path.join(d, f)).read()[-300:].replace("\n", " | ") if os.path.exists(os.path.join(d, f)) else "(none)"
        print("scale.sh: process %d: %s: %r; its stdout ends %r, stderr %r" % (i, type(e).__name__, e, tail("p%d.out" % i), tail("p%d.err" % i)), file=sys.stderr)
if not S:
    print("| %d | failed | | | | | | | | |" % p); sys.exit(0)
mean = lambda k: sum(x[k] for x in S) / len(S)
mx = lambda k: max(x[k] for x in S)
steps = mean("steps")
cpu = sum(T) / len(T) if T else float("nan")
print("| %d%s | %.0f | %.1f (%.1f) | %.3f (%.3f) | %.3f (%.3f) | %.2f (%.2f) | %.0f | %.0f | %.1f (%d) | %.3f |" % (
    p, "" if len(S) == p else " (%d summaries)" % len(S), steps, mean("peak_rss_mb"), mx("peak_rss_mb"),
    mean("startup_s"), mx("startup_s"), mean("discovery_s"), mx("discovery_s"), mean("wall_s"), mx("wall_s"),
    cpu * 1e3, cpu / steps * 1e6 if steps else float("nan"), mean("connections"), mx("connections"),
    min(x["test_acc"] for x in S)))
with open(os.path.join(d, "proc.dat"), "a") as f:
    f.write("%d %.1f %.1f %.3f\n" % (p, cpu / steps * 1e6 if steps else float("nan"), mean("peak_rss_mb"), mean("discovery_s")))
PY
    tail -1 "$out/proc.row"
done

echo
if command -v gnuplot >/dev/null && ls "$out"/sim-*.dat >/dev/null 2>&1; then
    mkdir -p "$(dirname "$png")"
    gnuplot <<EOF 2>"$out/gp.err" || { echo "scale.sh: gnuplot failed: $(cat "$out/gp.err")" >&2; status=1; }
set terminal pngcairo size 1000,420 font ",10"
set output "$png"
set multiplot layout 1,2 title "meshdl: per-agent cost against the number of agents ($model, batch 8)"
set logscale x 2
set xlabel "agents N"
set key top left
set grid
set ylabel "CPU µs per agent-step (training)"
set yrange [0:*]
plot for [t in "$topos"] "$out/sim-".t.".dat" using 1:2 with linespoints title "sim, ".t
set ylabel "peak RSS per agent, MB"
plot for [t in "$topos"] "$out/sim-".t.".dat" using 1:4 with linespoints title "sim, ".t, \
     "$out/proc.dat" using 1:3 with linespoints title "processes (ring), each"
unset multiplot
EOF
    [ -s "$png" ] && echo "plot: $png"
fi
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at end; $(($(date +%s) - start)) s"
exit $status
