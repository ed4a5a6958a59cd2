# Sourced by scripts that run `meshdl agent` processes over loopback
# (tests/integration/agent_flood.sh, bench/flood.sh).
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
# status_step FILE: the step an agent's --status file says now (0 before it exists)
status_step() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["step"])' "$1" 2>/dev/null || echo 0; }
