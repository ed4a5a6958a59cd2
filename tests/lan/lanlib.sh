# Sourced by tests/lan/lan_partition.sh, faults.sh and lan_agents.sh: the set-up and clean-up,
# counting, waiting, and agents in the namespaces of examples/lan/netns.sh. The caller
# sets bin (meshdl), NETNS and P (the namespace prefix), then calls lan_prelude.

# lan_prelude NAME: exits 0 with "SKIP: NAME: why" without Fashion-MNIST, ip, nft, or the
# right to make network namespaces; else makes the temp dir T, clears the MESHDL_*
# environment, and arranges that on exit every agent (PIDS: name -> pid) is killed, the
# namespaces P-* (and with them the nft tables in them) go, and T too (unless KEEP_LOGS).
lan_prelude () {
    local name=$1 c
    [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { echo "SKIP: $name: Fashion-MNIST not installed"; exit 0; }
    for c in ip nft; do command -v $c >/dev/null 2>&1 || { echo "SKIP: $name: $c is not installed (iproute2, nftables)"; exit 0; }; done
    T=$(mktemp -d "${TMPDIR:-/tmp}/$name-reliability.XXXXXX")
    if ! ip netns add "$P-probe" 2>"$T/probe.err"; then
        echo "SKIP: $name: cannot create network namespaces (needs root or CAP_NET_ADMIN): $(head -1 "$T/probe.err")"
        rm -rf "$T"; exit 0
    fi
    ip netns del "$P-probe"
    for c in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$c"; done
    unset ZSYS_INTERFACE
    export OPENBLAS_NUM_THREADS=1
    declare -gA PIDS=()
    trap lan_cleanup EXIT
    trap 'exit 130' INT TERM
}
lan_cleanup () {
    local rc=$? k
    for k in "${!PIDS[@]}"; do kill -9 "${PIDS[$k]}" 2>/dev/null; done
    wait 2>/dev/null
    bash "$NETNS" down "$P" # kills what is left in the namespaces (a frozen agent too)
    if [ -n "${KEEP_LOGS:-}" ]; then echo "logs kept in $T"; else rm -rf "$T"; fi
    exit $rc
}
pass=0; fail=0
ok () { pass=$((pass+1)); echo "ok - $1"; }
no () { fail=$((fail+1)); echo "FAIL - $1"; }
dump () { for f in "$@"; do echo "--- $(basename "$f") (last 8 lines)"; tail -8 "$f"; done; }
finish () { echo "$pass passed, $fail failed"; [ $fail -eq 0 ]; exit $?; }
now () { date +%s.%N; }
since () { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
ge () { awk -v a="${1:-}" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 >= b + 0) }'; }
# summary FILE KEY: a field of the summary (last stdout line), empty if there is none
summary () {
    python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["summary"][sys.argv[2]])' \
        "$1" "$2" 2>/dev/null
}
# wait_until SECONDS FUNCTION ARGS...: polls every 0.25 s; 0 if it held in time
wait_until () {
    local s=$1; shift
    local deadline
    deadline=$(awk -v a="$(now)" -v s="$s" 'BEGIN { printf "%.3f", a + s }')
    while :; do
        "$@" && return 0
        awk -v d="$deadline" -v n="$(now)" 'BEGIN { exit !(n > d) }' && return 1
        sleep 0.25
    done
}
running () { kill -0 "${PIDS[$1]}" 2>/dev/null; }
exited () { ! running "$1"; }
# reap NAME: exit code of the agent NAME (which has exited)
reap () { wait "${PIDS[$1]}"; local rc=$?; unset "PIDS[$1]"; return $rc; }

# lan_start NAME NODE LIMIT ARGS...: `meshdl agent --interface mdl0` in namespace
# P-nNODE, bounded by LIMIT seconds, with its results under T/NAME.r/<id>/, its status
# in T/NAME.status, stdout and stderr in T/NAME.out and T/NAME.err. --foreground: a
# SIGTERM to the wrapper reaches the agent once; `kill -STOP/-CONT` go to the agent
# itself (lan_pid).
lan_start () {
    local name=$1 i=$2 limit=$3; shift 3
    mkdir -p "$T/$name.r"
    timeout --foreground -k 5 "$limit" bash "$NETNS" exec "$P" "$i" "$bin" agent --interface mdl0 --threads 1 \
        --results "$T/$name.r" --status "$T/$name.status" "$@" >"$T/$name.out" 2>"$T/$name.err" &
    PIDS[$name]=$!
}
# lan_pid NAME: the agent process itself (the child of the timeout wrapper)
lan_pid () { pgrep -P "${PIDS[$1]}" -x meshdl 2>/dev/null | head -1; }
lan_status () { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], 0))' "$T/$1.status" "$2" 2>/dev/null || echo 0; }
lan_step () { lan_status "$1" step; }
lan_peers () { lan_status "$1" peers; }
lan_ckpt () { ls "$T/$1.r"/*/checkpoint.ckpt 2>/dev/null | head -1; }
# lan_ckpt_copies PREFIX FIRST LAST TAG: copies the checkpoints of agents PREFIXFIRST..
# PREFIXLAST at (nearly) one instant; prints the copies' paths
lan_ckpt_copies () {
    local i c
    for i in $(seq "$2" "$3"); do
        c=$(lan_ckpt "$1$i") && [ -n "$c" ] && cp "$c" "$T/$1$i.$4.ckpt" && echo "$T/$1$i.$4.ckpt"
    done
}
jq_distance () { python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["distance"])' 2>/dev/null; }
# lan_distance_settled PREFIX FIRST LAST: the consensus distance of those agents at the
# latest step of which each wrote a checkpoint, from copies of every checkpoint they
# write, taken until each agent has 3 (two checkpoint intervals: polls faster than the
# interval see a step common to all), at most 150 polls 0.2 s apart
lan_distance_settled () {
    local k i c m dir enough
    dir=$(mktemp -d "$T/settle.XXXXXX")
    for k in $(seq 1 150); do
        enough=1
        for i in $(seq "$2" "$3"); do
            c=$(lan_ckpt "$1$i") && [ -n "$c" ] || continue
            m=$(stat -c %.9Y "$c" 2>/dev/null) || continue
            [ -e "$dir/$i.$m" ] || cp "$c" "$dir/$i.$m" 2>/dev/null
            [ "$(ls "$dir" | grep -c "^$i\.")" -ge 3 ] || enough=0
        done
        [ $enough = 1 ] && break
        sleep 0.2
    done
    python3 "$HERE/ckptdist.py" --common "$dir" $(( $3 - $2 + 1 )) | jq_distance | grep . && { rm -rf "$dir"; return 0; }
    python3 "$HERE/ckptdist.py" --common "$dir" $(( $3 - $2 + 1 )); rm -rf "$dir"; return 1
}
