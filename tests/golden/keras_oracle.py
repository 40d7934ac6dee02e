"""Prints the summaries that Keras 3 itself gives for the seed models, as JSON {golden name: text}.

Run by tests/models/test_summary.py::test_goldens_match_keras (when Keras 3 and a backend are
installed) so that every golden file here is checked against Keras' own table, not only against
graphc's previous output. Model-building code mirrors the graphc tests that write the goldens.
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ["COLUMNS"] = "300"  # Keras narrows the table to the terminal; graphc's goldens do not

import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

RESULTS = {}


def summ(m, **kw):
    out = []
    m.summary(print_fn=lambda s, **k: out.append(s), **kw)
    return "".join(out)


def cmp(name, m, **kw):
    RESULTS[name] = summ(m, **kw)

keras.utils.clear_session()
inputs = keras.Input(shape=(784,), name="img")
x = layers.Dense(64, activation="relu")(inputs)
x = layers.Dense(64, activation="relu")(x)
outputs = layers.Dense(10)(x)
model = keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")
cmp("seed000_mnist_model", model)
model.layers[1].trainable = False
cmp("seed000_mnist_show_trainable", model, show_trainable=True)

keras.utils.clear_session()
first = keras.Sequential([layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])
m = keras.Sequential(); m.add(layers.Dense(64, activation="relu")); m.add(layers.Dense(10, activation="softmax")); m.build(input_shape=(None, 3))
cmp("seed002_sequential_906", m)
keras.utils.clear_session()
m = keras.Sequential([layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])
cmp("seed002_sequential_unbuilt", m)
keras.utils.clear_session()
m = keras.Sequential(name="my_example_model"); m.add(layers.Dense(64, activation="relu", name="my_first_layer")); m.add(layers.Dense(10, activation="softmax", name="my_last_layer")); m.build((None, 3))
cmp("seed002_my_example_model", m)
keras.utils.clear_session()
m = keras.Sequential(); m.add(keras.Input(shape=(3,))); m.add(layers.Dense(64, activation="relu"))
cmp("seed002_sequential_input", m)
keras.utils.clear_session()
inputs = keras.Input(shape=(3,), name="my_input"); f = layers.Dense(64, activation="relu")(inputs); o = layers.Dense(10, activation="softmax")(f)
cmp("seed002_functional_my_input", keras.Model(inputs=inputs, outputs=o))

keras.utils.clear_session()
title = keras.Input(shape=(10000,), name="title"); text_body = keras.Input(shape=(10000,), name="text_body"); tags = keras.Input(shape=(100,), name="tags")
features = layers.concatenate([title, text_body, tags]); features = layers.Dense(64, activation="relu")(features)
priority = layers.Dense(1, activation="sigmoid", name="priority")(features); department = layers.Dense(4, activation="softmax", name="department")(features)
cmp("seed002_ticket_classifier", keras.Model(inputs=[title, text_body, tags], outputs=[priority, department]))

keras.utils.clear_session()
m = keras.Sequential([layers.Dense(2, activation="relu", name="layer1"), layers.Dense(3, activation="relu", name="layer2"), layers.Dense(4, name="layer3")])
m(np.ones((3, 3), "float32"))
cmp("seed003_sequential_3x3", m)
keras.utils.clear_session()
m = keras.Sequential(); m.add(layers.Dense(2, activation="relu", name="layers 1")); m.add(layers.Dense(3, activation="relu")); m.add(layers.Dense(4)); m.pop(); m.build((None, 5))
cmp("seed003_after_pop", m)
keras.utils.clear_session()
m = keras.Sequential([layers.Dense(2, activation="relu"), layers.Dense(3, activation="relu"), layers.Dense(4)])
m(np.ones((1, 4), "float32"))
cmp("seed003_sequential_1x4", m)
keras.utils.clear_session()
m = keras.Sequential(); m.add(keras.Input(shape=(4,))); m.add(layers.Dense(2, activation="relu"))
cmp("seed003_sequential_input_4", m)

keras.utils.clear_session()
inner_in = keras.Input(shape=(8,), name="inner_in")
inner = keras.Model(inner_in, layers.Dense(4, name="inner_dense")(inner_in), name="encoder")
head = keras.Sequential([layers.Dense(2, name="head_dense")], name="head")
x_in = keras.Input(shape=(8,), name="x")
model = keras.Model(x_in, head(inner(x_in)), name="outer")
cmp("nested_models", model)
cmp("nested_models_expanded", model, expand_nested=True)


keras.utils.clear_session()
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
cmp("seed000_toy_resnet", keras.Model(inputs, outputs, name="toy_resnet"))

keras.utils.clear_session()
title_input = keras.Input(shape=(None,), name="title"); body_input = keras.Input(shape=(None,), name="body"); tags_input = keras.Input(shape=(12,), name="tags")
tf_ = layers.Embedding(10000, 64)(title_input); bf = layers.Embedding(10000, 64)(body_input)
tf_ = layers.LSTM(128)(tf_); bf = layers.LSTM(32)(bf)
x = layers.concatenate([tf_, bf, tags_input])
p = layers.Dense(1, activation="sigmoid", name="priority")(x); d = layers.Dense(4, activation="softmax", name="department")(x)
cmp("seed001_ticket_lstm", keras.Model(inputs=[title_input, body_input, tags_input], outputs=[p, d]))

def encoder_layers(name="img"):
    encoder_input = keras.Input(shape=(28, 28, 1), name=name)
    x = layers.Conv2D(16, 3, activation="relu")(encoder_input)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    return encoder_input, layers.GlobalMaxPooling2D()(x)

def decoder_layers(x):
    x = layers.Reshape((4, 4, 1))(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu")(x)
    x = layers.UpSampling2D(3)(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    return layers.Conv2DTranspose(1, 3, activation="relu")(x)

keras.utils.clear_session()
ei, eo = encoder_layers()
cmp("seed000_encoder", keras.Model(ei, eo, name="encoder"))
cmp("seed000_autoencoder", keras.Model(ei, decoder_layers(eo), name="autoencoder"))
keras.utils.clear_session()
ei, eo = encoder_layers("original_img")
encoder = keras.Model(ei, eo, name="encoder")
di = keras.Input(shape=(16,), name="encoded_img")
decoder = keras.Model(di, decoder_layers(di), name="decoder")
ai = keras.Input(shape=(28, 28, 1), name="img")
auto = keras.Model(ai, decoder(encoder(ai)), name="autoencoder")
cmp("seed000_autoencoder_nested", auto)
cmp("seed000_autoencoder_nested_expanded", auto, expand_nested=True)

keras.utils.clear_session()
model = keras.Sequential()
model.add(keras.Input(shape=(250, 250, 3)))
model.add(layers.Conv2D(32, 5, strides=2, activation="relu"))
model.add(layers.Conv2D(32, 3, activation="relu"))
model.add(layers.MaxPooling2D(3))
cmp("seed003_conv_stack_first", model)
model.add(layers.Conv2D(32, 3, activation="relu"))
model.add(layers.Conv2D(32, 3, activation="relu"))
model.add(layers.MaxPooling2D(3))
model.add(layers.Conv2D(32, 3, activation="relu"))
model.add(layers.Conv2D(32, 3, activation="relu"))
model.add(layers.MaxPooling2D(2))
cmp("seed003_conv_stack", model)

keras.utils.clear_session()
model = keras.Sequential([layers.Conv2D(32, 3, activation="relu"), layers.Conv2D(32, 3, activation="relu"), layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
model(np.random.default_rng(1).random((2, 28, 28, 1), dtype=np.float32))
cmp("seed004_sequential_convnet", model)
keras.utils.clear_session()
inputs = keras.Input(shape=(28, 28, 1))
x = layers.Conv2D(32, 3, activation="relu")(inputs)
x = layers.Conv2D(64, 3, activation="relu")(x)
x = layers.Flatten()(x)
x = layers.Dense(128, activation="relu")(x)
outputs = layers.Dense(10, activation="softmax")(x)
cmp("seed004_functional_convnet", keras.Model(inputs=inputs, outputs=outputs))

keras.utils.clear_session()
i = keras.Input(shape=(5, 3), name="seq")
out, h, c = layers.LSTM(8, return_state=True)(i)
cmp("lstm_return_state", keras.Model(i, [out, h, c], name="lstm_states"))
a = keras.Input(shape=(3,), name="a")
shared = layers.Dense(4, name="shared")
cmp("shared_layer_twice", keras.Model(a, shared(shared(layers.Dense(4)(a))), name="shared_twice"))

for name in ("ResNet50", "MobileNetV2", "VGG19"):
    keras.utils.clear_session()
    cmp(f"applications_{name.lower()}", getattr(keras.applications, name)(weights=None))

json.dump(RESULTS, sys.stdout)
