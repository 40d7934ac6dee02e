"""verify() holds on well-formed graphs and names the broken invariant on hand-broken ones."""
from __future__ import annotations

import numpy as np
import pytest

from graphc.ir import Graph, IRError, TensorType, Value, verify
from graphc.ops import Builder, add, mul, relu

F = TensorType("float32", (2, 3))


def graph():
    g = Graph("g")
    b = Builder(g)
    with b.activate():
        x = b.input("x", F)
        s = add(mul(x, x), np.ones((2, 3), np.float32))
        y = relu(s)
    g.set_outputs([y], ["y"])
    return g, x, s, y


def test_well_formed_graph_passes():
    g, *_ = graph()
    verify(g)
    verify(g.copy())


def test_cycle_is_caught():
    g, x, s, y = graph()
    g.nx.add_edge(y.node.id, s.node.id, key=5, src=0)
    with pytest.raises(IRError, match="cycle"):
        verify(g, where="MyPass")


def test_where_names_the_pass():
    g, x, s, y = graph()
    g.nx.add_edge(y.node.id, s.node.id, key=5, src=0)
    with pytest.raises(IRError, match="^after MyPass: "):
        verify(g, where="MyPass")


def test_edge_missing_for_an_input_is_caught():
    g, x, s, y = graph()
    g.nx.remove_edge(s.node.id, y.node.id, key=0)
    with pytest.raises(IRError, match="do not match its inputs"):
        verify(g)


def test_node_input_changed_without_its_edge_is_caught():
    g, x, s, y = graph()
    y.node.inputs[0] = x  # bypasses set_input: the edge still comes from the Add
    with pytest.raises(IRError, match="do not match its inputs"):
        verify(g)


def test_wrong_source_index_on_an_edge_is_caught():
    g, x, s, y = graph()
    g.nx.edges[s.node.id, y.node.id, 0]["src"] = 1
    with pytest.raises(IRError, match="do not match"):
        verify(g)


def test_source_op_with_inputs_is_caught():
    g, x, s, y = graph()
    x.node.inputs.append(s)
    with pytest.raises(IRError, match="is a Input but has inputs"):
        verify(g)


def test_value_of_a_node_outside_the_graph_is_caught():
    g, x, s, y = graph()
    other, ox, *_ = graph()
    # same node id, different node object: edges agree but the value is foreign
    y.node.inputs[0] = Value(s.node.__class__(s.node.id, "Add", [], [], {}, ()), 0, F)
    with pytest.raises(IRError, match="outside the graph"):
        verify(g)


def test_misattributed_output_is_caught():
    g, x, s, y = graph()
    s.node.outputs[0] = Value(y.node, 0, F)
    with pytest.raises(IRError, match="misattributed"):
        verify(g)


def test_graph_output_not_in_graph_is_caught():
    g, x, s, y = graph()
    other, _, _, oy = graph()
    g.outputs = [Value(oy.node, 0, F)]
    g.outputs[0].node = type(oy.node)(999, "Relu", [], [], {}, ())
    with pytest.raises(IRError, match="not produced in the graph"):
        verify(g)


def test_output_names_count_is_checked():
    g, x, s, y = graph()
    g.output_names = ["y", "extra"]
    with pytest.raises(IRError, match="1 outputs but 2 output names"):
        verify(g)


def test_node_key_mismatch_is_caught():
    g, x, s, y = graph()
    g.nx.nodes[y.node.id]["node"] = s.node
    with pytest.raises(IRError):
        verify(g)
