#!/usr/bin/env bash
# Errors that name what to change: one line on stderr, exit 2, for the mistakes a newcomer
# makes (an endpoint without tcp://, a port in use, an interface that is not there, a typo
# of a command, an option, a value or a MESHDL_ variable), while MESHDL_* variables that
# belong to other commands or to the recipes do not break a command; `netns.sh up` twice
# (as root) says the namespaces exist.
set -uo pipefail
bin=${1:?usage: cli_errors.sh path/to/meshdl}
data=/usr/share/datasets/fashion-mnist
if [ ! -f $data/train-images-idx3-ubyte.gz ]; then echo "SKIP: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"; exit 0; fi
for v in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$v"; done
unset ZSYS_INTERFACE
tmp=$(mktemp -d); holder=""; ns=""
trap '[ -n "$holder" ] && kill $holder 2>/dev/null; [ -n "$ns" ] && examples/lan/netns.sh down "$ns"; rm -rf "$tmp"' EXIT
fail=0; pass=0
ok() { pass=$((pass+1)); echo "ok - $1"; }
no() { fail=$((fail+1)); echo "FAIL - $1"; }
# says DESCRIPTION 'PATTERN' CMD...: exit 2, one line on stderr matching PATTERN (grep -E)
says() {
    local what=$1 pat=$2; shift 2
    err=$(timeout 60 "$@" 2>&1 >/dev/null); rc=$?
    [ $rc -eq 2 ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && echo "$err" | grep -Eq -- "$pat" && ok "$what: $err" \
        || no "$what -> rc=$rc '$err'"
}
says "--peers without tcp://" "write tcp://127\.0\.0\.1:47001" "$bin" agent --peers 127.0.0.1:47001
says "--peers with a bad port" "not tcp://HOST:PORT" "$bin" agent --peers tcp://127.0.0.1:99999
says "--interface that is not there" "--interface eth99: no such network interface here \(there are: lo" \
    "$bin" agent --interface eth99
# a port some other process listens on
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("0.0.0.0", 0)); s.listen(1); print(s.getsockname()[1], flush=True); time.sleep(120)' >"$tmp/port" &
holder=$!
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
port=$(cat "$tmp/port")
says "--port in use" "--port $port: cannot bind tcp://\*:$port: address in use" "$bin" agent --port "$port" --peers tcp://127.0.0.1:9
says "a command typo" "unknown command 'simm', did you mean sim\?" "$bin" simm
says "an option typo" "unknown option '--epoch', did you mean --epochs\?" "$bin" sim --epoch 2
says "a value typo" "did you mean dpsgd\?" "$bin" sim --algo dpsdg
says "a MESHDL_ typo" "MESHDL_TOPOLGY, did you mean MESHDL_TOPOLOGY\?" env MESHDL_TOPOLGY=ring "$bin" sim
# Variables of the recipes, of meshdl status and of other commands' options: not errors.
small=(--epochs 1 --train-subset 300 --test-subset 100 --threads 1 --quiet)
env MESHDL_IMAGE=meshdl:dev MESHDL_STATUS=/tmp/none.json MESHDL_PEERS=tcp://10.0.0.1:5 MESHDL_AGENTS=3 \
    "$bin" train "${small[@]}" >/dev/null 2>"$tmp/t.err" && ok "train with MESHDL_IMAGE, MESHDL_STATUS, MESHDL_PEERS, MESHDL_AGENTS set runs" \
    || no "train with foreign MESHDL_*: $(cat "$tmp/t.err")"
env MESHDL_IMAGE=meshdl:dev MESHDL_STATUS=/tmp/none.json MESHDL_MIN_PEERS=3 \
    "$bin" sim --agents 2 "${small[@]}" >/dev/null 2>"$tmp/s.err" && ok "sim with MESHDL_IMAGE, MESHDL_STATUS, MESHDL_MIN_PEERS set runs" \
    || no "sim with foreign MESHDL_*: $(cat "$tmp/s.err")"
# MESHDL_COMM_THREADS (the library's comm threads, agents/commloop.c): used, and a bad value refused
env MESHDL_COMM_THREADS=1 "$bin" sim --agents 3 "${small[@]}" >/dev/null 2>"$tmp/c.err" \
    && ok "sim with MESHDL_COMM_THREADS=1 runs" || no "sim with MESHDL_COMM_THREADS=1: $(cat "$tmp/c.err")"
says "a bad MESHDL_COMM_THREADS" "MESHDL_COMM_THREADS is '0': .*an integer from 1 to 1024" \
    env MESHDL_COMM_THREADS=0 "$bin" sim --agents 2
says "a MESHDL_COMM_THREADS that is no number" "MESHDL_COMM_THREADS is 'two'" env MESHDL_COMM_THREADS=two "$bin" train
# netns.sh up twice (root only)
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null && ip netns list >/dev/null 2>&1; then
    ns="cli$$"
    examples/lan/netns.sh up "$ns" 1 && ok "netns.sh up $ns 1" || no "netns.sh up $ns 1 failed"
    says "netns.sh up twice" "exist already .* down $ns" examples/lan/netns.sh up "$ns" 1
    examples/lan/netns.sh down "$ns"; ns=""
else
    echo "# netns.sh: SKIP (needs root and iproute2)"
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
