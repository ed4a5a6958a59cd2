# Sourced by the agent test scripts (tests/integration/agent_*.sh, tests/lan/*.sh):
# pass/fail counting, summary fields, and ports and endpoints for agents on loopback.
fail=0; pass=0
ok() { pass=$((pass+1)); echo "ok - $1"; }
no() { fail=$((fail+1)); echo "FAIL - $1"; }
# summary_field FILE KEY: KEY of the {"summary": ...} object on FILE's last line
summary_field() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["summary"][sys.argv[2]])' "$1" "$2" 2>/dev/null; }
# step_of STATUS.json: the step an agent's --status file reports (0 when unreadable)
step_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("step",0))' "$1" 2>/dev/null || echo 0; }
. "$(dirname "${BASH_SOURCE[0]}")/ports.sh" # free_ports, peers_of
# wait_for SECONDS COMMAND...: polls COMMAND every 0.25 s; false when it never held
wait_for() { local n=$(( $1 * 4 )); shift; for _ in $(seq 1 $n); do "$@" && return 0; sleep 0.25; done; return 1; }
