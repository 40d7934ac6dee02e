"""The Metric base class, Mean and Sum, MeanMetricWrapper, and array helpers the metrics share."""
from __future__ import annotations

from typing import Callable

import numpy as np

from graphc.backend import snake_case


def divide_no_nan(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))
    return out


def as_array(x) -> np.ndarray:
    a = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
    if a.dtype == bool:
        a = a.astype(np.float64)
    return a


def match_ranks(y_true: np.ndarray, y_pred: np.ndarray):
    """Drops a trailing axis of size 1 from whichever of the two has one more axis (Keras' rule)."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_pred = y_pred[..., 0]
    return y_true, y_pred


def mean_last_axis(values: np.ndarray) -> np.ndarray:
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
        values = as_array(values).astype(np.float64)
        if sample_weight is None:
            per_sample = values.reshape(values.shape[0], -1).mean(axis=1) if values.ndim > 1 else values.reshape(-1)
            self.total += float(per_sample.sum())
            self.count += float(per_sample.size)
            return
        weight = as_array(sample_weight).astype(np.float64)
        values, weight = match_ranks(values, weight)
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
        values = as_array(values).astype(np.float64)
        if sample_weight is not None:
            values = values * np.broadcast_to(as_array(sample_weight).astype(np.float64), values.shape)
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
        values = self._fn(as_array(y_true), as_array(y_pred), **self._fn_kwargs)
        super().update_state(values, sample_weight)

    def get_config(self) -> dict:
        return {**super().get_config(), **self._fn_kwargs}
