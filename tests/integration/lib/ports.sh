# Sourced by the agent test scripts: loopback ports and static peer lists.
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
