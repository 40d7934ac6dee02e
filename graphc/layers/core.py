"""Dense, Activation, Identity."""
from __future__ import annotations

from graphc import activations, initializers, ops
from graphc.ir import format_shape
from graphc.ir.types import is_float

from .layer import Layer


class Dense(Layer):
    """``activation(inputs @ kernel + bias)``; kernel ``(input_dim, units)``; any input rank >= 2."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        for what, v in (("kernel_regularizer", kernel_regularizer), ("bias_regularizer", bias_regularizer),
                        ("activity_regularizer", activity_regularizer), ("kernel_constraint", kernel_constraint),
                        ("bias_constraint", bias_constraint)):
            if v is not None:
                raise NotImplementedError(f"Dense: {what} is not supported yet; add the penalty to the loss "
                                          "or clip weights in a callback instead")
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"Dense: units must be a positive int, received {units!r}")
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape):
        if not isinstance(input_shape, tuple) or len(input_shape) < 1 or input_shape[-1] is None:
            raise ValueError(f'Layer "{self.name}" needs a known last axis to build, received input shape '
                             f"{input_shape}")
        self.kernel = self.add_weight((input_shape[-1], self.units), self.kernel_initializer, "kernel")
        self.bias = self.add_weight((self.units,), self.bias_initializer, "bias") if self.use_bias else None
        self.built = True

    def check_input(self, x):
        k = self.kernel.shape[0]
        if x.type.rank < 2 or x.shape[-1] != k:
            hint = " Add layers.Flatten() before it." if x.type.rank > 2 else ""
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected last axis '
                             f"{k}, received shape {format_shape(x.type.keras_shape())}.{hint}")
        if not is_float(x.dtype):
            raise TypeError(f'Input 0 of layer "{self.name}" must be a float tensor, received {x.dtype}. '
                            "Cast it first (ids belong in an Embedding layer).")

    def call(self, inputs):
        y = ops.matmul(inputs, self.kernel)
        if self.use_bias:
            y = ops.add(y, self.bias)
        return self.activation(y)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias, "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}


class Activation(Layer):
    """Applies an activation function by name or callable."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Identity(Layer):
    def call(self, inputs):
        return ops.identity(inputs)
