import graphc.ops as O
from passes import FuseConsecutiveReshapes
from pass_helpers import build, check_pass


def test_reshape_chain_collapses():
    def before(x):
        return O.relu(O.reshape(O.flatten(O.reshape(x, (0, 6, 2))), (0, 3, 4)))

    def expected(x):
        return O.relu(O.reshape(x, (0, 3, 4)))

    g = check_pass(FuseConsecutiveReshapes(), build(before, {"x": ("batch", 12)}),
                   build(expected, {"x": ("batch", 12)}))
    assert g.outputs[0].shape == ("batch", 3, 4)


def test_squeeze_after_unsqueeze_becomes_one_reshape():
    def before(x):
        return O.squeeze(O.unsqueeze(x, (0,)), (0,))

    g = check_pass(FuseConsecutiveReshapes(), build(before, {"x": (2, 3)}))
    assert g.count_ops() == {"Reshape": 1}


def test_does_not_fire_when_copied_dim_is_unknown():
    def before(x):
        return O.reshape(O.reshape(x, (-1, 4)), (0, 2, 2))

    p = FuseConsecutiveReshapes()
    check_pass(p, build(before, {"x": (None, 8)}), fires=False)
    assert "unknown dim" in " ".join(p.near_misses.values())
