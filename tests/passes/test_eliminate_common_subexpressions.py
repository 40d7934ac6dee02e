import numpy as np

import graphc.ops as O
from graphc.ops import current_builder
from passes import EliminateCommonSubexpressions
from pass_helpers import build, check_pass, const


def test_merges_equal_nodes_and_constants():
    def before(x):
        a = O.add(O.relu(x), const([1.0, 2.0]))
        b = O.add(O.relu(x), const([1.0, 2.0]))
        return O.mul(a, b)

    def expected(x):
        a = O.add(O.relu(x), const([1.0, 2.0]))
        return O.mul(a, a)

    g = check_pass(EliminateCommonSubexpressions(), build(before, {"x": (2,)}), build(expected, {"x": (2,)}))
    assert g.count_ops() == {"Relu": 1, "Add": 1, "Mul": 1}


def test_merges_large_constants_byte_for_byte():
    big = np.arange(5000, dtype=np.float32)
    other = big.copy()
    other[1000] = -1  # outside the sampled bytes: equal keys, the byte check must keep them apart

    def before(x):
        return O.add(O.add(x, const(big)), O.add(const(big.copy()), const(other)))

    g = check_pass(EliminateCommonSubexpressions(), build(before, {"x": (5000,)}))
    assert sum(n.op == "Constant" for n in g.nodes) == 2


def test_does_not_merge_different_attrs_or_dropout():
    def before(x):
        b = current_builder()
        t = b.constant(np.asarray(True))
        d1, _ = b.emit("Dropout", x, const(0.5), t)
        d2, _ = b.emit("Dropout", x, const(0.5), t)
        return O.add(O.leaky_relu(d1, 0.1), O.leaky_relu(d2, 0.2))

    g = build(before, {"x": (3,)})
    r = EliminateCommonSubexpressions().run(g.copy())
    assert r.graph.count_ops()["Dropout"] == 2 and r.graph.count_ops()["LeakyRelu"] == 2
