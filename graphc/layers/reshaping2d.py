"""UpSampling2D, ZeroPadding2D, Cropping2D.

These are layout-free ops (Resize with one scale per axis, Pad, Slice), so they work on the NHWC
tensor directly, with no Transposes; the layout pass moves a Transpose through them by permuting
their per-axis attributes when that lets it cancel a pair around them.
"""
from __future__ import annotations

from graphc import ops
from graphc.ir import format_shape

from .convolutional import build_rank4, check_rank4, normalize_data_format, normalize_tuple
from .layer import Layer


def _spatial_axes(data_format: str) -> tuple:
    return (1, 2) if data_format == "channels_last" else (2, 3)


def normalize_pairs(value, name: str, layer: str) -> tuple:
    """Keras' int | (sym_h, sym_w) | ((top, bottom), (left, right)) -> ((top, bottom), (left, right))."""
    if isinstance(value, int):
        value = ((value, value), (value, value))
    try:
        if len(value) != 2:
            raise ValueError
        if all(isinstance(v, int) for v in value):
            value = ((value[0], value[0]), (value[1], value[1]))
        pairs = tuple(normalize_tuple(v, 2, name, layer, allow_zero=True) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{layer}: {name} must be an int, a tuple of 2 ints or a tuple of 2 tuples of 2 ints, "
                         f"received {value!r}") from None
    return pairs


class UpSampling2D(Layer):
    """Repeats rows ``size[0]`` times and columns ``size[1]`` times (nearest-neighbour)."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = normalize_tuple(size, 2, "size", "UpSampling2D")
        self.data_format = normalize_data_format(data_format, "UpSampling2D")
        if interpolation != "nearest":
            raise NotImplementedError(f'UpSampling2D: interpolation={interpolation!r} is not supported; use '
                                      '"nearest"')
        self.interpolation = interpolation

    def build(self, input_shape):
        build_rank4(self, input_shape, -1 if self.data_format == "channels_last" else 1)
        self.built = True

    def check_input(self, x):
        check_rank4(self, x)

    def call(self, inputs):
        scales = [1, 1, 1, 1]
        for axis, s in zip(_spatial_axes(self.data_format), self.size):
            scales[axis] = s
        return ops.resize_nearest(inputs, scales)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format,
                "interpolation": self.interpolation}


class ZeroPadding2D(Layer):
    """Adds rows and columns of zeros: ``padding`` is an int, (h, w) or ((top, bottom), (left, right))."""

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = normalize_pairs(padding, "padding", "ZeroPadding2D")
        self.data_format = normalize_data_format(data_format, "ZeroPadding2D")

    def build(self, input_shape):
        build_rank4(self, input_shape, -1 if self.data_format == "channels_last" else 1)
        self.built = True

    def check_input(self, x):
        check_rank4(self, x)

    def call(self, inputs):
        begin, end = [0] * 4, [0] * 4
        for axis, (b, e) in zip(_spatial_axes(self.data_format), self.padding):
            begin[axis], end[axis] = b, e
        return ops.pad(inputs, begin + end)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


class Cropping2D(Layer):
    """Removes rows and columns: ``cropping`` is an int, (h, w) or ((top, bottom), (left, right))."""

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = normalize_pairs(cropping, "cropping", "Cropping2D")
        self.data_format = normalize_data_format(data_format, "Cropping2D")

    def build(self, input_shape):
        build_rank4(self, input_shape, -1 if self.data_format == "channels_last" else 1)
        self.built = True

    def check_input(self, x):
        check_rank4(self, x)
        for axis, (b, e) in zip(_spatial_axes(self.data_format), self.cropping):
            size = x.shape[axis]
            if isinstance(size, int) and b + e >= size:
                raise ValueError(f'Layer "{self.name}": cropping {self.cropping} removes every element of axis {axis} '
                                 f"of input shape {format_shape(x.type.keras_shape())}")

    def call(self, inputs):
        axes = _spatial_axes(self.data_format)
        starts = tuple(b for b, _ in self.cropping)
        ends = tuple(-e if e else 2**62 for _, e in self.cropping)
        return ops.slice_(inputs, starts, ends, axes=axes)

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping, "data_format": self.data_format}
