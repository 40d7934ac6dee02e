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

_EPSILON = 1e-7


def _divide_no_nan(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))
    return out


def _as_array(x) -> np.ndarray:
    a = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
    if a.dtype == bool:
        a = a.astype(np.float64)
    return a


def _match_ranks(y_true: np.ndarray, y_pred: np.ndarray):
    """Drops a trailing axis of size 1 from whichever of the two has one more axis (Keras' rule)."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_pred = y_pred[..., 0]
    return y_true, y_pred


def _mean_last_axis(values: np.ndarray) -> np.ndarray:
    """Mean over the last axis, but never over the batch axis itself."""
    return values.mean(axis=-1) if values.ndim > 1 else values


class Metric:
    """Base class: a named, stateful accumulator.

    Subclasses implement ``update_state``, ``result`` and ``reset_state``.

    Args:
        name: the metric's name, which is its key in the logs; defaults to the snake-cased class
            name.
        dtype: kept for Keras compatibility; results are Python floats.
    """

    _direction = "up"  # whether bigger is better; callbacks' mode="auto" may consult it

    def __init__(self, name: str | None = None, dtype=None):
        self.name = name or snake_case(type(self).__name__)
        self.dtype = dtype or "float32"

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        raise NotImplementedError(f"{type(self).__name__}.update_state")

    def result(self) -> float:
        raise NotImplementedError(f"{type(self).__name__}.result")

    def reset_state(self) -> None:
        raise NotImplementedError(f"{type(self).__name__}.reset_state")

    def reset_states(self) -> None:
        """Alias of ``reset_state`` (the Keras 2 spelling)."""
        self.reset_state()

    def __call__(self, *args, **kwargs):
        """Updates the state with one batch and returns the result so far."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class Mean(Metric):
    """Weighted mean of the values given to ``update_state(values, sample_weight=None)``.

    Values with more axes than ``sample_weight`` are first averaged over the extra axes; without
    weights every sample (row of the first axis) counts once.
    """

    def __init__(self, name: str | None = None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None) -> None:
        values = _as_array(values).astype(np.float64)
        if sample_weight is None:
            per_sample = values.reshape(values.shape[0], -1).mean(axis=1) if values.ndim > 1 else values.reshape(-1)
            self.total += float(per_sample.sum())
            self.count += float(per_sample.size)
            return
        weight = _as_array(sample_weight).astype(np.float64)
        values, weight = _match_ranks(values, weight)
        if values.ndim > weight.ndim:
            values = values.mean(axis=tuple(range(weight.ndim, values.ndim))) if weight.ndim else values.mean()
        try:
            weight = np.broadcast_to(weight, values.shape)
        except ValueError:
            raise ValueError(f'Metric "{self.name}": sample_weight of shape {np.shape(sample_weight)} does not '
                             f"broadcast to the values' shape {values.shape}") from None
        weighted = values * weight
        if weighted.ndim > 1:
            weighted = weighted.reshape(weighted.shape[0], -1).mean(axis=1)
            weight = weight.reshape(weight.shape[0], -1).mean(axis=1)
        self.total += float(weighted.sum())
        self.count += float(weight.sum())

    def result(self) -> float:
        return float(self.total / self.count) if self.count else 0.0


class Sum(Metric):
    """Weighted sum of the values given to ``update_state(values, sample_weight=None)``."""

    def __init__(self, name: str | None = None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self) -> None:
        self.total = 0.0

    def update_state(self, values, sample_weight=None) -> None:
        values = _as_array(values).astype(np.float64)
        if sample_weight is not None:
            values = values * np.broadcast_to(_as_array(sample_weight).astype(np.float64), values.shape)
        self.total += float(values.sum())

    def result(self) -> float:
        return float(self.total)


class MeanMetricWrapper(Mean):
    """Wraps ``fn(y_true, y_pred, **kwargs) -> per-sample values`` as a Mean metric."""

    def __init__(self, fn: Callable, name: str | None = None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        values = self._fn(_as_array(y_true), _as_array(y_pred), **self._fn_kwargs)
        super().update_state(values, sample_weight)

    def get_config(self) -> dict:
        return {**super().get_config(), **self._fn_kwargs}


# -- per-sample metric functions ------------------------------------------------------------------
def accuracy(y_true, y_pred) -> np.ndarray:
    """Whether each value equals its label (elementwise, averaged over the last axis)."""
    y_true, y_pred = _match_ranks(_as_array(y_true), _as_array(y_pred))
    return _mean_last_axis((y_true == y_pred).astype(np.float64))


def binary_accuracy(y_true, y_pred, threshold: float = 0.5) -> np.ndarray:
    """Fraction of predictions ``> threshold`` that match 0/1 labels, per sample."""
    y_true, y_pred = _match_ranks(_as_array(y_true), _as_array(y_pred))
    return _mean_last_axis(((y_pred > threshold) == (y_true > 0.5)).astype(np.float64))


def categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """Whether the arg-max of the prediction is the arg-max of the one-hot label."""
    y_true, y_pred = _as_array(y_true), _as_array(y_pred)
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
    y_true, y_pred = _as_array(y_true), _as_array(y_pred)
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
    y_true, y_pred = _as_array(y_true), _as_array(y_pred)
    return _in_top_k(np.argmax(y_true, axis=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5) -> np.ndarray:
    """Whether the integer label is among the k highest predictions."""
    y_true, y_pred = _as_array(y_true), _as_array(y_pred)
    return _in_top_k(_sparse_labels(y_true, y_pred), y_pred, k)


def mean_squared_error(y_true, y_pred) -> np.ndarray:
    """Mean of the squared differences over the last axis."""
    y_true, y_pred = _match_ranks(_as_array(y_true), _as_array(y_pred))
    return _mean_last_axis(np.square(y_pred.astype(np.float64) - y_true))


def mean_absolute_error(y_true, y_pred) -> np.ndarray:
    """Mean of the absolute differences over the last axis."""
    y_true, y_pred = _match_ranks(_as_array(y_true), _as_array(y_pred))
    return _mean_last_axis(np.abs(y_pred.astype(np.float64) - y_true))


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


# -- confusion-matrix metrics ---------------------------------------------------------------------
def _count_above(pred: np.ndarray, weight: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """For each threshold t: the summed weight of the entries with ``pred > t``.

    ``pred`` and ``weight`` have shape (M, L) (L independent columns); the result is (T, L).
    """
    out = np.empty((thresholds.size, pred.shape[1]), dtype=np.float64)
    for j in range(pred.shape[1]):
        order = np.argsort(pred[:, j], kind="stable")
        sorted_pred = pred[order, j]
        cumulative = np.concatenate([[0.0], np.cumsum(weight[order, j])])
        at_or_below = np.searchsorted(sorted_pred, thresholds, side="right")
        out[:, j] = cumulative[-1] - cumulative[at_or_below]
    return out


def _confusion_counts(labels: np.ndarray, pred: np.ndarray, weight: np.ndarray, thresholds: np.ndarray):
    """True/false positives and negatives per threshold; all inputs (M, L), outputs (T, L)."""
    positive = labels.astype(bool)
    pos_w = np.where(positive, weight, 0.0)
    neg_w = np.where(positive, 0.0, weight)
    tp = _count_above(pred, pos_w, thresholds)
    fp = _count_above(pred, neg_w, thresholds)
    fn = pos_w.sum(axis=0) - tp
    tn = neg_w.sum(axis=0) - fp
    return tp, fp, tn, fn


def _check_unit_interval(pred: np.ndarray, name: str) -> None:
    if pred.size and (np.nanmin(pred) < 0 or np.nanmax(pred) > 1):
        raise ValueError(f'Metric "{name}": predictions must lie in [0, 1], received values in '
                         f"[{np.nanmin(pred):.4g}, {np.nanmax(pred):.4g}]. For logits pass from_logits=True.")


def _weights_like(sample_weight, shape) -> np.ndarray:
    if sample_weight is None:
        return np.ones(shape, dtype=np.float64)
    w = _as_array(sample_weight).astype(np.float64)
    while w.ndim < len(shape):
        w = w[..., None]
    return np.broadcast_to(w, shape).astype(np.float64)


class AUC(Metric):
    """Area under the ROC (or precision-recall) curve, from confusion counts at fixed thresholds.

    The thresholds are ``num_thresholds`` points: ``-1e-7``, ``i / (num_thresholds - 1)`` for
    ``i = 1 .. num_thresholds - 2``, and ``1 + 1e-7``; a prediction counts as positive at a threshold
    when it is strictly greater. Counts accumulate over batches (weighted by ``sample_weight``).

    ``summation_method``:
        * ``"interpolation"`` (default): for ROC, the trapezoidal rule over (false-positive rate,
          true-positive rate) points; for PR, Davis & Goadrich's interpolation (between two
          thresholds true positives are linear in predicted positives, so precision is integrated
          exactly over recall).
        * ``"minoring"`` / ``"majoring"``: left / right Riemann sums taking the smaller / larger
          height of each interval.

    Args:
        num_thresholds: number of thresholds (> 1) when ``thresholds`` is not given.
        curve: ``"ROC"`` or ``"PR"``.
        summation_method: see above.
        name: log key; defaults to "auc".
        thresholds: explicit thresholds in [0, 1]; ``-1e-7`` and ``1 + 1e-7`` are added.
        multi_label: if True, labels are (N, L) with one curve per column, averaged (weighted by
            ``label_weights``); otherwise all entries form one curve.
        num_labels: number of labels when ``multi_label`` (else inferred).
        label_weights: per-column weights (of the counts without ``multi_label``, of the per-label
            areas with it).
        from_logits: apply a sigmoid to the predictions first.
    """

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC", summation_method: str = "interpolation",
                 name: str | None = None, dtype=None, thresholds=None, multi_label: bool = False,
                 num_labels: int | None = None, label_weights=None, from_logits: bool = False):
        super().__init__(name=name or "auc", dtype=dtype)
        curve = str(curve).upper()
        if curve not in ("ROC", "PR"):
            raise ValueError(f'AUC: curve must be "ROC" or "PR", received {curve!r}')
        summation_method = str(summation_method).lower()
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError('AUC: summation_method must be "interpolation", "minoring" or "majoring", '
                             f"received {summation_method!r}")
        if thresholds is not None:
            inner = np.sort(np.asarray(thresholds, dtype=np.float64).reshape(-1))
            if inner.size and (inner.min() < 0 or inner.max() > 1):
                raise ValueError(f"AUC: thresholds must lie in [0, 1], received {thresholds!r}")
        else:
            if not isinstance(num_thresholds, (int, np.integer)) or num_thresholds <= 1:
                raise ValueError(f"AUC: num_thresholds must be an int > 1, received {num_thresholds!r}")
            inner = np.arange(1, num_thresholds - 1, dtype=np.float64) / (num_thresholds - 1)
        self.thresholds = np.concatenate([[0.0 - _EPSILON], inner, [1.0 + _EPSILON]])
        self.num_thresholds = int(self.thresholds.size)
        self.curve = curve
        self.summation_method = summation_method
        self.multi_label = bool(multi_label)
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, dtype=np.float64)
        self.from_logits = bool(from_logits)
        self.reset_state()

    def reset_state(self) -> None:
        self.true_positives = None
        self.false_positives = None
        self.true_negatives = None
        self.false_negatives = None

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = _match_ranks(_as_array(y_true).astype(np.float64), _as_array(y_pred).astype(np.float64))
        if y_true.shape != y_pred.shape:
            raise ValueError(f'Metric "{self.name}": labels of shape {y_true.shape} do not match predictions '
                             f"of shape {y_pred.shape}")
        if self.from_logits:
            y_pred = 1.0 / (1.0 + np.exp(-y_pred))
        else:
            _check_unit_interval(y_pred, self.name)
        weight = _weights_like(sample_weight, y_pred.shape)
        if self.multi_label:
            if y_pred.ndim < 2:
                raise ValueError(f'Metric "{self.name}": multi_label needs predictions of shape (N, labels), '
                                 f"received {y_pred.shape}")
            columns = y_pred.shape[-1]
            if self.num_labels is not None and columns != self.num_labels:
                raise ValueError(f'Metric "{self.name}": expected {self.num_labels} labels, received {columns}')
            labels, pred, weight = (a.reshape(-1, columns) for a in (y_true, y_pred, weight))
        else:
            if self.label_weights is not None:
                weight = weight * self.label_weights
            labels, pred, weight = (a.reshape(-1, 1) for a in (y_true, y_pred, weight))
        counts = _confusion_counts(labels, pred, weight, self.thresholds)
        if self.true_positives is None:
            self.true_positives, self.false_positives, self.true_negatives, self.false_negatives = counts
        else:
            if counts[0].shape != self.true_positives.shape:
                raise ValueError(f'Metric "{self.name}": the number of labels changed between batches '
                                 f"({self.true_positives.shape[1]} then {counts[0].shape[1]})")
            self.true_positives = self.true_positives + counts[0]
            self.false_positives = self.false_positives + counts[1]
            self.true_negatives = self.true_negatives + counts[2]
            self.false_negatives = self.false_negatives + counts[3]

    def _area(self, tp, fp, tn, fn) -> np.ndarray:
        """Area per column from counts of shape (T, L); thresholds ascend along the first axis."""
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolated_pr_area(tp, fp, fn)
        if self.curve == "ROC":
            x = _divide_no_nan(fp, fp + tn)
            y = _divide_no_nan(tp, tp + fn)
        else:
            x = _divide_no_nan(tp, tp + fn)
            y = _divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return ((x[:-1] - x[1:]) * heights).sum(axis=0)

    @staticmethod
    def _interpolated_pr_area(tp, fp, fn) -> np.ndarray:
        # Between thresholds i and i+1, tp = slope * p + intercept with p = tp + fp, so
        # precision = slope + intercept / p and d(recall) = slope * dp / positives: the integral is
        # slope * (d_tp + intercept * log(p_i / p_{i+1})) / positives.
        p = tp + fp
        d_tp = tp[:-1] - tp[1:]
        d_p = p[:-1] - p[1:]
        slope = _divide_no_nan(d_tp, np.maximum(d_p, 0))
        intercept = tp[1:] - slope * p[1:]
        both_positive = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both_positive, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ratio = np.log(np.where(ratio > 0, ratio, 1.0))
        increments = _divide_no_nan(slope * (d_tp + intercept * log_ratio), np.maximum(tp[1:] + fn[1:], 0))
        return increments.sum(axis=0)

    def result(self) -> float:
        if self.true_positives is None:
            return 0.0
        areas = self._area(self.true_positives, self.false_positives, self.true_negatives, self.false_negatives)
        if not self.multi_label:
            return float(areas[0])
        if self.label_weights is None:
            return float(areas.mean())
        return float(_divide_no_nan((areas * self.label_weights).sum(), self.label_weights.sum()))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                "summation_method": self.summation_method, "thresholds": self.thresholds[1:-1].tolist(),
                "multi_label": self.multi_label, "num_labels": self.num_labels,
                "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
                "from_logits": self.from_logits}


class _ThresholdedMetric(Metric):
    """Shared state of Precision and Recall: tp / fp / fn at each threshold."""

    def __init__(self, thresholds=None, top_k: int | None = None, class_id: int | None = None,
                 name: str | None = None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        default = 0.5 if top_k is None else -np.inf  # with top_k, the top predictions are the positives
        if thresholds is None:
            thresholds = default
        self._single = np.ndim(thresholds) == 0
        self.thresholds = np.asarray(thresholds, dtype=np.float64).reshape(-1)
        if np.any((self.thresholds < 0) & np.isfinite(self.thresholds)) or np.any(self.thresholds > 1):
            raise ValueError(f"{type(self).__name__}: thresholds must lie in [0, 1], received {thresholds!r}")
        self.reset_state()

    def reset_state(self) -> None:
        n = self.thresholds.size
        self.true_positives = np.zeros(n)
        self.false_positives = np.zeros(n)
        self.false_negatives = np.zeros(n)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = _match_ranks(_as_array(y_true).astype(np.float64), _as_array(y_pred).astype(np.float64))
        if y_true.shape != y_pred.shape:
            raise ValueError(f'Metric "{self.name}": labels of shape {y_true.shape} do not match predictions '
                             f"of shape {y_pred.shape}")
        weight = _weights_like(sample_weight, y_pred.shape)
        if self.top_k is not None:
            kth = -np.sort(-y_pred, axis=-1)[..., min(self.top_k, y_pred.shape[-1]) - 1:self.top_k]
            y_pred = np.where(y_pred >= kth, y_pred, -np.inf)
        if self.class_id is not None:
            y_true, y_pred, weight = y_true[..., self.class_id], y_pred[..., self.class_id], weight[..., self.class_id]
        positive = y_true.reshape(-1) != 0
        pred = y_pred.reshape(-1)
        w = weight.reshape(-1)
        above = pred[None, :] > self.thresholds[:, None]
        self.true_positives += (above & positive).astype(np.float64) @ w
        self.false_positives += (above & ~positive).astype(np.float64) @ w
        self.false_negatives += (~above & positive).astype(np.float64) @ w

    def _value(self, numerator, denominator):
        values = _divide_no_nan(numerator, denominator)
        return float(values[0]) if self._single else [float(v) for v in values]

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_ThresholdedMetric):
    """tp / (tp + fp), where a prediction ``> threshold`` is a positive (0 when there are none).

    Args:
        thresholds: a float (default 0.5) or a list of floats (then ``result`` is a list).
        top_k: count only the ``top_k`` highest predictions of each row as positives.
        class_id: score a single column (class) of multi-label data.
    """

    def __init__(self, thresholds=None, top_k: int | None = None, class_id: int | None = None,
                 name: str | None = None, dtype=None):
        super().__init__(thresholds, top_k, class_id, name=name or "precision", dtype=dtype)

    def result(self):
        return self._value(self.true_positives, self.true_positives + self.false_positives)


class Recall(_ThresholdedMetric):
    """tp / (tp + fn), where a prediction ``> threshold`` is a positive (0 when no labels are 1).

    Args:
        thresholds: a float (default 0.5) or a list of floats (then ``result`` is a list).
        top_k: count only the ``top_k`` highest predictions of each row as positives.
        class_id: score a single column (class) of multi-label data.
    """

    def __init__(self, thresholds=None, top_k: int | None = None, class_id: int | None = None,
                 name: str | None = None, dtype=None):
        super().__init__(thresholds, top_k, class_id, name=name or "recall", dtype=dtype)

    def result(self):
        return self._value(self.true_positives, self.true_positives + self.false_negatives)


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
