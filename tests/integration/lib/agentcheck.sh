# Sourced by the `meshdl agent` test scripts (tests/integration/agent_*.sh, tests/lan/*):
# SKIP without Fashion-MNIST, a clean environment (no MESHDL_* or ZSYS_INTERFACE from the
# caller: they would change what the agents do), a temporary directory $tmp and the
# background processes in pids, both cleaned up on exit; then agentnet.sh's helpers.
data=/usr/share/datasets/fashion-mnist
if [ ! -f $data/train-images-idx3-ubyte.gz ]; then echo "SKIP: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"; exit 0; fi
for v in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$v"; done
unset ZSYS_INTERFACE
export OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"' EXIT
# ge A B: A is a number >= B
ge() { awk -v a="${1:-}" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 >= b + 0) }'; }
. "$(dirname "${BASH_SOURCE[0]}")/agentnet.sh" # ok/no, summary_field, step_of, free_ports, peers_of, wait_for
