import numpy as np
import pytest

import graphc
from graphc.utils import normalize, to_categorical


def test_to_categorical_basic():
    out = to_categorical([0, 2, 1], num_classes=4)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]])


def test_to_categorical_infers_classes():
    out = to_categorical(np.array([3, 1]))
    assert out.shape == (2, 4)
    np.testing.assert_array_equal(out.argmax(-1), [3, 1])


def test_to_categorical_squeezes_trailing_one():
    labels = np.array([[1], [0], [2]], dtype=np.uint8)  # cifar10's (N, 1) labels
    out = to_categorical(labels, 3)
    assert out.shape == (3, 3)
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32)[[1, 0, 2]])


def test_to_categorical_keeps_other_axes():
    labels = np.array([[0, 1, 2], [2, 2, 0]])
    out = to_categorical(labels, 3)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out.argmax(-1), labels)
    assert to_categorical(2, 3).tolist() == [0, 0, 1]


def test_to_categorical_integral_floats_accepted():
    np.testing.assert_array_equal(to_categorical(np.array([1.0, 0.0]), 2), [[0, 1], [1, 0]])


def test_to_categorical_out_of_range_names_value_and_position():
    with pytest.raises(ValueError, match=r"label 57 at x\[3\] is out of range for 10 classes"):
        to_categorical([1, 2, 3, 57, 4], num_classes=10)
    with pytest.raises(ValueError, match=r"label 10 at x\[1, 0\] is out of range for 10 classes"):
        to_categorical(np.array([[1], [10]]), num_classes=10)


def test_to_categorical_negative_names_value_and_position():
    with pytest.raises(ValueError, match=r"label -1 at x\[2\] is negative"):
        to_categorical([0, 1, -1])


def test_to_categorical_rejects_non_integers_and_bad_num_classes():
    with pytest.raises(ValueError, match=r"label 1.5 at x\[1\] is not an integer"):
        to_categorical([0.0, 1.5])
    with pytest.raises(ValueError, match="num_classes"):
        to_categorical([0, 1], num_classes=0)
    with pytest.raises(ValueError, match="empty"):
        to_categorical([])
    with pytest.raises(TypeError):
        to_categorical(["a", "b"])
    assert to_categorical(np.zeros((0,), np.int64), 3).shape == (0, 3)


def test_to_categorical_reachable_from_package():
    assert graphc.utils.to_categorical is to_categorical


def test_normalize_l2_and_l1():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(normalize(x), [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(normalize(x, order=1), [[3 / 7, 4 / 7], [0.0, 0.0]])
    np.testing.assert_allclose(normalize(x, axis=0), [[1.0, 1.0], [0.0, 0.0]])
    out = normalize(np.array([[1, 1]]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[2 ** -0.5, 2 ** -0.5]], rtol=1e-6)
