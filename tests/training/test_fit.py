"""compile / fit / evaluate / train_on_batch behaviour: learning, logs, History, validation, batching,
frozen layers, callbacks, weights and errors."""

import numpy as np
import pytest

import graphc as keras
from graphc import callbacks, layers, losses, optimizers


def blobs(n=512, d=20, k=4, seed=0):
    """Learnable synthetic classification data: k Gaussian clusters."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, d)) * 3
    y = rng.integers(0, k, n)
    x = (centers[y] + rng.standard_normal((n, d))).astype(np.float32)
    return x, y


def mlp(d=20, k=4, name=None):
    inputs = keras.Input(shape=(d,))
    h = layers.Dense(32, activation="relu")(inputs)
    h = layers.Dense(32, activation="relu")(h)
    return keras.Model(inputs, layers.Dense(k)(h), name=name)


def test_fit_learns_and_reports_history_with_validation_split():
    x, y = blobs()
    model = mlp()
    model.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), optimizer=optimizers.RMSprop(),
                  metrics=["accuracy"])
    hist = model.fit(x, y, batch_size=64, epochs=4, validation_split=0.2, verbose=0)
    assert hist is model.history
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 4 for v in hist.history.values())
    assert hist.epoch == [0, 1, 2, 3]
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    assert hist.history["val_accuracy"][-1] > 0.9
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.9 and loss < hist.history["loss"][0]
    d = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(d) == ["loss", "accuracy"]
    assert model.metrics_names == ["loss", "accuracy"]


def test_validation_split_uses_the_last_rows_and_validation_data_matches_it():
    x, y = blobs(200)
    a, b = mlp(), mlp()
    b.set_weights(a.get_weights())
    for m in (a, b):
        m.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="sgd", metrics=["acc"])
    ha = a.fit(x, y, batch_size=32, epochs=2, validation_split=0.25, shuffle=False, verbose=0)
    hb = b.fit(x[:150], y[:150], batch_size=32, epochs=2, validation_data=(x[150:], y[150:]), shuffle=False,
               verbose=0)
    for key in ("loss", "acc", "val_loss", "val_acc"):
        np.testing.assert_allclose(ha.history[key], hb.history[key], rtol=1e-6)


def test_evaluate_without_metrics_returns_a_scalar_and_matches_numpy():
    x, y = blobs(100)
    model = mlp()
    model.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="adam")
    got = model.evaluate(x, y, batch_size=30, verbose=0)
    assert isinstance(got, float)
    z = model.predict(x, verbose=0).astype(np.float64)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    np.testing.assert_allclose(got, -logp[np.arange(100), y].mean(), rtol=1e-5)


def test_last_partial_batch_runs_in_the_same_session():
    x, y = blobs(100)
    model = mlp()
    model.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="adam")
    model.fit(x, y, batch_size=32, epochs=2, verbose=0)  # 32, 32, 32, 4 rows per epoch
    ts = model._train_state
    session = ts.executor.session
    assert ts.executor.steps == 8
    assert model.optimizer.iterations == 8
    model.fit(x[:7], y[:7], batch_size=5, epochs=1, verbose=0)
    assert model._train_state.executor.session is session
    assert model.optimizer.iterations == 10


def test_frozen_layers_are_bit_identical_after_fit_and_counted_non_trainable():
    x, y = blobs()
    model = mlp()
    frozen = model.layers[1:3]
    for layer in frozen:
        layer.trainable = False
    before = [w.numpy() for layer in frozen for w in layer.weights]
    head_before = [w.numpy() for w in model.layers[3].weights]
    model.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="adam")
    model.fit(x, y, batch_size=64, epochs=2, verbose=0)
    after = [w.numpy() for layer in frozen for w in layer.weights]
    for a, b in zip(before, after):
        assert a.tobytes() == b.tobytes()
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(head_before, model.layers[3].weights))
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 4
    assert "optimizer/dense/kernel/momentum" not in model.optimizer.get_state()


def test_unfreezing_after_compile_rebuilds_the_step():
    x, y = blobs(64)
    model = mlp()
    model.layers[1].trainable = False
    model.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="sgd")
    model.fit(x, y, epochs=1, verbose=0)
    k0 = model.layers[1].kernel.numpy()
    model.layers[1].trainable = True
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(k0, model.layers[1].kernel.numpy())


def test_set_weights_between_fits_is_uploaded():
    x, y = blobs(64)
    model = mlp()
    model.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), optimizer=optimizers.SGD(0.0))
    model.fit(x, y, epochs=1, verbose=0)
    zeros = [np.zeros_like(w) for w in model.get_weights()]
    model.set_weights(zeros)
    model.fit(x, y, epochs=1, verbose=0)  # lr 0: the weights stay what we set
    assert all(np.array_equal(w, z) for w, z in zip(model.get_weights(), zeros))
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), np.log(4), rtol=1e-6)


def test_train_on_batch_and_test_on_batch():
    x, y = blobs(64)
    model = mlp()
    model.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="adam",
                  metrics=["accuracy"])
    first = model.train_on_batch(x, y)
    assert isinstance(first, list) and len(first) == 2
    for _ in range(30):
        last = model.train_on_batch(x, y, return_dict=True)
    assert last["loss"] < first[0]
    t = model.test_on_batch(x, y, return_dict=True)
    assert set(t) == {"loss", "accuracy"} and t["loss"] < first[0]


def test_sample_weight_and_class_weight():
    x, y = blobs(64)
    model = mlp()
    model.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="sgd")
    z = model.predict(x, verbose=0).astype(np.float64)
    per = -(z - np.log(np.exp(z).sum(1, keepdims=True)))[np.arange(64), y]
    w = (np.arange(64) % 3).astype(np.float32)
    got = model.evaluate(x, y, sample_weight=w, batch_size=64, verbose=0)
    np.testing.assert_allclose(got, (per * w).mean(), rtol=1e-5)
    cw = {0: 2.0, 1: 0.5, 2: 1.0, 3: 0.0}
    got = model.test_on_batch(x, y, sample_weight=np.array([cw[k] for k in y], np.float32))
    np.testing.assert_allclose(got, (per * np.array([cw[k] for k in y])).mean(), rtol=1e-5)
    # class_weight weights the training loss the same way
    hist = model.fit(x, y, batch_size=64, epochs=1, class_weight=cw, verbose=0, shuffle=False)
    np.testing.assert_allclose(hist.history["loss"][0], got, rtol=1e-5)


def test_callbacks_stop_training_and_change_the_learning_rate():
    x, y = blobs(128)
    model = mlp()
    model.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), optimizer=optimizers.SGD(0.1))

    class StopAfterTwo(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    hist = model.fit(x, y, epochs=10, verbose=0, callbacks=[StopAfterTwo()])
    assert len(hist.history["loss"]) == 2
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: 0.0)
    w0 = model.get_weights()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[sched])
    assert model.optimizer.learning_rate == 0.0
    assert all(np.array_equal(a, b) for a, b in zip(w0, model.get_weights()))


def test_initial_epoch_and_verbose_progress_line(capsys):
    x, y = blobs(64)
    model = mlp()
    model.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="adam",
                  metrics=["accuracy"])
    hist = model.fit(x, y, epochs=3, initial_epoch=1, verbose=2)
    assert hist.epoch == [1, 2]
    out = capsys.readouterr().out
    assert "Epoch 2/3" in out and "loss:" in out and "accuracy:" in out


def test_learning_rate_schedule_is_fed_each_step():
    x, y = blobs(64)
    ws = mlp().get_weights()
    sched = optimizers.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    a = mlp()
    a.set_weights(ws)
    a.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), optimizer=optimizers.SGD(sched))
    b = mlp()
    b.set_weights(ws)
    b.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), optimizer=optimizers.SGD(0.1))
    for step in range(3):
        a.train_on_batch(x, y)
        b.optimizer.learning_rate = 0.1 * 0.5 ** step
        b.train_on_batch(x, y)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6, atol=1e-7)
    assert a.optimizer.learning_rate == pytest.approx(0.1 * 0.5 ** 3)
    with pytest.raises(TypeError, match="schedule"):
        a.optimizer.learning_rate = 0.5


def test_regression_losses_and_metrics():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 5)).astype(np.float32)
    y = (x @ rng.standard_normal((5, 1)) + 0.5).astype(np.float32)
    inputs = keras.Input(shape=(5,))
    model = keras.Model(inputs, layers.Dense(1)(inputs))
    model.compile(optimizer=optimizers.Adam(0.05), loss="mse", metrics=["mae"])
    hist = model.fit(x, y[:, 0], epochs=20, batch_size=32, verbose=0)  # (n,) targets for a (n, 1) output
    assert hist.history["loss"][-1] < 0.05 * hist.history["loss"][0]
    assert set(hist.history) == {"loss", "mae"}


def test_cuda_request_falls_back_to_cpu_with_a_warning():
    import runtime

    if "CUDAExecutionProvider" in runtime.available_providers():
        pytest.skip("CUDA is available here")
    x, y = blobs(64)
    model = mlp()
    model.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="adam", device="cuda")
    with pytest.warns(RuntimeWarning, match="CUDA"):
        model.fit(x, y, epochs=1, verbose=0)
    assert model._train_state.executor.device == "cpu"


# -- errors ---------------------------------------------------------------------------------------
class Seed004Model(keras.Model):
    """Seed 004's subclassed model whose Dense(10) head meets 100-class labels."""

    def __init__(self):
        super().__init__()
        self.fc1 = layers.Dense(16, activation="relu")
        self.fc2 = layers.Dense(10, activation="softmax")

    def call(self, x):
        return self.fc2(self.fc1(x))


def test_out_of_range_labels_are_an_error_before_training():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 8)).astype(np.float32)
    y = rng.integers(0, 10, 50)
    y[3] = 57
    y[9] = 99
    model = Seed004Model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    with pytest.raises(ValueError) as e:
        model.fit(x, y, epochs=1, verbose=0)
    msg = str(e.value)
    assert "label 57" in msg and "y[3]" in msg and "10 classes" in msg and "99" in msg
    assert model.optimizer.iterations == 0
    with pytest.raises(ValueError, match="label 57"):
        model.evaluate(x, y, verbose=0)
    with pytest.raises(ValueError, match="label -1 at y\\[0\\]"):
        model.train_on_batch(x[:2], np.array([-1, 2]))


def test_nan_loss_stops_fit_naming_epoch_and_step():
    x, y = blobs(128)
    x[70] = np.nan  # third batch of 32 in the second epoch... and the first
    model = mlp()
    w0 = model.get_weights()
    model.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="sgd")
    with pytest.raises(FloatingPointError, match="epoch 1, step 3"):
        model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    # the weights are those after step 2, finite, and the optimizer counted two steps
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    assert model.optimizer.iterations == 2
    twin = mlp()
    twin.set_weights(w0)
    twin.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="sgd")
    twin.fit(x[:64], y[:64], batch_size=32, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_data_errors_are_clear():
    x, y = blobs(64)
    model = mlp()
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(x, y)
    model.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="adam")
    with pytest.raises(ValueError, match="expected"):
        model.fit(x[:, :5], y, verbose=0)
    with pytest.raises(ValueError, match="rows"):
        model.fit(x, y[:10], verbose=0)
    with pytest.raises(ValueError, match="CategoricalCrossentropy"):
        model.fit(x, np.eye(4)[y], verbose=0)  # one-hot targets for a sparse loss
    with pytest.raises(ValueError, match="integer class labels"):
        model.fit(x, y + 0.5, verbose=0)
    cat = mlp()
    cat.compile(loss=losses.CategoricalCrossentropy(from_logits=True), optimizer="adam")
    with pytest.raises(ValueError, match="to_categorical"):
        cat.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        cat.fit(x, np.eye(4)[y], batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="Unknown loss"):
        cat.compile(loss="nope")


def test_compile_config_round_trip():
    x, y = blobs(64)
    model = mlp()
    model.compile(optimizer=optimizers.Adam(0.01, amsgrad=True),
                  loss=losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    cfg = model.get_compile_config()
    import json

    json.dumps(cfg)  # plain data
    twin = mlp()
    twin.set_weights(model.get_weights())
    twin.compile_from_config(cfg)
    assert isinstance(twin.optimizer, optimizers.Adam) and twin.optimizer.amsgrad
    a = model.fit(x, y, epochs=1, shuffle=False, verbose=0).history
    b = twin.fit(x, y, epochs=1, shuffle=False, verbose=0).history
    assert a == b


def test_models_sharing_layers_see_each_others_training():
    """Seed 000: an encoder used inside an autoencoder; both are trained in turn."""
    enc_in = keras.Input(shape=(8,))
    encoder = keras.Model(enc_in, layers.Dense(3, activation="tanh")(enc_in), name="encoder")
    ae_in = keras.Input(shape=(8,))
    auto = keras.Model(ae_in, layers.Dense(8)(encoder(ae_in)), name="autoencoder")
    x = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
    codes = np.random.default_rng(1).standard_normal((64, 3)).astype(np.float32) * 0.5
    auto.compile(optimizer=optimizers.SGD(0.0), loss="mse")  # lr 0: the autoencoder never changes weights
    encoder.compile(optimizer="adam", loss="mse")
    auto.fit(x, x, epochs=1, verbose=0)
    w0 = encoder.get_weights()
    twin_in = keras.Input(shape=(8,))
    twin = keras.Model(twin_in, layers.Dense(3, activation="tanh")(twin_in))
    twin.set_weights(w0)
    twin.compile(optimizer="adam", loss="mse")
    for _ in range(3):  # train_on_batch leaves the newest weights on the encoder's device, unsynced
        encoder.train_on_batch(x, codes)
        twin.train_on_batch(x, codes)
    w1 = twin.get_weights()
    assert not np.array_equal(w0[0], w1[0])
    # the autoencoder's device copy is stale now: it must take the encoder's weights, not write old ones back
    auto.fit(x, x, epochs=1, verbose=0)
    for a, b in zip(encoder.get_weights(), w1):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    dec = auto.layers[-1].get_weights()
    want = np.tanh(x @ w1[0] + w1[1]) @ dec[0] + dec[1]
    np.testing.assert_allclose(auto.evaluate(x, x, verbose=0), ((want - x) ** 2).mean(), rtol=1e-5)
    # and the other way round: the encoder sees what the autoencoder trained
    auto.optimizer.learning_rate = 0.1
    auto.fit(x, x, epochs=1, verbose=0)
    w2 = [w.numpy() for w in auto.layers[1].weights]
    np.testing.assert_allclose(encoder.predict(x, verbose=0), np.tanh(x @ w2[0] + w2[1]), rtol=1e-5, atol=1e-6)
    assert not np.array_equal(w2[0], w1[0])


def test_fully_frozen_model_warns_and_keeps_its_weights():
    x, y = blobs(32)
    model = mlp()
    model.trainable = False
    model.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="adam")
    w = model.get_weights()
    with pytest.warns(UserWarning, match="no trainable weights"):
        model.fit(x, y, epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(w, model.get_weights()))


def test_early_stopping_restores_best_weights_and_next_fit_starts_from_them():
    x, y = blobs(128)
    model = mlp()
    model.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), optimizer=optimizers.SGD(2.0))

    class Snapshots(callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.weights, self.val = [], []

        def on_epoch_end(self, epoch, logs=None):
            self.weights.append(self.model.get_weights())  # reading syncs the device state mid-fit
            self.val.append(logs["val_loss"])

    snaps = Snapshots()
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    hist = model.fit(x, y, epochs=8, validation_split=0.25, verbose=0, callbacks=[snaps, stop])
    best = int(np.argmin(snaps.val))
    for a, b in zip(model.get_weights(), snaps.weights[best]):
        np.testing.assert_array_equal(a, b)
    assert len(hist.history["loss"]) == len(snaps.val)
    # the restored weights (set on the host after fit) are what the next step starts from
    model.optimizer.learning_rate = 0.0
    model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(model.get_weights(), snaps.weights[best]):
        np.testing.assert_array_equal(a, b)


def test_fit_leaves_the_state_on_the_device_until_read():
    """fit does not copy the state to the host at its end (fit called epoch by epoch would pay a copy
    of every weight and slot per call); reading any weight brings all of them home."""
    x, y = blobs(64)
    model = mlp()
    model.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="adam")
    model.fit(x, y, epochs=1, verbose=0)
    before = [v._value.copy() for v in model.weights]
    model.fit(x, y, epochs=1, verbose=0)
    ts = model._train_state
    assert ts.dirty and all(v._sync_hook is not None for v in model.trainable_weights)
    assert all(np.array_equal(a, v._value) for a, v in zip(before, model.weights))  # not copied yet
    after = model.get_weights()
    assert not ts.dirty and not any(np.array_equal(a, b) for a, b in zip(before, after))


def test_a_weight_assigned_after_fit_survives_reading_another():
    """Assigning one layer's weights after fit, then reading another layer's (which syncs the device
    state home): the assignment wins, and the next step starts from it."""
    x, y = blobs(64)
    model = mlp()
    model.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), optimizer=optimizers.SGD(0.1))
    model.fit(x, y, epochs=1, verbose=0)
    first, last = model.layers[1], model.layers[-1]
    mine = [np.full(w.shape, 0.5, np.float32) for w in first.weights]
    for w, m in zip(first.weights, mine):
        w.assign(m)  # no read before it: the other Variables still wait for their sync
    trained_last = last.get_weights()  # syncs the device state into every Variable
    for a, b in zip(first.get_weights(), mine):
        np.testing.assert_array_equal(a, b)
    model.optimizer.learning_rate = 0.0
    model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(first.get_weights(), mine):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(last.get_weights(), trained_last):
        np.testing.assert_array_equal(a, b)
