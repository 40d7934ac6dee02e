"""StoreParamsInDeviceLayout and ParamLayout: parameters kept in the layout the training step reads."""
import numpy as np
import pytest

import graphc as keras
import graphc.ops as O
from graphc.ir import ParamLayout, TensorType, Variable
from graphc.ops import current_builder
from graphc.ops.base import emit
from passes.param_layouts import StoreParamsInDeviceLayout
from pass_helpers import build, check_pass, fit_save_resume, small_cnn, small_cnn_data

RNG = np.random.default_rng(0)


def _var(shape, name):
    return Variable(RNG.standard_normal(shape).astype(np.float32), name)


def _laid_out(var, layout):
    """A Param node already in ``layout`` (what the pass produces)."""
    g = current_builder().graph
    return g.add_node("Param", [], [TensorType(var.dtype, layout.shape)], {"variable": var, "layout": layout}).output


# -- ParamLayout ------------------------------------------------------------------------------------

def test_transposed_layout_round_trips():
    lay = ParamLayout.transposed((3, 3, 2, 4), (3, 2, 0, 1))
    a = RNG.standard_normal((3, 3, 2, 4))
    d = lay.to_device(a)
    assert d.shape == (4, 2, 3, 3) and d.flags.c_contiguous
    np.testing.assert_array_equal(d, a.transpose(3, 2, 0, 1))
    np.testing.assert_array_equal(lay.from_device(d), a)


def test_row_permuted_layout_matches_flatten_of_the_untransposed_activation():
    """Flatten(transpose(z, (0, 2, 3, 1))) @ w == Flatten(z) @ to_device(w)."""
    z = RNG.standard_normal((5, 4, 3, 2))                      # NCHW
    w = RNG.standard_normal((3 * 2 * 4, 7))                     # rows in HWC order
    lay = ParamLayout((24, 7), (3, 2, 4, 7), (2, 0, 1, 3), (24, 7))
    want = z.transpose(0, 2, 3, 1).reshape(5, -1) @ w
    np.testing.assert_allclose(z.reshape(5, -1) @ lay.to_device(w), want, rtol=1e-12)
    np.testing.assert_array_equal(lay.from_device(lay.to_device(w)), w)


def test_layout_rejects_wrong_shapes():
    lay = ParamLayout.transposed((3, 3, 2, 4), (3, 2, 0, 1))
    with pytest.raises(ValueError, match=r"expected shape \(3, 3, 2, 4\), received \(4, 2, 3, 3\)"):
        lay.to_device(np.zeros((4, 2, 3, 3)))
    with pytest.raises(ValueError, match="differ in size"):
        ParamLayout((2, 3), (2, 3), (1, 0), (7,))
    with pytest.raises(ValueError, match="not a permutation"):
        ParamLayout((2, 3), (2, 3), (0, 0), (2, 3))


# -- the pass ---------------------------------------------------------------------------------------

def test_conv_kernel_is_stored_oihw():
    k = _var((3, 3, 2, 4), "conv/kernel")
    lay = ParamLayout.transposed(k.shape, (3, 2, 0, 1))

    def before(x):
        w = O.transpose(current_builder().param(k), (3, 2, 0, 1))
        return emit("Conv", x, w, pads=(1, 1, 1, 1))

    def expected(x):
        return emit("Conv", x, _laid_out(k, lay), pads=(1, 1, 1, 1))

    p = StoreParamsInDeviceLayout([k])
    g = check_pass(p, build(before, {"x": (2, 2, 5, 5)}), build(expected, {"x": (2, 2, 5, 5)}))
    p.run(build(before, {"x": (2, 2, 5, 5)}))  # check_pass's second (idempotence) run found nothing to do
    assert p.layouts == {k.uid: lay}
    assert "Transpose" not in g.count_ops()


def test_dense_after_flatten_reads_the_untransposed_activation():
    w = _var((3 * 2 * 4, 5), "dense/kernel")

    def before(z):
        a = O.relu(O.transpose(z, (0, 2, 3, 1)))
        return O.matmul(emit("Flatten", a, axis=1), current_builder().param(w))

    p = StoreParamsInDeviceLayout([w])
    g = check_pass(p, build(before, {"z": ("batch", 4, 3, 2)}))
    assert g.count_ops().get("Transpose", 0) == 0
    p.run(build(before, {"z": ("batch", 4, 3, 2)}))
    assert p.layouts[w.uid] == ParamLayout((24, 5), (3, 2, 4, 5), (2, 0, 1, 3), (24, 5))


def test_does_not_fire_when_the_param_is_read_two_ways():
    k = _var((3, 3, 2, 2), "k")
    w = _var((8, 3), "w")

    def before(x, y):
        a = O.transpose(current_builder().param(k), (3, 2, 0, 1))
        b = O.transpose(current_builder().param(k), (3, 2, 1, 0))
        z = O.transpose(x, (0, 2, 3, 1))
        f = emit("Flatten", z, axis=1)
        return O.add(a, b), O.matmul(f, current_builder().param(w)), O.relu(z)

    p = StoreParamsInDeviceLayout([k, w])
    check_pass(p, build(before, {"x": (2, 2, 2, 2), "y": (1,)}), fires=False)
    assert "different perms" in p.reasons["k"]
    assert p.reasons["w"] == "no pattern"  # the Transpose is also read by the Relu


def test_does_not_touch_variables_it_was_not_given():
    k = _var((3, 3, 2, 4), "k")

    def before(x):
        return emit("Conv", x, O.transpose(current_builder().param(k), (3, 2, 0, 1)), pads=(1, 1, 1, 1))

    check_pass(StoreParamsInDeviceLayout([]), build(before, {"x": (1, 2, 4, 4)}), fires=False)


# -- training with device layouts ----------------------------------------------------------------------

def _without_layouts(monkeypatch, model):
    build_graph = type(model)._build_train_graph
    monkeypatch.setattr(type(model), "_build_train_graph",
                        lambda self, *a, **k: build_graph(self, *a, **{**k, "device_layouts": False}))


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "sgd"])
def test_fit_gives_the_weights_of_the_keras_layout_step(monkeypatch, optimizer):
    x, y = small_cnn_data()
    laid_out, plain = small_cnn(optimizer=optimizer), small_cnn(optimizer=optimizer)
    laid_out.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    sig = laid_out._train_state.sig
    kernels = [layer.kernel.path for layer in laid_out.layers if hasattr(layer, "kernel")]
    assert set(kernels[:3]) <= set(sig.layouts) and kernels[3] not in sig.layouts
    with monkeypatch.context() as m:
        _without_layouts(m, plain)
        plain.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert not plain._train_state.sig.layouts
    for a, b in zip(laid_out.get_weights(), plain.get_weights()):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    got, want = laid_out.optimizer.get_state(), plain.optimizer.get_state()
    assert len(got) == len(want)
    for (k, a), b in zip(got.items(), want.values()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=k)
    ops = [n.op_type for n in laid_out._train_state.proto.graph.node]
    plain_ops = [n.op_type for n in plain._train_state.proto.graph.node]
    assert ops.count("Transpose") < plain_ops.count("Transpose")


def test_a_saved_model_resumes_in_the_device_layout(tmp_path):
    """Host -> step conversion of a loaded model's weights and optimizer slots: training on gives
    what the model that never stopped gives."""
    a = small_cnn()
    b = fit_save_resume(a, tmp_path)
    assert b._train_state.sig.layouts
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wb, wa, rtol=1e-5, atol=1e-6)


def test_set_weights_between_fits_reaches_the_step(monkeypatch):
    x, y = small_cnn_data()
    laid_out, plain = small_cnn(), small_cnn()

    def train(model):
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        model.set_weights([w * 0.5 for w in model.get_weights()])
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)

    train(laid_out)
    assert laid_out._train_state.sig.layouts
    with monkeypatch.context() as m:
        _without_layouts(m, plain)  # patches the class: laid_out's step is already built
        train(plain)
    assert not plain._train_state.sig.layouts
    for a, b in zip(laid_out.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_export_training_keeps_keras_layout(tmp_path):
    model = small_cnn()
    x, y = small_cnn_data(8)
    model.fit(x, y, batch_size=8, verbose=0)
    state = model.export_training(str(tmp_path / "step.onnx"))
    kernel = model.layers[1].kernel
    assert state[kernel.path].shape == (3, 3, 2, 3)
    assert state[f"optimizer/{kernel.path}/momentum"].shape == (3, 3, 2, 3)
    np.testing.assert_array_equal(state[kernel.path], kernel.numpy())


def test_frozen_kernels_are_read_in_the_device_layout_and_stay_bit_identical(monkeypatch):
    x, y = small_cnn_data()
    laid_out, plain = small_cnn(), small_cnn()
    for model in (laid_out, plain):
        model.layers[1].trainable = False
        model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    frozen = laid_out.layers[1].kernel.numpy().copy()
    laid_out.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert laid_out.layers[1].kernel.path in laid_out._train_state.sig.layouts
    assert laid_out.layers[1].kernel.path not in dict(laid_out._train_state.sig.state_pairs)
    with monkeypatch.context() as m:
        _without_layouts(m, plain)
        plain.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_array_equal(laid_out.layers[1].kernel.numpy(), frozen)
    for a, b in zip(laid_out.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
