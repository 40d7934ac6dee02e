"""Shared argument handling for the application builders."""
from __future__ import annotations

import os

from graphc.layers import Input


def check_weights(weights, include_top: bool, classes: int) -> None:
    if weights is None:
        return
    if weights == "imagenet":
        raise ValueError(
            'weights="imagenet": graphc does not download weights. Save the Keras weights to a local file '
            '(model.save_weights("vgg19.weights.h5") in Keras) and pass its path: weights="vgg19.weights.h5".')
    if not isinstance(weights, (str, os.PathLike)) or not os.path.exists(weights):
        raise ValueError(f"weights: expected None or the path of a local weights file, received {weights!r}")


def image_input(input_shape, input_tensor, default_size: int, min_size: int, include_top: bool, name: str):
    """The image Input (channels last), checking Keras' size rules for the architecture."""
    if input_tensor is not None:
        return input_tensor
    if input_shape is None:
        input_shape = (default_size, default_size, 3) if include_top else (None, None, 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"{name}: input_shape must be (height, width, channels), received {input_shape}")
    if include_top and input_shape[:2] != (default_size, default_size):
        raise ValueError(f"{name}: with include_top=True the input must be ({default_size}, {default_size}, 3), "
                         f"received {input_shape}; pass include_top=False for other sizes")
    for d in input_shape[:2]:
        if d is not None and d < min_size:
            raise ValueError(f"{name}: height and width must be at least {min_size}, received {input_shape}")
    return Input(shape=input_shape)


def finish(model, weights):
    if weights is not None:
        model.load_weights(weights)
    return model


def pool_features(x, pooling, avg_name=None, max_name=None):
    """The headless models' optional global pooling: None, "avg" or "max"."""
    from graphc import layers

    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=avg_name)(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=max_name)(x)
    if pooling is not None:
        raise ValueError(f"pooling: expected None, 'avg' or 'max', received {pooling!r}")
    return x
