"""Property tests: shape inference agrees with NumPy on generated shapes and attributes, and the
lowering of Slice/Pad/Reshape agrees with ref on onnxruntime for a sample of them."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

from graphc.ir import TensorType, broadcast_shapes
from graphc.ops import get_op
from graphc.ops.shape import reshape_dims
from graphc.testing import check_op

FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
WITH_ORT = settings(max_examples=12, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(mutually_broadcastable_shapes(num_shapes=3, max_dims=4))
def test_broadcast_shapes_matches_numpy(shapes):
    assert broadcast_shapes(*shapes.input_shapes) == shapes.result_shape


@st.composite
def slices(draw):
    shape = draw(array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6))
    axes = draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1, max_size=len(shape), unique_by=lambda a: a % len(shape)))
    big = st.sampled_from([2**62, -2**62, 2**31])
    bound = st.one_of(st.integers(-8, 8), big)
    starts = tuple(draw(bound) for _ in axes)
    ends = tuple(draw(bound) for _ in axes)
    steps = tuple(draw(st.sampled_from([1, 1, 2, 3, -1, -2])) for _ in axes)
    return shape, {"starts": starts, "ends": ends, "axes": tuple(axes), "steps": steps}


@FAST
@given(slices())
def test_slice_infer_matches_ref(case):
    shape, attrs = case
    x = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    op = get_op("Slice")
    assert op.infer(TensorType.of(x), **attrs).shape == op.ref(x, **attrs).shape


@WITH_ORT
@given(slices())
def test_slice_lowering_and_gradient(case):
    shape, attrs = case
    x = np.random.default_rng(0).standard_normal(shape)
    check_op("Slice", [x], attrs, opsets=(17,))


@st.composite
def reshapes(draw):
    shape = draw(array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    n = int(np.prod(shape))
    # a target: factor n into up to 3 dims, then maybe copy leading dims with 0 and infer one with -1
    dims, rest = [], n
    for _ in range(draw(st.integers(0, 2))):
        divisors = [d for d in range(1, rest + 1) if rest % d == 0]
        d = draw(st.sampled_from(divisors))
        dims.append(d)
        rest //= d
    dims.append(rest)
    target = list(dims)
    for i in range(min(len(target), len(shape))):
        if target[i] == shape[i] and draw(st.booleans()):
            target[i] = 0
    k = draw(st.integers(0, len(target) - 1))
    if draw(st.booleans()) and target[k] != 0:
        target[k] = -1
    return shape, tuple(target)


@FAST
@given(reshapes())
def test_reshape_dims_matches_numpy(case):
    shape, target = case
    x = np.empty(shape)
    numpy_target = [shape[i] if s == 0 else s for i, s in enumerate(target)]
    assert reshape_dims(shape, target) == x.reshape(numpy_target).shape


@FAST
@given(reshapes())
def test_reshape_keeps_batch_symbol(case):
    """With the leading dim symbolic and copied by 0, the symbol survives; static dims agree."""
    shape, target = case
    if target[0] != 0:
        return
    out = reshape_dims(("batch",) + shape[1:], target)
    assert out[0] == "batch"
    static = reshape_dims(shape, target)
    assert all(o == s or o is None for o, s in zip(out[1:], static[1:]))


@WITH_ORT
@given(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), st.data())
def test_pad_lowering_and_gradient(shape, data):
    r = len(shape)
    mode = data.draw(st.sampled_from(["constant", "reflect", "edge"]))
    lo = 0 if mode == "reflect" else -1
    pads = []
    for i in range(2 * r):
        d = shape[i % r]
        hi = d - 1 if mode == "reflect" else 3
        pads.append(data.draw(st.integers(max(lo, -(d // 2)) if mode == "constant" else 0, max(hi, 0))))
    x = np.random.default_rng(1).standard_normal(shape)
    check_op("Pad", [x], {"pads": tuple(pads), "mode": mode}, opsets=(17,))


BINARY = ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"]


@WITH_ORT
@given(st.sampled_from(BINARY), mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3), st.integers(0, 2**16))
def test_binary_broadcasting(op, shapes, seed):
    rng = np.random.default_rng(seed)
    a_shape, b_shape = shapes.input_shapes
    a = rng.uniform(0.5, 2.0, a_shape) if op == "Pow" else rng.standard_normal(a_shape)
    b = rng.uniform(0.5, 2.0, b_shape) * rng.choice([-1, 1], b_shape) if op == "Div" else rng.standard_normal(b_shape)
    check_op(op, [a, b], opsets=(17,), seed=seed)


@WITH_ORT
@given(mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3), st.integers(0, 2**16))
def test_where_broadcasting(shapes, seed):
    rng = np.random.default_rng(seed)
    c_shape, a_shape, b_shape = shapes.input_shapes
    check_op("Where", [rng.random(c_shape) < 0.5, rng.standard_normal(a_shape), rng.standard_normal(b_shape)],
             opsets=(17,), seed=seed)


@st.composite
def reductions(draw):
    shape = draw(array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3))
    r = len(shape)
    axes = draw(st.one_of(st.none(), st.lists(st.integers(-r, r - 1), min_size=1, max_size=r, unique_by=lambda a: a % r)))
    keepdims = draw(st.sampled_from([0, 1]))
    op = draw(st.sampled_from(["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin"]))
    attrs = {"keepdims": keepdims}
    if axes is not None:
        attrs["axes"] = tuple(axes)
    return op, shape, attrs


@FAST
@given(reductions())
def test_reduction_infer_matches_ref(case):
    op, shape, attrs = case
    x = np.random.default_rng(0).standard_normal(shape)
    assert get_op(op).infer(TensorType.of(x), **attrs).shape == get_op(op).ref(x, **attrs).shape


@WITH_ORT
@given(reductions(), st.sampled_from([17, 18, 21]))
def test_reduction_lowering_and_gradient(case, opset):
    op, shape, attrs = case
    n = int(np.prod(shape))
    x = (np.random.default_rng(0).permutation(n).reshape(shape) * 0.5).astype(np.float64)  # no ties
    check_op(op, [x], attrs, opsets=(opset,))


@WITH_ORT
@given(array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3), st.data())
def test_transpose_and_squeeze_unsqueeze(shape, data):
    r = len(shape)
    perm = tuple(data.draw(st.permutations(range(r))))
    x = np.random.default_rng(2).standard_normal(shape)
    check_op("Transpose", [x], {"perm": perm}, opsets=(17,))
    k = data.draw(st.integers(1, 2))
    axes = tuple(data.draw(st.lists(st.integers(-(r + k), r + k - 1), min_size=k, max_size=k,
                                    unique_by=lambda a: a % (r + k))))
    y = check_op("Unsqueeze", [x], {"axes": axes}, opsets=(17,)).outputs[0]
    check_op("Squeeze", [y], {"axes": axes}, opsets=(17,))


@WITH_ORT
@given(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), st.data())
def test_gather_any_axis(shape, data):
    r = len(shape)
    axis = data.draw(st.integers(-r, r - 1))
    d = shape[axis]
    ids = np.asarray(data.draw(st.lists(st.integers(0, d - 1), min_size=0, max_size=5)), np.int64)
    if data.draw(st.booleans()) and ids.size:
        ids = ids.reshape(1, -1)
    x = np.random.default_rng(3).standard_normal(shape)
    check_op("Gather", [x, ids], {"axis": axis}, opsets=(17,))
