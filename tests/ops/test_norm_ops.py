"""BatchNormalization (inference op), the training-mode batch-norm primitives, Dropout and
IndexRangeCheck through check_op."""
import numpy as np
import pytest

from graphc.ir import Graph, TensorType
from graphc.ops import Builder
from graphc.ops.checks import check_ids_in_range
from graphc.ops.normalization import moments, normalize
from graphc.ops.random import dropout
from graphc.testing import check_op, gradcheck_graph, run_onnx

RNG = np.random.default_rng(0)


def _bn_args(shape, dtype):
    c = shape[1]
    return [RNG.standard_normal(shape).astype(dtype), (RNG.random(c) + 0.5).astype(dtype),
            RNG.standard_normal(c).astype(dtype), RNG.standard_normal(c).astype(dtype),
            (RNG.random(c) + 0.5).astype(dtype)]


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5, 5), (2, 4, 6)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_normalization_inference_contract(shape, dtype):
    # onnxruntime folds (x - mean) * s + b differently: float64 values near 0 differ by ~1e-11
    check_op("BatchNormalization", _bn_args(shape, dtype), {"epsilon": 1e-3},
             atol=1e-9 if dtype == np.float64 else None)


def test_batch_normalization_reference_formula():
    x, s, b, m, v = _bn_args((2, 3, 4), np.float64)
    rep = check_op("BatchNormalization", [x, s, b, m, v], {"epsilon": 0.01}, grad=False, ort=False)
    expect = (x - m[:, None]) / np.sqrt(v[:, None] + 0.01) * s[:, None] + b[:, None]
    np.testing.assert_allclose(rep.outputs[0], expect, rtol=1e-12)


def test_batch_normalization_rejects_wrong_channel_count():
    x, s, b, m, v = _bn_args((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match="scale must have shape"):
        check_op("BatchNormalization", [x, s[:2], b, m, v])


def test_training_batch_norm_primitives_gradient_float64():
    """moments + normalize (the training path): biased variance; gradient vs finite differences."""
    g = Graph("bn_train")
    b = Builder(g)
    x = RNG.standard_normal((5, 3, 3, 4))
    gamma = RNG.random(4) + 0.5
    beta = RNG.standard_normal(4)
    with b.activate():
        xi = b.input("x", TensorType.of(x))
        gi = b.input("gamma", TensorType.of(gamma))
        bi = b.input("beta", TensorType.of(beta))
        mean, var = moments(xi, (0, 1, 2))
        y = normalize(xi, mean, var, gi, bi, 1e-3)
    g.set_outputs([y, var], ["y", "var"])
    feeds = {"x": x, "gamma": gamma, "beta": beta}
    from graphc.ops.interpreter import evaluate

    out, v = evaluate(g, feeds)
    mu = x.mean((0, 1, 2))
    np.testing.assert_allclose(v.reshape(-1), x.var((0, 1, 2)), rtol=1e-12)  # biased, ddof=0
    np.testing.assert_allclose(out, (x - mu) / np.sqrt(x.var((0, 1, 2)) + 1e-3) * gamma + beta, rtol=1e-10)
    gradcheck_graph(g, feeds)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_inference_mode_contract(dtype):
    x = RNG.standard_normal((3, 5)).astype(dtype)
    rep = check_op("Dropout", [x, np.asarray(0.3, dtype), np.asarray(False)], {"seed": 7})
    np.testing.assert_array_equal(rep.outputs[0], x)
    assert rep.outputs[1].all()


def test_dropout_training_mode_gradient_uses_the_mask():
    """With a fixed seed the NumPy reference draws one mask, so finite differences see the same one."""
    x = RNG.standard_normal((4, 6))
    rep = check_op("Dropout", [x, np.asarray(0.4), np.asarray(True)], {"seed": 3}, ort=False)
    y, mask = rep.outputs
    np.testing.assert_allclose(y, np.where(mask, x / 0.6, 0.0))
    assert 0 < mask.sum() < mask.size


def test_dropout_training_mode_on_onnxruntime():
    """onnxruntime draws its own mask: kept values are x / (1 - rate), and about rate are dropped."""
    x = RNG.random((200, 50)).astype(np.float32) + 1.0
    g = Graph("drop")
    b = Builder(g)
    with b.activate():
        xi = b.input("x", TensorType("float32", ("batch", 50)))
        ti = b.input("training", TensorType("bool", ()))
        y, mask = b.emit("Dropout", xi, np.asarray(0.25, np.float32), ti, seed=11)
    g.set_outputs([y, mask], ["y", "mask"])
    y, mask = run_onnx(g, {"x": x, "training": np.asarray(True)})
    np.testing.assert_allclose(y, np.where(mask, x / 0.75, 0.0), rtol=1e-6)
    assert abs(1 - mask.mean() - 0.25) < 0.02
    y, mask = run_onnx(g, {"x": x, "training": np.asarray(False)})
    np.testing.assert_array_equal(y, x)
    assert mask.all()


def test_dropout_function_emits_nothing_outside_training():
    g = Graph("g")
    b = Builder(g)
    with b.activate():
        xi = b.input("x", TensorType("float32", ("batch", 4)))
        assert dropout(xi, 0.5, False) is xi
        assert dropout(xi, 0.0, True) is xi
        assert dropout(xi, 0.5, True).node.op == "Dropout"


def test_index_range_check_contract_and_errors():
    ids = np.array([[0, 3], [9, 2]], np.int64)
    rep = check_op("IndexRangeCheck", [ids], {"limit": 10, "where": 'layer "embedding"'})
    np.testing.assert_array_equal(rep.outputs[0], ids)
    with pytest.raises(ValueError, match=r'layer "embedding": id 10 at position \(1, 0\) is out of range \[0, 10\)'):
        check_ids_in_range(np.array([[0, 3], [10, 2]]), 10, 'layer "embedding"')
    with pytest.raises(ValueError, match=r"id -1 at position \(0, 1\)"):
        check_ids_in_range(np.array([[0, -1]]), 10, "here")
    with pytest.raises(ValueError, match="not an integer"):
        check_ids_in_range(np.array([1.5]), 10, "here")
