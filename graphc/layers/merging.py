"""Merge layers: Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum, and functions."""
from __future__ import annotations

import numpy as np

from graphc import ops
from graphc.ir import format_shape

from .layer import Layer


class _Merge(Layer):
    min_inputs = 2

    def check_input(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < self.min_inputs:
            raise ValueError(f'Layer "{self.name}" expects a list of at least {self.min_inputs} inputs, '
                             f"received {inputs!r}")

    def _reduce(self, fn, inputs):
        try:
            out = inputs[0]
            for x in inputs[1:]:
                out = fn(out, x)
            return out
        except ValueError:
            shapes = ", ".join(format_shape(x.type.keras_shape()) for x in inputs)
            raise ValueError(f'Layer "{self.name}": inputs must have matching (broadcastable) shapes, received '
                             f"{shapes}") from None


class Add(_Merge):
    def call(self, inputs):
        return self._reduce(ops.add, inputs)


class Subtract(_Merge):
    def check_input(self, inputs):
        super().check_input(inputs)
        if len(inputs) != 2:
            raise ValueError(f'Layer "{self.name}" expects exactly 2 inputs, received {len(inputs)}')

    def call(self, inputs):
        return self._reduce(ops.sub, inputs)


class Multiply(_Merge):
    def call(self, inputs):
        return self._reduce(ops.mul, inputs)


class Maximum(_Merge):
    def call(self, inputs):
        return self._reduce(ops.maximum, inputs)


class Minimum(_Merge):
    def call(self, inputs):
        return self._reduce(ops.minimum, inputs)


class Average(_Merge):
    def call(self, inputs):
        total = self._reduce(ops.add, inputs)
        return ops.mul(total, np.asarray(1.0 / len(inputs), total.dtype))


class Concatenate(_Merge):
    """Joins inputs along ``axis`` (default -1); other axes must match."""

    min_inputs = 1

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, inputs):
        try:
            return ops.concat(list(inputs), self.axis)
        except (ValueError, TypeError) as e:
            shapes = ", ".join(format_shape(x.type.keras_shape()) for x in inputs)
            raise type(e)(f'Layer "{self.name}": cannot concatenate inputs of shapes {shapes} along axis '
                          f"{self.axis}") from None

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)
