#!/usr/bin/env python3
"""ckptdist.py [--same-step] CKPT...: the exact consensus distance of the agents whose checkpoints are
given, (1/n) sum_i ||x_i - xbar||^2 over their "params" sections, as one JSON line:
{"n": n, "steps": [...], "distance": D}. Reads checkpoint format version 2
(lib/checkpoint.h); the crcs are not checked here (meshdl's loader does that): the files
are the agents' own, replaced atomically while they train. No numpy: plain floats.
--same-step: exit 3 (printing the steps) unless every checkpoint is of one step, before
the distance is computed. --common DIR N: DIR holds copies named AGENT.ANYTHING taken
over a few seconds (agents 1..N); the distance is that of the latest step every agent
has a copy of (exit 3 when there is none).

The tests of tests/lan/ copy each agent's --checkpoint-every file at one instant and
call this on the copies, since an agent exposes no other view of its model."""
import json
import struct
import sys
from array import array


def params(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"MDLCKPT1":
        raise ValueError(f"{path}: not a meshdl checkpoint")
    version, head_len = struct.unpack_from("<II", data, 8)
    if version != 2:
        raise ValueError(f"{path}: checkpoint version {version}, this reads 2")
    p = 16
    (spec_len,) = struct.unpack_from("<I", data, p); p += 4 + spec_len
    (algo_len,) = struct.unpack_from("<I", data, p); p += 4 + algo_len
    step, _epoch, nsec = struct.unpack_from("<QQI", data, p); p += 20
    sections = []
    for _ in range(nsec):
        kind, name_len = struct.unpack_from("<BB", data, p); p += 2
        name = data[p:p + name_len].decode(); p += name_len
        (count,) = struct.unpack_from("<Q", data, p); p += 8
        sections.append((kind, name, count))
    off = 16 + head_len + 4
    for kind, name, count in sections:
        size = count * 4 if kind == 1 else count
        if name == "params":
            x = array("f")
            x.frombytes(data[off:off + size])
            if sys.byteorder != "little":
                x.byteswap()
            return step, x
        off += size + 4
    raise ValueError(f"{path}: no params section")


def main(paths, same_step):
    models = [params(p) for p in paths]
    if same_step and len({s for s, _ in models}) != 1:
        print(json.dumps({"n": len(models), "steps": [s for s, _ in models]}))
        sys.exit(3)
    n = len(models)
    d = len(models[0][1])
    if any(len(x) != d for _, x in models):
        raise ValueError("checkpoints of different models")
    mean = [0.0] * d
    for _, x in models:
        for k in range(d):
            mean[k] += x[k]
    mean = [m / n for m in mean]
    dist = 0.0
    for _, x in models:
        dist += sum((x[k] - mean[k]) ** 2 for k in range(d))
    print(json.dumps({"n": n, "steps": [s for s, _ in models], "distance": dist / n}))


def common(folder, n):
    import os
    by_step = {}
    for name in os.listdir(folder):
        agent = name.split(".")[0]
        try:
            step, _ = params(os.path.join(folder, name))
        except (OSError, ValueError, struct.error):
            continue
        by_step.setdefault(step, {})[agent] = os.path.join(folder, name)
    full = [s for s, a in by_step.items() if len(a) == n]
    if not full:
        print(json.dumps({"n": n, "steps": sorted(by_step)}))
        sys.exit(3)
    main(sorted(by_step[max(full)].values()), True)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--common":
        try:
            common(sys.argv[2], int(sys.argv[3]))
        except (OSError, ValueError) as e:
            sys.exit(f"ckptdist.py: {e}")
        sys.exit(0)
    same = len(sys.argv) > 1 and sys.argv[1] == "--same-step"
    paths = sys.argv[2:] if same else sys.argv[1:]
    if len(paths) < 2:
        sys.exit("usage: ckptdist.py [--same-step] CKPT CKPT...")
    try:
        main(paths, same)
    except (OSError, ValueError, struct.error) as e:
        sys.exit(f"ckptdist.py: {e}")
