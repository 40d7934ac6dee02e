"""Activation layers with arguments: ReLU, LeakyReLU, Softmax, ELU.

Each follows Keras 3's formula and defaults; the composition uses graphc ops, so the gradient comes
from the ops' rules.
"""
from __future__ import annotations

import numpy as np

from graphc import ops

from .layer import Layer


class ReLU(Layer):
    """Keras' rectified linear unit with a ceiling, a threshold and a slope below the threshold.

    ``f(x) = min(x, max_value)`` for ``x > threshold`` (or ``x`` when ``max_value`` is None) and
    ``negative_slope * (x - threshold)`` otherwise. ``ReLU(6.0)`` is MobileNetV2's ReLU6. As in Keras
    the positive part is ``clip(x * (x > threshold), 0, max_value)`` when ``max_value`` is given.

    Args:
        max_value: ceiling of the output, None for none; must be >= 0.
        negative_slope: slope below the threshold; must be >= 0.
        threshold: where the unit turns on.
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise ValueError(f"ReLU: max_value must be >= 0 or None, received {max_value!r}")
        if negative_slope is None or negative_slope < 0:
            raise ValueError(f"ReLU: negative_slope must be >= 0, received {negative_slope!r}")
        if threshold is None:
            raise ValueError("ReLU: threshold must be a number, received None")
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope = float(negative_slope)
        self.threshold = float(threshold)

    def call(self, inputs):
        x = inputs
        dt = x.dtype
        slope, thr, top = self.negative_slope, self.threshold, self.max_value
        if slope != 0.0 and top is None and thr == 0.0:
            return ops.leaky_relu(x, slope)
        if thr != 0.0:
            pos = ops.where(ops.greater(x, np.asarray(thr, dt)), x, np.zeros((), dt))
        else:
            pos = ops.relu(x)
        if top is not None:
            pos = ops.minimum(ops.maximum(pos, np.zeros((), dt)), np.asarray(top, dt)) if thr != 0.0 else \
                ops.minimum(pos, np.asarray(top, dt))
        if slope != 0.0:
            below = ops.relu(ops.sub(np.asarray(thr, dt), x)) if thr != 0.0 else ops.relu(ops.neg(x))
            pos = ops.sub(pos, ops.mul(np.asarray(slope, dt), below))
        return pos

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class LeakyReLU(Layer):
    """``x`` for ``x >= 0``, ``negative_slope * x`` otherwise; Keras 3's default slope is 0.3.

    ``alpha=`` (the Keras 2 spelling) is accepted as a synonym of ``negative_slope``.
    """

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        if negative_slope is None or negative_slope < 0:
            raise ValueError(f"LeakyReLU: negative_slope must be >= 0, received {negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def call(self, inputs):
        return ops.leaky_relu(inputs, self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class Softmax(Layer):
    """Softmax along ``axis`` (an int; Keras' tuple of axes is not supported).

    ``call(inputs, mask=None)``: where ``mask`` is False the logits get a large negative number
    added first and the probabilities are multiplied by the mask after, as Keras does, so masked
    positions get zero probability.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            if len(axis) != 1:
                raise NotImplementedError(f"Softmax: a softmax over several axes {tuple(axis)} is not supported; "
                                          "reshape the axes into one first")
            axis = axis[0]
        self.axis = int(axis)

    def call(self, inputs, mask=None):
        x = inputs
        if mask is not None:
            keep = ops.cast(mask, x.dtype)
            big = np.asarray(-1e9 if x.dtype != "float16" else -3e4, x.dtype)
            x = ops.add(x, ops.mul(ops.sub(np.ones((), x.dtype), keep), big))
        try:
            y = ops.softmax(x, self.axis)
        except ValueError as e:
            raise ValueError(f'Layer "{self.name}": axis {self.axis} is out of range for input shape '
                             f"{inputs.type.keras_shape()}") from e
        if mask is not None:  # as Keras: a fully masked axis gives zeros, not a uniform distribution
            y = ops.mul(y, keep)
        return y

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class ELU(Layer):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def call(self, inputs):
        return ops.elu(inputs, self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}
