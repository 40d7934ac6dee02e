"""Seed models (SEEDS.md) built from the layers present in the tree, with inputs to run them on.

Each builder returns ``(model, x)``; a builder whose layers are missing raises ImportError /
AttributeError, and the tests skip it with the reason.
"""
from __future__ import annotations

import numpy as np

import graphc
from graphc import layers
import graphc.saving  # noqa: F401  (register_serializable)
from seed_conv_models import toy_resnet


def mlp():
    inputs = graphc.Input(shape=(784,))
    x = layers.Dense(64, activation="relu")(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    model = graphc.Model(inputs=inputs, outputs=outputs, name="mnist_model")
    return model, np.random.default_rng(0).random((5, 784), dtype=np.float32)


def sequential_906():
    model = graphc.Sequential([layers.Dense(64, activation="relu"), layers.Dense(10)], name="my_sequential")
    model.build((None, 3))
    return model, np.random.default_rng(1).random((4, 3), dtype=np.float32)


def sequential_named():
    model = graphc.Sequential(name="my_example_model")
    model.add(layers.Dense(2, activation="relu", name="my_first_layer", input_shape=(4,)))
    model.add(layers.Dense(3, activation="relu"))
    model.add(layers.Dense(4, name="my_last_layer"))
    return model, np.random.default_rng(2).random((3, 4), dtype=np.float32)


def ticket_classifier():
    title = graphc.Input(shape=(100,), name="title")
    body = graphc.Input(shape=(100,), name="text_body")
    tags = graphc.Input(shape=(10,), name="tags")
    features = layers.Concatenate()([title, body, tags])
    features = layers.Dense(8, activation="relu")(features)
    priority = layers.Dense(1, activation="sigmoid", name="priority")(features)
    department = layers.Dense(4, activation="softmax", name="department")(features)
    model = graphc.Model(inputs=[title, body, tags], outputs=[priority, department])
    rng = np.random.default_rng(3)
    x = [rng.random((2, 100), dtype=np.float32), rng.random((2, 100), dtype=np.float32),
         rng.random((2, 10), dtype=np.float32)]
    return model, x


def shared_embedding():
    shared = layers.Embedding(50, 8)
    a = graphc.Input(shape=(None,), dtype="int32")
    b = graphc.Input(shape=(None,), dtype="int32")
    out = layers.Add()([shared(a), shared(b)])
    model = graphc.Model([a, b], out, name="shared_embedding")
    rng = np.random.default_rng(4)
    return model, [rng.integers(0, 50, (2, 5)).astype("int32"), rng.integers(0, 50, (2, 5)).astype("int32")]


def ticket_lstm():
    title = graphc.Input(shape=(None,), dtype="int32", name="title")
    body = graphc.Input(shape=(None,), dtype="int32", name="body")
    tags = graphc.Input(shape=(12,), name="tags")
    t = layers.LSTM(8)(layers.Embedding(100, 6)(title))
    bo = layers.LSTM(4)(layers.Embedding(100, 6)(body))
    x = layers.concatenate([t, bo, tags])
    priority = layers.Dense(1, activation="sigmoid", name="priority")(x)
    department = layers.Dense(4, activation="softmax", name="department")(x)
    model = graphc.Model([title, body, tags], {"priority": priority, "department": department})
    rng = np.random.default_rng(5)
    return model, [rng.integers(0, 100, (2, 10)).astype("int32"), rng.integers(0, 100, (2, 7)).astype("int32"),
                   rng.random((2, 12), dtype=np.float32)]


def encoder_decoder():
    """Seed 000: encoder and decoder models called like layers inside an autoencoder."""
    enc_in = graphc.Input(shape=(28, 28, 1), name="original_img")
    x = layers.Conv2D(4, 3, activation="relu")(enc_in)
    x = layers.Conv2D(4, 3, activation="relu")(x)
    x = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(4, 3, activation="relu")(x)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    enc_out = layers.GlobalMaxPooling2D()(x)
    encoder = graphc.Model(enc_in, enc_out, name="encoder")
    dec_in = graphc.Input(shape=(16,), name="encoded_img")
    x = layers.Reshape((4, 4, 1))(dec_in)
    x = layers.Conv2DTranspose(4, 3, activation="relu")(x)
    x = layers.Conv2DTranspose(4, 3, activation="relu")(x)
    x = layers.UpSampling2D(3)(x)
    x = layers.Conv2DTranspose(4, 3, activation="relu")(x)
    dec_out = layers.Conv2DTranspose(1, 3, activation="relu")(x)
    decoder = graphc.Model(dec_in, dec_out, name="decoder")
    auto_in = graphc.Input(shape=(28, 28, 1), name="img")
    model = graphc.Model(auto_in, decoder(encoder(auto_in)), name="autoencoder")
    return model, np.random.default_rng(6).random((2, 28, 28, 1), dtype=np.float32)


def mini_resnet():
    """Seed 000's toy ResNet (narrower: 4/8 filters) with add skips, pooling and dropout."""
    model = toy_resnet(filters=(4, 8), units=16)
    return model, np.random.default_rng(7).random((2, 32, 32, 3), dtype=np.float32)


def seq_conv():
    """Seed 004's Sequential CNN (small)."""
    model = graphc.Sequential([
        graphc.Input(shape=(12, 12, 1)),
        layers.Conv2D(4, 3, activation="relu"),
        layers.Conv2D(4, 3, activation="relu"),
        layers.Flatten(),
        layers.Dense(8, activation="relu"),
        layers.BatchNormalization(),
        layers.Dense(10, activation="softmax"),
    ])
    return model, np.random.default_rng(8).random((3, 12, 12, 1), dtype=np.float32)


@graphc.saving.register_serializable(package="tests")
class SubclassedMLP(graphc.Model):
    """Seed 004's subclassed model, with a constructor argument kept in get_config."""

    def __init__(self, hidden=16, **kwargs):
        super().__init__(**kwargs)
        self.hidden = hidden
        self.dense1 = layers.Dense(hidden, activation="relu")
        self.dense2 = layers.Dense(10, activation="softmax")

    def call(self, inputs):
        return self.dense2(self.dense1(inputs))

    def get_config(self):
        return {"hidden": self.hidden, "name": self.name}


def subclassed():
    model = SubclassedMLP(hidden=12, name="my_subclassed")
    x = np.random.default_rng(9).random((3, 7), dtype=np.float32)
    model(x)
    return model, x


BUILDERS = {f.__name__: f for f in (mlp, sequential_906, sequential_named, ticket_classifier, shared_embedding,
                                    ticket_lstm, encoder_decoder, mini_resnet, seq_conv, subclassed)}
