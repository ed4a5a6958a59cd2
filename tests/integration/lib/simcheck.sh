# Sourced by the sim test scripts (tests/integration/sim_*.sh): pass/fail counting and
# run/check helpers over `meshdl sim` summaries. Needs $bin, $tmp and the array small.
fail=0; pass=0
ok() { pass=$((pass+1)); echo "ok - $1"; }
no() { fail=$((fail+1)); echo "FAIL - $1"; }
# check "description" 'python expression over s (summary dict) and any NAME=FILE summaries'
# evaluates the expression on the summary lines saved by run(); the description may use
# {key} placeholders filled from s.
check() {
    local desc=$1 expr=$2; shift 2
    local msg
    msg=$(python3 - "$tmp" "$desc" "$expr" "$@" <<'PY' 2>&1
import json, os, sys
tmp, desc, expr, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
env = {}
for n in names:
    try:
        env[n] = json.loads(open(os.path.join(tmp, n + ".out")).read().strip().splitlines()[-1])["summary"]
    except Exception as e:
        print("no summary for run '%s' (%s)" % (n, e)); sys.exit(1)
env["s"] = env[names[0]]
class Keys(dict):
    def __missing__(self, k): return "<no %s>" % k
desc = desc.format_map(Keys(env["s"]))
try:
    good = eval(expr, {}, env)
except Exception as e:
    print("%s: %r" % (desc, e)); sys.exit(1)
print(desc if good else "%s  [%s is false for %s]" % (desc, expr,
      {n: {k: env[n].get(k) for k in ("test_acc", "test_acc_min", "steps", "wall_s", "bytes_sent", "updates_dropped",
                                       "keyframes_sent", "sync_wait_s", "status")} for n in names}))
sys.exit(0 if good else 1)
PY
)
    [ $? -eq 0 ] && ok "$msg" || no "$msg"
}
# run NAME ARGS...: one sim run; stdout to NAME.out, stderr to NAME.err; exit code checked.
run() {
    local name=$1; shift
    "$bin" sim "${small[@]}" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"; local rc=$?
    [ $rc -eq 0 ] && ok "$name run exits 0 ($*)" || no "$name run exit $rc ($*): $(tail -3 "$tmp/$name.err")"
}

