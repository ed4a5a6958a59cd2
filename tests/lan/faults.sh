#!/usr/bin/env bash
# faults.sh MESHDL [SCENARIO...]: the fault runner. Each scenario is a cluster of its own:
# N `meshdl agent` processes (6), one per network namespace on a bridge
# (examples/lan/netns.sh), finding each other by beacon, ring, sync D-PSGD, EPOCHS passes
# (3) over ROWS Fashion-MNIST rows (18000) with MODEL (mlp:784-256-128-10), batch 16, a
# checkpoint every 20 steps. The fault hits agent 3 (or the bridge) when agent 1 reaches
# 30% of its steps:
#
#   clean      no fault: the reference
#   loss       2% of the frames crossing the bridge dropped for the whole run (nftables
#              `meta random`; tc netem is not in every kernel)
#   kill       SIGKILL, never restarted (its shard is lost)
#   freeze     SIGSTOP for 8 s, then SIGCONT
#   fresh      SIGKILL; at 50% a new process in its namespace, no checkpoint: it starts
#              from a live peer's snapshot (--bootstrap peer)
#   resume     SIGKILL; at 50% a new process with --resume of its last periodic checkpoint
#   partition  nftables on the bridge cut {1,2,3} from {4,5,6} for CUT_S s (20), then heal
#
# Prints one table row per scenario (markdown) and, last, the whole table: the agents'
# exits, where restarted agents started, readmissions and steps skipped, and the final
# test accuracy (min and mean over the agents that ran to the end) against the clean run
# of this invocation (run `clean` first, or give its min as CLEAN_MIN). Exit 0 when every
# scenario ends within 1 point of the clean run (min against min) and no agent exits
# non-zero unless killed on purpose. Needs root, ip, nft and Fashion-MNIST (SKIP
# otherwise). Bounded: every agent by `timeout` (LIMIT, 600 s). Namespaces
# reliability-f<pid>-*, the nft tables in them and the temp dir go on exit.
set -u

bin=${1:-}
[ -n "$bin" ] && [ -x "$bin" ] || { echo "usage: faults.sh path/to/meshdl [clean|loss|kill|freeze|fresh|resume|partition ...]" >&2; exit 2; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
shift
scenarios=${*:-clean loss kill freeze fresh resume partition}
for s in $scenarios; do
    case $s in clean|loss|kill|freeze|fresh|resume|partition) ;; *) echo "faults.sh: unknown scenario '$s'" >&2; exit 2 ;; esac
done
HERE=$(cd "$(dirname "$0")" && pwd)
NETNS="$HERE/../../examples/lan/netns.sh"
P="reliability-f$$"
SUBNET=10.213.16
N=${N:-6}; EPOCHS=${EPOCHS:-3}; ROWS=${ROWS:-18000}; MODEL=${MODEL:-mlp:784-256-128-10}
CUT_S=${CUT_S:-20}; LIMIT=${LIMIT:-600}; V=3

[ "$(id -u)" = 0 ] || { echo "SKIP: faults: needs root (network namespaces, nftables)"; exit 0; }
. "$HERE/lanlib.sh"
lan_prelude faults

total=$(( EPOCHS * ROWS / N / 16 ))
agent () { # agent NAME NODE ARGS...
    local name=$1 i=$2; shift 2
    lan_start "$name" "$i" "$LIMIT" --shard $((i - 1))/$N --min-peers $((N - 1)) --min-peers-timeout 60 \
        --epochs "$EPOCHS" --model "$MODEL" --train-subset "$ROWS" --test-subset 2000 --batch 16 \
        --checkpoint-every 20 --quiet "$@"
}
wait_step () { # wait_step NAME STEP: false when NAME exits first or 300 s pass
    local k
    for k in $(seq 1 1200); do
        ge "$(lan_step "$1")" "$2" && return 0
        running "$1" || return 1
        sleep 0.25
    done
    return 1
}
nft_cut () { ip netns exec "$P-br" nft -f - <<EOF
table bridge reliability_faults {
  chain drops { type filter hook forward priority 0; policy accept;
    $1
  }
}
EOF
}
nft_heal () { ip netns exec "$P-br" nft delete table bridge reliability_faults 2>/dev/null; }

rows=(); clean_min=${CLEAN_MIN:-}; bad=0
run () {
    local sc=$1 note="" i victim="" told=""
    bash "$NETNS" up "$P" $N $SUBNET || { no "$sc: could not build the namespaces"; return; }
    rm -rf "$T"/a*
    [ "$sc" = loss ] && nft_cut "meta random < 85899345 drop" # 2^32 * 0.02
    for i in $(seq 1 $N); do agent a$i $i; done
    if ! wait_step a1 $(( total * 3 / 10 )); then
        no "$sc: agent 1 never reached 30% of its $total steps"; dump "$T"/a1.err
    else
        # a run faster than the polls (mlp:784-64-10 on 12000 rows took 11 s) ends before
        # its fault: say so rather than report a fault that did not happen
        case $sc in kill|fresh|resume|freeze) [ -n "$(lan_pid a$V)" ] || no "$sc: agent $V had ended before its fault" ;; esac
        case $sc in
        kill|fresh|resume) kill -9 "$(lan_pid a$V)"; told=a$V; victim=a$V ;;
        freeze) kill -STOP "$(lan_pid a$V)"; sleep 8; kill -CONT "$(lan_pid a$V)"; note="frozen 8 s" ;;
        partition)
            nft_cut "iifname { v1, v2, v3 } oifname { v4, v5, v6 } drop
    iifname { v4, v5, v6 } oifname { v1, v2, v3 } drop"
            sleep "$CUT_S"; nft_heal; note="cut ${CUT_S} s" ;;
        esac
        if [ "$sc" = fresh ] || [ "$sc" = resume ]; then
            wait_step a1 $(( total / 2 )) || no "$sc: agent 1 stalled after the kill"
            wait "${PIDS[a$V]}" 2>/dev/null; unset "PIDS[a$V]"
            if [ "$sc" = fresh ]; then
                agent b$V $V; victim=b$V
            else
                ck=$(lan_ckpt a$V)
                cp "$ck" "$T/a$V.last.ckpt" 2>/dev/null
                agent b$V $V --resume "$T/a$V.last.ckpt"; victim=b$V
            fi
        fi
    fi
    local names="" accs=() rc st
    for i in $(seq 1 $N); do
        if [ "$i" = $V ] && [ -n "$victim" ]; then names+=" $victim"; else names+=" a$i"; fi
    done
    if [ -n "$told" ] && [ "$victim" != "$told" ]; then # restarted: the killed one was reaped
        note="a$V killed at 30%, restarted at 50%"; told=""
    fi
    local exits="" readm=0 skipped=0 from=""
    for n in $names; do
        wait_until $(( LIMIT + 10 )) exited $n
        reap $n; rc=$?
        if [ "$n" = "$told" ]; then exits+="$n:killed "; continue; fi
        exits+="$n:$rc "
        [ $rc -eq 0 ] || { bad=1; no "$sc: $n exit $rc"; dump "$T/$n.err"; }
        a=$(summary "$T/$n.out" test_acc); [ -n "$a" ] && accs+=("$a")
        readm=$(( readm + $(summary "$T/$n.out" readmissions || echo 0) ))
        skipped=$(( skipped + $(summary "$T/$n.out" steps_skipped || echo 0) ))
        case $n in b*) from="$(summary "$T/$n.out" start_from)@$(summary "$T/$n.out" start_step)" ;; esac
    done
    nft_heal
    bash "$NETNS" down "$P"
    local mn mean
    mn=$(printf '%s\n' "${accs[@]}" | sort -g | head -1)
    mean=$(printf '%s\n' "${accs[@]}" | awk '{ s += $1 } END { if (NR) printf "%.4f", s / NR }')
    [ "$sc" = clean ] && clean_min=$mn
    local delta="-"
    if [ -n "$clean_min" ] && [ -n "$mn" ]; then
        delta=$(awk -v a="$mn" -v c="$clean_min" 'BEGIN { printf "%+.2f", 100 * (a - c) }')
        awk -v d="$delta" 'BEGIN { exit !(d < -1) }' && { bad=1; no "$sc: min accuracy $mn more than 1 pt below the clean run's $clean_min"; }
    fi
    [ ${#accs[@]} -eq 0 ] && bad=1
    local what="${note:+$note; }exits ${exits% }"
    [ -n "$from" ] && what+="; restarted agent started from $from"
    what+="; readmissions $readm, steps skipped $skipped"
    rows+=("| $sc | $what | $mn | $mean | $delta |")
    echo "${rows[-1]}"
}

echo "# $N agents, $MODEL, $EPOCHS epochs over $ROWS rows ($total steps each), ring, sync; faults at 30% (agent $V); load $(cut -d' ' -f1-3 /proc/loadavg)"
for sc in $scenarios; do run "$sc"; done
echo
echo "| scenario | what happened | min acc | mean acc | min vs clean (pt) |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo "# load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
[ $bad -eq 0 ] && [ $fail -eq 0 ]
