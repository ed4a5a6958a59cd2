#!/usr/bin/env bash
# README.md agrees with the program: every option its synopsis names for a command is one
# that command's --help lists (and those it says agent does not take, agent does not);
# README and docs/ point only inside the repository (no ../shared, no PAPERS.md, no issue
# numbers a reader cannot look up), their relative links exist, and README points to the
# configs, the experiments and their results.
set -uo pipefail
bin=$(realpath "${1:?usage: cli_docs.sh path/to/meshdl}")
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for c in train sim agent status keygen top plot; do "$bin" $c --help >"$tmp/$c.help" 2>&1; done
# --version names the commit the binary was built from (benchmarks print it), when the
# source is a git tree
if want=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null); then
    v=$("$bin" --version)
    case "$v" in
    "meshdl "*" (commit $want"*) echo "ok - --version names the source's commit: $v" ;;
    *) echo "FAIL - --version says '$v', the source is at $want"; exit 1 ;;
    esac
fi
python3 - "$root" "$tmp" <<'PY'
import os, re, sys
root, tmp = sys.argv[1], sys.argv[2]
readme = open(os.path.join(root, "README.md")).read()
fails, passes = [], []
def check(ok, what):
    (passes if ok else fails).append(what)
    print(("ok - " if ok else "FAIL - ") + what)
# the synopsis: the code block of "## The command line"
block = re.search(r"## The command line.*?```\n(.*?)```", readme, re.S).group(1)
names, cmd, excluded, but = {}, None, set(), False
for line in block.splitlines():
    m = re.match(r"meshdl (\w+)", line)
    if m:
        cmd, but = m.group(1), False
    if cmd is None:
        continue
    body = line.split("(exit", 1)[0]
    if cmd == "agent" and " but " in body:
        # "+ the options of sim but --a, --b": what follows "but", on this line and the
        # continuation lines of the same command, is excluded
        head, tail = body.split(" but ", 1)
        excluded |= set(re.findall(r"--[a-z][a-z-]*", tail.split("(and")[0]))
        body, but = head, True
    elif cmd == "agent" and but and line.startswith(" "):
        excluded |= set(re.findall(r"--[a-z][a-z-]*", line.split("(and")[0]))
        body = ""
    names.setdefault(cmd, set()).update(re.findall(r"--[a-z][a-z-]*", body))
helps = {c: set(re.findall(r"^  (--[a-z][a-z-]*)", open(os.path.join(tmp, c + ".help")).read(), re.M))
         for c in ("train", "sim", "agent", "top")}
# status and plot list their options in the usage text, not in a table
helps.update({c: set(re.findall(r"--[a-z][a-z-]*", open(os.path.join(tmp, c + ".help")).read()))
              for c in ("status", "plot")})
for c in ("train", "sim", "agent", "top", "status", "plot"):
    missing = sorted(n for n in names.get(c, ()) if n not in helps[c] | {"--help"})
    check(not missing, "README synopsis of %s: %d options, all in its --help%s" % (c, len(names.get(c, ())),
          "" if not missing else " (not there: %s)" % missing))
wrong = sorted(n for n in excluded if n in helps["agent"])
check(excluded and not wrong, "options README says agent does not take (%s) are not in agent --help" % sorted(excluded))
check("--shard I/N|auto]" in block and "[--shard" in block, "README: --shard of agent is optional, as in --help")
# pointers outside the repository and issue numbers
for f in ["README.md"] + ["docs/" + n for n in sorted(os.listdir(os.path.join(root, "docs"))) if n.endswith(".md")]:
    text = open(os.path.join(root, f)).read()
    bad = [m.group(0) for m in re.finditer(r"\.\./shared|PAPERS\.md|\bissues? [0-9]+", text)]
    check(not bad, "%s names nothing outside the repository%s" % (f, "" if not bad else ": %s" % bad))
    links = [l for l in re.findall(r"\]\(([^)#]+)\)", text) if not re.match(r"[a-z]+://", l)]
    gone = [l for l in links if not os.path.exists(os.path.join(root, os.path.dirname(f), l))]
    check(not gone, "%s: its %d relative links exist%s" % (f, len(links), "" if not gone else " (missing: %s)" % gone))
for p in ("examples/configs/", "examples/experiments/", "docs/results.md"):
    check("(" + p + ")" in readme, "README links to %s" % p)
print("%d passed, %d failed" % (len(passes), len(fails)))
sys.exit(1 if fails else 0)
PY
