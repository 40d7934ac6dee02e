"""Type inference on symbolic dims ("batch", "seq"), its error messages, and gradients of graphs
whose shapes are only known at run time (Shape/DynReshape/Expand/ReduceProdInt paths)."""
from __future__ import annotations

import numpy as np
import pytest

from graphc.ir import Graph, TensorType
from graphc.ops import Builder, OpError, emit, reduce_mean, reduce_sum, reshape, softmax, transpose
from graphc.ops import add, matmul, mul, concat, flatten, gather, slice_, expand_like, unsqueeze, squeeze
from graphc.testing import gradcheck_graph


def T(*shape, dtype="float32"):
    return TensorType(dtype, shape)


def infer(op, types, attrs=None, scope=()):
    """Emits ``op`` on Inputs of ``types`` (under ``scope``); returns the output type(s)."""
    g = Graph("g")
    b = Builder(g)
    with b.activate():
        xs = [b.input(f"x{i}", t) for i, t in enumerate(types)]
        for name in scope:
            b.scope_stack.append(name)
        out = b.emit(op, *xs, **(attrs or {}))
    return tuple(v.type for v in out) if isinstance(out, tuple) else out.type


SYMBOLIC = [
    ("Add", [T("batch", 3), T(3)], {}, T("batch", 3)),
    ("Add", [T("batch", 1), T(1, "seq")], {}, T("batch", "seq")),
    ("Mul", [T("batch", "seq", 4), T("batch", 1, 1)], {}, T("batch", "seq", 4)),
    ("Where", [T("batch", 1, dtype="bool"), T("batch", 3), T()], {}, T("batch", 3)),
    ("Greater", [T("batch", 3), T()], {}, T("batch", 3, dtype="bool")),
    ("Relu", [T("batch", "seq")], {}, T("batch", "seq")),
    ("Cast", [T("batch", 2)], {"to": "int64"}, T("batch", 2, dtype="int64")),
    ("MatMul", [T("batch", 5, 4), T(4, 2)], {}, T("batch", 5, 2)),
    ("MatMul", [T("batch", "seq", 4), T("batch", 4, "seq")], {}, T("batch", "seq", "seq")),
    ("MatMul", [T("batch", 4), T(4)], {}, T("batch")),
    ("Gemm", [T("batch", 4), T(4, 3), T(3)], {}, T("batch", 3)),
    ("Gemm", [T(4, "batch"), T(3, 4)], {"transA": 1, "transB": 1}, T("batch", 3)),
    ("Softmax", [T("batch", 10)], {"axis": -1}, T("batch", 10)),
    ("LogSoftmax", [T("batch", "seq", 10)], {"axis": 1}, T("batch", "seq", 10)),
    ("ReduceSum", [T("batch", "seq", 4)], {"axes": (1,), "keepdims": 0}, T("batch", 4)),
    ("ReduceMean", [T("batch", "seq", 4)], {"axes": (-2,)}, T("batch", 1, 4)),
    ("ReduceMax", [T("batch", 4)], {"keepdims": 0}, T()),
    ("Reshape", [T("batch", 3, 4)], {"shape": (0, -1)}, T("batch", 12)),
    ("Reshape", [T("batch", 12)], {"shape": (-1, 3, 4)}, T("batch", 3, 4)),
    ("Reshape", [T("batch", 3, 4)], {"shape": (-1, 4)}, T(None, 4)),
    ("Flatten", [T("batch", 3, 4)], {}, T("batch", 12)),
    ("Flatten", [T("batch", "seq", 4)], {"axis": 2}, T(None, 4)),
    ("Flatten", [T("batch", 3, 4)], {"axis": -1}, T(None, 4)),
    ("Transpose", [T("batch", "seq", 4)], {"perm": (1, 0, 2)}, T("seq", "batch", 4)),
    ("Concat", [T("batch", 3), T("batch", 4)], {"axis": 1}, T("batch", 7)),
    ("Concat", [T("batch", 3), T(2, 3)], {"axis": 0}, T(None, 3)),
    ("Slice", [T("batch", 6)], {"starts": (1,), "ends": (4,), "axes": (1,)}, T("batch", 3)),
    ("Slice", [T("batch", 6)], {"starts": (0,), "ends": (2,), "axes": (0,)}, T(None, 6)),
    ("Slice", [T("batch", 6)], {"starts": (0,), "ends": (2**62,), "axes": (0,)}, T("batch", 6)),
    ("Pad", [T("batch", 6)], {"pads": (0, 1, 0, 2)}, T("batch", 9)),
    ("Pad", [T("batch", 6)], {"pads": (1, 0, 0, 0)}, T(None, 6)),
    ("Unsqueeze", [T("batch", 6)], {"axes": (1,)}, T("batch", 1, 6)),
    ("Squeeze", [T("batch", 1, "seq")], {"axes": (1,)}, T("batch", "seq")),
    ("Shape", [T("batch", 6)], {}, T(2, dtype="int64")),
    ("Gather", [T(100, 16), T("batch", "seq", dtype="int64")], {}, T("batch", "seq", 16)),
    ("Gather", [T("batch", 5, 3), T(2, dtype="int64")], {"axis": 1}, T("batch", 2, 3)),
    ("Expand", [T(1, 4), T(2, dtype="int64")], {"shape_hint": ("batch", 4)}, T("batch", 4)),
    ("DynReshape", [T("batch", 12), T(3, dtype="int64")], {"shape_hint": ("batch", 3, 4)}, T("batch", 3, 4)),
    ("ScatterNDAdd", [T("batch", 4), T(5, 1, dtype="int64"), T(5, 4)], {}, T("batch", 4)),
]


@pytest.mark.parametrize("op, types, attrs, expected", SYMBOLIC,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(SYMBOLIC)])
def test_symbolic_dims_are_kept(op, types, attrs, expected):
    assert infer(op, types, attrs) == expected


ERRORS = [
    ("MatMul", [T("batch", 3), T(4, 5)], {}, ValueError, r"last axis of A \(3\) does not match axis -2 of B \(4\)"),
    ("Gemm", [T("batch", 3), T(4, 5)], {}, ValueError, "inner dims 3 and 4 differ"),
    ("Concat", [T("batch", 3), T("batch", 4)], {"axis": 0}, ValueError,
     r"Concat along axis 0: other dims must match, received shapes \(None, 3\), \(None, 4\)"),
    ("Concat", [T("batch", 3), T(3)], {"axis": 0}, ValueError, "one rank"),
    ("Reshape", [T(2, 3)], {"shape": (4, 2)}, ValueError, r"cannot reshape \(2, 3\) \(6 elements\) into \(4, 2\)"),
    ("Reshape", [T("batch", 3)], {"shape": (-1, -1)}, ValueError, "more than one -1"),
    ("Reshape", [T(2, 3)], {"shape": (-1, 4)}, ValueError, "cannot reshape"),
    ("Add", [T("batch", 3), T(4)], {}, ValueError, "do not broadcast"),
    ("Add", [T(3), T(3, dtype="float64")], {}, TypeError, "one dtype"),
    ("Softmax", [T("batch", 3)], {"axis": 2}, ValueError, "axis 2 is out of range for rank 2"),
    ("Transpose", [T("batch", 3)], {"perm": (0, 0)}, ValueError, "not a permutation"),
    ("Squeeze", [T("batch", 3)], {"axes": (1,)}, ValueError, "cannot squeeze axis 1 of size 3"),
    ("Pad", [T("batch", 3)], {"pads": (1, 1)}, ValueError, "pads must have 4 entries"),
    ("Flatten", [T("batch", 3)], {"axis": 3}, ValueError, "out of range"),
    ("Gather", [T(10, 3), T(2, dtype="float32")], {}, TypeError, "indices must be int32 or int64"),
    ("Where", [T(3), T(3), T(3)], {}, TypeError, "condition must be bool"),
]


@pytest.mark.parametrize("op, types, attrs, error, message", ERRORS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(ERRORS)])
def test_errors_name_the_problem(op, types, attrs, error, message):
    with pytest.raises(error, match=message) as info:
        infer(op, types, attrs)
    # the op and the received input types are part of the message
    text = str(info.value)
    assert text.startswith(op)
    assert "(inputs: " in text and str(types[0]) in text


@pytest.mark.parametrize("op, types, attrs, error, message", ERRORS[:5],
                         ids=[c[0] for c in ERRORS[:5]])
def test_errors_inside_a_layer_scope_name_the_layer(op, types, attrs, error, message):
    with pytest.raises(error, match=message) as info:
        infer(op, types, attrs, scope=("model", "dense_1"))
    assert f'{op} in layer "dense_1": ' in str(info.value)


def test_op_error_is_a_value_error():
    assert issubclass(OpError, ValueError)


# -- gradients through run-time shapes ------------------------------------------------------------

def _graph(build, *types):
    g = Graph("symbolic")
    b = Builder(g)
    with b.activate():
        xs = [b.input(f"x{i}", t) for i, t in enumerate(types)]
        outs = build(*xs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    g.set_outputs(list(outs), [f"y{i}" for i in range(len(outs))])
    return g


RUNTIME_SHAPE_GRAPHS = [
    # ReduceMean over symbolic axes: the count comes from Shape -> Gather (one symbolic axis: a scalar
    # index), -> ReduceProdInt (several), times the static axes' product
    ("mean-over-batch", lambda x: reduce_mean(x, (0,), keepdims=False), [T("batch", 3, dtype="float64")]),
    ("mean-all", lambda x: reduce_mean(x, None, keepdims=False), [T("batch", "seq", dtype="float64")]),
    ("mean-mixed", lambda x: reduce_mean(x, None, keepdims=False), [T("batch", 3, "seq", 2, dtype="float64")]),
    # Reshape/Flatten/Unsqueeze gradients reshape back through Shape(x) when x is symbolic
    ("reshape", lambda x: softmax(reshape(x, (0, -1))), [T("batch", 2, 3, dtype="float64")]),
    ("flatten", lambda x: mul(flatten(x), flatten(x)), [T("batch", 2, 3, dtype="float64")]),
    ("squeeze", lambda x: squeeze(unsqueeze(x, (1,)), (1,)), [T("batch", 3, dtype="float64")]),
    # broadcasting against a symbolic batch: un-broadcast over batch
    ("bias", lambda x, b: add(matmul(x, transpose(b, (1, 0))), reduce_sum(b, (1,), keepdims=False)),
     [T("batch", 4, dtype="float64"), T(3, 4, dtype="float64")]),
    ("expand", lambda x, b: mul(expand_like(b, x), x), [T("batch", 3, dtype="float64"), T(1, 3, dtype="float64")]),
    ("concat-slice", lambda x, y: slice_(concat([x, y], 1), (1,), (5,), (1,)),
     [T("batch", 3, dtype="float64"), T("batch", 4, dtype="float64")]),
]


@pytest.mark.parametrize("opset", [17, 18, 21])
@pytest.mark.parametrize("name, build, types", RUNTIME_SHAPE_GRAPHS, ids=[c[0] for c in RUNTIME_SHAPE_GRAPHS])
def test_gradients_with_symbolic_shapes(name, build, types, opset):
    g = _graph(build, *types)
    rng = np.random.default_rng(3)
    sizes = {"batch": 5, "seq": 2}
    feeds = {f"x{i}": rng.standard_normal([sizes.get(d, d) for d in t.shape]) for i, t in enumerate(types)}
    gradcheck_graph(g, feeds, opset=opset)


def test_gather_embedding_gradient_with_symbolic_ids():
    g = Graph("embedding")
    b = Builder(g)
    with b.activate():
        table = b.input("table", T(6, 3, dtype="float64"))
        ids = b.input("ids", T("batch", "seq", dtype="int64"))
        y = gather(table, ids)
    g.set_outputs([y], ["y"])
    feeds = {"table": np.random.default_rng(0).standard_normal((6, 3)), "ids": np.array([[0, 5, 5], [2, 0, 5]])}
    grads = gradcheck_graph(g, feeds)
    (dtable,) = grads.values()
    assert dtable.shape == (6, 3)


def test_reduce_prod_int_of_one_size_lowers_to_one_gather():
    from graphc.onnx import to_onnx
    from graphc.ops.reduce import reduce_prod_int

    g = _graph(lambda s: reduce_prod_int(s), T(1, dtype="int64"))
    assert [n.op_type for n in to_onnx(g).graph.node] == ["Gather"]
