"""Sequential models as seeds 002, 003 and 004 use them."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as keras
from graphc import layers

from test_summary import check_golden, rows_of, summary_of


def three_layers(**names):
    return [layers.Dense(2, activation="relu", name=names.get("a")),
            layers.Dense(3, activation="relu", name=names.get("b")),
            layers.Dense(4, name=names.get("c"))]


def test_list_and_add_build_the_same_model():
    a = keras.Sequential(three_layers())
    b = keras.Sequential()
    for layer in three_layers():
        b.add(layer)
    for model in (a, b):
        model.build((None, 3))
    assert [w.shape for w in a.weights] == [w.shape for w in b.weights]
    assert a.count_params() == b.count_params() == 3 * 2 + 2 + 2 * 3 + 3 + 3 * 4 + 4


def test_call_on_concrete_array_builds_with_that_shape():
    model = keras.Sequential(three_layers(a="layer1", b="layer2", c="layer3"))
    y = model(np.ones((3, 3), dtype="float32"))
    assert y.shape == (3, 4)
    assert [layer.name for layer in model.layers] == ["layer1", "layer2", "layer3"]
    assert model.get_layer("layer2") is model.layers[1]
    assert model.get_layer(index=2).name == "layer3"
    with pytest.raises(ValueError, match="no layer named"):
        model.get_layer("layer9")


def test_numbers_equal_the_numpy_reference():
    model = keras.Sequential(three_layers())
    x = np.random.default_rng(0).random((5, 3), dtype=np.float32)
    y = model(x)
    w = model.get_weights()
    h = np.maximum(x @ w[0] + w[1], 0)
    h = np.maximum(h @ w[2] + w[3], 0)
    np.testing.assert_allclose(y, h @ w[4] + w[5], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(x, batch_size=2), y, rtol=1e-5, atol=1e-6)


def test_pop_then_add_rebuilds():
    model = keras.Sequential([keras.Input(shape=(4,))] + three_layers())
    assert model.output.shape == (None, 4)
    model.pop()
    assert len(model.layers) == 2 and model.output.shape == (None, 3)
    model.add(layers.Dense(7, name="new_head"))
    assert model.output.shape == (None, 7)
    text = summary_of(model)
    assert [r[0] for r in rows_of(text)][-1] == "new_head (Dense)"
    assert model.predict(np.zeros((2, 4), "float32")).shape == (2, 7)
    with pytest.raises(IndexError):
        keras.Sequential().pop()


def test_input_shape_on_first_layer():
    model = keras.Sequential([layers.Dense(2, activation="relu", input_shape=(4,))])
    assert model.built
    assert model.inputs[0].shape == (None, 4)
    assert rows_of(summary_of(model)) == [["dense (Dense)", "(None, 2)", "10"]]


def test_input_only_in_first_position():
    model = keras.Sequential([layers.Dense(2)])
    with pytest.raises(ValueError, match="first"):
        model.add(keras.Input(shape=(3,)))
    with pytest.raises(TypeError):
        model.add("dense")


def test_feature_extraction_from_sequential():
    model = keras.Sequential([keras.Input(shape=(3,))] + three_layers())
    extractor = keras.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
    outs = extractor.predict(np.ones((2, 3), "float32"))
    assert [o.shape for o in outs] == [(2, 2), (2, 3), (2, 4)]


@pytest.mark.skipif(not hasattr(layers, "Conv2D"), reason="Conv2D has not landed yet")
def test_seed003_convolution_stack_grows():
    model = keras.Sequential()
    model.add(keras.Input(shape=(250, 250, 3)))
    model.add(layers.Conv2D(32, 5, strides=2, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    first = summary_of(model)
    check_golden("seed003_conv_stack_first", first)
    assert [r[1:] for r in rows_of(first)] == [["(None, 123, 123, 32)", "2,432"], ["(None, 121, 121, 32)", "9,248"],
                                              ["(None, 40, 40, 32)", "0"]]
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(2))
    second = summary_of(model)
    check_golden("seed003_conv_stack", second)
    assert rows_of(second)[-1][1] == "(None, 4, 4, 32)"
    assert model.count_params() == 48_672
    model.add(layers.GlobalMaxPooling2D())
    model.add(layers.Dense(10))
    assert model.output.shape == (None, 10)
    assert model.count_params() == 48_672 + 330


@pytest.mark.skipif(not hasattr(layers, "Conv2D"), reason="Conv2D has not landed yet")
def test_seed004_sequential_convnet():
    model = keras.Sequential([
        layers.Conv2D(32, 3, activation="relu"),
        layers.Conv2D(32, 3, activation="relu"),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    y = model(np.random.default_rng(1).random((2, 28, 28, 1), dtype=np.float32))
    assert y.shape == (2, 10)
    text = summary_of(model)
    check_golden("seed004_sequential_convnet", text)
    assert [r[1] for r in rows_of(text)] == ["(2, 26, 26, 32)", "(2, 24, 24, 32)", "(2, 18432)", "(2, 128)", "(2, 10)"]
    assert model.count_params() == 320 + 9_248 + 18_432 * 128 + 128 + 1_290


def test_predict_builds_an_unbuilt_sequential_from_the_data():
    model = keras.Sequential([layers.Dense(3, activation="relu"), layers.Dense(2)])
    x = np.random.default_rng(0).random((5, 4), dtype=np.float32)
    y = model.predict(x)
    assert y.shape == (5, 2) and [w.shape for w in model.weights] == [(4, 3), (3,), (3, 2), (2,)]
    np.testing.assert_allclose(y, model(x), rtol=1e-6)


def test_flatten_channels_first_flattens_in_channels_last_order():
    x = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    out = layers.Flatten(data_format="channels_first")(x)
    np.testing.assert_array_equal(out, x.transpose(0, 2, 3, 1).reshape(2, -1))
    np.testing.assert_array_equal(layers.Flatten()(x), x.reshape(2, -1))


def test_unsupported_arguments_are_refused_not_ignored():
    with pytest.raises(NotImplementedError, match="kernel_regularizer"):
        layers.Dense(3, kernel_regularizer="l2")
    with pytest.raises(NotImplementedError, match="sparse"):
        keras.Input(shape=(3,), sparse=True)
