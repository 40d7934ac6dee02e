"""Training continues from a saved archive exactly: same optimizer state, same step count, same weights.

* save after some steps, load, train on: the loss of every following step and the final weights
  equal those of the run that never stopped;
* a fit killed midway (a callback raising) and resumed with ``load_model`` + ``fit(initial_epoch=)``
  from ModelCheckpoint's file reaches the weights of an uninterrupted run with the same seed.
"""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import graphc
from graphc import layers

optimizers = pytest.importorskip("graphc.optimizers")
callbacks = pytest.importorskip("graphc.callbacks")


def build(optimizer="rmsprop"):
    graphc.clear_session()
    graphc.set_random_seed(7)
    inputs = graphc.Input(shape=(20,))
    x = layers.Dense(16, activation="relu")(inputs)
    x = layers.Dense(16, activation="relu")(x)
    outputs = layers.Dense(5)(x)
    model = graphc.Model(inputs, outputs, name="mnist_model")
    model.compile(optimizer=optimizer, loss=graphc.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def data(n=96):
    rng = np.random.default_rng(0)
    return rng.random((n, 20), dtype=np.float32), rng.integers(0, 5, n).astype(np.int64)


class LossPerStep(graphc.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(logs["loss"])


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam", "sgd"])
def test_next_steps_after_load_equal_uninterrupted_run(optimizer, tmp_path):
    x, y = data()
    model = build(optimizer)
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    model.save(tmp_path / "m.graphc")
    after = LossPerStep()
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[after])

    loaded = graphc.load_model(tmp_path / "m.graphc")
    assert loaded.compiled and type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.iterations == 6
    resumed = LossPerStep()
    loaded.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[resumed])
    assert resumed.losses == after.losses
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 12


def test_archive_holds_compile_config_and_optimizer_state(tmp_path):
    x, y = data()
    model = build("adam")
    model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    model.save(tmp_path / "m.graphc")
    with zipfile.ZipFile(tmp_path / "m.graphc") as zf:
        config = json.loads(zf.read("config.json"))
        manifest = json.loads(zf.read("optimizer/manifest.json"))
    assert config["compile_config"]["optimizer"]["class_name"] == "Adam"
    assert config["compile_config"]["metrics"] == {"list": ["accuracy"]}
    assert manifest["iterations"] == 3
    keys = {e["key"] for e in manifest["state"]}
    assert "iterations" in keys and any(k.endswith("/m") or k.endswith("/momentum") or "/" in k for k in keys)
    state = model.optimizer.get_state()
    loaded = graphc.load_model(tmp_path / "m.graphc")
    for k, v in loaded.optimizer.get_state().items():
        np.testing.assert_array_equal(v, state[k])
    uncompiled = graphc.load_model(tmp_path / "m.graphc", compile=False)
    assert not uncompiled.compiled


def test_function_loss_saves_without_compile_config(tmp_path):
    model = build()

    def my_loss(y_true, y_pred):
        return graphc.ops.reduce_mean(graphc.ops.mul(y_pred, y_pred), axes=[-1])

    model.compile(optimizer="sgd", loss=my_loss)
    with pytest.warns(RuntimeWarning, match="without its compile config"):
        model.save(tmp_path / "f.graphc")
    assert not graphc.load_model(tmp_path / "f.graphc").compiled


class Crash(graphc.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt("power cut")


@pytest.mark.parametrize("save_weights_only,optimizer", [(False, "rmsprop"), (False, "adam"), (True, "sgd")])
def test_killed_fit_resumes_to_the_same_weights(save_weights_only, optimizer, tmp_path):
    """Full checkpoints carry the optimizer state; weights-only ones suffice for a stateless optimizer."""
    x, y = data()
    reference = build(optimizer)
    reference.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)

    ext = ".weights.graphc" if save_weights_only else ".graphc"
    ckpt = str(tmp_path / f"ckpt{ext}")
    model = build(optimizer)
    checkpoint = graphc.callbacks.ModelCheckpoint(ckpt, save_weights_only=save_weights_only)
    # the crash callback runs after ModelCheckpoint has written epoch 2's file
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0, callbacks=[checkpoint, Crash(1)])
    del model

    if save_weights_only:
        resumed = build(optimizer)
        resumed.load_weights(ckpt)
    else:
        resumed = graphc.load_model(ckpt)
        assert resumed.optimizer.iterations == 12
    resumed.fit(x, y, batch_size=16, epochs=4, initial_epoch=2, shuffle=False, verbose=0)
    for a, b in zip(reference.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_seeded_shuffle_resume_matches(tmp_path):
    """With shuffle=True the order comes from graphc's seeded generator: re-seeding and replaying the
    generator's draws for the finished epochs reproduces the uninterrupted order."""
    x, y = data()
    reference = build()
    graphc.set_random_seed(99)
    reference.fit(x, y, batch_size=16, epochs=3, shuffle=True, verbose=0)

    model = build()
    graphc.set_random_seed(99)
    model.fit(x, y, batch_size=16, epochs=1, shuffle=True, verbose=0)
    model.save(tmp_path / "m.graphc")
    rng_state = graphc.backend.rng().bit_generator.state
    resumed = graphc.load_model(tmp_path / "m.graphc")
    graphc.backend.rng().bit_generator.state = rng_state
    resumed.fit(x, y, batch_size=16, epochs=3, initial_epoch=1, shuffle=True, verbose=0)
    for a, b in zip(reference.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def _ticket_model():
    graphc.clear_session()
    graphc.set_random_seed(5)
    title = graphc.Input(shape=(30,), name="title")
    body = graphc.Input(shape=(30,), name="text_body")
    tags = graphc.Input(shape=(6,), name="tags")
    features = layers.Dense(8, activation="relu")(layers.Concatenate()([title, body, tags]))
    priority = layers.Dense(1, activation="sigmoid", name="priority")(features)
    department = layers.Dense(4, activation="softmax", name="department")(features)
    model = graphc.Model(inputs=[title, body, tags], outputs=[priority, department])
    model.compile(optimizer="adam",
                  loss={"priority": "mean_squared_error", "department": "categorical_crossentropy"},
                  loss_weights=[1.0, 0.2], metrics={"priority": ["mean_absolute_error"], "department": ["accuracy"]})
    rng = np.random.default_rng(1)
    x = {"title": rng.random((32, 30), dtype=np.float32), "text_body": rng.random((32, 30), dtype=np.float32),
         "tags": rng.random((32, 6), dtype=np.float32)}
    y = {"priority": rng.random((32, 1), dtype=np.float32),
         "department": np.eye(4, dtype=np.float32)[rng.integers(0, 4, 32)]}
    return model, x, y


def _conv_bn_model():
    graphc.clear_session()
    graphc.set_random_seed(6)
    model = graphc.Sequential([graphc.Input(shape=(10, 10, 1)), layers.Conv2D(4, 3, activation="relu"),
                               layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(8),
                               layers.BatchNormalization(), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(2)
    return model, rng.random((32, 10, 10, 1), dtype=np.float32), rng.integers(0, 3, 32).astype(np.int64)


@pytest.mark.parametrize("make", [_ticket_model, _conv_bn_model], ids=["ticket_multi_output", "conv_batchnorm"])
def test_seed_models_continue_training_after_load(make, tmp_path):
    """Dict losses, loss weights and per-output metrics (seed 002), and BatchNormalization's moving
    statistics (non-trainable state) come back: the next epoch is identical."""
    try:
        model, x, y = make()
    except (AttributeError, ImportError, NotImplementedError) as e:
        pytest.skip(f"needs layers or losses not in the tree: {e}")
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    model.save(tmp_path / "m.graphc")
    expected = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    loaded = graphc.load_model(tmp_path / "m.graphc")
    got = loaded.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    assert got == expected
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_writes_keras_weights_files(tmp_path):
    pytest.importorskip("h5py")
    x, y = data()
    model = build("sgd")
    ckpt = str(tmp_path / "ckpt-{epoch:02d}.weights.h5")
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
              callbacks=[graphc.callbacks.ModelCheckpoint(ckpt, save_weights_only=True)])
    fresh = build("sgd")
    fresh.load_weights(str(tmp_path / "ckpt-02.weights.h5"))
    for a, b in zip(model.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
