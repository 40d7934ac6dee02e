"""Which arrays a GradientTape gives the symbolic batch dimension: only those that share the batch
axis with the model inputs. A class-weight vector, a fixed mask or a scalar keeps its own shape."""
import numpy as np
import pytest

import graphc as keras
from graphc import layers, losses
from graphc.training import tape as tape_mod


def _setup(batch, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 5)).astype(np.float32)
    return x, np.zeros((batch, 10), np.float32)


def test_a_class_weight_vector_keeps_its_own_length():
    dense, mse = layers.Dense(10), losses.MeanSquaredError()
    w = np.linspace(0.1, 1.0, 10, dtype=np.float32)
    x, y = _setup(4)
    with keras.GradientTape() as tape:
        tape.watch(w)
        loss = mse(y, dense(x))
        per_class = loss * w           # () * (10,): ten values, whatever the batch size
        assert per_class.shape == (10,)
        part = per_class[2:5]          # a slice of a non-batch axis is recorded
        assert isinstance(part, tape_mod.TapeTensor) and part.shape == (3,)
    g = tape.gradient(part, w)
    want = np.zeros(10, np.float32)
    want[2:5] = float(loss)
    np.testing.assert_allclose(g, want, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(per_class), float(loss) * w, rtol=1e-6)


def test_a_vector_as_long_as_the_batch_is_still_aligned_by_broadcasting():
    dense = layers.Dense(10)
    w = np.linspace(0.1, 1.0, 10, dtype=np.float32)
    for batch in (10, 4, 10):         # batch 10 == len(w): w still scales the class axis
        x, _ = _setup(batch, batch)
        with keras.GradientTape() as tape:
            tape.watch(w)
            out = dense(x) * w
            assert out.shape == (batch, 10)
        g = tape.gradient(out, w)
        pred = x @ dense.kernel.numpy() + dense.bias.numpy()
        np.testing.assert_allclose(np.asarray(out), pred * w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(g, pred.sum(0), rtol=1e-4, atol=1e-5)


def test_a_per_sample_mask_shares_the_batch_axis_and_the_program():
    dense = layers.Dense(2)
    n_exes = None
    for batch in (4, 6, 3):
        x, _ = _setup(batch, batch)
        mask = (np.arange(batch) % 2).astype(np.float32)
        with keras.GradientTape() as tape:
            score = dense(x)[:, 0] * mask
        (gk,) = tape.gradient(score, [dense.kernel])
        np.testing.assert_allclose(gk[:, 0], (x * mask[:, None]).sum(0), rtol=1e-5, atol=1e-6)
        if n_exes is None:
            n_exes = tape_mod.STATS["compiled"]
    assert tape_mod.STATS["compiled"] == n_exes  # one program for every batch size


def test_arrays_that_cannot_broadcast_with_a_recorded_value_are_refused_where_they_are_used():
    dense = layers.Dense(2)
    x, _ = _setup(4)
    with keras.GradientTape():
        score = dense(x)[:, 0]
        with pytest.raises(ValueError, match=r"a \* b: a has shape \(4,\) and b has shape \(10,\)"):
            score * np.ones(10, np.float32)
        assert (score * np.float32(2.0)).shape == (4,)
