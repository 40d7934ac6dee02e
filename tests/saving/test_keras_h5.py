"""Keras 3 ``.weights.h5`` interop: files written by h5py in Keras' layout load into graphc models and
give the outputs a NumPy reference computes from the same arrays.

Keras 3 layout (``keras/src/saving/saving_lib.py``, ``H5IOStore``): ``/vars`` for the model's own
variables; ``layers/<snake_case class name>[_<k>]/vars/<i>`` per layer of a Functional/Sequential
model (numbered per class in ``model.layers`` order, InputLayers included for Functional models);
datasets ``"0"``, ``"1"``, ... per layer (trainable first). Keras also writes empty ``vars`` groups,
``optimizer/vars`` and random layers' ``seed_generator/vars``, which graphc ignores.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import layers
from graphc.saving import FileFormatError
from graphc.saving.keras_h5 import keras_layout, keras_snake_case

import seed_models

h5py = pytest.importorskip("h5py")


def relu(x):
    return np.maximum(x, 0)


def conv2d(x, k, b, padding="valid"):
    """NHWC x (kh, kw, cin, cout) kernel, stride 1."""
    kh, kw = k.shape[:2]
    if padding == "same":
        x = np.pad(x, ((0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0)))
    n, h, w, _ = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    out = np.zeros((n, oh, ow, k.shape[3]), np.float64)
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nhwc,cd->nhwd", x[:, i:i + oh, j:j + ow, :], k[i, j])
    return out + b


def maxpool(x, p):
    n, h, w, c = x.shape
    oh, ow = h // p, w // p
    return x[:, :oh * p, :ow * p].reshape(n, oh, p, ow, p, c).max(axis=(2, 4))


def test_keras_snake_case():
    assert keras_snake_case("Conv2DTranspose") == "conv2d_transpose"
    assert keras_snake_case("GlobalAveragePooling2D") == "global_average_pooling2d"
    assert keras_snake_case("InputLayer") == "input_layer"
    assert keras_snake_case("LSTM") == "lstm"
    assert keras_snake_case("BatchNormalization") == "batch_normalization"


def test_mlp_keras_layout_loads_and_matches_numpy(tmp_path):
    model, x = seed_models.mlp()
    rng = np.random.default_rng(42)
    shapes = [(784, 64), (64,), (64, 64), (64,), (64, 10), (10,)]
    arrays = [rng.standard_normal(s).astype(np.float32) * 0.1 for s in shapes]
    path = tmp_path / "mnist_model.weights.h5"
    with h5py.File(path, "w") as f:  # as Keras 3 writes model.save_weights() for this model
        f.create_group("vars")
        f.create_group("layers/input_layer/vars")
        for k, name in enumerate(["dense", "dense_1", "dense_2"]):
            g = f.create_group(f"layers/{name}/vars")
            g["0"], g["1"] = arrays[2 * k], arrays[2 * k + 1]
        f.create_group("optimizer/vars")["0"] = np.int64(0)
    model.load_weights(path)
    w1, b1, w2, b2, w3, b3 = [a.astype(np.float64) for a in arrays]
    expected = relu(relu(x @ w1 + b1) @ w2 + b2) @ w3 + b3
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-5)


def test_toy_resnet_keras_layout_loads_and_matches_numpy(tmp_path):
    try:
        model, x = seed_models.mini_resnet()
    except (AttributeError, ImportError) as e:
        pytest.skip(f"conv layers not in the tree: {e}")
    rng = np.random.default_rng(7)
    convs = [(3, 3, 3, 4), (3, 3, 4, 8)] + [(3, 3, 8, 8)] * 5
    path = tmp_path / "toy_resnet.weights.h5"
    weights = {}
    with h5py.File(path, "w") as f:
        f.create_group("vars")
        for name in ("input_layer", "max_pooling2d", "add", "add_1", "global_average_pooling2d"):
            f.create_group(f"layers/{name}/vars")
        for k, shape in enumerate(convs):
            name = "conv2d" if k == 0 else f"conv2d_{k}"
            g = f.create_group(f"layers/{name}/vars")
            weights[name] = (rng.standard_normal(shape).astype(np.float32) * 0.3,
                             rng.standard_normal(shape[-1]).astype(np.float32) * 0.1)
            g["0"], g["1"] = weights[name]
        for name, shape in (("dense", (8, 16)), ("dense_1", (16, 10))):
            g = f.create_group(f"layers/{name}/vars")
            weights[name] = (rng.standard_normal(shape).astype(np.float32) * 0.3,
                             rng.standard_normal(shape[-1]).astype(np.float32) * 0.1)
            g["0"], g["1"] = weights[name]
        f.create_group("layers/dropout/vars")
        f.create_group("layers/dropout/seed_generator/vars")["0"] = np.array([0, 1337], np.uint32)
    model.load_weights(path)

    def c(name, h, padding="valid"):
        k, b = weights[name]
        return relu(conv2d(h, k.astype(np.float64), b, padding))

    h = c("conv2d_1", c("conv2d", x.astype(np.float64)))
    b1 = maxpool(h, 3)
    b2 = c("conv2d_3", c("conv2d_2", b1, "same"), "same") + b1
    b3 = c("conv2d_5", c("conv2d_4", b2, "same"), "same") + b2
    h = c("conv2d_6", b3).mean(axis=(1, 2))
    h = relu(h @ weights["dense"][0] + weights["dense"][1])
    expected = h @ weights["dense_1"][0] + weights["dense_1"][1]
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-4, atol=1e-4)


def test_save_weights_h5_round_trip_and_layout(tmp_path):
    model, x = seed_models.ticket_classifier()
    path = tmp_path / "t.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "r") as f:
        groups = []
        f.visit(lambda name: groups.append(name) if name.endswith("/vars") else None)
        assert "layers/dense/vars" in groups and "layers/dense_1/vars" in groups and "layers/dense_2/vars" in groups
        assert f["layers/dense/vars/0"].shape == (210, 8)
    graphc.clear_session()
    fresh, _ = seed_models.ticket_classifier()
    fresh.load_weights(path)
    for a, b in zip(graphc.tree.flatten(fresh.predict(x)), graphc.tree.flatten(model.predict(x))):
        np.testing.assert_array_equal(a, b)


def test_lstm_weights_live_in_cell_group():
    try:
        model, _ = seed_models.ticket_lstm()
    except (AttributeError, ImportError) as e:
        pytest.skip(str(e))
    paths = [p for p, _, _ in keras_layout(model)]
    assert "layers/lstm/cell/vars" in paths and "layers/lstm_1/cell/vars" in paths
    assert "layers/embedding/vars" in paths


def test_subclassed_model_uses_attribute_paths():
    model, _ = seed_models.subclassed()
    assert [p for p, _, _ in keras_layout(model)] == ["dense1/vars", "dense2/vars"]


def test_missing_layer_group_is_a_clear_error(tmp_path):
    model, _ = seed_models.mlp()
    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "a") as f:
        del f["layers/dense_2"]
    with pytest.raises(FileFormatError, match="no group 'layers/dense_2/vars'"):
        model.load_weights(path)


def test_extra_layer_group_is_a_clear_error(tmp_path):
    model, _ = seed_models.mlp()
    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "a") as f:
        f.create_group("layers/dense_3/vars")["0"] = np.zeros((10, 3), np.float32)
    with pytest.raises(FileFormatError, match="dense_3"):
        model.load_weights(path)
