#!/usr/bin/env bash
# The man page and the bash completion come from the option tables: every option that
# `meshdl COMMAND --help` lists is in both, the man page renders, and the completion
# completes commands, options and files.
set -uo pipefail
bin=${1:?usage: cli_manpage.sh path/to/meshdl}
tmp=$(mktemp -d /tmp/library-docs.XXXXXX); trap 'rm -rf "$tmp"' EXIT
fail=0; pass=0
ok() { pass=$((pass+1)); echo "ok - $1"; }
no() { fail=$((fail+1)); echo "FAIL - $1"; }

"$bin" --man >"$tmp/meshdl.1" && ok "meshdl --man exits 0" || no "meshdl --man failed"
"$bin" --completion bash >"$tmp/meshdl.bash" && ok "meshdl --completion bash exits 0" || no "completion failed"
if command -v groff >/dev/null; then
  warn=$(groff -man -Tutf8 -ww -z "$tmp/meshdl.1" 2>&1)
  [ -z "$warn" ] && ok "the man page renders without a warning" || no "groff: $(echo "$warn" | head -2)"
fi
for cmd in train agent sim keygen; do
  missing=""
  for opt in $("$bin" "$cmd" --help | grep -oE '^  --[a-z0-9-]+' | tr -d ' '); do
    grep -qF -- "\fB${opt//-/\\-}\fR" "$tmp/meshdl.1" || missing="$missing $opt"
    sed -n "/^    $cmd)/p" "$tmp/meshdl.bash" | grep -qE -- "[\" ]$opt[\" ]" || missing="$missing $opt(completion)"
  done
  [ -z "$missing" ] && ok "every option of meshdl $cmd is in the man page and the completion" || no "meshdl $cmd:$missing"
done
complete_words() {  # the completions of the words given, as bash would offer them
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _meshdl; printf "%s\n" "${COMPREPLY[@]}"' _ "$tmp/meshdl.bash" "$@"
}
[ "$(complete_words meshdl ag)" = agent ] && ok "completes the command agent" || no "meshdl ag -> '$(complete_words meshdl ag)'"
[ "$(complete_words meshdl agent --topo)" = --topology ] && ok "completes --topology" || no "--topo -> '$(complete_words meshdl agent --topo)'"
touch "$tmp/results-file"
[ "$(complete_words meshdl agent --results "$tmp/results-f")" = "$tmp/results-file" ] && ok "completes files after --results" \
  || no "--results completion: '$(complete_words meshdl agent --results "$tmp/results-f")'"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
