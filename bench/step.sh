#!/usr/bin/env bash
# step.sh: a training step of mlp:784-256-128-10 in meshdl (bench_step) against PyTorch
# (torch_step.py), same data, same batch, same BLAS thread count; prints one table per
# thread count, the sgemm peak, the BLAS each side runs, peak memory, and PASS/MISS per
# goal. It builds nothing: build bench_step and meshdl first (see bench/README.md).
#
# usage: bench/step.sh [BUILD_DIR] [THREADS ...]      e.g. bench/step.sh build-bench 1 2
#   BUILD_DIR  CMake build directory holding bench/bench_step and meshdl [build]
#   THREADS    BLAS thread counts to run, one table each [1]
# environment: ROUNDS (alternating meshdl/torch runs per thread count; the best median of
#   each side is kept) [3], MIN_TIME (seconds timed per batch size and run) [1],
#   BATCHES [16,64,256], PYTHON [/usr/bin/python3]
# Exit status: 0 when everything was measured, whatever the goals say (it measures, it does
# not assert); 1 when a side failed, 3 when PyTorch's BLAS is netlib's reference one.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
shift || true
threads_list=("$@")
[ ${#threads_list[@]} -eq 0 ] && threads_list=(1)
rounds=${ROUNDS:-3}
min_time=${MIN_TIME:-1}
batches=${BATCHES:-16,64,256}
python=${PYTHON:-/usr/bin/python3}

bench="$build/bench/bench_step"
meshdl="$build/meshdl"
if [ ! -x "$bench" ]; then
    echo "step.sh: $bench not found; build it first:" >&2
    echo "  cmake -S . -B $build -DCMAKE_BUILD_TYPE=Release && cmake --build $build --target bench_step meshdl" >&2
    exit 1
fi
if [ ! -x "$python" ]; then
    echo "step.sh: $python not found (apt-get install python3-torch)" >&2
    exit 1
fi

# PyTorch's ATen runs an OpenMP pool beside OpenBLAS's own; with GNU OpenMP's default
# active waiting, at 2 threads on a 2-core machine the spinning pools starve each other and
# a step takes 10-40 ms instead of ~1 ms. Passive waiting makes PyTorch the strongest peer;
# meshdl has no OpenMP, so for it the variable is inert (same environment for both sides).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== training step, mlp:784-256-128-10, SGD momentum 0.9: meshdl vs PyTorch"
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cpus," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
# The flags mdl_lib was really compiled with (CMakeCache's CMAKE_C_FLAGS_RELEASE is
# CMake's default, which the top CMakeLists.txt overrides).
echo "build: $build, CMAKE_BUILD_TYPE=$(grep -m1 '^CMAKE_BUILD_TYPE' "$build/CMakeCache.txt" 2>/dev/null | cut -d= -f2)," \
     "mdl_lib flags: $(sed -n 's/^C_FLAGS = //p' "$build/CMakeFiles/mdl_lib.dir/flags.make" 2>/dev/null | sed 's/ -iquote.*//')"
echo "env: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-(unset)} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE-(unset)}" \
     "OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS-(unset)} OMP_NUM_THREADS=${OMP_NUM_THREADS-(unset)}" \
     "OMP_WAIT_POLICY=$OMP_WAIT_POLICY" \
     "(the same for both sides)"

status=0
for t in "${threads_list[@]}"; do
    log="$out/t$t.log"
    : >"$log"
    for ((r = 1; r <= rounds; r++)); do
        # Round 1 also measures the sgemm peak, the GEMM-only floor and training memory.
        margs=(--threads "$t" --batches "$batches" --min-time "$min_time")
        if [ "$r" -eq 1 ]; then
            [ -x "$meshdl" ] && margs+=(--meshdl "$meshdl")
        else
            margs+=(--sgemm "" --no-floor)
        fi
        targs=(--threads "$t" --batches "$batches" --min-time "$min_time")
        # Alternate who goes first, so a change in machine load hits both sides.
        for side in $( ((r % 2)) && echo "meshdl torch" || echo "torch meshdl"); do
            if [ "$side" = meshdl ]; then
                "$bench" "${margs[@]}" >>"$log" 2>"$out/err"
            else
                "$python" "$here/torch_step.py" "${targs[@]}" >>"$log" 2>"$out/err"
            fi
            rc=$?
            if [ $rc -ne 0 ]; then
                echo "step.sh: $side side failed (exit $rc):" >&2
                cat "$out/err" >&2
                grep '^blas_check:' "$log" | tail -1
                [ $rc -eq 3 ] && exit 3
                status=1
            fi
        done
    done

    echo
    echo "== threads $t ($rounds rounds, >= ${min_time} s and >= 200 steps per batch and round, 50 warm-up steps)"
    grep -m1 '^blas: side=meshdl' "$log"
    grep -m1 '^blas: side=torch' "$log"
    grep -m1 '^torch:' "$log"
    grep -m1 '^kernels:' "$log"
    grep '^data:' "$log" | sort -u
    grep '^sgemm' "$log"
    awk -v t="$t" '
    function kv(line, key,   i, n, f, p) {
        n = split(line, f, " ")
        for (i = 1; i <= n; i++) {
            p = index(f[i], "=")
            if (p && substr(f[i], 1, p - 1) == key) return substr(f[i], p + 1)
        }
        return ""
    }
    /^sgemm_peak:/ { peak = kv($0, "gflops") }
    /^step:/ {
        s = kv($0, "side"); b = kv($0, "batch") + 0; m = kv($0, "median_us") + 0
        if (!((s, b) in best) || m < best[s, b]) { best[s, b] = m; line[s, b] = $0 }
        if (s == "meshdl") { fl = kv($0, "gemm_floor_us"); if (fl != "nan") floor[b] = fl }
        if (!(b in seen)) { seen[b] = 1; order[++nb] = b }
    }
    /^step:/ { laststep = $0 }
    /^phases:/ { phof[laststep] = $0 }
    /^rss:/ {
        s = kv($0, "side"); v = kv($0, "peak_rss_mb") + 0; if (v > rss[s] + 0) rss[s] = v
        if (s == "torch") imp = kv($0, "after_import_torch_mb")
    }
    /^train:/ { train = $0 }
    END {
        printf "%6s | %10s | %10s | %9s | %10s | %10s | %8s | %8s | %9s | %10s\n",
            "batch", "meshdl", "torch", "ratio", "meshdl", "torch", "meshdl", "% sgemm", "meshdl", "gemm-only"
        printf "%6s | %10s | %10s | %9s | %10s | %10s | %8s | %8s | %9s | %10s\n",
            "", "us/step", "us/step", "mdl/torch", "samples/s", "samples/s", "GFLOP/s", "peak", "mean us", "us/step"
        for (i = 1; i <= nb; i++) {
            b = order[i]; lm = line["meshdl", b]; lt = line["torch", b]
            mm = kv(lm, "median_us"); mt = kv(lt, "median_us")
            ratio = (mm != "" && mt != "") ? sprintf("%.2f", mm / mt) : "-"
            g = kv(lm, "gflops")
            pct = (g != "" && peak + 0 > 0) ? sprintf("%.1f%%", 100 * g / peak) : "-"
            printf "%6d | %10s | %10s | %9s | %10s | %10s | %8s | %8s | %9s | %10s\n", b,
                mm == "" ? "-" : mm, mt == "" ? "-" : mt, ratio,
                kv(lm, "samples_per_s"), kv(lt, "samples_per_s"), g == "" ? "-" : g, pct,
                kv(lm, "mean_us"), (b in floor) ? floor[b] : "-"
            r[b] = ratio
        }
        printf "torch GFLOP/s:"
        for (i = 1; i <= nb; i++) printf " B=%d %s", order[i], kv(line["torch", order[i]], "gflops")
        printf "; torch mean us/step:"
        for (i = 1; i <= nb; i++) printf " B=%d %s", order[i], kv(line["torch", order[i]], "mean_us")
        printf "\n"
        print "phases (median us; meshdl forward = copy of x + 3 dense + 2 ReLU; torch forward includes zero_grad and the loss; meshdl backward includes the loss):"
        for (i = 1; i <= nb; i++) {
            b = order[i]
            for (sd = 0; sd < 2; sd++) {
                s = sd ? "torch" : "meshdl"
                p = phof[line[s, b]]
                printf "  B=%-4d %-6s forward %8s  backward %8s  optimizer %8s\n", b, s,
                    kv(p, "forward_us"), kv(p, "backward_us"), kv(p, "optim_us")
            }
        }
        printf "sgemm peak (square, threads %s): %s GFLOP/s; a step counts 1007104*B FLOPs (its GEMMs, see bench_step.c)\n", t, peak
        if (train != "")
        {
            cmd = train; sub(/.*cmd="/, "", cmd); sub(/".*/, "", cmd)
            printf "peak memory, `%s`: %s MiB (ru_maxrss from wait4), %s MiB (peak_rss_mb of its summary), %s s\n",
                cmd, kv(train, "maxrss_mb"), kv(train, "summary_peak_rss_mb"), kv(train, "wall_s")
        }
        printf "peak memory, benchmark processes (all batch sizes): bench_step %s MiB, torch_step.py %s MiB (%s MiB of it once torch is imported)\n",
            rss["meshdl"], rss["torch"], imp
        goal(16, 0.7); goal(64, 1.0)
    }
    function goal(b, lim) {
        if (!(b in r) || r[b] == "-") { printf "goal B=%d ratio <= %.1f: not measured\n", b, lim; return }
        printf "goal B=%d meshdl/torch <= %.1f: %s (%s)\n", b, lim, (r[b] + 0 <= lim) ? "PASS" : "MISS", r[b]
    }' "$log"
done
echo
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at end"
exit $status
