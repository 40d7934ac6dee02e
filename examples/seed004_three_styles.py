"""Seed 004: the same CNN as Sequential, Functional and subclassed models; a GradientTape training
loop; and the 100-class labels on a 10-unit head that graphc refuses with a clear message.

Run: python examples/seed004_three_styles.py [--quick]
"""
import time

import numpy as np

import graphc as keras

from _common import is_quick, load_or_synthesize


def sequential_model():
    return keras.Sequential([
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


def functional_model():
    inputs = keras.Input(shape=(28, 28, 1))
    x = keras.layers.Conv2D(32, 3, activation="relu")(inputs)
    x = keras.layers.Conv2D(64, 3, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(128, activation="relu")(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


class kerasModel(keras.Model):
    def __init__(self):
        super().__init__()
        self.Conv2D32 = keras.layers.Conv2D(32, 3, activation="relu")
        self.Conv2D64 = keras.layers.Conv2D(64, 3, activation="relu")
        self.Flatten = keras.layers.Flatten()
        self.Dense128 = keras.layers.Dense(128, activation="relu")
        self.Dense = keras.layers.Dense(10, activation="softmax")

    def call(self, x):
        x = self.Conv2D32(x)
        x = self.Conv2D64(x)
        x = self.Flatten(x)
        x = self.Dense128(x)
        return self.Dense(x)


class CustomModel(keras.Model):
    def __init__(self, classes=100):
        super().__init__()
        self.conv1 = keras.layers.Conv2D(16, 3, activation="relu")
        self.maxpool1 = keras.layers.MaxPool2D((2, 2))
        self.conv2 = keras.layers.Conv2D(32, 3, activation="relu")
        self.maxpool2 = keras.layers.MaxPool2D((2, 2))
        self.flatten = keras.layers.Flatten()
        self.fc1 = keras.layers.Dense(256, activation="relu")
        self.fc2 = keras.layers.Dense(classes, activation="softmax")

    def call(self, x):
        x = self.conv1(x)
        x = self.maxpool1(x)
        x = self.conv2(x)
        x = self.maxpool2(x)
        x = self.flatten(x)
        x = self.fc1(x)
        return self.fc2(x)


def main(quick: bool = False) -> None:
    n_train, n_test = (256, 64) if quick else (60000, 10000)
    (x_train, y_train), (x_test, y_test) = load_or_synthesize("mnist", quick, n_train, n_test, (28, 28), 10)
    x_train, x_test = x_train / 255.0, x_test / 255.0
    x_train, x_test = x_train[..., np.newaxis], x_test[..., np.newaxis]
    epochs = 1 if quick else 5
    for build in (sequential_model, functional_model, kerasModel):
        model = build()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x_train, y_train, epochs=epochs)
        print(build.__name__, model.evaluate(x_test, y_test, verbose=2))

    n_train, n_test = (128, 32) if quick else (50000, 10000)
    (x_train, y_train), (x_test, y_test) = load_or_synthesize("cifar100", quick, n_train, n_test, (32, 32, 3), 100)
    x_train, x_test = x_train / 255.0, x_test / 255.0

    # the tutorial's 10-unit head on 100-class labels: Keras prints loss: nan; graphc refuses up front
    wrong = kerasModel()
    wrong.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    try:
        wrong.fit(x_train, y_train, epochs=1)
    except ValueError as e:
        print("refused:", e)

    model = CustomModel()
    loss_func = keras.losses.SparseCategoricalCrossentropy()
    optimizer = keras.optimizers.Adam()

    def train_step(features, labels):
        with keras.GradientTape() as tape:
            predictions = model(features)
            loss = loss_func(labels, predictions)
            gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    batch_size = 32
    start = time.time()
    for epoch in range(1 if quick else 5):
        for i in range(0, len(x_train) - batch_size + 1, batch_size):
            loss = train_step(np.array(x_train[i:i + batch_size], dtype=np.float32),
                              np.array(y_train[i:i + batch_size], dtype=np.float32))
        print("Epoch %d: last batch loss = %.4f" % (epoch, float(loss)))
    print("It took {} seconds".format(time.time() - start))


if __name__ == "__main__":
    main(quick=is_quick())
