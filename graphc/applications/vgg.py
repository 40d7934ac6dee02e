"""VGG16 and VGG19 (Simonyan & Zisserman), channels last, layer names as keras.applications."""
from __future__ import annotations

from graphc import layers
from graphc.models import Functional

from .common import check_weights, finish, image_input, pool_features


def _vgg(convs_per_block, model_name, include_top=True, weights=None, input_tensor=None, input_shape=None,
         pooling=None, classes=1000, classifier_activation="softmax"):
    check_weights(weights, include_top, classes)
    inputs = image_input(input_shape, input_tensor, 224, 32, include_top, model_name)
    x = inputs
    for block, (n, filters) in enumerate(zip(convs_per_block, (64, 128, 256, 512, 512)), start=1):
        for i in range(1, n + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{i}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = pool_features(x, pooling)
    return finish(Functional(inputs, x, name=model_name), weights)


def VGG16(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax"):
    """VGG16: 13 conv layers in 5 blocks; 138,357,544 parameters with the top."""
    return _vgg((2, 2, 3, 3, 3), "vgg16", include_top, weights, input_tensor, input_shape, pooling, classes,
                classifier_activation)


def VGG19(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax"):
    """VGG19: 16 conv layers in 5 blocks; 143,667,240 parameters with the top."""
    return _vgg((2, 2, 4, 4, 4), "vgg19", include_top, weights, input_tensor, input_shape, pooling, classes,
                classifier_activation)
