"""Variables: typed host storage with a trainable flag and a lazily applied device copy."""
from __future__ import annotations

import numpy as np
import pytest

from graphc.ir import TensorType, Variable


def test_variable_value_type_and_assign():
    v = Variable(np.zeros((2, 3)), "dense/kernel", dtype="float32")
    assert v.dtype == "float32" and v.shape == (2, 3) and v.type == TensorType("float32", (2, 3))
    assert v.trainable and v.path == "dense/kernel"
    v.assign(np.ones((2, 3)))
    assert v.value.dtype == np.float32 and v.value.sum() == 6
    with pytest.raises(ValueError, match=r"expected shape \(2, 3\), received \(3, 2\)"):
        v.assign(np.ones((3, 2)))


def test_numpy_returns_a_copy():
    v = Variable(np.zeros(3, np.float32), "b")
    a = v.numpy()
    a[0] = 5
    assert v.value[0] == 0


def test_sync_hook_runs_once_before_a_read():
    v = Variable(np.zeros(2, np.float32), "w")
    calls = []

    def hook():
        calls.append(1)
        v._set_from_device(np.array([1.0, 2.0], np.float32))

    v._sync_hook = hook
    assert v.value.tolist() == [1.0, 2.0]
    assert v.value.tolist() == [1.0, 2.0]
    assert calls == [1]


def test_assign_drops_a_pending_device_copy():
    v = Variable(np.zeros(2, np.float32), "w")
    v._sync_hook = lambda: v._set_from_device(np.full(2, 9, np.float32))
    v.assign(np.ones(2))
    assert v.value.tolist() == [1.0, 1.0]


def test_ids_are_unique():
    assert Variable(0.0, "a").uid != Variable(0.0, "a").uid
