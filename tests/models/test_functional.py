"""Functional models of seeds 000, 001 and 002: structure, shapes, counts, numbers, golden summaries."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as keras
from graphc import layers

from seed_conv_models import decoder_layers, encoder_layers, toy_resnet
from test_summary import check_golden, rows_of, summary_of

needs_conv = pytest.mark.skipif(not hasattr(layers, "Conv2D"), reason="Conv2D has not landed yet")
needs_lstm = pytest.mark.skipif(not (hasattr(layers, "LSTM") and hasattr(layers, "Embedding")),
                                reason="LSTM/Embedding have not landed yet")


def test_inputs_outputs_and_layers():
    inputs = keras.Input(shape=(784,), name="img")
    x = layers.Dense(64, activation="relu")(inputs)
    outputs = layers.Dense(10)(x)
    model = keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")
    assert inputs.shape == (None, 784) and inputs.dtype == "float32"
    assert model.inputs == [inputs] and model.outputs == [outputs]
    assert model.input is inputs and model.output is outputs
    assert isinstance(model, keras.Functional)
    assert [layer.name for layer in model.layers] == ["img", "dense", "dense_1"]
    assert model.layers[1].input is inputs and model.layers[1].output is x
    assert model.get_layer("dense_1").output is outputs


def test_list_and_dict_inputs_and_outputs():
    a = keras.Input(shape=(3,), name="a")
    b = keras.Input(shape=(2,), name="b")
    joined = layers.concatenate([a, b])
    p = layers.Dense(1, name="p")(joined)
    q = layers.Dense(2, name="q")(joined)
    model = keras.Model(inputs={"a": a, "b": b}, outputs={"p": p, "q": q})
    xa = np.ones((4, 3), "float32")
    xb = np.zeros((4, 2), "float32")
    out = model.predict({"a": xa, "b": xb})
    assert set(out) == {"p", "q"} and out["p"].shape == (4, 1) and out["q"].shape == (4, 2)
    listed = keras.Model(inputs=[a, b], outputs=[p, q])
    by_list = listed.predict([xa, xb])
    by_dict = listed.predict({"a": xa, "b": xb})
    for u, v, w in zip(by_list, by_dict, (out["p"], out["q"])):
        np.testing.assert_allclose(u, v)
        np.testing.assert_allclose(u, w)
    # eager call on arrays gives the same numbers
    np.testing.assert_allclose(listed([xa, xb])[0], by_list[0], rtol=1e-6, atol=1e-6)


def test_weights_get_and_set_in_keras_layout():
    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, layers.Dense(2)(layers.Dense(4)(inputs)))
    assert [w.shape for w in model.get_weights()] == [(3, 4), (4,), (4, 2), (2,)]
    new = [np.full(w.shape, 0.5, "float32") for w in model.get_weights()]
    model.set_weights(new)
    y = model.predict(np.ones((1, 3), "float32"))
    np.testing.assert_allclose(y, [[0.5 * (4 * (0.5 * 3 + 0.5)) + 0.5] * 2], rtol=1e-6)
    with pytest.raises(ValueError, match="expects shape"):
        model.set_weights([np.zeros((5, 5))] + new[1:])


def test_shared_layer_one_set_of_weights():
    shared = layers.Dense(4, name="shared")
    a = keras.Input(shape=(3,), name="a")
    b = keras.Input(shape=(3,), name="b")
    model = keras.Model([a, b], layers.add([shared(a), shared(b)]))
    assert len(model.weights) == 2
    text = summary_of(model)
    assert "shared[0][0]" in text and "shared[1][0]" in text
    x = np.random.default_rng(0).random((2, 3), dtype=np.float32)
    k, bias = shared.get_weights()
    np.testing.assert_allclose(model.predict([x, 2 * x]), x @ k + bias + 2 * x @ k + bias, rtol=1e-5, atol=1e-6)


def test_feature_extraction_returns_every_layer_output():
    inputs = keras.Input(shape=(5,), name="x")
    h = layers.Dense(4, activation="relu")(inputs)
    out = layers.Dense(2)(h)
    model = keras.Model(inputs, out)
    extractor = keras.Model(inputs=model.input, outputs=[layer.output for layer in model.layers])
    results = extractor.predict(np.ones((3, 5), "float32"))
    assert [r.shape for r in results] == [(3, 5), (3, 4), (3, 2)]
    np.testing.assert_allclose(results[-1], model.predict(np.ones((3, 5), "float32")), rtol=1e-6)


# -- seed 000 convolutional models -------------------------------------------------------------------
@needs_conv
def test_seed000_encoder_and_autoencoder():
    encoder_input, encoder_output = encoder_layers()
    encoder = keras.Model(encoder_input, encoder_output, name="encoder")
    text = summary_of(encoder)
    check_golden("seed000_encoder", text)
    assert [r[1:] for r in rows_of(text)][1:] == [
        ["(None, 26, 26, 16)", "160"], ["(None, 24, 24, 32)", "4,640"], ["(None, 8, 8, 32)", "0"],
        ["(None, 6, 6, 32)", "9,248"], ["(None, 4, 4, 16)", "4,624"], ["(None, 16)", "0"]]
    assert encoder.count_params() == 18_672
    decoder_output = decoder_layers(encoder_output)
    autoencoder = keras.Model(encoder_input, decoder_output, name="autoencoder")
    text = summary_of(autoencoder)
    check_golden("seed000_autoencoder", text)
    assert [r[1] for r in rows_of(text)][-5:] == ["(None, 6, 6, 16)", "(None, 8, 8, 32)", "(None, 24, 24, 32)",
                                                  "(None, 26, 26, 16)", "(None, 28, 28, 1)"]
    assert autoencoder.count_params() == 28_241
    y = autoencoder.predict(np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32))
    assert y.shape == (2, 28, 28, 1)


@needs_conv
def test_seed000_models_called_like_layers():
    encoder_input, encoder_output = encoder_layers(name="original_img")
    encoder = keras.Model(encoder_input, encoder_output, name="encoder")
    decoder_input = keras.Input(shape=(16,), name="encoded_img")
    decoder = keras.Model(decoder_input, decoder_layers(decoder_input), name="decoder")
    autoencoder_input = keras.Input(shape=(28, 28, 1), name="img")
    decoded_img = decoder(encoder(autoencoder_input))
    autoencoder = keras.Model(autoencoder_input, decoded_img, name="autoencoder")
    text = summary_of(autoencoder)
    check_golden("seed000_autoencoder_nested", text)
    assert rows_of(text) == [["img (InputLayer)", "(None, 28, 28, 1)", "0"],
                             ["encoder (Functional)", "(None, 16)", "18,672"],
                             ["decoder (Functional)", "(None, 28, 28, 1)", "9,569"]]
    check_golden("seed000_autoencoder_nested_expanded", summary_of(autoencoder, expand_nested=True))
    # weights are shared with the inner models
    assert autoencoder.count_params() == 28_241
    assert {id(w) for w in autoencoder.weights} == {id(w) for w in encoder.weights + decoder.weights}
    x = np.random.default_rng(1).random((2, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(autoencoder.predict(x), decoder.predict(encoder.predict(x)), rtol=1e-4, atol=1e-5)


@needs_conv
def test_seed000_toy_resnet():
    model = toy_resnet()
    text = summary_of(model)
    check_golden("seed000_toy_resnet", text)
    assert model.count_params() == 223_242
    assert " Total params: 223,242 (872.04 KB)" in text.splitlines()
    rows = {r[0]: r for r in rows_of(text)}
    assert rows["add (Add)"][3] == "conv2d_3[0][0],"  # the cell wraps: max_pooling2d[0][0] follows below
    assert rows["add_1 (Add)"][3] == "conv2d_5[0][0], add[0][0]"
    y = model.predict(np.random.default_rng(2).random((3, 32, 32, 3), dtype=np.float32))
    assert y.shape == (3, 10)


@needs_lstm
def test_seed000_shared_embedding():
    shared_embedding = layers.Embedding(1000, 128)
    text_input_a = keras.Input(shape=(None,), dtype="int32")
    text_input_b = keras.Input(shape=(None,), dtype="int32")
    encoded_input_a = shared_embedding(text_input_a)
    encoded_input_b = shared_embedding(text_input_b)
    assert encoded_input_a.shape == (None, None, 128)
    model = keras.Model([text_input_a, text_input_b], [encoded_input_a, encoded_input_b])
    assert len(model.weights) == 1 and model.count_params() == 128_000
    ids = np.array([[1, 2, 3]], dtype="int32")
    a, b = model.predict([ids, ids[:, :2]])
    table = shared_embedding.get_weights()[0]
    np.testing.assert_allclose(a[0], table[[1, 2, 3]])
    np.testing.assert_allclose(b[0], table[[1, 2]])


@needs_lstm
def test_seed001_ticket_model_with_lstm():
    num_tags, num_words, num_departments = 12, 10000, 4
    title_input = keras.Input(shape=(None,), name="title")
    body_input = keras.Input(shape=(None,), name="body")
    tags_input = keras.Input(shape=(num_tags,), name="tags")
    title_features = layers.Embedding(num_words, 64)(title_input)
    body_features = layers.Embedding(num_words, 64)(body_input)
    title_features = layers.LSTM(128)(title_features)
    body_features = layers.LSTM(32)(body_features)
    x = layers.concatenate([title_features, body_features, tags_input])
    priority_pred = layers.Dense(1, activation="sigmoid", name="priority")(x)
    department_pred = layers.Dense(num_departments, activation="softmax", name="department")(x)
    model = keras.Model(inputs=[title_input, body_input, tags_input], outputs=[priority_pred, department_pred])
    text = summary_of(model)
    check_golden("seed001_ticket_lstm", text)
    assert model.count_params() == 1_392_097
    assert " Total params: 1,392,097 (5.31 MB)" in text.splitlines()
    rows = {r[0]: r for r in rows_of(text)}
    assert rows["lstm (LSTM)"][1:3] == ["(None, 128)", "98,816"]
    assert rows["lstm_1 (LSTM)"][1:3] == ["(None, 32)", "12,416"]
    rng = np.random.default_rng(3)
    for title_len, body_len in ((10, 100), (3, 17)):  # variable lengths, one model
        priority, department = model.predict([rng.integers(0, num_words, (5, title_len)),
                                              rng.integers(0, num_words, (5, body_len)),
                                              rng.integers(0, 2, (5, num_tags)).astype("float32")])
        assert priority.shape == (5, 1) and department.shape == (5, 4)
        np.testing.assert_allclose(department.sum(axis=1), 1.0, rtol=1e-5)


@needs_conv
def test_seed004_functional_convnet():
    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    text = summary_of(model)
    check_golden("seed004_functional_convnet", text)
    assert model.count_params() == 4_738_826
