import graphc.ops as O
from passes import EliminateDeadCode
from pass_helpers import build, check_pass


def test_removes_unused_nodes_keeps_inputs():
    def before(x, unused):
        O.exp(x)  # dead
        return O.relu(x)

    def expected(x, unused):
        return O.relu(x)

    g = check_pass(EliminateDeadCode(), build(before, {"x": (2,), "unused": (3,)}),
                   build(expected, {"x": (2,), "unused": (3,)}))
    assert [v.name for v in g.inputs] == ["x", "unused"]


def test_does_not_fire_without_dead_nodes():
    check_pass(EliminateDeadCode(), build(lambda x: O.relu(x), {"x": (2,)}), fires=False)
