#!/usr/bin/env bash
# compose_docker.sh: the Docker Compose recipe (examples/compose/docker-compose.yml) on a
# real Docker engine. Run from the repository root (ctest does so).
#
#   1. builds the image (Dockerfile at the root), then `up --scale agent=4`: 4 identical
#      agents find each other by beacon on the compose network (internal: true), take
#      distinct shards (--shard auto) and train on a Fashion-MNIST subset; each exits 0,
#      saw 3 peers, reaches >= 80% test accuracy and leaves metrics, checkpoint, summary
#      and status under /results/<agent id>; `logs` shows plain lines and 4 summaries;
#   2. a long run with the `monitor` profile: all 4 become healthy (HEALTHCHECK: meshdl
#      status), Prometheus (Debian's, examples/monitor/) holds one meshdl_steps_total
#      series per agent (its HTTP API, through promtool query), then `stop` (SIGTERM):
#      every agent exits 0 within the 10 s grace period, with summary and checkpoint;
#   3. bad input: 2 replicas with --min-peers 3 wait, exit non-zero naming both numbers,
#      and the health check says unhealthy; a bad MESHDL_ value, a missing data volume and
#      an unreadable key directory each give one line, exit 2 and leave /results empty.
# Where no Docker engine answers (`docker info`) or no compose tool is installed, it prints
# SKIP and why, and exits 0. Everything it creates is removed on exit, failure included.
# Nothing is published: the agents' network is internal; checks that need a container
# outside the compose project use --network none.
set -u
root=$(pwd)
file=$root/examples/compose/docker-compose.yml
[ -f "$file" ] && [ -f "$root/Dockerfile" ] || { echo "compose_docker.sh: run me from the repository root" >&2; exit 2; }

if ! command -v docker >/dev/null 2>&1; then
    echo "SKIP: compose.docker: no docker command (a Docker engine: ../shared/tools/local-docker.sh up, then DOCKER_HOST)"; exit 0
fi
if ! why=$(docker info 2>&1 >/dev/null); then
    echo "SKIP: compose.docker: no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset}): $(echo "$why" | grep -v '^$' | tail -1)"; exit 0
fi
if docker compose version >/dev/null 2>&1; then DC=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then DC=(docker-compose)
else echo "SKIP: compose.docker: neither 'docker compose' (v2) nor 'docker-compose' (1.29) is installed"; exit 0; fi

# Options from the environment would change what the agents do (they are not passed in,
# but the compose file's ${VAR} substitutions read the environment).
for v in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$v"; done
unset MIN_PEERS MIN_PEERS_TIMEOUT EPOCHS TRAIN_SUBSET TEST_SUBSET PROGRESS
proj=mdlc$$
image=meshdl:compose-test
export MESHDL_IMAGE=$image COMPOSE_PROJECT_NAME=$proj PROMETHEUS_IMAGE=meshdl-prometheus:compose-test
T=$(mktemp -d "${TMPDIR:-/tmp}/compose_docker.XXXXXX")
dc () { timeout -k 10 "${DC_LIMIT:-120}" "${DC[@]}" -p "$proj" -f "$file" "$@"; }
cleanup () {
    local rc=$?
    dc --profile monitor down -v --remove-orphans >/dev/null 2>&1
    docker ps -aq --filter "label=com.docker.compose.project=$proj" | xargs -r docker rm -f >/dev/null 2>&1
    docker volume rm "${proj}_results" >/dev/null 2>&1
    if [ -n "${KEEP_LOGS:-}" ]; then echo "logs kept in $T"; else rm -rf "$T"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass=0; fail=0
ok () { pass=$((pass+1)); echo "ok - $1"; }
no () { fail=$((fail+1)); echo "FAIL - $1"; }
finish () { echo "$pass passed, $fail failed"; [ $fail -eq 0 ]; exit $?; }
now () { date +%s.%N; }
since () { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
ge () { awk -v a="${1:-}" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 >= b + 0) }'; }
ids () { dc ps -q agent 2>/dev/null; }
state () { docker inspect -f "{{$1}}" "$2" 2>/dev/null; }
# wait_until SECONDS FUNCTION ARGS...: polls every second; 0 if it held in time
wait_until () {
    local end=$(( $(date +%s) + $1 )); shift
    until "$@"; do [ "$(date +%s)" -ge $end ] && return 1; sleep 1; done
}
all_exited () { local c; for c in $(ids); do [ "$(state .State.Running "$c")" = false ] || return 1; done; }
all_healthy () { local c; for c in $(ids); do [ "$(state .State.Health.Status "$c")" = healthy ] || return 1; done; }
# results DIR: a copy of the results volume in DIR (read by a container with no network)
results () {
    mkdir -p "$1"
    docker run --rm --network none -v "${proj}_results:/results:ro" --entrypoint tar "$image" -C /results -c . | tar -x -C "$1"
}
json () { python3 - "$@" <<'PY' 2>/dev/null
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
for k in sys.argv[2:]:
    d = d[k]
print(d)
PY
}

# --- the image ---------------------------------------------------------------------------
t0=$(now)
if ! timeout 1500 docker build --network host -t "$image" . >"$T/build.log" 2>&1; then
    no "docker build failed:"; tail -20 "$T/build.log"; finish
fi
if ! timeout 900 docker build --network host -t "$PROMETHEUS_IMAGE" examples/monitor >"$T/pbuild.log" 2>&1; then
    no "docker build of examples/monitor (Prometheus) failed:"; tail -20 "$T/pbuild.log"; finish
fi
size=$(docker image inspect -f '{{.Size}}' "$image")
ok "image $image built in $(since "$t0") s, $(awk -v s="$size" 'BEGIN { printf "%.0f", s / 1e6 }') MB"
[ "$size" -lt 250000000 ] && ok "runtime image under 250 MB" || no "runtime image is $size bytes (>= 250 MB)"
[ "$(docker image inspect -f '{{.Config.User}}' "$image")" = meshdl ] && ok "the image runs as user meshdl" || no "the image runs as root"
[ "$(docker image inspect -f '{{len .Config.ExposedPorts}}' "$image")" = 0 ] && ok "the image exposes no port" || no "the image exposes ports"
grep -q "internal: true" "$file" && ! grep -Eq '^\s*ports:' "$file" && ok "the compose network is internal and nothing is published" \
    || no "the compose file publishes a port or its network is not internal"

# --- 1: 4 agents, a short run to >= 80% ----------------------------------------------------
t_up=$(now)
MIN_PEERS=3 EPOCHS=2 TRAIN_SUBSET=12000 dc up -d --no-build --scale agent=4 >"$T/up1.log" 2>&1 \
    || { no "compose up failed: $(tail -3 "$T/up1.log")"; finish; }
[ "$(ids | wc -l)" = 4 ] && ok "compose up --scale agent=4: 4 containers" || no "compose up: $(ids | wc -l) containers"
wait_until 300 all_exited && ok "the 4 agents finished in $(since "$t_up") s" || no "agents still running 300 s after up"
dc logs --no-color agent >"$T/logs1.txt" 2>&1
for c in $(ids); do
    rc=$(state .State.ExitCode "$c")
    [ "$rc" = 0 ] && ok "container $(state .Name "$c") exits 0" || { no "container $(state .Name "$c") exits $rc"; docker logs "$c" 2>&1 | tail -8; }
    docker logs "$c" >"$T/c.out" 2>/dev/null
    grep -q '"summary"' <(tail -1 "$T/c.out") && ok "its summary JSON is the last line of its stdout" || no "its last stdout line is not the summary: $(tail -1 "$T/c.out")"
done
[ "$(grep -c '"summary"' "$T/logs1.txt")" = 4 ] && ok "compose logs shows the 4 summaries" || no "compose logs shows $(grep -c '"summary"' "$T/logs1.txt") summaries"
grep -q $'\r' "$T/logs1.txt" && no "compose logs holds terminal redraws (\\r)" || ok "compose logs: plain lines, no terminal redraws"
grep -Eq 'agent [0-9a-f]{16}: epoch [0-9.]+  test acc' "$T/logs1.txt" && ok "progress lines are prefixed by the agent id" || no "no progress lines prefixed by the agent id"
results "$T/r1"
n=0; shards=""; first=0; accs=""; bytes=0
for d in "$T"/r1/*/; do
    id=$(basename "$d")
    # the agents' shared cache of the decompressed data (--results DIR: DIR/.data-cache, hidden)
    [ "$id" = .data-cache ] || [ "$id" = data-cache ] && continue
    n=$((n+1)); s="$d/summary.json"
    acc=$(json "$s" summary test_acc); seen=$(json "$s" summary peers_seen); sh=$(json "$s" summary shard)
    shs=$(json "$s" summary shards); st=$(json "$s" summary status); fs=$(json "$s" summary first_step_time)
    [ "$st" = done ] && [ "$seen" = 3 ] && ok "agent $id: status done, saw 3 peers" || no "agent $id: status '$st', peers_seen '$seen'"
    ge "$acc" 0.80 && ok "agent $id: test_acc $acc >= 0.80 on shard $sh/$shs" || no "agent $id: test_acc '$acc' < 0.80"
    [ -s "$d/checkpoint.ckpt" ] && [ -s "$d/metrics.jsonl" ] && [ "$(json "$d/status.json" state)" = done ] \
        && ok "agent $id: checkpoint, metrics and status (done) in /results/$id" || no "agent $id: files missing in /results/$id: $(ls "$d")"
    shards="$shards $sh/$shs"; accs="$accs $acc"
    bytes=$((bytes + $(json "$s" summary bytes_sent || echo 0)))
    first=$(awk -v a="$first" -v b="${fs:-0}" 'BEGIN { print (b > a ? b : a) }')
done
[ $n = 4 ] && ok "4 result directories, one per agent id" || no "$n result directories"
[ "$(echo $shards | tr ' ' '\n' | sort -u | wc -l)" = 4 ] && [ "$(echo $shards | tr ' ' '\n' | grep -c '/4$')" = 4 ] \
    && ok "distinct shards:$shards" || no "shards not distinct:$shards"
started=$(for c in $(ids); do date -d "$(state .State.StartedAt "$c")" +%s.%N; done | sort -n | tail -1)
echo "# measured: time from up to the first step of all 4: $(awk -v a="$first" -v b="$t_up" 'BEGIN { printf "%.1f", a - b }') s" \
     "(all 4 containers running after $(awk -v a="$started" -v b="$t_up" 'BEGIN { printf "%.1f", a - b }') s);" \
     "test_acc:$accs; bytes_sent total $bytes"
dc down -v >/dev/null 2>&1

# --- 2: healthy, then docker compose stop (SIGTERM) ----------------------------------------
MIN_PEERS=3 EPOCHS=1000 dc --profile monitor up -d --no-build --scale agent=4 >"$T/up2.log" 2>&1 || { no "compose up (long run) failed"; finish; }
t0=$(now)
if wait_until 120 all_healthy; then
    ok "the 4 agents report healthy $(since "$t0") s after up (HEALTHCHECK: $(docker inspect -f '{{range .State.Health.Log}}{{.Output}}{{end}}' "$(ids | head -1)" | grep healthy | tail -1))"
else
    no "not all agents healthy within 120 s: $(for c in $(ids); do state .State.Health.Status "$c"; done | tr '\n' ' ')"
fi
# Prometheus scrapes every agent through the service name (its HTTP API, via promtool)
series () { dc --profile monitor exec -T prometheus promtool query instant http://localhost:9090 meshdl_steps_total >"$T/prom" 2>&1 \
    && [ "$(grep -c '^meshdl_steps_total' "$T/prom")" -ge 4 ]; }
if wait_until 90 series; then
    ok "monitor profile: Prometheus holds one meshdl_steps_total series per agent ($(grep -c '^meshdl_steps_total' "$T/prom"))"
else
    no "monitor profile: Prometheus series: $(head -5 "$T/prom" | tr '\n' ';')"
fi
# meshdl top in a container of the agent service (its MESHDL_* environment is ignored)
if dc --profile monitor run --rm --no-deps --entrypoint meshdl agent top --peers dns:agent:9100 --once >"$T/top" 2>&1 \
   && [ "$(grep -c '  training ' "$T/top")" = 4 ]; then
    ok "meshdl top --peers dns:agent:9100 (compose run) shows the 4 agents training"
else
    no "meshdl top in compose: $(tr '\n' ';' <"$T/top")"
fi
t0=$(date +%s); t0n=$(date +%s.%N); before=$(ids)
DC_LIMIT=60 dc --profile monitor stop >/dev/null 2>&1
# Each agent's own time from its SIGTERM (the engine's "kill" event) to its exit ("die"):
# what the 10 s grace period bounds; compose's own start-up (seconds, for 1.29) is not in it.
sleep 1  # --until is in whole seconds: let the second of the last exit pass
dt=$(docker events --since "$t0" --until "$(date +%s)" --filter "label=com.docker.compose.project=$proj" \
       --filter label=com.docker.compose.service=agent --filter event=kill --filter event=die --format '{{.Actor.ID}} {{.Action}} {{.TimeNano}}' \
     | awk '$2 == "kill" && !($1 in k) { k[$1] = $3 } $2 == "die" { d[$1] = $3 }
            END { m = -1; for (c in d) if (c in k && (d[c] - k[c]) / 1e9 > m) m = (d[c] - k[c]) / 1e9; n = 0; for (c in d) n++
                  if (n == 4) printf "%.1f", m; else print "?" }')
how="after its SIGTERM"
if [ "$dt" = "?" ]; then
    # The engine's event log missed some (seen once under CI load): each container's
    # FinishedAt against the moment `compose stop` began instead, which also counts
    # compose's own time to send the signals, so the bound is looser by that.
    dt=$(for c in $before; do docker inspect -f '{{.State.FinishedAt}}' "$c"; done \
         | while read -r f; do date -d "$f" +%s.%N; done | awk -v t="$t0n" '{ d = $1 - t; if (d > m) m = d; n++ }
             END { if (n == 4) printf "%.1f", m; else print "?" }')
    how="after compose stop began (the engine's events were incomplete)"
fi
awk -v d="$dt" 'BEGIN { exit !(d != "?" && d < 10) }' && ok "compose stop: each agent exited at most $dt s $how (< 10 s grace period)" \
    || no "compose stop: SIGTERM to exit took '$dt' s (? = not 4 kill/die events)"
results "$T/r2"
for c in $(ids); do
    rc=$(state .State.ExitCode "$c"); docker logs "$c" >"$T/c.out" 2>/dev/null
    st=$(json "$T/c.out" summary status); id=$(json "$T/c.out" summary agent)
    [ "$rc" = 0 ] && [ "$st" = interrupted ] && [ -s "$T/r2/$id/checkpoint.ckpt" ] && [ "$(json "$T/r2/$id/summary.json" summary status)" = interrupted ] \
        && ok "agent $id: SIGTERM -> exit 0, summary (interrupted) and checkpoint written" \
        || { no "agent $id: SIGTERM -> exit $rc, status '$st'"; tail -5 "$T/c.out"; }
done
dc --profile monitor down -v >/dev/null 2>&1

# --- 3: bad input ------------------------------------------------------------------------
# (1 of 3 once both are up; 0 of 3 if the other is still loading its data on a busy machine)
MIN_PEERS=3 MIN_PEERS_TIMEOUT=20 dc up -d --no-build --scale agent=2 >"$T/up3.log" 2>&1 || { no "compose up (2 agents) failed"; finish; }
if wait_until 90 all_exited; then
    for c in $(ids); do
        rc=$(state .State.ExitCode "$c"); msg=$(docker logs "$c" 2>&1 | grep -- "--min-peers" | head -1)
        # the checks while it waited (the last may already see it failed: --http-final
        # keeps the process up to 2 s after its end)
        health=$(docker inspect -f '{{range .State.Health.Log}}{{.Output}}{{end}}' "$c" | grep unhealthy | grep -E "waiting for peers" | tail -1)
        [ "$rc" != 0 ] && echo "$msg" | grep -Eq '\b[01] of the 3\b' && ok "2 replicas, --min-peers 3: exit $rc, '${msg#*: }'" \
            || no "2 replicas, --min-peers 3: exit $rc, '$msg'"
        echo "$health" | grep -Eq "waiting for peers: [01] of 3" && ok "... and the health check said: $health" || no "health check output: '$health'"
    done
else
    no "2 replicas with --min-peers 3 still running after 90 s"
fi
# One-line refusals, exit 2, nothing in /results (a container on the project's network).
bad () {  # bad DESCRIPTION ENV...
    local what=$1; shift
    local e=() v; for v in "$@"; do e+=(-e "$v"); done
    # (the engine runs with --ip-forward=false, and the docker CLI warns about it: not ours)
    out=$(timeout 60 docker run --rm --network "${proj}_mesh" -v "${proj}_results:/results" -e MESHDL_INTERFACE=eth0 \
          -e MESHDL_SHARD=auto -e MESHDL_MIN_PEERS=3 -e MESHDL_RESULTS=/results "${e[@]}" "$image" 2>&1 \
          | grep -v "^WARNING: IPv4 forwarding is disabled"; exit "${PIPESTATUS[0]}"); rc=$?
    left=$(docker run --rm --network none -v "${proj}_results:/results:ro" --entrypoint sh "$image" -c 'ls -A /results')
    [ $rc = 2 ] && [ "$(echo "$out" | wc -l)" = 1 ] && [ -z "$left" ] && ok "$what: exit 2, '$out', nothing new in /results" \
        || no "$what: exit $rc, '$out', /results holds '$left'"
}
docker run --rm --network none -v "${proj}_results:/results" --entrypoint sh "$image" -c 'rm -rf /results/* /results/.[!.]*' >/dev/null 2>&1
bad "MESHDL_TOPOLOGY=bogus" MESHDL_TOPOLOGY=bogus
bad "an unknown variable MESHDL_EPOCS=3" MESHDL_EPOCS=3
bad "a missing data volume" MESHDL_DATA=/data/mine
bad "an unreadable key directory" MESHDL_CURVE=true MESHDL_CERT=/root/key_secret MESHDL_ALLOW=/root
n=$(docker run --rm --network none -v "${proj}_results:/results:ro" --entrypoint sh "$image" -c 'ls -A /results | wc -l')
[ "$n" = 0 ] && ok "the results volume is empty after the refusals" || no "the results volume holds $n entries after the refusals"
finish
