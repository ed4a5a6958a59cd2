#!/usr/bin/python3
"""proc4_ref.py: the Python reference for bench/proc4.sh -- one peer of D-PSGD over ZeroMQ,
written as a PyTorch user would: one process per node, a PUB socket of its own, a SUB socket
connected to its two ring neighbours, and every step

    local SGD step (forward, loss, backward, optimizer.step())
    publish the flattened parameters, tagged with the step, on PUB
    receive both neighbours' parameters of the same step on SUB
    average: x = (x + x_left + x_right) / 3   (meshdl's Metropolis-Hastings ring weights)

then the test accuracy on the whole test set. The same work as `meshdl agent --topology ring
--optimizer sgd --lr 0.05 --schedule constant --batch 64 --epochs 1 --shard R/P`: the model is
meshdl's default mlp:784-256-128-10 (ReLU) with meshdl's initialisation (He normal for the
hidden layers, Glorot uniform for the last, zero biases; --init torch for PyTorch's own), the
same seed on every peer (one initial model), an iid shard of the training set (a seeded
permutation cut in P parts), data standardised with the training set's mean and deviation
(one scalar each, as meshdl), batches drawn without replacement with the short tail skipped.

The start is a barrier a user would write against ZeroMQ's slow joiner: every node publishes
a hello (its rank and who it has heard) every --hello-ms until both neighbours have heard it
and it has heard both; a neighbour's first parameters count as its hello.

Last stdout line: {"summary": {...}} with startup_s (exec to ready: torch imported, data
loaded, sockets bound), discovery_s (ready to the first step), wall_s (ready to the summary),
train_s, eval_s, import_s (numpy, torch, zmq), load_s (imported to ready), test_acc, steps,
peak_rss_mb. `--check-blas` only checks which BLAS torch
calls (bench/torch_step.py's check: exit 3 for netlib's reference BLAS) and exits.
"""
import argparse
import gzip
import json
import os
import resource
import struct
import sys
import time
import warnings

T_IMPORT = time.monotonic()
import numpy as np  # noqa: E402
import torch  # noqa: E402
import zmq  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_step  # noqa: E402  (its BLAS check: the library behind sgemm_)

T_IMPORTED = time.monotonic()


def process_age():
    """Seconds since this process was exec'd (its start time in /proc, 10 ms ticks)."""
    with open("/proc/self/stat") as f:
        start = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        up = float(f.read().split()[0])
    return up - start / os.sysconf("SC_CLK_TCK")


def read_idx(path):
    """A gzip IDX file (MNIST format) as a numpy array."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = struct.unpack(">%dI" % ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(data, rank, world, seed):
    xtr = read_idx(os.path.join(data, "train-images-idx3-ubyte.gz")).reshape(60000, -1)
    ytr = read_idx(os.path.join(data, "train-labels-idx1-ubyte.gz"))
    xte = read_idx(os.path.join(data, "t10k-images-idx3-ubyte.gz")).reshape(10000, -1)
    yte = read_idx(os.path.join(data, "t10k-labels-idx1-ubyte.gz"))
    x = xtr.astype(np.float32) / 255.0
    mean, std = float(x.mean()), float(x.std())
    perm = np.random.default_rng(seed).permutation(len(x))
    n = len(x) // world
    mine = np.sort(perm[rank * n:(rank + 1) * n])
    xs = torch.from_numpy((x[mine] - mean) / std)
    ys = torch.from_numpy(ytr[mine].astype(np.int64))
    xt = torch.from_numpy((xte.astype(np.float32) / 255.0 - mean) / std)
    yt = torch.from_numpy(yte.astype(np.int64))
    return xs, ys, xt, yt


def build(init, seed):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10))
    if init == "meshdl":
        with torch.no_grad():
            for layer, kind in ((model[0], "he"), (model[2], "he"), (model[4], "glorot")):
                if kind == "he":
                    torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                else:
                    torch.nn.init.xavier_uniform_(layer.weight)
                layer.bias.zero_()
    return model


class Ring:
    """PUB to the world, SUB from the two ring neighbours; messages tagged (kind, rank, step)."""
    HDR = struct.Struct("<cIQ")

    def __init__(self, rank, world, host, port0, hello_ms):
        self.rank, self.world = rank, world
        self.nbrs = sorted({(rank - 1) % world, (rank + 1) % world} - {rank})
        self.ctx = zmq.Context()
        self.pub = self.ctx.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 2000)
        self.pub.bind("tcp://%s:%d" % (host, port0 + rank))
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        for j in self.nbrs:
            self.sub.connect("tcp://%s:%d" % (host, port0 + j))
        self.hello_s = hello_ms / 1000.0
        self.parked = {}  # (step, rank) -> parameters that came before their step

    def _take(self, frames):
        kind, src, step = self.HDR.unpack(frames[0])
        if src not in self.nbrs:
            return None
        if kind == b"P":
            self.parked[(step, src)] = frames[1]
        return kind, src, step, frames[1]

    def barrier(self, timeout):
        heard, acked = set(), set()
        until = time.monotonic() + timeout
        next_hello = 0.0
        while not (heard >= set(self.nbrs) and acked >= set(self.nbrs)):
            now = time.monotonic()
            if now > until:
                raise SystemExit("proc4_ref: rank %d: neighbours %s not heard within %.0f s"
                                 % (self.rank, sorted(set(self.nbrs) - heard - acked), timeout))
            if now >= next_hello:
                self.pub.send_multipart([self.HDR.pack(b"H", self.rank, 0),
                                         bytes(sorted(heard))])
                next_hello = now + self.hello_s
            if self.sub.poll(max(1, int((next_hello - now) * 1000))):
                got = self._take(self.sub.recv_multipart())
                if got:
                    kind, src, _, body = got
                    heard.add(src)
                    if kind == b"P" or self.rank in body:
                        acked.add(src)
        # our last hello may predate hearing them: one more that says we did
        self.pub.send_multipart([self.HDR.pack(b"H", self.rank, 0), bytes(sorted(heard))])

    def exchange(self, step, vec, timeout):
        """Publishes vec (step's parameters), returns the neighbours' of the same step."""
        self.pub.send_multipart([self.HDR.pack(b"P", self.rank, step), vec.numpy()], copy=False)
        until = time.monotonic() + timeout
        while not all((step, j) in self.parked for j in self.nbrs):
            left = until - time.monotonic()
            if left <= 0 or not self.sub.poll(int(left * 1000) + 1):
                raise SystemExit("proc4_ref: rank %d: step %d: no parameters from %s within %.0f s"
                                 % (self.rank, step, [j for j in self.nbrs if (step, j) not in self.parked],
                                    timeout))
            self._take(self.sub.recv_multipart())
        return [torch.from_numpy(np.frombuffer(self.parked.pop((step, j)), dtype=np.float32))
                for j in self.nbrs]

    def close(self):
        self.pub.close()
        self.sub.close(linger=0)
        self.ctx.term()


def main():
    # neighbours' parameters are read-only buffers, and only ever read
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rank", type=int, default=0)
    ap.add_argument("--world", type=int, default=4)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=34000, help="rank R binds PORT + R")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--init", choices=("meshdl", "torch"), default="meshdl")
    ap.add_argument("--hello-ms", type=float, default=50.0)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--check-blas", action="store_true")
    args = ap.parse_args()
    if not (0 <= args.rank < args.world) or args.world < 2:
        ap.error("need 0 <= rank < world, world >= 2")

    torch.set_num_threads(args.threads)
    if args.check_blas:
        print("torch: version=%s get_num_threads=%d python=%s import_s=%.2f"
              % (torch.__version__, torch.get_num_threads(), sys.executable, time.monotonic() - T_IMPORT))
        torch_step.check_blas(args.threads)  # exits 3 unless OpenBLAS
        return 0
    # Debian's torch has BLAS_INFO=generic: torch.set_num_threads does not reach OpenBLAS
    blas_path, blas = torch_step.blas_provider()
    blas.openblas_set_num_threads(args.threads)

    xs, ys, xt, yt = load(args.data, args.rank, args.world, args.seed)
    model = build(args.init, args.seed)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    lossf = torch.nn.CrossEntropyLoss()
    ring = Ring(args.rank, args.world, args.host, args.port, args.hello_ms)
    startup = process_age()
    t_ready = time.monotonic()
    ring.barrier(args.timeout)
    t_first = time.monotonic()

    gen = torch.Generator().manual_seed(args.seed * 1000 + args.rank)
    spe = len(xs) // args.batch
    params = list(model.parameters())
    step = 0
    for _ in range(args.epochs):
        order = torch.randperm(len(xs), generator=gen)
        for b in range(spe):
            idx = order[b * args.batch:(b + 1) * args.batch]
            opt.zero_grad(set_to_none=True)
            lossf(model(xs[idx]), ys[idx]).backward()
            opt.step()
            with torch.no_grad():
                vec = torch.nn.utils.parameters_to_vector(params)
                left, right = ring.exchange(step, vec, args.timeout)
                torch.nn.utils.vector_to_parameters((vec + left + right) / 3.0, params)
            step += 1
    t_trained = time.monotonic()
    with torch.no_grad():
        acc = float((model(xt).argmax(1) == yt).float().mean())
    t_end = time.monotonic()
    ring.close()
    print(json.dumps({"summary": {
        "rank": args.rank, "test_acc": round(acc, 4), "steps": step,
        "startup_s": round(startup, 3), "discovery_s": round(t_first - t_ready, 3),
        "train_s": round(t_trained - t_first, 3), "eval_s": round(t_end - t_trained, 3),
        "wall_s": round(t_end - t_ready, 3), "import_s": round(T_IMPORTED - T_IMPORT, 3),
        "load_s": round(t_ready - T_IMPORTED, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "threads": torch.get_num_threads(), "blas": blas_path}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
