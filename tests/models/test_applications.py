"""keras.applications architectures: Keras' parameter counts and layer names; VGG19 feature extraction."""
import numpy as np
import pytest

import graphc as keras


@pytest.mark.parametrize("name, total, n_layers, first, last", [
    ("VGG16", 138_357_544, 23, "block1_conv1", "predictions"),
    ("VGG19", 143_667_240, 26, "block1_conv1", "predictions"),
    ("ResNet50", 25_636_712, 177, "conv1_pad", "predictions"),
    ("MobileNetV2", 3_538_984, 156, "Conv1", "predictions"),
])
def test_parameter_counts_and_names(name, total, n_layers, first, last):
    model = getattr(keras.applications, name)()
    assert model.count_params() == total
    assert len(model.layers) == n_layers
    assert model.layers[1].name == first and model.layers[-1].name == last
    assert model.output.shape == (None, 1000)


def test_resnet50_trainable_split():
    model = keras.applications.ResNet50(include_top=False, pooling="avg", input_shape=(64, 64, 3))
    non_trainable = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert non_trainable == 53_120  # BatchNormalization moving statistics
    assert model.output.shape == (None, 2048)


def test_mobilenetv2_headless_shape_and_names():
    model = keras.applications.MobileNetV2(include_top=False, input_shape=(96, 96, 3))
    assert model.output.shape == (None, 3, 3, 1280)
    names = {layer.name for layer in model.layers}
    assert {"block_1_pad", "block_16_project_BN", "out_relu", "expanded_conv_depthwise"} <= names


def test_vgg19_feature_extraction_one_array_per_layer():
    vgg19 = keras.applications.VGG19()
    features_list = [layer.output for layer in vgg19.layers]
    feat_extraction_model = keras.Model(inputs=vgg19.input, outputs=features_list)
    img = np.random.default_rng(0).random((1, 224, 224, 3)).astype("float32")
    extracted = feat_extraction_model(img)
    assert len(extracted) == len(vgg19.layers) == 26
    for layer, array in zip(vgg19.layers, extracted):
        assert array.shape == (1,) + layer.output.shape[1:], layer.name
    np.testing.assert_allclose(extracted[0], img)
    np.testing.assert_allclose(extracted[-1].sum(), 1.0, rtol=1e-5)


def test_weights_argument_errors():
    with pytest.raises(ValueError, match="does not download"):
        keras.applications.MobileNetV2(weights="imagenet")
    with pytest.raises(ValueError, match="local weights file"):
        keras.applications.MobileNetV2(weights="/nonexistent/file.h5")
    with pytest.raises(ValueError, match="include_top"):
        keras.applications.VGG16(input_shape=(64, 64, 3))
