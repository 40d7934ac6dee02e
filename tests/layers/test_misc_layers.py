"""Activation layers, Activation by every name, Dropout, Embedding and BatchNormalization against
NumPy references written here."""
import math

import numpy as np
import pytest

import graphc as keras
from graphc import layers
from graphc.ir import Graph, TensorType
from graphc.ops import Builder
from graphc.ops.interpreter import evaluate
from graphc.testing import gradcheck_graph, run_onnx

RNG = np.random.default_rng(0)
X = np.linspace(-9, 9, 60).astype(np.float32).reshape(4, 15)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def _trace(layer, x, training=False, name="x"):
    """The layer's ops in a graph with one input; returns (graph, builder, output)."""
    g = Graph("t")
    b = Builder(g)
    b.training = training
    with b.activate():
        xi = b.input(name, TensorType(x.dtype.name, ("batch",) + x.shape[1:]))
        y = layer(xi)
    g.set_outputs([y], ["y"])
    return g, b, y


# -- activation layers -------------------------------------------------------------------------------

def _keras_relu(x, max_value=None, negative_slope=0.0, threshold=0.0):
    """Keras 3's formula: clip(x * (x > threshold), 0, max) - slope * relu(threshold - x)."""
    pos = np.where(x > threshold, x, 0.0)
    if max_value is not None:
        pos = np.clip(pos, 0.0, max_value)
    return pos - negative_slope * np.maximum(threshold - x, 0.0)


@pytest.mark.parametrize("kwargs", [{}, {"max_value": 6.0}, {"negative_slope": 0.1},
                                    {"max_value": 4.0, "negative_slope": 0.1, "threshold": 1.0},
                                    {"threshold": 2.0}, {"max_value": 3.0, "threshold": -1.0}])
def test_relu_layer(kwargs):
    np.testing.assert_allclose(layers.ReLU(**kwargs)(X), _keras_relu(X.astype(np.float64), **kwargs), rtol=1e-6,
                               atol=1e-6)


def test_relu6_is_mobilenet_relu():
    y = layers.ReLU(6.0)(X)
    assert y.max() == 6.0 and y.min() == 0.0


def test_relu_layer_gradient():
    layer = layers.ReLU(max_value=4.0, negative_slope=0.1, threshold=1.0)
    x = RNG.standard_normal((3, 7)) * 3
    x[np.abs(x - 1.0) < 0.1] += 0.3  # away from the kinks
    x[np.abs(x - 4.0) < 0.1] += 0.3
    g, _, _ = _trace(layer, x)
    gradcheck_graph(g, {"x": x})


def test_leaky_relu_layer_default_slope_is_keras3s():
    np.testing.assert_allclose(layers.LeakyReLU()(X), np.where(X >= 0, X, 0.3 * X), rtol=1e-6)
    np.testing.assert_allclose(layers.LeakyReLU(negative_slope=0.05)(X), np.where(X >= 0, X, 0.05 * X), rtol=1e-6)
    assert layers.LeakyReLU(alpha=0.2).negative_slope == 0.2


def test_softmax_and_elu_layers():
    x3 = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(layers.Softmax()(x3), _softmax(x3), rtol=1e-5)
    np.testing.assert_allclose(layers.Softmax(axis=1)(x3), _softmax(x3, 1), rtol=1e-5)
    np.testing.assert_allclose(layers.ELU()(X), np.where(X > 0, X, np.expm1(X)), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(layers.ELU(alpha=0.5)(X), np.where(X > 0, X, 0.5 * np.expm1(X)), rtol=1e-5,
                               atol=1e-7)


def test_softmax_mask():
    x = RNG.standard_normal((2, 5)).astype(np.float32)
    mask = np.array([[1, 1, 0, 1, 0], [1, 1, 1, 1, 1]], bool)
    g = Graph("t")
    b = Builder(g)
    with b.activate():
        xi = b.input("x", TensorType.of(x))
        mi = b.input("m", TensorType.of(mask))
        y = layers.Softmax()(xi, mask=mi)
    g.set_outputs([y], ["y"])
    got = run_onnx(g, {"x": x, "m": mask})[0]
    expect = _softmax(np.where(mask, x, -np.inf))
    np.testing.assert_allclose(got, expect, atol=1e-6)


_ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "softmax": _softmax,
    "gelu": lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2))),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "swish": lambda x: x * _sigmoid(x),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.2 * x),  # keras.activations.leaky_relu: slope 0.2
    "linear": lambda x: x,
}


@pytest.mark.parametrize("name", sorted(_ACTIVATIONS))
def test_activation_layer_by_name(name):
    x = np.linspace(-5, 5, 24).reshape(4, 6)
    got = layers.Activation(name)(x.astype(np.float32))
    np.testing.assert_allclose(got, _ACTIVATIONS[name](x), rtol=2e-5, atol=2e-6)


# -- Dropout -----------------------------------------------------------------------------------------

def test_dropout_is_identity_outside_training():
    d = layers.Dropout(0.5)
    np.testing.assert_array_equal(d(X), X)
    g, _, _ = _trace(d, X)
    assert "Dropout" not in g.count_ops()


def test_dropout_in_training_scales_kept_values():
    x = RNG.random((100, 40)).astype(np.float32) + 1
    y = layers.Dropout(0.3, seed=5)(x, training=True)
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / 0.7, rtol=1e-6)
    assert abs(1 - kept.mean() - 0.3) < 0.03


def test_dropout_in_training_inside_a_model_is_not_optimized_away():
    """Monte Carlo dropout: Dropout(training=True) between two layers stays in onnxruntime's session
    (its optimizer removes a Dropout whose mask nobody reads unless told not to)."""
    inputs = keras.Input((3,))
    outputs = layers.Dense(3)(layers.Dropout(0.5, seed=4)(layers.Dense(8)(inputs), training=True))
    model = keras.Model(inputs, outputs)
    x = np.ones((200, 3), np.float32)
    a, b = model.predict(x, verbose=0), model.predict(x, verbose=0)
    assert not np.array_equal(a, b)           # a new draw each run
    assert len(np.unique(a.round(5), axis=0)) > 50  # and per row


def test_dropout_with_training_as_a_graph_input():
    x = RNG.random((50, 40)).astype(np.float32) + 1
    g = Graph("t")
    b = Builder(g)
    with b.activate():
        xi = b.input("x", TensorType("float32", ("batch", 40)))
        b.training = b.input("training", TensorType("bool", ()))
        y = layers.Dropout(0.5)(xi)
    g.set_outputs([y], ["y"])
    np.testing.assert_array_equal(run_onnx(g, {"x": x, "training": np.asarray(False)})[0], x)
    yt = run_onnx(g, {"x": x, "training": np.asarray(True)})[0]
    assert 0.4 < (yt == 0).mean() < 0.6
    np.testing.assert_allclose(yt[yt != 0], 2 * x[yt != 0], rtol=1e-6)


def test_dropout_gradient_in_training():
    x = RNG.standard_normal((6, 5))
    g, _, _ = _trace(layers.Dropout(0.4, seed=2), x, training=True)
    gradcheck_graph(g, {"x": x}, ort=False)  # the interpreter's mask is seeded, onnxruntime's is its own


def test_dropout_arguments():
    with pytest.raises(ValueError, match="rate"):
        layers.Dropout(1.0)
    with pytest.raises(ValueError, match="noise_shape must be a tuple"):
        layers.Dropout(0.5, noise_shape=(None, 0))
    with pytest.raises(ValueError, match=r"axis 1: expected None, 1 or 15, received 3"):
        layers.Dropout(0.5, noise_shape=(None, 3))(X, training=True)
    with pytest.raises(ValueError, match="one entry per axis"):
        layers.Dropout(0.5, noise_shape=(None, 1, 1))(X, training=True)
    with pytest.raises(ValueError, match="rank 4"):
        layers.SpatialDropout2D(0.5)(X, training=True)


@pytest.mark.parametrize("make, x, shared", [
    (lambda: layers.Dropout(0.5, noise_shape=(None, 1, 8), seed=3), (64, 6, 8), (1,)),
    (lambda: layers.SpatialDropout1D(0.5, seed=3), (64, 6, 8), (1,)),
    (lambda: layers.SpatialDropout2D(0.5, seed=3), (64, 5, 4, 8), (1, 2)),
    (lambda: layers.SpatialDropout2D(0.5, data_format="channels_first", seed=3), (64, 8, 5, 4), (2, 3)),
])
def test_noise_shape_shares_one_draw_along_its_unit_axes(make, x, shared):
    """Each (sample, channel) is kept or dropped as a whole: the pattern is constant along the
    shared axes, about half the draws are dropped, and kept values are scaled by 1/(1-rate)."""
    x = RNG.random(x).astype(np.float32) + 1
    layer = make()
    y = layer(x, training=True)
    kept = y != 0
    np.testing.assert_array_equal(kept, kept.all(axis=shared, keepdims=True) & np.ones_like(kept))
    np.testing.assert_allclose(y[kept], 2 * x[kept], rtol=1e-6)
    assert 0.35 < 1 - kept.mean() < 0.65
    np.testing.assert_array_equal(layer(x), x)  # outside training: the identity


def test_noise_shape_gradient_is_the_broadcast_mask():
    """d sum(y * w) / dx = w * mask, with the mask of that same run (forward and backward in one graph)."""
    model = keras.Sequential([keras.Input((5, 4, 3)), layers.SpatialDropout2D(0.5, seed=1)])
    x = RNG.random((16, 5, 4, 3)).astype(np.float32) + 1
    w = RNG.random((16, 5, 4, 3)).astype(np.float32)
    with keras.GradientTape() as tape:
        tape.watch(x)
        y = model(x, training=True)
        target = y * w
    g = tape.gradient(target, x)
    y = np.asarray(y)
    mask = (y != 0).astype(np.float32) * 2
    np.testing.assert_allclose(g, w * mask, rtol=1e-6)
    assert (mask == 0).any() and (mask != 0).any()


def test_spatial_dropout_trains_and_round_trips(tmp_path):
    keras.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 2)), layers.Conv2D(4, 3, activation="relu"),
                               layers.SpatialDropout2D(0.3), layers.Flatten(), layers.Dense(2)])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = RNG.random((64, 6, 6, 2)).astype(np.float32)
    y = (x[:, :3].mean(axis=(1, 2, 3)) > x[:, 3:].mean(axis=(1, 2, 3))).astype(np.int64)
    history = model.fit(x, y, batch_size=16, epochs=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = str(tmp_path / "m.graphc")
    model.save(path)
    loaded = keras.load_model(path)
    assert isinstance(loaded.layers[1], layers.SpatialDropout2D) and loaded.layers[1].rate == 0.3
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


# -- Embedding ---------------------------------------------------------------------------------------

def test_embedding_forward_any_rank_and_dtype():
    e = layers.Embedding(20, 4)
    table = None
    for dtype in ("int32", "int64"):
        for shape in [(3,), (2, 5), (2, 3, 4)]:
            ids = RNG.integers(0, 20, shape).astype(dtype)
            y = e(ids)
            table = e.embeddings.numpy()
            np.testing.assert_array_equal(y, table[ids])
    assert e.embeddings.shape == (20, 4)
    assert np.abs(table).max() <= 0.05  # Keras' "uniform" initializer: RandomUniform(-0.05, 0.05)


def test_embedding_float_ids_are_cast():
    e = layers.Embedding(10, 3)
    ids = np.array([[1, 2, 9]], np.float32)
    np.testing.assert_array_equal(e(ids), e.embeddings.numpy()[ids.astype(int)])


def test_embedding_out_of_range_id_is_reported_with_its_position():
    e = layers.Embedding(10, 3)
    with pytest.raises(ValueError, match=r'layer "embedding".*id 10 at position \(1, 2\) is out of range \[0, 10\)'):
        e(np.array([[1, 2, 3], [4, 5, 10]]))
    with pytest.raises(ValueError, match=r"id -3 at position \(0, 0\)"):
        e(np.array([[-3, 2, 3]]))


def test_embedding_out_of_range_in_predict():
    inp = keras.Input(shape=(None,), dtype="int32", name="words")
    model = keras.Model(inp, layers.Embedding(50, 2)(inp))
    ids = RNG.integers(0, 50, (4, 9)).astype(np.int32)
    assert model.predict(ids).shape == (4, 9, 2)
    ids[3, 8] = 50
    with pytest.raises(ValueError, match=r"id 50 at position \(3, 8\) is out of range \[0, 50\)"):
        model.predict(ids)


def test_embedding_gradient_scatter_adds_duplicate_ids():
    e = layers.Embedding(6, 3, dtype="float64")
    ids = np.array([[1, 2, 1], [5, 1, 0]], np.int64)
    g, _, y = _trace(e, ids)
    grads = gradcheck_graph(g, {"x": ids})
    dy = np.ones((2, 3, 3))
    (table_grad,) = grads.values()
    expect = np.zeros((6, 3))
    np.add.at(expect, ids.reshape(-1), 1.0)
    assert table_grad.shape == (6, 3)
    # with dy random the exact values differ; the counts show with dy = 1
    from graphc.testing import build_gradient_graph

    gg, dy_names, _ = build_gradient_graph(g)
    (got,) = evaluate(gg, {"x": ids, dy_names[0]: dy})
    np.testing.assert_allclose(got, expect[:, :1] * np.ones((1, 3)))
    np.testing.assert_allclose(run_onnx(gg, {"x": ids, dy_names[0]: dy})[0], got)


def test_embedding_mask_zero_is_refused():
    with pytest.raises(NotImplementedError, match="mask_zero"):
        layers.Embedding(10, 2, mask_zero=True)


def test_shared_embedding_one_set_of_weights_two_uses():
    shared = layers.Embedding(1000, 128)
    a = keras.Input(shape=(None,), dtype="int32")
    b = keras.Input(shape=(None,), dtype="int32")
    ea, eb = shared(a), shared(b)
    assert ea.shape == (None, None, 128) and eb.shape == (None, None, 128)
    model = keras.Model([a, b], [ea, eb])
    assert len(model.weights) == 1 and model.count_params() == 128000
    ids_a = RNG.integers(0, 1000, (2, 7)).astype(np.int32)
    ids_b = RNG.integers(0, 1000, (2, 3)).astype(np.int32)
    ya, yb = model.predict([ids_a, ids_b])
    table = shared.embeddings.numpy()
    np.testing.assert_array_equal(ya, table[ids_a])
    np.testing.assert_array_equal(yb, table[ids_b])
    graph = model._trace_graph(False)
    assert len(graph.params()) == 1 and graph.count_ops()["Gather"] == 2


# -- BatchNormalization ------------------------------------------------------------------------------

def _bn_weights(bn, c):
    bn.set_weights([RNG.random(c) + 0.5, RNG.standard_normal(c), RNG.standard_normal(c), RNG.random(c) + 0.5])
    return bn.get_weights()


def test_batch_norm_weights_and_counts():
    inp = keras.Input((5, 5, 3))
    bn = layers.BatchNormalization()
    model = keras.Model(inp, bn(inp))
    assert [w.path for w in bn.weights] == [f"{bn.name}/gamma", f"{bn.name}/beta", f"{bn.name}/moving_mean",
                                           f"{bn.name}/moving_variance"]
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    assert model.count_params() == 12


@pytest.mark.parametrize("shape,axis", [((4, 5, 5, 3), -1), ((6, 4), -1), ((4, 3, 5, 5), 1), ((3, 4, 6), 1)])
def test_batch_norm_inference_uses_moving_statistics(shape, axis):
    """y = (x - moving_mean) / sqrt(moving_variance + epsilon) * gamma + beta, Keras' epsilon 1e-3."""
    x = (RNG.standard_normal(shape) * 2 + 1).astype(np.float32)
    bn = layers.BatchNormalization(axis=axis)
    bn(x)
    c = shape[axis]
    gamma, beta, mm, mv = _bn_weights(bn, c)
    bshape = [1] * len(shape)
    bshape[axis] = c
    r = lambda v: v.reshape(bshape)  # noqa: E731
    expect = (x - r(mm)) / np.sqrt(r(mv) + 1e-3) * r(gamma) + r(beta)
    np.testing.assert_allclose(bn(x), expect, rtol=1e-5, atol=1e-5)


def test_batch_norm_training_uses_batch_statistics_and_updates_moving_ones():
    """Training: biased batch variance; moving = moving * momentum + batch * (1 - momentum) (Keras 3)."""
    x = (RNG.standard_normal((8, 3, 3, 4)) * 2 + 1).astype(np.float32)
    bn = layers.BatchNormalization(momentum=0.9, epsilon=1e-2)
    bn(x)
    gamma, beta, mm, mv = _bn_weights(bn, 4)
    g, b, _ = _trace(bn, x, training=True)
    assert [v.path for v, _ in b.state_updates] == [bn.moving_mean.path, bn.moving_variance.path]
    g.set_outputs([g.outputs[0]] + [v for _, v in b.state_updates], ["y", "mean", "var"])
    mu, var = x.mean((0, 1, 2)), x.var((0, 1, 2))
    expect_y = (x - mu) / np.sqrt(var + 1e-2) * gamma + beta
    for y, new_mean, new_var in (evaluate(g, {"x": x}), run_onnx(g, {"x": x})):
        np.testing.assert_allclose(y, expect_y, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(new_mean, mm * 0.9 + mu * 0.1, rtol=1e-5)
        np.testing.assert_allclose(new_var, mv * 0.9 + var * 0.1, rtol=1e-5)
    assert "BatchNormalization" not in g.count_ops()  # training mode is built from primitives


def test_batch_norm_with_training_as_a_graph_input():
    x = (RNG.standard_normal((6, 4)) * 3).astype(np.float32)
    bn = layers.BatchNormalization(momentum=0.5)
    bn(x)
    gamma, beta, mm, mv = _bn_weights(bn, 4)
    g = Graph("t")
    b = Builder(g)
    with b.activate():
        xi = b.input("x", TensorType("float32", ("batch", 4)))
        b.training = b.input("training", TensorType("bool", ()))
        y = bn(xi)
    g.set_outputs([y] + [v for _, v in b.state_updates], ["y", "mean", "var"])
    y, m, v = run_onnx(g, {"x": x, "training": np.asarray(True)})
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3) * gamma + beta, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m, 0.5 * mm + 0.5 * x.mean(0), rtol=1e-5)
    y, m, v = run_onnx(g, {"x": x, "training": np.asarray(False)})
    np.testing.assert_allclose(y, (x - mm) / np.sqrt(mv + 1e-3) * gamma + beta, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m, mm, rtol=1e-6)
    np.testing.assert_allclose(v, mv, rtol=1e-6)


def test_frozen_batch_norm_runs_in_inference_mode():
    x = RNG.standard_normal((5, 3)).astype(np.float32)
    bn = layers.BatchNormalization()
    bn(x)
    bn.trainable = False
    g, b, _ = _trace(bn, x, training=True)
    assert not b.state_updates and "BatchNormalization" in g.count_ops()
    assert bn.trainable_weights == [] and len(bn.non_trainable_weights) == 4


@pytest.mark.parametrize("training", [False, True])
def test_batch_norm_gradient(training):
    bn = layers.BatchNormalization(dtype="float64", momentum=0.8)
    x = RNG.standard_normal((6, 2, 3)) * 2
    g, _, _ = _trace(bn, x, training=training)
    _bn_weights(bn, 3)
    gradcheck_graph(g, {"x": x})


def test_batch_norm_rejects_unknown_feature_axis():
    inp = keras.Input((None, 3))
    with pytest.raises(ValueError, match="must be known"):
        layers.BatchNormalization(axis=1)(inp)


# -- configs and export ------------------------------------------------------------------------------

@pytest.mark.parametrize("layer", [
    lambda: layers.ReLU(6.0, negative_slope=0.1, threshold=0.5), lambda: layers.LeakyReLU(0.2),
    lambda: layers.Softmax(axis=1), lambda: layers.ELU(0.7), lambda: layers.Dropout(0.3, seed=4),
    lambda: layers.Embedding(7, 3), lambda: layers.BatchNormalization(momentum=0.9, epsilon=0.01),
    lambda: layers.LSTM(4, return_sequences=True, go_backwards=True)])
def test_layer_config_round_trip(layer):
    first = layer()
    config = first.get_config()
    second = type(first).from_config({**config, "name": config["name"] + "_copy"})
    again = second.get_config()
    assert {k: v for k, v in again.items() if k != "name"} == {k: v for k, v in config.items() if k != "name"}


def test_export_with_batch_norm_dropout_relu6_matches_predict(tmp_path):
    import onnx
    import onnxruntime as ort

    inp = keras.Input((6, 6, 3))
    x = layers.BatchNormalization()(inp)
    x = layers.Dropout(0.5)(x)
    x = layers.ReLU(6.0)(x)
    x = layers.Reshape((108,))(x)
    x = layers.Dense(5)(x)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU()(x)
    out = layers.Softmax()(x)
    model = keras.Model(inp, out)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            _bn_weights(layer, layer.moving_mean.shape[0])
    path = str(tmp_path / "m.onnx")
    model.export(path)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    data = RNG.standard_normal((4, 6, 6, 3)).astype(np.float32) * 4
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input_layer": data})[0]
    np.testing.assert_allclose(got, model.predict(data), rtol=1e-5, atol=1e-6)
    assert "Dropout" not in {n.op_type for n in onnx.load(path).graph.node}


def test_eager_training_call_updates_moving_statistics():
    """Keras: calling the layer with training=True updates the moving statistics."""
    x = (RNG.standard_normal((16, 3)) * 2 + 5).astype(np.float32)
    bn = layers.BatchNormalization(momentum=0.5)
    y = bn(x, training=True)
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.5 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.5 + 0.5 * x.var(0), rtol=1e-5)
    bn(x, training=True)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.75 * x.mean(0), rtol=1e-5)
    before = bn.moving_mean.numpy()
    bn(x)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), before)


def test_summary_counts_moving_statistics_as_non_trainable():
    inp = keras.Input((8, 8, 3))
    x = layers.BatchNormalization()(inp)
    x = layers.Dropout(0.2)(x)
    model = keras.Model(inp, layers.ReLU(6.0)(x))
    lines = []
    model.summary(print_fn=lambda s, *a, **k: lines.append(s))
    text = "\n".join(lines)
    assert "Total params: 12" in text and "Trainable params: 6" in text and "Non-trainable params: 6" in text
