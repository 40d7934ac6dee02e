"""Optimizers: each rule (through apply_gradients) against a NumPy version of Keras' formulas;
schedules; state and config round trips."""
import math

import numpy as np
import pytest

from graphc import optimizers
from graphc.ir import Variable


def np_rule(name, cfg):
    """A NumPy stepper ``step(p, g, state, t) -> p`` for optimizer ``name``, Keras semantics."""
    lr = cfg.get("learning_rate", 0.001)

    def sgd(p, g, s, t):
        mu = cfg.get("momentum", 0.0)
        if not mu:
            return p - lr * g
        s["m"] = mu * s.get("m", 0) - lr * g
        return p + mu * s["m"] - lr * g if cfg.get("nesterov") else p + s["m"]

    def rmsprop(p, g, s, t):
        rho, eps, mu = cfg.get("rho", 0.9), cfg.get("epsilon", 1e-7), cfg.get("momentum", 0.0)
        s["v"] = rho * s.get("v", 0) + (1 - rho) * g * g
        denom = s["v"] + eps
        if cfg.get("centered"):
            s["a"] = rho * s.get("a", 0) + (1 - rho) * g
            denom = s["v"] - s["a"] ** 2 + eps
        inc = lr * g / np.sqrt(denom)
        if mu:
            s["m"] = mu * s.get("m", 0) + inc
            return p - s["m"]
        return p - inc

    def adam(p, g, s, t):
        b1, b2, eps = cfg.get("beta_1", 0.9), cfg.get("beta_2", 0.999), cfg.get("epsilon", 1e-7)
        wd = cfg.get("weight_decay")
        if wd:
            p = p - p * wd * lr
        s["m"] = s.get("m", 0) + (g - s.get("m", 0)) * (1 - b1)
        s["v"] = s.get("v", 0) + (g * g - s.get("v", 0)) * (1 - b2)
        v = s["v"]
        if cfg.get("amsgrad"):
            s["vh"] = np.maximum(s.get("vh", 0), s["v"])
            v = s["vh"]
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        return p - alpha * s["m"] / (np.sqrt(v) + eps)

    def adagrad(p, g, s, t):
        s["a"] = s.get("a", cfg.get("initial_accumulator_value", 0.1)) + g * g
        return p - lr * g / np.sqrt(s["a"] + cfg.get("epsilon", 1e-7))

    return {"sgd": sgd, "rmsprop": rmsprop, "adam": adam, "adamw": adam, "adagrad": adagrad}[name]


CASES = [
    ("sgd", optimizers.SGD, {"learning_rate": 0.1}),
    ("sgd", optimizers.SGD, {"learning_rate": 0.1, "momentum": 0.9}),
    ("sgd", optimizers.SGD, {"learning_rate": 0.1, "momentum": 0.5, "nesterov": True}),
    ("rmsprop", optimizers.RMSprop, {"learning_rate": 0.01}),
    ("rmsprop", optimizers.RMSprop, {"learning_rate": 0.01, "momentum": 0.5, "centered": True}),
    ("adam", optimizers.Adam, {"learning_rate": 0.01}),
    ("adam", optimizers.Adam, {"learning_rate": 0.01, "amsgrad": True, "beta_1": 0.8}),
    ("adamw", optimizers.AdamW, {"learning_rate": 0.01, "weight_decay": 0.004}),
    ("adagrad", optimizers.Adagrad, {"learning_rate": 0.1}),
]


@pytest.mark.parametrize("name, cls, cfg", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rules_match_numpy(name, cls, cfg):
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal((4, 3)).astype(np.float32)
    var = Variable(p0, "w")
    opt = cls(**cfg)
    ref = np_rule(name, cfg)
    p, state = p0.astype(np.float64), {}
    for t in range(1, 6):
        g = rng.standard_normal((4, 3)).astype(np.float32)
        opt.apply_gradients([(g, var)])
        p = ref(p, g.astype(np.float64), state, t)
        np.testing.assert_allclose(var.numpy(), p, rtol=2e-5, atol=1e-6)
    assert opt.iterations == 5


def test_clipping():
    g = np.array([3.0, 4.0], np.float32)  # norm 5
    for kwargs, want in (({"clipnorm": 1.0}, g / 5), ({"clipvalue": 3.5}, np.array([3.0, 3.5])),
                         ({"global_clipnorm": 2.5}, g / 2)):
        var = Variable(np.zeros(2, np.float32), "w")
        optimizers.SGD(1.0, **kwargs).apply_gradients([(g, var)])
        np.testing.assert_allclose(var.numpy(), -want, rtol=1e-6)
    with pytest.raises(ValueError, match="Only one"):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)


def test_schedules():
    s = optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert s(0) == pytest.approx(0.1) and s(10) == pytest.approx(0.05) and s(5) == pytest.approx(0.1 * 0.5 ** 0.5)
    st = optimizers.ExponentialDecay(0.1, 10, 0.5, staircase=True)
    assert st(19) == pytest.approx(0.05)
    it = optimizers.InverseTimeDecay(1.0, 2, 0.5)
    assert it(4) == pytest.approx(0.5)
    pw = optimizers.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [pw(s) for s in (0, 10, 11, 20, 21)] == [1.0, 1.0, 0.5, 0.5, 0.1]
    opt = optimizers.SGD(s)
    var = Variable(np.zeros(1, np.float32), "w")
    for _ in range(10):
        opt.apply_gradients([(np.ones(1, np.float32), var)])
    assert opt.learning_rate == pytest.approx(0.05)
    np.testing.assert_allclose(var.numpy(), -sum(s(k) for k in range(10)), rtol=1e-5)


def test_learning_rate_is_settable_and_validated():
    opt = optimizers.Adam()
    assert opt.learning_rate == pytest.approx(0.001)
    opt.learning_rate = 0.5
    assert opt.learning_rate == 0.5 and opt.lr == 0.5
    with pytest.raises(ValueError):
        opt.learning_rate = float("nan")


def test_state_and_config_round_trip():
    rng = np.random.default_rng(0)
    var = Variable(rng.standard_normal((3,)).astype(np.float32), "dense/kernel")
    opt = optimizers.Adam(0.01, amsgrad=True)
    for _ in range(3):
        opt.apply_gradients([(rng.standard_normal(3).astype(np.float32), var)])
    state = opt.get_state()
    assert set(state) == {"iterations", "dense/kernel/momentum", "dense/kernel/velocity", "dense/kernel/velocity_hat"}
    clone = optimizers.deserialize(optimizers.serialize(opt))
    assert isinstance(clone, optimizers.Adam) and clone.get_config() == opt.get_config()
    var2 = Variable(var.numpy(), "dense/kernel")
    clone.build([var2])
    clone.set_state(state)
    g = rng.standard_normal(3).astype(np.float32)
    opt.apply_gradients([(g, var)])
    clone.apply_gradients([(g, var2)])
    np.testing.assert_array_equal(var.numpy(), var2.numpy())
    assert len(opt.variables) == 4
    sched = optimizers.SGD(optimizers.ExponentialDecay(0.1, 5, 0.9), momentum=0.9)
    back = optimizers.SGD.from_config(sched.get_config())
    assert isinstance(back._learning_rate, optimizers.ExponentialDecay) and back.momentum == 0.9
    assert isinstance(optimizers.get("adamw"), optimizers.AdamW)
    assert optimizers.get("adamw").weight_decay == 0.004
    with pytest.raises(ValueError, match="Unknown optimizer"):
        optimizers.get("adamax2")


def test_defaults_are_keras_defaults():
    assert optimizers.SGD().learning_rate == pytest.approx(0.01)
    r = optimizers.RMSprop()
    assert (r.learning_rate, r.rho, r.momentum, r.epsilon, r.centered) == (pytest.approx(0.001), 0.9, 0.0, 1e-7, False)
    a = optimizers.Adam()
    assert (a.beta_1, a.beta_2, a.epsilon, a.amsgrad) == (0.9, 0.999, 1e-7, False)
    ag = optimizers.Adagrad()
    assert (ag.initial_accumulator_value, ag.epsilon) == (0.1, 1e-7)
