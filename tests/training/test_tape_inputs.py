"""GradientTape gradients with respect to inputs (``tape.watch(x)``) and recorded values, checked
against central finite differences of float64 NumPy models: saliency, FGSM, inputs and weights in
one call, the compiled-program cache, and the errors."""
import warnings

import numpy as np
import pytest

import graphc as keras
from graphc import layers, losses
from graphc.training import tape as tape_mod

from .test_conv import conv_fwd

RTOL, ATOL = 2e-3, 1e-5  # float32 onnxruntime gradients vs float64 finite differences


def numeric_grad(f, x, eps=1e-6):
    """Central finite differences of the float64 scalar function ``f`` at every element of ``x``."""
    x = np.asarray(x, np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        g[i] = (f(x + d) - f(x - d)) / (2 * eps)
    return g


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def dense_model():
    return keras.Sequential([keras.Input((5,)), layers.Dense(7, activation="relu"),
                             layers.Dense(3, activation="softmax")])


def dense_probs(model, x):
    k1, b1, k2, b2 = [w.astype(np.float64) for w in model.get_weights()]
    return softmax(np.maximum(x @ k1 + b1, 0) @ k2 + b2)


def conv_model():
    return keras.Sequential([keras.Input((5, 5, 2)), layers.Conv2D(3, 3, activation="relu"), layers.Flatten(),
                             layers.Dense(4, activation="softmax")])


def conv_probs(model, x):
    k1, b1, k2, b2 = [w.astype(np.float64) for w in model.get_weights()]
    z, _ = conv_fwd(x, k1, b1, 0)
    return softmax(np.maximum(z, 0).reshape(len(x), -1) @ k2 + b2)


def ce(p, y):
    return -np.log(p[np.arange(len(y)), y]).mean()


CASES = {"dense": (dense_model, dense_probs, (4, 5), 3), "conv": (conv_model, conv_probs, (2, 5, 5, 2), 4)}


@pytest.fixture(params=sorted(CASES))
def case(request):
    make, probs, shape, classes = CASES[request.param]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.integers(0, classes, shape[0])
    return make(), probs, x, y


def test_input_gradient_of_the_loss_matches_finite_differences(case):
    model, probs, x, y = case
    with keras.GradientTape() as tape:
        tape.watch(x)
        loss = losses.SparseCategoricalCrossentropy()(y, model(x))
    gx = tape.gradient(loss, x)
    assert gx.shape == x.shape and gx.dtype == np.float32
    np.testing.assert_allclose(gx, numeric_grad(lambda v: ce(probs(model, v), y), x), rtol=RTOL, atol=ATOL)


def test_saliency_of_a_class_score(case):
    model, probs, x, _ = case
    with keras.GradientTape() as tape:
        tape.watch(x)
        preds = model(x)
        score = preds[:, 1]            # recorded indexing; a non-scalar target is summed
    assert isinstance(score, tape_mod.TapeTensor) and score.shape == (len(x),)
    np.testing.assert_allclose(np.asarray(score), probs(model, x)[:, 1], rtol=1e-5, atol=1e-6)
    g = tape.gradient(score, x)
    np.testing.assert_allclose(g, numeric_grad(lambda v: probs(model, v)[:, 1].sum(), x), rtol=RTOL, atol=ATOL)
    with keras.GradientTape() as tape:
        tape.watch(x)
        first = model(x)[0, -1]        # an int on the batch axis, a negative int on the class axis
    g0 = tape.gradient(first, x)
    np.testing.assert_allclose(g0, numeric_grad(lambda v: probs(model, v)[0, -1], x), rtol=RTOL, atol=ATOL)
    assert not g0[1:].any()  # the other images do not move the first image's score


def test_fgsm_step_increases_the_loss():
    model, x = dense_model(), np.random.default_rng(1).standard_normal((8, 5)).astype(np.float32)
    y = np.argmax(model.predict(x, verbose=0), axis=-1)  # the model's own labels, as in the FGSM tutorial
    loss_fn = losses.SparseCategoricalCrossentropy()
    with keras.GradientTape() as tape:
        tape.watch(x)
        loss = loss_fn(y, model(x))
    adv = x + 0.1 * np.sign(tape.gradient(loss, x))
    assert ce(dense_probs(model, adv), y) > ce(dense_probs(model, x), y) + 1e-3
    np.testing.assert_allclose(float(loss), ce(dense_probs(model, x), y), rtol=1e-5)


def test_inputs_and_weights_in_one_call_equal_separate_calls_in_any_structure():
    model = dense_model()
    x = np.random.default_rng(2).standard_normal((4, 5)).astype(np.float32)
    y = np.array([0, 2, 1, 2])
    with keras.GradientTape(persistent=True) as tape:
        tape.watch([x])
        loss = losses.SparseCategoricalCrossentropy()(y, model(x))
    weights = model.trainable_variables
    both = tape.gradient(loss, [x, *weights])
    gx = tape.gradient(loss, x)
    gw = tape.gradient(loss, weights)
    nested = tape.gradient(loss, {"input": x, "params": (weights[0], [weights[3]])})
    assert isinstance(both, list) and len(both) == 5
    np.testing.assert_array_equal(both[0], gx)
    for a, b in zip(both[1:], gw):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert set(nested) == {"input", "params"} and isinstance(nested["params"], tuple)
    np.testing.assert_array_equal(nested["input"], gx)
    np.testing.assert_allclose(nested["params"][1][0], gw[3], rtol=1e-6, atol=1e-7)
    # the kernel's gradient from the mixed call against finite differences too
    k1 = weights[0].numpy().astype(np.float64)

    def f(k):
        _, b1, k2, b2 = [w.astype(np.float64) for w in model.get_weights()]
        return ce(softmax(np.maximum(x @ k + b1, 0) @ k2 + b2), y)

    np.testing.assert_allclose(both[1], numeric_grad(f, k1), rtol=RTOL, atol=ATOL)


def test_gradient_with_respect_to_a_recorded_intermediate_value():
    extractor = keras.Sequential([keras.Input((5,)), layers.Dense(6, activation="tanh")])
    head = layers.Dense(3)
    x = np.random.default_rng(3).standard_normal((4, 5)).astype(np.float32)
    with keras.GradientTape(persistent=True) as tape:
        features = extractor(x)
        tape.watch(features)  # recorded values are always differentiable; watching them is allowed
        out = head(features)
        loss = (out * out) * 0.5
    g = tape.gradient(loss, features)
    k, b = [w.astype(np.float64) for w in head.get_weights()]
    f = np.asarray(features).astype(np.float64)
    assert g.shape == (4, 6)
    np.testing.assert_allclose(g, numeric_grad(lambda v: 0.5 * ((v @ k + b) ** 2).sum(), f), rtol=RTOL, atol=ATOL)
    # x was not watched: None (as in TensorFlow), with a warning since the tape used it
    with pytest.warns(UserWarning, match="not watched"):
        gx, gf = tape.gradient(loss, [x, features])
    assert gx is None
    np.testing.assert_array_equal(gf, g)


def test_embedding_ids_are_not_differentiable_but_their_embeddings_are():
    emb = layers.Embedding(10, 4)
    dense = layers.Dense(1)
    ids = np.array([[1, 2, 3], [4, 5, 1]])
    with keras.GradientTape(persistent=True) as tape:
        with pytest.warns(UserWarning, match="not differentiable"):
            tape.watch(ids)
        vectors = emb(ids)
        loss = dense(vectors)
    with pytest.raises(TypeError, match="token ids"):
        tape.gradient(loss, ids)
    g = tape.gradient(loss, vectors)  # the gradient the error message recommends
    np.testing.assert_allclose(g, np.broadcast_to(dense.kernel.numpy()[:, 0], (2, 3, 4)), rtol=1e-6)


def test_same_shapes_reuse_the_compiled_program_and_other_sources_do_not():
    model = dense_model()
    rng = np.random.default_rng(4)
    loss_fn = losses.SparseCategoricalCrossentropy()

    def step(x, y, sources):
        with keras.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(y, model(x))
        return tape.gradient(loss, sources(x))

    def check(x, y, gx):
        np.testing.assert_allclose(gx, numeric_grad(lambda v: ce(dense_probs(model, v), y), x), rtol=RTOL, atol=ATOL)

    x, y = rng.standard_normal((4, 5)).astype(np.float32), rng.integers(0, 3, 4)
    check(x, y, step(x, y, lambda x: x))
    n = tape_mod.STATS["compiled"]
    for batch in (4, 3, 6):  # new arrays, other batch sizes: the batch dim is symbolic
        x, y = rng.standard_normal((batch, 5)).astype(np.float32), rng.integers(0, 3, batch)
        gx = step(x, y, lambda x: x)
        assert gx.shape == (batch, 5)
        check(x, y, gx)
    assert tape_mod.STATS["compiled"] == n
    # other sources on the same program: a new executable, not the input-gradient one
    gk = step(x, y, lambda x: model.trainable_variables[0])
    assert gk.shape == (5, 7) and tape_mod.STATS["compiled"] == n + 1


def test_which_of_two_same_shaped_inputs_is_watched_is_part_of_the_cache_key():
    dense = layers.Dense(2)
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32)
    w = rng.standard_normal((3, 2)).astype(np.float32)

    def grad(watched):
        with keras.GradientTape() as tape:
            tape.watch(watched)
            loss = dense(a) * w + dense(b) * dense(b)
        return tape.gradient(loss, watched)

    ga = grad(a)
    k = dense.kernel.numpy()
    np.testing.assert_allclose(ga, w @ k.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad(b), 2 * np.asarray(dense(b)) @ k.T, rtol=1e-5, atol=1e-6)


def test_an_array_used_in_several_calls_sums_its_gradients_and_float64_stays_float64():
    dense = layers.Dense(3)
    x = np.random.default_rng(6).standard_normal((2, 3))  # float64: computed in float32
    with keras.GradientTape() as tape:
        tape.watch(x)
        loss = losses.MeanSquaredError()(x, dense(x))  # x as the label and as the model's input
    g = tape.gradient(loss, x)
    assert g.dtype == np.float64 and g.shape == (2, 3)
    k, b = [w.astype(np.float64) for w in dense.get_weights()]
    np.testing.assert_allclose(g, numeric_grad(lambda v: ((v @ k + b - v) ** 2).mean(), x), rtol=RTOL, atol=ATOL)


def test_unconnected_and_unwatched_sources():
    dense = layers.Dense(2)
    x = np.ones((2, 3), np.float32)
    unused = np.ones((5,), np.float32)
    with keras.GradientTape(persistent=True) as tape:
        tape.watch([x, unused])
        loss = dense(x)
    assert tape.gradient(loss, unused) is None
    np.testing.assert_array_equal(tape.gradient(loss, [unused], unconnected_gradients="zero")[0], np.zeros(5))
    other = x.copy()  # equal values, another object: arrays are matched by identity
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tape.gradient(loss, other) is None  # never recorded: no warning
    with pytest.raises(ValueError, match="unconnected_gradients"):
        tape.gradient(loss, x, unconnected_gradients="zeros")


def test_watch_and_gradient_errors():
    x = np.ones((2, 3), np.float32)
    with keras.GradientTape() as tape:
        for bad in (1.5, "x", [[1.0, 2.0]], object()):
            with pytest.raises(TypeError, match="NumPy array"):
                tape.watch(bad)
        tape.watch(x)
        loss = layers.Dense(1)(x)
    with pytest.raises(TypeError, match="sources must be"):
        tape.gradient(loss, [x, "kernel"])
    with pytest.raises(TypeError, match="target must be"):
        tape.gradient(np.asarray(loss), x)
    assert tape.gradient(loss, x).shape == (2, 3)  # the failed calls did not use up the tape
    with keras.GradientTape():
        other_loss = layers.Dense(1)(x)
        with pytest.raises(ValueError, match="another GradientTape"):
            tape.watch(other_loss)


def test_indexing_the_graph_cannot_express_falls_back_to_numbers():
    x = np.random.default_rng(7).standard_normal((3, 4)).astype(np.float32)
    dense = layers.Dense(4)
    with keras.GradientTape():
        out = dense(x)
        want = np.asarray(out)
        for item in ((slice(None), slice(None, None, 2)), (slice(None), slice(1, 3)), (0, 1)):
            assert isinstance(out[item], tape_mod.TapeTensor)
        for item in ([0, 2], out.numpy() > 0, (Ellipsis, None), -1, slice(1, None)):  # fancy; new axis; batch end
            np.testing.assert_array_equal(out[item], want[item])
        np.testing.assert_allclose(np.asarray(out[1:, ::-2]), want[1:, ::-2], rtol=1e-6)
        np.testing.assert_allclose(np.asarray(out[..., 1]), want[..., 1], rtol=1e-6)
    assert isinstance(out[0], np.ndarray)  # not recorded once the tape has exited


def test_readme_saliency_snippet_runs():
    import os
    import re

    readme = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
    section = open(readme).read().split("## Gradients with respect to inputs", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["grads"].shape == (4, 28, 28, 1) and scope["saliency"].shape == (4, 28, 28)
    assert np.abs(scope["grads"]).sum() > 0


def test_iterating_records_nothing_and_nested_tapes_warn_about_second_order_gradients():
    dense = layers.Dense(2)
    x = np.ones((3, 4), np.float32)
    with keras.GradientTape() as outer:
        with keras.GradientTape() as inner:
            inner.watch(x)
            out = dense(x)
            n_events = len(inner._events)
            rows = list(out)
            assert len(rows) == 3 and isinstance(rows[0], np.ndarray) and len(inner._events) == n_events
        with pytest.warns(UserWarning, match=r"second-order gradients .* not supported\. Call gradient outside the "
                          r"outer tape; .*central differences of first-order gradients"):
            g = inner.gradient(out, x)
    np.testing.assert_allclose(g, np.broadcast_to(dense.kernel.numpy().sum(1), (3, 4)), rtol=1e-6)
    assert outer._events == []
