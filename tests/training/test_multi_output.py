"""Multi-input, multi-output models (the seed 001/002 ticket models): losses, loss_weights and metrics as
lists, nested lists or dicts; data as lists or dicts keyed by input/output names."""
import numpy as np
import pytest

import graphc as keras
from graphc import layers, losses


def ticket_classifier(vocab=50, tags=8, departments=4):
    """Seed 002's ticket classifier, small."""
    title = keras.Input(shape=(vocab,), name="title")
    text_body = keras.Input(shape=(vocab,), name="text_body")
    tags_in = keras.Input(shape=(tags,), name="tags")
    features = layers.concatenate([title, text_body, tags_in])
    features = layers.Dense(32, activation="relu")(features)
    priority = layers.Dense(1, activation="sigmoid", name="priority")(features)
    department = layers.Dense(departments, activation="softmax", name="department")(features)
    return keras.Model(inputs=[title, text_body, tags_in], outputs=[priority, department])


def ticket_data(n=256, vocab=50, tags=8, departments=4, seed=0):
    rng = np.random.default_rng(seed)
    title = rng.integers(0, 2, (n, vocab)).astype(np.float32)
    body = rng.integers(0, 2, (n, vocab)).astype(np.float32)
    tag = rng.integers(0, 2, (n, tags)).astype(np.float32)
    priority = (title[:, :5].sum(1) > 2).astype(np.float32)[:, None]
    department = (body[:, :departments] * np.arange(1, departments + 1)).argmax(1)
    return (title, body, tag), (priority, department)


def test_dict_losses_with_loss_weights_learn_and_log_per_output():
    (title, body, tag), (priority, department) = ticket_data()
    model = ticket_classifier()
    model.compile(optimizer=keras.optimizers.RMSprop(0.003),
                  loss={"priority": "binary_crossentropy", "department": "sparse_categorical_crossentropy"},
                  loss_weights=[1.0, 0.2],
                  metrics={"priority": ["accuracy"], "department": ["accuracy"]})
    hist = model.fit({"title": title, "text_body": body, "tags": tag},
                     {"priority": priority, "department": department}, epochs=8, batch_size=32, verbose=0)
    h = hist.history
    assert set(h) == {"loss", "priority_loss", "department_loss", "priority_accuracy", "department_accuracy"}
    assert h["loss"][-1] < 0.6 * h["loss"][0]
    # the total is the weighted sum of the per-output losses
    for i in range(8):
        np.testing.assert_allclose(h["loss"][i], h["priority_loss"][i] + 0.2 * h["department_loss"][i], rtol=1e-5)
    res = model.evaluate([title, body, tag], [priority, department], verbose=0, return_dict=True)
    assert res["priority_accuracy"] > 0.8


def test_list_losses_and_nested_list_metrics_match_dict_form():
    (title, body, tag), (priority, department) = ticket_data(64)
    a, b = ticket_classifier(), ticket_classifier()
    b.set_weights(a.get_weights())
    a.compile(optimizer="sgd", loss=[losses.BinaryCrossentropy(), losses.SparseCategoricalCrossentropy()],
              loss_weights={"priority": 1.0, "department": 0.2},
              metrics=[["accuracy"], ["accuracy"]])
    b.compile(optimizer="sgd", loss={"priority": "binary_crossentropy", "department": "sparse_categorical_crossentropy"},
              loss_weights=[1.0, 0.2], metrics={"priority": "accuracy", "department": "accuracy"})
    ra = a.fit([title, body, tag], [priority, department], epochs=2, shuffle=False, verbose=0).history
    rb = b.fit({"title": title, "text_body": body, "tags": tag}, {"priority": priority, "department": department},
               epochs=2, shuffle=False, verbose=0).history
    assert ra.keys() == rb.keys()
    for k in ra:
        np.testing.assert_allclose(ra[k], rb[k], rtol=1e-6)
    assert a.metrics_names == ["loss", "priority_loss", "department_loss", "priority_accuracy",
                               "department_accuracy"]


def test_output_without_a_loss_is_not_trained_on():
    (title, body, tag), (priority, department) = ticket_data(64)
    model = ticket_classifier()
    model.compile(optimizer="adam", loss={"priority": "binary_crossentropy"})
    hist = model.fit([title, body, tag], {"priority": priority}, epochs=1, verbose=0)
    assert set(hist.history) == {"loss", "priority_loss"}
    head = model.get_layer("department")
    before = [w.numpy() for w in head.weights]
    model.fit([title, body, tag], {"priority": priority}, epochs=1, verbose=0)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, head.weights))


def test_target_errors_name_the_output():
    (title, body, tag), (priority, department) = ticket_data(32)
    model = ticket_classifier()
    model.compile(optimizer="adam", loss=["binary_crossentropy", "sparse_categorical_crossentropy"])
    with pytest.raises(ValueError, match="department"):
        model.fit([title, body, tag], {"priority": priority}, verbose=0)
    with pytest.raises(KeyError, match="nope"):
        model.fit([title, body, tag], {"priority": priority, "nope": department}, verbose=0)
    bad = department.copy()
    bad[5] = 7
    with pytest.raises(ValueError, match=r"label 7 at y\['department'\]\[5\] is out of range for 4 classes"):
        model.fit([title, body, tag], [priority, bad], verbose=0)


def test_seed_001_ticket_model_with_embeddings_and_lstms_trains():
    """Seed 001: variable-length word ids, Embedding + LSTM per text input, two heads."""
    vocab, tags_n = 100, 12
    title_in = keras.Input(shape=(None,), name="title")
    body_in = keras.Input(shape=(None,), name="body")
    tags_in = keras.Input(shape=(tags_n,), name="tags")
    title_f = layers.LSTM(16)(layers.Embedding(vocab, 8)(title_in))
    body_f = layers.LSTM(8)(layers.Embedding(vocab, 8)(body_in))
    x = layers.concatenate([title_f, body_f, tags_in])
    priority = layers.Dense(1, activation="sigmoid", name="priority")(x)
    department = layers.Dense(4, activation="softmax", name="department")(x)
    model = keras.Model([title_in, body_in, tags_in], [priority, department])
    model.compile(optimizer=keras.optimizers.RMSprop(0.01),
                  loss={"priority": "binary_crossentropy", "department": "categorical_crossentropy"},
                  loss_weights=[1.0, 0.2])
    rng = np.random.default_rng(0)
    n = 64
    title = rng.integers(0, vocab, (n, 10))
    body = rng.integers(0, vocab, (n, 20))
    tags = rng.integers(0, 2, (n, tags_n)).astype(np.float32)
    priority_t = (title[:, 0] < 50).astype(np.float32)[:, None]
    dept = np.eye(4, dtype=np.float32)[tags[:, :4].argmax(1)]
    hist = model.fit({"title": title, "body": body, "tags": tags}, {"priority": priority_t, "department": dept},
                     epochs=6, batch_size=16, verbose=0)
    assert hist.history["loss"][-1] < 0.8 * hist.history["loss"][0]
