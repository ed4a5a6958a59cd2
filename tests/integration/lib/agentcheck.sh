# Sourced by the `meshdl agent` test scripts (tests/integration/agent_*.sh, tests/lan/*):
# SKIP without Fashion-MNIST, a clean environment (no MESHDL_* or ZSYS_INTERFACE from the
# caller: they would change what the agents do), a temporary directory $tmp and the
# background processes in pids, both cleaned up on exit, pass/fail counting, free ports.
data=/usr/share/datasets/fashion-mnist
if [ ! -f $data/train-images-idx3-ubyte.gz ]; then echo "SKIP: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"; exit 0; fi
for v in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$v"; done
unset ZSYS_INTERFACE
export OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"' EXIT
fail=0; pass=0
ok() { pass=$((pass+1)); echo "ok - $1"; }
no() { fail=$((fail+1)); echo "FAIL - $1"; }
# ge A B: A is a number >= B
ge() { awk -v a="${1:-}" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 >= b + 0) }'; }
# free_ports N: N distinct TCP ports free on 127.0.0.1 right now (the kernel's choice)
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}
# peers_of I PORTS...: the endpoints of every port but the I-th
peers_of() { local i=$1 k=0 out=""; shift; for p in "$@"; do [ $k -ne $i ] && out="$out${out:+,}tcp://127.0.0.1:$p"; k=$((k+1)); done; echo "$out"; }
