"""Seed 000: the MNIST-shaped Functional model — build, summary, predict, export.

Run: python examples/mnist_functional.py [--quick]
"""
import os
import sys
import tempfile

import numpy as np

import graphc as keras
from graphc import layers


def main(quick: bool = False) -> None:
    inputs = keras.Input(shape=(784,), name="img")
    x = layers.Dense(64, activation="relu")(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    model = keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")
    model.summary()

    x_test = np.random.default_rng(0).random((256, 784), dtype=np.float32)
    y = model.predict(x_test, batch_size=64)
    print("predict:", y.shape)
    path = os.path.join(tempfile.mkdtemp(), "mnist.onnx")
    model.export(path)
    print("exported", path)
    print("eager call:", model(x_test[:3]).shape)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
