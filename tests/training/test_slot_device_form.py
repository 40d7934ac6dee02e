"""Optimizer slots in their device form: the graphs keep some slots scaled or shifted (Adam's
``m / (1 - beta_1)``...), and every place where state leaves the graphs must show Keras' slots.

Checked against an independent NumPy version of Keras' rules (float64) on the seed 000 MLP:
``get_state`` / ``variables`` after fitted steps, ``apply_gradients`` against ``fit``, the exported
training step run by hand, exact continuation through ``set_state(get_state())`` and saved files,
and the number of full-size elementwise passes each rule emits per parameter.
"""
import math

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import graphc as keras
from graphc import losses, optimizers

from .test_parity import BATCH, RTOL, data, initial_weights, mnist_mlp, np_loss_and_grads

STEPS = 20


# -- Keras' rules in NumPy, state keyed by graphc's slot names ---------------------------------------
def keras_step(kind, cfg, p, g, s, t, lr):
    """One Keras update of parameter ``p``; ``s`` holds the slots (Keras' values), ``t`` is 1-based."""
    wd = cfg.get("weight_decay")
    if wd:
        p = p - p * wd * lr
    if kind == "sgd":
        mu = cfg.get("momentum", 0.0)
        if not mu:
            return p - lr * g
        s["momentum"] = mu * s["momentum"] - lr * g
        return p + mu * s["momentum"] - lr * g if cfg.get("nesterov") else p + s["momentum"]
    if kind == "rmsprop":
        rho, eps, mu = cfg.get("rho", 0.9), cfg.get("epsilon", 1e-7), cfg.get("momentum", 0.0)
        s["velocity"] = rho * s["velocity"] + (1 - rho) * g * g
        denom = s["velocity"] + eps
        if cfg.get("centered"):
            s["average_gradient"] = rho * s["average_gradient"] + (1 - rho) * g
            denom = s["velocity"] - s["average_gradient"] ** 2 + eps
        inc = lr * g / np.sqrt(denom)
        if mu:
            s["momentum"] = mu * s["momentum"] + inc
            return p - s["momentum"]
        return p - inc
    if kind == "adam":
        b1, b2, eps = cfg.get("beta_1", 0.9), cfg.get("beta_2", 0.999), cfg.get("epsilon", 1e-7)
        s["momentum"] = s["momentum"] + (g - s["momentum"]) * (1 - b1)
        s["velocity"] = s["velocity"] + (g * g - s["velocity"]) * (1 - b2)
        v = s["velocity"]
        if cfg.get("amsgrad"):
            s["velocity_hat"] = np.maximum(s["velocity_hat"], v)
            v = s["velocity_hat"]
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        return p - alpha * s["momentum"] / (np.sqrt(v) + eps)
    if kind == "adagrad":
        s["accumulator"] = s["accumulator"] + g * g
        return p - lr * g / np.sqrt(s["accumulator"] + cfg.get("epsilon", 1e-7))
    raise AssertionError(kind)


def initial_slots(kind, cfg, shape):
    names = {"sgd": ["momentum"] if cfg.get("momentum") else [],
             "rmsprop": ["velocity"] + (["momentum"] if cfg.get("momentum") else [])
             + (["average_gradient"] if cfg.get("centered") else []),
             "adam": ["momentum", "velocity"] + (["velocity_hat"] if cfg.get("amsgrad") else []),
             "adagrad": ["accumulator"]}[kind]
    fill = cfg.get("initial_accumulator_value", 0.1) if kind == "adagrad" else 0.0
    return {n: np.full(shape, fill) for n in names}


def reference_run(kind, cfg, lr_at, steps=STEPS, ws=None):
    """Weights, slots per weight and per-step losses of ``steps`` Keras updates on the MLP (float64)."""
    ws = [w.astype(np.float64) for w in (initial_weights() if ws is None else ws)]
    x, y = data()
    slots = [initial_slots(kind, cfg, w.shape) for w in ws]
    step_losses = []
    for k in range(steps):
        xb, yb = x[k * BATCH:(k + 1) * BATCH].astype(np.float64), y[k * BATCH:(k + 1) * BATCH]
        loss, gs = np_loss_and_grads(ws, xb, yb)
        step_losses.append(loss)
        lr = lr_at(k)
        ws = [keras_step(kind, cfg, w, g, s, k + 1, lr) for w, g, s in zip(ws, gs, slots)]
    return ws, slots, np.array(step_losses)


CASES = [
    ("sgd", optimizers.SGD, {"learning_rate": 0.05}),
    ("sgd", optimizers.SGD, {"learning_rate": 0.05, "momentum": 0.9}),
    ("sgd", optimizers.SGD, {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    ("rmsprop", optimizers.RMSprop, {"learning_rate": 0.001}),
    ("rmsprop", optimizers.RMSprop, {"learning_rate": 0.001, "centered": True}),
    ("rmsprop", optimizers.RMSprop, {"learning_rate": 0.001, "momentum": 0.5, "centered": True}),
    ("rmsprop", optimizers.RMSprop, {"learning_rate": 0.001, "rho": 1.0}),  # v never moves: Keras' form kept
    ("adam", optimizers.Adam, {"learning_rate": 0.001}),
    ("adam", optimizers.Adam, {"learning_rate": 0.001, "amsgrad": True, "beta_1": 0.8}),
    ("adam", optimizers.Adam, {"learning_rate": 0.001, "beta_2": 1.0}),  # no scaling possible for v
    ("adam", optimizers.AdamW, {"learning_rate": 0.001, "weight_decay": 0.05}),
    ("adagrad", optimizers.Adagrad, {"learning_rate": 0.01}),
]
IDS = [f"{cls.__name__}-{'-'.join(f'{k}={v}' for k, v in cfg.items() if k != 'learning_rate') or 'default'}"
       for _, cls, cfg in CASES]


def compiled_mlp(optimizer, ws=None):
    model = mnist_mlp()
    model.set_weights(initial_weights() if ws is None else ws)
    model.compile(optimizer=optimizer, loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def assert_close(got, want, what):
    scale = max(float(np.abs(want).max()), 1e-30)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * scale, err_msg=what)


def assert_state_matches(model, ws, slots, what):
    state = model.optimizer.get_state()
    for var, w, s in zip(model.trainable_weights, ws, slots):
        assert_close(var.numpy(), w, f"{what}: {var.path}")
        for name, want in s.items():
            assert_close(state[f"{var.path}/{name}"], want, f"{what}: {var.path}/{name}")
    assert sorted(state) == sorted(["iterations"] + [f"{v.path}/{n}" for v, s in zip(model.trainable_weights, slots)
                                                     for n in s])


@pytest.mark.parametrize("kind, cls, cfg", CASES, ids=IDS)
def test_state_after_fit_is_keras_state(kind, cls, cfg):
    ws, slots, _ = reference_run(kind, cfg, lambda k: cfg["learning_rate"])
    model = compiled_mlp(cls(**cfg))
    x, y = data()
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    assert_state_matches(model, ws, slots, "fit")
    state = model.optimizer.get_state()
    assert int(state["iterations"]) == STEPS
    variables = model.optimizer.variables  # Keras' list: the same values in the variables' dtypes
    assert len(variables) == len(state)
    for a, (key, b) in zip(variables, state.items()):
        assert a.dtype == (np.int64 if key == "iterations" else np.float32)
        np.testing.assert_array_equal(a, b.astype(a.dtype))


@pytest.mark.parametrize("kind, cls, cfg", [CASES[i] for i in (2, 5, 8, 11)], ids=[IDS[i] for i in (2, 5, 8, 11)])
def test_schedule_and_zero_rate(kind, cls, cfg):
    """The rate changes every step (never part of the stored state); a zero rate moves no weight."""
    sched = optimizers.ExponentialDecay(cfg["learning_rate"] * 3, decay_steps=4, decay_rate=0.5)
    ws, slots, _ = reference_run(kind, cfg, sched)
    model = compiled_mlp(cls(**{**cfg, "learning_rate": sched}))
    x, y = data()
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    assert_state_matches(model, ws, slots, "schedule")

    ws, slots, _ = reference_run(kind, cfg, lambda k: 0.0, steps=5)
    model = compiled_mlp(cls(**{**cfg, "learning_rate": 0.0}))
    model.fit(x[:5 * BATCH], y[:5 * BATCH], batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), initial_weights()):
        np.testing.assert_array_equal(got, want)
    assert_state_matches(model, ws, slots, "zero rate")


@pytest.mark.parametrize("kind, cls, cfg", CASES, ids=IDS)
def test_apply_gradients_equals_fit(kind, cls, cfg):
    x, y = data()
    loss_fn = losses.SparseCategoricalCrossentropy(from_logits=True)
    tape_model, opt = compiled_mlp("sgd"), cls(**cfg)
    fit_model = compiled_mlp(cls(**cfg))
    for k in range(5):
        xb, yb = x[k * BATCH:(k + 1) * BATCH], y[k * BATCH:(k + 1) * BATCH]
        with keras.GradientTape() as tape:
            loss = loss_fn(yb, tape_model(xb, training=True))
        opt.apply_gradients(zip(tape.gradient(loss, tape_model.trainable_variables), tape_model.trainable_variables))
        np.testing.assert_allclose(float(loss), fit_model.train_on_batch(xb, yb), rtol=1e-5)
    for a, b in zip(tape_model.get_weights(), fit_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    got, want = opt.get_state(), fit_model.optimizer.get_state()
    assert len(got) == len(want) and int(got["iterations"]) == int(want["iterations"]) == 5
    for va, vb in zip(tape_model.trainable_weights, fit_model.trainable_weights):  # the layer names differ
        for slot in opt.slot_names(va):
            assert_close(got[f"{va.path}/{slot}"], want[f"{vb.path}/{slot}"], f"{vb.path}/{slot}")


@pytest.mark.parametrize("kind, cls, cfg", [CASES[i] for i in (2, 4, 7, 8, 11)],
                         ids=[IDS[i] for i in (2, 4, 7, 8, 11)])
def test_export_training_run_by_hand_gives_keras_numbers(tmp_path, kind, cls, cfg):
    """The documented contract: feed the returned state, feed ``new/`` outputs back; the slot inputs
    are the device form, which ``slot_from_device`` turns into Keras' values."""
    steps = 3
    ws, slots, want_losses = reference_run(kind, cfg, lambda k: cfg["learning_rate"], steps=steps)
    model = compiled_mlp(cls(**cfg))
    path = str(tmp_path / "step.onnx")
    state = model.export_training(path)
    opt = model.optimizer
    by_path = {v.path: v for v in model.trainable_weights}
    for name, value in state.items():
        if name.startswith("optimizer/") and name.count("/") > 1:
            path_, _, slot = name[len("optimizer/"):].rpartition("/")
            np.testing.assert_array_equal(value, opt.slot_to_device(by_path[path_], slot,
                                                                    opt.get_state()[f"{path_}/{slot}"]))
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    inputs = [i.name for i in sess.get_inputs()]
    outputs = [o.name for o in sess.get_outputs()]
    inn, out = model.input_names[0], model.output_names[0]
    x, y = data()
    got_losses = []
    for k in range(steps):
        feeds = {inn: x[k * BATCH:(k + 1) * BATCH], out: y[k * BATCH:(k + 1) * BATCH].astype(np.int64),
                 f"sample_weight/{out}": np.ones(BATCH, np.float32)}
        res = dict(zip(outputs, sess.run(None, {n: feeds[n] if n in feeds else state[n] for n in inputs})))
        got_losses.append(float(res["loss"]))
        state.update({name[4:]: value for name, value in res.items() if name.startswith("new/")})
    np.testing.assert_allclose(got_losses, want_losses, rtol=RTOL)
    for var, w, s in zip(model.trainable_weights, ws, slots):
        assert_close(state[var.path], w, var.path)
        for slot, want in s.items():
            assert_close(opt.slot_from_device(var, slot, state[f"optimizer/{var.path}/{slot}"]), want,
                         f"{var.path}/{slot}")


def small_model(optimizer):
    """A model whose training steps are bit-for-bit reproducible (the MLP's 784-wide reductions
    are not, run to run, with several threads)."""
    keras.clear_session()
    keras.set_random_seed(7)
    inputs = keras.Input(shape=(20,))
    h = keras.layers.Dense(16, activation="relu")(keras.layers.Dense(16, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(5)(h), name="small")
    model.compile(optimizer=optimizer, loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def small_data(n=96):
    rng = np.random.default_rng(0)
    return rng.random((n, 20), dtype=np.float32), rng.integers(0, 5, n).astype(np.int64)


@pytest.mark.parametrize("kind, cls, cfg", CASES, ids=IDS)
def test_set_state_of_get_state_continues_exactly(kind, cls, cfg):
    x, y = small_data()
    model = small_model(cls(**cfg))
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    state = model.optimizer.get_state()
    weights = model.get_weights()
    twin = small_model(cls(**cfg))
    twin.set_weights(weights)
    twin.optimizer.build(twin.trainable_weights)
    twin.optimizer.set_state(state)
    for k, v in twin.optimizer.get_state().items():
        np.testing.assert_array_equal(v, state[k], err_msg=k)
    a = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    b = twin.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert a.history == b.history
    for wa, wb in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("kind, cls, cfg", [CASES[i] for i in (2, 5, 8, 10, 11)],
                         ids=[IDS[i] for i in (2, 5, 8, 10, 11)])
def test_save_load_resume_equals_uninterrupted_run(tmp_path, kind, cls, cfg):
    x, y = small_data()
    model = small_model(cls(**cfg))
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    model.save(tmp_path / "m.graphc")
    loaded = keras.load_model(tmp_path / "m.graphc")
    for k, v in loaded.optimizer.get_state().items():
        np.testing.assert_array_equal(v, model.optimizer.get_state()[k], err_msg=k)
    a = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    b = loaded.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert a.history == b.history
    for wa, wb in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_hyperparameter_assigned_later_does_not_reinterpret_the_state():
    cfg = {"learning_rate": 0.001, "beta_1": 0.8}
    ws, slots, _ = reference_run("adam", cfg, lambda k: 0.001, steps=4)
    model = compiled_mlp(optimizers.Adam(**cfg))
    x, y = data()
    model.fit(x[:4 * BATCH], y[:4 * BATCH], batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    model.optimizer.beta_1 = 0.5
    model.optimizer.beta_2 = 0.9
    assert_state_matches(model, ws, slots, "after assigning beta_1, beta_2")
    # a rule built after the assignment uses the new betas on the same stored state
    cfg2 = {"learning_rate": 0.001, "beta_1": 0.5, "beta_2": 0.9}
    opt = model.optimizer
    var = model.trainable_weights[0]
    p, g = var.numpy().astype(np.float64), np.full(var.shape, 0.01)
    s = {k: opt.get_state()[f"{var.path}/{k}"] for k in ("momentum", "velocity")}
    want = keras_step("adam", cfg2, p, g, s, 5, 0.001)
    opt.apply_gradients([(g.astype(np.float32), var)])
    assert_close(var.numpy(), want, "apply after assignment")
    for k in s:
        assert_close(opt.get_state()[f"{var.path}/{k}"], s[k], k)


# -- passes per parameter ------------------------------------------------------------------------------
ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Sqrt", "Max", "Min", "Pow", "Neg", "Abs", "Where", "Sum", "Reciprocal",
               "Clip", "Cast", "Identity"}


def full_size_passes(model, tmp_path, shape):
    path = str(tmp_path / "count.onnx")
    model.export_training(path)
    proto = onnx.shape_inference.infer_shapes(onnx.load(path))
    shapes = {}
    for vi in list(proto.graph.value_info) + list(proto.graph.output) + list(proto.graph.input):
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
    return sum(1 for n in proto.graph.node if n.op_type in ELEMENTWISE and shapes.get(n.output[0]) == shape)


@pytest.mark.parametrize("cls, cfg, passes", [
    (optimizers.SGD, {}, 2),
    (optimizers.SGD, {"momentum": 0.9}, 4),
    (optimizers.SGD, {"momentum": 0.9, "nesterov": True}, 5),                   # Keras' form: 6
    (optimizers.RMSprop, {}, 8),                                                # 9
    (optimizers.RMSprop, {"rho": 1.0}, 8),                      # Keras' form, less v * 1 (folded)
    (optimizers.RMSprop, {"momentum": 0.5}, 10),                                # 11
    (optimizers.RMSprop, {"centered": True}, 13),                               # 14
    (optimizers.Adam, {}, 10),                                                  # 12
    (optimizers.Adam, {"amsgrad": True}, 11),                                   # 13
    (optimizers.Adam, {"beta_1": 1.0, "beta_2": 1.0}, 12),                      # Keras' form kept
    (optimizers.AdamW, {}, 11),                                                 # 14
    (optimizers.Adagrad, {}, 6),                                                # 7
], ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_full_size_passes_per_parameter(tmp_path, cls, cfg, passes):
    model = compiled_mlp(cls(**cfg))
    assert full_size_passes(model, tmp_path, (784, 64)) == passes


def test_onnxruntime_training_moments_come_in_as_keras_moments():
    """``fit(backend="onnxruntime-training")`` copies onnxruntime's AdamW moments (Keras' m and v)
    back through ``set_state``; the next graphc step continues Keras' rule from them."""
    from graphc.training.ort_training_backend import _copy_back

    model = compiled_mlp(optimizers.Adam(0.001))
    rng = np.random.default_rng(3)
    trainable = model.trainable_weights
    moments = {v.path: [("m", (rng.standard_normal(v.shape) * 1e-2).astype(np.float32)),
                        ("v", (rng.random(v.shape) * 1e-4).astype(np.float32))] for v in trainable}

    class Session:  # the parts of runtime.ort_training.OrtTrainingSession that _copy_back reads
        steps = 7

        def parameters(self):
            return {v.path: v.numpy() for v in model.weights}

        def optimizer_state(self):
            return None, moments

    model.optimizer.build(trainable)
    _copy_back(model, Session(), 7, trainable)
    opt = model.optimizer
    state = opt.get_state()
    assert int(state["iterations"]) == 7
    for v in trainable:
        np.testing.assert_allclose(state[f"{v.path}/momentum"], moments[v.path][0][1], rtol=1e-6)
        np.testing.assert_allclose(state[f"{v.path}/velocity"], moments[v.path][1][1], rtol=1e-6)
    var = trainable[0]
    p, g = var.numpy().astype(np.float64), rng.standard_normal(var.shape) * 1e-2
    s = {"momentum": moments[var.path][0][1].astype(np.float64), "velocity": moments[var.path][1][1].astype(np.float64)}
    want = keras_step("adam", {"learning_rate": 0.001}, p, g, s, 8, 0.001)
    opt.apply_gradients([(g.astype(np.float32), var)])
    assert_close(var.numpy(), want, "step after the copy")
    for k in s:
        assert_close(opt.get_state()[f"{var.path}/{k}"], s[k], k)
