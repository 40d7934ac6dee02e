import numpy as np
import pytest

import graphc.ops as O
from graphc.ir import IRError, TensorType
from passes import InferShapes
from pass_helpers import build, canonical, check_pass, const


def _chain(x):
    r = O.reshape(x, (0, 2, 2))
    c = O.concat([r, r], axis=1)
    return O.slice_(c, starts=(1,), ends=(3,), axes=(1,))


def test_rederives_stale_types_with_symbolic_dims():
    g = build(_chain, {"x": ("batch", 4)})
    expected = g.copy()
    for n in g.nodes:  # a rewrite left stale, unknown types behind
        if n.op != "Input":
            for v in n.outputs:
                v.type = TensorType("float32", (None,) * v.type.rank)
    assert "float32[?,?,?]" in str(g)
    out = check_pass(InferShapes(), g, expected)
    assert out.outputs[0].shape == ("batch", 2, 2)
    assert "changed" in InferShapes().run(g.copy()).stats.__repr__()


def test_keeps_known_dims_that_infer_cannot_know():
    def f(x, s):
        return O.dyn_reshape(x, s, shape_hint=("batch", 2, 2))

    g = build(f, {"x": ("batch", 4), "s": TensorType("int64", (3,))})
    r = InferShapes().run(g.copy())
    assert r.modified is False
    assert r.graph.outputs[0].shape == ("batch", 2, 2)


def test_does_not_fire_on_fresh_graph():
    g = build(_chain, {"x": ("batch", 4)})
    r = InferShapes().run(g.copy())
    assert r.modified is False and r.stats["changed_types"] == 0
    assert canonical(r.graph) == canonical(g)


def test_names_the_node_that_rejects_its_inputs():
    g = build(lambda x: O.reshape(x, (2, 2)), {"x": (4,)})
    g.inputs[0].type = TensorType("float32", (5,))
    with pytest.raises(IRError, match="Reshape"):
        InferShapes().run(g)
