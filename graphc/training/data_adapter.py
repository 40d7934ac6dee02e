"""Turning fit/evaluate arguments into validated arrays and batches.

x goes through ``graphc.models.data.standardize_inputs``; targets and sample weights are matched to
the model's outputs here (single array, list by position, dict by output name), then checked
against each output's shape and loss. Batching keeps the last partial batch; shuffling permutes
rows each epoch with the session's generator; ``validation_split`` takes the last rows before any
shuffling, as Keras does.

Step counts follow Keras: ``steps_per_epoch`` (fit), ``validation_steps`` and ``steps`` (evaluate,
predict) limit the batches per epoch or call; without a ``batch_size`` they set it to
``ceil(rows / steps)``, so the steps cover the data once. An epoch never runs past the end of a pass:
with ``steps_per_epoch`` fit continues through the data across epochs, and an epoch that reaches the
last batch ends there (shorter, with a warning) and the next starts a new pass (a new order with
``shuffle``). evaluate, predict and each validation start at the first batch.
"""
from __future__ import annotations

import os
import sys
import warnings

import numpy as np

from graphc import backend
from graphc.losses import is_sparse_categorical
from graphc.ir import TensorType, format_shape
from graphc.models import data as data_utils


def _as_array(a, what: str) -> np.ndarray:
    if hasattr(a, "numpy") and not isinstance(a, np.ndarray):
        a = a.numpy()
    try:
        arr = np.asarray(a)
    except Exception as e:
        raise TypeError(f"{what}: expected an array, received {type(a).__name__} ({e})") from None
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{what}: expected a numeric array, received dtype {arr.dtype}")
    return arr


def by_output(value, output_names: list[str], what: str, allow_single_for_all: bool = False) -> dict:
    """A per-output dict from a single value, a list/tuple (by position) or a dict (by output name)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        unknown = [k for k in value if k not in output_names]
        if unknown:
            raise data_utils.UnknownKeyError(f"{what}: key(s) {unknown} match no output of the model; its outputs are {output_names}")
        return dict(value)
    if isinstance(value, (list, tuple)) and len(output_names) > 1:
        if len(value) != len(output_names):
            raise ValueError(f"{what}: the model has {len(output_names)} outputs {output_names}, received "
                             f"{len(value)} values")
        return dict(zip(output_names, value))
    if len(output_names) > 1 and not allow_single_for_all:
        raise ValueError(f"{what}: the model has {len(output_names)} outputs {output_names}; pass a list or a dict "
                         "keyed by output name")
    return {n: value for n in output_names}


def standardize_targets(y, output_names: list[str], output_types: dict, losses: dict) -> dict:
    """Target arrays by output name, checked against each output and cast for its loss."""
    if y is None:
        raise ValueError("y: targets are required to train or evaluate a compiled model")
    if isinstance(y, (list, tuple)) and len(output_names) == 1 and len(y) == 1:
        y = y[0]
    ys = by_output(y, output_names, "y")
    out = {}
    for name in output_names:
        if losses.get(name) is None:
            continue
        if name not in ys:
            raise ValueError(f"y: no target for output {name!r}, which has a loss; targets were given for "
                             f"{sorted(ys)}")
        a = _as_array(ys[name], f"y[{name!r}]" if len(output_names) > 1 else "y")
        out[name] = conform_target(a, output_types[name], losses[name], name if len(output_names) > 1 else None)
    return out


def conform_target(a: np.ndarray, pred: TensorType, loss, name: str | None) -> np.ndarray:
    """Checks a target array against its output's type and loss; returns it in the step's dtype."""
    what = f"y[{name!r}]" if name else "y"
    pshape = pred.keras_shape()
    sparse = is_sparse_categorical(loss)
    if a.ndim == 0:
        raise ValueError(f"{what}: expected one target per sample, received a scalar")
    if sparse:
        if a.dtype.kind == "f":
            if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
                raise ValueError(f"{what}: {loss.name} needs integer class labels, received non-integral "
                                 f"{a.dtype} values. For one-hot targets use CategoricalCrossentropy.")
        elif a.dtype.kind == "b":
            raise TypeError(f"{what}: {loss.name} needs integer class labels, received bool")
        want = len(pshape) - 1
        if a.ndim == want + 1 and a.shape[-1] == 1:
            a = a.reshape(a.shape[:-1])
        if a.ndim != want:
            raise ValueError(f"{what}: {loss.name} expects integer labels of shape {format_shape(pshape[:-1])} for "
                             f"an output of shape {format_shape(pshape)}, received shape {a.shape}. "
                             "One-hot targets need CategoricalCrossentropy.")
        return np.ascontiguousarray(a.astype(np.int64))
    if a.dtype.kind == "b" or a.dtype != np.dtype(pred.dtype):
        a = a.astype(pred.dtype)
    if a.ndim == len(pshape) - 1 and pshape[-1] == 1:
        a = a.reshape(a.shape + (1,))
    if a.ndim != len(pshape):
        hint = ""
        if a.ndim == len(pshape) - 1 and "categorical" in getattr(loss, "name", ""):
            hint = " Integer labels need SparseCategoricalCrossentropy, or utils.to_categorical first."
        raise ValueError(f"{what}: expected targets of shape {format_shape(pshape)} for {getattr(loss, 'name', 'the loss')}, "
                         f"received shape {a.shape}.{hint}")
    for i, (d, n) in enumerate(zip(pshape, a.shape)):
        if i > 0 and d is not None and d != n:
            raise ValueError(f"{what}: expected targets of shape {format_shape(pshape)}, received shape {a.shape} "
                             f"(axis {i} is {n}, expected {d})")
    return np.ascontiguousarray(a)


def check_label_range(y: dict, losses: dict, output_types: dict, multi: bool) -> None:
    """Sparse CE labels must lie in [0, classes): the error names the label, its position and the count."""
    for name, a in y.items():
        loss = losses.get(name)
        if not is_sparse_categorical(loss):
            continue
        k = output_types[name].shape[-1]
        if not isinstance(k, int) or a.size == 0:
            continue
        bad = np.flatnonzero((a < 0) | (a >= k))
        if bad.size:
            pos = np.unravel_index(bad[0], a.shape)
            where = "y" + (f"[{name!r}]" if multi else "")
            index = "[" + ", ".join(str(int(i)) for i in pos) + "]"
            raise ValueError(f"{type(loss).__name__}: label {int(a.flat[bad[0]])} at {where}{index} is out of range "
                             f"for {k} classes (output {name!r} has {k} units; labels must be in [0, {k - 1}]). "
                             f"{bad.size} label(s) are out of range; the largest is {int(a.max())}. Give the output "
                             f"layer {int(a.max()) + 1} units or fix the labels.")


def standardize_sample_weights(sample_weight, class_weight, y: dict, output_names: list[str], n: int) -> dict:
    """One float32 weight vector per output with a target (ones when none given)."""
    out = {name: np.ones((n,), np.float32) for name in y}
    if sample_weight is not None:
        sws = by_output(sample_weight, output_names, "sample_weight", allow_single_for_all=True)
        for name, w in sws.items():
            if name not in out:
                continue
            w = _as_array(w, "sample_weight").astype(np.float32)
            if w.ndim == 2 and w.shape[1] == 1:
                w = w[:, 0]
            if w.shape != (n,):
                raise ValueError(f"sample_weight: expected shape ({n},) (one weight per sample), received {w.shape}")
            out[name] = np.ascontiguousarray(w)
    if class_weight is not None:
        if not isinstance(class_weight, dict):
            raise TypeError(f"class_weight: expected a dict {{class index: weight}}, received {class_weight!r}")
        for k, v in class_weight.items():
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
                raise TypeError(f"class_weight: keys must be class indices (ints >= 0), received the key {k!r}")
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v):
                raise TypeError(f"class_weight: the weight of class {k} must be a finite number, received {v!r}")
        if len(y) != 1:
            raise ValueError("class_weight is only supported for models with a single output; use sample_weight "
                             "for each output instead")
        name, target = next(iter(y.items()))
        labels = target
        if target.ndim > 1 and target.shape[-1] > 1:
            labels = np.argmax(target, axis=-1)
        elif target.ndim > 1:
            labels = np.round(target[..., 0])
        labels = labels.astype(np.int64).reshape(n, -1)[:, 0]
        cw = np.ones((int(max(max(class_weight), labels.max(initial=0))) + 1,), np.float32)
        for k, v in class_weight.items():
            cw[int(k)] = float(v)
        out[name] = (out[name] * cw[labels]).astype(np.float32)
    return out


def split_validation(arrays: list[dict], fraction: float) -> tuple[list[dict], list[dict]]:
    """The last ``fraction`` of rows become validation data (before any shuffling, as Keras)."""
    if not 0 < fraction < 1:
        raise ValueError(f"validation_split: expected a fraction in (0, 1), received {fraction}")
    n = data_utils.num_rows({k: v for d in arrays for k, v in d.items()}, "x")
    split = int(n * (1.0 - fraction))
    if split == 0 or split == n:
        raise ValueError(f"validation_split={fraction} leaves no training or no validation rows for {n} samples")
    train = [{k: v[:split] for k, v in d.items()} for d in arrays]
    val = [{k: v[split:] for k, v in d.items()} for d in arrays]
    return train, val


def batch_indices(n: int, batch_size: int, shuffle: bool) -> list:
    """Row selections per batch: slices in order, or index arrays of a fresh permutation."""
    if shuffle:
        perm = backend.rng().permutation(n)
        return [perm[i:i + batch_size] for i in range(0, n, batch_size)]
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def take(arrays: dict, sel) -> dict:
    if isinstance(sel, slice):
        return {k: v[sel] for k, v in arrays.items()}
    return {k: np.ascontiguousarray(v[sel]) for k, v in arrays.items()}


def num_rows_in(sel, n: int) -> int:
    """Rows a selection from ``batch_indices`` picks out of ``n``."""
    if isinstance(sel, slice):
        return len(range(*sel.indices(n)))
    return len(sel)


def take_into(arrays: dict, sel, out: dict) -> dict:
    """Gathers the selected rows of each array into the preallocated ``out[name]`` (no allocation).

    Returns ``{name: out[name]}`` for the names in ``arrays``.
    """
    batch = {}
    for k, v in arrays.items():
        buf = out[k]
        if isinstance(sel, slice):
            np.copyto(buf, v[sel], casting="unsafe")
        elif v.dtype == buf.dtype and v.flags.c_contiguous:
            # the rows come from a permutation of range(len(v)), so they are in range; mode="raise"
            # would buffer the output (NumPy's documented behaviour), 3x slower on W1's batches
            np.take(v, sel, axis=0, out=buf, mode="clip")
        else:
            np.copyto(buf, v[sel], casting="unsafe")
        batch[k] = buf
    return batch


def has_batch_hooks(callbacks) -> bool:
    """Whether any callback does something in the per-train-batch hooks (or their Keras 2 names)."""
    from graphc.callbacks import Callback

    hooks = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")
    for cb in callbacks:
        for h in hooks:
            if h in vars(cb) or getattr(type(cb), h, None) is not getattr(Callback, h):
                return True
    return False


def num_steps(n: int, batch_size: int) -> int:
    return (n + batch_size - 1) // batch_size


def check_compile_args(metrics, weighted_metrics, loss_weights) -> None:
    """compile's argument types (matching them to the outputs needs the model built: ``Trainer._resolve``)."""
    for key, m in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
        if m is not None and not isinstance(m, (list, tuple, dict)):
            raise TypeError(f"compile: {key} must be a list, tuple or dict (by output), received {m!r}; "
                            f"write {key}=[{m!r}]")
    if loss_weights is not None and not isinstance(loss_weights, (int, float, list, tuple, dict)):
        raise TypeError(f"compile: loss_weights must be a number, list or dict, received {loss_weights!r}")


def check_epochs(epochs, initial_epoch) -> None:
    for name, v in (("epochs", epochs), ("initial_epoch", initial_epoch)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise TypeError(f"fit: {name} must be an int >= 0, received {v!r}")


def check_steps(steps, where: str) -> int | None:
    """A step count from the user (``steps_per_epoch``, ``validation_steps``, ``steps``), or None."""
    if steps is None:
        return None
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"{where}: expected a positive int (a number of batches), received {steps!r}")
    return int(steps)


def resolve_batch_size(batch_size, n: int, steps: int | None) -> int:
    """The given batch size; without one, Keras' ``ceil(n / steps)`` rows when ``steps`` is given (the
    steps then cover the data once), else 32."""
    if batch_size is None:
        return max(1, -(-n // steps)) if steps else 32
    return data_utils.check_batch_size(batch_size)


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def warn_user(message: str) -> None:
    """A UserWarning attributed to the first caller outside graphc (the user's fit / evaluate line)."""
    level, frame = 2, sys._getframe(1)  # stacklevel 2: warn_user's caller
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


def warn_pass_end(where: str, steps_arg: str, steps: int, done: int, per_pass: int, detail: str = "",
                  continues: bool = False) -> None:
    """Warns that a pass over the data ended after ``done`` of ``steps`` steps (Keras warns there too).

    Args:
        where: ``"fit: x"``, ``"fit: validation_data (a PyDataset (Batches))"``...
        steps_arg: the argument that asked for ``steps``.
        per_pass: batches in one pass (None when unknown).
        detail: how the batches come about, e.g. ``"40 rows in batches of 10"``.
        continues: fit with steps_per_epoch, where the next epoch starts a new pass.
    """
    has = f"it has {per_pass} batches" if per_pass else "its pass ended there"
    if detail:
        has += f" ({detail})"
    if continues:
        msg = (f"{where} ran out of data after {done} of {steps_arg}={steps} steps: {has}, and an epoch ends with "
               f"the last of them; the next epoch starts a new pass. Pass a {steps_arg} that divides "
               f"{per_pass or 'the number of batches'} for epochs of equal length, or None for one pass per epoch.")
    else:
        msg = (f"{where} ran out of data after {done} of {steps_arg}={steps} steps: {has}; the results cover those "
               f"{done}. Pass {steps_arg} <= {per_pass or done}, or None for all of them.")
    warn_user(msg)


def eval_selections(n: int, batch_size: int, steps: int | None, where: str, steps_arg: str = "steps") -> list:
    """The row slices evaluate, predict and validation read: the first ``steps`` batches (all when None),
    with Keras' warning when ``steps`` asks for more batches than there are."""
    sels = batch_indices(n, batch_size, False)
    if steps is not None:
        if steps > len(sels):
            warn_pass_end(where, steps_arg, steps, len(sels), len(sels), f"{n} rows in batches of {batch_size}")
        sels = sels[:steps]
    return sels


class ArrayValidation:
    """``validation_data`` (or ``validation_split``) as arrays: ``validation_steps`` batches of
    ``validation_batch_size`` rows (Keras' defaults, see ``resolve_batch_size``) at each validation."""

    def __init__(self, feeds: dict, ys: dict, sws: dict, batch_size, steps, where: str = "fit: validation_data"):
        self.feeds, self.ys, self.sws, self.where = feeds, ys, sws, where
        self.steps = check_steps(steps, "fit: validation_steps")
        self.batch_size = resolve_batch_size(batch_size, data_utils.num_rows(feeds, "x"), self.steps)

    def evaluate(self, model, callbacks) -> dict:
        return model._evaluate_arrays(self.feeds, self.ys, self.sws, self.batch_size, callbacks, self.steps,
                                      self.where, "validation_steps")


class ArrayFeeder:
    """fit's batches from arrays for ``Trainer._train_epochs``: each batch's rows are gathered straight
    into the step's bound input buffers (``plan.feeds``), with no other copy or allocation.

    Args:
        ts: the model's ``_TrainState``.
        data: ``{feed name: array}`` (inputs, targets, sample weights), all with ``n`` rows.
        n, batch_size, shuffle: rows, rows per batch (the last may be smaller), new order each pass.
        steps_per_epoch: batches per epoch, continuing through the data across epochs (Keras'
            behaviour); an epoch that reaches the end of a pass stops there with a warning and the
            next starts a new pass. None: one pass per epoch.
    """

    runs_user_code = False  # nothing runs between steps that could change the weights

    def __init__(self, ts, data: dict, n: int, batch_size: int, shuffle: bool, steps_per_epoch: int | None = None):
        self.ts, self.data, self.n, self.batch_size, self.shuffle = ts, data, n, batch_size, shuffle
        self.per_pass = num_steps(n, batch_size)
        self.fixed_steps = steps_per_epoch
        self.steps = steps_per_epoch or self.per_pass  # the progress bar's target, as Keras'
        self._pass: list | None = None  # the selections of the pass steps_per_epoch is reading
        self._pos = 0
        self._short = 0  # steps of an epoch the end of a pass cut short (0: none)

    def _selections(self) -> list:
        """This epoch's row selections: a whole pass, or the next ``steps_per_epoch`` of the current one."""
        if self.fixed_steps is None:
            return batch_indices(self.n, self.batch_size, self.shuffle)
        if self._pass is None:
            self._pass, self._pos = batch_indices(self.n, self.batch_size, self.shuffle), 0
        sels = self._pass[self._pos:self._pos + self.fixed_steps]
        self._pos += len(sels)
        if self._pos >= len(self._pass):
            self._pass = None
        self._short = len(sels) if len(sels) < self.fixed_steps else 0
        return sels

    def batches(self, epoch: int):
        """Yields ``(plan, batch, rows)`` per step of the epoch."""
        ts, data, n = self.ts, self.data, self.n
        for sel in self._selections():
            rows = num_rows_in(sel, n)
            plan = ts.plan_for(data, rows)
            yield plan, take_into(data, sel, plan.feeds), rows

    def end_epoch(self, epoch: int) -> None:
        if self._short:
            warn_pass_end("fit: x", "steps_per_epoch", self.fixed_steps, self._short, self.per_pass,
                          f"{self.n} rows in batches of {self.batch_size}", continues=True)
