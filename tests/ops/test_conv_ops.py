"""Conv, ConvTranspose, pooling and Resize ops against their contract (graphc.testing.check_op):
infer agrees with ref, the ONNX lowering on onnxruntime matches ref, gradients match central
differences. onnxruntime's Conv and pool kernels are float32-only, so cases are float32 (the finite
difference is still taken in float64)."""
import numpy as np
import pytest

from graphc.ir import Graph, TensorType
from graphc.ops import Builder, get_op
from graphc.testing import check_op

rng = np.random.default_rng(7)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


CONV_CASES = [
    # (name, x shape, w shape, with bias, attrs)
    ("basic", (2, 3, 7, 6), (4, 3, 3, 3), True, {}),
    ("no_bias_stride2", (2, 3, 8, 7), (5, 3, 3, 3), False, {"strides": (2, 2)}),
    ("asymmetric_pads", (1, 2, 6, 5), (3, 2, 3, 2), True, {"pads": (0, 1, 1, 0), "strides": (2, 1)}),
    ("dilation2", (2, 2, 9, 8), (3, 2, 3, 3), True, {"dilations": (2, 2), "pads": (2, 2, 2, 2)}),
    ("groups2", (2, 4, 6, 6), (6, 2, 3, 3), True, {"group": 2, "pads": (1, 1, 1, 1)}),
    ("depthwise_mult2", (2, 3, 7, 7), (6, 1, 3, 3), True, {"group": 3, "strides": (2, 2), "pads": (1, 1, 1, 1)}),
    ("unused_rows", (1, 2, 8, 8), (2, 2, 3, 3), False, {"strides": (3, 3)}),  # last rows never read
    ("pointwise", (2, 5, 4, 4), (3, 5, 1, 1), True, {}),
    # >= 8 input channels: dW from gathered taps, all in one patch product below 64 output positions
    # per sample (the channels-last per-tap layout, for large layers, is checked against it below)
    ("taps_patches", (2, 8, 7, 6), (4, 8, 3, 3), True, {"pads": (1, 1, 1, 1)}),
    ("taps_patches_stride_dilation", (2, 9, 9, 8), (3, 9, 3, 2), False,
     {"strides": (2, 1), "dilations": (2, 1), "pads": (0, 1, 2, 0)}),
    ("taps_patches_pointwise", (2, 8, 4, 5), (3, 8, 1, 1), True, {}),
    ("taps_patches_unused_rows", (1, 8, 23, 24), (2, 8, 3, 3), False, {"strides": (3, 3)}),
    # ... per sample and tap from 64
    ("taps_per_sample_unused_rows", (1, 8, 40, 41), (2, 8, 3, 3), False, {"strides": (3, 3)}),
    ("taps_per_sample", (2, 8, 18, 18), (3, 8, 3, 3), True, {}),
    ("taps_per_sample_stride_asym_dilation", (1, 10, 31, 27), (4, 10, 3, 2), True,
     {"strides": (2, 1), "pads": (1, 0, 0, 1), "dilations": (1, 2)}),
    ("taps_per_sample_same_pads", (2, 8, 16, 17), (3, 8, 3, 3), False, {"pads": (1, 1, 1, 1)}),
]


@pytest.mark.parametrize("name,xs,ws,bias,attrs", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_conv(name, xs, ws, bias, attrs):
    inputs = [f32(*xs), f32(*ws)] + ([f32(ws[0])] if bias else [])
    check_op("Conv", inputs, dict(attrs, kernel_shape=ws[2:]))


def conv_grad_graph(xs, ws, attrs, weight_grad):
    """A graph with inputs x, w and dy (the upstream gradient of Conv(x, w){attrs}) whose output is
    ``weight_grad(conv_node, x, w, dy)``; returns (graph, dy)."""
    g = Graph("g")
    b = Builder(g)
    x = b.input("x", TensorType("float32", xs))
    w = b.input("w", TensorType("float32", ws))
    with b.activate():
        y = b.emit("Conv", x, w, kernel_shape=ws[2:], **attrs)
        dy = b.input("dy", y.type)
        dw = weight_grad(y.node, x, w, dy)
    g.set_outputs([dw], ["dw"])
    return g, dy


@pytest.mark.parametrize("xs,ws,attrs,path", [
    ((2, 3, 7, 6), (4, 3, 3, 3), {}, "im2col"),
    ((2, 8, 7, 6), (4, 8, 3, 3), {"pads": (1, 1, 1, 1)}, "patches"),
    ((2, 8, 9, 9), (3, 8, 3, 3), {}, "patches"),                  # 49 output positions
    ((2, 8, 10, 10), (3, 8, 3, 3), {}, "per_sample"),             # 64
    ((2, 8, 18, 18), (3, 8, 3, 3), {}, "per_sample"),
    ((2, 128, 12, 12), (128, 128, 3, 3), {}, "patches"),          # 100 positions, 128x128 channels
    ((2, 512, 9, 11), (64, 512, 3, 3), {}, "channels_last"),      # 63 positions of 9x512 patch values
    ((2, 256, 16, 16), (256, 256, 3, 3), {}, "channels_last"),
    ((2, 8, 15, 14), (4, 4, 3, 3), {"group": 2}, "swap"),
])
def test_conv_weight_grad_path_by_shape(xs, ws, attrs, path):
    """The dW recipe is chosen by static shape (conv_weight_grad): im2col below 8 input channels;
    else taps gathered from the NHWC input, per sample and tap from 64 output positions per sample
    for kernels of at most 128x64 channels, else in one patch product while a sample's patches hold
    at most 2^18 values, else tap by tap channels-last; swap-roles for groups. Each shows in the ops
    of the gradient graph."""
    g, _ = conv_grad_graph(xs, ws, attrs, lambda node, x, w, dy: get_op("Conv").grad(node, [dy])[1])
    ops = [n.op for n in g.nodes]
    transposes = [n.attrs["perm"] for n in g.nodes if n.op == "Transpose"]
    taps = ws[2] * ws[3]
    if path == "im2col":
        assert ops.count("MatMul") == 1 and "Concat" in ops and "ReduceSum" in ops
    elif path == "patches":  # all taps in one Gather of NHWC rows and one product
        assert ops.count("MatMul") == 1 and transposes.count((0, 2, 3, 1)) == 2 and "ReduceSum" not in ops
        assert ops.count("Gather") == 1 and "Slice" not in ops and "Concat" not in ops
    elif path == "channels_last":  # a Gather and a product per tap, nothing summed over the batch
        assert ops.count("MatMul") == taps and ops.count("Gather") == taps and "ReduceSum" not in ops
        assert transposes.count((0, 2, 3, 1)) == 2 and "Slice" not in ops
    elif path == "per_sample":  # only X is transposed (to NHWC, its taps gathered as rows); dY is read as is
        assert ops.count("MatMul") == taps and ops.count("ReduceSum") == taps and ops.count("Gather") == taps
        assert transposes.count((0, 2, 3, 1)) == 1 and "Slice" not in ops  # (2, 3, 0, 1): taps-major -> OIHW
    else:
        assert ops.count("Conv") == 2 and "MatMul" not in ops


@pytest.mark.parametrize("layout", ["channels_last", "per_sample", "patches"])
@pytest.mark.parametrize("xs,ws,attrs", [
    ((2, 8, 7, 6), (4, 8, 3, 3), {"pads": (1, 1, 1, 1)}),
    ((2, 9, 9, 8), (3, 9, 3, 2), {"strides": (2, 1), "dilations": (2, 1), "pads": (0, 1, 2, 0)}),
    ((1, 8, 13, 14), (2, 8, 3, 3), {"strides": (3, 3)}),
    ((2, 8, 4, 5), (3, 8, 1, 1), {}),
])
def test_conv_weight_grad_taps_layouts_agree_with_the_reference(layout, xs, ws, attrs):
    """Each layout of the tap products gives the reference dW = sum over n, positions of dY x X-tap
    (float64 NumPy), on the NumPy interpreter and onnxruntime; the shape rule reaches each of them
    only at large sizes, so they are forced here."""
    from graphc.ops.conv import conv_attrs, conv_weight_grad_taps
    from graphc.ops.interpreter import evaluate
    from graphc.testing import run_onnx

    a = conv_attrs(ws, kernel_shape=ws[2:], **attrs)
    g, dy = conv_grad_graph(xs, ws, attrs, lambda node, x, w, dy: conv_weight_grad_taps(
        x, dy, w, a["strides"], a["pads"], a["dilations"], layout))
    xv, dyv = f32(*xs), f32(*dy.shape)
    (s0, s1), (d0, d1) = a["strides"], a["dilations"]
    xp = np.pad(xv.astype(np.float64), ((0, 0), (0, 0), (a["pads"][0], a["pads"][2]), (a["pads"][1], a["pads"][3])))
    oh, ow = dy.shape[2:]
    want = np.zeros(ws)
    for i in range(ws[2]):
        for j in range(ws[3]):
            tap = xp[:, :, i * d0:i * d0 + s0 * oh:s0, j * d1:j * d1 + s1 * ow:s1]
            want[:, :, i, j] = np.einsum("nmhw,nchw->mc", dyv, tap)
    feeds = {"x": xv, "w": f32(*ws), "dy": dyv}
    np.testing.assert_allclose(evaluate(g, feeds)[0], want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(run_onnx(g, feeds)[0], want, rtol=1e-4, atol=1e-4)


CONV_T_CASES = [
    ("basic", (2, 3, 4, 5), (3, 4, 3, 3), True, {}),
    ("stride2_pads", (2, 3, 4, 4), (3, 2, 3, 3), True, {"strides": (2, 2), "pads": (1, 1, 1, 1)}),
    ("output_padding", (1, 2, 3, 4), (2, 3, 3, 2), False, {"strides": (2, 3), "output_padding": (1, 2)}),
    ("asymmetric_pads_dilation", (2, 2, 4, 4), (2, 3, 3, 3), True, {"dilations": (2, 1), "pads": (0, 1, 2, 0)}),
    ("groups2", (2, 4, 3, 3), (4, 3, 2, 2), True, {"group": 2, "strides": (2, 2)}),
    ("kernel_smaller_than_stride", (1, 3, 3, 3), (3, 2, 2, 2), True, {"strides": (3, 3), "output_padding": (1, 1)}),
    # >= 8 output channels: dW by the Conv per-tap products (X plays dY's role), each layout
    ("taps_channels_last", (2, 8, 5, 5), (8, 8, 3, 3), True, {"strides": (2, 2), "pads": (1, 1, 1, 1)}),
    ("taps_channels_last_9_channels", (1, 9, 5, 6), (9, 8, 3, 3), False, {}),
    ("taps_per_sample", (1, 8, 17, 16), (8, 10, 3, 2), True, {"pads": (1, 0, 0, 1)}),
]


@pytest.mark.parametrize("name,xs,ws,bias,attrs", CONV_T_CASES, ids=[c[0] for c in CONV_T_CASES])
def test_conv_transpose(name, xs, ws, bias, attrs):
    group = attrs.get("group", 1)
    inputs = [f32(*xs), f32(*ws)] + ([f32(ws[1] * group)] if bias else [])
    check_op("ConvTranspose", inputs, dict(attrs, kernel_shape=ws[2:]))


POOL_CASES = [
    ("k3s2p1", {"kernel_shape": (3, 3), "strides": (2, 2), "pads": (1, 1, 1, 1)}),
    ("k2s2", {"kernel_shape": (2, 2), "strides": (2, 2)}),
    ("k3s1p1", {"kernel_shape": (3, 3), "strides": (1, 1), "pads": (1, 1, 1, 1)}),
    ("k3s3_rest_unread", {"kernel_shape": (3, 3), "strides": (3, 3)}),
    ("k2x3_asymmetric", {"kernel_shape": (2, 3), "strides": (1, 2), "pads": (0, 1, 1, 0)}),
    # disjoint windows (strides >= kernel): the gradient is a MaxUnpool
    ("k2x3_s3_gaps_pads", {"kernel_shape": (2, 3), "strides": (3, 3), "pads": (1, 0, 0, 2)}),
    ("k2s2p1", {"kernel_shape": (2, 2), "strides": (2, 2), "pads": (1, 1, 0, 0)}),
]


@pytest.mark.parametrize("name,attrs", POOL_CASES, ids=[c[0] for c in POOL_CASES])
def test_max_pool(name, attrs):
    check_op("MaxPool", [f32(2, 3, 8, 7)], attrs)


@pytest.mark.parametrize("name,attrs", POOL_CASES, ids=[c[0] for c in POOL_CASES])
def test_max_pool_with_indices_matches_onnxruntime(name, attrs):
    """The indices (int64, compared exactly) are flat over the whole tensor, as onnxruntime's."""
    report = check_op("MaxPoolWithIndices", [f32(2, 3, 8, 7)], attrs)
    y, idx = report.outputs
    x = report.graph.inputs[0]
    assert idx.dtype == np.int64 and x.shape == (2, 3, 8, 7)


@pytest.mark.parametrize("attrs", [{"kernel_shape": (2, 2), "strides": (2, 2)},
                                   {"kernel_shape": (3, 3), "strides": (2, 2), "pads": (1, 1, 1, 1)}])
def test_max_pool_indices_break_ties_as_onnxruntime(attrs):
    x = np.zeros((2, 2, 5, 5), np.float32)
    x[0, 0, 0, 0] = -1.0
    check_op("MaxPoolWithIndices", [x], attrs, grad=False)


def test_max_pool_gradient_goes_to_one_element_per_window_on_ties():
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, 0, 0] = -1.0
    g = _grad_of("MaxPool", x, {"kernel_shape": (2, 2), "strides": (2, 2)}, np.ones((1, 1, 2, 2), np.float32))
    # each 2x2 window passes its gradient to exactly one element: the first maximum in row order
    expected = np.zeros((4, 4), np.float32)
    expected[0, 1] = expected[0, 2] = expected[2, 0] = expected[2, 2] = 1.0
    np.testing.assert_array_equal(g[0, 0], expected)


def test_max_pool_gradient_accumulates_overlapping_windows():
    x = np.arange(25, dtype=np.float32).reshape(1, 1, 5, 5)
    g = _grad_of("MaxPool", x, {"kernel_shape": (3, 3), "strides": (1, 1)}, np.ones((1, 1, 3, 3), np.float32))
    assert g[0, 0, 4, 4] == 1.0 and g[0, 0, 2, 4] == 1.0 and g.sum() == 9.0


def _first_max_grad(x, attrs, dy):
    """NumPy oracle: each window passes dY to its first maximum in row-major order (padding never
    wins); overlapping windows accumulate."""
    kh, kw = attrs["kernel_shape"]
    sh, sw = attrs.get("strides", (1, 1))
    pt, pl, pb, pr = attrs.get("pads", (0, 0, 0, 0))
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=-np.inf)
    g = np.zeros(xp.shape, np.float64)
    n, c, oh, ow = dy.shape
    for b in range(n):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    win = xp[b, ch, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    r, q = divmod(int(np.argmax(win)), kw)
                    g[b, ch, i * sh + r, j * sw + q] += dy[b, ch, i, j]
    return g[:, :, pt:pt + x.shape[2], pl:pl + x.shape[3]].astype(x.dtype)


def _tied_input(shape, seed):
    """Post-Relu-like values: many exact zeros (whole windows tie) and repeated positive levels."""
    r = np.random.default_rng(seed)
    return np.maximum(r.integers(-3, 3, shape), 0).astype(np.float32)


TIE_CASES = [
    ((2, 3, 28, 28), {"kernel_shape": (3, 3), "strides": (3, 3)}),              # W3's pool, 28 % 3 != 0
    ((2, 3, 8, 8), {"kernel_shape": (2, 2), "strides": (2, 2)}),
    ((1, 2, 9, 7), {"kernel_shape": (2, 3), "strides": (3, 3), "pads": (1, 0, 0, 2)}),  # gaps, pads
    ((1, 2, 7, 9), {"kernel_shape": (3, 2), "strides": (3, 2), "pads": (0, 1, 2, 0)}),  # non-square
    ((2, 2, 8, 7), {"kernel_shape": (3, 3), "strides": (2, 2), "pads": (1, 1, 1, 1)}),  # overlapping: ScatterND
    ((1, 2, 6, 6), {"kernel_shape": (3, 3), "strides": (1, 1)}),
]


@pytest.mark.parametrize("shape,attrs", TIE_CASES, ids=[f"{a['kernel_shape']}s{a['strides']}{s}" for s, a in TIE_CASES])
def test_max_pool_gradient_on_ties_on_onnxruntime(shape, attrs):
    """On onnxruntime (MaxUnpool for disjoint windows, ScatterND otherwise) and in the interpreter,
    tied windows pass the gradient to their first maximum only."""
    from graphc.ops.pool import has_disjoint_windows
    from graphc.testing import run_onnx

    x = _tied_input(shape, seed=len(shape) + shape[-1])
    oh = (shape[2] + attrs.get("pads", (0,) * 4)[0] + attrs.get("pads", (0,) * 4)[2] - attrs["kernel_shape"][0]) \
        // attrs["strides"][0] + 1
    ow = (shape[3] + attrs.get("pads", (0,) * 4)[1] + attrs.get("pads", (0,) * 4)[3] - attrs["kernel_shape"][1]) \
        // attrs["strides"][1] + 1
    dy = rng.standard_normal((shape[0], shape[1], oh, ow)).astype(np.float32)
    g = Graph("g")
    b = Builder(g)
    xv = b.input("x", TensorType.of(x))
    dyv = b.input("dy", TensorType.of(dy))
    with b.activate():
        y = b.emit("MaxPool", xv, **attrs)
        (dx,) = get_op("MaxPool").grad(y.node, [dyv])
    g.set_outputs([dx], ["dx"])
    ops = {n.op for n in g.nodes}
    assert ("MaxUnpool" in ops) == has_disjoint_windows(attrs) and ("ScatterNDAdd" in ops) != ("MaxUnpool" in ops)
    expected = _first_max_grad(x, attrs, dy)
    np.testing.assert_allclose(run_onnx(g, {"x": x, "dy": dy})[0], expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_grad_of("MaxPool", x, attrs, dy), expected, rtol=1e-6, atol=1e-6)


def test_max_unpool():
    """MaxUnpool places values at distinct flat indices (from a disjoint-window pool) in zeros shaped
    like its third input; its gradient gathers them back."""
    attrs = {"kernel_shape": (2, 3), "strides": (3, 3), "pads": (1, 0, 0, 2)}
    like = f32(2, 3, 9, 7)
    _, idx = get_op("MaxPoolWithIndices").ref(like, **attrs)
    check_op("MaxUnpool", [f32(*idx.shape), idx, like], attrs, eps=1.0)


def test_max_pool_gradient_float64_keeps_scatter():
    """onnxruntime's MaxUnpool has no float64 kernel: float64 graphs keep the ScatterND form."""
    g = Graph("g")
    b = Builder(g)
    xv = b.input("x", TensorType("float64", (1, 1, 4, 4)))
    with b.activate():
        y = b.emit("MaxPool", xv, kernel_shape=(2, 2), strides=(2, 2))
        get_op("MaxPool").grad(y.node, [b.input("dy", y.type)])
    ops = {n.op for n in g.nodes}
    assert "ScatterNDAdd" in ops and "MaxUnpool" not in ops


@pytest.mark.parametrize("count_include_pad", [0, 1])
@pytest.mark.parametrize("name,attrs", POOL_CASES, ids=[c[0] for c in POOL_CASES])
def test_average_pool(name, attrs, count_include_pad):
    check_op("AveragePool", [f32(2, 3, 8, 7)], dict(attrs, count_include_pad=count_include_pad), eps=1.0)


def test_average_pool_count_include_pad_divisors():
    x = np.ones((1, 1, 3, 3), np.float32)
    attrs = {"kernel_shape": (3, 3), "strides": (1, 1), "pads": (1, 1, 1, 1)}
    excl = check_op("AveragePool", [x], dict(attrs, count_include_pad=0), grad=False).outputs[0]
    incl = check_op("AveragePool", [x], dict(attrs, count_include_pad=1), grad=False).outputs[0]
    np.testing.assert_allclose(excl[0, 0], np.ones((3, 3)))
    np.testing.assert_allclose(incl[0, 0], np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]]) / 9, rtol=1e-6)


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (1, 2, 1, 1)])
def test_global_pools(shape):
    check_op("GlobalMaxPool", [f32(*shape)])
    check_op("GlobalAveragePool", [f32(*shape)], eps=1.0)


@pytest.mark.parametrize("shape,scales", [((2, 3, 4, 5), (1, 1, 2, 2)), ((2, 3, 4, 5), (1, 1, 3, 2)),
                                          ((2, 4, 5, 3), (1, 2, 3, 1))])
def test_resize_nearest(shape, scales):
    report = check_op("Resize", [f32(*shape)], {"scales": scales, "mode": "nearest"}, eps=1.0)
    y = report.outputs[0]
    x = report.graph.inputs[0]
    assert y.shape == tuple(d * s for d, s in zip(x.shape, scales))


SAME_CASES = [((2, 3, 7, 8), {"kernel_shape": (3, 3), "strides": (2, 2)}),
              ((1, 2, 10, 9), {"kernel_shape": (4, 5), "strides": (3, 2)}),
              ((1, 1, 6, 6), {"kernel_shape": (3, 3), "strides": (2, 2), "dilations": (1, 1)})]


@pytest.mark.parametrize("shape,attrs", SAME_CASES)
def test_same_pad_and_crop(shape, attrs):
    """Pads computed at run time in the lowering (Shape arithmetic) match the NumPy rule."""
    x = f32(*shape)
    padded = check_op("SamePad", [x], attrs, eps=1.0).outputs[0]
    check_op("SamePad", [x, f32(*shape)], dict(attrs, value=-1.5), eps=1.0, nondiff=(1,))
    check_op("SameCrop", [f32(*padded.shape), f32(*shape)], attrs, eps=1.0)
    # ceil(L / s) outputs of a "valid" window pass over the padded tensor
    k, s = attrs["kernel_shape"], attrs["strides"]
    for i in range(2):
        assert (padded.shape[2 + i] - k[i]) // s[i] + 1 == -(-shape[2 + i] // s[i])


def test_same_pad_infer_on_symbolic_sizes():
    x = TensorType("float32", ("batch", 3, "h", 8))
    assert _infer("SamePad", x, kernel_shape=(3, 3), strides=(2, 2)).shape == ("batch", 3, None, 9)


# -- type inference --------------------------------------------------------------------------------

def _infer(op, *types, **attrs):
    return get_op(op).infer(*types, **attrs)


def test_infer_keeps_symbolic_batch():
    x = TensorType("float32", ("batch", 3, 28, 28))
    w = TensorType("float32", (8, 3, 5, 5))
    assert _infer("Conv", x, w, strides=(2, 2)).shape == ("batch", 8, 12, 12)
    assert _infer("ConvTranspose", x, TensorType("float32", (3, 4, 3, 3)), strides=(2, 2)).shape == \
        ("batch", 4, 57, 57)
    assert _infer("MaxPool", x, kernel_shape=(3, 3), strides=(3, 3)).shape == ("batch", 3, 9, 9)
    assert _infer("GlobalAveragePool", x).shape == ("batch", 3, 1, 1)
    assert _infer("Resize", x, scales=(1, 1, 2, 2)).shape == ("batch", 3, 56, 56)


@pytest.mark.parametrize("op,types,attrs,message", [
    ("Conv", [(1, 3, 8, 8), (4, 2, 3, 3)], {}, "channels"),
    ("Conv", [(1, 3, 2, 8), (4, 3, 3, 3)], {}, "smaller than the effective kernel"),
    ("Conv", [(1, 3, 8), (4, 3, 3)], {}, "2-D"),
    ("Conv", [(1, 4, 8, 8), (3, 2, 3, 3)], {"group": 2}, "not divisible"),
    ("ConvTranspose", [(1, 3, 4, 4), (3, 2, 3, 3)], {"strides": (2, 2), "output_padding": (2, 0)}, "smaller"),
    ("MaxPool", [(1, 3, 8, 8)], {"kernel_shape": (2, 2), "pads": (2, 0, 0, 0)}, "smaller than the kernel"),
])
def test_infer_errors(op, types, attrs, message):
    with pytest.raises(ValueError, match=message):
        _infer(op, *[TensorType("float32", s) for s in types], **attrs)


def test_conv_rejects_integer_input():
    with pytest.raises(TypeError, match="float"):
        _infer("Conv", TensorType("int32", (1, 3, 4, 4)), TensorType("int32", (1, 3, 3, 3)))


def test_pool_ceil_mode_is_refused():
    with pytest.raises(NotImplementedError, match="ceil_mode"):
        _infer("MaxPool", TensorType("float32", (1, 1, 4, 4)), kernel_shape=(2, 2), ceil_mode=1)


def test_inference_max_pool_lowers_to_single_output():
    from graphc.onnx import to_onnx

    g = Graph("g")
    b = Builder(g)
    x = b.input("x", TensorType("float32", ("batch", 2, 6, 6)))
    with b.activate():
        y = b.emit("MaxPool", x, kernel_shape=(2, 2), strides=(2, 2))
    g.set_outputs([y], ["y"])
    model = to_onnx(g)
    (node,) = [n for n in model.graph.node if n.op_type == "MaxPool"]
    assert len(node.output) == 1


# -- helpers -----------------------------------------------------------------------------------------

def _grad_of(op, x, attrs, dy):
    from graphc.ops.interpreter import evaluate

    g = Graph("g")
    b = Builder(g)
    xv = b.input("x", TensorType.of(x))
    dyv = b.input("dy", TensorType.of(dy))
    with b.activate():
        y = b.emit(op, xv, **attrs)
        (dx,) = get_op(op).grad(y.node, [dyv])
    g.set_outputs([dx], ["dx"])
    return evaluate(g, {"x": x, "dy": dy})[0]
