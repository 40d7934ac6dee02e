import numpy as np

import graphc.ops as O
from graphc.ops import current_builder
from passes import EliminateIdentity
from pass_helpers import build, check_pass, const


def test_removes_no_ops():
    def before(x):
        y = O.identity(x)
        y = O.reshape(y, (2, 3))
        y = O.transpose(y, (0, 1))
        y = O.cast(y, "float32")
        y = O.add(y, const(0.0))
        y = O.mul(const(np.ones((3,))), y)
        y = O.pad(y, (0, 0, 0, 0))
        y = O.concat([y], axis=0)
        return O.relu(y)

    def expected(x):
        return O.relu(x)

    g = check_pass(EliminateIdentity(), build(before, {"x": (2, 3)}), build(expected, {"x": (2, 3)}))
    assert g.count_ops() == {"Relu": 1}


def test_removes_dropout_outside_training():
    def before(x):
        b = current_builder()
        y, _ = b.emit("Dropout", x, const(0.5), b.constant(np.asarray(False)))
        return O.relu(y)

    g = check_pass(EliminateIdentity(), build(before, {"x": (2, 3)}), build(lambda x: O.relu(x), {"x": (2, 3)}))
    assert "Dropout" not in g.count_ops()


def test_does_not_fire_when_shape_or_values_change():
    def before(x):
        y = O.add(x, const(np.zeros((4, 3))))  # broadcasts (3,) to (4, 3)
        y = O.mul(y, const(2.0))
        y = O.reshape(y, (3, 4))
        return O.transpose(y, (1, 0))

    p = EliminateIdentity()
    check_pass(p, build(before, {"x": (3,)}), fires=False)
    reasons = " | ".join(p.near_misses.values())
    assert "broadcasts" in reasons and "changes the shape" in reasons and "not identity" in reasons


def test_keeps_reshape_with_unknown_dims():
    check_pass(EliminateIdentity(), build(lambda x: O.reshape(x, (-1, 3)), {"x": (None, 3)}), fires=False)
