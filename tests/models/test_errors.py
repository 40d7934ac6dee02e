"""Bad input gets a clear graphc error, naming what and where, before onnxruntime ever sees it."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as keras
from graphc import layers


def mnist_model():
    inputs = keras.Input(shape=(784,), name="img")
    x = layers.Dense(64, activation="relu")(inputs)
    outputs = layers.Dense(10)(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")


def two_input_model():
    a = keras.Input(shape=(3,), name="a")
    b = keras.Input(shape=(2,), name="b")
    out = layers.Dense(1, name="out")(layers.concatenate([a, b]))
    return keras.Model(inputs=[a, b], outputs=out, name="two_inputs")


@pytest.fixture
def no_onnxruntime_run(monkeypatch):
    """Fails the test if a graphc error is left for onnxruntime to find."""
    import onnxruntime

    def refuse(self, *args, **kwargs):
        raise AssertionError("onnxruntime was reached with bad input")

    monkeypatch.setattr(onnxruntime.InferenceSession, "run", refuse)


def test_layer_called_on_incompatible_shape_symbolic():
    inputs = keras.Input(shape=(784,))
    dense = layers.Dense(64, name="dense_a")
    dense(inputs)
    other = keras.Input(shape=(28, 28))
    with pytest.raises(ValueError) as e:
        dense(other)
    msg = str(e.value)
    assert '"dense_a"' in msg
    assert "784" in msg and "(None, 28, 28)" in msg
    assert "Flatten" in msg


def test_layer_called_on_incompatible_shape_eager():
    dense = layers.Dense(3, name="eager_dense")
    dense(np.ones((2, 4), dtype="float32"))
    with pytest.raises(ValueError) as e:
        dense(np.ones((2, 5), dtype="float32"))
    msg = str(e.value)
    assert '"eager_dense"' in msg and "4" in msg and "(None, 5)" in msg


def test_concatenate_incompatible_shapes_names_layer():
    a = keras.Input(shape=(4, 3))
    b = keras.Input(shape=(5, 2))
    with pytest.raises(ValueError) as e:
        layers.Concatenate(name="join")([a, b])
    msg = str(e.value)
    assert '"join"' in msg and "(None, 4, 3)" in msg and "(None, 5, 2)" in msg


def test_predict_with_wrong_feature_size(no_onnxruntime_run):
    model = mnist_model()
    with pytest.raises(ValueError) as e:
        model.predict(np.zeros((4, 100), dtype="float32"))
    msg = str(e.value)
    assert "img" in msg and "(None, 784)" in msg and "(4, 100)" in msg


def test_predict_with_wrong_rank(no_onnxruntime_run):
    model = mnist_model()
    with pytest.raises(ValueError) as e:
        model.predict(np.zeros((4, 28, 28), dtype="float32"))
    assert "(None, 784)" in str(e.value) and "(4, 28, 28)" in str(e.value)


def test_predict_with_string_dtype(no_onnxruntime_run):
    model = mnist_model()
    with pytest.raises(TypeError) as e:
        model.predict(np.array([["a"] * 784], dtype=object).astype(str))
    assert "dtype" in str(e.value) and "numeric" in str(e.value)


def test_predict_dict_key_naming_no_input(no_onnxruntime_run):
    model = two_input_model()
    with pytest.raises(KeyError) as e:
        model.predict({"a": np.zeros((2, 3), "float32"), "bee": np.zeros((2, 2), "float32")})
    msg = str(e.value)
    assert "bee" in msg and "'a'" in msg and "'b'" in msg


def test_predict_missing_input(no_onnxruntime_run):
    model = two_input_model()
    with pytest.raises(ValueError) as e:
        model.predict({"a": np.zeros((2, 3), "float32")})
    assert "missing" in str(e.value) and "'b'" in str(e.value)
    with pytest.raises(ValueError) as e:
        model.predict([np.zeros((2, 3), "float32")])
    assert "2 inputs" in str(e.value)


def test_predict_mismatched_row_counts(no_onnxruntime_run):
    model = two_input_model()
    with pytest.raises(ValueError, match="same number of rows"):
        model.predict([np.zeros((2, 3), "float32"), np.zeros((3, 2), "float32")])


def test_duplicate_layer_name():
    inputs = keras.Input(shape=(4,))
    x = layers.Dense(4, name="twin")(inputs)
    x = layers.Dense(4, name="twin")(x)
    with pytest.raises(ValueError) as e:
        keras.Model(inputs, x)
    assert "unique" in str(e.value) and "twin" in str(e.value)
    with pytest.raises(ValueError) as e:
        keras.Sequential([layers.Dense(2, name="same"), layers.Dense(2, name="same")])
    assert "unique" in str(e.value) and "same" in str(e.value)


def test_graph_disconnected_names_missing_input():
    a = keras.Input(shape=(3,), name="a")
    b = keras.Input(shape=(2,), name="b")
    out = layers.Dense(1, name="out")(layers.concatenate([a, b], name="join"))
    with pytest.raises(ValueError) as e:
        keras.Model(inputs=a, outputs=out)
    msg = str(e.value)
    assert "Graph disconnected" in msg
    assert '"b"' in msg and '"join"' in msg


def test_model_inputs_must_be_inputs():
    a = keras.Input(shape=(3,))
    h = layers.Dense(2)(a)
    with pytest.raises(ValueError, match="Input"):
        keras.Model(inputs=h, outputs=layers.Dense(1)(h))
    with pytest.raises(TypeError, match="symbolic"):
        keras.Model(inputs=a, outputs=np.zeros(3))


def test_symbolic_tensor_has_no_value():
    t = keras.Input(shape=(3,))
    with pytest.raises(TypeError, match="symbolic"):
        np.asarray(t)


def test_dense_rejects_bad_units_and_int_input():
    with pytest.raises(ValueError, match="units"):
        layers.Dense(0)
    ids = keras.Input(shape=(3,), dtype="int32")
    with pytest.raises(TypeError) as e:
        layers.Dense(2, name="d_int")(ids)
    assert '"d_int"' in str(e.value) and "int32" in str(e.value)


def test_unbuilt_sequential_export_says_how_to_build():
    """predict builds an unbuilt Sequential from x (as Keras does); export has no data to build from."""
    model = keras.Sequential([layers.Dense(2)])
    with pytest.raises(ValueError, match="build"):
        model.export("never_written.onnx")
    assert model.predict(np.zeros((1, 3), "float32")).shape == (1, 2)


def test_layer_name_with_slash_is_refused():
    with pytest.raises(ValueError, match="'/'"):
        layers.Dense(2, name="a/b")
