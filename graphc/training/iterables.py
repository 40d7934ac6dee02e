"""fit / evaluate / predict on iterables of batches: generators, PyDatasets and lists of batch tuples.

Three kinds of source, as in Keras:

* a **dataset**: ``graphc.utils.PyDataset`` (or any object with ``__len__`` and ``__getitem__``
  that is not array data): ``len(ds)`` batches per pass, read by index; ``shuffle=True`` in ``fit``
  visits them in a new random order each pass; ``on_epoch_begin`` / ``on_epoch_end`` hooks;
* an **iterator** (a generator, ``iter(...)``): one stream that every epoch continues; without a
  length ``fit`` needs ``steps_per_epoch`` (unless it trains one epoch, which reads it to the end);
  when it runs out before an epoch's steps are done, training stops with a warning;
* any other **iterable** (a list of batch tuples, an object with ``__iter__``): a fresh pass per
  epoch.

With ``steps_per_epoch`` given, epochs take that many batches, continuing through the source across
epochs; as in Keras an epoch never runs past the end of a pass: one that reaches the last batch of a
dataset or iterable ends there (with a warning naming ``steps_per_epoch``) and the next epoch starts
a new pass. ``evaluate``, ``predict`` and each validation read ``steps`` / ``validation_steps``
batches from the first one (an iterator continues where it stopped), at most one pass: asking for
more warns and uses the batches there are. A validation generator that has nothing left gives NaN
``val_*`` logs with a warning, so the History's lists stay aligned. A batch is ``(x, y)`` or
``(x, y, sample_weight)`` (``x``, ``(x,)`` or ``(x, y)`` for ``predict``), each part as for array
data, and every batch is checked like array data (inputs, targets, label range) before its step
runs; errors name the batch. ``fit`` copies each checked batch into the training step's bound input
buffers (one plan per batch shape), so batches may differ in size.
"""
from __future__ import annotations

import itertools
import types

import numpy as np

from graphc import backend
from graphc.models import data as data_utils

from . import data_adapter as da

DATASET, ITERATOR, ITERABLE = "dataset", "iterator", "iterable"
_BATCH_FORMS = "a tuple (x, y) or (x, y, sample_weight)"


def kind(x) -> str | None:
    """The kind of batch source ``x`` is, or None for array data (arrays, lists / dicts of arrays)."""
    from graphc.utils.py_dataset import PyDataset

    if isinstance(x, PyDataset):
        return DATASET
    if x is None or isinstance(x, (np.ndarray, dict, str, bytes)) or _is_array_like(x):
        return None
    if isinstance(x, (list, tuple)):
        return ITERABLE if isinstance(x, list) and _is_list_of_batches(x) else None
    if hasattr(x, "__next__"):
        return ITERATOR
    if hasattr(x, "__len__") and hasattr(x, "__getitem__"):
        return DATASET
    if hasattr(x, "__iter__"):
        return ITERABLE
    return None


def _is_array_like(v) -> bool:
    return isinstance(v, np.ndarray) or hasattr(v, "__array__") or hasattr(v, "numpy")


def _is_list_of_batches(x: list) -> bool:
    """``[(x0, y0), (x1, y1), ...]`` with array parts, not nested Python numbers (which are array data)."""
    def is_part(v):
        if isinstance(v, dict):
            return True
        if isinstance(v, (list, tuple)):
            return bool(v) and all(_is_array_like(e) and not np.isscalar(e) for e in v)
        return _is_array_like(v) and not np.isscalar(v)

    return bool(x) and all(isinstance(b, tuple) and b and is_part(b[0]) for b in x)


def describe(x) -> str:
    """How error messages name a source: ``a generator``, ``a PyDataset (Batches)``, ..."""
    if isinstance(x, types.GeneratorType):
        return "a generator"
    k = kind(x)
    if k == DATASET:
        return f"a PyDataset ({type(x).__name__})"
    if k == ITERATOR:
        return f"an iterator ({type(x).__name__})"
    if isinstance(x, list):
        return "a list of batches"
    return f"an iterable ({type(x).__name__})"


def _received(v) -> str:
    if isinstance(v, np.ndarray):
        return f"an array of shape {v.shape}"
    if isinstance(v, tuple):
        return f"a tuple of {len(v)} elements"
    return f"{type(v).__name__} {v!r}"[:120]


def validation_runs(initial_epoch: int, epochs: int, validation_freq) -> int:
    """How many of the epochs ``initial_epoch .. epochs - 1`` validate (``validation_freq`` as in Keras:
    every n-th epoch, or a list of 1-based epoch numbers)."""
    return sum(should_validate(e, validation_freq) for e in range(initial_epoch, epochs))


def should_validate(epoch: int, validation_freq) -> bool:
    """Whether the 0-based ``epoch`` validates."""
    if isinstance(validation_freq, (list, tuple)):
        return epoch + 1 in validation_freq
    if isinstance(validation_freq, (int, np.integer)) and not isinstance(validation_freq, bool) and validation_freq > 0:
        return (epoch + 1) % validation_freq == 0
    raise ValueError(f"fit: validation_freq: expected a positive int (validate every n-th epoch) or a list of epoch "
                     f"numbers (1-based), received {validation_freq!r}")


class BatchStream:
    """The raw batches of one source, epoch after epoch.

    Args:
        data: the source (see the module docstring).
        api, argname: how errors name it: ``"fit"``, ``"x"`` give ``fit: x (a generator)``.
        steps: batches per epoch given by the user; None reads one whole pass per epoch.
        steps_arg: the argument ``steps`` came from (``steps_per_epoch``, ``validation_steps``...).
        shuffle: visit a dataset's batches in a new random order each pass.
    """

    def __init__(self, data, api: str, argname: str, steps=None, steps_arg: str = "steps", shuffle: bool = False):
        self.data = data
        self.kind = kind(data)
        self.label = f"{api}: {argname} ({describe(data)})"
        self.fixed_steps = da.check_steps(steps, f"{api}: {steps_arg}")
        self.steps_arg = steps_arg
        self.shuffle = shuffle and self.kind == DATASET
        self.num_batches = None
        if self.kind == DATASET or hasattr(data, "__len__"):
            self.num_batches = int(len(data))
        #: batches per epoch; None when only the end of a pass tells
        self.steps = self.fixed_steps if self.fixed_steps is not None else self.num_batches
        #: the last epoch ended before its steps (a pass or the iterator ended), or an iterator had nothing left
        self.ran_out = False
        self.done = 0  # batches the last epoch read
        self._it = None
        self._fresh = False  # a pass begun by peek() that the next epoch reads from the start

    def _new_pass(self):
        if self.kind == DATASET:
            order = backend.rng().permutation(self.num_batches) if self.shuffle else range(self.num_batches)
            return (self.data[int(i)] for i in order)
        return iter(self.data)  # an iterator returns itself: one stream shared by every epoch

    def peek(self):
        """The first batch, read now and given again as the first of the next epoch."""
        self._it = self._new_pass()
        try:
            first = next(self._it)
        except StopIteration:
            hint = ""
            if self.kind == ITERATOR:
                hint = (" (it is exhausted: a generator can be read only once; create a new one for each "
                        "fit / evaluate / predict call, or pass a PyDataset or a list of batches)")
            raise ValueError(f"{self.label} yielded no batches{hint}") from None
        self._it = itertools.chain([first], self._it)
        self._fresh = True
        return first

    def epoch(self, restart: bool = False):
        """Yields one epoch's raw batches: ``steps`` of them (one pass when the count is unknown), never
        past the end of a pass, as Keras. ``restart``: begin at the first batch (evaluate and each
        validation do; an iterator cannot and continues).

        Sets ``done`` and ``ran_out`` (the pass or the iterator ended before ``steps`` batches, or an
        iterator had none left)."""
        if self._fresh and self.kind == DATASET:  # read batch 0 again, after the dataset's on_epoch_begin (Keras)
            self._fresh, self._it = False, None
        new_pass = self._fresh
        if not self._fresh and (self._it is None or self.fixed_steps is None or (restart and self.kind != ITERATOR)):
            self._it, new_pass = self._new_pass(), True
        self._fresh = self.ran_out = False
        self.done = 0
        while self.steps is None or self.done < self.steps:
            try:
                batch = next(self._it)
            except StopIteration:
                if not self.done and not new_pass and self.kind != ITERATOR:
                    self._it, new_pass = self._new_pass(), True  # the last epoch ended with the pass
                    continue
                self._it = None
                self.ran_out = self.steps is not None or (self.kind == ITERATOR and not self.done)
                return
            self.done += 1
            yield batch

    def warn_ran_out(self, what: str = "", continues: bool = False) -> None:
        """The warning for ``ran_out``: an iterator that ended, or a pass shorter than the steps asked."""
        if self.kind != ITERATOR:
            if self.fixed_steps is not None:
                da.warn_pass_end(self.label, self.steps_arg, self.fixed_steps, self.done, self.num_batches,
                                 continues=continues)
            return
        asked = f"{self.steps_arg}={self.steps}" if self.steps is not None else "its steps"
        da.warn_user(f"{self.label} ran out of batches after {self.done} of {asked} steps{what}. A generator can be "
                     "read only once: make sure it yields enough batches (the steps times the epochs or "
                     "validations), or pass a PyDataset or a list of batches, which start again.")

    def epoch_begin(self) -> None:
        if self.kind == DATASET and hasattr(self.data, "on_epoch_begin"):
            self.data.on_epoch_begin()

    def epoch_end(self) -> None:
        if self.kind == DATASET and hasattr(self.data, "on_epoch_end"):
            self.data.on_epoch_end()


def unpack(batch, need_y: bool):
    """``(x, y, sample_weight)`` from a batch: a tuple ``(x, y)`` / ``(x, y, sample_weight)``, or for
    predict also ``(x,)`` or ``x`` alone. A list counts as a tuple, as in Keras."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple):
        if need_y:
            raise TypeError(f"expected {_BATCH_FORMS}, received {_received(batch)}")
        return batch, None, None
    if not 1 <= len(batch) <= 3 or (need_y and len(batch) == 1):
        forms = _BATCH_FORMS if need_y else "x, (x,), (x, y) or (x, y, sample_weight)"
        raise ValueError(f"expected {forms}, received a tuple of {len(batch)} elements")
    return batch + (None,) * (3 - len(batch))


def _reraise(e: Exception, where: str):
    """The same error type with the batch's location in front of the message."""
    msg = e.args[0] if e.args and isinstance(e.args[0], str) else str(e)
    if not msg.startswith(where):
        msg = f"{where}: {msg}"
    cls = next(c for c in (KeyError, TypeError, ValueError) if isinstance(e, c))
    raise cls(msg) from None


def checked_batch(model, raw, where: str, class_weight=None) -> dict:
    """A raw batch as the step's feeds (inputs, targets, sample weights), checked like array data;
    errors start with ``where`` (which names the batch)."""
    try:
        bx, by, bsw = unpack(raw, need_y=True)
        feeds, ys, sws, n = model._prepare(bx, by, bsw, class_weight, where)
        if n == 0:
            raise ValueError("the batch has no rows")
        r = model._resolve()
        da.check_label_range(ys, r["losses"], r["types"], len(r["names"]) > 1)
    except (KeyError, TypeError, ValueError) as e:
        _reraise(e, where)
    return model._batch_feeds(feeds, ys, sws)


def _checked_x(model, raw, where: str) -> dict:
    """predict's feeds from a raw batch, checked like array data."""
    try:
        x = unpack(raw, need_y=False)[0]
        model._ensure_built_for(x)  # a Sequential or subclassed model not built yet builds from x's shape
        return data_utils.standardize_inputs(model, x, "x")
    except (KeyError, TypeError, ValueError) as e:
        _reraise(e, where)


def _reject_array_args(api: str, stream_label: str, batch_size=None, y=None, sample_weight=None,
                       validation_split=0.0) -> None:
    if batch_size is not None:
        raise ValueError(f"{api}: batch_size must not be given when x is {stream_label}: each batch it yields "
                         f"already has its size. Remove batch_size={batch_size!r}.")
    if y is not None:
        raise ValueError(f"{api}: y must not be given when x is {stream_label}; its batches carry the targets, "
                         "as (x, y) tuples")
    if sample_weight is not None:
        raise ValueError(f"{api}: sample_weight must not be given when x is {stream_label}; yield "
                         "(x, y, sample_weight) tuples instead")
    if validation_split:
        raise ValueError(f"{api}: validation_split is not supported when x is {stream_label}; pass "
                         "validation_data instead")


def _stream(x, api: str, steps, steps_arg: str, shuffle: bool = False, epochs: int = 1) -> BatchStream:
    stream = BatchStream(x, api, "x", steps, steps_arg, shuffle)
    if epochs > 1 and stream.steps is None and stream.kind == ITERATOR:
        raise ValueError(f"{stream.label} has no length, so the number of batches per epoch is unknown: pass "
                         f"{steps_arg}=<batches per epoch> (with a generator that yields that many times the "
                         f"{epochs} epochs). Without it the first epoch reads it to the end and nothing is left "
                         "for the next; a PyDataset or a list of batches is read again each epoch.")
    return stream


# -- fit --------------------------------------------------------------------------------------------
class IterableFeeder:
    """fit's batches from a BatchStream, each checked and copied into the step's plan (see
    ``Trainer._train_epochs``; ``data_adapter.ArrayFeeder`` is the array twin)."""

    runs_user_code = True  # the source's code runs between steps: check for changed weights

    def __init__(self, model, ts, stream: BatchStream, class_weight):
        self.model, self.ts, self.stream, self.class_weight = model, ts, stream, class_weight
        self.steps = stream.steps

    def batches(self, epoch: int):
        self.stream.epoch_begin()
        for step, raw in enumerate(self.stream.epoch()):
            batch = checked_batch(self.model, raw, f"{self.stream.label}, batch {step + 1} of epoch {epoch + 1}",
                                  self.class_weight)
            plan = self.ts.plan_for_batch(batch)
            yield plan, da.take_into(batch, slice(None), plan.feeds), len(next(iter(batch.values())))

    def end_epoch(self, epoch: int) -> None:
        self.stream.epoch_end()
        if self.stream.ran_out:
            self.stream.warn_ran_out(f" of epoch {epoch + 1}; training stops here", continues=True)
            if self.stream.kind == ITERATOR:  # nothing can come after; a pass that ended starts again
                self.model.stop_training = True


def fit_feeder(model, x, y, batch_size, sample_weight, class_weight, validation_split, shuffle,
               steps_per_epoch, epochs: int = 2) -> IterableFeeder:
    """The checked source of ``fit(x=<iterable>)`` for ``epochs`` epochs; the model is built from its
    first batch."""
    _reject_array_args("fit", describe(x), batch_size, y, sample_weight, validation_split)
    stream = _stream(x, "fit", steps_per_epoch, "steps_per_epoch", shuffle, epochs)
    checked_batch(model, stream.peek(), f"{stream.label}, batch 1 of epoch 1", class_weight)
    return IterableFeeder(model, model._train_state_for(), stream, class_weight)


class Validation:
    """``validation_data`` given as an iterable: evaluated by ``Trainer._end_epoch``, ``runs`` times."""

    def __init__(self, model, data, steps, batch_size, runs: int = 1):
        self.stream = BatchStream(data, "fit", "validation_data", steps, "validation_steps")
        if batch_size is not None:
            raise ValueError(f"fit: validation_batch_size must not be given when validation_data is "
                             f"{describe(data)}: each batch it yields already has its size")
        if self.stream.steps is None and self.stream.kind == ITERATOR and runs > 1:
            raise ValueError(f"{self.stream.label} has no length and no validation_steps was given, so the first of "
                             f"the {runs} validations would read it to the end and leave nothing for the others. "
                             "Pass validation_steps=<batches per validation> with a generator that yields that many "
                             "for every validation, or a PyDataset or a list of batches (each validation reads it "
                             "from the start), or validate once (validation_freq).")
        checked_batch(model, self.stream.peek(), f"{self.stream.label}, batch 1")  # errors before training
        self._warned_empty = False

    def evaluate(self, model, callbacks) -> dict:
        stream = self.stream
        logs = _evaluate_stream(model, stream, callbacks, warn=False)
        if stream.done:
            if stream.ran_out:
                stream.warn_ran_out("; the val_* logs cover those")
            return logs
        # Keras evaluates again the batches its generator adapter peeked at; graphc has nothing to evaluate:
        # NaN keeps every History list as long as the epochs
        if not self._warned_empty:
            self._warned_empty = True
            da.warn_user(f"{stream.label} has no batches left (a generator can be read only once), so this and later "
                         f"validations have NaN val_* logs. Pass validation_steps=<batches per validation> with a "
                         "generator that yields that many for every validation, or a PyDataset or a list of batches, "
                         "which each validation reads from the start.")
        return {k: float("nan") for k in model._log_keys(model._resolve())}


def validation(model, validation_data, steps, batch_size, runs: int = 1):
    """A Validation when ``validation_data`` is an iterable of batches, else None."""
    if kind(validation_data) is None:
        return None
    return Validation(model, validation_data, steps, batch_size, runs)


# -- evaluate / predict -----------------------------------------------------------------------------
def _evaluate_stream(model, stream: BatchStream, callbacks, warn: bool = True) -> dict:
    """The logs over one epoch of ``stream`` from its first batch ({} when it had none)."""
    def batches():
        for step, raw in enumerate(stream.epoch(restart=True)):
            yield checked_batch(model, raw, f"{stream.label}, batch {step + 1}")

    stream.epoch_begin()
    logs = model._evaluate_batches(batches(), callbacks)
    stream.epoch_end()
    if warn and stream.ran_out:
        stream.warn_ran_out()
    return logs if stream.done else {}  # no batches: no loss, and metrics would report their empty state


def evaluate(model, x, y, batch_size, sample_weight, steps, callbacks, verbose) -> dict:
    """``evaluate(x=<iterable>)``: the logs over ``steps`` batches or one pass."""
    from graphc.callbacks import CallbackList

    _reject_array_args("evaluate", describe(x), batch_size, y, sample_weight)
    stream = _stream(x, "evaluate", steps, "steps")
    checked_batch(model, stream.peek(), f"{stream.label}, batch 1")  # builds the model
    cbs = CallbackList(callbacks, model=model, add_progbar=verbose != 0, verbose=verbose, epochs=1,
                       steps=stream.steps)
    return _evaluate_stream(model, stream, cbs)


def predict(model, x, batch_size, steps, device, verbose: int = 0, callbacks=None):
    """``predict(x=<iterable>)``: the outputs of every batch, concatenated."""
    _reject_array_args("predict", describe(x), batch_size)
    stream = _stream(x, "predict", steps, "steps")
    _checked_x(model, stream.peek(), f"{stream.label}, batch 1")  # builds the model
    exe = model._executable(device)
    stream.epoch_begin()

    def batches():
        for step, raw in enumerate(stream.epoch(restart=True)):
            yield _checked_x(model, raw, f"{stream.label}, batch {step + 1}")

    out = model._predict_batches(exe, batches(), stream.steps, verbose, callbacks)
    stream.epoch_end()
    if stream.ran_out:
        stream.warn_ran_out()
    return out
