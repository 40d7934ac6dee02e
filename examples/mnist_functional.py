"""Seed 000 (main example): the MNIST model from the Functional API tutorial, end to end.

Build, summary, train with RMSprop and sparse cross-entropy, evaluate, save and reload, export ONNX.
Run: python examples/mnist_functional.py [--quick]
"""
import os

import numpy as np

import graphc as keras
from graphc import layers

from _common import is_quick, load_or_synthesize, workdir


def main(quick: bool = False) -> None:
    inputs = keras.Input(shape=(784,), name="img")
    x = layers.Dense(64, activation="relu")(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    model = keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")
    model.summary()

    n_train, n_test = (2048, 512) if quick else (60000, 10000)
    (x_train, y_train), (x_test, y_test) = load_or_synthesize("mnist", quick, n_train, n_test, (28, 28), 10)
    x_train = x_train.reshape(-1, 784).astype("float32") / 255
    x_test = x_test.reshape(-1, 784).astype("float32") / 255

    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.RMSprop(),
        metrics=["accuracy"],
    )
    history = model.fit(x_train, y_train, batch_size=64, epochs=2, validation_split=0.2)
    test_scores = model.evaluate(x_test, y_test, verbose=2)
    print("Test loss:", test_scores[0])
    print("Test accuracy:", test_scores[1])
    assert history.history["loss"][-1] < history.history["loss"][0]

    folder = workdir()
    path = os.path.join(folder, "mnist_model.graphc")
    model.save(path)
    before = model.predict(x_test[:16])
    del model
    model = keras.load_model(path)
    np.testing.assert_array_equal(before, model.predict(x_test[:16]))
    print("reloaded: predictions identical")

    onnx_path = os.path.join(folder, "mnist.onnx")
    model.export(onnx_path)
    print("exported", onnx_path)


if __name__ == "__main__":
    main(quick=is_quick())
