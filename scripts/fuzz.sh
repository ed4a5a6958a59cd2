#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (in build-fuzz/, everything with ASan+UBSan and
# coverage) and fuzzes one target, or each in turn, for SECONDS each (default 60), on a
# copy of its seed corpus.
#   scripts/fuzz.sh [TARGET|all] [SECONDS] [extra libFuzzer flags...]
#   scripts/fuzz.sh 60                      (the wire target, as before)
# Targets: wire hello config ckpt idx csv status (tests/fuzz/CMakeLists.txt). New inputs
# go to build-fuzz/corpus/TARGET/, crashes to build-fuzz/crash-TARGET-*; each run ends with
# a line "fuzz.sh: TARGET: N runs in S s, 0 crashes" (or the crash's file).
set -euo pipefail
target=wire
case "${1:-}" in [a-z]*) target=$1; shift ;; esac
secs=${1:-60}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-fuzz
command -v clang >/dev/null || { echo "fuzz.sh: clang not found (apt-get install clang)" >&2; exit 2; }
all=(wire hello config ckpt idx csv status)
[ "$target" = all ] && targets=("${all[@]}") || targets=("$target")
for t in "${targets[@]}"; do
  [[ " ${all[*]} " == *" $t "* ]] || { echo "fuzz.sh: no target '$t' (one of: ${all[*]} all)" >&2; exit 2; }
done
[ -f "$build/CMakeCache.txt" ] || CC=clang cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMDL_FUZZ=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null
status=0
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t"
  cp -n "$root"/tests/fuzz/corpus/$t/* "$build/corpus/$t/" 2>/dev/null || true
  log="$build/fuzz-$t.log"
  start=$(date +%s)
  (cd "$build" && ./tests/fuzz/fuzz_$t -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$build/crash-$t-" "$@" "$build/corpus/$t" >"$log" 2>&1) && rc=0 || rc=$?
  runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
  crashes=$(find "$build" -maxdepth 1 -name "crash-$t-*" | wc -l)
  echo "fuzz.sh: $t: ${runs:-?} runs in $(( $(date +%s) - start )) s, $crashes crashes$( [ $rc -ne 0 ] && echo " (exit $rc, see $log)")"
  [ $rc -eq 0 ] && [ "$crashes" -eq 0 ] || status=1
done
exit $status
