"""Losses with Keras names, defaults and reduction, emitting IR ops.

A loss object is called as ``loss(y_true, y_pred, sample_weight=None)``:

* on IR Values (while a training step or evaluation graph is traced) it emits ops and returns the
  reduced scalar Value;
* on values recorded by an active ``GradientTape`` it is recorded on the tape;
* on NumPy arrays it runs at once (NumPy interpreter) and returns a NumPy scalar.

Reduction is Keras' ``"sum_over_batch_size"`` by default: the per-sample losses, multiplied by the
sample weights when given, summed and divided by their number (not by the sum of the weights).
Probabilities are clipped to ``[1e-7, 1 - 1e-7]`` (Keras' ``epsilon()``) when not ``from_logits``.
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

from graphc import ops, tree
from graphc.ir import Graph, TensorType, Value, is_float
from graphc.ops import Builder

EPSILON = 1e-7
REDUCTIONS = ("sum_over_batch_size", "sum", "none", None)


# -- elementwise helpers on Values -------------------------------------------------------------------
def _const(x: Value, v) -> np.ndarray:
    return np.asarray(v, dtype=x.dtype)


def _clip(x: Value, lo: float, hi: float) -> Value:
    return ops.minimum(ops.maximum(x, _const(x, lo)), _const(x, hi))


def _as_float_like(y: Value, like: Value) -> Value:
    return y if y.dtype == like.dtype else ops.cast(y, like.dtype)


def _match_rank(y_true: Value, y_pred: Value) -> Value:
    """(batch,) targets for a (batch, 1) prediction get their trailing axis back, as Keras does."""
    if y_true.type.rank == y_pred.type.rank - 1 and y_pred.shape[-1] == 1:
        return ops.unsqueeze(y_true, (-1,))
    if y_true.type.rank == y_pred.type.rank + 1 and y_true.shape[-1] == 1:
        return ops.squeeze(y_true, (-1,))
    return y_true


def one_hot(labels: Value, depth: int, dtype: str) -> Value:
    """``Cast(Equal(Unsqueeze(labels, -1), [0..depth)))``: labels of any int or float dtype."""
    ids = labels if labels.dtype == "int64" else ops.cast(labels, "int64")
    return ops.cast(ops.equal(ops.unsqueeze(ids, (-1,)), np.arange(depth, dtype=np.int64)), dtype)


def _num_classes(y_pred: Value, what: str) -> int:
    k = y_pred.shape[-1]
    if not isinstance(k, int):
        raise ValueError(f"{what}: the last axis of y_pred (the classes) must have a known size, "
                         f"received shape {y_pred.type.keras_shape()}")
    return k


# -- per-sample loss functions ---------------------------------------------------------------------
def _recordable(fn):
    """On values recorded by a GradientTape the per-sample function is recorded too (as a Loss with
    no reduction), so ``sparse_categorical_crossentropy(y, model(x))`` stays differentiable instead
    of being computed on the values."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(y_true, y_pred, *args, **kwargs):
        from graphc.training import recording

        if recording.is_recorded(y_true) or recording.is_recorded(y_pred):
            bound = signature.bind(y_true, y_pred, *args, **kwargs)
            bound.apply_defaults()
            options = {k: v for k, v in bound.arguments.items() if k not in ("y_true", "y_pred")}
            per_sample = LossFunctionWrapper(wrapper, reduction="none", **options)
            return recording.record(per_sample, (y_true, y_pred), {})
        return fn(y_true, y_pred, *args, **kwargs)
    return wrapper


@_recordable
def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False, axis: int = -1):
    """Per-sample cross-entropy of integer labels ``y_true`` against class scores ``y_pred``."""
    def fn(y_true, y_pred):
        if axis not in (-1, y_pred.type.rank - 1):
            raise NotImplementedError("sparse_categorical_crossentropy: only axis=-1 is supported")
        if y_true.type.rank == y_pred.type.rank:
            if y_true.shape[-1] not in (1, None):
                raise ValueError("sparse_categorical_crossentropy: y_true must hold one integer label per sample, "
                                 f"received shape {y_true.type.keras_shape()} for y_pred of shape "
                                 f"{y_pred.type.keras_shape()}. For one-hot targets use categorical_crossentropy.")
            y_true = ops.squeeze(y_true, (-1,))
        k = _num_classes(y_pred, "sparse_categorical_crossentropy")
        logp = _log_probs(y_pred, from_logits)
        picked = ops.reduce_sum(ops.mul(one_hot(y_true, k, y_pred.dtype), logp), (-1,), keepdims=False)
        return ops.neg(picked)
    return _apply(fn, y_true, y_pred)


@_recordable
def categorical_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0,
                             axis: int = -1):
    """Per-sample cross-entropy of one-hot (or soft) targets against class scores."""
    def fn(y_true, y_pred):
        if axis not in (-1, y_pred.type.rank - 1):
            raise NotImplementedError("categorical_crossentropy: only axis=-1 is supported")
        y_true = _as_float_like(y_true, y_pred)
        if y_true.type.rank != y_pred.type.rank:
            raise ValueError(f"categorical_crossentropy: y_true of shape {y_true.type.keras_shape()} does not match "
                             f"y_pred of shape {y_pred.type.keras_shape()}. Integer labels need "
                             "sparse_categorical_crossentropy, or utils.to_categorical first.")
        if label_smoothing:
            k = _num_classes(y_pred, "categorical_crossentropy")
            y_true = ops.add(ops.mul(y_true, _const(y_pred, 1.0 - label_smoothing)), _const(y_pred, label_smoothing / k))
        logp = _log_probs(y_pred, from_logits)
        return ops.neg(ops.reduce_sum(ops.mul(y_true, logp), (-1,), keepdims=False))
    return _apply(fn, y_true, y_pred)


def _log_probs(y_pred: Value, from_logits: bool) -> Value:
    if from_logits:
        return ops.log_softmax(y_pred, axis=-1)
    p = ops.div(y_pred, ops.reduce_sum(y_pred, (-1,), keepdims=True))
    return ops.log(_clip(p, EPSILON, 1.0 - EPSILON))


@_recordable
def binary_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1):
    """Per-sample binary cross-entropy, averaged over the last axis."""
    def fn(y_true, y_pred):
        y_true = _match_rank(_as_float_like(y_true, y_pred), y_pred)
        if label_smoothing:
            y_true = ops.add(ops.mul(y_true, _const(y_pred, 1.0 - label_smoothing)), _const(y_pred, 0.5 * label_smoothing))
        if from_logits:
            # max(x, 0) - x * z + log(1 + exp(-|x|)), stable for large |x|
            x = y_pred
            bce = ops.add(ops.sub(ops.relu(x), ops.mul(x, y_true)), ops.softplus(ops.neg(ops.abs_(x))))
        else:
            p = _clip(y_pred, EPSILON, 1.0 - EPSILON)
            eps = _const(p, EPSILON)
            one = _const(p, 1.0)
            pos = ops.mul(y_true, ops.log(ops.add(p, eps)))
            negative = ops.mul(ops.sub(one, y_true), ops.log(ops.add(ops.sub(one, p), eps)))
            bce = ops.neg(ops.add(pos, negative))
        return ops.reduce_mean(bce, (-1,), keepdims=False)
    return _apply(fn, y_true, y_pred)


@_recordable
def mean_squared_error(y_true, y_pred):
    def fn(y_true, y_pred):
        d = ops.sub(y_pred, _match_rank(_as_float_like(y_true, y_pred), y_pred))
        return ops.reduce_mean(ops.mul(d, d), (-1,), keepdims=False)
    return _apply(fn, y_true, y_pred)


@_recordable
def mean_absolute_error(y_true, y_pred):
    def fn(y_true, y_pred):
        d = ops.sub(y_pred, _match_rank(_as_float_like(y_true, y_pred), y_pred))
        return ops.reduce_mean(ops.abs_(d), (-1,), keepdims=False)
    return _apply(fn, y_true, y_pred)


@_recordable
def huber(y_true, y_pred, delta: float = 1.0):
    """0.5 * e^2 where |e| <= delta, else delta * (|e| - 0.5 * delta); mean over the last axis."""
    def fn(y_true, y_pred):
        err = ops.abs_(ops.sub(y_pred, _match_rank(_as_float_like(y_true, y_pred), y_pred)))
        quad = ops.minimum(err, _const(err, delta))
        lin = ops.sub(err, quad)
        loss = ops.add(ops.mul(ops.mul(quad, quad), _const(err, 0.5)), ops.mul(lin, _const(err, delta)))
        return ops.reduce_mean(loss, (-1,), keepdims=False)
    return _apply(fn, y_true, y_pred)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error


def _apply(fn, y_true, y_pred):
    """Runs ``fn`` on Values directly, or on NumPy arrays through a one-off traced graph."""
    if isinstance(y_pred, Value):
        b = ops.current_builder()
        return fn(b.as_value(y_true) if not isinstance(y_true, Value) else y_true, y_pred)
    return _run_numpy(lambda t, p: fn(t, p), [y_true, y_pred])


def _run_numpy(fn, arrays):
    from graphc.ops.interpreter import evaluate

    arrays = [np.asarray(a) for a in arrays]
    if arrays[1].dtype == np.float64:
        arrays[1] = arrays[1].astype(np.float32)
    g = Graph("loss")
    b = Builder(g)
    with b.activate():
        values = [b.input(f"input_{i}", TensorType.of(a)) for i, a in enumerate(arrays)]
        out = fn(*values)
    return evaluate(g, {f"input_{i}": a for i, a in enumerate(arrays)}, values=[out])[0]


# -- loss objects ----------------------------------------------------------------------------------
class Loss:
    """Base class: ``call(y_true, y_pred)`` gives per-sample losses; ``__call__`` weights and reduces.

    Args:
        name: the loss name used in logs.
        reduction: ``"sum_over_batch_size"`` (default), ``"sum"`` or ``"none"``/None.
    """

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size", dtype=None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction: expected one of {REDUCTIONS}, received {reduction!r}")
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction
        self.dtype = dtype

    def call(self, y_true: Value, y_pred: Value) -> Value:
        raise NotImplementedError(f"{type(self).__name__}.call")

    def __call__(self, y_true, y_pred, sample_weight=None):
        from graphc.training import recording

        leaves = tree.flatten([y_true, y_pred, sample_weight])
        if any(recording.is_recorded(x) for x in leaves):
            return recording.record(self, (y_true, y_pred), {"sample_weight": sample_weight})
        if isinstance(y_pred, Value):
            b = ops.current_builder()
            with b.name_scope(self.name):
                return self._emit(b.as_value(y_true) if not isinstance(y_true, Value) else y_true, y_pred,
                                  None if sample_weight is None else b.as_value(sample_weight, y_pred))
        arrays = [y_true, y_pred] + ([] if sample_weight is None else [sample_weight])
        return _run_numpy(lambda *vs: self._emit(vs[0], vs[1], vs[2] if len(vs) > 2 else None), arrays)

    def _emit(self, y_true: Value, y_pred: Value, sample_weight: Value | None) -> Value:
        if not is_float(y_pred.dtype):
            raise TypeError(f"{self.name}: y_pred must be a float tensor, received {y_pred.dtype}")
        losses = self.call(y_true, y_pred)
        return reduce_weighted(losses, sample_weight, self.reduction)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"

    def record_key(self):
        """What a GradientTape's program cache knows this loss by when it is fully described by its
        class and arguments (the built-in losses): an equal loss made anew each step, as in
        ``loss = SparseCategoricalCrossentropy()(y, preds)``, then reuses the compiled step. None
        (matched by identity) for other losses, whose ``call`` may read anything."""
        return None


def reduce_weighted(losses: Value, sample_weight: Value | None, reduction) -> Value:
    """Multiplies per-sample losses by the weights (broadcast over trailing axes) and reduces."""
    if sample_weight is not None:
        w = _as_float_like(sample_weight, losses)
        while w.type.rank > losses.type.rank and w.shape[-1] == 1:
            w = ops.squeeze(w, (-1,))
        while w.type.rank < losses.type.rank:
            w = ops.unsqueeze(w, (-1,))
        losses = ops.mul(losses, w)
    if reduction in ("none", None):
        return losses
    if reduction == "sum":
        return ops.reduce_sum(losses, keepdims=False)
    return ops.reduce_mean(losses, keepdims=False)


class LossFunctionWrapper(Loss):
    """Wraps a per-sample loss function ``fn(y_true, y_pred, **kwargs)`` as a Loss object."""

    def __init__(self, fn, name: str | None = None, reduction="sum_over_batch_size", **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", "loss"), reduction=reduction)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}

    def record_key(self):
        if type(self) is not LossFunctionWrapper and type(self) not in _CLASSES.values():
            return None  # a subclass may override call or keep other state
        try:
            key = (self.fn, self.reduction, tuple(sorted(self._fn_kwargs.items())))
            hash(key)
        except TypeError:  # an unhashable argument: match by identity
            return None
        return key


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy of integer labels; ``from_logits=True`` when y_pred are unnormalized scores."""

    def __init__(self, from_logits: bool = False, ignore_class=None, reduction="sum_over_batch_size",
                 name: str = "sparse_categorical_crossentropy", axis: int = -1):
        if ignore_class is not None:
            raise NotImplementedError("SparseCategoricalCrossentropy: ignore_class is not supported; mask the "
                                      "samples with sample_weight=0 instead")
        super().__init__(sparse_categorical_crossentropy, name=name, reduction=reduction,
                         from_logits=bool(from_logits), axis=axis)
        self.from_logits = bool(from_logits)


class CategoricalCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction="sum_over_batch_size", name: str = "categorical_crossentropy"):
        super().__init__(categorical_crossentropy, name=name, reduction=reduction, from_logits=bool(from_logits),
                         label_smoothing=float(label_smoothing), axis=axis)
        self.from_logits = bool(from_logits)


class BinaryCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction="sum_over_batch_size", name: str = "binary_crossentropy"):
        super().__init__(binary_crossentropy, name=name, reduction=reduction, from_logits=bool(from_logits),
                         label_smoothing=float(label_smoothing), axis=axis)
        self.from_logits = bool(from_logits)


class MeanSquaredError(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name: str = "mean_squared_error"):
        super().__init__(mean_squared_error, name=name, reduction=reduction)


class MeanAbsoluteError(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name: str = "mean_absolute_error"):
        super().__init__(mean_absolute_error, name=name, reduction=reduction)


class Huber(LossFunctionWrapper):
    def __init__(self, delta: float = 1.0, reduction="sum_over_batch_size", name: str = "huber_loss"):
        super().__init__(huber, name=name, reduction=reduction, delta=float(delta))


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
}
_CLASSES = {c.__name__: c for c in (SparseCategoricalCrossentropy, CategoricalCrossentropy, BinaryCrossentropy,
                                    MeanSquaredError, MeanAbsoluteError, Huber)}


def get(identifier) -> Loss:
    """A Loss object from a name (``"mse"``, ``"sparse_categorical_crossentropy"``, a class name), a Loss,
    a Loss class, a config dict or a per-sample function ``fn(y_true, y_pred)``."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str):
        key = identifier if identifier in _CLASSES else identifier.lower()
        cls = _CLASSES.get(key) or _BY_NAME.get(key)
        if cls is None:
            names = sorted(set(_BY_NAME) | set(_CLASSES))
            raise ValueError(f"Unknown loss {identifier!r}. Known losses: {', '.join(names)}")
        return cls()
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = _CLASSES.get(identifier["class_name"])
        if cls is None:
            raise ValueError(f"Unknown loss class {identifier['class_name']!r}")
        return cls.from_config(identifier.get("config", {}))
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise TypeError(f"loss: expected a name, a Loss or a function, received {identifier!r}")


def is_sparse_categorical(loss) -> bool:
    """True for losses that take integer class labels (sparse categorical cross-entropy)."""
    return getattr(loss, "fn", None) is sparse_categorical_crossentropy


def serialize(loss: Loss) -> dict:
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config: dict) -> Loss:
    return get(config)


def _snake(name: str) -> str:
    import re

    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()
