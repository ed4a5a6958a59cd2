#!/usr/bin/env bash
# The --config examples (examples/configs/*.cfg, one per subcommand) load and run: each
# file's options reach the run (its summary says so), shortened from the command line,
# which wins over the file; relative paths in a file are taken from the working directory.
set -uo pipefail
bin=$(realpath "${1:?usage: cli_configs.sh path/to/meshdl}")
root=$(cd "$(dirname "$0")/../.." && pwd)
data=/usr/share/datasets/fashion-mnist
if [ ! -f $data/train-images-idx3-ubyte.gz ]; then echo "SKIP: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"; exit 0; fi
for v in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$v"; done
unset ZSYS_INTERFACE
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fail=0; pass=0
ok() { pass=$((pass+1)); echo "ok - $1"; }
no() { fail=$((fail+1)); echo "FAIL - $1"; }
# has NAME 'python expression over s (the summary)'
has() {
    python3 -c 'import json,sys; s=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["summary"]; sys.exit(0 if eval(sys.argv[2]) else 1)' "$1.out" "$2" 2>/dev/null
}
short=(--train-subset 2000 --test-subset 300 --threads 1 --quiet)
cfgs=$(ls "$root"/examples/configs/*.cfg | xargs -n1 basename | tr '\n' ' ')
[ "$cfgs" = "agent.cfg sim.cfg train.cfg " ] && ok "one example per subcommand: $cfgs" || no "examples/configs: $cfgs"

"$bin" train --config "$root/examples/configs/train.cfg" --epochs 1 "${short[@]}" >train.out 2>train.err; rc=$?
[ $rc -eq 0 ] && has train 's["batch"] == 64 and s["model"] == "mlp:784-256-128-10" and s["test_acc"] > 0.6' \
    && [ -s train-metrics.jsonl ] && [ -s train.ckpt ] \
    && ok "train.cfg: batch 64 and the MLP from the file, metrics and checkpoint in the working directory" \
    || no "train.cfg: exit $rc $(tail -2 train.err) $(tail -1 train.out)"

"$bin" sim --config "$root/examples/configs/sim.cfg" --epochs 1 "${short[@]}" >sim.out 2>sim.err; rc=$?
[ $rc -eq 0 ] && has sim 's["agents"] == 8 and s["codec"] == "topk:0.01" and s["error_feedback"] and s["batch"] == 8 and s["topology"] == "ring"' \
    && [ -s sim-metrics.jsonl ] && [ -s sim.ckpt ] \
    && ok "sim.cfg: 8 agents, ring, topk:0.01 with error feedback, metrics and checkpoint" \
    || no "sim.cfg: exit $rc $(tail -2 sim.err) $(tail -1 sim.out)"

mkdir results
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
timeout -k 5 120 "$bin" agent --config "$root/examples/configs/agent.cfg" --peers "tcp://127.0.0.1:$port" --shard 0/1 \
    --min-peers 0 --epochs 1 "${short[@]}" >agent.out 2>agent.err; rc=$?
[ $rc -eq 0 ] && has agent 's["batch"] == 16 and s["topology"] == "ring" and s["codec"] == "fp32"' \
    && [ -s "results/$(python3 -c 'import json,sys; print(json.loads(open("agent.out").read().strip().splitlines()[-1])["summary"]["agent"])')/summary.json" ] \
    && ok "agent.cfg: batch 16, ring, results/<id>/ written (its interface unused with --peers)" \
    || no "agent.cfg: exit $rc $(tail -2 agent.err) $(tail -1 agent.out)"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
