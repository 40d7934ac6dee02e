"""MaxPooling2D, AveragePooling2D, GlobalMaxPooling2D, GlobalAveragePooling2D.

Channels-last (NHWC) like Keras; the primitive ops are ONNX's NCHW pools, wrapped in Transposes
that the layout pass cancels between layers. ``padding="same"`` pads as Conv2D does (smaller half
at the begin); padded positions never win a max and are not counted by an average (Keras' rule).
"""
from __future__ import annotations

import numpy as np

from graphc import ops

from .convolutional import (TO_NCHW, TO_NHWC, apply_same_padding, build_rank4, check_rank4, normalize_data_format,
                            normalize_padding, normalize_tuple, same_pads)
from .layer import Layer


class _Pooling2D(Layer):
    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.pool_size = normalize_tuple(pool_size, 2, "pool_size", cls)
        self.strides = self.pool_size if strides is None else normalize_tuple(strides, 2, "strides", cls)
        self.padding = normalize_padding(padding, cls)
        self.data_format = normalize_data_format(data_format, cls)

    def build(self, input_shape):
        build_rank4(self, input_shape, -1 if self.data_format == "channels_last" else 1)
        self.built = True

    def check_input(self, x):
        check_rank4(self, x)

    def _pool(self, x, pads):
        raise NotImplementedError

    def _same(self, x):
        return x, same_pads(tuple(x.shape[2:]), self.pool_size, self.strides, (1, 1), self.name)

    def call(self, inputs):
        x = ops.transpose(inputs, TO_NCHW) if self.data_format == "channels_last" else inputs
        x, pads = (x, (0, 0, 0, 0)) if self.padding == "valid" else self._same(x)
        y = self._pool(x, pads)
        return ops.transpose(y, TO_NHWC) if self.data_format == "channels_last" else y

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format}


class MaxPooling2D(_Pooling2D):
    """Max over ``pool_size`` windows every ``strides`` (default: ``pool_size``)."""

    def _pool(self, x, pads):
        return ops.max_pool2d(x, self.pool_size, self.strides, pads)

    def _same(self, x):
        # padded positions must never win: pad with -inf when the pads are computed at run time
        return apply_same_padding(x, self.pool_size, self.strides, (1, 1), self.name, value=-np.inf)


class AveragePooling2D(_Pooling2D):
    """Mean over ``pool_size`` windows every ``strides``; with "same", padding is not counted."""

    def _pool(self, x, pads):
        return ops.average_pool2d(x, self.pool_size, self.strides, pads, count_include_pad=0)


class _GlobalPooling2D(Layer):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)

    def build(self, input_shape):
        build_rank4(self, input_shape, -1 if self.data_format == "channels_last" else 1)
        self.built = True

    def check_input(self, x):
        check_rank4(self, x)

    def _pool(self, x):
        raise NotImplementedError

    def call(self, inputs):
        last = self.data_format == "channels_last"
        y = self._pool(ops.transpose(inputs, TO_NCHW) if last else inputs)  # (N, C, 1, 1)
        if not self.keepdims:
            return ops.flatten(y, axis=1)
        return ops.transpose(y, TO_NHWC) if last else y

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalMaxPooling2D(_GlobalPooling2D):
    """Max over the spatial axes: (N, H, W, C) -> (N, C), or (N, 1, 1, C) with ``keepdims``."""

    def _pool(self, x):
        return ops.global_max_pool(x)


class GlobalAveragePooling2D(_GlobalPooling2D):
    """Mean over the spatial axes: (N, H, W, C) -> (N, C), or (N, 1, 1, C) with ``keepdims``."""

    def _pool(self, x):
        return ops.global_average_pool(x)


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
