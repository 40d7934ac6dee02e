"""LSTM layer against a NumPy loop in Keras' layout: kernel (in, 4u), recurrent_kernel (u, 4u),
bias (4u,), gate blocks i, f, c, o; i, f, o use the recurrent activation (sigmoid), the candidate
and the output the activation (tanh): c = f*c + i*tanh(z_c), h = o*tanh(c)."""
import numpy as np
import pytest

import graphc as keras
from graphc import layers
from graphc.ir import Graph, TensorType
from graphc.ops import Builder
from graphc.testing import gradcheck_graph, run_onnx

RNG = np.random.default_rng(0)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def keras_lstm(x, kernel, recurrent, bias, units, go_backwards=False, h0=None, c0=None,
               activation=np.tanh, recurrent_activation=_sigmoid):
    n, t, _ = x.shape
    h = np.zeros((n, units)) if h0 is None else h0
    c = np.zeros((n, units)) if c0 is None else c0
    bias = np.zeros(4 * units) if bias is None else bias
    hs = []
    for s in (range(t - 1, -1, -1) if go_backwards else range(t)):
        z = x[:, s] @ kernel + h @ recurrent + bias
        u = units
        i = recurrent_activation(z[:, :u])
        f = recurrent_activation(z[:, u:2 * u])
        g = activation(z[:, 2 * u:3 * u])
        o = recurrent_activation(z[:, 3 * u:])
        c = f * c + i * g
        h = o * activation(c)
        hs.append(h)
    return np.stack(hs, 1), h, c


def _randomize(layer):
    layer.set_weights([RNG.standard_normal(w.shape) * 0.4 for w in layer.get_weights()])
    return [w.astype(np.float64) for w in layer.get_weights()]


def test_lstm_weights_keras_layout_and_defaults():
    layer = layers.LSTM(3)
    layer(np.zeros((2, 4, 5), np.float32))
    kernel, recurrent, bias = layer.get_weights()
    assert kernel.shape == (5, 12) and recurrent.shape == (3, 12) and bias.shape == (12,)
    np.testing.assert_array_equal(bias, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])  # unit_forget_bias
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(3), atol=1e-5)  # orthogonal
    limit = np.sqrt(6 / (5 + 12))
    assert np.abs(kernel).max() <= limit  # glorot_uniform
    assert layer.count_params() == 4 * 3 * (5 + 3 + 1)
    assert layers.LSTM(2, unit_forget_bias=False)(np.zeros((1, 2, 3), np.float32)).shape == (1, 2)


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_lstm_forward_matches_keras_loop(return_sequences, go_backwards):
    x = RNG.standard_normal((3, 7, 4)).astype(np.float32)
    layer = layers.LSTM(5, return_sequences=return_sequences, return_state=True, go_backwards=go_backwards)
    layer(x)
    k, r, b = _randomize(layer)
    out, h, c = layer(x)
    seq, rh, rc = keras_lstm(x.astype(np.float64), k, r, b, 5, go_backwards=go_backwards)
    np.testing.assert_allclose(out, seq if return_sequences else rh, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h, rh, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c, rc, rtol=1e-5, atol=1e-6)


def test_lstm_without_bias_and_other_activations():
    x = RNG.standard_normal((2, 5, 3)).astype(np.float32)
    layer = layers.LSTM(4, use_bias=False, activation="relu", recurrent_activation="sigmoid",
                        return_sequences=True)
    layer(x)
    k, r = _randomize(layer)
    expect, _, _ = keras_lstm(x.astype(np.float64), k, r, None, 4, activation=lambda v: np.maximum(v, 0))
    np.testing.assert_allclose(layer(x), expect, rtol=1e-5, atol=1e-6)
    with pytest.raises(NotImplementedError, match="hard_sigmoid"):
        layers.LSTM(2, recurrent_activation="hard_sigmoid")


def test_lstm_initial_state():
    x = RNG.standard_normal((2, 4, 3)).astype(np.float32)
    h0 = RNG.standard_normal((2, 5)).astype(np.float32)
    c0 = RNG.standard_normal((2, 5)).astype(np.float32)
    layer = layers.LSTM(5)
    layer(x)
    k, r, b = _randomize(layer)
    g = Graph("t")
    bld = Builder(g)
    with bld.activate():
        xi = bld.input("x", TensorType("float32", ("batch", "time", 3)))
        hi = bld.input("h", TensorType("float32", ("batch", 5)))
        ci = bld.input("c", TensorType("float32", ("batch", 5)))
        y = layer(xi, initial_state=[hi, ci])
    g.set_outputs([y], ["y"])
    _, expect, _ = keras_lstm(x.astype(np.float64), k, r, b, 5, h0=h0, c0=c0)
    np.testing.assert_allclose(run_onnx(g, {"x": x, "h": h0, "c": c0})[0], expect, rtol=1e-5, atol=1e-6)


def test_lstm_variable_length_in_one_model():
    inp = keras.Input(shape=(None, 3))
    layer = layers.LSTM(4, return_sequences=True)
    out = layer(inp)
    assert out.shape == (None, None, 4)
    model = keras.Model(inp, out)
    k, r, b = _randomize(layer)
    for t in (1, 6, 25):
        x = RNG.standard_normal((2, t, 3)).astype(np.float32)
        expect, _, _ = keras_lstm(x.astype(np.float64), k, r, b, 4)
        np.testing.assert_allclose(model.predict(x), expect, rtol=1e-5, atol=1e-6)


def test_lstm_input_errors():
    with pytest.raises(ValueError, match="expected shape \\(batch, time, 3\\)"):
        layer = layers.LSTM(2)
        layer(keras.Input((4, 3)))
        layer(keras.Input((4, 5)))
    with pytest.raises(TypeError, match="Embedding"):
        layers.LSTM(2)(keras.Input((None, 3), dtype="int32"))
    with pytest.raises(NotImplementedError, match="recurrent_dropout"):
        layers.LSTM(2, recurrent_dropout=0.1)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\)"):
        layers.LSTM(2, dropout=1.0)


def _lstm_model(dropout, explicit, seed=11):
    """LSTM(dropout=r) or, explicitly, Dropout(r, noise_shape=(None, 1, None)) then LSTM: Keras' input
    dropout is one mask per sample and feature for the whole sequence."""
    inputs = keras.Input((5, 3))
    if explicit:
        x = layers.Dropout(dropout, noise_shape=(None, 1, None), seed=seed)(inputs, training=True)
        x = layers.LSTM(4, return_sequences=True)(x)
    else:
        x = layers.LSTM(4, return_sequences=True, dropout=dropout, seed=seed)(inputs, training=True)
    return keras.Model(inputs, x)


def test_lstm_dropout_is_one_input_mask_per_sequence():
    x = RNG.random((64, 5, 3)).astype(np.float32) + 0.5
    fused, explicit = _lstm_model(0.5, False), _lstm_model(0.5, True)
    explicit.set_weights(fused.get_weights())
    a, b = fused.predict(x, verbose=0), explicit.predict(x, verbose=0)  # fresh sessions, same seed: same mask
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    kernel, recurrent, bias = (w.astype(np.float64) for w in fused.get_weights())
    want, _, _ = keras_lstm(x.astype(np.float64), kernel, recurrent, bias, 4)
    assert not np.allclose(a, want, atol=1e-3)  # the dropout did something
    inference = keras.Model(fused.inputs, fused.layers[1](fused.inputs[0]))
    np.testing.assert_allclose(inference.predict(x, verbose=0), want, rtol=1e-4, atol=1e-5)


def test_lstm_with_dropout_trains_and_keeps_its_config():
    keras.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 2)), layers.LSTM(8, dropout=0.2), layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = RNG.random((128, 6, 2)).astype(np.float32)
    y = x[:, :, 0].mean(axis=1, keepdims=True)
    history = model.fit(x, y, batch_size=32, epochs=10, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    config = model.layers[0].get_config()
    assert config["dropout"] == 0.2
    assert layers.LSTM.from_config(config).dropout == 0.2


@pytest.mark.parametrize("return_sequences", [False, True])
def test_lstm_layer_gradient_float64_interpreter(return_sequences):
    """The layer's trace (weight permutation, transposes, LSTM op, Scan gradient) vs finite differences."""
    layer = layers.LSTM(3, return_sequences=return_sequences, return_state=True, dtype="float64")
    x = RNG.standard_normal((2, 5, 4))
    g = Graph("t")
    b = Builder(g)
    with b.activate():
        xi = b.input("x", TensorType("float64", ("batch", "time", 4)))
        outs = layer(xi)
    g.set_outputs(outs, ["y", "h", "c"])
    _randomize(layer)
    grads = gradcheck_graph(g, {"x": x}, ort=False)  # onnxruntime has no float64 LSTM kernel
    assert len(grads) == 4  # x, kernel, recurrent_kernel, bias


@pytest.mark.parametrize("go_backwards", [False, True])
def test_lstm_layer_gradient_float32_onnxruntime(go_backwards):
    layer = layers.LSTM(3, return_sequences=True, go_backwards=go_backwards)
    x = RNG.standard_normal((2, 6, 4)).astype(np.float32)
    g = Graph("t")
    b = Builder(g)
    with b.activate():
        xi = b.input("x", TensorType("float32", ("batch", "time", 4)))
        y = layer(xi)
    g.set_outputs([y], ["y"])
    _randomize(layer)
    gradcheck_graph(g, {"x": x}, eps=1e-2)
