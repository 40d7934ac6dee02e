"""Compile speed: how graph build, the optimization pipeline and ONNX export scale with graph size.

Synthetic graphs of about 1k, 10k and 100k nodes in two shapes:

* chain: one long path of elementwise and shape ops, seeded with work for every pass (identities,
  transposes that cancel, reshape chains, foldable constants, MatMul + Add pairs);
* tree: a balanced binary tree of Adds over many small branches (wide graphs, many Constants that
  CSE merges).

For each: time to build the IR (op-by-op through the Builder, with type inference), to run the
level-2 pipeline, and to lower the result to ONNX; plus microseconds per node, which stays flat
when growth is linear. Optionally also ResNet50 from ``graphc.applications`` (build + optimized
export).

    python benchmarks/compile_speed.py [--sizes 1000 10000 100000] [--resnet]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import graphc.ops as O  # noqa: E402
from graphc.ir import Graph, TensorType  # noqa: E402
from graphc.ops import Builder  # noqa: E402


def _segment(b, x, i):
    """~12 nodes that every pass has something to do with."""
    w = b.constant(np.full((8, 8), 0.01 * (i % 7), np.float32))
    y = O.add(O.matmul(x, w), b.constant(np.ones(8, np.float32)))            # FuseMatMulAdd
    y = O.identity(O.relu(y))                                                 # EliminateIdentity
    y = O.transpose(O.transpose(y, (1, 0)), (1, 0))                           # CancelTransposes / fold
    y = O.reshape(O.reshape(y, (-1, 4, 2)), (-1, 8))                          # FuseConsecutiveReshapes
    c = O.add(b.constant(np.float32(1.0)), b.constant(np.float32(i % 3)))     # FoldConstants
    return O.tanh(O.mul(y, c))


def chain(n_nodes: int) -> Graph:
    g = Graph(f"chain{n_nodes}")
    b = Builder(g)
    with b.activate():
        x = b.input("x", TensorType("float32", ("batch", 8)))
        i = 0
        while len(g) < n_nodes:
            x = _segment(b, x, i)
            i += 1
    g.set_outputs([x], ["y"])
    return g


def tree(n_nodes: int) -> Graph:
    g = Graph(f"tree{n_nodes}")
    b = Builder(g)
    with b.activate():
        x = b.input("x", TensorType("float32", ("batch", 8)))
        leaves = []
        while len(g) < n_nodes * 5 // 6:  # each leaf is 5 nodes; the Adds above them make the rest
            k = len(leaves)
            leaves.append(O.relu(O.mul(O.add(x, b.constant(np.float32(k % 5))), b.constant(np.float32(1.0)))))
        while len(leaves) > 1:
            leaves = [O.add(leaves[j], leaves[j + 1]) if j + 1 < len(leaves) else leaves[j]
                      for j in range(0, len(leaves), 2)]
    g.set_outputs(leaves, ["y"])
    return g


#: CPU time of this process: on a shared machine wall time also counts other processes' turns.
clock = time.process_time


def measure(make, n: int) -> dict:
    from graphc.onnx import to_onnx
    from passes import run_pipeline

    w0, t0 = time.perf_counter(), clock()
    g = make(n)
    t1 = clock()
    out, manager = run_pipeline(g, level=2, export=True)
    t2 = clock()
    proto = to_onnx(out)
    t3 = clock()
    return {"graph": g.name, "nodes": len(g), "after": len(out), "onnx_nodes": len(proto.graph.node),
            "build": t1 - t0, "passes": t2 - t1, "export": t3 - t2, "wall": time.perf_counter() - w0}


def resnet50() -> dict:
    from graphc.applications import ResNet50
    from graphc.onnx import to_onnx
    from passes import optimize

    w0, t0 = time.perf_counter(), clock()
    model = ResNet50(weights=None)
    g = model._trace_graph(False)
    t1 = clock()
    out = optimize(g, level=2, export=True)
    t2 = clock()
    proto = to_onnx(out)
    t3 = clock()
    wall = time.perf_counter() - w0
    plain = to_onnx(g)
    x = np.random.default_rng(0).random((1, 224, 224, 3), dtype=np.float32)
    return {"graph": "resnet50", "nodes": len(g), "after": len(out), "onnx_nodes": len(proto.graph.node),
            "plain_onnx_nodes": len(plain.graph.node), "build": t1 - t0, "passes": t2 - t1, "export": t3 - t2,
            "wall": wall, "ort_plain_ms": _ort_ms(plain, x), "ort_opt_ms": _ort_ms(proto, x)}


def _ort_ms(proto, x, runs: int = 20) -> float:
    """Median onnxruntime CPU inference time (ms) with onnxruntime's own optimizations on."""
    import onnxruntime as ort

    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x}
    sess.run(None, feed)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    p.add_argument("--resnet", action="store_true", help="also time ResNet50 build + optimized export")
    args = p.parse_args(argv)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"numpy {np.__version__}")
    print("times are CPU seconds of this process (wall: elapsed, including other processes' turns)")
    header = f"{'graph':<12} {'nodes':>7} {'after':>7} {'build s':>8} {'passes s':>9} {'export s':>9} " \
             f"{'us/node (passes)':>17} {'wall s':>7}"
    print(header)
    print("-" * len(header))
    rows = [measure(make, n) for make in (chain, tree) for n in args.sizes]
    if args.resnet:
        rows.append(resnet50())
    for r in rows:
        print(f"{r['graph']:<12} {r['nodes']:>7} {r['after']:>7} {r['build']:>8.3f} {r['passes']:>9.3f} "
              f"{r['export']:>9.3f} {1e6 * r['passes'] / r['nodes']:>17.1f} {r['wall']:>7.2f}")
        if "plain_onnx_nodes" in r:
            print(f"{'':<12} ONNX nodes: {r['plain_onnx_nodes']} plain export -> {r['onnx_nodes']} at level 2; "
                  f"onnxruntime batch-1 inference {r['ort_plain_ms']:.1f} ms plain, {r['ort_opt_ms']:.1f} ms level 2")


if __name__ == "__main__":
    main()
