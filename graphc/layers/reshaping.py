"""Flatten and Reshape."""
from __future__ import annotations

import numpy as np

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
        self._check_size(tuple(inputs.type.keras_shape())[1:])
        try:
            return ops.reshape(inputs, (0,) + self.target_shape)
        except ValueError as e:
            raise ValueError(f'Layer "{self.name}": cannot reshape input of shape {inputs.type.keras_shape()} '
                             f"to target_shape {self.target_shape}: {e}") from None

    def _check_size(self, dims: tuple) -> None:
        """The batch axis is kept, so the other axes must hold as many elements as target_shape."""
        if not all(isinstance(d, int) for d in dims):
            return
        have = int(np.prod(dims, dtype=np.int64))
        want = int(np.prod([d for d in self.target_shape if d != -1], dtype=np.int64))
        ok = have % want == 0 if -1 in self.target_shape else have == want
        if not ok:
            raise ValueError(f'Layer "{self.name}": cannot reshape input of shape {(None,) + dims} ({have} values per '
                             f"sample) to target_shape {self.target_shape} ({want} values"
                             f"{' times a multiple' if -1 in self.target_shape else ''})")

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}
