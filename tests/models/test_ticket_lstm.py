"""Seed 001's ticket model: title and body word ids of any length, Embedding + LSTM per text, tags,
two heads. Total params 1,392,097; one model serves title length 10 and body length 100 and others."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest

import graphc as keras
from graphc import layers

NUM_TAGS, NUM_WORDS, NUM_DEPARTMENTS = 12, 10000, 4


def build_ticket_model():
    title_input = keras.Input(shape=(None,), name="title")
    body_input = keras.Input(shape=(None,), name="body")
    tags_input = keras.Input(shape=(NUM_TAGS,), name="tags")
    title_features = layers.Embedding(NUM_WORDS, 64)(title_input)
    body_features = layers.Embedding(NUM_WORDS, 64)(body_input)
    title_features = layers.LSTM(128)(title_features)
    body_features = layers.LSTM(32)(body_features)
    x = layers.concatenate([title_features, body_features, tags_input])
    priority_pred = layers.Dense(1, activation="sigmoid", name="priority")(x)
    department_pred = layers.Dense(NUM_DEPARTMENTS, activation="softmax", name="department")(x)
    return keras.Model(inputs=[title_input, body_input, tags_input], outputs=[priority_pred, department_pred])


def _data(n, title_len, body_len, seed=0):
    rng = np.random.default_rng(seed)
    return {"title": rng.integers(NUM_WORDS, size=(n, title_len)),
            "body": rng.integers(NUM_WORDS, size=(n, body_len)),
            "tags": rng.integers(2, size=(n, NUM_TAGS)).astype("float32")}


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _numpy_ticket(model, data):
    """The whole model in NumPy with Keras' LSTM equations (gate order i, f, c, o)."""
    w = {v.path: v.numpy().astype(np.float64) for v in model.weights}

    def lstm(x, name, u):
        k, r, b = w[f"{name}/kernel"], w[f"{name}/recurrent_kernel"], w[f"{name}/bias"]
        h = np.zeros((x.shape[0], u))
        c = np.zeros((x.shape[0], u))
        for t in range(x.shape[1]):
            z = x[:, t] @ k + h @ r + b
            i, f, g, o = _sigmoid(z[:, :u]), _sigmoid(z[:, u:2 * u]), np.tanh(z[:, 2 * u:3 * u]), _sigmoid(z[:, 3 * u:])
            c = f * c + i * g
            h = o * np.tanh(c)
        return h

    title = lstm(w["embedding/embeddings"][data["title"]], "lstm", 128)
    body = lstm(w["embedding_1/embeddings"][data["body"]], "lstm_1", 32)
    x = np.concatenate([title, body, data["tags"]], axis=1)
    p = _sigmoid(x @ w["priority/kernel"] + w["priority/bias"])
    z = x @ w["department/kernel"] + w["department/bias"]
    e = np.exp(z - z.max(1, keepdims=True))
    return p, e / e.sum(1, keepdims=True)


def test_ticket_model_parameter_count_and_shapes():
    model = build_ticket_model()
    assert model.count_params() == 1_392_097
    counts = {layer.name: layer.count_params() for layer in model.layers}
    assert counts == {"title": 0, "body": 0, "tags": 0, "embedding": 640_000, "embedding_1": 640_000,
                      "lstm": 98_816, "lstm_1": 12_416, "concatenate": 0, "priority": 173, "department": 692}
    assert model.get_layer("lstm").output.shape == (None, 128)
    assert model.get_layer("concatenate").output.shape == (None, 172)
    assert [t.shape for t in model.outputs] == [(None, 1), (None, 4)]


@pytest.mark.parametrize("title_len,body_len", [(10, 100), (3, 7), (1, 1), (25, 40)])
def test_ticket_model_predicts_any_length_in_one_model(title_len, body_len):
    model = build_ticket_model()
    data = _data(6, title_len, body_len, seed=title_len)
    priority, department = model.predict(data)
    assert priority.shape == (6, 1) and department.shape == (6, 4)
    expect_p, expect_d = _numpy_ticket(model, data)
    np.testing.assert_allclose(priority, expect_p, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(department, expect_d, rtol=1e-4, atol=1e-5)


def test_ticket_model_one_executable_serves_both_lengths():
    model = build_ticket_model()
    a = model.predict(_data(4, 10, 100))
    exe = model._executable()
    b = model.predict(_data(4, 12, 90, seed=1))
    assert model._executable() is exe
    assert a[0].shape == b[0].shape == (4, 1)


def test_ticket_model_out_of_range_word_id():
    model = build_ticket_model()
    data = _data(3, 10, 100)
    data["body"][1, 42] = NUM_WORDS
    with pytest.raises(ValueError, match=r"id 10000 at position \(1, 42\) is out of range \[0, 10000\)"):
        model.predict(data)


def test_ticket_model_export_full_check_and_matches_predict(tmp_path):
    model = build_ticket_model()
    path = str(tmp_path / "ticket.onnx")
    model.export(path)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    ops = {n.op_type for n in proto.graph.node}
    assert "LSTM" in ops and "Gather" in ops
    assert all(not n.domain for n in proto.graph.node)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["title", "body", "tags"]
    for title_len, body_len in ((10, 100), (5, 17)):
        data = _data(3, title_len, body_len, seed=body_len)
        feeds = {k: v.astype(np.float32) for k, v in data.items()}
        got = session.run(None, feeds)
        expect = model.predict(data)
        for g, e in zip(got, expect):
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
