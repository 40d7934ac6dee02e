"""Parity: the seed 000 MLP trained by graphc's step graph vs forward, backward and optimizers written
in NumPy (float64) here, step by step, from the same initial weights and batches."""
import numpy as np
import pytest

import graphc as keras
from graphc import layers, losses, optimizers

STEPS = 20
BATCH = 32
RTOL = 1e-4


def mnist_mlp():
    inputs = keras.Input(shape=(784,))
    x = layers.Dense(64, activation="relu")(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")


def initial_weights(seed=0):
    rng = np.random.default_rng(seed)
    ws = []
    for fan_in, fan_out in ((784, 64), (64, 64), (64, 10)):
        lim = np.sqrt(6 / (fan_in + fan_out))
        ws += [rng.uniform(-lim, lim, (fan_in, fan_out)).astype(np.float32),
               rng.uniform(-0.1, 0.1, (fan_out,)).astype(np.float32)]
    return ws


def data(seed=1):
    rng = np.random.default_rng(seed)
    x = rng.random((STEPS * BATCH, 784)).astype(np.float32)
    y = rng.integers(0, 10, STEPS * BATCH)
    return x, y


# -- the NumPy reference ----------------------------------------------------------------------------
def np_loss_and_grads(ws, x, y):
    w1, b1, w2, b2, w3, b3 = ws
    z1 = x @ w1 + b1
    h1 = np.maximum(z1, 0)
    z2 = h1 @ w2 + b2
    h2 = np.maximum(z2, 0)
    z = h2 @ w3 + b3
    m = z.max(axis=1, keepdims=True)
    logp = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
    n = len(x)
    loss = -logp[np.arange(n), y].mean()
    dz = np.exp(logp)
    dz[np.arange(n), y] -= 1
    dz /= n
    dw3, db3 = h2.T @ dz, dz.sum(0)
    dh2 = dz @ w3.T * (z2 > 0)
    dw2, db2 = h1.T @ dh2, dh2.sum(0)
    dh1 = dh2 @ w2.T * (z1 > 0)
    dw1, db1 = x.T @ dh1, dh1.sum(0)
    return loss, [dw1, db1, dw2, db2, dw3, db3]


class NpSGD:
    def __init__(self, lr=0.01, momentum=0.0, nesterov=False):
        self.lr, self.mu, self.nesterov, self.m = lr, momentum, nesterov, None

    def step(self, ws, gs):
        if not self.mu:
            return [w - self.lr * g for w, g in zip(ws, gs)]
        if self.m is None:
            self.m = [np.zeros_like(w) for w in ws]
        out = []
        for i, (w, g) in enumerate(zip(ws, gs)):
            self.m[i] = self.mu * self.m[i] - self.lr * g
            out.append(w + self.mu * self.m[i] - self.lr * g if self.nesterov else w + self.m[i])
        return out


class NpAdam:
    def __init__(self, lr=0.001, b1=0.9, b2=0.999, eps=1e-7):
        self.lr, self.b1, self.b2, self.eps, self.t = lr, b1, b2, eps, 0
        self.m = self.v = None

    def step(self, ws, gs):
        if self.m is None:
            self.m = [np.zeros_like(w) for w in ws]
            self.v = [np.zeros_like(w) for w in ws]
        self.t += 1
        alpha = self.lr * np.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        out = []
        for i, (w, g) in enumerate(zip(ws, gs)):
            self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g
            self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * g * g
            out.append(w - alpha * self.m[i] / (np.sqrt(self.v[i]) + self.eps))
        return out


class NpRMSprop:
    def __init__(self, lr=0.001, rho=0.9, eps=1e-7):
        self.lr, self.rho, self.eps, self.v = lr, rho, eps, None

    def step(self, ws, gs):
        if self.v is None:
            self.v = [np.zeros_like(w) for w in ws]
        out = []
        for i, (w, g) in enumerate(zip(ws, gs)):
            self.v[i] = self.rho * self.v[i] + (1 - self.rho) * g * g
            out.append(w - self.lr * g / np.sqrt(self.v[i] + self.eps))
        return out


def run_numpy(opt, ws, x, y):
    ws = [w.astype(np.float64) for w in ws]
    losses_ = []
    for s in range(STEPS):
        xb, yb = x[s * BATCH:(s + 1) * BATCH].astype(np.float64), y[s * BATCH:(s + 1) * BATCH]
        loss, gs = np_loss_and_grads(ws, xb, yb)
        losses_.append(loss)
        ws = opt.step(ws, gs)
    return np.array(losses_), ws


def run_graphc(optimizer, ws, x, y, use_fit: bool):
    model = mnist_mlp()
    model.set_weights(ws)
    model.compile(optimizer=optimizer, loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    if use_fit:
        steps = []
        for s in range(STEPS):  # fit one batch at a time keeps per-step losses observable
            h = model.fit(x[s * BATCH:(s + 1) * BATCH], y[s * BATCH:(s + 1) * BATCH], batch_size=BATCH,
                          epochs=1, shuffle=False, verbose=0)
            steps.append(h.history["loss"][0])
        return np.array(steps), model.get_weights()
    got = [model.train_on_batch(x[s * BATCH:(s + 1) * BATCH], y[s * BATCH:(s + 1) * BATCH]) for s in range(STEPS)]
    return np.array(got), model.get_weights()


def assert_weights_close(got, want, what):
    for i, (g, w) in enumerate(zip(got, want)):
        scale = np.abs(w).max()
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=RTOL * scale, err_msg=f"{what}: weight {i}")


def assert_categorical_steps_match_numpy(model, ws, x, y1h, optimizer, np_opt, np_loss_and_grads, batch, what):
    """Trains ``model`` from weights ``ws`` one ``train_on_batch`` at a time (categorical CE from logits)
    and checks every step's loss and the final weights against ``np_loss_and_grads`` + ``np_opt``."""
    model.set_weights(ws)
    model.compile(optimizer=optimizer, loss=losses.CategoricalCrossentropy(from_logits=True))
    steps = len(x) // batch
    got = [model.train_on_batch(x[s * batch:(s + 1) * batch], y1h[s * batch:(s + 1) * batch]) for s in range(steps)]
    wref, want = [w.astype(np.float64) for w in ws], []
    for s in range(steps):
        loss, gs = np_loss_and_grads(wref, x[s * batch:(s + 1) * batch].astype(np.float64),
                                     y1h[s * batch:(s + 1) * batch])
        want.append(loss)
        wref = np_opt.step(wref, gs)
    np.testing.assert_allclose(got, want, rtol=RTOL, err_msg=f"{what}: losses")
    assert_weights_close(model.get_weights(), wref, what)


@pytest.mark.parametrize("name, make, ref", [
    ("sgd", lambda: optimizers.SGD(), lambda: NpSGD()),
    ("sgd_momentum_nesterov", lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
     lambda: NpSGD(0.05, 0.9, True)),
    ("adam", lambda: optimizers.Adam(), lambda: NpAdam()),
    ("rmsprop", lambda: optimizers.RMSprop(), lambda: NpRMSprop()),
])
def test_mlp_matches_numpy(name, make, ref):
    ws = initial_weights()
    x, y = data()
    want_losses, want_ws = run_numpy(ref(), ws, x, y)
    got_losses, got_ws = run_graphc(make(), ws, x, y, use_fit=False)
    np.testing.assert_allclose(got_losses, want_losses, rtol=RTOL, err_msg=f"{name}: losses")
    assert_weights_close(got_ws, want_ws, name)


def test_fit_steps_match_train_on_batch_and_numpy():
    ws = initial_weights()
    x, y = data()
    want_losses, want_ws = run_numpy(NpAdam(), ws, x, y)
    got_losses, got_ws = run_graphc(optimizers.Adam(), ws, x, y, use_fit=True)
    np.testing.assert_allclose(got_losses, want_losses, rtol=RTOL)
    assert_weights_close(got_ws, want_ws, "adam via fit")


def test_whole_epoch_fit_matches_numpy_and_keeps_optimizer_state():
    ws = initial_weights()
    x, y = data()
    want_losses, want_ws = run_numpy(NpAdam(), ws, x, y)
    model = mnist_mlp()
    model.set_weights(ws)
    model.compile(optimizer="adam", loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    hist = model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(hist.history["loss"][0], want_losses.mean(), rtol=RTOL)
    assert_weights_close(model.get_weights(), want_ws, "adam epoch")
    assert model.optimizer.iterations == STEPS
    state = model.optimizer.get_state()
    assert int(state["iterations"]) == STEPS
    assert state["dense_2/kernel/momentum"].shape == (64, 10)
