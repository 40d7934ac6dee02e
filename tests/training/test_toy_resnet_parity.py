"""Seed 000's toy ResNet, layer for layer, against an independent NumPy implementation.

The topology is the tutorial's (Conv2D, Conv2D, MaxPooling2D(3), two residual blocks of two 'same'
Conv2Ds joined by layers.add, Conv2D, GlobalAveragePooling2D, Dense(relu), Dropout, Dense) with fewer
channels and a smaller image so the NumPy reference stays quick. Dropout's rate is 0 here: its random
mask cannot be reproduced by an independent implementation (its gradient rule is checked against
finite differences in the op tests). 20 steps of SGD, Adam and RMSprop from the same initial weights
must give the NumPy losses and weights within 1e-4 relative. Adam runs at its default rate 1e-3:
at 3e-3 the float32 run and the float64 reference drift apart after ~8 steps, because Adam's
normalized update m/sqrt(v) turns float32 rounding in near-zero gradients into full-size steps.
"""
import numpy as np
import pytest

import graphc as keras
from graphc import layers, optimizers

from .test_conv import conv_bwd, conv_fwd
from .test_parity import NpAdam, NpRMSprop, NpSGD, assert_categorical_steps_match_numpy

STEPS, BATCH, SIZE, C, CLASSES = 20, 8, 16, 4, 5


def toy_resnet():
    inputs = keras.Input(shape=(SIZE, SIZE, 3), name="img")
    x = layers.Conv2D(C, 3, activation="relu")(inputs)
    x = layers.Conv2D(2 * C, 3, activation="relu")(x)
    block_1_output = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(2 * C, 3, activation="relu", padding="same")(block_1_output)
    x = layers.Conv2D(2 * C, 3, activation="relu", padding="same")(x)
    block_2_output = layers.add([x, block_1_output])
    x = layers.Conv2D(2 * C, 3, activation="relu", padding="same")(block_2_output)
    x = layers.Conv2D(2 * C, 3, activation="relu", padding="same")(x)
    block_3_output = layers.add([x, block_2_output])
    x = layers.Conv2D(2 * C, 3, activation="relu")(block_3_output)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(16, activation="relu")(x)
    x = layers.Dropout(0.0)(x)
    outputs = layers.Dense(CLASSES)(x)
    return keras.Model(inputs, outputs, name="toy_resnet")


def maxpool3_fwd(x):
    n, h, w, c = x.shape
    oh, ow = h // 3, w // 3
    win = x[:, :oh * 3, :ow * 3].reshape(n, oh, 3, ow, 3, c)
    y = win.max(axis=(2, 4))
    return y, (win, y, x.shape)


def maxpool3_bwd(dy, cache):
    win, y, shape = cache
    mask = win == y[:, :, None, :, None, :]
    # one winner per window (random float inputs: ties do not occur)
    dx_win = mask * dy[:, :, None, :, None, :]
    n, oh, _, ow, _, c = win.shape
    dx = np.zeros(shape)
    dx[:, :oh * 3, :ow * 3] = dx_win.reshape(n, oh * 3, ow * 3, c)
    return dx


def relu_conv(x, k, b, pad):
    z, win = conv_fwd(x, k, b, pad)
    return np.maximum(z, 0), (z, win, x.shape, k, pad)


def relu_conv_bwd(da, cache):
    z, win, x_shape, k, pad = cache
    dx, dk, db = conv_bwd(da * (z > 0), win, k, x_shape, pad)
    return dx, dk, db


def np_loss_and_grads(ws, x, y1h):
    k = ws[:14]
    w1, b1, w2, b2 = ws[14:]
    a1, c1 = relu_conv(x, k[0], k[1], 0)
    a2, c2 = relu_conv(a1, k[2], k[3], 0)
    p, cp = maxpool3_fwd(a2)
    a3, c3 = relu_conv(p, k[4], k[5], 1)
    a4, c4 = relu_conv(a3, k[6], k[7], 1)
    s2 = a4 + p
    a5, c5 = relu_conv(s2, k[8], k[9], 1)
    a6, c6 = relu_conv(a5, k[10], k[11], 1)
    s3 = a6 + s2
    a7, c7 = relu_conv(s3, k[12], k[13], 0)
    g = a7.mean((1, 2))
    zh = g @ w1 + b1
    h = np.maximum(zh, 0)
    logits = h @ w2 + b2
    m = logits.max(1, keepdims=True)
    logp = logits - m - np.log(np.exp(logits - m).sum(1, keepdims=True))
    n = len(x)
    loss = -(y1h * logp).sum(1).mean()
    dlog = (np.exp(logp) - y1h) / n
    dw2, db2 = h.T @ dlog, dlog.sum(0)
    dzh = (dlog @ w2.T) * (zh > 0)
    dw1, db1 = g.T @ dzh, dzh.sum(0)
    dg = dzh @ w1.T
    da7 = np.broadcast_to(dg[:, None, None, :] / (a7.shape[1] * a7.shape[2]), a7.shape)
    ds3, dk12, db12 = relu_conv_bwd(da7, c7)
    da5, dk10, db10 = relu_conv_bwd(ds3, c6)
    ds2_branch, dk8, db8 = relu_conv_bwd(da5, c5)
    ds2 = ds3 + ds2_branch
    da3, dk6, db6 = relu_conv_bwd(ds2, c4)
    dp_branch, dk4, db4 = relu_conv_bwd(da3, c3)
    dp = ds2 + dp_branch
    da2 = maxpool3_bwd(dp, cp)
    da1, dk2, db2c = relu_conv_bwd(da2, c2)
    _, dk0, db0 = relu_conv_bwd(da1, c1)
    grads = [dk0, db0, dk2, db2c, dk4, db4, dk6, db6, dk8, db8, dk10, db10, dk12, db12, dw1, db1, dw2, db2]
    return loss, grads


@pytest.mark.parametrize("name, make, ref", [
    ("sgd", lambda: optimizers.SGD(0.05), lambda: NpSGD(0.05)),
    ("adam", lambda: optimizers.Adam(1e-3), lambda: NpAdam(1e-3)),
    ("rmsprop", lambda: optimizers.RMSprop(1e-3), lambda: NpRMSprop(1e-3)),
])
def test_toy_resnet_matches_numpy(name, make, ref):
    rng = np.random.default_rng(1)
    model = toy_resnet()
    assert len(model.get_weights()) == 18
    ws = [rng.uniform(-0.4, 0.4, w.shape).astype(np.float32) for w in model.get_weights()]
    x = rng.random((STEPS * BATCH, SIZE, SIZE, 3)).astype(np.float32)
    y1h = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, STEPS * BATCH)]
    assert_categorical_steps_match_numpy(model, ws, x, y1h, make(), ref(), np_loss_and_grads, BATCH, name)
