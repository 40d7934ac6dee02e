"""The Builder: scopes on nodes, parameter de-duplication, constant dtypes, error wrapping."""
from __future__ import annotations

import numpy as np
import pytest

from graphc.ir import Graph, TensorType, Variable
from graphc.ops import Builder, add, current_builder, mul, relu


def test_nodes_carry_the_scope_they_were_emitted_in():
    g = Graph("g")
    b = Builder(g)
    with b.activate():
        x = b.input("x", TensorType("float32", (2,)))
        with b.name_scope("model"), b.name_scope("dense"):
            y = relu(x)
        z = relu(y)
    assert y.node.scope == ("model", "dense") and y.node.scope_name == "model/dense"
    assert z.node.scope == ()


def test_params_are_shared_per_variable():
    g = Graph("g")
    b = Builder(g)
    w = Variable(np.ones(2, np.float32), "w")
    with b.activate():
        x = b.input("x", TensorType("float32", (2,)))
        add(x, w)
        add(x, w)
    assert len(g.params()) == 1
    assert Builder(g).param(w) is g.params()[0].output  # a new builder on the graph finds it too


def test_constant_dtypes():
    g = Graph("g")
    b = Builder(g)
    with b.activate():
        x = b.input("x", TensorType("float64", (2,)))
        s = mul(x, 2.0)  # Python scalars take the other operand's dtype
        a = mul(x, np.asarray(3.0))  # float64 arrays keep their dtype
        f = b.constant([1.0, 2.0])  # Python floats default to float32
    assert s.node.inputs[1].dtype == "float64"
    assert a.node.inputs[1].dtype == "float64"
    assert f.dtype == "float32"


def test_errors_are_wrapped_with_op_layer_and_inputs():
    g = Graph("g")
    b = Builder(g, scope=("model", "dense_3"))
    with b.activate():
        x = b.input("x", TensorType("float32", (2, 3)))
        with pytest.raises(ValueError, match=r'^Add in layer "dense_3": .*\(inputs: float32\[2,3\], float32\[4\]\)$'):
            add(x, np.zeros(4, np.float32))
    assert g.count_ops() == {}  # nothing was added


def test_ops_need_an_active_builder():
    with pytest.raises(RuntimeError, match="traced"):
        current_builder()
