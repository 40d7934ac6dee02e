"""Every core op, case by case: infer agrees with ref, ONNX on onnxruntime agrees with ref at opsets
17/18/21, and the gradient rule agrees with central differences in float64 (``graphc.testing``).

Cases are data: ``case(op, inputs, attrs, **check_op options)``. Inputs are made by the small
generators below from one seeded generator, so every run sees the same numbers.
"""
from __future__ import annotations

import numpy as np
import pytest

from graphc.ops import REGISTRY
from graphc.testing import check_op

_rng = np.random.default_rng(20261122)


def r(*shape, dtype="float64"):
    """Standard normal values."""
    return _rng.standard_normal(shape).astype(dtype)


def pos(*shape, dtype="float64"):
    """Values in [0.5, 2): for Log, Sqrt, Reciprocal, Pow bases and divisors."""
    return _rng.uniform(0.5, 2.0, shape).astype(dtype)


def away(*shape, dtype="float64"):
    """Values at least 0.2 away from 0, both signs: for kinks at 0 (Relu, Abs, LeakyRelu, Elu)."""
    return (np.sign(_rng.standard_normal(shape)) * _rng.uniform(0.2, 2.0, shape)).astype(dtype)


def distinct(*shape, dtype="float64"):
    """A permutation of well-separated values: no ties for Max/Min/ReduceMax."""
    n = int(np.prod(shape))
    offset = _rng.uniform(0.0, 0.3)  # two calls never share a value
    return (_rng.permutation(n).reshape(shape) * 0.37 - n * 0.1 + offset).astype(dtype)


def ints(*shape, lo=-5, hi=6, dtype="int64"):
    return _rng.integers(lo, hi, shape).astype(dtype)


def bools(*shape):
    return _rng.random(shape) < 0.5


def i64(*values):
    return np.asarray(values, np.int64)


CASES: list = []


def case(op, inputs, attrs=None, id=None, **options):
    name = f"{op}-{id}" if id else f"{op}-{len([c for c in CASES if c.values[0] == op])}"
    CASES.append(pytest.param(op, inputs, attrs or {}, options, id=name))


# -- elementwise: arithmetic with broadcasting ------------------------------------------------------
for op in ("Add", "Sub", "Mul"):
    case(op, [r(2, 3), r(2, 3)], id="same")
    case(op, [r(2, 3), r(3)], id="bcast-rank")
    case(op, [r(4, 1, 3), r(2, 1)], id="bcast-both")
    case(op, [r(2, 3), r()], id="scalar")
    case(op, [r(2, 3, dtype="float32"), r(1, 3, dtype="float32")], id="f32")
    case(op, [ints(2, 3), ints(3)], id="int64")
case("Div", [r(2, 3), pos(2, 3)], id="same")
case("Div", [r(4, 1, 3), away(2, 1)], id="bcast-both")
case("Div", [r(3), away(2, 3, dtype="float64")], id="bcast-a")
case("Div", [r(2, 3, dtype="float32"), pos(dtype="float32")], id="f32-scalar")
case("Div", [ints(2, 4, lo=-20, hi=21, dtype="int32"), np.array([3, -4, 5, -7], np.int32)], id="int-trunc")
case("Pow", [pos(2, 3), r(2, 3)], id="same")
case("Pow", [pos(2, 3), r(3)], id="bcast")
case("Pow", [pos(2, 3), np.asarray(3, np.int64)], id="int-exponent")
case("Pow", [pos(2, 3, dtype="float32"), r(1, dtype="float32")], id="f32")
case("Max", [distinct(2, 3), distinct(2, 3)], id="same")
case("Max", [distinct(4, 3), distinct(3)], id="bcast")
case("Max", [ints(2, 3), ints(2, 3)], id="int")
case("Min", [distinct(2, 3), distinct(2, 3)], id="same")
case("Min", [distinct(2, 1, 3), distinct(4, 1)], id="bcast")

# -- elementwise: unary ---------------------------------------------------------------------------
for op in ("Sigmoid", "Tanh", "Exp"):
    case(op, [r(2, 3, 4)], id="f64")
    case(op, [r(5, dtype="float32")], id="f32")
# onnxruntime's CPU kernels for these are float-only: float64 is checked against ref alone
for op in ("Softplus", "Erf"):
    case(op, [r(2, 3, 4)], id="f64", ort=False)
    case(op, [r(5, dtype="float32")], id="f32")
for op in ("Log", "Sqrt", "Reciprocal"):
    case(op, [pos(3, 4)], id="f64")
    case(op, [pos(7, dtype="float32")], id="f32")
for op in ("Relu", "Abs", "Neg"):
    case(op, [away(3, 4)], id="f64")
    case(op, [away(2, 2, dtype="float32")], id="f32")
case("Relu", [r()], id="scalar", grad=False)
case("Abs", [ints(6)], id="int")
case("Neg", [ints(2, 3, dtype="int32")], id="int32")
case("Sign", [np.array([-2.0, 0.0, 3.5, -0.1])], id="f64")
case("Sign", [ints(5)], id="int")
case("LeakyRelu", [away(3, 4)], id="default", ort=False)
case("LeakyRelu", [away(3, 4)], {"alpha": 0.2}, id="alpha", ort=False)
case("LeakyRelu", [away(3, 4, dtype="float32")], id="f32")
case("LeakyRelu", [away(3, 4, dtype="float32")], {"alpha": 0.2}, id="f32-alpha")
case("Elu", [away(3, 4)], id="default", ort=False)
case("Elu", [away(3, 4)], {"alpha": 0.5}, id="alpha", ort=False)
case("Elu", [away(6, dtype="float32")], id="f32")
case("Elu", [away(6, dtype="float32")], {"alpha": 0.3}, id="f32-alpha")
case("Selu", [away(3, 4)], id="default", ort=False)
case("Selu", [away(3, 4)], {"alpha": 1.5, "gamma": 2.0}, id="attrs", ort=False)
case("Selu", [away(3, 4, dtype="float32")], id="f32")
case("Selu", [away(3, 4, dtype="float32")], {"alpha": 1.5, "gamma": 2.0}, id="f32-attrs")
case("Identity", [r(2, 3)], id="f64")
case("Identity", [ints(4)], id="int")

# -- Cast -----------------------------------------------------------------------------------------
case("Cast", [r(2, 3, dtype="float32")], {"to": "float64"}, id="f32-f64")
case("Cast", [r(2, 3)], {"to": "float32"}, id="f64-f32", eps=1e-2)
case("Cast", [r(2, 3) * 4], {"to": "int64"}, id="f64-int", grad=False)
case("Cast", [ints(2, 3)], {"to": "float32"}, id="int-f32")
case("Cast", [ints(4)], {"to": "bool"}, id="int-bool")
case("Cast", [bools(4)], {"to": "float32"}, id="bool-f32")

# -- Where and comparisons ------------------------------------------------------------------------
case("Where", [bools(2, 3), r(2, 3), r(2, 3)], id="same")
case("Where", [bools(3), r(2, 1), r(2, 3)], id="bcast")
case("Where", [bools(2, 3), r(), r(3)], id="bcast-scalar")
case("Where", [bools(2, 3), ints(2, 3), ints(3)], id="int")
for op in ("Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Equal"):
    a = ints(3, 4, lo=-2, hi=3).astype(np.float64)
    case(op, [a, ints(4, lo=-2, hi=3).astype(np.float64)], id="bcast-ties")
    case(op, [ints(2, 3, lo=-2, hi=3), ints(2, 3, lo=-2, hi=3)], id="int")
    case(op, [r(2, 3, dtype="float32"), r(dtype="float32")], id="f32-scalar")
case("Not", [bools(3, 4)])
case("And", [bools(3, 4), bools(4)], id="bcast")
case("IsNaN", [np.array([1.0, np.nan, -np.inf, 0.0])], id="f64")
case("IsNaN", [np.array([[np.nan, 2.0]], np.float32)], id="f32")

# -- MatMul and Gemm ------------------------------------------------------------------------------
case("MatMul", [r(3, 4), r(4, 5)], id="2d")
case("MatMul", [r(2, 3, 4), r(4, 5)], id="3d-2d")
case("MatMul", [r(3, 4), r(2, 4, 5)], id="2d-3d")
case("MatMul", [r(2, 1, 3, 4), r(5, 4, 2)], id="batch-bcast")
case("MatMul", [r(2, 3, 4), r(2, 4, 5)], id="batch")
case("MatMul", [r(4), r(4, 5)], id="vec-mat")
case("MatMul", [r(2, 3, 4), r(4)], id="mat-vec")
case("MatMul", [r(4), r(4)], id="vec-vec")
case("MatMul", [r(8, 16, dtype="float32"), r(16, 4, dtype="float32")], id="f32")
for ta in (0, 1):
    for tb in (0, 1):
        a = r(4, 3) if ta else r(3, 4)
        b = r(5, 4) if tb else r(4, 5)
        case("Gemm", [a, b, r(5)], {"transA": ta, "transB": tb}, id=f"t{ta}{tb}")
        case("Gemm", [a, b, r(3, 5)], {"transA": ta, "transB": tb, "alpha": 0.5, "beta": -2.0},
             id=f"t{ta}{tb}-alpha-beta")
case("Gemm", [r(3, 4), r(4, 5)], id="no-c")
case("Gemm", [r(3, 4), r(4, 5)], {"alpha": 3.0}, id="no-c-alpha")
case("Gemm", [r(3, 4), r(4, 5), r(3, 1)], {"beta": 0.5}, id="c-column")
case("Gemm", [r(3, 4), r(4, 5), r()], id="c-scalar")
case("Gemm", [r(3, 4, dtype="float32"), r(5, 4, dtype="float32"), r(1, 5, dtype="float32")], {"transB": 1},
     id="f32")

# -- Softmax, LogSoftmax, helpers ---------------------------------------------------------------
for op in ("Softmax", "LogSoftmax"):
    case(op, [r(2, 5)], id="default")
    case(op, [r(2, 3, 4)], {"axis": 1}, id="axis1")
    case(op, [r(2, 3, 4)], {"axis": 0}, id="axis0")
    case(op, [r(2, 3, 4)], {"axis": -2}, id="axis-neg")
    case(op, [r(4, 6, dtype="float32") * 10], id="f32-large")
case("ConstantOfShapeLike", [r(2, 3)], id="zeros")
case("ConstantOfShapeLike", [r(4, dtype="float32")], {"value": 2.5}, id="value")
case("ConstantOfShapeLike", [ints(2, 2)], {"value": 7}, id="int")
case("ScatterNDAdd", [r(5, 3), i64(1, 3, 1, 0).reshape(4, 1), r(4, 3)], id="dup-ids")
case("ScatterNDAdd", [r(6), i64(0, 5, 5).reshape(3, 1), r(3)], id="rank1")
case("ScatterNDAdd", [r(3, 4), i64(0, 1, 2, 3, 0, 1).reshape(3, 2), r(3)], id="multi-axis")

# -- reductions -----------------------------------------------------------------------------------
for op, gen in (("ReduceSum", r), ("ReduceMean", r), ("ReduceMax", distinct), ("ReduceMin", distinct)):
    case(op, [gen(2, 3, 4)], {"axes": (1,), "keepdims": 1}, id="axis1-keep")
    case(op, [gen(2, 3, 4)], {"axes": (1,), "keepdims": 0}, id="axis1-drop")
    case(op, [gen(2, 3, 4)], {"axes": (0, 2), "keepdims": 0}, id="two-axes")
    case(op, [gen(2, 3, 4)], {"axes": (-1,)}, id="neg-axis")
    case(op, [gen(2, 3, 4)], {"axes": (-3, -1), "keepdims": 0}, id="neg-axes")
    case(op, [gen(2, 3, 4)], {}, id="all-keep")
    case(op, [gen(2, 3, 4)], {"keepdims": 0}, id="all-drop")
    case(op, [gen(3, 5, dtype="float32")], {"axes": (0,)}, id="f32")
    case(op, [gen(2, 3)], {"axes": ()}, id="empty-axes")
case("ReduceSum", [ints(3, 4)], {"axes": (1,), "keepdims": 0}, id="int")
case("ReduceMax", [ints(3, 4)], {"axes": (0,)}, id="int")
case("ReduceProdInt", [i64(2, 3, 4)], id="dims")
case("ReduceProdInt", [i64(7)], id="one")

# -- shape ops ------------------------------------------------------------------------------------
case("Reshape", [r(2, 3, 4)], {"shape": (6, 4)}, id="static")
case("Reshape", [r(2, 3, 4)], {"shape": (0, -1)}, id="zero-minus-one")
case("Reshape", [r(2, 3, 4)], {"shape": (-1,)}, id="flat")
case("Reshape", [r(2, 3, 4)], {"shape": (0, 0, 2, 2)}, id="split-last")
case("Reshape", [ints(6)], {"shape": (3, 2)}, id="int")
case("Reshape", [bools(2, 3)], {"shape": (3, 2)}, id="bool")
case("Reshape", [r(1, 1)], {"shape": ()}, id="to-scalar")
case("DynReshape", [r(2, 3, 4), i64(4, 6)], {"shape_hint": (4, 6)}, id="input-shape")
case("DynReshape", [r(2, 3, 4), i64(0, -1)], id="zero-minus-one", unknown_dims_ok=True)
case("DynReshape", [r(2, 3, 4), i64(6, 4)], id="const-shape", const_inputs=(1,), unknown_dims_ok=True)
case("Flatten", [r(2, 3, 4)], id="default")
case("Flatten", [r(2, 3, 4)], {"axis": 0}, id="axis0")
case("Flatten", [r(2, 3, 4)], {"axis": 2}, id="axis2")
case("Flatten", [r(2, 3, 4)], {"axis": 3}, id="axis-rank")
case("Flatten", [r(2, 3, 4)], {"axis": -1}, id="axis-neg")
case("Flatten", [r(2, 3, 4)], {"axis": -3}, id="axis-neg-rank")
case("Flatten", [r(2, 0, 4)], {"axis": 2}, id="empty", grad=False)
case("Transpose", [r(2, 3, 4)], {"perm": (2, 0, 1)}, id="perm")
case("Transpose", [r(2, 3, 4)], id="default-perm")
case("Transpose", [ints(2, 3)], {"perm": (1, 0)}, id="int")
case("Transpose", [bools(2, 3, 2)], {"perm": (1, 2, 0)}, id="bool")
case("Transpose", [r(2, 3, 4, 5, dtype="float32")], {"perm": (0, 3, 1, 2)}, id="nhwc-nchw")
case("Concat", [r(2, 3), r(2, 1), r(2, 4)], {"axis": 1}, id="axis1")
case("Concat", [r(2, 3), r(4, 3)], {"axis": -2}, id="neg-axis")
case("Concat", [r(1, 2, 3)], {"axis": 2}, id="single")
case("Concat", [ints(2), ints(3)], {"axis": 0}, id="int")
case("Concat", [bools(2, 1), bools(2, 2)], {"axis": 1}, id="bool")
case("Concat", [r(2, 3, dtype="float32"), r(2, 3, dtype="float32")], {"axis": 0}, id="f32")
case("Slice", [r(5, 6)], {"starts": (1,), "ends": (4,)}, id="axis0")
case("Slice", [r(5, 6)], {"starts": (1, 2), "ends": (4, 5), "axes": (0, 1)}, id="two-axes")
case("Slice", [r(5, 6)], {"starts": (-3,), "ends": (-1,), "axes": (1,)}, id="negative")
case("Slice", [r(5, 6)], {"starts": (2,), "ends": (2**62,), "axes": (-1,)}, id="to-end-neg-axis")
case("Slice", [r(5, 6)], {"starts": (0,), "ends": (100,), "axes": (0,)}, id="clamped")
case("Slice", [r(4, 6, 3)], {"starts": (1,), "ends": (3,), "axes": (2,)}, id="last-axis")
case("Slice", [r(5, 6)], {"starts": (4,), "ends": (1,), "axes": (0,), "steps": (-1,)}, id="reverse")
case("Slice", [r(7, 6)], {"starts": (1, 0), "ends": (7, 6), "axes": (0, 1), "steps": (2, 3)}, id="steps")
case("Slice", [r(5, 6)], {"starts": (4,), "ends": (-2**62,), "axes": (1,), "steps": (-2,)}, id="reverse-to-start")
case("Slice", [r(2, 3)], {"starts": (-5,), "ends": (-2**62,), "axes": (0,), "steps": (-1,)}, id="onnx-clamp")
case("Slice", [ints(8)], {"starts": (2,), "ends": (5,)}, id="int")
case("Slice", [bools(3, 4)], {"starts": (1,), "ends": (3,), "axes": (-1,)}, id="bool")
case("Slice", [ints(3, 4, dtype="int32")], {"starts": (2, 0), "ends": (0, 4), "steps": (-1, 2)}, id="int32-steps")
case("Pad", [r(2, 3)], {"pads": (1, 0, 2, 3)}, id="constant")
case("Pad", [r(2, 3)], {"pads": (0, 1, 0, 0), "value": 1.5}, id="value")
case("Pad", [r(2, 3, 4)], {"pads": (0, 0, 1, 0, 2, 0)}, id="end-only")
case("Pad", [r(3, 4)], {"pads": (1, 2, 1, 2), "mode": "reflect"}, id="reflect")
case("Pad", [r(3, 4)], {"pads": (2, 1, 0, 3), "mode": "edge"}, id="edge")
case("Pad", [r(4, 5)], {"pads": (-1, 2, 0, -2)}, id="negative-crop")
case("Pad", [r(4, 5)], {"pads": (-1, 2, 1, -2), "mode": "edge"}, id="negative-edge")
case("Pad", [ints(2, 2)], {"pads": (1, 1, 1, 1), "value": 3.0}, id="int")
case("Pad", [ints(2, 3, dtype="int32")], {"pads": (0, 2, 1, 0), "mode": "reflect"}, id="int32-reflect")
case("Pad", [r(2, 3, dtype="float32")], {"pads": (1, 1, 1, 1)}, id="f32")
case("Unsqueeze", [r(2, 3)], {"axes": (0,)}, id="front")
case("Unsqueeze", [r(2, 3)], {"axes": (-1,)}, id="neg")
case("Unsqueeze", [r(2, 3)], {"axes": (1, 3)}, id="two")
case("Unsqueeze", [r()], {"axes": (0,)}, id="scalar")
case("Squeeze", [r(2, 1, 3, 1)], {"axes": (1,)}, id="one")
case("Squeeze", [r(2, 1, 3, 1)], {"axes": (-1, 1)}, id="neg")
case("Squeeze", [ints(1, 4)], {"axes": (0,)}, id="int")
case("Shape", [r(2, 3, 4)], id="3d")
case("Shape", [r()], id="scalar")
case("Expand", [r(3, 1), i64(2, 3, 4)], {"shape_hint": (2, 3, 4)}, id="hint")
case("Expand", [r(3, 1), i64(2, 3, 4)], id="no-hint", unknown_dims_ok=True)
case("Expand", [r(3, 4), i64(1)], {"shape_hint": (1,)}, id="bidirectional")
case("Expand", [r(1, 4), i64(3, 1)], {"shape_hint": (3, 1)}, id="both-grow")
case("Expand", [ints(2, 1), i64(2, 3)], {"shape_hint": (2, 3)}, id="int")
case("Expand", [bools(1, 2), i64(3, 2)], {"shape_hint": (3, 2)}, id="bool")
case("Gather", [r(5, 3), i64(0, 2, 2, 4)], id="dup-ids")
case("Gather", [r(5, 3), i64(1, 1, 0, 4, 1, 1).reshape(2, 3)], id="2d-ids")
case("Gather", [r(5, 3), np.array([4, 0, 4], np.int32)], id="int32-ids")
case("Gather", [r(5, 3), np.asarray(2, np.int64)], id="scalar-id")
case("Gather", [r(2, 5, 3), i64(3, 3, 0)], {"axis": 1}, id="axis1")
case("Gather", [r(2, 5, 3), i64(2, 0, 2, 1).reshape(2, 2)], {"axis": -1}, id="axis-neg")
case("Gather", [r(5, 3), i64(-1, 0)], id="negative-ids", grad=False)
case("Gather", [bools(4, 2), i64(3, 0)], id="bool")
case("Gather", [r(2, 5, 3), np.asarray(4, np.int64)], {"axis": 1}, id="axis1-scalar")
case("GatherND", [r(4, 3), i64(0, 3, 3, 1).reshape(4, 1)], id="rows-dup")
case("GatherND", [r(4, 3, 2), i64(0, 2, 3, 1, 0, 2).reshape(3, 2)], id="pairs-dup")
case("GatherND", [r(4, 3), i64(1, 2, 3, 0, 2, 2, 0, 0).reshape(2, 2, 2)], id="batched-elements")

# -- float16: a sample across the families ----------------------------------------------------------
def h(*shape):
    return r(*shape, dtype="float16")


def hpos(*shape):
    return pos(*shape, dtype="float16")


case("Add", [h(2, 3), h(3)], id="f16")
case("Mul", [h(2, 3), h(2, 3)], id="f16")
case("Div", [h(3), hpos(3)], id="f16")
case("Relu", [away(4, dtype="float16")], id="f16")
case("Sigmoid", [h(5)], id="f16")
case("Tanh", [h(5)], id="f16")
case("Exp", [h(3)], id="f16")
case("Log", [hpos(3)], id="f16")
case("Sqrt", [hpos(3)], id="f16")
case("Cast", [h(3)], {"to": "float32"}, id="f16-f32")
case("Cast", [r(3, dtype="float32")], {"to": "float16"}, id="f32-f16", eps=1e-2)
case("MatMul", [h(2, 3), h(3, 4)], id="f16")
case("Gemm", [h(2, 3), h(4, 3), h(4)], {"transB": 1}, id="f16")
case("Softmax", [h(2, 5)], id="f16")
case("LogSoftmax", [h(2, 5)], id="f16")
case("ReduceSum", [h(2, 3)], {"axes": (1,)}, id="f16")
case("ReduceMean", [h(2, 3)], {"axes": (0,), "keepdims": 0}, id="f16")
case("ReduceMax", [distinct(2, 3, dtype="float16")], {"axes": (1,)}, id="f16")
case("Where", [bools(3), h(3), h(3)], id="f16")
case("Transpose", [h(2, 3)], {"perm": (1, 0)}, id="f16")
case("Concat", [h(2, 3), h(2, 1)], {"axis": 1}, id="f16")
case("Slice", [h(4, 4)], {"starts": (1,), "ends": (3,)}, id="f16")
case("Pad", [h(2, 2)], {"pads": (1, 0, 0, 1)}, id="f16")
case("Gather", [h(5, 2), i64(0, 4, 4)], id="f16")
case("ScatterNDAdd", [h(3, 2), i64(0, 0).reshape(2, 1), h(2, 2)], id="f16")
case("GatherND", [h(3, 2), i64(0, 2, 2).reshape(3, 1)], id="f16")

# -- empty tensors ----------------------------------------------------------------------------------
case("Add", [r(0, 3), r(3)], id="empty")
case("ReduceSum", [r(0, 3)], {"axes": (0,)}, id="empty-axis")
case("MatMul", [r(2, 0), r(0, 3)], id="empty-k")
case("Gemm", [r(0, 3), r(3, 2), r(2)], id="empty-m")
case("Concat", [r(2, 0), r(2, 3)], {"axis": 1}, id="empty-part")
case("Gather", [r(4, 2), np.zeros((0,), np.int64)], id="empty-ids")
case("Softmax", [r(0, 4)], id="empty")
case("Slice", [r(3, 4)], {"starts": (2,), "ends": (1,)}, id="empty-range")
case("Pad", [r(0, 2)], {"pads": (1, 0, 1, 0)}, id="empty")


@pytest.mark.parametrize("op, inputs, attrs, options", CASES)
def test_op(op, inputs, attrs, options):
    check_op(op, inputs, attrs, **options)


#: The op families whose every op must have a case here with onnxruntime and gradient checks on.
CORE_FAMILIES = ("elementwise", "linalg", "nn", "reduce", "shape")


def test_every_core_op_has_a_full_case():
    full = set()
    for p in CASES:
        op, _, _, options = p.values
        if options.get("ort", True) and options.get("grad", True):
            full.add(op)
    core = [name for name, op in REGISTRY.items() if type(op).__module__.rsplit(".", 1)[-1] in CORE_FAMILIES]
    missing = sorted(name for name in core if name not in full)
    assert not missing, f"core ops without a case checked on onnxruntime and (if differentiable) for gradients: {missing}"
