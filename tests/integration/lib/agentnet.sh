# Sourced by the agent test scripts (tests/integration/agent_*.sh, tests/lan/*.sh):
# pass/fail counting, summary fields, and ports and endpoints for agents on loopback.
fail=0; pass=0
ok() { pass=$((pass+1)); echo "ok - $1"; }
no() { fail=$((fail+1)); echo "FAIL - $1"; }
# summary_field FILE KEY: KEY of the {"summary": ...} object on FILE's last line
summary_field() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["summary"][sys.argv[2]])' "$1" "$2" 2>/dev/null; }
# step_of STATUS.json: the step an agent's --status file reports (0 when unreadable)
step_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("step",0))' "$1" 2>/dev/null || echo 0; }
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
# wait_for SECONDS COMMAND...: polls COMMAND every 0.25 s; false when it never held
wait_for() { local n=$(( $1 * 4 )); shift; for _ in $(seq 1 $n); do "$@" && return 0; sleep 0.25; done; return 1; }
