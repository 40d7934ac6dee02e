"""BatchNormalization with Keras 3's semantics.

Inference (``training`` False, or the layer frozen with ``trainable = False``, as in Keras) uses the
moving statistics through ONNX's BatchNormalization op: the channel axis is moved to position 1
with a Transpose pair that the layout pass cancels against a Conv's own transposes, so the
export-time ``FoldConvBatchNorm`` can fold it into the Conv.

Training uses the batch statistics, built from primitives (CUDA-portable; see
``graphc/ops/normalization.py``): ``mean`` and the **biased** variance ``mean((x - mean)^2)`` over
every axis but ``axis``; ``y = (x - mean) / sqrt(var + epsilon) * gamma + beta``. It appends the
moving-statistics updates to ``current_builder().state_updates`` with Keras' rule
``moving = moving * momentum + batch * (1 - momentum)``, the moving variance taking the same biased
batch variance (Keras 3 does not apply Bessel's correction; PyTorch does).

When ``training`` is a bool tensor (a graph input), both modes live in one graph: the statistics
used are ``Where(training, batch, moving)`` and the updates are ``Where(training, new, moving)``.
"""
from __future__ import annotations

import numpy as np

from graphc import initializers, ops
from graphc.ir import Value, format_shape, is_float
from graphc.ops import current_builder
from graphc.ops.normalization import batch_normalization, moments, normalize

from .layer import Layer


class BatchNormalization(Layer):
    """Normalizes over the batch (and spatial axes), per feature on ``axis``.

    Args:
        axis: the feature axis (-1 for channels-last).
        momentum: of the moving averages (Keras default 0.99).
        epsilon: added to the variance (Keras default 1e-3).
        center, scale: learn ``beta`` / ``gamma``.
        beta_initializer, gamma_initializer, moving_mean_initializer, moving_variance_initializer:
            Keras defaults zeros, ones, zeros, ones.

    Weights, in Keras' order: gamma, beta (trainable), moving_mean, moving_variance (non-trainable).
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            if len(axis) != 1:
                raise NotImplementedError("BatchNormalization: several feature axes are not supported")
            axis = axis[0]
        if any(v is not None for v in (beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint)):
            raise NotImplementedError("BatchNormalization: regularizers and constraints are not supported")
        if not 0 <= momentum <= 1:
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1], received {momentum!r}")
        if epsilon <= 0:
            raise ValueError(f"BatchNormalization: epsilon must be > 0, received {epsilon!r}")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.synchronized = bool(synchronized)  # single device: no cross-replica statistics to sync
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def build(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank or (self.axis % rank) == 0:
            raise ValueError(f'Layer "{self.name}": axis {self.axis} is not a feature axis of an input of shape '
                             f"{input_shape}")
        self._axis = self.axis % rank
        c = input_shape[self._axis]
        if c is None:
            raise ValueError(f'Layer "{self.name}": the feature axis {self.axis} of input shape {input_shape} '
                             "must be known")
        self.gamma = self.add_weight((c,), self.gamma_initializer, "gamma") if self.scale else None
        self.beta = self.add_weight((c,), self.beta_initializer, "beta") if self.center else None
        self.moving_mean = self.add_weight((c,), self.moving_mean_initializer, "moving_mean", trainable=False)
        self.moving_variance = self.add_weight((c,), self.moving_variance_initializer, "moving_variance",
                                               trainable=False)
        self.built = True

    def check_input(self, inputs):
        c = self.moving_mean.shape[0]
        rank = inputs.type.rank
        if rank <= self._axis or inputs.shape[self._axis] != c:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected axis '
                             f"{self.axis} of size {c}, received shape {format_shape(inputs.type.keras_shape())}")
        if not is_float(inputs.dtype):
            raise TypeError(f'Input 0 of layer "{self.name}" must be a float tensor, received {inputs.dtype}')

    def call(self, inputs, training=None):
        if not self.trainable:
            training = False  # Keras: a frozen BatchNormalization runs in inference mode
        if training is None or (not isinstance(training, Value) and not training):
            return self._inference(inputs)
        return self._training(inputs, training)

    def _feature_shape(self, rank):
        return tuple(-1 if i == self._axis else 1 for i in range(rank))

    def _inference(self, x):
        rank = x.type.rank
        c = self.moving_mean.shape[0]
        gamma = self.gamma if self.gamma is not None else np.ones((c,), x.dtype)
        beta = self.beta if self.beta is not None else np.zeros((c,), x.dtype)
        if self._axis == 1:
            return batch_normalization(x, gamma, beta, self.moving_mean, self.moving_variance, self.epsilon)
        perm = (0, self._axis) + tuple(i for i in range(1, rank) if i != self._axis)
        inverse = tuple(int(i) for i in np.argsort(perm))
        y = batch_normalization(ops.transpose(x, perm), gamma, beta, self.moving_mean, self.moving_variance,
                                self.epsilon)
        return ops.transpose(y, inverse)

    def _training(self, x, training):
        rank = x.type.rank
        axes = tuple(i for i in range(rank) if i != self._axis)
        shape = self._feature_shape(rank)
        mean, var = moments(x, axes)
        batch_mean = ops.reshape(mean, (-1,))
        batch_var = ops.reshape(var, (-1,))
        dt = x.dtype
        m = np.asarray(self.momentum, dt)
        one_minus = np.asarray(1.0 - self.momentum, dt)
        new_mean = ops.add(ops.mul(self.moving_mean, m), ops.mul(batch_mean, one_minus))
        new_var = ops.add(ops.mul(self.moving_variance, m), ops.mul(batch_var, one_minus))
        if isinstance(training, Value):
            moving_mean = ops.reshape(current_builder().param(self.moving_mean), shape)
            moving_var = ops.reshape(current_builder().param(self.moving_variance), shape)
            mean = ops.where(training, mean, moving_mean)
            var = ops.where(training, var, moving_var)
            new_mean = ops.where(training, new_mean, self.moving_mean)
            new_var = ops.where(training, new_var, self.moving_variance)
        gamma = ops.reshape(current_builder().param(self.gamma), shape) if self.gamma is not None else None
        beta = ops.reshape(current_builder().param(self.beta), shape) if self.beta is not None else None
        builder = current_builder()
        builder.state_updates.append((self.moving_mean, new_mean))
        builder.state_updates.append((self.moving_variance, new_var))
        return normalize(x, mean, var, gamma, beta, self.epsilon)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, "synchronized": self.synchronized,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer)}
