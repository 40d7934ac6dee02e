"""Dropout: a no-op outside training; in training, ONNX Dropout with ``training_mode`` as an input."""
from __future__ import annotations

from graphc import backend
from graphc.ops.random import dropout

from .layer import Layer


class Dropout(Layer):
    """Zeroes a fraction ``rate`` of the inputs in training and scales the rest by ``1/(1-rate)``.

    Args:
        rate: fraction of the inputs to drop, in [0, 1).
        noise_shape: not supported (the mask always has the input's shape); must be None.
        seed: seed of the ONNX Dropout op. None draws one from graphc's generator when the layer
            is created, so ``set_random_seed`` makes models reproducible. onnxruntime advances its
            generator on every run of a session, so each training step gets a new mask.

    ``call(inputs, training=None)``: ``training`` is a Python bool, or a bool scalar tensor when the
    training flag is a graph input (then one graph serves both modes).
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"Dropout: rate must be a number in [0, 1), received {rate!r}")
        if noise_shape is not None:
            raise NotImplementedError("Dropout: noise_shape is not supported; the mask has the input's shape "
                                      "(use SpatialDropout-style reshapes by hand if needed)")
        self.rate = float(rate)
        self.noise_shape = None
        self.seed = int(seed) if seed is not None else int(backend.rng().integers(0, 2**31 - 1))
        self._user_seed = seed

    def call(self, inputs, training=None):
        return dropout(inputs, self.rate, training, seed=self.seed)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": None, "seed": self._user_seed}
