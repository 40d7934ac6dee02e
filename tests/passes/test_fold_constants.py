import numpy as np

import graphc.ops as O
from graphc.ir import Variable
from graphc.ops import current_builder
from passes import FoldConstants
from pass_helpers import build, check_pass, const

W = np.arange(6, dtype=np.float32).reshape(2, 3)


def test_folds_constant_subgraphs():
    def before(x):
        t = O.transpose(const(W), (1, 0))
        return O.matmul(x, O.add(t, const(1.0)))

    def expected(x):
        return O.matmul(x, const(W.T + 1.0))

    g = check_pass(FoldConstants(), build(before, {"x": ("batch", 3)}), build(expected, {"x": ("batch", 3)}))
    assert g.count_ops() == {"MatMul": 1}


def test_folds_shape_of_static_value():
    def before(x):
        return O.dyn_reshape(x, O.shape_of(const(np.zeros((4, 2)))))

    g = check_pass(FoldConstants(), build(before, {"x": (8,)}))
    assert g.count_ops() == {"DynReshape": 1}


def test_params_are_left_alone_unless_exporting():
    var = Variable(W, "kernel")

    def before(x):
        return O.matmul(x, O.transpose(current_builder().param(var), (1, 0)))

    g = build(before, {"x": (2, 3)})
    p = FoldConstants()
    check_pass(p, g, fires=False)
    assert any("not constant" in r for r in p.near_misses.values())

    def expected(x):
        return O.matmul(x, const(W.T))

    out = check_pass(FoldConstants(include_params=True), g, build(expected, {"x": (2, 3)}))
    assert not out.params()


def test_does_not_bloat_the_graph():
    def before(x):
        big = O.expand(const(1.0), const(np.array([256, 256]), np.int64), shape_hint=(256, 256))
        return O.add(x, big)

    g = build(before, {"x": (256, 256)})
    p = FoldConstants()
    check_pass(p, g, fires=False)
    assert any("bloat" in r for r in p.near_misses.values())


def test_does_not_fold_dropout():
    from graphc.ir import TensorType

    def before(x):
        b = current_builder()
        y, _ = b.emit("Dropout", const(np.ones((3,))), const(0.5), b.constant(np.asarray(True)))
        return O.add(x, y)

    p = FoldConstants()
    r = p.run(build(before, {"x": (3,)}))
    assert not r.modified
    assert any("not deterministic" in m for m in p.near_misses.values())


def test_does_not_duplicate_a_constant_that_stays():
    big = np.arange(4096, dtype=np.float32).reshape(64, 64)

    def before(x):
        w = const(big)
        return O.add(O.matmul(x, w), O.matmul(x, O.transpose(w, (1, 0))))  # w stays for the first MatMul

    p = FoldConstants()
    check_pass(p, build(before, {"x": (2, 64)}), fires=False)
    assert any("bloat" in r for r in p.near_misses.values())


def test_reference_errors_leave_the_node_for_run_time():
    def before(x):
        return O.add(x, O.gather(const(np.ones((3,))), const(np.array([5]), np.int64)))  # index out of range

    p = FoldConstants()
    r = p.run(build(before, {"x": (1,)}))
    assert not r.modified
    assert any("reference failed: IndexError" in m for m in p.near_misses.values())
