#!/usr/bin/env bash
# Integration test of `meshdl plot`: a metrics file of `meshdl sim` becomes a PNG of
# the size asked for, with a series per agent (or one averaged); two runs in one file
# (the "run" key) stay apart; summaries of several runs make a labelled scatter; a
# string x is a category. Bad input (no file, no -o, a missing or non-JSON file, lines
# without the panel's keys, a bad --panel or --size, no gnuplot) gets one line and
# exit 2, and leaves an existing figure as it was.
set -uo pipefail
bin=${1:?usage: plot_cli.sh path/to/meshdl}
command -v gnuplot >/dev/null || { echo "SKIP: no gnuplot (apt-get install gnuplot-nox)"; exit 0; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0; pass=0
ok() { pass=$((pass+1)); echo "ok - $1"; }
no() { fail=$((fail+1)); echo "FAIL - $1"; }
# png_size FILE: "W H" from the PNG header, or nothing when it is not a PNG
png_size() { python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); assert d[:8]==b"\x89PNG\r\n\x1a\n"; print(*struct.unpack(">II", d[16:24]))' "$1" 2>/dev/null; }
series() { sed -n 's/.*: \([0-9]*\) series.*/\1/p' "$1"; }

# metrics of a small sim (4 agents, 3 evaluations each)
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  OPENBLAS_NUM_THREADS=1 "$bin" sim --agents 4 --epochs 1 --train-subset 2000 --test-subset 300 --evals-per-epoch 3 \
    --threads 1 --quiet --metrics "$tmp/m.jsonl" >"$tmp/sim.out" 2>/dev/null || no "the sim run failed"
else  # the same keys, written by hand
  for e in 1 2 3; do for a in 0 1 2 3; do
    echo "{\"elapsed_s\": $e.5, \"agent\": $a, \"step\": $((e*10)), \"test_acc\": 0.$((6+e))$a, \"avg_test_acc\": 0.$((6+e)), \"consensus_distance\": 1e-$e, \"bytes_sent\": $((e*1000000))}"
  done; done >"$tmp/m.jsonl"
  echo '{"summary": {"test_acc": 0.9, "bytes_sent": 4000000}}' >"$tmp/sim.out"
fi
"$bin" plot "$tmp/m.jsonl" -o "$tmp/a.png" --size 900,300 2>"$tmp/a.err"; rc=$?
[ $rc = 0 ] && [ "$(png_size "$tmp/a.png")" = "900 300" ] && ok "a metrics file -> a 900x300 PNG ($(cat "$tmp/a.err"))" \
  || no "plot of a metrics file: exit $rc, size '$(png_size "$tmp/a.png")', $(cat "$tmp/a.err")"
[ "$(series "$tmp/a.err")" = 12 ] && ok "per agent by default for one file: 4 series in each of the 3 panels" || no "series: $(cat "$tmp/a.err")"
"$bin" plot "$tmp/m.jsonl" -o "$tmp/b.png" --average --panel acc:step 2>"$tmp/b.err"
[ "$(series "$tmp/b.err")" = 1 ] && [ -n "$(png_size "$tmp/b.png")" ] && ok "--average: one series" || no "--average: $(cat "$tmp/b.err")"
# two runs appended to one file stay apart (the "run" key), and nothing else breaks on it
sed 's/^{/{"run": "first", /' "$tmp/m.jsonl" >"$tmp/runs.jsonl"; sed 's/^{/{"run": "second", /' "$tmp/m.jsonl" >>"$tmp/runs.jsonl"
"$bin" plot "$tmp/runs.jsonl" -o "$tmp/c.png" --average --panel acc:time 2>"$tmp/c.err"
[ "$(series "$tmp/c.err")" = 2 ] && ok "two runs in one file: 2 series" || no "runs: $(cat "$tmp/c.err")"
# the files of one label are one series whatever their run ids (each agent process has its own)
sed 's/^{/{"run": "agent-a", /' "$tmp/m.jsonl" >"$tmp/ra.jsonl"; sed 's/^{/{"run": "agent-b", /' "$tmp/m.jsonl" >"$tmp/rb.jsonl"
"$bin" plot "$tmp/ra.jsonl=cluster" "$tmp/rb.jsonl=cluster" -o "$tmp/g.png" --panel acc:time 2>"$tmp/g.err"
[ "$(series "$tmp/g.err")" = 1 ] && ok "two files of one label with their own run ids: 1 series" || no "one label: $(cat "$tmp/g.err")"
# summaries of several runs: a scatter of labelled points
cp "$tmp/sim.out" "$tmp/s1.json"; sed 's/"test_acc": [0-9.]*/"test_acc": 0.5/' "$tmp/sim.out" >"$tmp/s2.json"
"$bin" plot "$tmp/s1.json=fp32" "$tmp/s2.json=topk" --panel test_acc:bytes -o "$tmp/d.png" 2>"$tmp/d.err"; rc=$?
[ $rc = 0 ] && [ "$(series "$tmp/d.err")" = 2 ] && ok "summaries: a scatter of 2 labelled points" || no "summaries: exit $rc, $(cat "$tmp/d.err")"
# --xlabel/--ylabel name the axes (a summary's bytes_sent is every agent's: the alias' "per agent" would be wrong)
"$bin" plot "$tmp/s1.json=fp32" "$tmp/s2.json=topk" --panel test_acc:bytes --xlabel "MB sent, all agents" \
  --ylabel "accuracy of the averaged model" -o "$tmp/f.png" 2>"$tmp/f.err"; rc=$?
[ $rc = 0 ] && [ -n "$(png_size "$tmp/f.png")" ] && ! cmp -s "$tmp/d.png" "$tmp/f.png" \
  && ok "--xlabel and --ylabel redraw the axes' names" || no "--xlabel/--ylabel: exit $rc, $(cat "$tmp/f.err")"
# --legend: the scatter's points in a key (each its own shape), no labels beside them
"$bin" plot "$tmp/s1.json=fp32" "$tmp/s2.json=topk" --panel test_acc:bytes --legend -o "$tmp/h.png" 2>"$tmp/h.err"; rc=$?
[ $rc = 0 ] && [ "$(series "$tmp/h.err")" = 2 ] && ! cmp -s "$tmp/d.png" "$tmp/h.png" \
  && ok "--legend: the scatter drawn with a key" || no "--legend: exit $rc, $(cat "$tmp/h.err")"
printf '{"codec": "fp32", "acc": 0.8}\n{"codec": "q8", "acc": 0.79}\n' >"$tmp/cat.jsonl"
"$bin" plot "$tmp/cat.jsonl" --panel acc:codec -o "$tmp/e.png" 2>"$tmp/e.err"; rc=$?
[ $rc = 0 ] && [ -n "$(png_size "$tmp/e.png")" ] && ok "a string x is a category" || no "categories: exit $rc, $(cat "$tmp/e.err")"
"$bin" plot "$tmp/cat.jsonl" --panel acc:codec --legend -o "$tmp/e2.png" 2>/dev/null; rc=$?
[ $rc = 0 ] && ! cmp -s "$tmp/e.png" "$tmp/e2.png" && ok "--legend: categories drawn as open shapes" || no "categories --legend: exit $rc"

# bad input: one line, exit 2, the existing figure untouched
cp "$tmp/a.png" "$tmp/keep.png"; sum=$(md5sum <"$tmp/keep.png")
printf 'not json\n' >"$tmp/junk.jsonl"; printf '{"x": 1}\n' >"$tmp/other.jsonl"
bad() {
  local what=$1; shift
  out=$("$@" 2>&1 >/dev/null); rc=$?
  [ $rc = 2 ] && [ "$(echo "$out" | wc -l)" = 1 ] && [ "$(md5sum <"$tmp/keep.png")" = "$sum" ] && ok "$what: exit 2, '$out'" \
    || no "$what: exit $rc, '$out'"
}
bad "no file" "$bin" plot -o "$tmp/keep.png"
bad "no -o" "$bin" plot "$tmp/m.jsonl"
bad "a missing file" "$bin" plot "$tmp/nope.jsonl" -o "$tmp/keep.png"
bad "a file that is not JSON lines" "$bin" plot "$tmp/junk.jsonl" -o "$tmp/keep.png"
bad "lines without the panel's keys" "$bin" plot "$tmp/other.jsonl" -o "$tmp/keep.png"
bad "--panel without X" "$bin" plot "$tmp/m.jsonl" --panel acc -o "$tmp/keep.png"
bad "--size 10,10" "$bin" plot "$tmp/m.jsonl" --size 10,10 -o "$tmp/keep.png"
bad "an unknown option" "$bin" plot "$tmp/m.jsonl" --colour -o "$tmp/keep.png"
bad "no gnuplot on PATH" env PATH=/nonexistent "$bin" plot "$tmp/m.jsonl" -o "$tmp/keep.png"
bad "an output directory that does not exist" "$bin" plot "$tmp/m.jsonl" -o "$tmp/no/dir/x.png"
[ -z "$(ls "$tmp"/*.tmp 2>/dev/null)" ] && ok "no temporary figure left behind" || no "left: $(ls "$tmp"/*.tmp)"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
