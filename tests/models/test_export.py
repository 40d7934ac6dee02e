"""model.export(): deployable ONNX that matches predict, passes the full check, and runs any batch size."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import graphc as keras
from graphc import layers

ATOL = 1e-5  # float32 outputs of the same graph: exported file vs predict


def mnist_model():
    inputs = keras.Input(shape=(784,), name="img")
    x = layers.Dense(64, activation="relu")(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")


def ticket_classifier():
    title = keras.Input(shape=(10000,), name="title")
    text_body = keras.Input(shape=(10000,), name="text_body")
    tags = keras.Input(shape=(100,), name="tags")
    features = layers.concatenate([title, text_body, tags])
    features = layers.Dense(64, activation="relu")(features)
    priority = layers.Dense(1, activation="sigmoid", name="priority")(features)
    department = layers.Dense(4, activation="softmax", name="department")(features)
    return keras.Model(inputs=[title, text_body, tags], outputs=[priority, department])


def session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_mnist_export_matches_predict_for_batch_1_7_256(tmp_path):
    model = mnist_model()
    path = tmp_path / "mnist.onnx"
    model.export(str(path))
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.ir_version == 9
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", 17)]
    sess = session(path)
    assert [i.name for i in sess.get_inputs()] == ["img"]
    assert [o.name for o in sess.get_outputs()] == ["dense_2"]
    batch_dim = sess.get_inputs()[0].shape[0]
    assert isinstance(batch_dim, str), "the batch dimension must be symbolic"
    rng = np.random.default_rng(0)
    for n in (1, 7, 256):
        x = rng.random((n, 784), dtype=np.float32)
        (y,) = sess.run(None, {"img": x})
        assert y.shape == (n, 10)
        np.testing.assert_allclose(y, model.predict(x, batch_size=64), atol=ATOL, rtol=ATOL)


def test_export_matches_numpy_reference(tmp_path):
    model = mnist_model()
    path = tmp_path / "m.onnx"
    model.export(str(path))
    x = np.random.default_rng(1).random((5, 784), dtype=np.float32)
    w = model.get_weights()
    h = np.maximum(x @ w[0] + w[1], 0)
    h = np.maximum(h @ w[2] + w[3], 0)
    expected = h @ w[4] + w[5]
    (y,) = session(path).run(None, {"img": x})
    np.testing.assert_allclose(y, expected, atol=ATOL, rtol=1e-4)


def test_multi_input_multi_output_names(tmp_path):
    model = ticket_classifier()
    path = tmp_path / "ticket.onnx"
    model.export(str(path))
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    sess = session(path)
    assert [i.name for i in sess.get_inputs()] == ["title", "text_body", "tags"]
    assert [o.name for o in sess.get_outputs()] == ["priority", "department"]
    rng = np.random.default_rng(2)
    feeds = {"title": rng.integers(0, 2, (7, 10000)).astype("float32"),
             "text_body": rng.integers(0, 2, (7, 10000)).astype("float32"),
             "tags": rng.integers(0, 2, (7, 100)).astype("float32")}
    priority, department = sess.run(None, feeds)
    expected = model.predict(feeds)
    np.testing.assert_allclose(priority, expected[0], atol=ATOL, rtol=ATOL)
    np.testing.assert_allclose(department, expected[1], atol=ATOL, rtol=ATOL)
    assert priority.shape == (7, 1) and department.shape == (7, 4)


def test_opset_21_and_ir_version_10_on_request(tmp_path):
    model = mnist_model()
    path = tmp_path / "m21.onnx"
    model.export(str(path), opset=21, ir_version=10)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.ir_version == 10
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", 21)]
    x = np.random.default_rng(3).random((7, 784), dtype=np.float32)
    (y,) = session(path).run(None, {"img": x})
    np.testing.assert_allclose(y, model.predict(x), atol=ATOL, rtol=ATOL)


def test_node_names_come_from_scopes(tmp_path):
    model = mnist_model()
    path = tmp_path / "m.onnx"
    model.export(str(path))
    names = [n.name for n in onnx.load(str(path)).graph.node]
    for layer in ("dense", "dense_1", "dense_2"):
        assert any(name.startswith(f"mnist_model/{layer}/") for name in names), names


def test_sequential_and_subclassed_export(tmp_path):
    seq = keras.Sequential([layers.Dense(8, activation="relu"), layers.Dense(3)], name="seq")
    seq.build((None, 5))

    class Sub(keras.Model):
        def __init__(self):
            super().__init__(name="sub")
            self.a = layers.Dense(8, activation="tanh")
            self.b = layers.Dense(2)

        def call(self, x, training=None):
            return self.b(self.a(x))

    sub = Sub()
    sub.build((None, 5))
    x = np.random.default_rng(4).random((7, 5), dtype=np.float32)
    for model in (seq, sub):
        path = tmp_path / f"{model.name}.onnx"
        model.export(str(path))
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
        sess = session(path)
        for n in (1, 7):
            (y,) = sess.run(None, {sess.get_inputs()[0].name: x[:n]})
            np.testing.assert_allclose(y, model.predict(x[:n]), atol=ATOL, rtol=ATOL)


def test_export_rejects_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="format"):
        mnist_model().export(str(tmp_path / "m.tflite"), format="tflite")
