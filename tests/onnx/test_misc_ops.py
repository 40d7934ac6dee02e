"""The ops graphc.ops.misc adds for ONNX import, each held to the op contract with check_op
(infer agrees with ref; the lowering on onnxruntime matches ref; gradients where defined)."""
import numpy as np
import pytest

from graphc.testing import check_op

rng = np.random.default_rng(7)
X = rng.standard_normal((2, 3, 4)).astype(np.float32)
UNIT = (rng.random((2, 3)) * 1.8 - 0.9).astype(np.float32)  # inside (-1, 1) for asin/acos/atanh
ABOVE_ONE = (rng.random((2, 3)) + 1.1).astype(np.float32)  # for acosh

UNARY = {
    "Floor": X, "Ceil": X, "Round": X, "Sin": X, "Cos": X, "Tan": UNIT, "Asin": UNIT, "Acos": UNIT, "Atan": X,
    "Sinh": X, "Cosh": X, "Asinh": X, "Acosh": ABOVE_ONE, "Atanh": UNIT, "Softsign": X, "HardSwish": X, "Mish": X,
}


@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary_math(op):
    check_op(op, [UNARY[op]])


@pytest.mark.parametrize("op,attrs", [
    ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("ThresholdedRelu", {"alpha": 0.5}), ("Celu", {"alpha": 2.0}),
    ("Gelu", {}), ("Gelu", {"approximate": "tanh"}),
])
def test_parametrized_activations(op, attrs):
    check_op(op, [X], attrs)


def test_clip():
    check_op("Clip", [X, np.float32(-0.5), np.float32(0.7)], const_inputs=(1, 2), nondiff=(1, 2))
    check_op("Clip", [X], grad=False)


def test_prelu_mod_or_xor():
    check_op("PRelu", [X, np.float32([0.1, 0.2, 0.3, 0.4])])
    a = (rng.standard_normal((3, 4)) * 5).astype(np.float32)
    b = np.where(np.abs(a) < 0.5, 1.5, a)[::-1].copy()
    check_op("Mod", [a, b], {"fmod": 1})
    check_op("Mod", [a, b])  # Python-style on floats: lowered without ORT's missing fmod=0 kernel
    check_op("Mod", [np.arange(-6, 6, dtype=np.int64), np.full(12, 4, np.int64)])
    p, q = rng.random((2, 3)) < 0.5, rng.random((2, 3)) < 0.5
    check_op("Or", [p, q])
    check_op("Xor", [p, q])


@pytest.mark.parametrize("op", ["ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare",
                                "ReduceProd"])
def test_reductions(op):
    x = np.abs(X) + 0.1
    check_op(op, [x], {"axes": (1,), "keepdims": 0})
    check_op(op, [x])


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
def test_arg_reductions(op):
    check_op(op, [X], {"axis": 1, "keepdims": 0})
    check_op(op, [np.float32([[1, 3, 3], [2, 2, 0]])], {"axis": 1, "select_last_index": 1})


def test_shape_and_data_ops():
    check_op("Split", [X], {"axis": 2, "split": (1, 3)})
    check_op("Tile", [X], {"repeats": (1, 2, 1)})
    check_op("ConstantOfShape", [np.array([2, 3], np.int64)], {"value": np.array([1.5], np.float32)},
             const_inputs=(0,), unknown_dims_ok=True)
    check_op("Range", [np.float32(1.0), np.float32(4.0), np.float32(0.5)], const_inputs=(0, 1, 2),
             unknown_dims_ok=True)
    check_op("Size", [X])
    y = rng.standard_normal((1, 8, 2, 3)).astype(np.float32)
    check_op("DepthToSpace", [y], {"blocksize": 2})
    check_op("DepthToSpace", [y], {"blocksize": 2, "mode": "CRD"})
    check_op("SpaceToDepth", [rng.standard_normal((1, 2, 4, 6)).astype(np.float32)], {"blocksize": 2})


def test_imported_model_ops():
    x4 = rng.standard_normal((2, 5, 3, 3)).astype(np.float32)
    check_op("LRN", [x4], {"size": 3, "alpha": 2e-4, "beta": 0.7, "bias": 1.5})
    check_op("Shrink", [X], {"bias": 0.1, "lambd": 0.4})
    check_op("IsInf", [np.float32([1, np.inf, -np.inf, np.nan])], {"detect_negative": 0})
    check_op("Einsum", [X, rng.standard_normal((4, 5)).astype(np.float32)], {"equation": "bij,jk->bik"})
    check_op("Einsum", [X], {"equation": "...ij->...ji"})
    check_op("GatherElements", [X, rng.integers(-3, 3, (2, 2, 4)).astype(np.int64)], {"axis": 1})
    m = rng.standard_normal((3, 4, 4)).astype(np.float32)
    check_op("Trilu", [m], {"k": 1})
    check_op("Trilu", [m], {"k": -1, "upper": 0})
    check_op("CumSum", [X], {"axis": 1, "exclusive": 1, "reverse": 1})
    check_op("Hardmax", [X], {"axis": 1})
    check_op("LayerNormalization", [X, np.float32([1, 2, 3, 4]), np.float32([0, 1, 0, 1])], {"epsilon": 1e-3})
    check_op("TopK", [X], {"k": 2, "axis": 1})
    check_op("TopK", [X], {"k": 3, "largest": 0})
    check_op("OneHot", [np.array([[0, 2], [-1, 5]], np.int64), np.float32([0, 3])], {"depth": 4, "axis": 1})


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_loss_ops(reduction):
    scores = rng.standard_normal((3, 5, 2)).astype(np.float32)
    labels = np.array([[0, 4], [2, 1], [3, 3]], np.int64)
    weights = np.float32([1, 2, 0.5, 1, 3])
    check_op("NegativeLogLikelihoodLoss", [scores, labels, weights], {"reduction": reduction, "ignore_index": 1})
    check_op("SoftmaxCrossEntropyLoss", [scores, labels], {"reduction": reduction})
