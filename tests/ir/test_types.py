"""TensorType and broadcasting over static, symbolic and unknown dims."""
from __future__ import annotations

import numpy as np
import pytest

from graphc.ir import TensorType, as_dtype, broadcast_shapes, format_shape


def test_tensor_type_normalizes_dtype_and_dims():
    t = TensorType(np.float32, [np.int64(2), "batch", None])
    assert t.dtype == "float32" and t.shape == (2, "batch", None)
    assert type(t.shape[0]) is int
    assert t.rank == 3 and not t.is_static and t.size is None
    assert str(t) == "float32[2,batch,?]"
    assert t.keras_shape() == (2, None, None)
    assert TensorType.of(np.zeros((2, 3), np.int64)) == TensorType("int64", (2, 3))
    assert TensorType("bool", (2, 3)).size == 6


@pytest.mark.parametrize("bad", [(-1,), (2.5,)])
def test_bad_dims_are_rejected(bad):
    with pytest.raises(ValueError, match="dims"):
        TensorType("float32", bad)


def test_bad_dtype_is_rejected():
    with pytest.raises(TypeError, match="dtype"):
        as_dtype("complex64")


@pytest.mark.parametrize("a, b, out", [
    ((2, 3), (3,), (2, 3)),
    ((4, 1, 3), (2, 1), (4, 2, 3)),
    (("batch", 3), (1, 3), ("batch", 3)),
    (("batch", 1), (1, 5), ("batch", 5)),
    (("batch", 3), ("batch", 3), ("batch", 3)),
    ((None, 3), (4, 3), (4, 3)),
    (("batch", 3), (None, 3), ("batch", 3)),
    ((), (2,), (2,)),
])
def test_broadcast_shapes(a, b, out):
    assert broadcast_shapes(a, b) == out


def test_broadcast_mismatch_names_the_shapes():
    with pytest.raises(ValueError, match=r"shapes \(2, 3\) and \(4,?\) do not broadcast"):
        broadcast_shapes((2, 3), (4,))


def test_format_shape_is_keras_like():
    assert format_shape(("batch", 64)) == "(None, 64)"
