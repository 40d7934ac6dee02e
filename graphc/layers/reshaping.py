"""Flatten and Reshape."""
from __future__ import annotations

from graphc import ops

from .layer import Layer


class Flatten(Layer):
    """Collapses every axis but the batch axis (channels-last order, as Keras)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"Flatten: data_format must be 'channels_last' or 'channels_first', received "
                             f"{data_format!r}")
        self.data_format = data_format or "channels_last"

    def call(self, inputs):
        rank = inputs.type.rank
        if rank < 2:
            raise ValueError(f'Layer "{self.name}" needs an input of rank >= 2, received shape {inputs.shape}')
        if self.data_format == "channels_first" and rank > 2:
            # channels-last element order, so Dense weights keep their meaning across data formats
            inputs = ops.transpose(inputs, (0,) + tuple(range(2, rank)) + (1,))
        return ops.flatten(inputs, axis=1)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshapes to ``target_shape`` (without the batch axis; one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if self.target_shape.count(-1) > 1 or any(d == 0 or d < -1 for d in self.target_shape):
            raise ValueError(f"Reshape: target_shape entries must be positive or a single -1, received "
                             f"{self.target_shape}")

    def call(self, inputs):
        try:
            return ops.reshape(inputs, (0,) + self.target_shape)
        except ValueError as e:
            raise ValueError(f'Layer "{self.name}": cannot reshape input of shape {inputs.type.keras_shape()} '
                             f"to target_shape {self.target_shape}: {e}") from None

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}
