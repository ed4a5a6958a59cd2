#!/usr/bin/python3
"""torch_step.py: PyTorch twin of bench_step.c -- time of one training step of
mlp:784-256-128-10 (Linear-ReLU-Linear-ReLU-Linear, CrossEntropyLoss, zero_grad(set_to_none),
backward, SGD momentum 0.9), on the same synthetic data, the same thread count.

Run with Debian's interpreter and python3-torch: /usr/bin/python3 bench/torch_step.py.
Output: one "key: k=v ..." line per measurement, as bench_step prints (step.sh parses both).

Before timing it establishes what PyTorch actually computes with, and exits 3 if the BLAS
behind it is netlib's reference implementation (or cannot be identified): a comparison
against an unoptimised BLAS would say nothing about meshdl.
  - the library that resolves the Fortran symbol sgemm_ (what ATen's cpublas::gemm calls
    when the build has BLAS_INFO=generic, as Debian's has), found by dladdr;
  - the libblas.so.3 alternative (update-alternatives), for information;
  - whether oneDNN (mkldnn) runs any primitive during a step, by oneDNN's verbose mode,
    with a convolution as the positive control that the probe itself works.
"""
import argparse
import ctypes
import ctypes.util
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import torch
except ImportError:
    print("torch_step: cannot import torch; apt-get install python3-torch and run it "
          "with /usr/bin/python3", file=sys.stderr)
    sys.exit(2)
# Peak RSS once torch is imported: the part of the run's peak that is the library itself.
IMPORT_RSS_MB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

IN, H1, H2, CLASSES = 784, 256, 128, 10
# GEMM FLOPs per sample of one step; the formula is in bench_step.c's header.
FLOPS_PER_SAMPLE = 1007104.0


def fail(msg):
    print("torch_step: FAIL: " + msg, file=sys.stderr)
    print("blas_check: side=torch status=FAIL reason=\"%s\"" % msg)
    sys.exit(3)


class DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def blas_provider():
    """(path of the library defining sgemm_ as libtorch_cpu sees it, its handle)."""
    # dlopen of the soname returns the copy libtorch_cpu already loaded (same soname),
    # so this is the library its sgemm_ calls land in.
    blas = ctypes.CDLL("libblas.so.3", mode=os.RTLD_NOLOAD | os.RTLD_GLOBAL)
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    info = DlInfo()
    addr = ctypes.cast(blas.sgemm_, ctypes.c_void_p)
    if not libc.dladdr(addr, ctypes.byref(info)) or not info.dli_fname:
        fail("dladdr cannot place sgemm_")
    return os.path.realpath(info.dli_fname.decode()), blas


def check_blas(threads):
    # A matmul first, so every lazily loaded library is mapped.
    torch.mm(torch.ones(8, 8), torch.ones(8, 8))
    maps = set()
    with open("/proc/self/maps") as f:
        for line in f:
            p = line.split()[-1]
            if ".so" in p and any(k in p for k in ("blas", "lapack", "mkl", "dnnl", "blis")):
                maps.add(p)
    alt = "?"
    if shutil.which("update-alternatives"):
        q = subprocess.run(["update-alternatives", "--query", "libblas.so.3-x86_64-linux-gnu"],
                           capture_output=True, text=True)
        for line in q.stdout.splitlines():
            if line.startswith("Value:"):
                alt = line.split(None, 1)[1]
    try:
        path, blas = blas_provider()
    except OSError as e:
        fail("libblas.so.3 is not loaded in this process (%s): cannot tell which BLAS "
             "PyTorch calls" % e)
    if "/blas/" in path or "refblas" in path or "netlib" in path:
        fail("sgemm_ resolves to %s, netlib's reference BLAS: the comparison would be "
             "meaningless; install libopenblas0-pthread (update-alternatives --config "
             "libblas.so.3-x86_64-linux-gnu)" % path)
    try:
        get_config = blas.openblas_get_config
    except AttributeError:
        fail("sgemm_ resolves to %s, which is not OpenBLAS (no openblas_get_config): "
             "cannot tell it from the reference BLAS" % path)
    get_config.restype = ctypes.c_char_p
    blas.openblas_get_corename.restype = ctypes.c_char_p
    # Debian's torch is built with BLAS_INFO=generic, so torch.set_num_threads does not
    # reach OpenBLAS's own pool: set it here to the same N as meshdl, or OpenBLAS runs
    # its default (all cores) under ATen's OpenMP thread, which is another benchmark.
    before = blas.openblas_get_num_threads()
    blas.openblas_set_num_threads(threads)
    print("blas: side=torch lib=%s core=%s threads=%d (was %d) config=\"%s\""
          % (path, blas.openblas_get_corename().decode(), blas.openblas_get_num_threads(),
             before, get_config().decode()))
    print("blas_maps: side=torch alternative=%s mapped=%s" % (alt, ",".join(sorted(maps))))
    print("blas_check: side=torch status=OK")


def onednn_exec_count(fn):
    """Number of oneDNN primitives executed by fn(), from oneDNN's verbose output on fd 1."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 1)
        try:
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                fn()
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode(errors="replace")
    return sum(1 for ln in text.splitlines() if ln.startswith("onednn_verbose,exec"))


def make_data(rows):
    """splitmix64 + Box-Muller, seed 42: the exact stream of bench_step.c."""
    mask = (1 << 64) - 1
    s = 42

    def nxt():
        nonlocal s
        s = (s + 0x9E3779B97F4A7C15) & mask
        z = s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    two_pi = 2.0 * 3.14159265358979323846
    xs = []
    for _ in range(rows * IN):
        u1 = ((nxt() >> 11) + 1) * 2.0 ** -53
        u2 = (nxt() >> 11) * 2.0 ** -53
        xs.append(math.sqrt(-2.0 * math.log(u1)) * math.cos(two_pi * u2))
    x = torch.tensor(xs, dtype=torch.float32).reshape(rows, IN)
    y = torch.tensor([nxt() % CLASSES for _ in range(rows)], dtype=torch.int64)
    xsum = 0.0
    for v in x.reshape(-1).tolist():
        xsum += v
    print("data: side=torch rows=%d x_sum=%.6f y_sum=%d" % (rows, xsum, int(y.sum())))
    return x, y


def build(seed=1):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(IN, H1), torch.nn.ReLU(),
                                torch.nn.Linear(H1, H2), torch.nn.ReLU(),
                                torch.nn.Linear(H2, CLASSES))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return model, opt, torch.nn.CrossEntropyLoss()


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def bench_batch(x, y, args):
    B = x.shape[0]
    model, opt, lossf = build()
    now = time.perf_counter
    loss = None
    for _ in range(args.warmup):
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(x), y)
        loss.backward()
        opt.step()
    cpu = time.process_time  # all threads; does not advance while descheduled
    ts, tf, tb, to, tc = [], [], [], [], []
    t0 = now()
    while True:
        ca = cpu()
        a = now()
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(x), y)
        b = now()
        loss.backward()
        c = now()
        opt.step()
        d = now()
        tc.append(cpu() - ca)
        ts.append(d - a)
        tf.append(b - a)
        tb.append(c - b)
        to.append(d - c)
        if len(ts) >= args.min_steps and d - t0 >= args.min_time:
            break
    med, mean = median(ts), sum(ts) / len(ts)
    lv = float(loss)
    print("step: side=torch batch=%d median_us=%.1f mean_us=%.1f min_us=%.1f steps=%d "
          "samples_per_s=%.0f gflops=%.2f flops_per_step=%.0f loss=%.4f cpu_median_us=%.1f"
          % (B, 1e6 * med, 1e6 * mean, 1e6 * min(ts), len(ts), B / med,
             FLOPS_PER_SAMPLE * B / med / 1e9, FLOPS_PER_SAMPLE * B, lv, 1e6 * median(tc)))
    print("phases: side=torch batch=%d forward_us=%.1f backward_us=%.1f optim_us=%.1f"
          % (B, 1e6 * median(tf), 1e6 * median(tb), 1e6 * median(to)))
    sys.stdout.flush()
    if not math.isfinite(lv):
        print("torch_step: loss is not finite at batch %d" % B, file=sys.stderr)
        return 1
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batches", default="16,64,256")
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--min-steps", type=int, default=200)
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",") if b]
    if args.threads < 1 or not batches or min(batches) < 1:
        ap.error("threads and batches must be >= 1")

    torch.set_num_threads(args.threads)
    cfg = torch.__config__.show()
    cap = [ln.strip() for ln in cfg.splitlines() if "CPU capability" in ln]
    binfo = [t for t in cfg.replace(",", " ").split() if t.startswith("BLAS_INFO=")]
    print("torch: side=torch version=%s get_num_threads=%d interop_threads=%d "
          "mkldnn_available=%s %s capability=\"%s\" python=%s"
          % (torch.__version__, torch.get_num_threads(), torch.get_num_interop_threads(),
             torch.backends.mkldnn.is_available(), binfo[0] if binfo else "BLAS_INFO=?",
             cap[0].split(":", 1)[1].strip() if cap else "?", sys.executable))
    print("env:" + "".join(" %s=%s" % (k, os.environ.get(k, "(unset)"))
                           for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                     "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY")))
    check_blas(args.threads)

    x_all, y_all = make_data(max(batches))

    # Which kernels a step uses: oneDNN primitives executed (0 means ATen's own kernels
    # and BLAS sgemm_ for the Linear layers), with a convolution as the probe's control.
    model, opt, lossf = build()

    def one_step():
        opt.zero_grad(set_to_none=True)
        lossf(model(x_all[:64]), y_all[:64]).backward()
        opt.step()

    one_step()
    n_step = onednn_exec_count(one_step)
    n_ctrl = onednn_exec_count(
        lambda: torch.nn.functional.conv2d(torch.ones(8, 32, 32, 32), torch.ones(64, 32, 3, 3)))
    linear = "BLAS sgemm_" if n_step == 0 else "oneDNN"
    print("kernels: side=torch onednn_primitives_per_step=%d onednn_probe_control=%d "
          "linear_uses=\"%s\"%s" % (n_step, n_ctrl, linear,
                                    "" if n_ctrl > 0 else " (probe inconclusive)"))
    sys.stdout.flush()

    rc = 0
    for B in batches:
        rc |= bench_batch(x_all[:B].contiguous(), y_all[:B].contiguous(), args)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("rss: side=torch process=torch_step.py peak_rss_mb=%.1f after_import_torch_mb=%.1f"
          % (peak, IMPORT_RSS_MB))
    return rc


if __name__ == "__main__":
    sys.exit(main())
