"""The text printer: one line per node with outputs, op, inputs, attributes, types and scope."""
from __future__ import annotations

import numpy as np

from graphc.ir import Graph, TensorType, Variable, format_node
from graphc.ops import Builder, add, gemm, mul, reshape, transpose


def test_graph_listing():
    g = Graph("mlp")
    b = Builder(g)
    w = Variable(np.zeros((3, 4), np.float32), "dense/kernel")
    with b.activate():
        x = b.input("x", TensorType("float32", ("batch", 3)))
        with b.name_scope("model"), b.name_scope("dense"):
            y = gemm(x, w, alpha=0.5)
            z = mul(y, y)
        t = transpose(reshape(z, (-1, 2, 2)), (0, 2, 1))
        c = add(t, np.asarray([1.0, 2.0], np.float32))
    g.set_outputs([c], ["out"])
    assert str(g) == "\n".join([
        "graph mlp {",
        "  %0: float32[batch,3] = Input() {name=x}",
        "  %1: float32[3,4] = Param() {variable=@dense/kernel}",
        "  %2: float32[batch,4] = Gemm(%0, %1) {alpha=0.5}  # model/dense",
        "  %3: float32[batch,4] = Mul(%2, %2)  # model/dense",
        "  %4: float32[batch,2,2] = Reshape(%3) {shape=(-1, 2, 2)}",
        "  %5: float32[batch,2,2] = Transpose(%4) {perm=(0, 2, 1)}",
        "  %6: float32[2] = Constant() {value=array([1.0, 2.0], float32)}",
        "  %7: float32[batch,2,2] = Add(%5, %6)",
        "  return out=%7",
        "}",
    ])


def test_multi_output_and_missing_inputs_and_unknown_dims():
    g = Graph("g")
    x = g.add_node("Input", [], [TensorType("float32", (None, 3))], {"name": "x"}).output
    n = g.add_node("Split", [x, None], [TensorType("float32", (None, 1)), TensorType("float32", (None, 2))],
                   {"axis": 1}, ("layer",))
    assert format_node(n) == "%1: float32[?,1], %1.1: float32[?,2] = Split(%0, _) {axis=1}  # layer"
    assert n.outputs[1].id == "%1.1"


def test_large_arrays_are_summarized_and_attrs_sorted():
    g = Graph("g")
    n = g.add_node("Constant", [], [TensorType("float64", (10,))],
                   {"value": np.zeros(10), "b": 1, "a": "s"})
    assert format_node(n) == "%0: float64[10] = Constant() {a=s, b=1, value=array<float64[10]>}"
