"""Seed 003: the Sequential model guide — calling on arrays, add/pop, lazy weights, summaries as a
model grows, and transfer learning with frozen layers.

Run: python examples/seed003_sequential_guide.py [--quick]
"""
import numpy as np

import graphc as keras
from graphc import layers

from _common import is_quick


def main(quick: bool = False) -> None:
    model = keras.Sequential([
        layers.Dense(2, activation="relu", name="layer1"),
        layers.Dense(3, activation="relu", name="layer2"),
        layers.Dense(4, name="layer3"),
    ])
    x = np.ones((3, 3), dtype="float32")
    y = model(x)
    layer1, layer2, layer3 = model.layers
    np.testing.assert_allclose(layer3(layer2(layer1(x))), y, rtol=1e-6)

    model = keras.Sequential()
    model.add(layers.Dense(2, activation="relu", name="layers 1"))
    model.add(layers.Dense(3, activation="relu"))
    model.add(layers.Dense(4))
    model.pop()
    print(len(model.layers))  # 2

    layer = layers.Dense(3)
    print(layer.weights)  # empty
    layer(np.ones((1, 4), dtype="float32"))
    print([w.shape for w in layer.weights])  # (4, 3) and (3,)

    model = keras.Sequential([layers.Dense(2, activation="relu"), layers.Dense(3, activation="relu"),
                              layers.Dense(4)])
    model(np.ones((1, 4), dtype="float32"))
    print("Number of weights after calling the model:", len(model.weights))  # 6
    model.summary()

    model = keras.Sequential()
    model.add(keras.Input(shape=(250, 250, 3)))
    model.add(layers.Conv2D(32, 5, strides=2, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    model.summary()
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(2))
    model.summary()
    model.add(layers.GlobalMaxPooling2D())
    model.add(layers.Dense(10))

    # feature extraction from the stack
    feature_extractor = keras.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
    features = feature_extractor(np.ones((1, 250, 250, 3), dtype="float32"))
    print("features:", len(features))

    # transfer learning: freeze all layers except the last
    model = keras.Sequential([keras.Input(shape=(784,)), layers.Dense(32, activation="relu"),
                              layers.Dense(32, activation="relu"), layers.Dense(32, activation="relu"),
                              layers.Dense(10)])
    for layer in model.layers[:-1]:
        layer.trainable = False
    frozen = [w.numpy() for layer in model.layers[:-1] for w in layer.weights]
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    n = 256 if quick else 2048
    model.fit(rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n), epochs=1, verbose=0)
    after = [w.numpy() for layer in model.layers[:-1] for w in layer.weights]
    assert all(np.array_equal(a, b) for a, b in zip(frozen, after))
    model.summary()


if __name__ == "__main__":
    main(quick=is_quick())
