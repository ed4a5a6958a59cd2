#!/usr/bin/env bash
# meshdl as an installed library: `cmake --install` the build into a temporary prefix,
# then, from that prefix alone: pkg-config builds the C examples against it, the program
# that brings its own model runs on real Fashion-MNIST and learns; a CMake project with
# find_package(meshdl) links meshdl::meshdl; libmeshdl.so has its soname and exports only
# mdl_ names, none of the engine's internals.
set -uo pipefail
bin=${1:?usage: install_consume.sh path/to/build/meshdl}
build=$(cd "$(dirname "$bin")" && pwd)
root=$(pwd)
tmp=$(mktemp -d /tmp/library-install.XXXXXX); trap 'rm -rf "$tmp"' EXIT
fail=0; pass=0
ok() { pass=$((pass+1)); echo "ok - $1"; }
no() { fail=$((fail+1)); echo "FAIL - $1"; }

cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 \
  && ok "cmake --install into a fresh prefix" || { no "install: $(tail -3 "$tmp/install.log")"; exit 1; }
for f in include/meshdl.h include/meshdl/version.h lib/pkgconfig/meshdl.pc lib/cmake/meshdl/meshdlConfig.cmake bin/meshdl; do
  [ -f "$tmp/prefix/$f" ] && ok "installed $f" || no "missing $f"
done
so=$(readlink -f "$tmp/prefix"/lib/libmeshdl.so)
soname=$(readelf -d "$so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ -n "$soname" ] && [ -e "$tmp/prefix/lib/$soname" ] && ok "libmeshdl soname $soname, linked in the prefix" || no "soname '$soname'"
bad=$(nm -D --defined-only "$so" | awk '$2 ~ /[TDBR]/ {print $3}' | grep -v -E '^(mdl_|_init$|_fini$)' | head -3)
[ -z "$bad" ] && ok "exports only mdl_ names ($(nm -D --defined-only "$so" | awk '$2 == "T"' | wc -l) functions)" || no "exports $bad"
leaked=""
for internal in mdl_agent_view_set mdl_comm_start mdl_mailroom_add mdl_worker_ctx_new mdl_codec_encode; do
  nm -D --defined-only "$so" | awk '{print $3}' | grep -qx "$internal" && leaked="$leaked $internal"
done
[ -z "$leaked" ] && ok "no engine internals exported" || no "exports internals:$leaked"

export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
flags=$(pkg-config --cflags --libs meshdl) && ok "pkg-config meshdl: $flags" || no "pkg-config meshdl"
for src in "$root"/examples/c/*.c; do
  name=$(basename "$src" .c)
  cc -std=c11 -O2 -Wall -Wextra -Werror -o "$tmp/$name" "$src" $flags 2>"$tmp/cc.log" \
    && ok "examples/c/$name.c builds against the installed package" || no "$name: $(head -3 "$tmp/cc.log")"
done
data=/usr/share/datasets/fashion-mnist
if [ -f $data/train-images-idx3-ubyte.gz ]; then
  out=$(LD_LIBRARY_PATH="$tmp/prefix/lib" OPENBLAS_NUM_THREADS=1 timeout 300 "$tmp/own_model" 2>"$tmp/run.err"); rc=$?
  acc=$(echo "$out" | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"]["test_acc"])' 2>/dev/null)
  [ $rc -eq 0 ] && python3 -c "import sys; sys.exit(0 if float('${acc:-0}') >= 0.75 else 1)" \
    && ok "own_model (logistic regression through mdl_agent_exchange) exits 0, test_acc $acc" \
    || no "own_model: exit $rc, test_acc '$acc': $(tail -2 "$tmp/run.err")"
else
  echo "SKIP running own_model: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"
fi

mkdir -p "$tmp/consumer"
cat >"$tmp/consumer/main.c" <<'C'
#include <meshdl.h>
#include <stdio.h>
#include <string.h>
int main (void)
{
    mdl_agent_cfg_t *cfg = mdl_agent_cfg_new ();
    int bad = mdl_agent_cfg_set (cfg, "gamma", "2") == MDL_EINVAL && strstr (mdl_error_detail (), "--gamma");
    mdl_agent_cfg_destroy (&cfg);
    printf ("%s %s\n", mdl_version (), MDL_VERSION_STRING);
    return bad && strcmp (mdl_version (), MDL_VERSION_STRING) == 0 ? 0 : 1;
}
C
# ... and every example, with nothing but meshdl::meshdl (libm comes with it, as with
# pkg-config: the examples compute a softmax)
for src in "$root"/examples/c/*.c; do cp "$src" "$tmp/consumer/"; done
cat >"$tmp/consumer/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(consumer C)
find_package(meshdl 0.1 REQUIRED)
add_executable(x main.c)
target_link_libraries(x meshdl::meshdl)
file(GLOB examples ${CMAKE_SOURCE_DIR}/*.c)
list(REMOVE_ITEM examples ${CMAKE_SOURCE_DIR}/main.c)
foreach(src ${examples})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_link_libraries(${name} meshdl::meshdl)
endforeach()
CM
if cmake -S "$tmp/consumer" -B "$tmp/consumer/b" -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$tmp/c.log" 2>&1 \
   && cmake --build "$tmp/consumer/b" >>"$tmp/c.log" 2>&1; then
  v=$("$tmp/consumer/b/x") && ok "find_package(meshdl) consumer links meshdl::meshdl and runs: $v" || no "consumer run: $v"
  ok "find_package(meshdl) builds every examples/c/*.c with meshdl::meshdl alone"
else
  no "find_package consumer: $(grep -m2 -i error "$tmp/c.log")"
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
