"""Recording on a GradientTape: the handles recorded calls return (``TapeTensor``), the recordable
arithmetic and indexing they offer, and the hooks layers, models and losses call to decide whether a
call is recorded (``should_record`` / ``record``). ``graphc.training.tape`` traces and runs what
was recorded.
"""
from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING

import numpy as np

from graphc import tree
from graphc.ir import TensorType, Value, Variable, is_float

if TYPE_CHECKING:
    from .tape import GradientTape

_active: contextvars.ContextVar = contextvars.ContextVar("graphc_tapes", default=())

class TapeTensor:
    """A value recorded on a GradientTape; computed when used as a number."""

    __slots__ = ("tape", "index", "type")

    def __init__(self, tape: "GradientTape", index: int, type: TensorType):
        self.tape = tape
        self.index = index
        self.type = type

    @property
    def shape(self) -> tuple:
        """The concrete shape (the batch dim is the batch size of the arrays recorded)."""
        dims = tuple(self.tape._batch if d == "batch" else d for d in self.type.shape)
        if all(isinstance(d, int) for d in dims):
            return dims
        return self.numpy().shape

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def ndim(self) -> int:
        return self.type.rank

    def numpy(self) -> np.ndarray:
        return self.tape._value_of(self)

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a.astype(dtype) if dtype is not None else a

    def __float__(self) -> float:
        return float(self.numpy())

    def __int__(self) -> int:
        return int(self.numpy())

    def __len__(self) -> int:
        return len(self.numpy())

    def __iter__(self):
        return iter(self.numpy())  # rows as numbers: iterating records nothing

    def __getitem__(self, item):
        # recorded while the tape is active (``preds[:, k]`` as a saliency target); otherwise, and for
        # indexing the graph cannot express, the computed value is indexed
        op = _GetItem.of(item, self) if self.tape._token is not None else None
        if op is None:
            return self.numpy()[item]
        return record(op, (self,), {})

    def __format__(self, spec: str) -> str:
        return format(self.numpy().item() if self.type.rank == 0 else self.numpy(), spec)

    def __repr__(self) -> str:
        return f"<TapeTensor shape={self.shape} dtype={self.dtype} value={self.numpy()!r}>"

    __str__ = lambda self: str(self.numpy())  # noqa: E731

    # arithmetic is recorded too, so ``loss = ce + 0.01 * penalty`` stays differentiable
    def __add__(self, other):
        return record(_ARITH["Add"], (self, other), {})

    def __radd__(self, other):
        return record(_ARITH["Add"], (other, self), {})

    def __sub__(self, other):
        return record(_ARITH["Sub"], (self, other), {})

    def __rsub__(self, other):
        return record(_ARITH["Sub"], (other, self), {})

    def __mul__(self, other):
        return record(_ARITH["Mul"], (self, other), {})

    def __rmul__(self, other):
        return record(_ARITH["Mul"], (other, self), {})

    def __truediv__(self, other):
        return record(_ARITH["Div"], (self, other), {})

    def __rtruediv__(self, other):
        return record(_ARITH["Div"], (other, self), {})

    def __neg__(self):
        return record(_ARITH["Neg"], (self,), {})

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # NumPy operands on the left (``np.float32(0.01) * penalty``, ``weights * preds``) reach here,
        # not __rmul__: record the arithmetic the dunders record, so it stays differentiable instead
        # of silently becoming a constant; other ufuncs (np.exp) compute on the values, as documented
        op = _UFUNC_OPS.get(ufunc)
        if op is not None and method == "__call__" and not kwargs:
            return record(_ARITH[op], inputs, {})
        inputs = tuple(x.numpy() if isinstance(x, TapeTensor) else x for x in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)


class ValueOp:
    """A recordable op that stands for a value: program signatures know it by ``record_key`` (the
    op and its attributes), not by identity, so equal ops made at different times share cached
    programs and the caches need not hold on to them."""

    @property
    def record_key(self) -> tuple:
        raise NotImplementedError


class _Arith(ValueOp):
    """A recordable elementwise op."""

    def __init__(self, op: str):
        self.op = op

    @property
    def record_key(self) -> tuple:
        return (self.op,)

    def __call__(self, *args):
        from graphc import ops

        if self.op == "Neg":
            return ops.neg(args[0])
        a, b = args
        like = a if isinstance(a, Value) else b
        b_ = ops.current_builder()
        a = a if isinstance(a, Value) else b_.as_value(np.asarray(a, like.dtype) if np.ndim(a) == 0 else a, like)
        b = b if isinstance(b, Value) else b_.as_value(np.asarray(b, like.dtype) if np.ndim(b) == 0 else b, like)
        # an integer array with a float value (``preds * np.int64(2)``, ``preds * mask``) computes in
        # the float dtype, as NumPy would promote it (without widening float32 to float64)
        if is_float(a.dtype) and not is_float(b.dtype):
            b = ops.cast(b, a.dtype)
        elif is_float(b.dtype) and not is_float(a.dtype):
            a = ops.cast(a, b.dtype)
        return ops.emit(self.op, a, b)

    def __repr__(self) -> str:
        return f"<recorded {self.op}>"


_ARITH = {op: _Arith(op) for op in ("Add", "Sub", "Mul", "Div", "Neg")}
_UFUNC_OPS = {np.add: "Add", np.subtract: "Sub", np.multiply: "Mul", np.true_divide: "Div", np.negative: "Neg"}


class _GetItem(ValueOp):
    """Recordable basic indexing (ints, slices, ``...``) of a recorded value.

    A new instance per indexing, known to program signatures by its normalized index
    (``record_key``), so no registry of instances grows with every distinct index for the life of
    the process. Ints become Gather (which has a gradient on any axis, the symbolic batch axis
    included), unit-step slices Slice, other slices a Gather of the positions read; these need the
    axis size, so the batch axis takes only ints and ``:``.
    """

    def __init__(self, key: tuple):
        self.key = key  # per axis from 0: None (all), ("i", index) or ("s", start, stop, step)

    @property
    def record_key(self) -> tuple:
        return self.key

    @classmethod
    def of(cls, item, t: "TapeTensor") -> "_GetItem | None":
        """The op for ``t[item]``, or None when the index is not one the graph can express."""
        items = item if isinstance(item, tuple) else (item,)
        is_int = [isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_)) for i in items]
        n_ellipsis = sum(i is Ellipsis for i in items)
        if n_ellipsis > 1 or not all(ok or i is Ellipsis or isinstance(i, slice) for ok, i in zip(is_int, items)):
            return None
        rank = t.type.rank
        if len(items) - n_ellipsis > rank:
            return None
        if n_ellipsis:
            at = next(k for k, i in enumerate(items) if i is Ellipsis)
            items = items[:at] + (slice(None),) * (rank - len(items) + 1) + items[at + 1:]
        key = []
        for d, i in zip(t.type.shape, items):
            if isinstance(i, slice):
                if i == slice(None):
                    key.append(None)
                    continue
                if not isinstance(d, int) or any(v is not None and not isinstance(v, (int, np.integer))
                                                 for v in (i.start, i.stop, i.step)):
                    return None
                key.append(("s",) + i.indices(d))
                continue
            i = int(i)
            size = t.tape._batch if d == "batch" else d
            if not isinstance(size, int) or not -size <= i < size or (i < 0 and not isinstance(d, int)):
                return None  # out of range (NumPy raises), or from the end of the symbolic batch axis
            key.append(("i", i % size))
        if all(k is None for k in key):
            return None
        return cls(tuple(key))

    def __call__(self, x):
        from graphc import ops

        b = ops.current_builder()
        axis = 0
        for k in self.key:
            if k is None:
                axis += 1
            elif k[0] == "i":
                x = ops.gather(x, b.constant(np.asarray(k[1], np.int64)), axis=axis)
            else:
                _, start, stop, step = k
                if step == 1:
                    x = ops.slice_(x, (start,), (max(stop, start),), axes=(axis,))
                else:
                    x = ops.gather(x, b.constant(np.asarray(range(start, stop, step), np.int64)), axis=axis)
                axis += 1
        return x

    def __repr__(self) -> str:
        return f"<recorded getitem {self.key}>"


def is_recorded(x) -> bool:
    return isinstance(x, TapeTensor)


def should_record(args, kwargs) -> bool:
    """True when a call with these arguments must be recorded on a tape instead of run."""
    leaves = tree.flatten((args, kwargs))
    if any(isinstance(x, TapeTensor) for x in leaves):
        return True
    tapes = _active.get()
    if not tapes or any(isinstance(x, Value) for x in leaves) or getattr(tapes[-1], "_tracing", False):
        return False
    return any(isinstance(x, (np.ndarray, np.generic, Variable)) for x in tree.flatten(args[:1]))


def record(obj, args, kwargs):
    """Records ``obj(*args, **kwargs)`` on the active tape (or the tape of a TapeTensor argument)."""
    leaves = tree.flatten((args, kwargs))
    tape = next((x.tape for x in leaves if isinstance(x, TapeTensor)), None)
    if tape is None:
        tapes = _active.get()
        if not tapes:
            raise RuntimeError("record: no GradientTape is active")
        tape = tapes[-1]
    return tape._record(obj, args, kwargs)
