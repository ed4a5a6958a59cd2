#!/usr/bin/env bash
# bigmodel.sh: a large model with agent processes. P `meshdl agent` processes (static peers
# on 127.0.0.1, ring) train mlp:784-4096-4096-10 (20.1 M parameters, 80 MB per fp32
# message) for a few steps; each reports its peak RSS (printed also as model copies:
# RSS / 4d bytes) and the bytes it received. Raw loopback TCP is measured in the same run,
# before and after the agents (one stream, 80 MB writes, python's socket module: the
# kernel's copy, nothing of ZeroMQ). Goodput is the model bytes an agent received per
# second of its whole training (compute included: a lower bound of what the transport
# moves while it moves).
#
# usage: bench/bigmodel.sh [BUILD_DIR]                        e.g. bench/bigmodel.sh build
# environment: P (processes) [4], STEPS (steps per agent) [8], MODEL [mlp:784-4096-4096-10],
#   BATCH [16], HWM_MB (--hwm-mb) [256], PORT (first port; P ports from it) [32100]
# Exit status: 0 when everything was measured, 1 when a run failed.
set -u
build=${1:-build}
p=${P:-4}
steps=${STEPS:-8}
model=${MODEL:-mlp:784-4096-4096-10}
batch=${BATCH:-16}
hwm=${HWM_MB:-256}
port0=${PORT:-32100}
meshdl="$build/meshdl"
[ -x "$meshdl" ] || { echo "bigmodel.sh: $meshdl not found; build it first (scripts/build.sh $build)" >&2; exit 1; }
for v in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$v"; done
export OPENBLAS_NUM_THREADS=1
out=$(mktemp -d /tmp/mdl-scale-big.XXXXXX)
pids=()
trap 'for q in "${pids[@]}"; do kill -9 "$q" 2>/dev/null; done; wait 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$out"' EXIT
status=0
start=$(date +%s)

# raw loopback TCP, one stream: MB/s of 16 writes of 80 MB
raw_tcp() {
    python3 - <<'PY'
import socket, threading, time
N, CHUNK = 16, 80 * 1000 * 1000
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
got = [0]
def rx():
    c, _ = srv.accept(); buf = bytearray(8 << 20); v = memoryview(buf)
    while True:
        k = c.recv_into(v)
        if not k: break
        got[0] += k
    c.close()
t = threading.Thread(target=rx); t.start()
s = socket.create_connection(srv.getsockname()); data = bytes(CHUNK)
t0 = time.monotonic()
for _ in range(N): s.sendall(data)
s.close(); t.join(); dt = time.monotonic() - t0
print("%.0f" % (got[0] / dt / 1e6))
PY
}

echo "== bigmodel: $p agent processes, $model, batch $batch, about $steps steps each, ring, fp32, --hwm-mb $hwm"
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cpus, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
raw1=$(raw_tcp)
rows=$((steps * batch))
ports=(); for ((i = 0; i < p; i++)); do ports+=($((port0 + i))); done
for ((i = 0; i < p; i++)); do
    peers=""; for ((k = 0; k < p; k++)); do [ $k -ne $i ] && peers="$peers${peers:+,}tcp://127.0.0.1:${ports[$k]}"; done
    /usr/bin/time -f "%U %S %M %R" -o "$out/p$i.time" timeout -k 5 900 "$meshdl" agent --port "${ports[$i]}" --peers "$peers" \
        --shard "$i/$p" --min-peers $((p - 1)) --min-peers-timeout 120 --peer-timeout 30 --sync-timeout 120 --topology ring \
        --model "$model" --batch "$batch" --threads 1 --train-subset $((p * rows)) --test-subset 100 --epochs 1 \
        --evals-per-epoch 1 --eval-rows 100 --hwm-mb "$hwm" --quiet >"$out/p$i.out" 2>"$out/p$i.err" &
    pids+=($!)
done
for ((i = 0; i < p; i++)); do wait "${pids[$i]}" || { status=1; echo "bigmodel.sh: agent $i failed: $(tail -2 "$out/p$i.err")" >&2; }; done
pids=()
raw2=$(raw_tcp)
python3 - "$out" "$p" "$raw1" "$raw2" <<'PY'
import json, os, sys
d, p, raw1, raw2 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
raw = (raw1 + raw2) / 2
print()
print("| agent | steps | params | peak RSS MB | model copies (RSS / 4d) | wall_s | startup_s | CPU s / step | minor faults / step | sent MB | received MB | goodput MB/s | % of raw TCP | test_acc |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for i in range(p):
    try:
        s = json.loads(open(os.path.join(d, "p%d.out" % i)).read().strip().splitlines()[-1])["summary"]
    except Exception as e:
        print("| %d | failed: %s | | | | | | | | | | | | |" % (i, e)); continue
    try:
        u, sy, _, flt = open(os.path.join(d, "p%d.time" % i)).read().split()[-4:]
        cpu, flt = float(u) + float(sy), float(flt)
    except Exception:
        cpu = flt = float("nan")
    mb = 4 * s["params"] / 1e6
    rx = s["bytes_received"] / 1e6
    gp = rx / s["wall_s"] if s["wall_s"] > 0 else float("nan")
    st = max(s["steps"], 1)
    print("| %d | %d | %d | %.0f | %.1f | %.2f | %.2f | %.2f | %.0f | %.0f | %.0f | %.0f | %.0f%% | %.3f |" % (
        i, s["steps"], s["params"], s["peak_rss_mb"], s["peak_rss_mb"] / mb, s["wall_s"], s["startup_s"], cpu / st,
        flt / st, s["bytes_sent"] / 1e6, rx, gp, 100 * gp / raw, s["test_acc"]))
print()
print("raw loopback TCP (one stream, 80 MB writes): %.0f MB/s before, %.0f MB/s after the agents" % (raw1, raw2))
PY
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at end; $(($(date +%s) - start)) s"
exit $status
