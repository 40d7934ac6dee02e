"""The NumPy interpreter: feeds, parameter overrides, chosen values, omitted optional inputs."""
from __future__ import annotations

import numpy as np
import pytest

from graphc.ir import Graph, TensorType, Variable
from graphc.ops import Builder, add, gemm, mul, relu
from graphc.ops.interpreter import evaluate


def graph():
    g = Graph("g")
    b = Builder(g)
    w = Variable(np.full((3, 2), 0.5), "w", dtype="float64")
    with b.activate():
        x = b.input("x", TensorType("float64", ("batch", 3)))
        h = gemm(x, w)
        y = relu(add(h, np.asarray([-1.0, 1.0])))
    g.set_outputs([y, h], ["y", "h"])
    return g, x, h, y


def test_runs_graph_outputs_in_order():
    g, *_ = graph()
    x = np.arange(6.0).reshape(2, 3)
    y, h = evaluate(g, {"x": x})
    np.testing.assert_allclose(h, x @ np.full((3, 2), 0.5))
    np.testing.assert_allclose(y, np.maximum(h + [-1.0, 1.0], 0))


def test_param_overrides_and_chosen_values():
    g, x_v, h_v, _ = graph()
    x = np.ones((1, 3))
    (h,) = evaluate(g, {"x": x}, params={"w": np.ones((3, 2))}, values=[h_v])
    np.testing.assert_allclose(h, [[3.0, 3.0]])
    (x_out,) = evaluate(g, {"x": x}, values=[x_v])
    assert x_out is x or np.array_equal(x_out, x)


def test_missing_feed_is_named():
    g, *_ = graph()
    with pytest.raises(KeyError, match="'x'"):
        evaluate(g, {})


def test_omitted_optional_input_in_the_middle_is_passed_as_none():
    g = Graph("g")
    n = g.add_node("Input", [], [TensorType("float64", (2, 3))], {"name": "a"})
    m = g.add_node("Input", [], [TensorType("float64", (3, 2))], {"name": "b"})
    gemm_node = g.add_node("Gemm", [n.output, m.output, None], [TensorType("float64", (2, 2))], {"alpha": 2.0})
    g.set_outputs([gemm_node.output], ["y"])
    a, b = np.ones((2, 3)), np.ones((3, 2))
    (y,) = evaluate(g, {"a": a, "b": b})
    np.testing.assert_allclose(y, 2 * a @ b)


def test_multi_edge_square():
    g = Graph("g")
    b = Builder(g)
    with b.activate():
        x = b.input("x", TensorType("float32", (3,)))
        y = mul(x, x)
    g.set_outputs([y], ["y"])
    (out,) = evaluate(g, {"x": np.array([1.0, -2.0, 3.0], np.float32)})
    assert out.tolist() == [1.0, 4.0, 9.0] and out.dtype == np.float32
