"""Convolution, pooling and 2-D reshaping layers: outputs against NumPy references written here (direct
loops over NHWC, independent of the ops' refs), Keras' shape rules, parameter counts, errors.

Keras rules these tests hold (Keras 3, TensorFlow semantics):
* padding="same" (Conv2D, DepthwiseConv2D, pooling): ``ceil(L / s)`` outputs; total padding
  ``max((ceil(L / s) - 1) * s + k_eff - L, 0)`` with ``k_eff = d * (k - 1) + 1``; the begin side gets
  ``total // 2``, the extra one goes to the end. Pooling ignores padded positions (max) and does not
  count them (average).
* Conv2DTranspose output length: valid ``L * s + max(k_eff - s, 0)``; same ``L * s``; with
  ``output_padding`` p: ``(L - 1) * s + k_eff - 2 * pad + p`` (pad = k_eff // 2 for same, 0 for
  valid); the full transposed convolution is cropped by ``max(total, 0) // 2`` at the begin.
* Kernels: Conv2D (kh, kw, in / groups, filters); Conv2DTranspose (kh, kw, filters, in);
  DepthwiseConv2D (kh, kw, in, depth_multiplier) with output channel ``c * depth_multiplier + m``.
"""
import math

import numpy as np
import pytest

import graphc as keras
from graphc import layers
from graphc.testing import gradcheck_graph

rng = np.random.default_rng(3)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


# -- NumPy references over NHWC ------------------------------------------------------------------------

def keras_same_pads(size, k, s, d=1):
    k_eff = d * (k - 1) + 1
    out = math.ceil(size / s)
    total = max((out - 1) * s + k_eff - size, 0)
    return total // 2, total - total // 2


def ref_conv2d(x, kernel, bias, strides=(1, 1), padding="valid", dilation=(1, 1), groups=1):
    n, h, w, cin = x.shape
    kh, kw, cg, cout = kernel.shape
    (pt, pb), (pl, pr) = ((0, 0), (0, 0)) if padding == "valid" else (
        keras_same_pads(h, kh, strides[0], dilation[0]), keras_same_pads(w, kw, strides[1], dilation[1]))
    xp = np.zeros((n, h + pt + pb, w + pl + pr, cin), np.float64)
    xp[:, pt:pt + h, pl:pl + w] = x
    oh = (xp.shape[1] - dilation[0] * (kh - 1) - 1) // strides[0] + 1
    ow = (xp.shape[2] - dilation[1] * (kw - 1) - 1) // strides[1] + 1
    per_group = cout // groups
    y = np.zeros((n, oh, ow, cout))
    for i in range(oh):
        for j in range(ow):
            for o in range(cout):
                g = o // per_group
                acc = np.zeros(n)
                for a in range(kh):
                    for b in range(kw):
                        pix = xp[:, i * strides[0] + a * dilation[0], j * strides[1] + b * dilation[1],
                                 g * cg:(g + 1) * cg]
                        acc += pix @ kernel[a, b, :, o]
                y[:, i, j, o] = acc + (bias[o] if bias is not None else 0.0)
    return y


def ref_depthwise(x, kernel, bias, strides=(1, 1), padding="valid"):
    n, h, w, c = x.shape
    kh, kw, _, m = kernel.shape
    (pt, pb), (pl, pr) = ((0, 0), (0, 0)) if padding == "valid" else (
        keras_same_pads(h, kh, strides[0]), keras_same_pads(w, kw, strides[1]))
    xp = np.zeros((n, h + pt + pb, w + pl + pr, c))
    xp[:, pt:pt + h, pl:pl + w] = x
    oh = (xp.shape[1] - kh) // strides[0] + 1
    ow = (xp.shape[2] - kw) // strides[1] + 1
    y = np.zeros((n, oh, ow, c * m))
    for i in range(oh):
        for j in range(ow):
            for ch in range(c):
                for q in range(m):
                    window = xp[:, i * strides[0]:i * strides[0] + kh, j * strides[1]:j * strides[1] + kw, ch]
                    y[:, i, j, ch * m + q] = np.einsum("nab,ab->n", window, kernel[:, :, ch, q])
    return y + (bias if bias is not None else 0.0)


def ref_conv2d_transpose(x, kernel, bias, out_hw, strides=(1, 1), dilation=(1, 1)):
    """Scatter every input pixel through the kernel, then crop (or zero-extend) to ``out_hw``."""
    n, h, w, cin = x.shape
    kh, kw, cout, _ = kernel.shape
    full = ((h - 1) * strides[0] + dilation[0] * (kh - 1) + 1, (w - 1) * strides[1] + dilation[1] * (kw - 1) + 1)
    y = np.zeros((n, max(full[0], out_hw[0]), max(full[1], out_hw[1]), cout))
    for i in range(h):
        for j in range(w):
            for a in range(kh):
                for b in range(kw):
                    y[:, i * strides[0] + a * dilation[0], j * strides[1] + b * dilation[1], :] += \
                        x[:, i, j, :] @ kernel[a, b].T
    top = max(full[0] - out_hw[0], 0) // 2
    left = max(full[1] - out_hw[1], 0) // 2
    y = y[:, top:top + out_hw[0], left:left + out_hw[1]]
    return y + (bias if bias is not None else 0.0)


def ref_pool(x, pool, strides, padding, kind):
    n, h, w, c = x.shape
    (pt, _), (pl, _) = ((0, 0), (0, 0)) if padding == "valid" else (
        keras_same_pads(h, pool[0], strides[0]), keras_same_pads(w, pool[1], strides[1]))
    oh = (h - pool[0]) // strides[0] + 1 if padding == "valid" else math.ceil(h / strides[0])
    ow = (w - pool[1]) // strides[1] + 1 if padding == "valid" else math.ceil(w / strides[1])
    y = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * strides[0] - pt, j * strides[1] - pl
            window = x[:, max(r0, 0):min(r0 + pool[0], h), max(c0, 0):min(c0 + pool[1], w), :]
            y[:, i, j] = window.max(axis=(1, 2)) if kind == "max" else window.mean(axis=(1, 2))
    return y


def assert_matches(actual, expected, atol=1e-4):
    assert actual.shape == expected.shape, f"shape {actual.shape}, expected {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=atol)


# -- Conv2D ------------------------------------------------------------------------------------------

CONV2D_CASES = [
    # kwargs, input shape, expected output shape
    (dict(filters=4, kernel_size=3), (2, 7, 6, 3), (2, 5, 4, 4)),
    (dict(filters=4, kernel_size=3, strides=2, padding="same"), (2, 7, 7, 3), (2, 4, 4, 4)),   # odd size
    (dict(filters=4, kernel_size=3, strides=2, padding="same"), (2, 8, 8, 3), (2, 4, 4, 4)),   # even size
    (dict(filters=2, kernel_size=(4, 5), strides=(2, 3), padding="same"), (1, 9, 10, 2), (1, 5, 4, 2)),
    (dict(filters=2, kernel_size=2, strides=2, padding="same"), (1, 5, 6, 3), (1, 3, 3, 2)),
    (dict(filters=3, kernel_size=3, dilation_rate=2), (2, 9, 8, 2), (2, 5, 4, 3)),
    (dict(filters=3, kernel_size=3, dilation_rate=(2, 3), padding="same"), (2, 9, 8, 2), (2, 9, 8, 3)),
    (dict(filters=6, kernel_size=3, groups=3), (2, 6, 6, 6), (2, 4, 4, 6)),
    (dict(filters=4, kernel_size=1, use_bias=False), (2, 3, 3, 5), (2, 3, 3, 4)),
    (dict(filters=4, kernel_size=5, strides=2, activation="relu"), (2, 11, 11, 1), (2, 4, 4, 4)),
]


@pytest.mark.parametrize("kwargs,in_shape,out_shape", CONV2D_CASES)
def test_conv2d_forward(kwargs, in_shape, out_shape):
    layer = layers.Conv2D(bias_initializer="random_normal", **kwargs)
    x = f32(*in_shape)
    y = layer(x)
    assert y.shape == out_shape
    bias = layer.bias.numpy() if layer.use_bias else None
    expected = ref_conv2d(x, layer.kernel.numpy(), bias, layer.strides, layer.padding, layer.dilation_rate,
                          layer.groups)
    if kwargs.get("activation") == "relu":
        expected = np.maximum(expected, 0)
    assert_matches(y, expected)
    assert layer.kernel.shape == layer.kernel_size + (in_shape[-1] // layer.groups, layer.filters)


def test_conv2d_channels_first():
    layer = layers.Conv2D(3, 3, strides=2, padding="same", data_format="channels_first",
                          bias_initializer="random_normal")
    x = f32(2, 2, 7, 6)
    y = layer(x)
    expected = ref_conv2d(x.transpose(0, 2, 3, 1), layer.kernel.numpy(), layer.bias.numpy(), (2, 2), "same")
    assert_matches(y, expected.transpose(0, 3, 1, 2))


def test_depthwise_conv2d_forward():
    layer = layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2,
                                   bias_initializer="random_normal")
    x = f32(2, 7, 8, 3)
    y = layer(x)
    assert layer.kernel.shape == (3, 3, 3, 2) and layer.bias.shape == (6,)
    assert_matches(y, ref_depthwise(x, layer.kernel.numpy(), layer.bias.numpy(), (2, 2), "same"))


# -- Conv2DTranspose ------------------------------------------------------------------------------------

CONV_T_CASES = [
    # kwargs, input (H, W), expected output (H, W) by Keras' rule
    (dict(kernel_size=3), (4, 5), (6, 7)),
    (dict(kernel_size=3, strides=2), (4, 5), (9, 11)),                       # valid: L*s + max(k - s, 0)
    (dict(kernel_size=3, strides=2, padding="same"), (4, 5), (8, 10)),       # same: L*s
    (dict(kernel_size=4, strides=2, padding="same"), (5, 6), (10, 12)),
    (dict(kernel_size=2, strides=3), (3, 4), (9, 12)),                        # k < s: zeros at the end
    (dict(kernel_size=2, strides=3, padding="same"), (3, 4), (9, 12)),
    (dict(kernel_size=3, strides=2, padding="same", output_padding=1), (4, 5), (8, 10)),
    (dict(kernel_size=3, strides=2, padding="same", output_padding=0), (4, 5), (7, 9)),
    (dict(kernel_size=5, strides=2, output_padding=1), (3, 4), (10, 12)),
    (dict(kernel_size=3, dilation_rate=2), (4, 5), (8, 9)),
    (dict(kernel_size=3, dilation_rate=2, padding="same"), (4, 5), (4, 5)),
]


@pytest.mark.parametrize("kwargs,in_hw,out_hw", CONV_T_CASES)
def test_conv2d_transpose_forward(kwargs, in_hw, out_hw):
    layer = layers.Conv2DTranspose(3, bias_initializer="random_normal", **kwargs)
    x = f32(2, *in_hw, 2)
    y = layer(x)
    assert y.shape == (2, *out_hw, 3)
    assert layer.kernel.shape == layer.kernel_size + (3, 2)
    expected = ref_conv2d_transpose(x, layer.kernel.numpy(), layer.bias.numpy(), out_hw, layer.strides,
                                    layer.dilation_rate)
    assert_matches(y, expected)


def test_conv2d_transpose_symbolic_spatial_size():
    inputs = keras.Input((None, None, 2))
    y = layers.Conv2DTranspose(3, 3, strides=2, padding="same")(inputs)
    assert y.shape == (None, None, None, 3)
    model = keras.Model(inputs, y)
    assert model.predict(f32(1, 5, 4, 2)).shape == (1, 10, 8, 3)


# -- pooling -------------------------------------------------------------------------------------------

POOL_CASES = [
    (dict(pool_size=3), (2, 8, 7, 3)),
    (dict(pool_size=2, padding="same"), (2, 7, 8, 3)),
    (dict(pool_size=3, strides=2, padding="same"), (2, 7, 8, 3)),
    (dict(pool_size=(2, 3), strides=(1, 2)), (2, 6, 7, 2)),
    (dict(pool_size=3, strides=2, padding="same"), (1, 6, 6, 1)),
]


@pytest.mark.parametrize("kwargs,in_shape", POOL_CASES)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_forward(kwargs, in_shape, kind):
    cls = layers.MaxPooling2D if kind == "max" else layers.AveragePooling2D
    layer = cls(**kwargs)
    x = f32(*in_shape)
    assert_matches(layer(x), ref_pool(x, layer.pool_size, layer.strides, layer.padding, kind))


def test_max_pooling_strides_default_to_pool_size():
    assert layers.MaxPooling2D(3).strides == (3, 3)
    assert layers.MaxPooling2D((2, 3), strides=1).strides == (1, 1)


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling(keepdims):
    x = f32(2, 5, 4, 3)
    gmax = layers.GlobalMaxPooling2D(keepdims=keepdims)(x)
    gavg = layers.GlobalAveragePooling2D(keepdims=keepdims)(x)
    shape = (2, 1, 1, 3) if keepdims else (2, 3)
    assert_matches(gmax, x.max(axis=(1, 2)).reshape(shape))
    assert_matches(gavg, x.mean(axis=(1, 2)).reshape(shape))


# -- UpSampling2D, ZeroPadding2D, Cropping2D -----------------------------------------------------------

@pytest.mark.parametrize("size", [2, (2, 3), (1, 4)])
def test_upsampling2d(size):
    x = f32(2, 3, 4, 2)
    y = layers.UpSampling2D(size)(x)
    sh, sw = (size, size) if isinstance(size, int) else size
    expected = np.zeros((2, 3 * sh, 4 * sw, 2), np.float32)
    for i in range(3 * sh):
        for j in range(4 * sw):
            expected[:, i, j] = x[:, i // sh, j // sw]
    assert_matches(y, expected, atol=0)


@pytest.mark.parametrize("padding,expected_pads", [(1, ((1, 1), (1, 1))), ((2, 0), ((2, 2), (0, 0))),
                                                   (((1, 2), (3, 0)), ((1, 2), (3, 0)))])
def test_zero_padding2d(padding, expected_pads):
    x = f32(2, 3, 4, 2)
    y = layers.ZeroPadding2D(padding)(x)
    (t, b), (l, r) = expected_pads
    expected = np.zeros((2, 3 + t + b, 4 + l + r, 2), np.float32)
    expected[:, t:t + 3, l:l + 4] = x
    assert_matches(y, expected, atol=0)


@pytest.mark.parametrize("cropping,expected_crop", [(1, ((1, 1), (1, 1))), ((0, 2), ((0, 0), (2, 2))),
                                                    (((1, 0), (2, 1)), ((1, 0), (2, 1)))])
def test_cropping2d(cropping, expected_crop):
    x = f32(2, 5, 6, 2)
    y = layers.Cropping2D(cropping)(x)
    (t, b), (l, r) = expected_crop
    assert_matches(y, x[:, t:5 - b, l:6 - r], atol=0)


# -- shapes, parameter counts and names ----------------------------------------------------------------

HARNESS = [
    (lambda: layers.Conv2D(16, 3), (28, 28, 1), (None, 26, 26, 16), 160),
    (lambda: layers.Conv2D(32, 5, strides=2), (250, 250, 3), (None, 123, 123, 32), 2432),
    (lambda: layers.Conv2D(8, 3, groups=4, use_bias=False), (10, 10, 8), (None, 8, 8, 8), 3 * 3 * 2 * 8),
    (lambda: layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same"), (9, 9, 4), (None, 9, 9, 8), 80),
    (lambda: layers.Conv2DTranspose(16, 3), (4, 4, 1), (None, 6, 6, 16), 160),
    (lambda: layers.Conv2DTranspose(1, 3), (26, 26, 16), (None, 28, 28, 1), 145),
    (lambda: layers.MaxPooling2D(3), (121, 121, 32), (None, 40, 40, 32), 0),
    (lambda: layers.AveragePooling2D(2, padding="same"), (5, 5, 3), (None, 3, 3, 3), 0),
    (lambda: layers.GlobalMaxPooling2D(), (4, 4, 16), (None, 16), 0),
    (lambda: layers.GlobalAveragePooling2D(keepdims=True), (4, 4, 16), (None, 1, 1, 16), 0),
    (lambda: layers.UpSampling2D(3), (8, 8, 32), (None, 24, 24, 32), 0),
    (lambda: layers.ZeroPadding2D(((3, 3), (3, 3))), (224, 224, 3), (None, 230, 230, 3), 0),
    (lambda: layers.Cropping2D(((1, 2), (0, 1))), (6, 6, 3), (None, 3, 5, 3), 0),
]


@pytest.mark.parametrize("make,in_shape,out_shape,params", HARNESS)
def test_layer_harness(make, in_shape, out_shape, params):
    layer = make()
    y = layer(keras.Input(in_shape))
    assert y.shape == out_shape
    assert layer.count_params() == params


def test_default_names_and_weight_names():
    conv, convt, pool = layers.Conv2D(2, 3), layers.Conv2DTranspose(2, 3), layers.MaxPooling2D()
    up, pad, gap = layers.UpSampling2D(), layers.ZeroPadding2D(), layers.GlobalAveragePooling2D()
    assert [conv.name, convt.name, pool.name, up.name, pad.name, gap.name] == [
        "conv2d", "conv2d_transpose", "max_pooling2d", "up_sampling2d", "zero_padding2d",
        "global_average_pooling2d"]
    conv(keras.Input((5, 5, 1)))
    assert [w.path for w in conv.weights] == ["conv2d/kernel", "conv2d/bias"]


# -- errors ----------------------------------------------------------------------------------------------

def test_conv2d_on_rank3_input_names_layer_rank_and_shape():
    with pytest.raises(ValueError) as e:
        layers.Conv2D(16, 3)(keras.Input((28, 28)))
    msg = str(e.value)
    assert 'layer "conv2d"' in msg and "expected ndim=4" in msg and "found ndim=3" in msg
    assert "(None, 28, 28)" in msg


def test_channel_mismatch_on_second_call():
    conv = layers.Conv2D(4, 3)
    conv(keras.Input((8, 8, 3)))
    with pytest.raises(ValueError, match=r'layer "conv2d".*expected axis -1 of input shape to have value 3'):
        conv(keras.Input((8, 8, 5)))


@pytest.mark.parametrize("make,message", [
    (lambda: layers.Conv2D(4, 3, padding="full"), 'padding must be "valid" or "same"'),
    (lambda: layers.Conv2D(4, 3, strides=2, dilation_rate=2), "strides > 1 is not supported together"),
    (lambda: layers.Conv2D(5, 3, groups=2), "groups must be a positive int dividing"),
    (lambda: layers.Conv2D(0, 3), "filters must be a positive int"),
    (lambda: layers.Conv2DTranspose(4, 3, strides=2, output_padding=2), "must be smaller than the strides"),
    (lambda: layers.MaxPooling2D(0), "pool_size"),
    (lambda: layers.ZeroPadding2D((1, 2, 3)), "padding must be an int"),
])
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_regularizers_are_refused_not_ignored():
    with pytest.raises(NotImplementedError, match="Conv2D: kernel_regularizer is not supported"):
        layers.Conv2D(4, 3, kernel_regularizer="l2")


def test_too_small_input_is_reported_at_the_layer():
    with pytest.raises(ValueError, match=r'Conv in layer "conv2d".*smaller than the effective kernel'):
        layers.Conv2D(4, 5)(keras.Input((3, 3, 1)))


@pytest.mark.parametrize("make", [
    lambda: layers.Conv2D(3, 3, strides=2, padding="same"),
    lambda: layers.Conv2D(3, (4, 5), strides=(3, 2), padding="same"),
    lambda: layers.DepthwiseConv2D(3, strides=2, padding="same"),
    lambda: layers.MaxPooling2D(3, strides=2, padding="same"),
])
@pytest.mark.parametrize("hw", [(7, 8), (10, 9)])
def test_same_padding_with_stride_on_run_time_sizes(make, hw):
    """Input((None, None, C)): the "same" pads are computed in the graph (SamePad), same numbers."""
    layer = make()
    inputs = keras.Input((None, None, 2))
    model = keras.Model(inputs, layer(inputs))
    x = f32(2, *hw, 2)
    y = model.predict(x)
    if isinstance(layer, layers.MaxPooling2D):
        expected = ref_pool(x, layer.pool_size, layer.strides, "same", "max")
    elif isinstance(layer, layers.DepthwiseConv2D):
        expected = ref_depthwise(x, layer.kernel.numpy(), layer.bias.numpy(), layer.strides, "same")
    else:
        expected = ref_conv2d(x, layer.kernel.numpy(), layer.bias.numpy(), layer.strides, "same")
    assert_matches(y, expected)


def test_average_pooling_same_with_stride_needs_static_size():
    with pytest.raises(NotImplementedError, match=r'Layer "average_pooling2d".*needs known spatial sizes, '
                                                  r'received \(None, None\)'):
        layers.AveragePooling2D(3, strides=2, padding="same")(keras.Input((None, None, 3)))


def test_groups_must_divide_channels():
    with pytest.raises(ValueError, match="divisible by groups=2"):
        layers.Conv2D(4, 3, groups=2)(keras.Input((8, 8, 3)))


# -- gradients through a layer's trace -----------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: layers.Conv2D(3, 3, strides=2, padding="same", activation="tanh", dtype="float64"),
    lambda: layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", dtype="float64"),
    lambda: layers.Conv2DTranspose(2, 3, strides=2, padding="same", dtype="float64"),
    lambda: layers.MaxPooling2D(2, padding="same"),
    lambda: layers.AveragePooling2D(3, strides=2, padding="same"),
])
def test_layer_gradients(make):
    """In float64 with the NumPy interpreter (onnxruntime's Conv and pools are float32-only; the
    op tests run the gradient graphs on onnxruntime)."""
    inputs = keras.Input((5, 6, 2), dtype="float64")
    model = keras.Model(inputs, make()(inputs))
    # distinct values 0.1 apart, so the finite-difference step never swaps a window's maximum
    x = rng.permutation(120).reshape(2, 5, 6, 2) * 0.1 - 6.0
    gradcheck_graph(model._trace_graph(), {inputs.name: x}, ort=False)


# -- optional: Keras itself as a second oracle -----------------------------------------------------------

@pytest.mark.slow
def test_matches_keras_when_installed():
    import os

    os.environ.setdefault("KERAS_BACKEND", "jax")
    K = pytest.importorskip("keras")
    cases = [
        (lambda m: m.Conv2D(4, 3, strides=2, padding="same"), (2, 7, 8, 3)),
        (lambda m: m.Conv2D(6, 3, groups=3, dilation_rate=2, padding="same"), (2, 9, 8, 6)),
        (lambda m: m.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1), (2, 5, 6, 3)),
        (lambda m: m.Conv2DTranspose(4, 2, strides=3), (2, 5, 6, 3)),
        (lambda m: m.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2), (2, 7, 8, 3)),
        (lambda m: m.MaxPooling2D(3, strides=2, padding="same"), (2, 7, 8, 3)),
        (lambda m: m.AveragePooling2D(3, strides=2, padding="same"), (2, 7, 8, 3)),
        (lambda m: m.UpSampling2D((2, 3)), (2, 4, 5, 3)),
    ]
    for make, shape in cases:
        x = f32(*shape)
        theirs, ours = make(K.layers), make(layers)
        expected = np.asarray(theirs(x))
        ours(x)
        ours.set_weights(theirs.get_weights())
        assert_matches(ours(x), expected)


@pytest.mark.parametrize("layer", [
    layers.Conv2D(4, (3, 2), strides=2, padding="same", activation="relu", groups=2, kernel_initializer="he_normal"),
    layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", use_bias=False),
    layers.Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=1, dilation_rate=1),
    layers.MaxPooling2D(3, strides=2, padding="same"),
    layers.AveragePooling2D((2, 3)),
    layers.GlobalMaxPooling2D(keepdims=True),
    layers.GlobalAveragePooling2D(),
    layers.UpSampling2D((2, 1)),
    layers.ZeroPadding2D(((1, 0), (2, 1))),
    layers.Cropping2D(((1, 0), (0, 1))),
], ids=lambda layer: type(layer).__name__)
def test_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
