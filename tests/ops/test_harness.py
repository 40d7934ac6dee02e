"""graphc.testing catches what it is meant to catch: a wrong infer, ref/lowering disagreement, a
wrong gradient rule, a None gradient for a differentiable input."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest

from graphc.ir import Graph, TensorType, Variable
from graphc.ops import REGISTRY, Builder, OpDef, add, mul, relu, matmul
from graphc.testing import assert_close, check_op, gradcheck_graph


@contextlib.contextmanager
def temporary_op(cls):
    """Registers ``cls`` for the duration of a test only."""
    cls.name = cls.__name__
    REGISTRY[cls.name] = cls()
    try:
        yield cls.name
    finally:
        del REGISTRY[cls.name]


class _Square(OpDef):
    def infer(self, x):
        return x

    def ref(self, x):
        return x * x

    def lower(self, ctx, node):
        ctx.emit("Mul", [ctx.inputs[0], ctx.inputs[0]], ctx.outputs)

    def grad(self, node, dys):
        x = node.inputs[0]
        return [mul(mul(dys[0], x), np.asarray(2, x.dtype))]


X = np.random.default_rng(0).standard_normal((3, 4))


def test_a_correct_op_passes():
    class HarnessSquare(_Square):
        pass

    with temporary_op(HarnessSquare) as name:
        report = check_op(name, [X])
    np.testing.assert_allclose(report.outputs[0], X * X)
    assert report.types == [TensorType("float64", (3, 4))]
    assert report.grads[0].shape == X.shape
    analytic, fd = report.directional[0]
    assert abs(analytic - fd) < 1e-6 * abs(fd) + 1e-9


def test_wrong_gradient_is_caught():
    class HarnessSquareBadGrad(_Square):
        def grad(self, node, dys):
            return [mul(dys[0], node.inputs[0])]  # missing the factor 2

    with temporary_op(HarnessSquareBadGrad) as name, \
            pytest.raises(AssertionError, match="gradient of input 0 disagrees with finite differences"):
        check_op(name, [X])


def test_wrong_infer_is_caught():
    class HarnessSquareBadInfer(_Square):
        def infer(self, x):
            return x.with_shape(x.shape[::-1])

    with temporary_op(HarnessSquareBadInfer) as name, \
            pytest.raises(AssertionError, match=r"infer says output 0 is float64\[4,3\], ref returns float64\[3, 4\]"):
        check_op(name, [X], grad=False, ort=False)


def test_lowering_that_disagrees_with_ref_is_caught():
    class HarnessSquareBadLower(_Square):
        def lower(self, ctx, node):
            ctx.emit("Add", [ctx.inputs[0], ctx.inputs[0]], ctx.outputs)

    with temporary_op(HarnessSquareBadLower) as name, pytest.raises(AssertionError, match="output 0 at opset 17"):
        check_op(name, [X], grad=False)


def test_invalid_onnx_is_caught_by_the_full_check():
    class HarnessSquareBadOnnx(_Square):
        def lower(self, ctx, node):
            ctx.emit("Mul", [ctx.inputs[0]], ctx.outputs)  # Mul needs two inputs

    with temporary_op(HarnessSquareBadOnnx) as name, pytest.raises(AssertionError, match="ONNX check failed"):
        check_op(name, [X], grad=False)


def test_none_gradient_for_a_differentiable_input_is_caught():
    class HarnessSquareNoGrad(_Square):
        def grad(self, node, dys):
            return [None]

    with temporary_op(HarnessSquareNoGrad) as name, pytest.raises(AssertionError, match="returned None"):
        check_op(name, [X], ort=False)
    with temporary_op(HarnessSquareNoGrad) as name:
        check_op(name, [X], ort=False, nondiff=(0,))  # declared non-differentiable: skipped


def test_float32_op_is_differenced_in_float64():
    report = check_op("Tanh", [X.astype(np.float32)])
    analytic, fd = report.directional[0]
    assert report.grads[0].dtype == np.float32
    assert abs(analytic - fd) < 1e-4 * abs(fd)


def test_assert_close_checks_dtype_and_shape():
    with pytest.raises(AssertionError, match="dtype"):
        assert_close(np.zeros(2, np.float32), np.zeros(2))
    with pytest.raises(AssertionError, match="shape"):
        assert_close(np.zeros(3), np.zeros(2))
    with pytest.raises(AssertionError):
        assert_close(np.array([1, 2]), np.array([1, 3]))
    assert_close(np.array([1.0, np.nan]), np.array([1.0 + 1e-12, np.nan]))


def _mlp_graph(dtype="float64"):
    rng = np.random.default_rng(1)
    g = Graph("mlp")
    b = Builder(g)
    w1 = Variable(rng.standard_normal((4, 5)), "w1", dtype=dtype)
    w2 = Variable(rng.standard_normal((5, 2)), "w2", dtype=dtype)
    frozen = Variable(rng.standard_normal((2,)), "frozen", trainable=False, dtype=dtype)
    with b.activate():
        x = b.input("x", TensorType(dtype, ("batch", 4)))
        h = relu(matmul(x, w1))
        y = add(matmul(h, w2), frozen)
        z = mul(y, y)  # fan-out: y is used twice, and is also an output
    g.set_outputs([y, z], ["y", "z"])
    return g, rng.standard_normal((3, 4)).astype(dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gradcheck_graph_on_a_small_mlp(dtype):
    g, x = _mlp_graph(dtype)
    before = str(g)
    grads = gradcheck_graph(g, {"x": x})
    assert str(g) == before  # the forward graph is not modified
    shapes = sorted(v.shape for v in grads.values())
    assert shapes == [(3, 4), (4, 5), (5, 2)]  # x, w1, w2; not the frozen bias


def test_gradcheck_graph_catches_a_wrong_rule():
    class HarnessSquareBadGrad2(_Square):
        def grad(self, node, dys):
            return [dys[0]]

    with temporary_op(HarnessSquareBadGrad2) as name:
        g = Graph("bad")
        b = Builder(g)
        with b.activate():
            x = b.input("x", TensorType("float64", (3, 4)))
            y = b.emit(name, x)
        g.set_outputs([y], ["y"])
        with pytest.raises(AssertionError, match="disagrees with finite differences"):
            gradcheck_graph(g, {"x": X}, ort=False)
