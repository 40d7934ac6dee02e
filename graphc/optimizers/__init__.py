"""Optimizers as in-graph update rules (Keras semantics and defaults); learning-rate schedules are in
``schedules``.

Each optimizer defines its rule once, in ``update_step``, as IR ops on Values: the training-step
graph emits it for every trainable parameter, and ``apply_gradients`` (custom loops with
``GradientTape``) runs the very same rule in a small compiled graph. Per-variable state (moments,
accumulators) lives on the host between uses or on the training executor's device while ``fit``
runs; it is synced back whenever it is read.

The update is memory-bound (each elementwise node is one pass over the parameter), so the graphs
keep some slots in an affine "device form" that saves passes, e.g. Adam's ``m / (1 - beta_1)``
turns ``m += (g - m)(1 - beta_1)`` (3 passes) into ``m~ = beta_1 * m~ + g`` (2). Everything outside
the graphs sees Keras' slots: ``get_state``, ``set_state`` and ``variables`` convert
(``slot_from_device`` / ``slot_to_device``), so saved files and ``set_state(get_state())`` carry
Keras semantics. The host copy (``_device_slots``), ``apply_gradients``, the training executor
and ``export_training``'s graph all hold the device form, so nothing is converted per step.

The learning rate is a graph input, computed on the host from ``iterations`` when a schedule is
given, so schedules and callbacks change it without rebuilding anything.
"""
from __future__ import annotations

import math

import numpy as np

from graphc import ops
from graphc.ir import Value, Variable

from . import schedules  # keras.optimizers.schedules
from .schedules import ExponentialDecay, InverseTimeDecay, LearningRateSchedule, PiecewiseConstantDecay  # noqa: F401


def _c(like: Value, v) -> np.ndarray:
    return np.asarray(v, dtype=like.dtype)


def _times(x: Value, c: float) -> Value:
    """``x * c``, or ``x`` itself when ``c`` is 1 (a full-size pass saved)."""
    return x if c == 1.0 else ops.mul(x, _c(x, c))


IDENTITY = (1.0, 0.0)
# Only float32 slots take a device form: float64 host values hold it exactly (a float64 slot would
# need more), and float16 has no range to spare for scaled moments.
SCALED_DTYPES = ("float32",)


def _decay_unit(decay: float, dtype) -> float:
    """The unit of a moving average ``s = decay * s + (1 - decay) * x`` kept as ``s / (1 - decay)`` on the
    device (so the update needs no ``1 - decay`` pass): ``1 - decay``, or 1 (Keras' form) where that
    form is not used (decay = 1, dtypes other than float32)."""
    return 1.0 - decay if dtype in SCALED_DTYPES and 0.0 <= decay < 1.0 else 1.0


class Optimizer:
    """Base class. Subclasses set ``slot_names(var)`` and implement ``update_step``; those that keep a
    slot in a device form also define ``slot_encoding`` and ``_encoding_hyperparameters``.

    Args:
        learning_rate: a float or a ``LearningRateSchedule``.
        weight_decay: decoupled weight decay, ``p -= p * weight_decay * lr`` before the update.
        clipnorm / clipvalue / global_clipnorm: gradient clipping, as in Keras.
        name: the optimizer's name.
    """

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name: str | None = None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        if sum(x is not None for x in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("Only one of clipnorm, clipvalue and global_clipnorm can be set")
        self.name = name or type(self).__name__.lower()
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self._learning_rate = None
        self.learning_rate = learning_rate
        self._iterations = 0
        self._device_slots: dict[int, dict[str, np.ndarray]] = {}  # Variable uid -> slot -> device form
        self._encoded_with = None    # the hyperparameters the device forms were fixed with
        self._vars: dict[int, Variable] = {}
        self._version = 0            # bumped when the host state changes outside the device
        self._sync_hook = None       # set by a training executor holding newer state on its device
        self._live_iterations = None  # the executor's step count, readable without a sync
        self._apply_cache: dict = {}

    # -- learning rate --
    @property
    def learning_rate(self) -> float:
        """The rate the next step uses (a schedule is evaluated at ``iterations``)."""
        if isinstance(self._learning_rate, LearningRateSchedule):
            step = self._live_iterations() if self._live_iterations is not None else self.iterations
            return float(self._learning_rate(step))
        return float(self._learning_rate)

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if isinstance(self._learning_rate, LearningRateSchedule):
            raise TypeError(f"{self.name}: the learning rate is set by a {type(self._learning_rate).__name__} "
                            "schedule and cannot be assigned")
        if isinstance(value, LearningRateSchedule):
            if self._learning_rate is not None:
                raise TypeError(f"{self.name}: a schedule can only be given when the optimizer is created")
            self._learning_rate = value
            return
        try:
            value = float(np.asarray(value))
        except (TypeError, ValueError):
            raise TypeError(f"{self.name}: learning_rate must be a number or a LearningRateSchedule, received "
                            f"{value!r}") from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{self.name}: learning_rate must be a finite number >= 0, received {value}")
        self._learning_rate = value

    lr = learning_rate

    def _lr_at(self, step: int) -> float:
        if isinstance(self._learning_rate, LearningRateSchedule):
            return float(self._learning_rate(step))
        return float(self._learning_rate)

    # -- state --
    def _sync(self) -> None:
        if self._sync_hook is not None:
            hook, self._sync_hook = self._sync_hook, None
            hook()

    @property
    def iterations(self) -> int:
        self._sync()
        return self._iterations

    @iterations.setter
    def iterations(self, value: int) -> None:
        self._sync()
        self._iterations = int(value)
        self._version += 1

    def slot_names(self, var: Variable) -> tuple:
        return ()

    def slot_initial(self, var: Variable, slot: str) -> np.ndarray:
        """The slot's initial value, Keras' form."""
        return np.zeros(var.shape, dtype=var.dtype)

    # -- device form of the slots --
    def _encoding_hyperparameters(self) -> dict:
        """The hyperparameters ``slot_encoding`` depends on (subclasses)."""
        return {}

    def _encoded(self) -> dict:
        """Those hyperparameters as they were when first used: the device form never changes, so a
        later assignment (``opt.beta_1 = 0.8``) changes the rule, not the meaning of stored state."""
        if self._encoded_with is None:
            self._encoded_with = dict(self._encoding_hyperparameters())
        return self._encoded_with

    def slot_encoding(self, slot: str, dtype: str) -> tuple[float, float]:
        """``(factor, offset)`` with Keras' value ``= factor * device value + offset``; ``IDENTITY``
        (the default) keeps the slot as Keras does."""
        return IDENTITY

    def slot_to_device(self, var: Variable, slot: str, value) -> np.ndarray:
        """Keras' value of ``var``'s ``slot`` -> the form the update graphs hold (``var.dtype``)."""
        factor, offset = self.slot_encoding(slot, var.dtype)
        if (factor, offset) == IDENTITY:
            return np.array(value, dtype=var.dtype)
        return ((np.asarray(value, np.float64) - offset) / factor).astype(var.dtype)

    def slot_from_device(self, var: Variable, slot: str, value) -> np.ndarray:
        """The device form -> Keras' value, as a new array. Encoded slots come back in float64, which
        holds them exactly enough that ``slot_to_device`` restores the device form bit for bit."""
        factor, offset = self.slot_encoding(slot, var.dtype)
        if (factor, offset) == IDENTITY:
            return np.array(value)
        return np.asarray(value, np.float64) * factor + offset

    def build(self, variables) -> None:
        """Creates the per-variable state for ``variables`` not seen before."""
        self._sync()
        for v in variables:
            if v.uid not in self._device_slots:
                self._device_slots[v.uid] = {s: self.slot_to_device(v, s, self.slot_initial(v, s))
                                             for s in self.slot_names(v)}
                self._vars[v.uid] = v
                self._version += 1

    @property
    def variables(self) -> list[np.ndarray]:
        """The state arrays as Keras lists them: iterations, then each variable's slots (Keras'
        values in the variable's dtype; ``get_state`` holds encoded slots exactly, in float64)."""
        self._sync()
        out = [np.asarray(self._iterations, dtype=np.int64)]
        for uid, slots in self._device_slots.items():
            var = self._vars[uid]
            out += [self.slot_from_device(var, s, a).astype(var.dtype, copy=False) for s, a in slots.items()]
        return out

    def get_state(self) -> dict[str, np.ndarray]:
        """``{"iterations": ..., "<variable path>/<slot>": ...}`` as NumPy copies, Keras' slot values.

        Slots the graphs keep in a device form (see ``slot_encoding``) come back in float64, so
        ``set_state(get_state())`` (and a saved model) continue exactly as the running optimizer.
        """
        self._sync()
        out = {"iterations": np.asarray(self._iterations, dtype=np.int64)}
        for uid, slots in self._device_slots.items():
            var = self._vars[uid]
            for s, a in slots.items():
                out[f"{var.path}/{s}"] = self.slot_from_device(var, s, a)
        return out

    def set_state(self, state: dict) -> None:
        """Restores what ``get_state`` returned (variables matched by path; built on demand)."""
        self._sync()
        by_path = {v.path: v for v in self._vars.values()}
        for key, value in state.items():
            if key == "iterations":
                self._iterations = int(np.asarray(value))
                continue
            path, _, slot = key.rpartition("/")
            var = by_path.get(path)
            if var is None:
                raise ValueError(f"{self.name}.set_state: no variable {path!r} is known to this optimizer; build it "
                                 "first (optimizer.build(model.trainable_variables))")
            if slot not in self._device_slots[var.uid]:
                raise ValueError(f"{self.name}.set_state: {var.path} has no slot {slot!r}")
            value = np.asarray(value)
            if value.shape != var.shape:
                raise ValueError(f"{self.name}.set_state: {key} expects shape {var.shape}, received {value.shape}")
            self._device_slots[var.uid][slot] = self.slot_to_device(var, slot, value)
        self._version += 1

    def _write_from_device(self, iterations: int, slots: dict) -> None:
        """Executor callback: ``slots`` is ``{uid: {slot: array}}`` in the device form."""
        self._iterations = int(iterations)
        for uid, d in slots.items():
            self._device_slots[uid].update(d)

    # -- the rule --
    def update_step(self, p: Value, g: Value, slots: dict, lr: Value, t: Value):
        """Emits one parameter's update. ``lr`` and ``t`` (1-based step) are scalars of p's dtype;
        ``slots`` (in and out) are in the device form (``slot_encoding(slot, p.dtype)``).

        Returns:
            (new parameter, {slot: new slot value}).
        """
        raise NotImplementedError

    def emit_updates(self, entries, lr: Value, step: Value):
        """Emits the updates of all parameters into the current graph.

        Args:
            entries: ``(variable, param Value, grad Value, {slot: Value})`` per trainable variable.
            lr: float32 scalar learning rate; ``step``: int64 scalar iteration count before the step.

        Returns:
            (list of (new param, new slots) per entry, new step).
        """
        new_step = ops.add(step, np.asarray(1, np.int64))
        grads = [g for _, _, g, _ in entries]
        grads = self._clip(grads, [var.uid for var, _, _, _ in entries])
        t_cache: dict = {}
        out = []
        for (var, p, _, slots), g in zip(entries, grads):
            dt = p.dtype
            if dt not in t_cache:
                t_cache[dt] = (ops.cast(new_step, dt), lr if lr.dtype == dt else ops.cast(lr, dt))
            t, lr_p = t_cache[dt]
            if g.dtype != dt:
                g = ops.cast(g, dt)
            if self.weight_decay:  # Keras' p - p * wd * lr, as one pass: p * (1 - lr * wd)
                p = ops.mul(p, ops.sub(_c(p, 1.0), ops.mul(lr_p, _c(p, self.weight_decay))))
            out.append(self.update_step(p, g, slots, lr_p, t))
        return out, new_step

    def _clip(self, grads, keys=None):
        """Clipped gradients. ``keys`` (default: all distinct) names the variable of each gradient: the
        gradients of one variable's row chunks (``passes.param_chunks``) share one clipnorm norm."""
        if self.clipvalue is not None:
            return [ops.minimum(ops.maximum(g, _c(g, -self.clipvalue)), _c(g, self.clipvalue)) for g in grads]
        if self.clipnorm is not None:
            keys = list(range(len(grads))) if keys is None else list(keys)
            sums: dict = {}
            for k, g in zip(keys, grads):
                s = ops.reduce_sum(ops.mul(g, g), keepdims=False)
                sums[k] = s if k not in sums else ops.add(sums[k], s)
            scales = {}
            for k, s in sums.items():
                c = _c(s, self.clipnorm)
                scales[k] = ops.div(c, ops.maximum(ops.sqrt(s), c))
            return [ops.mul(g, scales[k]) for k, g in zip(keys, grads)]
        if self.global_clipnorm is not None:
            total = None
            for g in grads:
                s = ops.reduce_sum(ops.mul(g, g), keepdims=False)
                total = s if total is None else ops.add(total, s)
            norm = ops.sqrt(total)
            c = _c(norm, self.global_clipnorm)
            scale = ops.div(c, ops.maximum(norm, c))
            return [ops.mul(g, scale) for g in grads]
        return grads

    # -- custom loops --
    def apply_gradients(self, grads_and_vars) -> None:
        """Updates the Variables with the gradients (NumPy arrays) by the optimizer's rule."""
        from graphc.ir import Graph, TensorType
        from graphc.ops import Builder
        from runtime import Executable, warn_if_denormals_computed

        pairs = [(np.asarray(g), v) for g, v in grads_and_vars if g is not None]
        if not pairs:
            raise ValueError(f"{self.name}.apply_gradients: no gradients given (all None)")
        for g, v in pairs:
            if not isinstance(v, Variable):
                raise TypeError(f"{self.name}.apply_gradients: expected (gradient, Variable) pairs, received {v!r}")
            if g.shape != v.shape:
                raise ValueError(f"{self.name}.apply_gradients: gradient for {v.path} has shape {g.shape}, "
                                 f"expected {v.shape}")
        variables = [v for _, v in pairs]
        self.build(variables)
        key = tuple((v.uid, v.shape, v.dtype) for v in variables)
        exe = self._apply_cache.get(key)
        if exe is None:
            graph = Graph(f"{self.name}/apply_gradients")
            b = Builder(graph, scope=(self.name,))
            entries = []
            with b.activate():
                for i, v in enumerate(variables):
                    p = b.input(f"p{i}", v.type)
                    g = b.input(f"g{i}", v.type)
                    slots = {s: b.input(f"s{i}/{s}", v.type) for s in self.slot_names(v)}
                    entries.append((v, p, g, slots))
                lr = b.input("learning_rate", TensorType("float32", ()))
                step = b.input("iterations", TensorType("int64", ()))
                results, new_step = self.emit_updates(entries, lr, step)
            outs, names = [new_step], ["new/iterations"]
            for i, ((v, *_), (new_p, new_slots)) in enumerate(zip(entries, results)):
                outs.append(new_p)
                names.append(f"new/p{i}")
                for s in self.slot_names(v):
                    outs.append(new_slots[s])
                    names.append(f"new/s{i}/{s}")
            graph.set_outputs(outs, names)
            exe = Executable(graph)
            self._apply_cache[key] = exe
            warn_if_denormals_computed(exe.device)
        feeds = {"learning_rate": np.asarray(self._lr_at(self.iterations), np.float32),
                 "iterations": np.asarray(self.iterations, np.int64)}
        for i, (g, v) in enumerate(pairs):
            feeds[f"p{i}"] = v.value
            feeds[f"g{i}"] = g.astype(v.dtype, copy=False)
            for s in self.slot_names(v):
                feeds[f"s{i}/{s}"] = self._device_slots[v.uid][s]
        results = exe.run(feeds)
        self._iterations = int(results[0])
        k = 1
        for _, v in pairs:
            v.assign(results[k])
            k += 1
            for s in self.slot_names(v):
                self._device_slots[v.uid][s] = results[k]
                k += 1
        self._version += 1

    def apply(self, grads, trainable_variables) -> None:
        """``apply_gradients(zip(grads, trainable_variables))`` (Keras 3's spelling)."""
        self.apply_gradients(zip(grads, trainable_variables))

    def minimize(self, *args, **kwargs):
        raise NotImplementedError("Optimizer.minimize: use GradientTape and apply_gradients")

    # -- config --
    def get_config(self) -> dict:
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            lr = {"class_name": type(lr).__name__, "config": lr.get_config()}
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict) and "class_name" in lr:
            config["learning_rate"] = schedules.BY_NAME[lr["class_name"]].from_config(lr["config"])
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class SGD(Optimizer):
    """``m = momentum * m - lr * g``; ``p += m`` (nesterov: ``p += momentum * m - lr * g``); plain
    ``p -= lr * g`` without momentum.

    Full-size passes per parameter: 2 plain, 4 with momentum, 5 nesterov (6 in Keras' form): the
    device keeps ``momentum * m``, the product the nesterov update adds to ``p``.
    """

    def __init__(self, learning_rate=0.01, momentum: float = 0.0, nesterov: bool = False, name: str = "SGD",
                 **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not 0 <= momentum <= 1:
            raise ValueError(f"SGD: momentum must be in [0, 1], received {momentum}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def slot_names(self, var):
        return ("momentum",) if self.momentum else ()

    def _encoding_hyperparameters(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}

    def _scale(self, dtype) -> float:
        """Device value = scale * Keras' m."""
        e = self._encoded()
        return e["momentum"] if dtype in SCALED_DTYPES and e["nesterov"] and e["momentum"] > 0 else 1.0

    def slot_encoding(self, slot, dtype):
        s = self._scale(dtype)
        return IDENTITY if s == 1.0 else (1.0 / s, 0.0)

    def update_step(self, p, g, slots, lr, t):
        step = ops.mul(lr, g)
        if not self.momentum:
            return ops.sub(p, step), {}
        s = self._scale(p.dtype)
        mu = self.momentum
        m = ops.sub(_times(slots["momentum"], mu / s), step)  # Keras' new m
        new = _times(m, s)
        if self.nesterov:
            return ops.sub(ops.add(p, _times(new, mu / s)), step), {"momentum": new}
        return ops.add(p, m), {"momentum": new}

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """``v = rho * v + (1 - rho) * g^2``; ``p -= lr * g / sqrt(v + eps)`` (centered: ``v - mg^2 + eps``),
    through a momentum buffer when ``momentum > 0``.

    The device keeps ``v / (1 - rho)`` (and ``mg / (1 - rho)``), so ``v~ = rho * v~ + g^2`` and
    ``p -= (lr / sqrt(1 - rho)) * g / sqrt(v~ + eps / (1 - rho))``. Full-size passes per parameter:
    8 (Keras' form 9), centered 13 (14); momentum adds 2.
    """

    def __init__(self, learning_rate=0.001, rho: float = 0.9, momentum: float = 0.0, epsilon: float = 1e-7,
                 centered: bool = False, name: str = "rmsprop", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = float(rho), float(momentum), float(epsilon), bool(centered)

    def slot_names(self, var):
        return ("velocity",) + (("momentum",) if self.momentum else ()) + (("average_gradient",) if self.centered else ())

    def _encoding_hyperparameters(self):
        return {"rho": self.rho}

    def _unit(self, dtype) -> float:
        """Keras' v (and mg) = unit * device value."""
        return _decay_unit(self._encoded()["rho"], dtype)

    def slot_encoding(self, slot, dtype):
        return (self._unit(dtype), 0.0) if slot in ("velocity", "average_gradient") else IDENTITY

    def update_step(self, p, g, slots, lr, t):
        u = self._unit(p.dtype)
        rho = _c(p, self.rho)
        c = (1.0 - self.rho) / u  # 1 in the device form
        v = ops.add(ops.mul(slots["velocity"], rho), _times(ops.mul(g, g), c))
        new = {"velocity": v}
        eps = _c(p, self.epsilon / u)
        if self.centered:
            ag = ops.add(ops.mul(slots["average_gradient"], rho), _times(g, c))
            new["average_gradient"] = ag
            denom = ops.add(ops.sub(v, _times(ops.mul(ag, ag), u)), eps)
        else:
            denom = ops.add(v, eps)
        lr_u = lr if u == 1.0 else ops.mul(lr, _c(p, 1.0 / math.sqrt(u)))  # one scalar, then one pass
        increment = ops.div(ops.mul(lr_u, g), ops.sqrt(denom))
        if self.momentum:
            m = ops.add(ops.mul(slots["momentum"], _c(p, self.momentum)), increment)
            new["momentum"] = m
            return ops.sub(p, m), new
        return ops.sub(p, increment), new

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adam(Optimizer):
    """``m += (g - m)(1 - b1)``; ``v += (g^2 - v)(1 - b2)``;
    ``p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`` (amsgrad: ``v`` replaced by its running max).

    The device keeps ``m / (1 - b1)`` and ``v / (1 - b2)``, so ``m~ = b1 * m~ + g``,
    ``v~ = b2 * v~ + g^2`` and ``p -= alpha' * m~ / (sqrt(v~) + eps')`` with the scalars
    ``alpha' = alpha * (1 - b1) / sqrt(1 - b2)`` and ``eps' = eps / sqrt(1 - b2)``. Full-size passes
    per parameter: 10 (Keras' form 12), amsgrad 11; AdamW's decay adds 1.
    """

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 amsgrad: bool = False, name: str = "adam", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = float(beta_1), float(beta_2), float(epsilon), bool(amsgrad)

    def slot_names(self, var):
        return ("momentum", "velocity") + (("velocity_hat",) if self.amsgrad else ())

    def _encoding_hyperparameters(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2}

    def _unit(self, slot, dtype) -> float:
        """Keras' slot = unit * device value."""
        return _decay_unit(self._encoded()["beta_1" if slot == "momentum" else "beta_2"], dtype)

    def slot_encoding(self, slot, dtype):
        return (self._unit(slot, dtype), 0.0)

    def update_step(self, p, g, slots, lr, t):
        um, uv = self._unit("momentum", p.dtype), self._unit("velocity", p.dtype)
        one = _c(p, 1.0)
        b1p = ops.pow_(_c(p, self.beta_1), t)
        b2p = ops.pow_(_c(p, self.beta_2), t)
        alpha = ops.div(ops.mul(lr, ops.sqrt(ops.sub(one, b2p))), ops.sub(one, b1p))
        if (um, uv) != (1.0, 1.0):  # m = um * m~, v = uv * v~, folded into the scalars
            alpha = ops.mul(alpha, _c(p, um / math.sqrt(uv)))

        def average(s, x, beta, u):
            if u == 1.0:  # Keras' form
                return ops.add(s, ops.mul(ops.sub(x, s), _c(p, 1.0 - beta)))
            return ops.add(ops.mul(s, _c(p, beta)), _times(x, (1.0 - beta) / u))

        m = average(slots["momentum"], g, self.beta_1, um)
        v = average(slots["velocity"], ops.mul(g, g), self.beta_2, uv)
        new = {"momentum": m, "velocity": v}
        if self.amsgrad:
            v = ops.maximum(slots["velocity_hat"], v)
            new["velocity_hat"] = v
        update = ops.div(ops.mul(m, alpha), ops.add(ops.sqrt(v), _c(p, self.epsilon / math.sqrt(uv))))
        return ops.sub(p, update), new

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (``p -= p * weight_decay * lr`` before the Adam step)."""

    def __init__(self, learning_rate=0.001, weight_decay: float = 0.004, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, name: str = "adamw", **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, name=name, weight_decay=weight_decay, **kwargs)
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a number")


class Adagrad(Optimizer):
    """``a += g^2``; ``p -= lr * g / sqrt(a + eps)``; ``a`` starts at ``initial_accumulator_value``.

    The device keeps ``a + eps``, the sum the update takes the root of: 6 full-size passes per
    parameter (Keras' form 7).
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value: float = 0.1, epsilon: float = 1e-7,
                 name: str = "adagrad", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def slot_names(self, var):
        return ("accumulator",)

    def slot_initial(self, var, slot):
        return np.full(var.shape, self.initial_accumulator_value, dtype=var.dtype)

    def _encoding_hyperparameters(self):
        return {"epsilon": self.epsilon}

    def _shift(self, dtype) -> float:
        """Device value = Keras' a + shift."""
        return self._encoded()["epsilon"] if dtype in SCALED_DTYPES else 0.0

    def slot_encoding(self, slot, dtype):
        return (1.0, -self._shift(dtype))

    def update_step(self, p, g, slots, lr, t):
        shift = self._shift(p.dtype)
        acc = ops.add(slots["accumulator"], ops.mul(g, g))
        denom = acc if self.epsilon == shift else ops.add(acc, _c(p, self.epsilon - shift))
        return ops.sub(p, ops.div(ops.mul(lr, g), ops.sqrt(denom))), {"accumulator": acc}

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW, "adagrad": Adagrad}


def get(identifier) -> Optimizer:
    """An optimizer from a name (``"adam"``, ``"rmsprop"``...), an Optimizer, or a config dict."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Unknown optimizer {identifier!r}. Known optimizers: {', '.join(sorted(_BY_NAME))}")
        return cls()
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = _BY_NAME.get(identifier["class_name"].lower())
        if cls is None:
            raise ValueError(f"Unknown optimizer class {identifier['class_name']!r}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise TypeError(f"optimizer: expected a name or an Optimizer, received {identifier!r}")


def serialize(optimizer: Optimizer) -> dict:
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: dict) -> Optimizer:
    return get(config)
