#!/usr/bin/env bash
# An agent whose states are larger than the heap blocks kept for them (32 MB: 8 388 608
# fp32 parameters) starts itself again with glibc's 2 MB pages for its mappings
# (GLIBC_TUNABLES=glibc.malloc.hugetlb=1; mdl_agent_cfg_wants_huge_pages), on loopback:
#   1. mlp:784-10700-10 (8.5 M parameters, 34 MB): started again (strace, when installed,
#      counts the execs: 2), with the same command line, and its summary says huge_pages;
#   2. mlp:784-10000-10 (7.9 M, 31.8 MB): not started again, huge_pages false;
#   3. the user's GLIBC_TUNABLES is kept: with other tunables ours is added (huge_pages),
#      one that names glibc.malloc.hugetlb (=0 too) is left as it is (huge_pages false);
#   4. two such agents train to the end and report (the run after the exec is a whole run).
# (/proc/PID/environ cannot tell: glibc cuts that copy of GLIBC_TUNABLES at its first ':'.)
set -uo pipefail
bin=${1:?usage: agent_hugepages.sh path/to/meshdl}
data=/usr/share/datasets/fashion-mnist
if [ ! -f $data/train-images-idx3-ubyte.gz ]; then echo "SKIP: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"; exit 0; fi
for v in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$v"; done
unset ZSYS_INTERFACE GLIBC_TUNABLES
export OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/agent_hugepages.XXXXXX")
pids=()
trap "for p in \"\${pids[@]}\"; do kill -9 \$p 2>/dev/null; done; wait 2>/dev/null; [ -n \"\${KEEP:-}\" ] || rm -rf \"\$tmp\"" EXIT
. "$(dirname "$0")/lib/agentnet.sh"
. "$(dirname "$0")/lib/ports.sh"
small=(--train-subset 128 --test-subset 100 --batch 32 --epochs 1 --threads 1 --quiet)

# an agent set up: its status file written once its data is loaded and its socket bound
ready() { [ -s "$1" ]; }

# alone MODEL TUNABLES(or -): one agent waiting for a peer that never comes, stopped once
# ready; prints "HUGE_PAGES|ARGS_SAME|EXECS" (EXECS: - without strace)
alone() {
  local model=$1 env=$2 d=$tmp/alone.$RANDOM
  mkdir -p "$d"
  read -r -a ports <<<"$(free_ports 2)"
  local args=(agent --model "$model" --port "${ports[0]}" --peers "tcp://127.0.0.1:${ports[1]}" --min-peers 1
              --status "$d/status.json" "${small[@]}")
  local run=("$bin")
  command -v strace >/dev/null && run=(strace -f -qq -e trace=execve -o "$d/trace" "$bin")
  if [ "$env" = - ]; then "${run[@]}" "${args[@]}" >"$d/o" 2>"$d/e" &
  else GLIBC_TUNABLES=$env "${run[@]}" "${args[@]}" >"$d/o" 2>"$d/e" & fi
  local pid=$!; pids=($pid)
  if ! wait_for 60 ready "$d/status.json"; then echo "never ready: $(tail -2 "$d/e")"; kill -9 $pid; wait $pid 2>/dev/null; return; fi
  local agent same_args=no execs=-
  agent=$(pgrep -f -n "^$bin agent --model $model --port ${ports[0]}")
  [ -n "$agent" ] && [ "$(tr '\0' ' ' </proc/$agent/cmdline)" = "$bin ${args[*]} " ] && same_args=yes
  kill -INT "${agent:-$pid}"; wait $pid 2>/dev/null; pids=()
  [ -f "$d/trace" ] && execs=$(grep -c 'execve(' "$d/trace")
  echo "$(summary_field "$d/o" huge_pages)|$same_args|$execs"
}
# the execs alone() should see: 2 started again, 1 not (- without strace)
execs() { command -v strace >/dev/null && echo "$1" || echo -; }

# --- 1 / 2: the size decides ----------------------------------------------------------------
got=$(alone mlp:784-10700-10 -)
[ "$got" = "True|yes|$(execs 2)" ] && ok "a 34 MB state: started again with glibc.malloc.hugetlb=1, same arguments ($got)" \
  || no "34 MB state: huge_pages|same args|execs = $got"
got=$(alone mlp:784-10000-10 -)
[ "$got" = "False|yes|$(execs 1)" ] && ok "a 31.8 MB state: not started again ($got)" || no "31.8 MB state: $got"

# --- 3: the user's tunables ----------------------------------------------------------------
got=$(alone mlp:784-10700-10 glibc.malloc.arena_max=8)
[ "$got" = "True|yes|$(execs 2)" ] && ok "other tunables kept, ours added ($got)" || no "with arena_max=8: $got"
got=$(alone mlp:784-10700-10 glibc.malloc.hugetlb=0)
[ "$got" = "False|yes|$(execs 1)" ] && ok "glibc.malloc.hugetlb=0 from the user is left as it is ($got)" \
  || no "with hugetlb=0: $got"

# --- 4: a whole run after the exec ----------------------------------------------------------
read -r -a ports <<<"$(free_ports 2)"
d=$tmp/run; mkdir -p "$d"; pids=()
for i in 0 1; do
  timeout --foreground -k 5 300 "$bin" agent --model mlp:784-10700-10 --port "${ports[$i]}" --peers "$(peers_of $i "${ports[@]}")" \
    --shard $i/2 --min-peers 1 "${small[@]}" >"$d/o$i" 2>"$d/e$i" &
  pids+=($!)
done
rcs=""; for p in "${pids[@]}"; do wait "$p"; rcs="$rcs $?"; done; pids=()
s0=$(summary_field "$d/o0" steps); s1=$(summary_field "$d/o1" steps)
a0=$(summary_field "$d/o0" updates_applied)
[ "$rcs" = " 0 0" ] && [ "$s0" = 2 ] && [ "$s1" = 2 ] && [ "${a0:-0}" -ge 2 ] \
  && ok "two 34 MB agents train to the end after the exec (steps $s0, $s1; $a0 states applied)" \
  || no "exit codes$rcs, steps $s0 $s1, applied $a0: $(tail -2 "$d/e0")"

echo "# $pass passed, $fail failed"
[ $fail -eq 0 ]
