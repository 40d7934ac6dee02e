"""Activation functions by Keras name, composed from graphc ops."""
from __future__ import annotations

import math

import numpy as np

from graphc import ops


def linear(x):
    return x


def relu(x):
    return ops.relu(x)


def sigmoid(x):
    return ops.sigmoid(x)


def tanh(x):
    return ops.tanh(x)


def softmax(x, axis=-1):
    return ops.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    return ops.log_softmax(x, axis=axis)


def elu(x, alpha=1.0):
    return ops.elu(x, alpha)


def selu(x):
    return ops.selu(x)


def softplus(x):
    return ops.softplus(x)


def swish(x):
    return ops.mul(x, ops.sigmoid(x))


silu = swish


def leaky_relu(x, negative_slope=0.2):
    return ops.leaky_relu(x, negative_slope)


def gelu(x, approximate=False):
    """Keras' gelu; exact (erf) by default, tanh approximation on request."""
    half = np.asarray(0.5, x.dtype)
    one = np.asarray(1.0, x.dtype)
    if approximate:
        c = np.asarray(math.sqrt(2 / math.pi), x.dtype)
        inner = ops.mul(c, ops.add(x, ops.mul(np.asarray(0.044715, x.dtype), ops.mul(x, ops.mul(x, x)))))
        return ops.mul(ops.mul(half, x), ops.add(one, ops.tanh(inner)))
    return ops.mul(ops.mul(half, x), ops.add(one, ops.erf(ops.mul(x, np.asarray(1 / math.sqrt(2), x.dtype)))))


_BY_NAME = {f.__name__: f for f in (linear, relu, sigmoid, tanh, softmax, log_softmax, elu, selu, softplus,
                                     swish, leaky_relu, gelu)}
_BY_NAME["silu"] = swish


def get(identifier):
    """An activation function from a name, None (linear) or a callable."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(f"activation: unknown name {identifier!r}; expected one of {sorted(_BY_NAME)}")
        return _BY_NAME[identifier]
    if callable(identifier):
        return identifier
    raise TypeError(f"activation: expected a name or a callable, received {identifier!r}")


def serialize(fn) -> str:
    for name, f in _BY_NAME.items():
        if f is fn:
            return name
    return getattr(fn, "__name__", "custom")
