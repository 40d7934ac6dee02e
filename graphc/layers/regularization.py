"""Dropout: a no-op outside training; in training, ONNX Dropout with ``training_mode`` as an input."""
from __future__ import annotations

from graphc import backend
from graphc.ops.random import dropout

from .layer import Layer


class Dropout(Layer):
    """Zeroes a fraction ``rate`` of the inputs in training and scales the rest by ``1/(1-rate)``.

    Args:
        rate: fraction of the inputs to drop, in [0, 1).
        noise_shape: the shape of the kept/dropped pattern, one entry per input axis: None takes
            the input's dim, 1 shares one draw along that axis (``(None, 1, 1, C)`` drops whole
            feature maps). None (the default) draws every element.
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
        if noise_shape is not None and (not isinstance(noise_shape, (tuple, list)) or not all(
                d is None or (isinstance(d, int) and d > 0) for d in noise_shape)):
            raise ValueError(f"Dropout: noise_shape must be a tuple of positive ints or None, received {noise_shape!r}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = int(seed) if seed is not None else int(backend.rng().integers(0, 2**31 - 1))
        self._user_seed = seed

    def call(self, inputs, training=None):
        return dropout(inputs, self.rate, training, seed=self.seed, noise_shape=self._noise_shape(inputs))

    def _noise_shape(self, inputs):
        return self.noise_shape

    def get_config(self):
        noise = None if self.noise_shape is None else list(self.noise_shape)
        return {**super().get_config(), "rate": self.rate, "noise_shape": noise, "seed": self._user_seed}


class SpatialDropout1D(Dropout):
    """Drops whole channels of ``(batch, steps, channels)`` inputs: one draw per sample and channel."""

    def __init__(self, rate, seed=None, **kwargs):
        if "noise_shape" in kwargs:
            raise TypeError(f"{type(self).__name__}: noise_shape is fixed by the layer (one draw per sample and "
                            "channel); use Dropout(rate, noise_shape=...) for another pattern")
        super().__init__(rate, seed=seed, **kwargs)

    def _noise_shape(self, inputs):
        if inputs.type.rank != 3:
            raise ValueError(f"{type(self).__name__}: expected inputs of rank 3, received shape {inputs.shape}")
        return (None, 1, None)

    def get_config(self):
        config = super().get_config()
        config.pop("noise_shape")
        return config


class SpatialDropout2D(SpatialDropout1D):
    """Drops whole feature maps of 4-D inputs: one draw per sample and channel."""

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        data_format = data_format or "channels_last"
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"{type(self).__name__}: data_format must be 'channels_last' or 'channels_first', "
                             f"received {data_format!r}")
        self.data_format = data_format

    def _noise_shape(self, inputs):
        if inputs.type.rank != 4:
            raise ValueError(f"{type(self).__name__}: expected inputs of rank 4, received shape {inputs.shape}")
        return (None, 1, 1, None) if self.data_format == "channels_last" else (None, None, 1, 1)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}
