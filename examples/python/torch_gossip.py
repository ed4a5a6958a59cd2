#!/usr/bin/env python3
"""torch_gossip.py: PyTorch training loops that gossip their parameters through meshdl.

Each process trains the Fashion-MNIST MLP (784-256-128-10) with PyTorch on its own shard
of the training set and, after every optimizer step, hands its parameters to libmeshdl
(through ctypes: no compiled extension), which publishes them to its neighbours over TCP
and mixes theirs in place: D-PSGD by default, synchronous rounds, any meshdl codec. The
model's parameters live in one flat float32 tensor (the layers are views into it), so the
exchange reads and writes PyTorch's own memory, without a copy.

    python3 examples/python/torch_gossip.py --agents 2 --epochs 1

starts 2 processes on 127.0.0.1 with static peers (each knows the others' endpoints);
each prints its {"summary": {...}} line, and the last line is the summary of all of
them (mean test_acc). libmeshdl is found through MESHDL_LIB (a path), else where the
dynamic linker finds it (an installed meshdl: ldconfig, LD_LIBRARY_PATH).

--rank I --ports P0,P1,... runs one agent only (what the launcher starts; also how to run
agents on several machines, with --hosts).
"""
import argparse
import ctypes
import ctypes.util
import gzip
import json
import os
import socket
import subprocess
import sys
import time

DATA = "/usr/share/datasets/fashion-mnist"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agents", type=int, default=2, help="processes to start [2]")
    p.add_argument("--epochs", type=float, default=1.0, help="passes over each agent's shard [1]")
    p.add_argument("--batch", type=int, default=32, help="minibatch size [32]")
    p.add_argument("--lr", type=float, default=0.05, help="SGD learning rate (momentum 0.9) [0.05]")
    p.add_argument("--algo", default="dpsgd", help="meshdl algorithm that runs on a vector of your own: "
                   "dpsgd, choco, adagossip, localsgd, dynavg, adpsgd [dpsgd]")
    p.add_argument("--mode", default=None, help="sync | async [the algorithm's]")
    p.add_argument("--codec", default="fp32", help="codec of the published updates, e.g. fp16, q8, topk:0.01 [fp32]")
    p.add_argument("--topology", default="ring", help="gossip graph [ring]")
    p.add_argument("--final-merge", action="store_true", help="end with one exact average over all agents")
    p.add_argument("--threads", type=int, default=1, help="torch (and OpenBLAS) threads per process [1]")
    p.add_argument("--data", default=DATA, help=f"Fashion-MNIST directory [{DATA}]")
    p.add_argument("--train-subset", type=int, default=0, help="use only the first N training rows [all]")
    p.add_argument("--test-subset", type=int, default=0, help="evaluate on the first N test rows [all]")
    p.add_argument("--seed", type=int, default=1, help="random seed (model init, shards, batches) [1]")
    p.add_argument("--rank", type=int, default=None, help="run one agent: this one (0-based)")
    p.add_argument("--ports", default=None, help="with --rank: the agents' TCP ports, comma-separated")
    p.add_argument("--hosts", default=None, help="with --rank: the agents' hosts, comma-separated [127.0.0.1]")
    p.add_argument("--cluster", default=None, help="meshdl cluster name [torch-gossip-<launcher pid>]")
    a = p.parse_args()
    if a.agents < 1 or a.epochs <= 0 or a.batch < 1 or a.threads < 1:
        p.error("--agents, --batch and --threads must be >= 1 and --epochs > 0")
    return a


def fail(msg, code=2):
    print(f"torch_gossip: {msg}", file=sys.stderr)
    sys.exit(code)


# ---- libmeshdl through ctypes -------------------------------------------------------

def load_meshdl():
    path = os.environ.get("MESHDL_LIB") or ctypes.util.find_library("meshdl") or "libmeshdl.so.0.1"
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        fail(f"cannot load libmeshdl ({e}): build and install meshdl, or set MESHDL_LIB=/path/to/libmeshdl.so")
    P, S, I, U, Z = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint64, ctypes.c_size_t
    sig = {
        "mdl_version": ([], S),
        "mdl_error_detail": ([], S),
        "mdl_strerror": ([I], S),
        "mdl_agent_cfg_new": ([], P),
        "mdl_agent_cfg_destroy": ([ctypes.POINTER(P)], None),
        "mdl_agent_cfg_set": ([P, S, S], I),
        "mdl_agent_new": ([P, ctypes.POINTER(I)], P),
        "mdl_agent_destroy": ([ctypes.POINTER(P)], None),
        "mdl_agent_exchange": ([P, P, Z, U], I),
        "mdl_agent_finish": ([P, P, Z], I),
        "mdl_agent_set_loss": ([P, ctypes.c_double], None),
        "mdl_agent_endpoint": ([P], S),
        "mdl_agent_counter": ([P, S, ctypes.POINTER(ctypes.c_double)], I),
    }
    for name, (args, res) in sig.items():
        f = getattr(lib, name)
        f.argtypes, f.restype = args, res
    return lib


class Agent:
    """One meshdl agent exchanging a flat float32 vector of length d."""

    def __init__(self, lib, d, settings):
        self.lib, self.d = lib, d
        cfg = lib.mdl_agent_cfg_new()
        try:
            for key, value in [("model", ""), ("dim", str(d))] + settings:
                if lib.mdl_agent_cfg_set(cfg, key.encode(), str(value).encode()):
                    fail(lib.mdl_error_detail().decode())
            err = ctypes.c_int(0)
            self.agent = lib.mdl_agent_new(cfg, ctypes.byref(err))
            if not self.agent:
                fail(f"cannot start the agent: {lib.mdl_error_detail().decode()}", 3)
        finally:
            lib.mdl_agent_cfg_destroy(ctypes.byref(ctypes.c_void_p(cfg)))

    def exchange(self, flat, step):
        rc = self.lib.mdl_agent_exchange(self.agent, flat.data_ptr(), self.d, step)
        if rc < 0:
            fail(f"exchange at step {step}: {self.lib.mdl_error_detail().decode()}", 3)
        return rc

    def finish(self, flat):
        rc = self.lib.mdl_agent_finish(self.agent, flat.data_ptr(), self.d)
        if rc < 0:
            print(f"torch_gossip: finish: {self.lib.mdl_error_detail().decode()}", file=sys.stderr)
        return rc

    def counter(self, name):
        v = ctypes.c_double(0)
        self.lib.mdl_agent_counter(self.agent, name.encode(), ctypes.byref(v))
        return v.value

    def close(self):
        self.lib.mdl_agent_destroy(ctypes.byref(ctypes.c_void_p(self.agent)))


# ---- data and model -----------------------------------------------------------------

def read_idx(path):
    """An IDX file (gzip or plain) as a numpy array of its dimensions."""
    import numpy as np
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
        fail(f"{path}: not an IDX file of bytes")
    nd = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(nd)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * nd)
    if data.size != int(np.prod(dims)):
        fail(f"{path}: truncated")
    return data.reshape(dims)


def load_split(directory, split):
    for suffix in (".gz", ""):
        images = os.path.join(directory, f"{split}-images-idx3-ubyte{suffix}")
        labels = os.path.join(directory, f"{split}-labels-idx1-ubyte{suffix}")
        if os.path.exists(images) and os.path.exists(labels):
            x, y = read_idx(images), read_idx(labels)
            return x.reshape(len(x), -1).astype("float32") / 255.0, y.astype("int64")
    fail(f"no {split} set in {directory}: apt-get install dataset-fashion-mnist, or --data DIR")


def flat_model(torch, seed):
    """The MLP with every parameter a view into one flat float32 tensor."""
    torch.manual_seed(seed)  # every agent starts from the same model
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                                torch.nn.ReLU(), torch.nn.Linear(128, 10))
    params = list(model.parameters())
    flat = torch.zeros(sum(p.numel() for p in params), dtype=torch.float32)
    at = 0
    for p in params:
        n = p.numel()
        flat[at:at + n].copy_(p.data.reshape(-1))
        p.data = flat[at:at + n].view_as(p)
        at += n
    return model, flat


# ---- one agent ----------------------------------------------------------------------

def run_agent(a):
    import numpy as np
    import torch
    torch.set_num_threads(a.threads)
    lib = load_meshdl()
    ports = [int(p) for p in a.ports.split(",")]
    hosts = a.hosts.split(",") if a.hosts else ["127.0.0.1"] * len(ports)
    n, i = len(ports), a.rank
    if not 0 <= i < n or len(hosts) != n:
        fail("--rank must be below the number of --ports, and --hosts as many as --ports")
    x, y = load_split(a.data, "train")
    xt, yt = load_split(a.data, "t10k")
    if a.train_subset:
        x, y = x[:a.train_subset], y[:a.train_subset]
    if a.test_subset:
        xt, yt = xt[:a.test_subset], yt[:a.test_subset]
    mean, sd = float(x.mean()), float(x.std())  # the training set's statistics for both
    x, xt = (x - mean) / sd, (xt - mean) / sd
    rows = np.random.default_rng(a.seed).permutation(len(x))[i::n]  # IID shard i of n
    model, flat = flat_model(torch, a.seed)
    d = flat.numel()
    peers = ",".join(f"tcp://{hosts[k]}:{ports[k]}" for k in range(n) if k != i)
    settings = [("id", i + 1), ("bind", f"tcp://{hosts[i]}:{ports[i]}"), ("cluster", a.cluster),
                ("algo", a.algo), ("codec", a.codec), ("topology", a.topology), ("seed", a.seed),
                ("min-peers", n - 1), ("min-peers-timeout", 60), ("hello-interval", 0.1)]
    if peers:
        settings.append(("peers", peers))
    if a.mode:
        settings.append(("mode", a.mode))
    if a.final_merge:
        settings.append(("final-merge", "true"))
    agent = Agent(lib, d, settings)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    # Every agent takes the same number of steps (sync rounds are matched by step).
    min_shard = len(x) // n
    steps = int(a.epochs * (min_shard // a.batch))
    order = np.random.default_rng(a.seed * 1000 + i)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    t0, cpu0 = time.time(), time.process_time()
    perm, at = order.permutation(rows), 0
    for step in range(steps):
        if at + a.batch > len(perm):
            perm, at = order.permutation(rows), 0
        idx = torch.from_numpy(perm[at:at + a.batch])
        at += a.batch
        opt.zero_grad()
        loss = loss_fn(model(xs[idx]), ys[idx])
        loss.backward()
        opt.step()  # writes into flat, through the parameters' views
        lib.mdl_agent_set_loss(agent.agent, float(loss))
        agent.exchange(flat, step)  # publish flat, mix the neighbours' into it in place
    agent.finish(flat)
    with torch.no_grad():
        logits = model(torch.from_numpy(xt))
        acc = float((logits.argmax(1) == torch.from_numpy(yt)).float().mean())
        test_loss = float(loss_fn(logits, torch.from_numpy(yt)))
    summary = {"agent": i, "agents": n, "params": d, "steps": steps, "test_acc": round(acc, 4),
               "test_loss": round(test_loss, 4), "wall_s": round(time.time() - t0, 2),
               "cpu_s": round(time.process_time() - cpu0, 2)}
    for c in ("bytes_sent", "bytes_received", "updates_applied", "updates_dropped", "peers_seen"):
        summary[c] = int(agent.counter(c))
    agent.close()
    print(json.dumps({"summary": summary}), flush=True)


# ---- the launcher -------------------------------------------------------------------

def free_ports(k):
    socks = []
    try:
        for _ in range(k):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def torch_blas_note():
    """One line on stderr about torch's BLAS, only when it matters: when the library torch
    really calls (Debian's torch links the generic libblas.so.3, whatever the system's
    alternative is) is OpenBLAS, as libmeshdl's is, both follow OPENBLAS_NUM_THREADS, set
    per process here (--threads)."""
    import torch
    torch.ones(64, 64) @ torch.ones(64, 64)  # BLAS loaded and used
    libs = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if "blas" in os.path.basename(path):
                libs.add(os.path.realpath(path))
    openblas = sorted(p for p in libs if "openblas" in p)
    if openblas:
        print(f"torch_gossip: torch {torch.__version__} computes with OpenBLAS ({openblas[0]}), as libmeshdl does: "
              f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']} and {torch.get_num_threads()} torch "
              f"thread(s) per process", file=sys.stderr)


def launch(a):
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(a.threads))
    try:
        import torch
        torch.set_num_threads(a.threads)
        torch_blas_note()
    except ImportError:
        fail("PyTorch is not installed: apt-get install python3-torch")
    lib = load_meshdl()  # fail here, once, rather than in every child
    ports = free_ports(a.agents)
    cluster = a.cluster or f"torch-gossip-{os.getpid()}"
    argv = [sys.executable, os.path.abspath(__file__), "--ports", ",".join(map(str, ports)), "--cluster", cluster]
    for k, v in vars(a).items():
        if k in ("agents", "rank", "ports", "hosts", "cluster") or v is None or v is False:
            continue
        argv += [f"--{k.replace('_', '-')}"] + ([] if v is True else [str(v)])
    print(f"torch_gossip: {a.agents} agents on 127.0.0.1:{','.join(map(str, ports))}, {a.algo} on a {a.topology}, "
          f"codec {a.codec}, libmeshdl {lib.mdl_version().decode()}", file=sys.stderr)
    children = [subprocess.Popen(argv + ["--rank", str(r)], stdout=subprocess.PIPE, text=True)
                for r in range(a.agents)]
    summaries, failed = [], 0
    for r, c in enumerate(children):
        out, _ = c.communicate()
        last = out.strip().splitlines()[-1] if out.strip() else ""
        try:
            summaries.append(json.loads(last)["summary"])
            print(last, flush=True)
        except (ValueError, KeyError):
            failed += 1
            print(f"torch_gossip: agent {r} exited {c.returncode} without a summary", file=sys.stderr)
        failed += c.returncode != 0
    if failed or not summaries:
        sys.exit(3)
    accs = [s["test_acc"] for s in summaries]
    print(json.dumps({"summary": {"agents": a.agents, "epochs": a.epochs, "algo": a.algo, "codec": a.codec,
                                  "test_acc": round(sum(accs) / len(accs), 4), "test_acc_min": min(accs),
                                  "steps": summaries[0]["steps"],
                                  "bytes_sent": sum(s["bytes_sent"] for s in summaries),
                                  "wall_s": max(s["wall_s"] for s in summaries)}}), flush=True)


def main():
    a = parse_args()
    if a.rank is not None:
        if not a.ports:
            fail("--rank needs --ports")
        a.cluster = a.cluster or "torch-gossip"
        run_agent(a)
    else:
        launch(a)


if __name__ == "__main__":
    main()
