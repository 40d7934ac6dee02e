"""Shared by the pass tests: build graphs, compare Before/Expected by printed IR, check numbers
(NumPy interpreter and onnxruntime) and idempotence."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort

from graphc.ir import Graph, TensorType, verify
from graphc.ops import Builder
from graphc.ops.interpreter import evaluate
from graphc.onnx import to_onnx
from passes.debug import random_feeds


def build(fn, inputs: dict, name: str = "g") -> Graph:
    """``fn(*input_values)`` -> output Value(s), traced into a fresh graph."""
    g = Graph(name)
    b = Builder(g)
    with b.activate():
        values = [b.input(n, t if isinstance(t, TensorType) else TensorType("float32", t)) for n, t in inputs.items()]
        outs = fn(*values)
    outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
    g.set_outputs(outs, [f"out{i}" for i in range(len(outs))])
    return g


def const(b_or_array, dtype=np.float32):
    """A Constant value in the graph being traced."""
    from graphc.ops import current_builder

    return current_builder().constant(np.asarray(b_or_array, dtype=dtype))


def canonical(graph: Graph) -> str:
    """The printed IR with nodes renumbered in a traversal that ignores creation order (graph
    inputs, then each output's operands depth-first in port order), so a hand-built Expected graph
    compares equal to a rewritten one."""
    order: list = []
    seen: set = set()

    def visit(node):
        stack = [(node, False)]
        while stack:
            n, ready = stack.pop()
            if n.id in seen:
                continue
            if ready:
                seen.add(n.id)
                order.append(n)
                continue
            stack.append((n, True))
            for v in reversed(n.inputs):
                if v is not None and v.node.id not in seen:
                    stack.append((v.node, False))

    for v in graph.inputs:
        visit(v.node)
    for v in graph.outputs:
        visit(v.node)
    for n in graph.nodes:
        visit(n)
    g = Graph(graph.name)
    vmap = {}
    for n in order:
        m = g.add_node(n.op, [None if v is None else vmap[v] for v in n.inputs], [v.type for v in n.outputs],
                       n.attrs, n.scope)
        for a, c in zip(n.outputs, m.outputs):
            vmap[a] = c
    g.set_outputs([vmap[v] for v in graph.outputs], graph.output_names)
    return str(g)


def run_ort(graph: Graph, feeds: dict) -> list:
    proto = to_onnx(graph)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(proto.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {v.name: feeds[v.name] for v in graph.inputs})


def assert_same_numbers(before: Graph, after: Graph, rtol=1e-4, atol=1e-5, seed=0, ort_check=True):
    feeds = random_feeds(before, seed)
    want = evaluate(before, feeds)
    got = evaluate(after, feeds)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    if ort_check:
        for w, g in zip(run_ort(before, feeds), run_ort(after, feeds)):
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def check_pass(p, before: Graph, expected: Graph | None = None, fires: bool = True, ort_check=True, **tol):
    """Runs pass ``p`` on a copy of ``before``: checks invariants, Before/Expected by printed IR,
    numbers, and that a second run changes nothing. Returns the rewritten graph."""
    result = p.run(before.copy())
    verify(result.graph, where=p.name)
    assert result.modified is fires, f"{p.name}: modified={result.modified}, expected {fires}"
    if expected is not None:
        assert canonical(result.graph) == canonical(expected), (
            f"{p.name} gave\n{canonical(result.graph)}\nexpected\n{canonical(expected)}")
    assert_same_numbers(before, result.graph, ort_check=ort_check, **tol)
    text = str(result.graph)
    again = p.run(result.graph)
    assert again.modified is False, f"{p.name} is not idempotent: {again.stats}"
    assert str(again.graph) == text
    return result.graph


def small_cnn(optimizer="adam", seed: int = 0):
    """Conv2D 3 -> Conv2D 4 -> Flatten -> Dense 6 -> Dense 3 on 8x8x2, compiled with ``optimizer``: the model
    the parameter-layout and parameter-chunk tests train (its Dense kernel is read behind a Flatten)."""
    import graphc as keras
    from graphc import layers

    keras.set_random_seed(seed)
    inputs = keras.Input((8, 8, 2))
    x = layers.Conv2D(3, 3, activation="relu")(inputs)
    x = layers.Conv2D(4, 3, activation="relu")(x)
    x = layers.Dense(6, activation="relu")(layers.Flatten()(x))
    model = keras.Model(inputs, layers.Dense(3)(x))
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def fit_save_resume(model, tmp_path):
    """Trains ``model`` an epoch on ``small_cnn_data``, saves it, trains it another; loads the save
    and trains the loaded copy that epoch too. Returns the loaded copy: the two models should now
    agree, whatever form the step keeps their state in."""
    import graphc as keras

    x, y = small_cnn_data()
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    path = str(tmp_path / "resume.graphc")
    model.save(path)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    loaded = keras.load_model(path)
    loaded.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return loaded


def small_cnn_data(n: int = 32):
    rng = np.random.default_rng(1)
    return rng.standard_normal((n, 8, 8, 2)).astype(np.float32), rng.integers(0, 3, n)
