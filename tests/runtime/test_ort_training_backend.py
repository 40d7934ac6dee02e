"""``fit(..., backend=...)``: the onnxruntime-training backend against the default stock-onnxruntime one.

Here (stock onnxruntime): an unknown backend name is a ValueError listing the valid ones,
``backend="onnxruntime-training"`` without the package is an ImportError saying to
``pip install graphc[training]`` in its own environment, and unsupported optimizers are named.

The tests marked ``needs_training`` (``test_trains_like_the_default_backend`` compares seed 000's
MLP trained with SGD and Adam on both backends) need onnxruntime-training, which cannot share an
environment with onnxruntime; they are skipped cleanly where ``onnxruntime.training`` cannot be
imported. They ran for real in a venv layered
over this environment (``--system-site-packages``: numpy, onnx, networkx, pytest and torch come
from below, the venv's onnxruntime-training 1.19.2 provides the ``onnxruntime`` module)::

    python -m venv --system-site-packages /tmp/ortt
    /tmp/ortt/bin/pip install --no-deps onnxruntime-training==1.19.2
    /tmp/ortt/bin/pip install --no-deps -e /work/main
    cd /work/main && /tmp/ortt/bin/python -m pytest tests/runtime/test_ort_training_backend.py -p no:cacheprovider

(``import onnxruntime.training`` needs torch: ``pip install torch --index-url
https://download.pytorch.org/whl/cpu`` when the base environment has none.) Passed with
onnxruntime-training 1.19.2, torch 2.13 (CPU), numpy 2.4, Python 3.11.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import layers
from graphc.training import ort_training_backend as otb


def has_training_package() -> bool:
    try:
        import onnxruntime.training.api  # noqa: F401
    except ImportError:
        return False
    return True


needs_training = pytest.mark.skipif(not has_training_package(), reason=(
    "onnxruntime-training is not installed (it needs its own environment; see this file's docstring)"))


def mnist_model(optimizer, metrics=None):
    """Seed 000's MLP: Input((784,)) -> Dense(64, relu) -> Dense(64, relu) -> Dense(10), sparse CE from logits."""
    graphc.clear_session()
    graphc.set_random_seed(0)
    inputs = graphc.Input(shape=(784,))
    x = layers.Dense(64, activation="relu")(inputs)
    x = layers.Dense(64, activation="relu")(x)
    model = graphc.Model(inputs, layers.Dense(10)(x), name="mnist_model")
    model.compile(optimizer=optimizer, loss=graphc.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=metrics)
    return model


def data(n=80):
    rng = np.random.default_rng(0)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)


def twin_models(make_optimizer, metrics=None):
    """Two seed-000 models with the same initial weights."""
    a = mnist_model(make_optimizer(), metrics)
    weights = a.get_weights()
    b = mnist_model(make_optimizer(), metrics)
    b.set_weights(weights)
    return a, b


# -- in any environment -----------------------------------------------------------------------------
def test_unknown_backend_is_a_value_error_listing_the_valid_ones():
    x, y = data(8)
    model = mnist_model("sgd")
    with pytest.raises(ValueError, match=r"unknown backend 'tensorflow'.*'onnxruntime', 'onnxruntime-training'"):
        model.fit(x, y, verbose=0, backend="tensorflow")


@pytest.mark.skipif(has_training_package(), reason="onnxruntime-training is importable here")
def test_missing_training_package_is_an_import_error_with_the_install_command():
    x, y = data(8)
    model = mnist_model("sgd")
    before = [w.numpy() for w in model.weights]
    with pytest.raises(ImportError, match=r"pip install graphc\[training\].*own environment"):
        model.fit(x, y, verbose=0, backend="onnxruntime-training")
    for w, v in zip(model.weights, before):
        np.testing.assert_array_equal(w.numpy(), v)
    assert np.isfinite(model.fit(x, y, verbose=0, backend="onnxruntime").history["loss"][0])


@pytest.mark.parametrize("optimizer,named", [
    (graphc.optimizers.RMSprop(), "RMSprop"),
    (graphc.optimizers.SGD(momentum=0.9), r"SGD\(momentum=0.9\)"),
    (graphc.optimizers.Adam(amsgrad=True), r"Adam\(amsgrad=True\)")], ids=["rmsprop", "sgd_momentum", "amsgrad"])
def test_unsupported_optimizers_are_named_with_the_supported_ones(optimizer, named):
    with pytest.raises(NotImplementedError, match=rf"Adam, AdamW \(amsgrad=False\) and SGD \(momentum=0\).*{named}"):
        otb.check_optimizer(optimizer)


def test_supported_optimizers_pass():
    for optimizer in (graphc.optimizers.SGD(0.1), graphc.optimizers.Adam(), graphc.optimizers.AdamW()):
        otb.check_optimizer(optimizer)


# -- with onnxruntime-training ----------------------------------------------------------------------
@needs_training
@pytest.mark.parametrize("make_optimizer,rtol,atol", [
    (lambda: graphc.optimizers.SGD(learning_rate=0.1), 1e-5, 1e-6),
    # Adam divides by sqrt(v) + eps: float32 rounding in near-zero gradients shows at ~1e-4
    (lambda: graphc.optimizers.Adam(learning_rate=0.01), 1e-4, 5e-4)], ids=["sgd", "adam"])
def test_trains_like_the_default_backend(make_optimizer, rtol, atol):
    """A few steps of seed 000's MLP (shuffle=False, same initial weights) on both backends."""
    x, y = data(80)
    stock, ort_training = twin_models(make_optimizer)
    h_stock = stock.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    h_ort = ort_training.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, backend="onnxruntime-training")
    assert h_ort is ort_training.history
    np.testing.assert_allclose(h_ort.history["loss"], h_stock.history["loss"], rtol=rtol)
    assert h_ort.history["loss"][1] < h_ort.history["loss"][0]
    for a, b in zip(stock.weights, ort_training.weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=rtol, atol=atol, err_msg=a.path)
    # the optimizer state came back too: both continue alike on the default backend
    assert ort_training.optimizer.iterations == stock.optimizer.iterations == 10
    h_stock = stock.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    h_ort = ort_training.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(h_ort.history["loss"], h_stock.history["loss"], rtol=rtol * 10)


@needs_training
def test_validation_callbacks_and_partial_batches():
    x, y = data(90)  # 72 training rows after the split: batches of 16, 16, 16, 16, 8
    stock, ort_training = twin_models(lambda: graphc.optimizers.SGD(learning_rate=0.05), metrics=["accuracy"])
    seen = []

    class Record(graphc.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(("batch", batch))

        def on_epoch_end(self, epoch, logs=None):
            seen.append(("epoch", epoch, sorted(logs)))

    h_stock = stock.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, validation_split=0.2)
    with pytest.warns(UserWarning, match="training logs hold the total loss only"):
        h_ort = ort_training.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, validation_split=0.2,
                                 callbacks=[Record()], backend="onnxruntime-training")
    assert sorted(h_ort.history) == ["loss", "val_accuracy", "val_loss"]
    for key in h_ort.history:
        np.testing.assert_allclose(h_ort.history[key], h_stock.history[key], rtol=1e-5)
    assert seen[:6] == [("batch", i) for i in range(5)] + [("epoch", 0, ["loss", "val_accuracy", "val_loss"])]


@needs_training
def test_unsupported_optimizer_under_the_backend():
    x, y = data(8)
    with pytest.raises(NotImplementedError, match="supported optimizers are"):
        mnist_model("rmsprop").fit(x, y, verbose=0, backend="onnxruntime-training")


@needs_training
def test_frozen_layer_stays_and_the_rest_matches():
    x, y = data(48)
    stock, ort_training = twin_models(lambda: graphc.optimizers.SGD(learning_rate=0.1))
    for model in (stock, ort_training):
        model.layers[1].trainable = False
    frozen = [w.numpy() for w in ort_training.layers[1].weights]
    stock.fit(x, y, batch_size=16, shuffle=False, verbose=0)
    ort_training.fit(x, y, batch_size=16, shuffle=False, verbose=0, backend="onnxruntime-training")
    for w, v in zip(ort_training.layers[1].weights, frozen):
        np.testing.assert_array_equal(w.numpy(), v)
    for a, b in zip(stock.weights, ort_training.weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6, err_msg=a.path)


@needs_training
def test_non_finite_loss_stops_with_the_weights_before_that_step():
    x, y = data(32)
    x[20, 0] = np.nan  # in the second batch of 16
    model = mnist_model(graphc.optimizers.SGD(learning_rate=0.1))
    reference = mnist_model(graphc.optimizers.SGD(learning_rate=0.1))
    reference.set_weights(model.get_weights())
    reference.fit(x[:16], y[:16], batch_size=16, shuffle=False, verbose=0)
    with pytest.raises(FloatingPointError, match="step 2"):
        model.fit(x, y, batch_size=16, shuffle=False, verbose=0, backend="onnxruntime-training")
    for a, b in zip(reference.weights, model.weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6, err_msg=a.path)
