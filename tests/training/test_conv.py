"""Convolutional models: a residual CNN against a NumPy implementation (forward, backward, optimizers),
and the seed examples that train convnets: seed 004's three model styles, the toy ResNet, the
autoencoder and transfer learning with frozen layers."""
import numpy as np
import pytest

import graphc as keras
from graphc import layers, losses, optimizers
from seed_conv_models import toy_resnet

from .test_parity import NpAdam, NpRMSprop, NpSGD, assert_categorical_steps_match_numpy

STEPS, BATCH = 20, 16


# -- NumPy reference: NHWC, kernels (kh, kw, cin, cout), stride 1 -------------------------------------
def conv_fwd(x, w, b, pad):
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(xp, w.shape[:2], axis=(1, 2))  # n, oh, ow, c, kh, kw
    return np.einsum("nhwcij,ijco->nhwo", win, w) + b, win


def conv_bwd(dy, win, w, x_shape, pad):
    dw = np.einsum("nhwcij,nhwo->ijco", win, dy)
    db = dy.sum((0, 1, 2))
    n, h, wd, c = x_shape
    dxp = np.zeros((n, h + 2 * pad, wd + 2 * pad, c))
    oh, ow = dy.shape[1:3]
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            dxp[:, i:i + oh, j:j + ow, :] += np.einsum("nhwo,co->nhwc", dy, w[i, j])
    return dxp[:, pad:pad + h, pad:pad + wd, :], dw, db


def np_resnet_loss_and_grads(ws, x, y1h):
    """conv(valid)+relu -> conv(same)+relu -> add skip -> global average pool -> dense; CE from logits."""
    k1, b1, k2, b2, wd, bd = ws
    z1, win1 = conv_fwd(x, k1, b1, 0)
    a1 = np.maximum(z1, 0)
    z2, win2 = conv_fwd(a1, k2, b2, 1)
    a2 = np.maximum(z2, 0)
    s = a2 + a1
    pooled = s.mean((1, 2))
    logits = pooled @ wd + bd
    m = logits.max(1, keepdims=True)
    logp = logits - m - np.log(np.exp(logits - m).sum(1, keepdims=True))
    n = len(x)
    loss = -(y1h * logp).sum(1).mean()
    dlog = (np.exp(logp) - y1h) / n
    dwd, dbd = pooled.T @ dlog, dlog.sum(0)
    dpool = dlog @ wd.T
    ds = np.broadcast_to(dpool[:, None, None, :] / (s.shape[1] * s.shape[2]), s.shape)
    dz2 = ds * (z2 > 0)
    da1, dk2, db2 = conv_bwd(dz2, win2, k2, a1.shape, 1)
    da1 = da1 + ds
    dz1 = da1 * (z1 > 0)
    _, dk1, db1 = conv_bwd(dz1, win1, k1, x.shape, 0)
    return loss, [dk1, db1, dk2, db2, dwd, dbd]


def residual_cnn():
    inputs = keras.Input(shape=(8, 8, 3), name="img")
    x = layers.Conv2D(6, 3, activation="relu")(inputs)
    y = layers.Conv2D(6, 3, activation="relu", padding="same")(x)
    x = layers.add([y, x])
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(5)(x), name="residual_cnn")


@pytest.mark.parametrize("name, make, ref", [
    ("sgd", lambda: optimizers.SGD(0.1), lambda: NpSGD(0.1)),
    ("adam", lambda: optimizers.Adam(0.01), lambda: NpAdam(0.01)),
    ("rmsprop", lambda: optimizers.RMSprop(), lambda: NpRMSprop()),
])
def test_residual_cnn_matches_numpy(name, make, ref):
    rng = np.random.default_rng(0)
    model = residual_cnn()
    ws = [rng.uniform(-0.3, 0.3, w.shape).astype(np.float32) for w in model.get_weights()]
    x = rng.random((STEPS * BATCH, 8, 8, 3)).astype(np.float32)
    y1h = np.eye(5, dtype=np.float32)[rng.integers(0, 5, STEPS * BATCH)]
    assert_categorical_steps_match_numpy(model, ws, x, y1h, make(), ref(), np_resnet_loss_and_grads, BATCH, name)


# -- seed examples ------------------------------------------------------------------------------------
def blob_images(n=192, size=12, classes=4, seed=0):
    """A bright 3x3 blob in one of ``classes`` quadrant-like places; the class is where it is."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.random((n, size, size, 1)).astype(np.float32) * 0.3
    spots = [(2, 2), (2, size - 5), (size - 5, 2), (size - 5, size - 5)]
    for i, c in enumerate(y):
        r, q = spots[c]
        x[i, r:r + 3, q:q + 3, 0] += 1.0
    return x, y


class Seed004Model(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv_a = layers.Conv2D(8, 3, activation="relu")
        self.conv_b = layers.Conv2D(8, 3, activation="relu")
        self.flatten = layers.Flatten()
        self.fc = layers.Dense(16, activation="relu")
        self.head = layers.Dense(4, activation="softmax")

    def call(self, x):
        return self.head(self.fc(self.flatten(self.conv_b(self.conv_a(x)))))


def seed004_sequential():
    return keras.Sequential([layers.Conv2D(8, 3, activation="relu"), layers.Conv2D(8, 3, activation="relu"),
                             layers.Flatten(), layers.Dense(16, activation="relu"),
                             layers.Dense(4, activation="softmax")])


def seed004_functional():
    inputs = keras.Input(shape=(12, 12, 1))
    x = layers.Conv2D(8, 3, activation="relu")(inputs)
    x = layers.Conv2D(8, 3, activation="relu")(x)
    x = layers.Dense(16, activation="relu")(layers.Flatten()(x))
    return keras.Model(inputs=inputs, outputs=layers.Dense(4, activation="softmax")(x))


@pytest.mark.parametrize("make", [seed004_sequential, seed004_functional, Seed004Model],
                         ids=["sequential", "functional", "subclassed"])
def test_seed_004_three_styles_train(make):
    x, y = blob_images()
    model = make()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, epochs=5, batch_size=32, verbose=0)
    assert hist.history["loss"][-1] < 0.6 * hist.history["loss"][0]
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.8


def test_toy_resnet_with_to_categorical_and_dropout_trains():
    """Seed 000's toy ResNet (16x16 inputs to keep the test fast), RMSprop(1e-3), metrics ['acc']."""
    model = toy_resnet(size=16)
    rng = np.random.default_rng(0)
    y_int = rng.integers(0, 10, 200)
    x_train = (rng.random((200, 16, 16, 3)) * 0.2 + (y_int / 10.0)[:, None, None, None]).astype(np.float32)
    y_train = keras.utils.to_categorical(y_int, 10)
    model.compile(optimizer=optimizers.RMSprop(1e-3), loss=losses.CategoricalCrossentropy(from_logits=True),
                  metrics=["acc"])
    hist = model.fit(x_train, y_train, batch_size=32, epochs=5, validation_split=0.2, verbose=0)
    assert set(hist.history) == {"loss", "acc", "val_loss", "val_acc"}
    # Dropout(0.5) makes the training loss noisy over 25 steps; the validation loss is deterministic
    assert hist.history["loss"][-1] < hist.history["loss"][0], hist.history
    assert hist.history["val_loss"][-1] < 0.95 * hist.history["val_loss"][0], hist.history


def test_conv_autoencoder_mse_falls():
    inputs = keras.Input(shape=(12, 12, 1), name="img")
    x = layers.Conv2D(8, 3, activation="relu")(inputs)
    x = layers.Conv2D(4, 3, activation="relu")(x)
    x = layers.Conv2DTranspose(8, 3, activation="relu")(x)
    outputs = layers.Conv2DTranspose(1, 3)(x)
    model = keras.Model(inputs, outputs, name="autoencoder")
    x_img, _ = blob_images(128)
    model.compile(optimizer=optimizers.Adam(0.01), loss="mse")
    hist = model.fit(x_img, x_img, epochs=6, batch_size=32, verbose=0)
    assert hist.history["loss"][-1] < 0.3 * hist.history["loss"][0]


def test_transfer_learning_freezes_all_but_the_last_layer():
    """Seed 003: layer.trainable = False for every layer but the last; frozen weights do not change."""
    model = keras.Sequential([keras.Input(shape=(12, 12, 1)), layers.Conv2D(8, 3, activation="relu"),
                              layers.MaxPooling2D(2), layers.Conv2D(8, 3, activation="relu"),
                              layers.GlobalMaxPooling2D(), layers.Dense(4)])
    for layer in model.layers[:-1]:
        layer.trainable = False
    frozen = [w.numpy() for layer in model.layers[:-1] for w in layer.weights]
    x, y = blob_images()
    model.compile(optimizer="adam", loss=losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    hist = model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    after = [w.numpy() for layer in model.layers[:-1] for w in layer.weights]
    assert all(a.tobytes() == b.tobytes() for a, b in zip(frozen, after))
    assert len(model.trainable_weights) == 2
    assert sum(w.numpy().size for w in model.non_trainable_weights) == 80 + 584
