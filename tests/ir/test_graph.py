"""Graph construction, ordered ports, multi-edges, rewiring, removal and copies."""
from __future__ import annotations

import numpy as np
import pytest

from graphc.ir import Graph, TensorType, Variable, verify
from graphc.ops import Builder, add, mul, relu

F = TensorType("float32", ("batch", 3))


def small_graph():
    """y = relu(x * x + w); returns (graph, {name: value})."""
    g = Graph("g")
    b = Builder(g)
    w = Variable(np.ones(3, np.float32), "w")
    with b.activate():
        x = b.input("x", F)
        sq = mul(x, x)
        s = add(sq, w)
        y = relu(s)
    g.set_outputs([y], ["y"])
    return g, {"x": x, "sq": sq, "s": s, "y": y, "w": b.param(w)}


def test_nodes_have_ordered_ports_and_a_multi_edge_for_x_times_x():
    g, v = small_graph()
    mul_node = v["sq"].node
    assert mul_node.inputs == [v["x"], v["x"]]
    edges = sorted((u, k, d["src"]) for u, _, k, d in g.nx.in_edges(mul_node.id, keys=True, data=True))
    assert edges == [(v["x"].node.id, 0, 0), (v["x"].node.id, 1, 0)]
    assert g.nx.number_of_edges(v["x"].node.id, mul_node.id) == 2
    assert g.uses(v["x"]) == [(mul_node, 0), (mul_node, 1)]
    verify(g)


def test_add_port_order_follows_the_call():
    g, v = small_graph()
    add_node = v["s"].node
    assert add_node.inputs[0] is v["sq"] and add_node.inputs[1] is v["w"]
    assert [p for _, p in g.uses(v["w"])] == [1]


def test_types_are_inferred_when_nodes_are_created():
    g, v = small_graph()
    assert v["sq"].type == F
    assert v["y"].type == F
    assert v["w"].type == TensorType("float32", (3,))


def test_nodes_are_in_topological_order_and_inputs_are_registered():
    g, v = small_graph()
    order = [n.id for n in g.nodes]
    pos = {nid: i for i, nid in enumerate(order)}
    for n in g.nodes:
        for x in n.inputs:
            assert pos[x.node.id] < pos[n.id]
    assert g.inputs == [v["x"]] and v["x"].name == "x"
    assert [n.op for n in g.params()] == ["Param"]
    assert g.count_ops() == {"Mul": 1, "Add": 1, "Relu": 1}
    assert len(g) == 5


def test_add_node_rejects_a_value_of_another_graph():
    g1, v1 = small_graph()
    g2 = Graph("other")
    with pytest.raises(ValueError, match="does not belong"):
        g2.add_node("Relu", [v1["y"]], [F])


def test_replace_all_uses_rewires_every_port_and_graph_outputs():
    g, v = small_graph()
    b = Builder(g)
    with b.activate():
        x2 = b.input("x2", F)
    g.replace_all_uses(v["x"], x2)
    assert v["sq"].node.inputs == [x2, x2]
    assert g.uses(v["x"]) == []
    assert [p for _, p in g.uses(x2)] == [0, 1]
    verify(g)
    # a graph output is redirected too
    with b.activate():
        y2 = relu(v["s"])
    g.replace_all_uses(v["y"], y2)
    assert g.outputs == [y2]
    verify(g)


def test_set_input_keeps_other_edges_of_a_multi_edge():
    g, v = small_graph()
    b = Builder(g)
    with b.activate():
        z = b.input("z", F)
    g.set_input(v["sq"].node, 1, z)
    assert v["sq"].node.inputs == [v["x"], z]
    assert g.uses(v["x"]) == [(v["sq"].node, 0)]
    verify(g)


def test_remove_node_refuses_used_values_then_removes():
    g, v = small_graph()
    with pytest.raises(ValueError, match="still used"):
        g.remove_node(v["sq"].node)
    with pytest.raises(ValueError, match="still used"):
        g.remove_node(v["y"].node)  # a graph output
    g.replace_all_uses(v["y"], v["s"])
    g.remove_node(v["y"].node)
    assert v["y"].node.id not in g.nx
    assert g.outputs == [v["s"]]
    verify(g)


def test_remove_input_node_drops_it_from_graph_inputs():
    g, v = small_graph()
    b = Builder(g)
    with b.activate():
        unused = b.input("unused", F)
    assert len(g.inputs) == 2
    g.remove_node(unused.node)
    assert g.inputs == [v["x"]]
    verify(g)


def test_copy_is_independent():
    g, v = small_graph()
    c = g.copy()
    verify(c)
    assert str(c) == str(g)
    assert [n.id for n in c.nodes] == [n.id for n in g.nodes]
    # new objects everywhere
    assert all(a is not b for a, b in zip(c.nodes, g.nodes))
    assert all(c.node(n.id).outputs[0] is not n.outputs[0] for n in g.nodes)
    # mutating the copy leaves the original alone
    cy = c.outputs[0]
    cb = Builder(c)
    with cb.activate():
        extra = relu(cy)
    c.set_outputs([extra], ["y"])
    c.node(v["sq"].node.id).attrs["tag"] = 1
    assert len(c) == len(g) + 1
    assert "tag" not in v["sq"].node.attrs
    assert g.outputs == [v["y"]]
    verify(g)
    # new node ids continue after the copied ones, in both graphs independently
    assert extra.node.id == g._next_id
    with Builder(g).activate():
        again = relu(v["y"])
    assert again.node.id == extra.node.id


def test_copy_shares_variables_and_keeps_input_names():
    g, v = small_graph()
    c = g.copy()
    assert c.inputs[0].name == "x"
    assert c.params()[0].attrs["variable"] is v["w"].node.attrs["variable"]
    assert c.output_names == ["y"]


def test_ancestors_and_producers():
    g, v = small_graph()
    anc = g.ancestors([v["s"]])
    assert anc == {v["x"].node.id, v["sq"].node.id, v["w"].node.id, v["s"].node.id}
    assert g.producers(v["s"].node) == [v["sq"].node, v["w"].node]
