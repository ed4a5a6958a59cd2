#!/usr/bin/env bash
# compare_netns.sh [MESHDL]: the compose recipe's default run (4 agents, --shard auto,
# --min-peers 3, 2 epochs of 12000 Fashion-MNIST rows, batch 16, 1 thread) as 4 plain
# `meshdl agent` processes in network namespaces (examples/lan/netns.sh, as root), to set
# its accuracy and bytes beside the containers'. Prints one line per agent and a total.
# Beacons stay on the namespaces' bridge; everything is removed on exit.
set -u
bin=$(realpath "${1:-build/meshdl}")
here=$(cd "$(dirname "$0")" && pwd)
netns=$here/../lan/netns.sh
P=mdlcmp$$
T=$(mktemp -d "${TMPDIR:-/tmp}/compare_netns.XXXXXX")
trap 'bash "$netns" down $P; rm -rf "$T"' EXIT
bash "$netns" up $P 4 10.213.9 || exit 2
mkdir -p "$T/r"
t0=$(date +%s.%N)
for i in 1 2 3 4; do
    bash "$netns" exec $P $i env OPENBLAS_NUM_THREADS=1 "$bin" agent --interface mdl0 --shard auto --min-peers 3 \
        --min-peers-timeout 120 --epochs 2 --train-subset 12000 --test-subset 2000 --batch 16 --threads 1 \
        --progress 10 --results "$T/r" >"$T/a$i.out" 2>"$T/a$i.err" &
done
wait
python3 - "$T/r" "$t0" <<'PY'
import glob, json, sys
rows = [json.loads(open(f).read())["summary"] for f in sorted(glob.glob(sys.argv[1] + "/*/summary.json"))]
t0 = float(sys.argv[2])
for s in rows:
    print("agent %s shard %d/%d test_acc %.4f bytes_sent %d peers_seen %d status %s first step %.1f s after start"
          % (s["agent"], s["shard"], s["shards"], s["test_acc"], s["bytes_sent"], s["peers_seen"], s["status"],
             (s["first_step_time"] or 0) - t0))
print("total bytes_sent %d, mean test_acc %.4f, agents %d" % (sum(s["bytes_sent"] for s in rows),
      sum(s["test_acc"] for s in rows) / max(len(rows), 1), len(rows)))
PY
