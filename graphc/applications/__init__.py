"""Model architectures from keras.applications, with Keras' layer names and parameter counts.

Weights are never downloaded: ``weights=None`` initializes randomly, ``weights="path/to/file"``
loads a local weights file (Keras ``.weights.h5`` or graphc's own format).
"""
from .mobilenet_v2 import MobileNetV2
from .resnet import ResNet50
from .vgg import VGG16, VGG19

__all__ = ["MobileNetV2", "ResNet50", "VGG16", "VGG19"]
