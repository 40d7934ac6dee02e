"""GradientTape custom loops (seed 004): gradients, apply_gradients, caching, values as numbers."""
import numpy as np
import pytest

import graphc as keras
from graphc import layers, losses, optimizers
from graphc.training import tape as tape_mod

from .test_parity import BATCH, data, initial_weights, mnist_mlp, np_loss_and_grads


class CustomModel(keras.Model):
    """Seed 004's subclassed model, small dense version."""

    def __init__(self, classes=10):
        super().__init__()
        self.fc1 = layers.Dense(32, activation="relu")
        self.fc2 = layers.Dense(classes, activation="softmax")

    def call(self, x):
        return self.fc2(self.fc1(x))


def test_gradients_match_numpy_backprop():
    ws = initial_weights()
    x, y = data()
    model = mnist_mlp()
    model.set_weights(ws)
    loss_fn = losses.SparseCategoricalCrossentropy(from_logits=True)
    with keras.GradientTape() as tape:
        logits = model(x[:BATCH], training=True)
        loss = loss_fn(y[:BATCH], logits)
    grads = tape.gradient(loss, model.trainable_variables)
    want_loss, want = np_loss_and_grads([w.astype(np.float64) for w in ws], x[:BATCH].astype(np.float64), y[:BATCH])
    np.testing.assert_allclose(float(loss), want_loss, rtol=1e-5)
    for g, w in zip(grads, want):
        assert isinstance(g, np.ndarray)
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6 * np.abs(w).max())
    assert logits.shape == (BATCH, 10)
    np.testing.assert_allclose(np.asarray(logits), model.predict(x[:BATCH], verbose=0), rtol=1e-5, atol=1e-6)


def test_seed_004_loop_loss_falls_and_second_step_reuses_the_compiled_graph():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((10, 20)) * 2
    y_all = rng.integers(0, 10, 640)
    x_all = (centers[y_all] + rng.standard_normal((640, 20))).astype(np.float32)
    model = CustomModel()
    loss_func = losses.SparseCategoricalCrossentropy()
    optimizer = optimizers.Adam()

    def train_step(features, labels):
        with keras.GradientTape() as tape:
            predictions = model(features)
            loss = loss_func(labels, predictions)
            gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    epoch_losses = []
    n_exes = None
    for epoch in range(4):
        batch_losses = []
        for i in range(0, 640, 32):
            # labels as float32, exactly as the seed feeds them
            loss = train_step(np.array(x_all[i:i + 32], dtype=np.float32), np.array(y_all[i:i + 32], dtype=np.float32))
            batch_losses.append(float(loss))
            if n_exes is None:
                n_exes = tape_mod.STATS["compiled"]
        epoch_losses.append(np.mean(batch_losses))
        text = "Epoch %d: last batch loss = %.4f" % (epoch, float(loss))
        assert text.startswith(f"Epoch {epoch}: last batch loss = ")
    assert tape_mod.STATS["compiled"] == n_exes  # no rebuild after the first step
    assert len(optimizer._apply_cache) == 1
    assert epoch_losses[-1] < 0.5 * epoch_losses[0]
    assert optimizer.iterations == 80


def test_apply_gradients_uses_the_same_rule_as_the_training_step():
    ws = initial_weights()
    x, y = data()
    a, b = mnist_mlp(), mnist_mlp()
    a.set_weights(ws)
    b.set_weights(ws)
    loss_fn = losses.SparseCategoricalCrossentropy(from_logits=True)
    opt = optimizers.Adam(0.01, amsgrad=True)
    b.compile(optimizer=optimizers.Adam(0.01, amsgrad=True), loss=loss_fn)
    for s in range(5):
        xb, yb = x[s * BATCH:(s + 1) * BATCH], y[s * BATCH:(s + 1) * BATCH]
        with keras.GradientTape() as tape:
            loss = loss_fn(yb, a(xb, training=True))
        opt.apply_gradients(zip(tape.gradient(loss, a.trainable_variables), a.trainable_variables))
        want = b.train_on_batch(xb, yb)
        np.testing.assert_allclose(float(loss), want, rtol=1e-5)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-7)
    sa, sb = opt.get_state(), b.optimizer.get_state()
    assert int(sa["iterations"]) == int(sb["iterations"]) == 5
    for (ka, va), (kb, vb) in zip(sorted(sa.items()), sorted(sb.items())):
        np.testing.assert_allclose(va, vb, rtol=1e-4, atol=1e-9)


def test_unconnected_variables_get_none_and_tape_rules():
    model = mnist_mlp()
    other = layers.Dense(3)
    other.build((None, 4))
    x = np.ones((2, 784), np.float32)
    with keras.GradientTape() as tape:
        loss = losses.MeanSquaredError()(np.zeros((2, 10), np.float32), model(x))
    grads = tape.gradient(loss, [model.trainable_variables[0], other.kernel])
    assert grads[0].shape == (784, 64) and grads[1] is None
    with pytest.raises(RuntimeError, match="persistent"):
        tape.gradient(loss, model.trainable_variables)
    with keras.GradientTape(persistent=True) as tape:
        loss = losses.MeanSquaredError()(np.zeros((2, 10), np.float32), model(x))
    g1 = tape.gradient(loss, model.trainable_variables)
    g2 = tape.gradient(loss, model.trainable_variables[-1])
    np.testing.assert_array_equal(g1[-1], g2)
    with pytest.raises(TypeError, match="target"):
        tape.gradient(1.0, model.trainable_variables)


def test_layer_calls_and_values_used_as_numbers_inside_the_tape():
    dense = layers.Dense(4)
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    with keras.GradientTape() as tape:
        h = dense(x)
        assert h.shape == (3, 4)
        eager = np.asarray(h)  # computed on demand while still recording
        loss = losses.MeanAbsoluteError()(np.zeros((3, 4), np.float32), h)
    np.testing.assert_allclose(eager, x @ dense.kernel.numpy() + dense.bias.numpy(), rtol=1e-5, atol=1e-6)
    (gk,) = tape.gradient(loss, [dense.kernel])
    np.testing.assert_allclose(gk, x.T @ np.sign(eager) / 12, rtol=1e-5, atol=1e-6)
    assert f"{loss:.3f}" == f"{np.abs(eager).mean():.3f}"


def test_arithmetic_on_recorded_values_is_differentiable():
    dense = layers.Dense(2)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    target = np.zeros((4, 2), np.float32)
    mse = losses.MeanSquaredError()
    with keras.GradientTape() as tape:
        out = dense(x)
        loss = mse(target, out) * 2.0 + 0.5 - mse(target, out) / 4.0
    (gk,) = tape.gradient(loss, [dense.kernel])
    pred = x @ dense.kernel.numpy() + dense.bias.numpy()
    np.testing.assert_allclose(float(loss), 1.75 * (pred ** 2).mean() + 0.5, rtol=1e-5)
    np.testing.assert_allclose(gk, 1.75 * 2 * x.T @ pred / pred.size, rtol=1e-5, atol=1e-6)
    with keras.GradientTape() as tape:
        neg = -(2.0 * dense(x))
    np.testing.assert_allclose(np.asarray(neg), -2 * pred, rtol=1e-5, atol=1e-6)


def test_changing_the_model_invalidates_the_cached_tape_graph():
    model = keras.Sequential([layers.Dense(4, activation="relu")])
    x = np.ones((2, 3), np.float32)
    mse = losses.MeanSquaredError()
    with keras.GradientTape() as tape:
        loss = mse(np.zeros((2, 4), np.float32), model(x))
    assert len(tape.gradient(loss, model.trainable_variables)) == 2
    model.add(layers.Dense(1))
    with keras.GradientTape() as tape:
        out = model(x)
        loss = mse(np.zeros((2, 1), np.float32), out)
    assert out.shape == (2, 1)
    grads = tape.gradient(loss, model.trainable_variables)
    assert [g.shape for g in grads] == [(3, 4), (4,), (4, 1), (1,)]


def test_numpy_operands_on_the_left_of_recorded_arithmetic_are_recorded_too():
    dense = layers.Dense(2)
    x = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    target = np.zeros((4, 2), np.float32)
    mse = losses.MeanSquaredError()
    with keras.GradientTape() as tape:
        out = dense(x)
        # np.float32 * value went through NumPy (the value as numbers): the penalty's gradient was lost
        loss = mse(target, out) + np.float32(0.5) * mse(target, out) - np.float64(0.25) * mse(target, out)
        scaled = np.array([1.0, -2.0], np.float32) * out
        assert isinstance(scaled, tape_mod.TapeTensor) and scaled.shape == (4, 2)
        assert isinstance(np.exp(out), np.ndarray)  # other NumPy functions compute on the values
    (gk,) = tape.gradient(loss, [dense.kernel])
    pred = x @ dense.kernel.numpy() + dense.bias.numpy()
    np.testing.assert_allclose(gk, 1.25 * 2 * x.T @ pred / pred.size, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(scaled), pred * [1.0, -2.0], rtol=1e-5, atol=1e-6)


def test_a_built_in_loss_made_anew_each_step_reuses_the_compiled_step():
    dense = layers.Dense(3)
    x = np.random.default_rng(2).standard_normal((4, 5)).astype(np.float32)
    y = np.array([0, 2, 1, 0])

    def step(loss_fn):
        with keras.GradientTape() as tape:
            loss = loss_fn(y, dense(x))
        return tape.gradient(loss, dense.trainable_variables)

    class Scaled(losses.Loss):  # a user loss: its call may read anything, so it is matched by identity
        factor = 1.0

        def call(self, y_true, y_pred):
            return keras.ops.mul(y_pred, np.float32(self.factor))

    want = step(losses.SparseCategoricalCrossentropy(from_logits=True))
    n = tape_mod.STATS["compiled"]
    for g, w in zip(step(losses.SparseCategoricalCrossentropy(from_logits=True)), want):
        np.testing.assert_array_equal(g, w)
    assert tape_mod.STATS["compiled"] == n
    step(losses.SparseCategoricalCrossentropy(from_logits=False))  # other arguments: another program
    assert tape_mod.STATS["compiled"] == n + 1
    a, b = Scaled(), Scaled()
    b.factor = 3.0
    ga, gb = step(a), step(b)
    assert tape_mod.STATS["compiled"] == n + 3
    np.testing.assert_allclose(gb[0], 3 * ga[0], rtol=1e-6)


def test_per_sample_loss_functions_on_recorded_values_are_recorded():
    dense = layers.Dense(3)
    x = np.random.default_rng(3).standard_normal((4, 5)).astype(np.float32)
    y = np.array([0, 2, 1, 0])
    grads = []
    for step in range(2):
        with keras.GradientTape(persistent=True) as tape:
            logits = dense(x)
            # positional from_logits as well: the same program
            per_sample = losses.sparse_categorical_crossentropy(y, logits, True) if step else \
                losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
            assert isinstance(per_sample, tape_mod.TapeTensor) and per_sample.shape == (4,)
            mean = losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits)
        grads.append(tape.gradient(per_sample, dense.kernel))
        np.testing.assert_allclose(grads[-1], 4 * tape.gradient(mean, dense.kernel), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(per_sample).mean(), float(mean), rtol=1e-6)
        if step == 0:
            n = tape_mod.STATS["compiled"]
    assert tape_mod.STATS["compiled"] == n
    with keras.GradientTape():
        assert losses.mse(np.zeros((4, 3), np.float32), dense(x)).shape == (4,)
    np.testing.assert_allclose(losses.mse(np.zeros((2, 3)), np.ones((2, 3))), [1.0, 1.0])  # NumPy in, NumPy out


def test_integer_and_boolean_arrays_in_recorded_arithmetic_compute_in_the_float_dtype():
    dense = layers.Dense(2)
    x = np.random.default_rng(4).standard_normal((3, 4)).astype(np.float32)
    keep = np.array([True, False, True])[:, None]
    with keras.GradientTape() as tape:
        out = dense(x)
        total = out * np.int64(2) + np.arange(2) * out - out * keep  # was a dtype error at the first
    assert total.dtype == "float32"
    pred = x @ dense.kernel.numpy() + dense.bias.numpy()
    np.testing.assert_allclose(np.asarray(total), pred * (2 + np.arange(2) - keep), rtol=1e-5, atol=1e-6)
    (gb,) = tape.gradient(total, [dense.bias])
    np.testing.assert_allclose(gb, (2 + np.arange(2) - keep).sum(0), rtol=1e-6)
