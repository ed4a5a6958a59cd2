#!/usr/bin/env bash
# bigmodel.sh: a large model with agent processes. P `meshdl agent` processes (static peers
# on 127.0.0.1, ring) train mlp:784-4096-4096-10 (20.1 M parameters, 80 MB per fp32
# message) for a few steps; each reports its peak RSS (printed also as model copies:
# RSS / 4d bytes) and the bytes it received. Raw loopback TCP is measured in the same run,
# before and after the agents (one stream, 80 MB writes, python's socket module: the
# kernel's copy, nothing of ZeroMQ; median of 3 trials each time); "raw" below is the
# mean of the two medians. A second baseline, "raw ring", is the agents' own exchange with
# nothing but the kernel: P processes on a ring each send 80 MB to each ring neighbour and
# receive 80 MB from each, round after round (ROUNDS_RAW [4]), a barrier per round like a
# sync D-PSGD round; its figure is MB received per second by one process (median of the P,
# after the agents). On 2 cores P agents share what one raw stream has to itself, so this
# is the limit an agent's wire goodput can be held to.
#
# Goodput, three ways (MB = 10^6 bytes of payload and frames, as the summaries count them):
#   run:   bytes received / wall_s (ready to exit: bootstrap, evaluation, wind-up included;
#          the old figure);
#   train: bytes received / train_s (the first step's start to the last step's end: compute
#          and waits included), and for the cluster the sum over agents / the union of
#          their training phases (earliest start to latest end);
#   wire:  state bytes sent / wire_busy_s (the seconds ZeroMQ held at least one of the
#          agent's states: queued, or being written to its connections; the transport's
#          busy time as the sender sees it, queueing behind its own earlier states and the
#          receivers' back-pressure included).
# Each agent's threads are sampled from /proc/PID/task/*/schedstat every 0.2 s: CPU s
# (running) and run-queue s (runnable, waiting for a CPU), the last sample of each thread.
#
# usage: bench/bigmodel.sh [BUILD_DIR]                        e.g. bench/bigmodel.sh build
# environment: P (processes) [4], STEPS (steps per agent) [24], MODEL [mlp:784-4096-4096-10],
#   BATCH [16], HWM_MB (--hwm-mb) [256], PORT (first port; P ports from it) [32100],
#   ARGS (more `meshdl agent` options, e.g. --overlap) [none], KEEP=1 keeps the run's directory
#   (outputs, schedstat samples)
# Exit status: 0 when everything was measured, 1 when a run failed.
set -u
build=${1:-build}
p=${P:-4}
steps=${STEPS:-24}
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
poller=
trap 'for q in "${pids[@]}" $poller; do kill -9 "$q" 2>/dev/null; done; wait 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$out"' EXIT
status=0
start=$(date +%s)

# raw loopback TCP, one stream: MB/s of 16 writes of 80 MB, 3 trials; prints "median min max"
# (the load from other jobs moves one trial by 2x on the shared VM)
raw_tcp() {
    python3 - <<'PY'
import socket, threading, time
N, CHUNK = 16, 80 * 1000 * 1000
data = bytes(CHUNK)
def trial():
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
    s = socket.create_connection(srv.getsockname())
    t0 = time.monotonic()
    for _ in range(N): s.sendall(data)
    s.close(); t.join(); dt = time.monotonic() - t0
    srv.close()
    return got[0] / dt / 1e6
r = sorted(trial() for _ in range(3))
print("%.0f %.0f %.0f" % (r[1], r[0], r[2]))
PY
}

echo "== bigmodel: $p agent processes, $model, batch $batch, about $steps steps each, ring, fp32, --hwm-mb $hwm${ARGS:+, $ARGS}"
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cpus, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
# raw ring: P processes exchanging 80 MB states with their ring neighbours over plain TCP;
# prints "median min max" of the processes' received MB/s
raw_ring() {
    P=$p R=${ROUNDS_RAW:-4} python3 - <<'PY'
import multiprocessing as mp, os, socket, threading, time
P, R, CHUNK = int(os.environ["P"]), int(os.environ["R"]), 80 * 1000 * 1000
nb = lambda i: sorted({(i - 1) % P, (i + 1) % P} - {i})
lis = []
for i in range(P):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(P); lis.append(s)
ports = [s.getsockname()[1] for s in lis]
def agent(i, bar, q):
    data = bytes(CHUNK)
    outs = [socket.create_connection(("127.0.0.1", ports[j])) for j in nb(i)]
    ins = [lis[i].accept()[0] for _ in nb(i)]
    def send(c):
        c.sendall(data)
    def recv(c, got):
        buf = bytearray(8 << 20); v = memoryview(buf); left = CHUNK
        while left:
            k = c.recv_into(v[:min(left, len(buf))])
            if not k: raise SystemExit("raw ring: a neighbour hung up")
            left -= k
        got.append(CHUNK)
    bar.wait()
    t0, got = time.monotonic(), []
    for _ in range(R):
        th = [threading.Thread(target=send, args=(c,)) for c in outs] + [threading.Thread(target=recv, args=(c, got)) for c in ins]
        for t in th: t.start()
        for t in th: t.join()
        bar.wait()
    q.put(sum(got) / (time.monotonic() - t0) / 1e6)
bar, q = mp.Barrier(P), mp.Queue()
procs = [mp.Process(target=agent, args=(i, bar, q)) for i in range(P)]
for x in procs: x.start()
r = sorted(q.get(timeout=600) for _ in range(P))
for x in procs: x.join()
print("%.0f %.0f %.0f" % (r[len(r) // 2], r[0], r[-1]))
PY
}

raw1=$(raw_tcp)
rows=$((steps * batch))
ports=(); for ((i = 0; i < p; i++)); do ports+=($((port0 + i))); done
for ((i = 0; i < p; i++)); do
    peers=""; for ((k = 0; k < p; k++)); do [ $k -ne $i ] && peers="$peers${peers:+,}tcp://127.0.0.1:${ports[$k]}"; done
    /usr/bin/time -f "%U %S %M %R" -o "$out/p$i.time" timeout -k 5 900 "$meshdl" agent --port "${ports[$i]}" --peers "$peers" \
        --shard "$i/$p" --min-peers $((p - 1)) --min-peers-timeout 120 --peer-timeout 30 --sync-timeout 120 --topology ring \
        --model "$model" --batch "$batch" --threads 1 --train-subset $((p * rows)) --test-subset 100 --epochs 1 \
        --evals-per-epoch 1 --eval-rows 100 --hwm-mb "$hwm" ${ARGS:-} --quiet >"$out/p$i.out" 2>"$out/p$i.err" &
    pids+=($!)
done
# the agents' threads, sampled until they exit: pid of each meshdl (child of timeout, child of time)
python3 - "$out" "${pids[@]}" <<'PY' &
import json, os, sys, time
out, wrappers = sys.argv[1], sys.argv[2:]
def child(pid):
    try:
        return int(open("/proc/%s/task/%s/children" % (pid, pid)).read().split()[0])
    except Exception:
        return None
agents = [None] * len(wrappers)
last = [dict() for _ in wrappers]  # tid -> (comm, run_ns, wait_ns)
t_end = time.monotonic() + 1000
while time.monotonic() < t_end:
    alive = 0
    for i, w in enumerate(wrappers):
        if agents[i] is None:
            t = child(w)
            agents[i] = child(t) if t else None
        a = agents[i]
        if not a or not os.path.isdir("/proc/%d" % a):
            continue
        alive += 1
        try:
            for tid in os.listdir("/proc/%d/task" % a):
                try:
                    run, wait = open("/proc/%d/task/%s/schedstat" % (a, tid)).read().split()[:2]
                    comm = open("/proc/%d/task/%s/comm" % (a, tid)).read().strip()
                    last[i][tid] = (comm, int(run), int(wait))
                except Exception:
                    pass
        except Exception:
            pass
    if alive == 0 and all(x is not None for x in agents):
        break
    time.sleep(0.2)
json.dump([{tid: v for tid, v in l.items()} for l in last], open(os.path.join(out, "sched.json"), "w"))
PY
poller=$!
for ((i = 0; i < p; i++)); do wait "${pids[$i]}" || { status=1; echo "bigmodel.sh: agent $i failed: $(tail -2 "$out/p$i.err")" >&2; }; done
pids=()
wait $poller
raw2=$(raw_tcp)
ring=$(raw_ring) || { ring="nan nan nan"; status=1; echo "bigmodel.sh: the raw ring failed" >&2; }
python3 - "$out" "$p" "$raw1" "$raw2" "$ring" <<'PY'
import json, os, sys
d, p = sys.argv[1], int(sys.argv[2])
r1, r2 = [float(x) for x in sys.argv[3].split()], [float(x) for x in sys.argv[4].split()]
rr = [float(x) for x in sys.argv[5].split()]
raw = (r1[0] + r2[0]) / 2  # the mean of the two medians
nan = float("nan")
try:
    sched = json.load(open(os.path.join(d, "sched.json")))
except Exception:
    sched = [{} for _ in range(p)]
def pct(x):
    return "%.0f%%" % (100 * x / raw) if raw > 0 and x == x else "-"
def div(a, b):
    return a / b if b and b > 0 else nan
rows, rx_all, t0s, t1s, wire_sum = [], 0.0, [], [], 0.0
for i in range(p):
    try:
        s = json.loads(open(os.path.join(d, "p%d.out" % i)).read().strip().splitlines()[-1])["summary"]
    except Exception as e:
        rows.append("| %d | failed: %s |" % (i, e)); continue
    try:
        u, sy, _, flt = open(os.path.join(d, "p%d.time" % i)).read().split()[-4:]
        cpu, flt = float(u) + float(sy), float(flt)
    except Exception:
        cpu = flt = nan
    th = sched[i] if i < len(sched) else {}
    runq = sum(v[2] for v in th.values()) / 1e9 if th else nan
    io_cpu = sum(v[1] for v in th.values() if v[0].startswith("ZMQbg/IO")) / 1e9 if th else nan
    mb = 4 * s["params"] / 1e6
    rx = s["bytes_received"] / 1e6
    state_tx = s.get("bytes_sent_by_kind", {}).get("state", 0) / 1e6
    tr = s.get("train_s", nan)
    wb = s.get("wire_busy_s", nan)
    g_run, g_train, g_wire = div(rx, s["wall_s"]), div(rx, tr), div(state_tx, wb)
    rx_all += rx
    wire_sum += g_wire if g_wire == g_wire else 0.0
    if s.get("train_start_time") == s.get("train_start_time") and tr == tr:
        t0s.append(s["train_start_time"]); t1s.append(s["train_start_time"] + tr)
    ring_pct = "%.0f%%" % (100 * g_wire / rr[0]) if rr[0] == rr[0] and rr[0] > 0 and g_wire == g_wire else "-"
    rows.append("| %d | %d | %.0f | %.1f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f | %.1f | %.2f | %.0f | %.0f (%s) | %.0f (%s) | %.0f (%s) | %s | %.3f |" % (
        i, s["steps"], s["peak_rss_mb"], s["peak_rss_mb"] / mb, s["startup_s"], s.get("startup_cpu_s", nan),
        s["wall_s"], tr, s.get("sync_wait_s", nan), wb, cpu, runq, io_cpu, rx, g_run, pct(g_run), g_train, pct(g_train),
        g_wire, pct(g_wire), ring_pct, s["test_acc"]))
print()
print("| agent | steps | peak RSS MB | model copies (RSS / 4d) | startup_s | startup CPU s | wall_s | train_s | sync_wait_s | wire_busy_s | CPU s | run-queue s | ZeroMQ I/O CPU s | received MB | goodput run MB/s | goodput train MB/s | goodput wire MB/s | wire / raw ring | test_acc |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print(r)
print()
if t0s:
    win = max(t1s) - min(t0s)
    g = div(rx_all, win)
    print("cluster: %.0f MB received by %d agents in %.2f s of training (earliest first step to latest last step): %.0f MB/s (%s of raw TCP)" % (
        rx_all, p, win, g, pct(g)))
print("sum of the agents' wire goodputs: %.0f MB/s (%s of raw TCP): the transports' rate together while busy if their busy times coincide (sync rounds start them together); more than that rate otherwise" % (
    wire_sum, pct(wire_sum)))
print("raw loopback TCP (one stream, 80 MB writes; median of 3 trials, min-max): %.0f MB/s (%.0f-%.0f) before, %.0f MB/s (%.0f-%.0f) after the agents; %% of raw: of %.0f MB/s, their mean" % (
    r1[0], r1[1], r1[2], r2[0], r2[1], r2[2], raw))
print("raw ring (%d processes, each sending 80 MB to each ring neighbour and receiving as much per round, plain TCP; MB/s received by one process, median of the %d, min-max): %.0f (%.0f-%.0f); 'wire / raw ring' is an agent's wire goodput against its median" % (
    p, p, rr[0], rr[1], rr[2]))
PY
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at end; $(($(date +%s) - start)) s"
exit $status
