#!/usr/bin/python3
"""torch_topk.py: times PyTorch's torch.topk on the vectors bench_codec.c uses.

For each d (default 10^4, 10^6, 10^7) and k = ceil(0.01 d): torch.topk(x.abs(), k,
sorted=False) -- what a top-k compressor must do, magnitude included -- and, for
reference, torch.topk(x, k, sorted=False) on the raw values. Median of repeated runs,
on as many threads as bench_codec uses (1 unless --threads). Lines starting with
RESULT are for bench/codec.sh. Run with Debian's /usr/bin/python3 (python3-torch)."""
import argparse
import math
import statistics
import time

import torch


def median_time(fn, reps):
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dims", nargs="*", type=float, default=[1e4, 1e6, 1e7])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--frac", type=float, default=0.01)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"{'torch op':<28} {'d':>9} {'k':>8} {'ms':>10} {'Melem/s':>10}")
    g = torch.Generator().manual_seed(2024)
    for d in (int(x) for x in a.dims):
        k = max(1, math.ceil(a.frac * d))
        x = torch.randn(d, generator=g)
        reps = max(5, min(2001, int(2e8 / (d + 1000) / 4)))
        torch.topk(x.abs(), k, sorted=False)  # warm up
        t_abs = median_time(lambda: torch.topk(x.abs(), k, sorted=False), reps)
        t_raw = median_time(lambda: torch.topk(x, k, sorted=False), reps)
        for name, t in (("topk(|x|, k, sorted=False)", t_abs), ("topk(x, k, sorted=False)", t_raw)):
            print(f"{name:<28} {d:>9} {k:>8} {t * 1e3:>10.3f} {d / t / 1e6:>10.1f}")
        print(f"RESULT torch_topk_abs {d} {t_abs:.9f}")
        print(f"RESULT torch_topk_raw {d} {t_raw:.9f}")


if __name__ == "__main__":
    main()
