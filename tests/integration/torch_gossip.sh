#!/usr/bin/env bash
# examples/python/torch_gossip.py: two PyTorch processes gossip their MLP's parameters
# through libmeshdl (ctypes) over TCP on 127.0.0.1, on a subset of Fashion-MNIST. Both
# learn, the synchronous rounds mixed the other's state, and with 2 agents D-PSGD's
# average leaves both with the same model (equal test accuracy). SKIP without
# python3-torch or the data.
set -uo pipefail
bin=${1:?usage: torch_gossip.sh path/to/build/meshdl}
build=$(cd "$(dirname "$bin")" && pwd)
py=/usr/bin/python3
if ! "$py" -c 'import torch, numpy' 2>/dev/null; then echo "SKIP: PyTorch is not installed (apt-get install python3-torch)"; exit 0; fi
data=/usr/share/datasets/fashion-mnist
if [ ! -f $data/train-images-idx3-ubyte.gz ]; then echo "SKIP: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"; exit 0; fi
tmp=$(mktemp -d /tmp/library-torch.XXXXXX); trap 'rm -rf "$tmp"' EXIT
out=$(MESHDL_LIB="$build/libmeshdl.so" timeout 500 "$py" examples/python/torch_gossip.py --agents 2 --epochs 1 \
      --train-subset 6000 --test-subset 2000 2>"$tmp/err"); rc=$?
echo "$out"
"$py" - "$rc" <<PY 2>&1 || { echo "FAIL: $(tail -3 "$tmp/err")"; exit 1; }
import json, sys
rc = int(sys.argv[1])
lines = [json.loads(l)["summary"] for l in """$out""".strip().splitlines()]
assert rc == 0, f"exit {rc}"
agents, total = lines[:-1], lines[-1]
assert len(agents) == 2 and total["agents"] == 2, lines
for s in agents:
    assert s["test_acc"] >= 0.65, f"agent {s['agent']} test_acc {s['test_acc']}"
    # every round mixes the other's state, but for the first one or two: a state sent before
    # the peer's subscription reached us is lost (ZeroMQ's slow joiner), and the round ends
    # at --sync-timeout without it
    assert s["steps"] - 2 <= s["updates_applied"] <= s["steps"], f"agent {s['agent']} mixed {s['updates_applied']} of {s['steps']} rounds"
    # read after mdl_agent_finish, the traffic counters hold every round's bytes
    assert s["bytes_received"] >= s["updates_applied"] * s["params"] * 4, f"agent {s['agent']}: {s['bytes_received']} bytes received for {s['updates_applied']} fp32 states mixed"
assert agents[0]["test_acc"] == agents[1]["test_acc"], "two agents averaging every round end with one model"
print(f"ok - 2 torch agents gossiped through libmeshdl: test_acc {total['test_acc']}, {agents[0]['steps']} rounds each")
PY
