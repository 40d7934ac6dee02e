"""Seed 002: three ways to build models — Sequential (list, add, build), named models, and the
Functional three-input ticket classifier trained with lists or dicts; plot_model; layer inspection.

Run: python examples/seed002_keras_apis.py [--quick]
"""
import os

import numpy as np

import graphc as keras
from graphc import layers

from _common import is_quick, workdir


def main(quick: bool = False) -> None:
    model = keras.Sequential([layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])
    model = keras.Sequential()
    model.add(layers.Dense(64, activation="relu"))
    model.add(layers.Dense(10, activation="softmax"))
    print("weights before build:", model.weights)
    model.build(input_shape=(None, 3))
    print("weights after build:", [w.shape for w in model.weights])
    model.summary()

    model = keras.Sequential(name="my_example_model")
    model.add(layers.Dense(64, activation="relu", name="my_first_layer"))
    model.add(layers.Dense(10, activation="softmax", name="my_last_layer"))
    model.build((None, 3))
    model.summary()

    model = keras.Sequential()
    model.add(keras.Input(shape=(3,)))
    model.add(layers.Dense(64, activation="relu"))
    model.summary()

    inputs = keras.Input(shape=(3,), name="my_input")
    features = layers.Dense(64, activation="relu")(inputs)
    outputs = layers.Dense(10, activation="softmax")(features)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.summary()

    vocabulary_size, num_tags, num_departments = 10000, 100, 4
    title = keras.Input(shape=(vocabulary_size,), name="title")
    text_body = keras.Input(shape=(vocabulary_size,), name="text_body")
    tags = keras.Input(shape=(num_tags,), name="tags")
    features = layers.concatenate([title, text_body, tags])
    features = layers.Dense(64, activation="relu")(features)
    priority = layers.Dense(1, activation="sigmoid", name="priority")(features)
    department = layers.Dense(num_departments, activation="softmax", name="department")(features)
    model = keras.Model(inputs=[title, text_body, tags], outputs=[priority, department])
    model.summary()

    num_samples = 128 if quick else 1280
    rng = np.random.default_rng(0)
    title_data = rng.integers(0, 2, size=(num_samples, vocabulary_size))
    text_body_data = rng.integers(0, 2, size=(num_samples, vocabulary_size))
    tags_data = rng.integers(0, 2, size=(num_samples, num_tags))
    priority_data = rng.random(size=(num_samples, 1))
    department_data = rng.integers(0, 2, size=(num_samples, num_departments))

    model.compile(optimizer="rmsprop", loss=["mean_squared_error", "categorical_crossentropy"],
                  metrics=[["mean_absolute_error"], ["accuracy"]])
    model.fit([title_data, text_body_data, tags_data], [priority_data, department_data], epochs=1)
    model.evaluate([title_data, text_body_data, tags_data], [priority_data, department_data])
    priority_preds, department_preds = model.predict([[title_data, text_body_data, tags_data]])

    model.compile(optimizer="rmsprop",
                  loss={"priority": "mean_squared_error", "department": "categorical_crossentropy"},
                  metrics={"priority": ["mean_absolute_error"], "department": ["accuracy"]})
    data = {"title": title_data, "text_body": text_body_data, "tags": tags_data}
    targets = {"priority": priority_data, "department": department_data}
    model.fit(data, targets, epochs=1)
    model.evaluate(data, targets)
    priority_preds, department_preds = model.predict(data)
    print("predictions:", priority_preds.shape, department_preds.shape)

    folder = workdir()
    keras.utils.plot_model(model, os.path.join(folder, "ticket_classifier.png"))
    keras.utils.plot_model(model, os.path.join(folder, "ticket_classifier_shapes.png"), show_shapes=True)
    print(model.layers)
    print(model.layers[3].input)
    print(model.layers[3].output)


if __name__ == "__main__":
    main(quick=is_quick())
