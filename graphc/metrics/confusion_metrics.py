"""Metrics from confusion counts at thresholds: AUC, Precision and Recall."""
from __future__ import annotations

import numpy as np

from .base import Metric, as_array, divide_no_nan, match_ranks

_EPSILON = 1e-7


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
    w = as_array(sample_weight).astype(np.float64)
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
        y_true, y_pred = match_ranks(as_array(y_true).astype(np.float64), as_array(y_pred).astype(np.float64))
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
            x = divide_no_nan(fp, fp + tn)
            y = divide_no_nan(tp, tp + fn)
        else:
            x = divide_no_nan(tp, tp + fn)
            y = divide_no_nan(tp, tp + fp)
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
        slope = divide_no_nan(d_tp, np.maximum(d_p, 0))
        intercept = tp[1:] - slope * p[1:]
        both_positive = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both_positive, divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ratio = np.log(np.where(ratio > 0, ratio, 1.0))
        increments = divide_no_nan(slope * (d_tp + intercept * log_ratio), np.maximum(tp[1:] + fn[1:], 0))
        return increments.sum(axis=0)

    def result(self) -> float:
        if self.true_positives is None:
            return 0.0
        areas = self._area(self.true_positives, self.false_positives, self.true_negatives, self.false_negatives)
        if not self.multi_label:
            return float(areas[0])
        if self.label_weights is None:
            return float(areas.mean())
        return float(divide_no_nan((areas * self.label_weights).sum(), self.label_weights.sum()))

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
        y_true, y_pred = match_ranks(as_array(y_true).astype(np.float64), as_array(y_pred).astype(np.float64))
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
        values = divide_no_nan(numerator, denominator)
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
