#!/usr/bin/env bash
# The layout of .clang-format, on the files of scripts/formatted.txt (or those given).
# Usage: scripts/format.sh [--check] [FILE...]
#   --check   change nothing; list the files whose layout differs and exit 1 if any does
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
check=0
[ "${1:-}" = --check ] && { check=1; shift; }
if ! command -v clang-format >/dev/null; then
  echo "format.sh: clang-format not found (apt-get install clang-format)"; exit $((check ? 1 : 2))
fi
files=("$@")
[ ${#files[@]} -eq 0 ] && mapfile -t files < <(grep -v -e '^#' -e '^$' scripts/formatted.txt)
bad=0
for f in "${files[@]}"; do
  [ -f "$f" ] || { echo "format.sh: $f listed but missing"; bad=1; continue; }
  if [ $check -eq 1 ]; then
    if ! clang-format --style=file "$f" | cmp -s - "$f"; then
      echo "format.sh: $f differs from .clang-format's layout (scripts/format.sh $f fixes it)"
      bad=1
    fi
  else
    clang-format --style=file -i "$f"
  fi
done
exit $bad
