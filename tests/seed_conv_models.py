"""The seed documents' convolutional models, built once for every test that needs them."""
import graphc as keras
from graphc import layers


def encoder_layers(name="img"):
    """Seed 000's encoder: (Input, GlobalMaxPooling2D output) tensors."""
    encoder_input = keras.Input(shape=(28, 28, 1), name=name)
    x = layers.Conv2D(16, 3, activation="relu")(encoder_input)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    return encoder_input, layers.GlobalMaxPooling2D()(x)


def decoder_layers(x):
    """Seed 000's decoder on ``x`` (16 features): Reshape, Conv2DTranspose stack, UpSampling2D."""
    x = layers.Reshape((4, 4, 1))(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu")(x)
    x = layers.UpSampling2D(3)(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    return layers.Conv2DTranspose(1, 3, activation="relu")(x)


def toy_resnet(size=32, filters=(32, 64), units=256, lib=keras):
    """Seed 000's toy ResNet on (size, size, 3); with the defaults, 223,242 parameters.

    ``filters`` are the first Conv2D's and every later one's, ``units`` the hidden Dense layer's;
    ``lib`` is graphc or Keras 3 (the same code builds both, for interop tests).
    """
    L = lib.layers
    inputs = lib.Input(shape=(size, size, 3), name="img")
    x = L.Conv2D(filters[0], 3, activation="relu")(inputs)
    x = L.Conv2D(filters[1], 3, activation="relu")(x)
    block_1_output = L.MaxPooling2D(3)(x)
    x = L.Conv2D(filters[1], 3, activation="relu", padding="same")(block_1_output)
    x = L.Conv2D(filters[1], 3, activation="relu", padding="same")(x)
    block_2_output = L.add([x, block_1_output])
    x = L.Conv2D(filters[1], 3, activation="relu", padding="same")(block_2_output)
    x = L.Conv2D(filters[1], 3, activation="relu", padding="same")(x)
    block_3_output = L.add([x, block_2_output])
    x = L.Conv2D(filters[1], 3, activation="relu")(block_3_output)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(units, activation="relu")(x)
    x = L.Dropout(0.5)(x)
    outputs = L.Dense(10)(x)
    return lib.Model(inputs, outputs, name="toy_resnet")
