"""ConvsToNchwc and the NCHWc ops (NchwcReorderInput, NchwcReorderOutput, NchwcConv): the CPU
training step's convolutions on onnxruntime's channel-blocked kernels."""
import numpy as np
import onnx
import pytest

import graphc.ops as O
from graphc.ops.base import emit
from graphc.ops.contrib import nchwc_block, nchwc_filter_index, nchwc_filter_rows, nchwc_unblock
from graphc.testing import check_op
from passes.nchwc_convs import ConvsToNchwc
from pass_helpers import build, check_pass, small_cnn, small_cnn_data
from runtime.providers import nchwc_block_size, nchwc_rewrite_agrees

BLOCK = nchwc_block_size()
needs_nchwc = pytest.mark.skipif(not BLOCK, reason="this onnxruntime / CPU has no NCHWc kernels")
RNG = np.random.default_rng(0)


def _rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("block", [8, 16])
@pytest.mark.parametrize("shape,transpose", [((64, 32, 3, 3), False), ((64, 32, 3, 3), True),
                                             ((32, 3, 3, 3), False), ((16, 16, 5, 3), True)])
def test_filter_rows_gather_the_filter(block, shape, transpose):
    """The cheap transpose + row gather picks the same elements as the elementwise filter index."""
    if (shape[1] if transpose else shape[0]) % block:
        pytest.skip("output channels not a multiple of the block")
    view, perm, rows = nchwc_filter_rows(shape, block, transpose)
    w = _rand(*shape)
    got = w.reshape(view).transpose(perm).reshape(-1, block)[rows].reshape(-1)
    np.testing.assert_array_equal(got, w.reshape(-1)[nchwc_filter_index(shape, block, transpose)])
    assert len(perm) <= 3  # onnxruntime's cheap transposes only


def test_filter_index_layout():
    """[O/B][I/B][KH][KW][Bi][Bo]: the innermost index runs along the output channels."""
    idx = nchwc_filter_index((16, 16, 1, 1), 8).reshape(2, 2, 1, 1, 8, 8)
    w = np.arange(256).reshape(16, 16)
    assert idx[1, 0, 0, 0, 2, 3] == w[8 + 3, 2]
    with pytest.raises(ValueError, match="output channels in multiples of 8"):
        nchwc_filter_index((12, 16, 3, 3), 8)


@pytest.mark.parametrize("block", [8, 16])
def test_reference_blocking_round_trips(block):
    x = _rand(2, 12, 3, 5)
    b = nchwc_block(x, block)
    assert b.shape == (2, 16, 3, 5)
    np.testing.assert_array_equal(nchwc_unblock(b, block, 12), x)
    # memory order [N][C/B][H][W][B]
    assert b.reshape(-1)[1] == x[0, 1, 0, 0]


@needs_nchwc
def test_reorder_ops_match_onnxruntime():
    x = _rand(2, 2 * BLOCK, 3, 4)
    check_op("NchwcReorderInput", [x], {"block": BLOCK}, opsets=(17,))
    check_op("NchwcReorderOutput", [nchwc_block(x, BLOCK)], {"channels": 2 * BLOCK - 3, "block": BLOCK},
             opsets=(17,))


@needs_nchwc
@pytest.mark.parametrize("cin", ["blocked", "plain"])
def test_nchwc_conv_matches_onnxruntime(cin):
    c = 2 * BLOCK if cin == "blocked" else 3
    x = _rand(2, c, 7, 6)
    w = _rand(BLOCK, c, 3, 3)
    wb = w.reshape(-1)[nchwc_filter_index(w.shape, BLOCK)].reshape(w.shape)
    xin = nchwc_block(x, BLOCK) if cin == "blocked" else x
    attrs = {"block": BLOCK, "kernel_shape": (3, 3), "pads": (1, 0, 1, 2), "strides": (1, 2)}
    check_op("NchwcConv", [xin, wb, _rand(BLOCK)], attrs, opsets=(17,), rtol=1e-4, atol=1e-4)
    check_op("NchwcConv", [xin, wb, None, nchwc_block(_rand(2, BLOCK, 7, 3), BLOCK)],
             dict(attrs, activation="Relu"), opsets=(17,), rtol=1e-4, atol=1e-4)
    # and the blocked reference is the plain convolution
    y = O.get_op("NchwcConv").ref(xin, wb, block=BLOCK, kernel_shape=(3, 3), pads=(1, 0, 1, 2), strides=(1, 2))
    np.testing.assert_allclose(nchwc_unblock(y, BLOCK), O.get_op("Conv").ref(x, w, pads=(1, 0, 1, 2), strides=(1, 2)),
                               rtol=1e-5, atol=1e-5)


def _conv_and_input_gradient(x, w, dy):
    """A Conv and the stride-1 ConvTranspose its input gradient is."""
    y = O.conv2d(x, w, pads=(1, 1, 1, 1))
    dx = emit("ConvTranspose", dy, w, kernel_shape=(3, 3), pads=(1, 1, 1, 1))
    return O.relu(y), dx


@pytest.mark.parametrize("block", [8, 16])
def test_rewrite_keeps_the_numbers(block):
    """Reference interpreter at either block size; onnxruntime too at this machine's."""
    g = build(_conv_and_input_gradient, {"x": (2, 16, 6, 6), "w": (16, 16, 3, 3), "dy": (2, 16, 6, 6)})
    p = ConvsToNchwc(block)
    out = check_pass(p, g, ort_check=block == BLOCK)
    ops = out.count_ops()
    assert ops["NchwcConv"] == 2 and ops["NchwcReorderInput"] == 2 and ops["NchwcReorderOutput"] == 2
    assert "Conv" not in ops and "ConvTranspose" not in ops
    # the filters are a 2-D / last-two-axes transpose and a row gather, never an elementwise Gather
    assert all(n.inputs[0].shape[-1] == block for n in out.nodes if n.op == "Gather")


@pytest.mark.parametrize("block", [8, 16])
def test_depthwise_convolutions_and_their_input_gradients(block):
    """group = channels (DepthwiseConv2D): onnxruntime's depthwise NCHWc kernel; the input gradient's
    kernel is only flipped (one channel per group in and out)."""
    def depthwise(x, w, dy):
        y = O.conv2d(x, w, pads=(1, 1, 1, 1), strides=(2, 1), group=16)
        dx = emit("ConvTranspose", dy, w, kernel_shape=(3, 3), pads=(1, 1, 1, 1), group=16)
        return y, dx

    g = build(depthwise, {"x": (2, 16, 7, 6), "w": (16, 1, 3, 3), "dy": (2, 16, 7, 6)})
    out = check_pass(ConvsToNchwc(block), g, ort_check=block == BLOCK)
    convs = [n for n in out.nodes if n.op == "NchwcConv"]
    assert len(convs) == 2 and all(n.attrs["group"] == 16 for n in convs)
    assert {"Conv", "ConvTranspose"}.isdisjoint(out.count_ops())


@pytest.mark.parametrize("block", [8, 16])
@pytest.mark.parametrize("shape,group", [((32, 1, 3, 3), 32), ((32, 2, 3, 3), 16)])
def test_grouped_transposed_filters(block, shape, group):
    """The ConvTranspose filter per group: (I/g, O/g) swapped and flipped."""
    w = _rand(*shape)
    got = w.reshape(-1)[nchwc_filter_index(shape, block, transpose=True, group=group)]
    c_in, c_out_g = shape[:2]
    want = w.reshape(group, c_in // group, c_out_g, 3, 3).transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1]
    want = want.reshape(group * c_out_g, c_in // group, 3, 3)
    np.testing.assert_array_equal(got, want.reshape(-1)[nchwc_filter_index(want.shape, block)])


@pytest.mark.parametrize("relu", [False, True])
def test_chained_convolutions_skip_the_reorders_between(relu):
    """The second convolution reads the first's blocked result; a Relu between them is applied by
    the first convolution's kernel (its NCHW result stays for other readers)."""
    def two_convs(x, w1, w2):
        y = O.conv2d(x, w1, pads=(1, 1, 1, 1))
        y = O.relu(y) if relu else y
        return O.conv2d(y, w2), O.mul(y, y)

    g = build(two_convs, {"x": (2, 16, 6, 6), "w1": (16, 16, 3, 3), "w2": (8, 16, 3, 3)})
    p = ConvsToNchwc(8)
    out = check_pass(p, g, ort_check=BLOCK == 8)
    ops = out.count_ops()
    assert ops["NchwcReorderInput"] == 1 and ops["NchwcReorderOutput"] == 2 and "Relu" not in ops
    assert p.run(g.copy()).stats == {"convs": 2, "relus_fused": int(relu), "reorders_cancelled": 1}
    acts = [n.attrs.get("activation") for n in out.nodes if n.op == "NchwcConv"]
    assert sorted(map(str, acts)) == sorted(["Relu" if relu else "None", "None"])


@pytest.mark.parametrize("case,reason", [
    ("grouped", "group 2"),
    ("channels", "not multiples of the block"),
    ("stride", "not a stride-1 Conv"),
    ("float64", "float32"),
])
def test_does_not_fire(case, reason):
    def grouped(x, w):
        return O.conv2d(x, w, group=2)

    def channels(x, w):
        return O.conv2d(x, w)

    def stride(dy, w):
        return emit("ConvTranspose", dy, w, kernel_shape=(3, 3), strides=(2, 2))

    fn, inputs = {"grouped": (grouped, {"x": (1, 16, 5, 5), "w": (16, 8, 3, 3)}),
                  "channels": (channels, {"x": (1, 12, 5, 5), "w": (16, 12, 3, 3)}),
                  "stride": (stride, {"dy": (1, 16, 3, 3), "w": (16, 16, 3, 3)}),
                  "float64": (channels, {"x": (1, 16, 5, 5), "w": (16, 16, 3, 3)})}[case]
    if case == "float64":
        from graphc.ir import TensorType

        inputs = {k: TensorType("float64", v) for k, v in inputs.items()}
    p = ConvsToNchwc(8)
    check_pass(p, build(fn, inputs), fires=False, ort_check=case != "float64")  # no float64 Conv kernel
    assert reason in " ".join(p.near_misses.values())


def test_block_must_be_a_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        ConvsToNchwc(12)


@needs_nchwc
def test_probe_checks_the_rewrite_on_this_onnxruntime():
    """The probe runs the rewrite and compares numbers: the machine's block agrees, the other block
    size (a layout onnxruntime does not use here) is caught instead of computing wrong convolutions."""
    assert nchwc_rewrite_agrees(BLOCK)
    assert not nchwc_rewrite_agrees(8 if BLOCK == 16 else 16)


def test_probe_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("GRAPHC_NCHWC", "0")
    nchwc_block_size.cache_clear()
    try:
        assert nchwc_block_size() == 0
    finally:
        monkeypatch.undo()
        nchwc_block_size.cache_clear()
    assert nchwc_block_size() == BLOCK


def _cnn16(optimizer):
    import graphc as keras
    from graphc import layers

    keras.set_random_seed(3)
    inputs = keras.Input((8, 8, 2))
    x = layers.Conv2D(16, 3, activation="relu")(inputs)
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    model = keras.Model(inputs, layers.Dense(3)(layers.Flatten()(x)))
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


@needs_nchwc
def test_fit_on_nchwc_kernels_matches_the_plain_step(monkeypatch, tmp_path):
    """fit's CPU step uses the blocked kernels and trains to the same weights; exported training
    graphs keep default-domain ops."""
    import graphc as keras

    x, y = small_cnn_data(48)
    runs = {}
    for block in (BLOCK, 0):
        monkeypatch.setattr("runtime.providers.nchwc_block_size", lambda b=block: b)
        model = _cnn16(keras.optimizers.SGD(0.05, momentum=0.9))
        hist = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        step = onnx.load_from_string(model._train_state.executor._data)
        domains = {n.domain for n in step.graph.node}
        runs[block] = (model.get_weights(), hist.history["loss"], domains)
        if block:
            model.export_training(str(tmp_path / "step.onnx"))
            exported = onnx.load(str(tmp_path / "step.onnx"))
            assert {n.domain for n in exported.graph.node} <= {""}
    (w_n, loss_n, dom_n), (w_p, loss_p, dom_p) = runs[BLOCK], runs[0]
    assert "com.microsoft.nchwc" in dom_n and "com.microsoft.nchwc" not in dom_p
    np.testing.assert_allclose(loss_n, loss_p, rtol=1e-5)
    for a, b in zip(w_n, w_p):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert loss_n[-1] < loss_n[0]


def test_small_channel_counts_keep_the_plain_step(monkeypatch):
    """small_cnn's 3- and 4-channel convolutions are not multiples of any block: nothing changes."""
    monkeypatch.setattr("runtime.providers.nchwc_block_size", lambda: 8)
    model = small_cnn("sgd")
    x, y = small_cnn_data(16)
    model.fit(x, y, batch_size=8, verbose=0)
    step = onnx.load_from_string(model._train_state.executor._data)
    assert {n.domain for n in step.graph.node} <= {""}


def test_pipeline_ends_with_the_rewrite_for_onnxruntime_only():
    from passes.pipeline import pipeline

    assert type(pipeline(2, target="onnxruntime", nchwc_block=8)[-1]) is ConvsToNchwc
    assert [type(p) for p in pipeline(0, target="onnxruntime", nchwc_block=16)] == [ConvsToNchwc]
    assert not any(type(p) is ConvsToNchwc for p in pipeline(2, target="onnxruntime"))
    with pytest.raises(ValueError, match="target='onnxruntime'"):
        pipeline(2, nchwc_block=8)
    with pytest.raises(ValueError, match="export=False"):
        pipeline(2, export=True, target="onnxruntime", nchwc_block=8)


def test_debug_mode_checks_the_rewrite(tmp_path, capsys):
    """Debug mode runs the rewrite like any pass: IR checks, the NumPy reference before and after
    (the blocked ops' references), a stage dump and a row in the table."""
    from passes.pipeline import run_pipeline

    g = build(_conv_and_input_gradient, {"x": (2, 16, 6, 6), "w": (16, 16, 3, 3), "dy": (2, 16, 6, 6)})
    out, manager = run_pipeline(g, level=2, debug=True, target="onnxruntime", nchwc_block=8,
                                dump_dir=str(tmp_path))
    (rec,) = [r for r in manager.records if r.name == "ConvsToNchwc"]
    assert rec.stats["convs"] == 2 and out.count_ops()["NchwcConv"] == 2
    assert "ConvsToNchwc" in capsys.readouterr().out


@needs_nchwc
def test_inference_graphs_keep_the_plain_convolutions():
    """predict / evaluate would permute every kernel on every call; onnxruntime permutes constant
    weights once by itself, so inference graphs keep default-domain convolutions."""
    model = _cnn16("sgd")
    x, y = small_cnn_data(8)
    model.predict(x, verbose=0)
    model.evaluate(x, y, verbose=0)
    assert not any(n.op.startswith("Nchwc") for n in model._executable().graph.nodes)
    assert not any(n.op.startswith("Nchwc") for n in model._eval_executable().graph.nodes)


@needs_nchwc
@pytest.mark.parametrize("hw,kernel,strides,pads", [
    ((1, 1), (3, 3), (1, 1), (1, 1, 1, 1)),      # a 1x1 image under a 'same' 3x3 kernel
    ((7, 5), (1, 1), (2, 2), (0, 0, 0, 0)),      # pointwise, strided, odd sizes
    ((9, 8), (5, 3), (2, 1), (2, 1, 2, 1)),      # non-square kernel
    ((4, 4), (3, 3), (3, 3), (0, 0, 2, 2)),      # stride above the overlap, end padding only
])
def test_convolution_shapes_on_onnxruntime(hw, kernel, strides, pads):
    """Unusual sizes and paddings give onnxruntime's numbers equal to the reference's, with the
    stride-1 input gradient of the same convolution."""
    def conv_and_dx(x, w, dy):
        y = O.conv2d(x, w, pads=pads, strides=strides)
        dx = emit("ConvTranspose", dy, w, kernel_shape=kernel, pads=(0, 0, 0, 0))
        return y, dx

    c = BLOCK
    ho = (hw[0] + pads[0] + pads[2] - kernel[0]) // strides[0] + 1
    wo = (hw[1] + pads[1] + pads[3] - kernel[1]) // strides[1] + 1
    g = build(conv_and_dx, {"x": (3, c, *hw), "w": (2 * c, c, *kernel), "dy": (1, 2 * c, ho, wo)})
    out = check_pass(ConvsToNchwc(BLOCK), g, rtol=1e-4, atol=1e-4)
    assert out.count_ops()["NchwcConv"] == 2
