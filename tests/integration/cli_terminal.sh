#!/usr/bin/env bash
# The progress line on a terminal (a pseudo-terminal from script(1)): redrawn in place,
# and event lines (--log -) are written on a line of their own, the drawn line cleared
# before and redrawn after, never glued onto it; a run in a background job of the
# terminal (several agents started with & on one terminal) prints plain lines, no redraw.
set -uo pipefail
bin=$(realpath "${1:?usage: cli_terminal.sh path/to/meshdl}")
data=/usr/share/datasets/fashion-mnist
if [ ! -f $data/train-images-idx3-ubyte.gz ]; then echo "SKIP: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"; exit 0; fi
command -v script >/dev/null || { echo "SKIP: script(1) not installed (apt-get install bsdutils)"; exit 0; }
for v in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$v"; done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0; pass=0
ok() { pass=$((pass+1)); echo "ok - $1"; }
no() { fail=$((fail+1)); echo "FAIL - $1"; }
run=("$bin" sim --agents 3 --epochs 1 --train-subset 3000 --test-subset 300 --threads 1 --log - --final-merge)

# In the foreground: redraws, and the final merge's event lines while the line is drawn.
script -qfec "${run[*]}" "$tmp/fg.txt" >/dev/null 2>&1; rc=$?
python3 - "$tmp/fg.txt" <<'PY' && ok "foreground: $(cat "$tmp/fg.said")" || no "foreground: $(cat "$tmp/fg.said")"
import re, sys
raw = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
said = open(sys.argv[1][:-len("fg.txt")] + "fg.said", "w")
# What a reader sees of each line: the text after its last carriage return.
seen = [l.rstrip("\r").split("\r")[-1] for l in raw.split("\n")]
events = [l for l in seen if "final merge" in l]
glued = [l for l in seen if re.search(r"(sent [0-9.]+ MB|s  \(final\)|acc [0-9.]+).*agent [0-9]+:", l)]
redraws = len(re.findall(r"\r(?!\n)", raw))
bad = []
if redraws < 2: bad.append("no redraws (%d)" % redraws)
if len(events) != 3: bad.append("%d final merge lines seen: %s" % (len(events), events))
if any(not l.startswith("agent ") for l in events): bad.append("event lines not at a line start: %s" % events)
if glued: bad.append("glued: %s" % glued)
said.write("; ".join(bad) if bad else "%d redraws, 3 event lines each on its own line" % redraws)
sys.exit(1 if bad else 0)
PY
# In a background job of the terminal (job control on): plain lines only.
script -qfec "bash -c 'set -m; ${run[*]} & wait \$!'" "$tmp/bg.txt" >/dev/null 2>&1
python3 - "$tmp/bg.txt" <<'PY' && ok "background job: plain lines, no redraw" || no "background job redraws: $(head -c 300 "$tmp/bg.txt" | cat -A)"
import re, sys
raw = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
sys.exit(0 if "avg-model acc" in raw and not re.search(r"\r(?!\n)", raw) else 1)
PY
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
