#!/usr/bin/env bash
# The Kubernetes manifests (examples/kubernetes/) without a cluster: every file parses as
# YAML; the kustomization lists them all; the headless Service publishes not-ready
# addresses and the ConfigMap's dns: peers name that Service in its namespace at its
# "mesh" port; the Job is Indexed and lets a finished run end; every option the manifests
# name (ConfigMap MESHDL_* keys, container args) is one `meshdl agent --help` lists; and
# `meshdl agent` started with the ConfigMap's environment and the Job's args gets past
# option parsing (it then cannot resolve the cluster's name here: exit 3, not 2).
set -uo pipefail
bin=${1:?usage: k8s_manifests.sh path/to/meshdl}
dir=examples/kubernetes
python3 -c 'import yaml' 2>/dev/null || { echo "SKIP: no PyYAML (apt-get install python3-yaml)"; exit 0; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$bin" agent --help >"$tmp/help"
python3 - "$dir" "$tmp/help" "$tmp/env" "$tmp/args" <<'PY'
import glob, os, re, sys, yaml
d, helpf, envf, argsf = sys.argv[1:5]
ok = fail = 0
def check(cond, msg):
    global ok, fail
    print(("ok - " if cond else "FAIL - ") + msg)
    if cond: ok += 1
    else: fail += 1
docs = {}
for f in sorted(glob.glob(os.path.join(d, "*.yaml"))):
    try:
        ds = [x for x in yaml.safe_load_all(open(f)) if x is not None]
        check(True, "%s parses as YAML (%s)" % (os.path.basename(f), ", ".join(x.get("kind", "?") for x in ds)))
        for x in ds:
            docs.setdefault(x.get("kind"), []).append(x)
    except Exception as e:
        check(False, "%s does not parse: %s" % (f, e))
kust = docs.get("Kustomization", [{}])[0]
listed = set(kust.get("resources", []))
files = {os.path.basename(f) for f in glob.glob(os.path.join(d, "*.yaml"))} - {"kustomization.yaml"}
check(listed == files, "kustomization.yaml lists every manifest (%s)" % ", ".join(sorted(listed)))
helptext = open(helpf).read()
known = set(re.findall(r"^\s+--([a-z0-9-]+)", helptext, re.M))
check(len(known) > 40, "meshdl agent --help lists %d options" % len(known))
cms = [c for c in docs.get("ConfigMap", []) if c["metadata"]["name"] == "meshdl-config"]
svc = docs["Service"][0]
job = docs["Job"][0]
cm = cms[0]["data"]
opts = {k[len("MESHDL_"):].lower().replace("_", "-"): v for k, v in cm.items()}
bad = [o for o in opts if o not in known]
check(not bad and all(k.startswith("MESHDL_") for k in cm), "ConfigMap: %d MESHDL_* options, all known%s" % (len(opts), (": unknown " + ", ".join(bad)) if bad else ""))
c = job["spec"]["template"]["spec"]["containers"][0]
args = c["args"]
check(args[0] == "agent", "the container runs `meshdl agent`")
argopts = [a[2:] for a in args if a.startswith("--")]
bad = [o for o in argopts if o not in known]
check(not bad, "container args name known options: %s" % ", ".join("--" + a for a in argopts))
ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
mesh = [p["port"] for p in svc["spec"]["ports"] if p["name"] == "mesh"][0]
http = [p["port"] for p in svc["spec"]["ports"] if p["name"] == "http"][0]
want = "dns:%s.%s.svc.cluster.local:%d" % (name, ns, mesh)
check(cm.get("MESHDL_PEERS") == want and cm.get("MESHDL_PORT") == str(mesh), "peers %s: the headless Service, its namespace and mesh port" % want)
check(cm.get("MESHDL_HTTP", "").endswith(":%d" % http), "--http on the Service's http port %d" % http)
check(svc["spec"].get("clusterIP") == "None" and svc["spec"].get("publishNotReadyAddresses") is True,
      "the Service is headless and lists pods before they are ready")
check(job["spec"].get("completionMode") == "Indexed" and job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure",
      "an Indexed Job whose finished pods are not restarted")
n = job["spec"]["completions"]
check(int(cm["MESHDL_MIN_PEERS"]) == n - 1 and "$(JOB_COMPLETION_INDEX)/%d" % n in args,
      "%d completions: --min-peers %d, shard INDEX/%d" % (n, n - 1, n))
probe = c["readinessProbe"]["exec"]["command"]
check(probe[:2] == ["meshdl", "status"] and probe[2] == cm.get("MESHDL_STATUS"), "readiness: meshdl status on the agent's --status file")
check(job["spec"]["template"]["spec"]["subdomain"] == name, "the pods' subdomain is the Service")
prom = yaml.safe_load([x for x in docs["ConfigMap"] if x["metadata"]["name"] == "meshdl-prometheus"][0]["data"]["prometheus.yml"])
sd = prom["scrape_configs"][0]["dns_sd_configs"][0]
check(sd["names"] == ["%s.%s.svc.cluster.local" % (name, ns)] and sd["port"] == http, "Prometheus scrapes the Service's addresses at port %d" % http)
with open(envf, "w") as f:
    for k, v in cm.items():
        f.write("%s=%s\n" % (k, v))
with open(argsf, "w") as f:
    f.write("\n".join(a.replace("$(JOB_COMPLETION_INDEX)", "0") for a in args[1:]))
print("%d passed, %d failed" % (ok, fail))
sys.exit(1 if fail else 0)
PY
rc=$?
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && [ $rc = 0 ]; then
  mkdir -p "$tmp/results"
  mapfile -t args <"$tmp/args"
  out=$(env -i PATH="$PATH" OPENBLAS_NUM_THREADS=1 $(cat "$tmp/env") MESHDL_RESULTS="$tmp/results" MESHDL_STATUS="$tmp/status.json" \
        MESHDL_HTTP=127.0.0.1:0 MESHDL_PORT=0 "$bin" agent "${args[@]}" --min-peers-timeout 1 --quiet 2>&1 >/dev/null); r=$?
  if [ $r = 3 ] && echo "$out" | grep -q "never resolved: dns:meshdl.meshdl.svc.cluster.local:7000"; then
    echo "ok - meshdl agent takes the ConfigMap and args, then (no cluster here) says: $(echo "$out" | grep 'never resolved' | sed 's/^agent [0-9a-f]*: //')"
  else
    echo "FAIL - meshdl agent with the manifests' configuration: exit $r: $out"; rc=1
  fi
fi
exit $rc
