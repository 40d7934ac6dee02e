"""Metrics: host-side NumPy objects with Keras' names and semantics.

A metric accumulates state over batches with ``update_state(y_true, y_pred, sample_weight=None)``
and reports it with ``result()``; ``reset_state()`` starts over. The trainer feeds them the
predictions of each batch; they never enter the ONNX graph, so they need no gradient and cost a few
NumPy operations per batch.

Mean-style metrics (accuracies, mean squared/absolute error) follow Keras' reduction: a per-element
value is first averaged over every axis but the batch axis, so each sample counts once, then the
per-sample values are averaged, weighted by ``sample_weight`` when given.

``get(identifier, loss=None, output_shape=None)`` resolves what a user writes in
``compile(metrics=[...])``; "accuracy"/"acc" become binary, sparse categorical or categorical
accuracy from the loss and the output's last dimension, and a string keeps the user's spelling as
its ``name`` (the log key), so ``metrics=["acc"]`` logs ``acc`` and ``val_acc``.
"""
from __future__ import annotations

import difflib
from typing import Callable

import numpy as np

from graphc.backend import snake_case

from .base import Mean, MeanMetricWrapper, Metric, Sum
from .confusion_metrics import AUC, Precision, Recall
from .mean_metrics import (Accuracy, BinaryAccuracy, CategoricalAccuracy, MeanAbsoluteError, MeanSquaredError,
                           SparseCategoricalAccuracy, SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy,
                           accuracy, binary_accuracy, categorical_accuracy, mean_absolute_error, mean_squared_error,
                           sparse_categorical_accuracy, sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)


# -- resolution of compile(metrics=...) -----------------------------------------------------------
_BY_NAME: dict[str, Callable[[str], Metric]] = {
    "binary_accuracy": lambda n: BinaryAccuracy(name=n),
    "categorical_accuracy": lambda n: CategoricalAccuracy(name=n),
    "sparse_categorical_accuracy": lambda n: SparseCategoricalAccuracy(name=n),
    "top_k_categorical_accuracy": lambda n: TopKCategoricalAccuracy(name=n),
    "sparse_top_k_categorical_accuracy": lambda n: SparseTopKCategoricalAccuracy(name=n),
    "mse": lambda n: MeanSquaredError(name=n),
    "mean_squared_error": lambda n: MeanSquaredError(name=n),
    "mae": lambda n: MeanAbsoluteError(name=n),
    "mean_absolute_error": lambda n: MeanAbsoluteError(name=n),
    "auc": lambda n: AUC(name=n),
    "precision": lambda n: Precision(name=n),
    "recall": lambda n: Recall(name=n),
}

_CLASSES = {cls.__name__: cls for cls in (
    Mean, Sum, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError, AUC, Precision, Recall)}


def loss_kind(loss) -> str | None:
    """Classifies a loss as "sparse_categorical", "categorical", "binary" crossentropy or None.

    ``loss`` may be the string the user passed ("sparse_categorical_crossentropy"), a loss object
    (recognised by its class name, e.g. ``SparseCategoricalCrossentropy``) or a loss function
    (recognised by its ``__name__``).
    """
    if loss is None:
        return None
    if isinstance(loss, str):
        name = loss
    elif isinstance(loss, dict):  # a serialized loss
        name = str(loss.get("class_name", ""))
    elif isinstance(loss, type):
        name = loss.__name__
    elif callable(loss) and hasattr(loss, "__name__") and not hasattr(loss, "get_config"):
        name = loss.__name__
    else:
        name = type(loss).__name__
    name = snake_case(name).lower() if not name.islower() else name
    if name in ("scce",) or "sparse_categorical" in name:
        return "sparse_categorical"
    if name in ("cce",) or "categorical" in name:
        return "categorical"
    if name in ("bce",) or "binary" in name:
        return "binary"
    wrapped = getattr(loss, "fn", None)  # a loss object wrapping a function: judge by the function
    if wrapped is not None and wrapped is not loss and callable(wrapped) and hasattr(wrapped, "__name__"):
        return loss_kind(wrapped.__name__)
    return None


def _last_dim(output_shape):
    if output_shape is None:
        return None
    if isinstance(output_shape, (int, np.integer)):
        return int(output_shape)
    shape = tuple(output_shape)
    return shape[-1] if shape else None


def resolve_accuracy(name: str, loss=None, output_shape=None) -> Metric:
    """"accuracy"/"acc" as Keras resolves it: binary accuracy for binary crossentropy or a one-unit
    output, sparse categorical accuracy for sparse categorical crossentropy, otherwise categorical
    accuracy."""
    kind = loss_kind(loss)
    if kind == "binary" or _last_dim(output_shape) == 1:
        return BinaryAccuracy(name=name)
    if kind == "sparse_categorical":
        return SparseCategoricalAccuracy(name=name)
    return CategoricalAccuracy(name=name)


def get(identifier, loss=None, output_shape=None) -> Metric | None:
    """Resolves a metric identifier to a Metric object.

    Args:
        identifier: a Metric instance (returned as is), a Metric subclass (instantiated), a string
            ("accuracy"/"acc", "binary_accuracy", "categorical_accuracy",
            "sparse_categorical_accuracy", "top_k_categorical_accuracy",
            "sparse_top_k_categorical_accuracy", "mse"/"mean_squared_error",
            "mae"/"mean_absolute_error", "auc", "precision", "recall", or a class name such as
            "AUC"), a function ``fn(y_true, y_pred) -> per-sample values`` (wrapped as a mean
            named after the function), or None (returns None).
        loss: the loss of the output the metric is attached to (string, object or function); decides
            what "accuracy" means.
        output_shape: that output's shape (or its last dimension); a last dimension of 1 makes
            "accuracy" binary.

    Returns:
        A fresh Metric (except for instances). A lower-case string keeps the user's spelling as the
        metric's name ("acc" logs as "acc"); a class name gives the class's default name.

    Raises:
        ValueError: for an unknown string, naming the closest known one.
        TypeError: for anything else.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        if identifier in ("accuracy", "acc"):
            return resolve_accuracy(identifier, loss, output_shape)
        if identifier in _BY_NAME:
            return _BY_NAME[identifier](identifier)
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        known = sorted(["accuracy", "acc", *_BY_NAME, *_CLASSES])
        close = difflib.get_close_matches(identifier, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown metric {identifier!r}.{hint} Known metrics: {', '.join(known)}.")
    if callable(identifier):
        return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", None) or "metric")
    raise TypeError(f"Could not interpret metric identifier {identifier!r}: expected a string, a Metric or a "
                    "function (y_true, y_pred) -> values")


def serialize(metric: Metric) -> dict:
    """``{"class_name": ..., "config": ...}`` for saving a compiled model."""
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def deserialize(config: dict) -> Metric:
    """Inverse of ``serialize`` for the built-in metric classes."""
    name = config.get("class_name")
    if name not in _CLASSES:
        raise ValueError(f"deserialize: unknown metric class {name!r}; known: {', '.join(sorted(_CLASSES))}")
    return _CLASSES[name].from_config(dict(config.get("config", {})))


__all__ = ["AUC", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "Mean", "MeanAbsoluteError",
           "MeanMetricWrapper", "MeanSquaredError", "Metric", "Precision", "Recall", "SparseCategoricalAccuracy",
           "SparseTopKCategoricalAccuracy", "Sum", "TopKCategoricalAccuracy", "accuracy", "binary_accuracy",
           "categorical_accuracy", "deserialize", "get", "loss_kind", "mean_absolute_error", "mean_squared_error",
           "resolve_accuracy", "serialize", "sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy",
           "top_k_categorical_accuracy"]
