"""Conv2D, Conv2DTranspose and DepthwiseConv2D: Keras' arguments, defaults and weight layouts.

Inputs are channels-last (NHWC) by default, as in Keras. The primitive ops are ONNX's NCHW ``Conv``
and ``ConvTranspose``, so a layer emits ``Transpose`` NHWC -> NCHW before its op and NCHW -> NHWC
after it, and converts its Keras-layout kernel to ONNX's layout with a Transpose of the parameter.
Those Transposes are ordinary IR nodes: the layout passes cancel the pairs between consecutive
layers and constant folding turns the kernel Transposes into constants at export, so no second
copy of any weight is stored.

Keras' ``padding="same"`` is translated into explicit ONNX pads here, once: the total padding
along an axis is ``max((ceil(L / s) - 1) * s + k_eff - L, 0)`` with ``k_eff = d * (k - 1) + 1``, and
the begin side gets the smaller half (``total // 2``), the extra row or column going to the end.
With strides > 1 the pads depend on L; when L is only known at run time (``Input((None, None, 3))``)
a ``SamePad`` op computes them in the graph instead.
"""
from __future__ import annotations

from graphc import activations, initializers, ops
from graphc.ir import format_shape
from graphc.ir.types import is_float

from .layer import Layer

#: NHWC -> NCHW and back.
TO_NCHW = (0, 3, 1, 2)
TO_NHWC = (0, 2, 3, 1)
#: Keras kernel (KH, KW, I, O) -> ONNX (O, I, KH, KW); Conv2DTranspose's (KH, KW, O, I) -> (I, O, KH, KW).
KERNEL_TO_ONNX = (3, 2, 0, 1)


def normalize_tuple(value, n: int, name: str, layer: str, allow_zero: bool = False) -> tuple:
    """An int or a sequence of ``n`` ints, as Keras accepts ``kernel_size=3`` or ``(3, 3)``."""
    if isinstance(value, int):
        value = (value,) * n
    try:
        value = tuple(int(v) for v in value)
    except TypeError:
        raise TypeError(f'{layer}: {name} must be an int or a tuple of {n} ints, received {value!r}') from None
    low = 0 if allow_zero else 1
    if len(value) != n or any(v < low for v in value):
        raise ValueError(f"{layer}: {name} must be an int or a tuple of {n} ints >= {low}, received {value!r}")
    return value


def normalize_padding(padding, layer: str) -> str:
    p = padding.lower() if isinstance(padding, str) else padding
    if p not in ("valid", "same"):
        raise ValueError(f'{layer}: padding must be "valid" or "same", received {padding!r}')
    return p


def normalize_data_format(data_format, layer: str) -> str:
    fmt = data_format or "channels_last"
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(f'{layer}: data_format must be "channels_last" or "channels_first", received {data_format!r}')
    return fmt


def same_pads(sizes, kernel, strides, dilations, layer: str) -> tuple:
    """ONNX pads [h_begin, w_begin, h_end, w_end] for Keras' padding="same"."""
    begin, end = [], []
    for size, k, s, d in zip(sizes, kernel, strides, dilations):
        k_eff = d * (k - 1) + 1
        if s == 1:
            total = k_eff - 1  # independent of the size
        elif isinstance(size, int):
            out = -(-size // s)
            total = max((out - 1) * s + k_eff - size, 0)
        else:
            raise NotImplementedError(f'Layer "{layer}": padding="same" with strides {tuple(strides)} needs known '
                                      f"spatial sizes, received {format_shape(sizes)}. Give the Input a full shape or use "
                                      'padding="valid" with ZeroPadding2D.')
        begin.append(total // 2)
        end.append(total - total // 2)
    return tuple(begin + end)


def apply_same_padding(x, kernel, strides, dilations, layer: str, value: float = 0.0):
    """(input, pads) for Keras' padding="same" on an NCHW value: explicit pads when they can be
    known now, else the input padded at run time by a SamePad op (strides > 1 on spatial sizes known
    only at run time) and zero pads."""
    try:
        return x, same_pads(tuple(x.shape[2:]), kernel, strides, dilations, layer)
    except NotImplementedError:
        return ops.same_pad(x, kernel, strides, dilations, value=value), (0, 0, 0, 0)


def check_rank4(layer: Layer, x) -> None:
    if x.type.rank != 4:
        raise ValueError(f'Input 0 of layer "{layer.name}" is incompatible with the layer: expected ndim=4, found '
                         f"ndim={x.type.rank}. Full shape received: {format_shape(x.type.keras_shape())}")
    if not is_float(x.dtype):
        raise TypeError(f'Input 0 of layer "{layer.name}" must be a float tensor, received {x.dtype}')


def build_rank4(layer: Layer, input_shape, channel_axis: int) -> int:
    """Checks a build shape is rank 4 with a known channel count and returns the channel count."""
    if not isinstance(input_shape, tuple) or len(input_shape) != 4:
        got = len(input_shape) if isinstance(input_shape, tuple) else "?"
        raise ValueError(f'Input 0 of layer "{layer.name}" is incompatible with the layer: expected ndim=4, found '
                         f"ndim={got}. Full shape received: {format_shape(input_shape) if isinstance(input_shape, tuple) else input_shape}")
    channels = input_shape[channel_axis]
    if channels is None:
        raise ValueError(f'Layer "{layer.name}": the channel dimension of the inputs must be known, received shape '
                         f"{format_shape(input_shape)}")
    return channels


class _Conv(Layer):
    """What Conv2D, Conv2DTranspose and DepthwiseConv2D share: arguments, layout and the call."""

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1),
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        for what, v in (("kernel_regularizer", kernel_regularizer), ("bias_regularizer", bias_regularizer),
                        ("activity_regularizer", activity_regularizer), ("kernel_constraint", kernel_constraint),
                        ("bias_constraint", bias_constraint)):
            if v is not None:
                raise NotImplementedError(f"{cls}: {what} is not supported")
        self.kernel_size = normalize_tuple(kernel_size, 2, "kernel_size", cls)
        self.strides = normalize_tuple(strides, 2, "strides", cls)
        self.padding = normalize_padding(padding, cls)
        self.data_format = normalize_data_format(data_format, cls)
        self.dilation_rate = normalize_tuple(dilation_rate, 2, "dilation_rate", cls)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{cls}: strides > 1 is not supported together with dilation_rate > 1, received "
                             f"strides={self.strides}, dilation_rate={self.dilation_rate}")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel = None
        self.bias = None

    @property
    def _channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def _in_channels_expected(self) -> int:
        raise NotImplementedError

    def check_input(self, x):
        check_rank4(self, x)
        c = x.shape[self._channel_axis]
        expected = self._in_channels_expected()
        if c != expected:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected axis '
                             f"{self._channel_axis} of input shape to have value {expected}, received shape "
                             f"{format_shape(x.type.keras_shape())}")

    def _onnx_kernel(self):
        """The kernel as the ONNX op wants it, converted in the graph."""
        return ops.transpose(self.kernel, KERNEL_TO_ONNX)

    def _primitive(self, x, w, b):
        raise NotImplementedError

    def call(self, inputs):
        x = ops.transpose(inputs, TO_NCHW) if self.data_format == "channels_last" else inputs
        y = self._primitive(x, self._onnx_kernel(), self.bias if self.use_bias else None)
        if self.data_format == "channels_last":
            y = ops.transpose(y, TO_NHWC)
        return self.activation(y)

    def _pad(self, x_nchw):
        """(input, ONNX pads) for this layer's padding."""
        if self.padding == "valid":
            return x_nchw, (0, 0, 0, 0)
        return apply_same_padding(x_nchw, self.kernel_size, self.strides, self.dilation_rate, self.name)

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format, "dilation_rate": self.dilation_rate,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}


class Conv2D(_Conv):
    """2-D convolution: ``activation(conv(inputs, kernel) + bias)``.

    Kernel ``(kh, kw, in_channels / groups, filters)``, bias ``(filters,)``. ``padding="same"`` gives
    ``ceil(size / stride)`` outputs, padding the extra row/column at the end.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias, **kwargs)
        if not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"Conv2D: filters must be a positive int, received {filters!r}")
        if not isinstance(groups, int) or groups <= 0 or filters % groups:
            raise ValueError(f"Conv2D: groups must be a positive int dividing filters={filters}, received {groups!r}")
        self.filters = filters
        self.groups = groups

    def build(self, input_shape):
        channels = build_rank4(self, input_shape, self._channel_axis)
        if channels % self.groups:
            raise ValueError(f'Layer "{self.name}": the number of input channels ({channels}) must be divisible by '
                             f"groups={self.groups}")
        shape = self.kernel_size + (channels // self.groups, self.filters)
        self.kernel = self.add_weight(shape, self.kernel_initializer, "kernel")
        if self.use_bias:
            self.bias = self.add_weight((self.filters,), self.bias_initializer, "bias")
        self.built = True

    def _in_channels_expected(self):
        return self.kernel.shape[2] * self.groups

    def _primitive(self, x, w, b):
        x, pads = self._pad(x)
        return ops.conv2d(x, w, b, strides=self.strides, pads=pads, dilations=self.dilation_rate, group=self.groups)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "groups": self.groups}


class DepthwiseConv2D(_Conv):
    """Depthwise 2-D convolution: each input channel convolved with ``depth_multiplier`` filters.

    Kernel ``(kh, kw, in_channels, depth_multiplier)``; output channel ``c * depth_multiplier + m``
    comes from input channel ``c`` and filter ``m``. Lowered as a grouped Conv with ``group`` equal to
    the number of input channels.
    """

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, depthwise_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         kernel_initializer=depthwise_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=depthwise_regularizer, kernel_constraint=depthwise_constraint, **kwargs)
        if not isinstance(depth_multiplier, int) or depth_multiplier <= 0:
            raise ValueError(f"DepthwiseConv2D: depth_multiplier must be a positive int, received {depth_multiplier!r}")
        self.depth_multiplier = depth_multiplier

    @property
    def depthwise_kernel(self):
        return self.kernel

    @property
    def depthwise_initializer(self):
        return self.kernel_initializer

    def build(self, input_shape):
        channels = build_rank4(self, input_shape, self._channel_axis)
        self.kernel = self.add_weight(self.kernel_size + (channels, self.depth_multiplier), self.kernel_initializer,
                                      "kernel")
        if self.use_bias:
            self.bias = self.add_weight((channels * self.depth_multiplier,), self.bias_initializer, "bias")
        self.built = True

    def _in_channels_expected(self):
        return self.kernel.shape[2]

    def _onnx_kernel(self):
        kh, kw, c, m = self.kernel.shape
        # (KH, KW, C, M) -> (KH, KW, 1, C*M): flattening (C, M) row-major gives channel c*M + m
        return ops.transpose(ops.reshape(self.kernel, (kh, kw, 1, c * m)), KERNEL_TO_ONNX)

    def _primitive(self, x, w, b):
        x, pads = self._pad(x)
        return ops.conv2d(x, w, b, strides=self.strides, pads=pads, dilations=self.dilation_rate,
                          group=self.kernel.shape[2])

    def get_config(self):
        config = super().get_config()
        config["depthwise_initializer"] = config.pop("kernel_initializer")
        return {**config, "depth_multiplier": self.depth_multiplier}


def deconv_output_length(size, kernel, stride, dilation, padding, output_padding):
    """Keras' output length of a transposed convolution along one axis (None when unknown)."""
    if not isinstance(size, int):
        return None
    k_eff = dilation * (kernel - 1) + 1
    if output_padding is None:
        if padding == "valid":
            return size * stride + max(k_eff - stride, 0)
        return size * stride
    pad = k_eff // 2 if padding == "same" else 0
    return (size - 1) * stride + k_eff - 2 * pad + output_padding


def conv_transpose_pads(kernel, strides, dilations, padding, output_padding) -> tuple:
    """ONNX (pads, output_padding) that give Keras' output length for every input length.

    The transposed convolution without padding is ``(L - 1) * s + k_eff`` long; Keras' length is that
    minus ``total``, which does not depend on L. A positive total is cropped as "same" pads the
    forward convolution (smaller half at the begin); a negative total is zeros appended at the end,
    which is ONNX's ``output_padding``.
    """
    begin, end, extra = [], [], []
    for i in range(2):
        k_eff = dilations[i] * (kernel[i] - 1) + 1
        s = strides[i]
        op = None if output_padding is None else output_padding[i]
        if op is None:
            total = min(k_eff - s, 0) if padding == "valid" else k_eff - s
        else:
            total = (2 * (k_eff // 2) if padding == "same" else 0) - op
        if total >= 0:
            begin.append(total // 2)
            end.append(total - total // 2)
            extra.append(0)
        else:
            begin.append(0)
            end.append(0)
            extra.append(-total)
    return tuple(begin + end), tuple(extra)


class Conv2DTranspose(_Conv):
    """Transposed 2-D convolution (the gradient of Conv2D with respect to its input).

    Kernel ``(kh, kw, filters, in_channels)``, bias ``(filters,)``. Output length per axis is Keras':
    ``valid``: ``L * s + max(k_eff - s, 0)``; ``same``: ``L * s``; with ``output_padding`` p:
    ``(L - 1) * s + k_eff - 2 * pad + p`` with ``pad = k_eff // 2`` for ``same``, 0 for ``valid``.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias, **kwargs)
        if not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"Conv2DTranspose: filters must be a positive int, received {filters!r}")
        self.filters = filters
        self.output_padding = None if output_padding is None else normalize_tuple(
            output_padding, 2, "output_padding", "Conv2DTranspose", allow_zero=True)
        if self.output_padding is not None and any(p >= s for p, s in zip(self.output_padding, self.strides)):
            raise ValueError(f"Conv2DTranspose: output_padding {self.output_padding} must be smaller than the "
                             f"strides {self.strides}")

    def build(self, input_shape):
        channels = build_rank4(self, input_shape, self._channel_axis)
        self.kernel = self.add_weight(self.kernel_size + (self.filters, channels), self.kernel_initializer, "kernel")
        if self.use_bias:
            self.bias = self.add_weight((self.filters,), self.bias_initializer, "bias")
        self.built = True

    def _in_channels_expected(self):
        return self.kernel.shape[3]

    def _primitive(self, x, w, b):
        pads, out_pad = conv_transpose_pads(self.kernel_size, self.strides, self.dilation_rate, self.padding,
                                            self.output_padding)
        return ops.conv_transpose2d(x, w, b, strides=self.strides, pads=pads, dilations=self.dilation_rate,
                                    output_padding=out_pad)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "output_padding": self.output_padding}


Convolution2D = Conv2D
Convolution2DTranspose = Conv2DTranspose
