"""A/B of graphc's training step between two checkouts: the step graphs in one process, interleaved.

The round-robin harness (``train_speed.py``) compares frameworks epoch by epoch; on a VM whose speed
drifts ±15% between minutes it cannot resolve a change of a few percent. This script builds each
workload's training-step ONNX graph (what ``fit`` runs) from two source trees, opens both in
onnxruntime in this one process with the same random state and thread count, and alternates blocks
of steps between them, so drift falls on both alike. It reports the median step time of each and
the median of the per-round ratios (new / old; below 1 is faster).

    python benchmarks/step_ab.py --old /path/to/old/checkout [--new .] [--workloads W1,W2,W3]
                                 [--rounds 20] [--threads 2]

(``git worktree add --detach /tmp/old <commit>`` makes an old checkout.)
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
#: steps per timed block: enough for ~0.1-0.5 s per block
BLOCK = {"W1": 200, "W2": 10, "W3": 4}


def dump_step(tree: str, name: str, path: str) -> int:
    """Writes ``tree``'s training step of workload ``name`` to ``path`` (a subprocess importing
    graphc from ``tree``); returns its node count."""
    code = (
        "import sys, onnx; sys.path.insert(0, sys.argv[3])\n"
        "from workloads import WORKLOADS, data, keras_like_model, labels_for\n"
        "import graphc as keras; from graphc import layers\n"
        "name = sys.argv[1]; keras.set_random_seed(0)\n"
        "m = keras_like_model(keras, layers, name); x, y = data(name, 2)\n"
        "m.fit(x, labels_for(name, y), batch_size=WORKLOADS[name]['batch'], verbose=0, shuffle=False)\n"
        "b = m._train_state.executor._data; open(sys.argv[2], 'wb').write(b)\n"
        "print(len(onnx.load_from_string(b).graph.node))\n")
    env = dict(os.environ, PYTHONPATH=os.path.abspath(tree))
    out = subprocess.run([sys.executable, "-c", code, name, path, HERE], env=env, capture_output=True, text=True,
                         cwd=os.path.abspath(tree))
    if out.returncode:
        raise RuntimeError(f"building {name}'s step in {tree} failed:\n{out.stderr[-2000:]}")
    return int(out.stdout.split()[-1])


def session(path: str, batch: int, threads: int):
    """An IOBinding session over the step at ``path`` with seeded inputs; returns (run, keep-alive)."""
    import onnxruntime as ort

    sys.path.insert(0, ROOT)
    from runtime.providers import DISABLED_OPTIMIZERS, session_options

    so = session_options("cpu", threads)  # fit's session settings (TrainStepExecutor._new_session)
    with open(path, "rb") as f:
        s = ort.InferenceSession(f.read(), so, providers=["CPUExecutionProvider"],
                                 disabled_optimizers=DISABLED_OPTIMIZERS)
    rng = np.random.default_rng(0)
    types = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(bool)": np.bool_}
    keep, binding = [], s.io_binding()
    for i in s.get_inputs():
        shape = [batch if not isinstance(d, int) else d for d in i.shape]
        dtype = types[i.type]
        if dtype == np.int64:
            a = rng.integers(0, 10, shape) if shape else np.asarray(0)
        elif i.name.startswith("sample_weight"):
            a = np.ones(shape)
        elif i.name == "optimizer/learning_rate":
            a = np.asarray(1e-3)
        else:  # parameters and optimizer slots: small positive values keep every slot form valid
            a = np.abs(rng.standard_normal(shape)) * 0.05
        a = np.array(a, dtype=dtype, order="C")  # (ascontiguousarray would make a scalar 1-d)
        keep.append(a)
        binding.bind_ortvalue_input(i.name, ort.OrtValue.ortvalue_from_numpy(a))
    for o in s.get_outputs():
        binding.bind_output(o.name, "cpu")
    s.run_with_iobinding(binding)  # learns the output shapes; later runs write into fixed buffers
    for o, v in zip(s.get_outputs(), binding.get_outputs()):
        buf = ort.OrtValue.ortvalue_from_shape_and_type(v.shape(), np.asarray(v.numpy()).dtype, "cpu", 0)
        keep.append(buf)
        binding.bind_ortvalue_output(o.name, buf)
    for _ in range(10):
        s.run_with_iobinding(binding)
    return (lambda: s.run_with_iobinding(binding)), (s, binding, keep)


def compare(old: str, new: str, name: str, rounds: int, threads: int) -> str:
    sys.path.insert(0, HERE)
    from workloads import WORKLOADS

    with tempfile.TemporaryDirectory() as tmp:
        paths = {k: os.path.join(tmp, f"{k}.onnx") for k in ("old", "new")}
        nodes = {k: dump_step(tree, name, paths[k]) for k, tree in (("old", old), ("new", new))}
        runs = {k: session(paths[k], WORKLOADS[name]["batch"], threads) for k in paths}
    steps = BLOCK.get(name, 10)
    times: dict = {"old": [], "new": []}
    for r in range(rounds):
        for k in (("old", "new") if r % 2 == 0 else ("new", "old")):
            run = runs[k][0]
            t0 = time.perf_counter()
            for _ in range(steps):
                run()
            times[k].append((time.perf_counter() - t0) / steps * 1e3)
    ratio = statistics.median(n / o for n, o in zip(times["new"], times["old"]))
    return (f"{name}: old {statistics.median(times['old']):.3f} ms/step ({nodes['old']} nodes), "
            f"new {statistics.median(times['new']):.3f} ms/step ({nodes['new']} nodes); "
            f"new/old {ratio:.3f} (median of {rounds} per-round ratios, {steps} steps per block)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True, help="checkout of the baseline")
    ap.add_argument("--new", default=ROOT, help="checkout to compare (default: this one)")
    ap.add_argument("--workloads", default="W1,W2,W3")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    for name in args.workloads.split(","):
        print(compare(args.old, args.new, name.strip(), args.rounds, args.threads), flush=True)


if __name__ == "__main__":
    main()
