"""Seed 001: multi-input, multi-output ticket model with Embedding + LSTM, trained with loss dicts
and loss weights on variable-length text; feature extraction from VGG19.

Run: python examples/seed001_ticket_lstm.py [--quick]
"""
import numpy as np

import graphc as keras
from graphc import layers

from _common import is_quick


def main(quick: bool = False) -> None:
    num_tags, num_words, num_departments = 12, 10000, 4
    title_input = keras.Input(shape=(None,), name="title")
    body_input = keras.Input(shape=(None,), name="body")
    tags_input = keras.Input(shape=(num_tags,), name="tags")
    title_features = layers.Embedding(num_words, 64)(title_input)
    body_features = layers.Embedding(num_words, 64)(body_input)
    title_features = layers.LSTM(128)(title_features)
    body_features = layers.LSTM(32)(body_features)
    x = layers.concatenate([title_features, body_features, tags_input])
    priority_pred = layers.Dense(1, activation="sigmoid", name="priority")(x)
    department_pred = layers.Dense(num_departments, activation="softmax", name="department")(x)
    model = keras.Model(inputs=[title_input, body_input, tags_input], outputs=[priority_pred, department_pred])
    model.summary()

    model.compile(optimizer=keras.optimizers.RMSprop(1e-3),
                  loss={"priority": "binary_crossentropy", "department": "categorical_crossentropy"},
                  loss_weights=[1.0, 0.2])
    n = 128 if quick else 1280
    rng = np.random.default_rng(0)
    title_data = rng.integers(num_words, size=(n, 10))
    body_data = rng.integers(num_words, size=(n, 100 if not quick else 20))
    tags_data = rng.integers(2, size=(n, num_tags)).astype("float32")
    priority_targets = rng.random(size=(n, 1))
    dept_targets = rng.integers(2, size=(n, num_departments))
    model.fit({"title": title_data, "body": body_data, "tags": tags_data},
              {"priority": priority_targets, "department": dept_targets}, epochs=2, batch_size=32)

    if quick:
        vgg19 = keras.applications.VGG19(include_top=False, input_shape=(64, 64, 3))
        img = rng.random((1, 64, 64, 3)).astype("float32")
    else:
        vgg19 = keras.applications.VGG19()
        img = rng.random((1, 224, 224, 3)).astype("float32")
    features_list = [layer.output for layer in vgg19.layers]
    feat_extraction_model = keras.Model(inputs=vgg19.input, outputs=features_list)
    extracted_features = feat_extraction_model(img)
    print("extracted", len(extracted_features), "feature maps, e.g.", extracted_features[1].shape)


if __name__ == "__main__":
    main(quick=is_quick())
