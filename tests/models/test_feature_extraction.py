"""Feature extraction: outputs taken from any layer, including layers inside nested models."""
import numpy as np
import pytest

import graphc as keras
from graphc import layers


def _encoder_autoencoder():
    ei = keras.Input(shape=(28, 28, 1), name="original_img")
    x = layers.Conv2D(16, 3, activation="relu", name="c1")(ei)
    x = layers.MaxPooling2D(3, name="pool")(x)
    eo = layers.GlobalMaxPooling2D(name="gmp")(x)
    encoder = keras.Model(ei, eo, name="encoder")
    ai = keras.Input(shape=(28, 28, 1), name="img")
    z = encoder(ai)
    out = layers.Dense(10, name="head")(z)
    return encoder, keras.Model(ai, out, name="classifier")


def test_outputs_inside_a_nested_model_work():
    """Keras answers "Graph disconnected" here; graphc binds the nested Input to the outer tensor."""
    encoder, model = _encoder_autoencoder()
    fe = keras.Model(inputs=model.input, outputs=[encoder.get_layer("c1").output, encoder.get_layer("pool").output,
                                                  model.get_layer("head").output])
    x = np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32)
    c1, pool, head = fe.predict(x)
    assert c1.shape == (2, 26, 26, 16) and pool.shape == (2, 8, 8, 16)
    np.testing.assert_allclose(head, model.predict(x), rtol=1e-5, atol=1e-6)
    sub = keras.Model(encoder.input, [encoder.get_layer("c1").output, encoder.get_layer("pool").output])
    c1_ref, pool_ref = sub.predict(x)
    np.testing.assert_allclose(c1, c1_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pool, pool_ref, rtol=1e-5, atol=1e-6)


def test_every_layer_of_a_sequential_stack():
    model = keras.Sequential([keras.Input(shape=(250, 250, 3)), layers.Conv2D(32, 5, strides=2, activation="relu"),
                              layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(3)])
    fe = keras.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
    feats = fe(np.ones((1, 250, 250, 3), dtype="float32"))
    assert [f.shape for f in feats] == [(1, 123, 123, 32), (1, 121, 121, 32), (1, 40, 40, 32)]


def test_unrelated_input_is_still_disconnected():
    encoder, _ = _encoder_autoencoder()
    other = keras.Input(shape=(28, 28, 1), name="other")
    with pytest.raises(ValueError, match='Graph disconnected.*"original_img" is missing'):
        keras.Model(other, encoder.output)
