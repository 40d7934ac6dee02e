"""Losses: values against NumPy versions of Keras' formulas, names, reduction, sample weights, gradients."""
import numpy as np
import pytest

from graphc import losses
from graphc.ir import Graph, TensorType, Variable
from graphc.ops import Builder
from graphc.ops.interpreter import evaluate
from passes.autodiff import gradients

EPS = 1e-7
rng = np.random.default_rng(0)
LOGITS = rng.standard_normal((6, 5)).astype(np.float32) * 2
PROBS = np.exp(LOGITS) / np.exp(LOGITS).sum(1, keepdims=True)
LABELS = np.array([0, 4, 2, 2, 1, 3])
ONEHOT = np.eye(5, dtype=np.float32)[LABELS]
SIG = (1 / (1 + np.exp(-LOGITS))).astype(np.float32)
BIN = (rng.random((6, 5)) > 0.5).astype(np.float32)
REG_T = rng.standard_normal((6, 3)).astype(np.float32)
REG_P = rng.standard_normal((6, 3)).astype(np.float32)


def np_log_softmax(z):
    z = z.astype(np.float64)
    return z - z.max(1, keepdims=True) - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True))


CASES = [
    (losses.SparseCategoricalCrossentropy(from_logits=True), LABELS, LOGITS,
     -np_log_softmax(LOGITS)[np.arange(6), LABELS]),
    (losses.SparseCategoricalCrossentropy(), LABELS.astype(np.float32), PROBS,
     -np.log(np.clip(PROBS, EPS, 1 - EPS))[np.arange(6), LABELS]),
    (losses.CategoricalCrossentropy(from_logits=True), ONEHOT, LOGITS, -(ONEHOT * np_log_softmax(LOGITS)).sum(1)),
    (losses.CategoricalCrossentropy(), ONEHOT, PROBS, -(ONEHOT * np.log(np.clip(PROBS, EPS, 1 - EPS))).sum(1)),
    (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), ONEHOT, LOGITS,
     -((ONEHOT * 0.9 + 0.1 / 5) * np_log_softmax(LOGITS)).sum(1)),
    (losses.BinaryCrossentropy(from_logits=True), BIN, LOGITS,
     (np.maximum(LOGITS, 0) - LOGITS * BIN + np.log1p(np.exp(-np.abs(LOGITS)))).mean(1)),
    (losses.BinaryCrossentropy(), BIN, SIG,
     -(BIN * np.log(np.clip(SIG, EPS, 1 - EPS) + EPS) + (1 - BIN) * np.log(1 - np.clip(SIG, EPS, 1 - EPS) + EPS)).mean(1)),
    (losses.MeanSquaredError(), REG_T, REG_P, ((REG_P - REG_T) ** 2).mean(1)),
    (losses.MeanAbsoluteError(), REG_T, REG_P, np.abs(REG_P - REG_T).mean(1)),
    (losses.Huber(delta=0.5), REG_T, REG_P,
     np.where(np.abs(REG_P - REG_T) <= 0.5, 0.5 * (REG_P - REG_T) ** 2,
              0.5 * (np.abs(REG_P - REG_T) - 0.25)).mean(1)),
]


@pytest.mark.parametrize("loss, y_true, y_pred, per_sample", CASES, ids=[type(c[0]).__name__ for c in CASES])
def test_loss_values_and_sample_weights(loss, y_true, y_pred, per_sample):
    np.testing.assert_allclose(loss(y_true, y_pred), per_sample.mean(), rtol=1e-5)
    w = np.array([1, 0, 2, 0.5, 1, 3], np.float32)
    np.testing.assert_allclose(loss(y_true, y_pred, sample_weight=w), (per_sample * w).mean(), rtol=1e-5)
    none = type(loss).from_config({**loss.get_config(), "reduction": "none"})
    np.testing.assert_allclose(none(y_true, y_pred), per_sample, rtol=1e-5)
    total = type(loss).from_config({**loss.get_config(), "reduction": "sum"})
    np.testing.assert_allclose(total(y_true, y_pred), per_sample.sum(), rtol=1e-5)


@pytest.mark.parametrize("loss, y_true, y_pred, per_sample", CASES, ids=[type(c[0]).__name__ for c in CASES])
def test_loss_gradient_matches_central_differences(loss, y_true, y_pred, per_sample):
    """The loss's ops differentiate correctly (float64, with respect to y_pred)."""
    pred = Variable(y_pred.astype(np.float64), "pred")
    g = Graph("loss")
    b = Builder(g)
    with b.activate():
        t = b.input("t", TensorType.of(y_true if y_true.dtype.kind != "f" else y_true.astype(np.float64)))
        value = loss(t, b.param(pred))
        (grad,) = gradients(g, value, [b.param(pred)])
    feeds = {"t": y_true if y_true.dtype.kind != "f" else y_true.astype(np.float64)}
    analytic = evaluate(g, feeds, values=[grad])[0]
    d = np.random.default_rng(1).standard_normal(y_pred.shape)
    h = 1e-6
    f = lambda p: evaluate(g, feeds, params={"pred": p}, values=[value])[0]  # noqa: E731
    numeric = (f(pred.value + h * d) - f(pred.value - h * d)) / (2 * h)
    np.testing.assert_allclose(np.sum(analytic * d), numeric, rtol=1e-5, atol=1e-8)


def test_names_and_get():
    assert isinstance(losses.get("sparse_categorical_crossentropy"), losses.SparseCategoricalCrossentropy)
    assert isinstance(losses.get("mse"), losses.MeanSquaredError)
    assert isinstance(losses.get("mae"), losses.MeanAbsoluteError)
    assert isinstance(losses.get("MeanSquaredError"), losses.MeanSquaredError)
    assert isinstance(losses.get("huber"), losses.Huber)
    assert losses.get("binary_crossentropy").name == "binary_crossentropy"
    cfg = losses.serialize(losses.SparseCategoricalCrossentropy(from_logits=True))
    back = losses.deserialize(cfg)
    assert back.from_logits is True and back.name == "sparse_categorical_crossentropy"
    with pytest.raises(ValueError, match="Unknown loss"):
        losses.get("cross_entropy")
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="avg")


def test_functions_and_custom_callables():
    np.testing.assert_allclose(losses.mse(REG_T, REG_P), ((REG_P - REG_T) ** 2).mean(1), rtol=1e-6)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(LABELS, LOGITS, from_logits=True),
                               -np_log_softmax(LOGITS)[np.arange(6), LABELS], rtol=1e-5)
    from graphc import ops

    def my_loss(y_true, y_pred):
        return ops.reduce_mean(ops.abs_(ops.sub(y_pred, y_true)), (-1,), keepdims=False)

    wrapped = losses.get(my_loss)
    assert wrapped.name == "my_loss"
    np.testing.assert_allclose(wrapped(REG_T, REG_P), np.abs(REG_P - REG_T).mean(), rtol=1e-6)


def test_sparse_labels_with_trailing_axis_and_one_hot_mistake():
    np.testing.assert_allclose(losses.SparseCategoricalCrossentropy(from_logits=True)(LABELS[:, None], LOGITS),
                               -np_log_softmax(LOGITS)[np.arange(6), LABELS].mean(), rtol=1e-5)
    with pytest.raises(ValueError, match="categorical_crossentropy"):
        losses.SparseCategoricalCrossentropy()(ONEHOT, PROBS)
