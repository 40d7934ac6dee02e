"""GradientTape's program cache: tracing stays linear in the number of recorded calls, the second
step with the same signature traces nothing, and the caches stay bounded."""
import numpy as np

import graphc as keras
from graphc import layers, losses
from graphc.training import tape as tape_mod


class CountingScale(keras.Layer):
    """Halves its input and counts how often it is traced (``call`` runs once per trace)."""

    traces = 0

    def call(self, x):
        CountingScale.traces += 1
        return keras.ops.mul(x, np.float32(0.5))


MSE = losses.MeanSquaredError()


def _long_step(n, scale, dense, x, target, mse=MSE):
    """One tape step with ``n`` calls of ``scale`` among 4n + 2 recorded calls (layers, losses, arithmetic)."""
    with keras.GradientTape() as tape:
        h = dense(x)
        loss = mse(target, h)
        for _ in range(n):
            h = scale(h) + 0.25
            loss = loss + mse(target, h)
    return tape, loss, tape.gradient(loss, dense.trainable_variables)


def test_tracing_is_linear_in_the_recorded_calls_and_the_second_step_traces_nothing():
    rng = np.random.default_rng(0)
    dense = layers.Dense(4)
    for n in (10, 40):
        scale = CountingScale()
        x = rng.standard_normal((3, 4)).astype(np.float32)
        target = np.zeros((3, 4), np.float32)
        CountingScale.traces = 0
        traced = tape_mod.STATS["traced_calls"]
        tape, loss, grads = _long_step(n, scale, dense, x, target)
        # recording traces each call once, building the gradient at most once more: not n^2 / 2
        assert n <= CountingScale.traces <= 2 * n, (n, CountingScale.traces)
        assert len(tape._events) == 2 + 4 * n
        assert tape_mod.STATS["traced_calls"] - traced <= 2 * len(tape._events)
        CountingScale.traces = 0
        n_exes, traced = tape_mod.STATS["compiled"], tape_mod.STATS["traced_calls"]
        x2 = rng.standard_normal((5, 4)).astype(np.float32)  # another batch size: same program
        _, loss2, grads2 = _long_step(n, scale, dense, x2, np.zeros((5, 4), np.float32))
        assert CountingScale.traces == 0 and tape_mod.STATS["compiled"] == n_exes
        assert tape_mod.STATS["traced_calls"] == traced
        assert np.isfinite(float(loss2)) and [g.shape for g in grads2] == [(4, 4), (4,)]


def test_the_traced_program_matches_numpy_for_a_long_chain():
    rng = np.random.default_rng(1)
    dense = layers.Dense(4)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    target = rng.standard_normal((3, 4)).astype(np.float32)
    _, loss, _ = _long_step(12, CountingScale(), dense, x, target)
    h = x @ dense.kernel.numpy() + dense.bias.numpy()
    want = ((h - target) ** 2).mean()
    for _ in range(12):
        h = h * 0.5 + 0.25
        want += ((h - target) ** 2).mean()
    np.testing.assert_allclose(float(loss), want, rtol=1e-5)


def test_recorded_indexing_is_cached_by_its_index_and_not_kept_alive():
    import gc
    import weakref

    rng = np.random.default_rng(2)
    scale = CountingScale()
    x = rng.standard_normal((3, 4)).astype(np.float32)

    def step(k):
        with keras.GradientTape() as tape:
            tape.watch(x)
            score = scale(x)[:, k]
        return tape, tape.gradient(score, x)

    _, g = step(1)
    np.testing.assert_array_equal(g, np.eye(4, dtype=np.float32)[1].repeat(3).reshape(4, 3).T * 0.5)
    CountingScale.traces = 0
    n_exes = tape_mod.STATS["compiled"]
    tape, g = step(1)  # an equal index made anew: the cached program, no tracing
    assert CountingScale.traces == 0 and tape_mod.STATS["compiled"] == n_exes
    op = weakref.ref(tape._events[-1][0])
    del tape
    gc.collect()
    assert op() is None  # neither a registry of index ops nor the caches hold it
    for k in range(4):   # other indexes: other programs
        assert step(k)[1][:, k].tolist() == [0.5, 0.5, 0.5]


def test_the_caches_keep_no_model_alive():
    import gc
    import weakref

    model = keras.Sequential([keras.Input((4,)), layers.Dense(3)])
    x = np.ones((2, 4), np.float32)
    with keras.GradientTape() as tape:
        loss = MSE(np.zeros((2, 3), np.float32), model(x))
    tape.gradient(loss, model.trainable_variables)
    ref = weakref.ref(model)
    del model, tape, loss
    gc.collect()
    assert ref() is None


def test_recording_after_a_gradient_or_a_value_took_the_traced_graph():
    """gradient and values build on the graph recording traced; calls recorded later trace anew."""
    rng = np.random.default_rng(3)
    dense = layers.Dense(4)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    target = np.zeros((3, 4), np.float32)
    with keras.GradientTape(persistent=True) as tape:
        h = dense(x)
        first = MSE(target, h)
        g1 = tape.gradient(first, dense.kernel)
        pred = x @ dense.kernel.numpy() + dense.bias.numpy()
        np.testing.assert_allclose(np.asarray(h), pred, rtol=1e-5, atol=1e-6)
        second = MSE(target, h * 2.0)
        with np.testing.assert_raises(ValueError):
            h[:, :2] * np.ones(3, np.float32)  # a failed call leaves the tape usable
        third = second + first
    np.testing.assert_allclose(g1, 2 * x.T @ pred / pred.size, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(third), 5 * (pred ** 2).mean(), rtol=1e-5)
    np.testing.assert_allclose(tape.gradient(third, dense.kernel), 5 * g1, rtol=1e-5, atol=1e-6)
