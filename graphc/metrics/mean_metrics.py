"""Per-sample metric functions and the Mean-based metrics built on them: accuracies and errors."""
from __future__ import annotations

import numpy as np

from .base import MeanMetricWrapper, as_array, match_ranks, mean_last_axis


# -- per-sample metric functions ------------------------------------------------------------------
def accuracy(y_true, y_pred) -> np.ndarray:
    """Whether each value equals its label (elementwise, averaged over the last axis)."""
    y_true, y_pred = match_ranks(as_array(y_true), as_array(y_pred))
    return mean_last_axis((y_true == y_pred).astype(np.float64))


def binary_accuracy(y_true, y_pred, threshold: float = 0.5) -> np.ndarray:
    """Fraction of predictions ``> threshold`` that match 0/1 labels, per sample."""
    y_true, y_pred = match_ranks(as_array(y_true), as_array(y_pred))
    return mean_last_axis(((y_pred > threshold) == (y_true > 0.5)).astype(np.float64))


def categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """Whether the arg-max of the prediction is the arg-max of the one-hot label."""
    y_true, y_pred = as_array(y_true), as_array(y_pred)
    if y_true.ndim == y_pred.ndim - 1:  # integer labels given to a categorical metric
        return sparse_categorical_accuracy(y_true, y_pred)
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float64)


def _sparse_labels(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    if y_true.shape != y_pred.shape[:-1]:
        raise ValueError(f"sparse labels of shape {y_true.shape} do not match predictions of shape "
                         f"{y_pred.shape}: expected labels of shape {y_pred.shape[:-1]} or "
                         f"{y_pred.shape[:-1] + (1,)}")
    return y_true


def sparse_categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """Whether the arg-max of the prediction equals the integer label (shape (N,) or (N, 1))."""
    y_true, y_pred = as_array(y_true), as_array(y_pred)
    labels = _sparse_labels(y_true, y_pred)
    return (np.argmax(y_pred, axis=-1) == labels).astype(np.float64)


def _in_top_k(labels: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """Whether each label's score is among the k largest (ties count in, as tf.math.in_top_k)."""
    flat_pred = y_pred.reshape(-1, y_pred.shape[-1])
    flat_labels = labels.reshape(-1).astype(np.int64)
    target = flat_pred[np.arange(flat_pred.shape[0]), flat_labels]
    higher = (flat_pred > target[:, None]).sum(axis=-1)
    return (higher < k).astype(np.float64).reshape(labels.shape)


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5) -> np.ndarray:
    """Whether the one-hot label's class is among the k highest predictions."""
    y_true, y_pred = as_array(y_true), as_array(y_pred)
    return _in_top_k(np.argmax(y_true, axis=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5) -> np.ndarray:
    """Whether the integer label is among the k highest predictions."""
    y_true, y_pred = as_array(y_true), as_array(y_pred)
    return _in_top_k(_sparse_labels(y_true, y_pred), y_pred, k)


def mean_squared_error(y_true, y_pred) -> np.ndarray:
    """Mean of the squared differences over the last axis."""
    y_true, y_pred = match_ranks(as_array(y_true), as_array(y_pred))
    return mean_last_axis(np.square(y_pred.astype(np.float64) - y_true))


def mean_absolute_error(y_true, y_pred) -> np.ndarray:
    """Mean of the absolute differences over the last axis."""
    y_true, y_pred = match_ranks(as_array(y_true), as_array(y_pred))
    return mean_last_axis(np.abs(y_pred.astype(np.float64) - y_true))


# -- mean metric classes --------------------------------------------------------------------------
class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly."""

    def __init__(self, name: str = "accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` matches 0/1 labels."""

    def __init__(self, name: str = "binary_accuracy", dtype=None, threshold: float = 0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the predicted class (arg-max) is the one-hot label's class."""

    def __init__(self, name: str = "categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the predicted class (arg-max) is the integer label; labels (N,) or (N, 1)."""

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label's class is among the ``k`` highest predictions."""

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the ``k`` highest predictions."""

    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k


class MeanSquaredError(MeanMetricWrapper):
    """Mean of ``(y_pred - y_true) ** 2``."""

    _direction = "down"

    def __init__(self, name: str = "mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """Mean of ``|y_pred - y_true|``."""

    _direction = "down"

    def __init__(self, name: str = "mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, dtype=dtype)
