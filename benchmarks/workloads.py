"""The three training workloads of the speed benchmark, defined once per framework.

W1: seed 000 MLP 784-64-64-10, sparse CE from logits, RMSprop, batch 64.
W2: seed 004 CNN on 28x28x1: Conv2D 32 -> Conv2D 64 -> Flatten -> Dense 128 -> Dense 10 softmax,
    sparse CE, Adam, batch 32.
W3: seed 000 toy ResNet on 32x32x3, categorical CE from logits, RMSprop, batch 64.
"""
from __future__ import annotations

import numpy as np

WORKLOADS = {
    "W1": dict(batch=64, x_shape=(784,), classes=10, desc="MLP 784-64-64-10, RMSprop, batch 64"),
    "W2": dict(batch=32, x_shape=(28, 28, 1), classes=10, desc="CNN 28x28x1, Adam, batch 32"),
    "W3": dict(batch=64, x_shape=(32, 32, 3), classes=10, desc="toy ResNet 32x32x3, RMSprop, batch 64"),
}


def data(name: str, steps: int, seed: int = 0):
    w = WORKLOADS[name]
    rng = np.random.default_rng(seed)
    n = w["batch"] * steps
    x = rng.random((n,) + w["x_shape"], dtype=np.float32)
    y = rng.integers(0, w["classes"], n).astype(np.int64)
    return x, y


def keras_like_model(keras, layers, name: str):
    """Builds the workload with a Keras-compatible API (graphc or Keras 3) and compiles it."""
    if name == "W1":
        inputs = keras.Input(shape=(784,))
        x = layers.Dense(64, activation="relu")(inputs)
        x = layers.Dense(64, activation="relu")(x)
        outputs = layers.Dense(10)(x)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer=keras.optimizers.RMSprop(),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    elif name == "W2":
        inputs = keras.Input(shape=(28, 28, 1))
        x = layers.Conv2D(32, 3, activation="relu")(inputs)
        x = layers.Conv2D(64, 3, activation="relu")(x)
        x = layers.Flatten()(x)
        x = layers.Dense(128, activation="relu")(x)
        outputs = layers.Dense(10, activation="softmax")(x)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    else:
        inputs = keras.Input(shape=(32, 32, 3), name="img")
        x = layers.Conv2D(32, 3, activation="relu")(inputs)
        x = layers.Conv2D(64, 3, activation="relu")(x)
        block_1_output = layers.MaxPooling2D(3)(x)
        x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_1_output)
        x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
        block_2_output = layers.add([x, block_1_output])
        x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_2_output)
        x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
        block_3_output = layers.add([x, block_2_output])
        x = layers.Conv2D(64, 3, activation="relu")(block_3_output)
        x = layers.GlobalAveragePooling2D()(x)
        x = layers.Dense(256, activation="relu")(x)
        x = layers.Dropout(0.5)(x)
        outputs = layers.Dense(10)(x)
        model = keras.Model(inputs, outputs, name="toy_resnet")
        model.compile(optimizer=keras.optimizers.RMSprop(1e-3),
                      loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    return model


def torch_model(name: str, dropout: bool = True):
    """The workload in PyTorch (NCHW). ``dropout=False`` leaves W3's Dropout out (onnxruntime-training's
    artifact builder has no training-flag input)."""
    import torch
    from torch import nn

    if name == "W1":
        return nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    if name == "W2":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.Flatten(),
                             nn.Linear(24 * 24 * 64, 128), nn.ReLU(), nn.Linear(128, 10))

    class ToyResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(3, 32, 3), nn.Conv2d(32, 64, 3)
            self.pool = nn.MaxPool2d(3)
            self.c3, self.c4 = nn.Conv2d(64, 64, 3, padding=1), nn.Conv2d(64, 64, 3, padding=1)
            self.c5, self.c6 = nn.Conv2d(64, 64, 3, padding=1), nn.Conv2d(64, 64, 3, padding=1)
            self.c7 = nn.Conv2d(64, 64, 3)
            self.fc1, self.fc2 = nn.Linear(64, 256), nn.Linear(256, 10)
            self.drop = nn.Dropout(0.5) if dropout else nn.Identity()

        def forward(self, x):
            r = torch.relu
            b1 = self.pool(r(self.c2(r(self.c1(x)))))
            b2 = r(self.c4(r(self.c3(b1)))) + b1
            b3 = r(self.c6(r(self.c5(b2)))) + b2
            x = r(self.c7(b3)).mean(dim=(2, 3))
            return self.fc2(self.drop(r(self.fc1(x))))

    return ToyResNet()


def labels_for(name: str, y: np.ndarray) -> np.ndarray:
    if name == "W3":
        return np.eye(10, dtype=np.float32)[y]
    return y


def conv_flops(h, w, cin, cout, k, stride=1, pad=0):
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w + 2 * pad - k) // stride + 1
    return 2 * oh * ow * cin * cout * k * k, oh, ow


def train_flops_per_step(name: str) -> float:
    """Forward multiply-adds x2, times 3 for forward + both backward products (dX and dW)."""
    w = WORKLOADS[name]
    b = w["batch"]
    if name == "W1":
        fwd = 2 * (784 * 64 + 64 * 64 + 64 * 10)
    elif name == "W2":
        f1, h, ww = conv_flops(28, 28, 1, 32, 3)
        f2, h, ww = conv_flops(h, ww, 32, 64, 3)
        fwd = f1 + f2 + 2 * (h * ww * 64 * 128 + 128 * 10)
    else:
        f1, h, ww = conv_flops(32, 32, 3, 32, 3)
        f2, h, ww = conv_flops(h, ww, 32, 64, 3)
        h, ww = (h - 3) // 3 + 1, (ww - 3) // 3 + 1
        same = 4 * conv_flops(h, ww, 64, 64, 3, pad=1)[0]
        f7, h, ww = conv_flops(h, ww, 64, 64, 3)
        fwd = f1 + f2 + same + f7 + 2 * (64 * 256 + 256 * 10)
    return 3.0 * fwd * b
