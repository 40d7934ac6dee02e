"""CancelTransposes: before/expected graphs compared by printed IR, numerical parity (NumPy
interpreter and onnxruntime), idempotence, and the cases where it must not fire."""
import re

import numpy as np
import pytest

import graphc as keras
from graphc import layers, ops
from graphc.ir import Graph, TensorType, Variable
from graphc.ops import Builder
from graphc.ops.interpreter import evaluate
from graphc.testing import run_onnx
from passes.cancel_transposes import CancelTransposes

NCHW = (0, 3, 1, 2)
NHWC = (0, 2, 3, 1)


def build(fn, *shapes, name="g"):
    """A graph whose inputs x0, x1, ... have ``shapes`` and whose outputs are ``fn(*inputs)``."""
    g = Graph(name)
    b = Builder(g)
    xs = [b.input(f"x{i}", TensorType("float32", s)) for i, s in enumerate(shapes)]
    with b.activate():
        out = fn(*xs)
    out = list(out) if isinstance(out, (list, tuple)) else [out]
    g.set_outputs(out, [f"y{i}" for i in range(len(out))])
    return g


def canonical(graph) -> str:
    """Printed IR with value ids renumbered in order of appearance, so graphs built differently compare."""
    text = str(graph)
    ids: dict = {}

    def renumber(m):
        return "%" + str(ids.setdefault(m.group(1), len(ids))) + (m.group(2) or "")

    return re.sub(r"%(\d+)(\.\d+)?", renumber, text)


def feeds_for(graph, seed=0):
    rng = np.random.default_rng(seed)
    return {v.name: rng.standard_normal([d if isinstance(d, int) else 2 for d in v.shape]).astype(v.dtype)
            for v in graph.inputs}


def run_pass(graph):
    before = graph.copy()
    p = CancelTransposes()
    result = p.run(graph.copy())
    assert canonical(graph) == canonical(before), "the pass must not change the graph it was given"
    return result, p


def assert_same_numbers(before, after, seed=0):
    feeds = feeds_for(before, seed)
    for a, b in zip(evaluate(before, feeds), evaluate(after, feeds)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    for a, b in zip(run_onnx(before, feeds), run_onnx(after, feeds)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def assert_idempotent(graph):
    again = CancelTransposes().run(graph.copy())
    assert not again.modified
    assert canonical(again.graph) == canonical(graph)


def transposes(graph):
    return [n for n in graph.nodes if n.op == "Transpose"]


# -- rewrites --------------------------------------------------------------------------------------

def test_inverse_pair_cancels():
    before = build(lambda x: ops.relu(ops.transpose(ops.transpose(x, NCHW), NHWC)), ("batch", 4, 5, 3))
    expected = build(lambda x: ops.relu(x), ("batch", 4, 5, 3))
    result, _ = run_pass(before)
    assert result.modified and result.stats == {"cancelled": 1}
    assert canonical(result.graph) == canonical(expected)
    assert_same_numbers(before, result.graph)
    assert_idempotent(result.graph)


def test_two_transposes_merge_into_one():
    before = build(lambda x: ops.transpose(ops.transpose(x, (1, 2, 0)), (1, 2, 0)), (2, 3, 4))
    expected = build(lambda x: ops.transpose(x, (2, 0, 1)), (2, 3, 4))
    result, _ = run_pass(before)
    assert canonical(result.graph) == canonical(expected)
    assert_same_numbers(before, result.graph)
    assert_idempotent(result.graph)


def test_sinks_through_unary_chain_and_cancels():
    before = build(lambda x: ops.transpose(ops.tanh(ops.relu(ops.transpose(x, NCHW))), NHWC), ("batch", 4, 5, 3))
    expected = build(lambda x: ops.tanh(ops.relu(x)), ("batch", 4, 5, 3))
    result, _ = run_pass(before)
    assert canonical(result.graph) == canonical(expected)
    assert result.stats == {"sunk": 2, "cancelled": 1}
    assert_same_numbers(before, result.graph)
    assert_idempotent(result.graph)


def test_bias_constant_is_permuted():
    bias = np.arange(3, dtype=np.float32)
    before = build(lambda x: ops.transpose(ops.add(ops.transpose(x, NHWC), bias), NCHW), ("batch", 3, 4, 5))
    expected = build(lambda x: ops.add(x, bias.reshape(3, 1, 1)), ("batch", 3, 4, 5))
    result, _ = run_pass(before)
    assert canonical(result.graph) == canonical(expected)
    assert_same_numbers(before, result.graph)
    assert_idempotent(result.graph)


def test_bias_param_is_reshaped_not_copied():
    var = Variable(np.arange(3, dtype=np.float32), "bias")
    before = build(lambda x: ops.transpose(ops.mul(ops.transpose(x, NHWC), var), NCHW), ("batch", 3, 4, 5))
    expected = build(lambda x: ops.mul(x, ops.reshape(var, (3, 1, 1))), ("batch", 3, 4, 5))
    result, _ = run_pass(before)
    assert canonical(result.graph) == canonical(expected)
    params = [n for n in result.graph.nodes if n.op == "Param"]
    assert len(params) == 1 and params[0].attrs["variable"] is var
    assert_same_numbers(before, result.graph)


def test_param_with_moving_axes_gets_a_transpose_of_the_param():
    var = Variable(np.arange(20, dtype=np.float32).reshape(4, 5), "w")
    before = build(lambda x: ops.transpose(ops.add(ops.transpose(x, (0, 2, 1)), var), (0, 2, 1)), (2, 5, 4))
    result, _ = run_pass(before)
    assert_same_numbers(before, result.graph)
    # the data Transposes are gone; what remains permutes the (4, 5) parameter itself
    assert all(n.inputs[0].node.op != "Input" for n in transposes(result.graph))


def test_residual_add_of_two_transposed_values():
    def fn(a, b):
        return ops.transpose(ops.add(ops.transpose(a, NHWC), ops.transpose(b, NHWC)), NCHW)

    before = build(fn, ("batch", 3, 4, 5), ("batch", 3, 4, 5))
    expected = build(lambda a, b: ops.add(a, b), ("batch", 3, 4, 5), ("batch", 3, 4, 5))
    result, _ = run_pass(before)
    assert canonical(result.graph) == canonical(expected)
    assert_same_numbers(before, result.graph)


def test_scalar_operand_and_softmax_axis():
    def fn(x):
        y = ops.transpose(x, NHWC)
        y = ops.softmax(ops.minimum(y, np.asarray(6.0, np.float32)), axis=-1)
        return ops.transpose(y, NCHW)

    before = build(fn, (2, 3, 4, 5))
    expected = build(lambda x: ops.softmax(ops.minimum(x, np.asarray(6.0, np.float32)), axis=1), (2, 3, 4, 5))
    result, _ = run_pass(before)
    assert canonical(result.graph) == canonical(expected)
    assert_same_numbers(before, result.graph)


def test_pad_slice_resize_and_keepdims_reduce_move_with_permuted_attributes():
    def fn(x):
        y = ops.transpose(x, NHWC)                                  # (N, H, W, C)
        y = ops.pad(y, (0, 1, 2, 0, 0, 0, 1, 0))
        y = ops.slice_(y, (1,), (4,), axes=(1,))
        y = ops.resize_nearest(y, (1, 2, 3, 1))
        y = ops.reduce_mean(y, (3,), keepdims=True)
        return ops.transpose(y, NCHW)

    before = build(fn, (2, 3, 4, 5))
    result, _ = run_pass(before)
    assert transposes(result.graph) == []
    ops_after = [n for n in result.graph.nodes if n.op not in ("Input",)]
    pad = next(n for n in ops_after if n.op == "Pad")
    assert pad.attrs["pads"] == (0, 0, 1, 2, 0, 0, 0, 1)
    assert next(n for n in ops_after if n.op == "Slice").attrs["axes"] == (2,)
    assert next(n for n in ops_after if n.op == "Resize").attrs["scales"] == (1, 1, 2, 3)
    assert next(n for n in ops_after if n.op == "ReduceMean").attrs["axes"] == (1,)
    assert_same_numbers(before, result.graph)
    assert_idempotent(result.graph)


def test_conv2d_chain_leaves_no_cancelling_pair():
    inputs = keras.Input((12, 12, 3))
    x = layers.Conv2D(4, 3, activation="relu", padding="same")(inputs)
    x = layers.ZeroPadding2D(1)(x)
    x = layers.Conv2D(5, 3, activation="sigmoid")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(6, 3, strides=2, padding="same")(x)
    model = keras.Model(inputs, x)
    graph = model._trace_graph()
    result, _ = run_pass(graph)
    data_transposes = [t for t in transposes(result.graph) if t.inputs[0].node.op != "Param"]
    # one at the input (NHWC -> NCHW), one at the output (NCHW -> NHWC)
    assert len(data_transposes) == 2
    assert data_transposes[0].inputs[0].node.op == "Input"
    assert result.graph.outputs[0].node is data_transposes[1]
    assert_same_numbers(graph, result.graph)
    assert_idempotent(result.graph)


# -- does not fire ------------------------------------------------------------------------------------

def test_does_not_fire_into_matmul():
    w = np.ones((4, 2), np.float32)
    before = build(lambda x: ops.matmul(ops.transpose(x, (0, 2, 1)), w), (2, 4, 3))
    result, p = run_pass(before)
    assert not result.modified
    (t,) = transposes(result.graph)
    assert p.near_misses[t.id] == "its consumer MatMul is not layout-free"
    assert canonical(result.graph) == canonical(before)


def test_does_not_sink_into_a_pad_it_would_not_cancel_below():
    """A Pad read by a Reshape keeps its Transpose above it: sunk, the Pad would copy W-float
    rows of NCHW instead of W*C-float rows of NHWC (a conv weight gradient's padded input)."""
    def fn(x):
        y = ops.pad(ops.transpose(x, NHWC), (0, 1, 1, 0, 0, 1, 1, 0))
        return ops.reshape(y, (2, -1, 3))

    before = build(fn, (2, 3, 4, 5))
    result, p = run_pass(before)
    assert not result.modified
    (t,) = transposes(result.graph)
    assert "no Transpose to cancel" in p.near_misses[t.id]
    assert canonical(result.graph) == canonical(before)


def test_does_not_duplicate_a_transpose_with_two_consumers():
    def fn(x):
        t = ops.transpose(x, NHWC)
        return ops.relu(t), ops.sigmoid(t)

    before = build(fn, (2, 3, 4, 5))
    result, p = run_pass(before)
    assert not result.modified
    (t,) = transposes(result.graph)
    assert p.near_misses[t.id] == "it has 2 consumers; moving it would duplicate it"


def test_does_not_fire_with_a_non_constant_other_operand():
    before = build(lambda x, b: ops.add(ops.transpose(x, NHWC), b), (2, 3, 4, 5), (2, 4, 5, 3))
    result, p = run_pass(before)
    assert not result.modified
    (t,) = transposes(result.graph)
    assert "operand 1 of Add is neither a Transpose" in p.near_misses[t.id]


def test_does_not_fire_on_graph_output_or_rank_changing_reduce():
    before = build(lambda x: (ops.transpose(x, NHWC), ops.reduce_sum(ops.transpose(x, NCHW), (1,), keepdims=False)),
                   (2, 3, 4, 5))
    result, p = run_pass(before)
    assert not result.modified
    reasons = sorted(p.near_misses.values())
    assert reasons == ["ReduceSum with keepdims=0 changes the rank", "its output is a graph output"]


def test_shared_constant_is_not_mutated():
    bias = np.arange(3, dtype=np.float32)
    before = build(lambda x: ops.transpose(ops.add(ops.transpose(x, NHWC), bias), NCHW), (1, 3, 2, 2))
    const = next(n for n in before.nodes if n.op == "Constant")
    result = CancelTransposes().run(before)  # on the caller's graph itself
    assert result.modified
    np.testing.assert_array_equal(const.attrs["value"], np.arange(3, dtype=np.float32))
    assert const.attrs["value"].shape == (3,)


@pytest.mark.parametrize("level", [2, 3])
def test_pipeline_runs_it(level):
    from passes import optimize

    inputs = keras.Input((8, 8, 2))
    x = layers.Conv2D(3, 3, activation="relu")(inputs)
    x = layers.Conv2D(3, 3, activation="relu")(x)
    g = optimize(keras.Model(inputs, x)._trace_graph(), level=level)
    chains = [t for t in transposes(g) if t.inputs[0].node.op == "Transpose"]
    assert chains == []
    assert len([t for t in transposes(g) if t.inputs[0].node.op != "Param"]) == 2
