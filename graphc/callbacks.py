"""Callbacks: objects whose hooks ``fit``, ``evaluate`` and ``predict`` call as they run.

The trainer builds a ``CallbackList`` and calls its hooks in this order::

    fit:       on_train_begin
                 on_epoch_begin(e)
                   on_train_batch_begin(b) ... on_train_batch_end(b, logs)   for each batch
                   [validation: on_test_begin, on_test_batch_begin/end..., on_test_end(logs)]
                 on_epoch_end(e, logs)          logs hold train and val_ values
               on_train_end(logs)
    evaluate:  on_test_begin, on_test_batch_begin/end(b, logs)..., on_test_end(logs)
    predict:   on_predict_begin, on_predict_batch_begin/end(b, logs)..., on_predict_end

``logs`` are dicts of Python floats: in batch hooks the running means over the epoch so far (what
the progress line shows), in ``on_epoch_end`` the epoch's values plus ``val_``-prefixed validation
values. Every callback gets the same dict, so a key a callback adds (``learning_rate``) is seen by
those after it, History among them. A callback stops training by setting
``self.model.stop_training = True``; the trainer checks it after each batch and epoch.
"""
from __future__ import annotations

import csv
import math
import os
import sys
import warnings
from typing import Callable, Iterable

import numpy as np

from graphc.utils.progbar import Progbar


def _pythonify(logs: dict | None) -> dict:
    """Scalars (NumPy or 0-d arrays) to Python floats; other values unchanged."""
    out = {}
    for key, value in (logs or {}).items():
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        if isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


def _print(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


class Callback:
    """Base class: every hook does nothing; subclasses override the ones they need.

    Attributes:
        model: the model being trained (set by ``set_model``).
        params: ``{"verbose": ..., "epochs": ..., "steps": ...}`` (set by ``set_params``).
    """

    def __init__(self):
        self.params: dict = {}
        self._model = None

    def set_params(self, params: dict) -> None:
        self.params = params

    def set_model(self, model) -> None:
        self._model = model

    @property
    def model(self):
        return self._model

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...
    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_batch_begin(self, batch, logs=None): ...
    def on_predict_batch_end(self, batch, logs=None): ...

    # Keras 2 names: the train-batch hooks call these, so overriding either works.
    def on_batch_begin(self, batch, logs=None): ...
    def on_batch_end(self, batch, logs=None): ...

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)


class History(Callback):
    """Records every epoch's logs; ``fit`` returns it and sets it as ``model.history``.

    Attributes:
        history: ``{log key: [value per epoch]}``, e.g. ``{"loss": [...], "val_accuracy": [...]}``.
        epoch: the epoch indices recorded (0-based, as Keras).
        params: the fit's params.
    """

    def __init__(self):
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def set_model(self, model) -> None:
        super().set_model(model)
        if model is not None:
            model.history = self

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self


class ProgbarLogger(Callback):
    """Prints the progress line: ``Epoch 1/5`` then the live bar of each epoch, evaluate and predict.

    Reads ``verbose``, ``epochs`` and ``steps`` from the params. Log values are shown as given (the
    trainer reports running means), validation values joining the line at the epoch's end. With
    ``epochs == 1`` no ``Epoch 1/1`` header is printed, as in Keras.
    """

    def __init__(self):
        super().__init__()
        self.verbose = 1
        self.epochs = 1
        self.target = None
        self.seen = 0
        self.progbar: Progbar | None = None
        self._called_in_fit = False

    def set_params(self, params: dict) -> None:
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else int(verbose or 0)
        self.epochs = params.get("epochs", 1) or 1
        self.target = params.get("steps")

    def _reset(self) -> None:
        self.seen = 0
        self.progbar = None
        if self.verbose:
            self._ensure_progbar()  # its clock starts now, so the first step counts in the elapsed time

    def _ensure_progbar(self) -> Progbar:
        if self.progbar is None:
            self.progbar = Progbar(target=self.target, verbose=self.verbose, unit_name="step")
        return self.progbar

    def _show(self, logs, finalize: bool) -> None:
        progbar = self._ensure_progbar()
        logs = _pythonify(logs)
        progbar.stateful_metrics.update(logs)  # logs arrive already averaged: show them as they are
        progbar.update(self.seen, list(logs.items()), finalize=finalize)

    def _update(self, batch: int, logs) -> None:
        self.seen = batch + 1
        if self.verbose:
            self._show(logs, finalize=False)

    def _finalize(self, logs) -> None:
        if self.target is None:
            self.target = self.seen
            if self.progbar is not None:
                self.progbar.target = self.seen
        if self.verbose:
            self._show(logs, finalize=True)

    def on_train_begin(self, logs=None):
        self._called_in_fit = True

    def on_epoch_begin(self, epoch, logs=None):
        self._reset()
        if self.verbose and self.epochs > 1:
            _print(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize(logs)

    def on_train_end(self, logs=None):
        self._called_in_fit = False

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._reset()

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize(logs)

    def on_predict_begin(self, logs=None):
        self._reset()

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, None)

    def on_predict_end(self, logs=None):
        self._finalize(None)


class CallbackList:
    """Holds callbacks and calls each hook on all of them, in order.

    Args:
        callbacks: the user's callbacks (a list, a single Callback, or None).
        model: the model they act on; ``set_model`` is called on each.
        add_history: append a History unless one is already among the callbacks.
        add_progbar: append a ProgbarLogger unless one is already there.
        verbose, epochs, steps: the params every callback receives (``steps`` per epoch; None when
            unknown); further keyword params are passed along too.

    After construction ``model.history`` is the History (when there is one).
    """

    def __init__(self, callbacks=None, model=None, add_history: bool = False, add_progbar: bool = False,
                 verbose=1, epochs: int = 1, steps: int | None = None, **params):
        if callbacks is None:
            callbacks = []
        elif isinstance(callbacks, Callback):
            callbacks = [callbacks]
        callbacks = list(callbacks)
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks: expected Callback objects, received {cb!r}")
        self.callbacks: list[Callback] = callbacks
        self._history = next((cb for cb in callbacks if isinstance(cb, History)), None)
        self._progbar = next((cb for cb in callbacks if isinstance(cb, ProgbarLogger)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)
        self.params = {"verbose": verbose, "epochs": epochs, "steps": steps, **params}
        self.model = None
        self.set_params(self.params)
        if model is not None:
            self.set_model(model)

    @property
    def history(self) -> History | None:
        return self._history

    def append(self, callback: Callback) -> None:
        self.callbacks.append(callback)
        callback.set_params(self.params)
        if self.model is not None:
            callback.set_model(self.model)

    def set_params(self, params: dict) -> None:
        self.params = params
        for cb in self.callbacks:
            cb.set_params(params)

    def set_model(self, model) -> None:
        self.model = model
        for cb in self.callbacks:
            cb.set_model(model)
        if self._history is not None:
            model.history = self._history

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def _call(self, hook: str, *args, logs=None) -> None:
        logs = _pythonify(logs)
        for cb in self.callbacks:
            getattr(cb, hook)(*args, logs)

    def on_train_begin(self, logs=None): self._call("on_train_begin", logs=logs)
    def on_train_end(self, logs=None): self._call("on_train_end", logs=logs)
    def on_epoch_begin(self, epoch, logs=None): self._call("on_epoch_begin", epoch, logs=logs)
    def on_epoch_end(self, epoch, logs=None): self._call("on_epoch_end", epoch, logs=logs)
    def on_train_batch_begin(self, batch, logs=None): self._call("on_train_batch_begin", batch, logs=logs)
    def on_train_batch_end(self, batch, logs=None): self._call("on_train_batch_end", batch, logs=logs)
    def on_test_begin(self, logs=None): self._call("on_test_begin", logs=logs)
    def on_test_end(self, logs=None): self._call("on_test_end", logs=logs)
    def on_test_batch_begin(self, batch, logs=None): self._call("on_test_batch_begin", batch, logs=logs)
    def on_test_batch_end(self, batch, logs=None): self._call("on_test_batch_end", batch, logs=logs)
    def on_predict_begin(self, logs=None): self._call("on_predict_begin", logs=logs)
    def on_predict_end(self, logs=None): self._call("on_predict_end", logs=logs)
    def on_predict_batch_begin(self, batch, logs=None): self._call("on_predict_batch_begin", batch, logs=logs)
    def on_predict_batch_end(self, batch, logs=None): self._call("on_predict_batch_end", batch, logs=logs)

    # Keras 2 spellings of the train-batch hooks.
    on_batch_begin = on_train_batch_begin
    on_batch_end = on_train_batch_end


# -- monitoring -----------------------------------------------------------------------------------
_MAX_SUFFIXES = ("acc", "accuracy", "auc", "precision", "recall")


def resolve_mode(mode: str, monitor: str, owner: str) -> str:
    """"min" or "max" for a monitored quantity.

    "auto" follows Keras' rule: a name (``val_`` prefix aside) ending in acc, accuracy or auc (and
    precision or recall, which also grow with quality) is maximised; anything else (losses, errors)
    is minimised. An unknown mode warns and falls back to "auto".
    """
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{owner}: mode {mode!r} is unknown, falling back to 'auto'", stacklevel=3)
        mode = "auto"
    if mode != "auto":
        return mode
    name = monitor[4:] if monitor.startswith("val_") else monitor
    return "max" if name.endswith(_MAX_SUFFIXES) else "min"


def _as_float(value):
    try:
        return float(np.asarray(value, dtype=np.float64).reshape(()))
    except (TypeError, ValueError):
        return None


def _get_learning_rate(model, owner: str) -> float:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise ValueError(f'{owner}: the model\'s optimizer must have a "learning_rate" attribute '
                         "(compile the model first)")
    lr = optimizer.learning_rate
    if hasattr(lr, "numpy"):
        lr = lr.numpy()
    value = _as_float(lr)
    if value is None:
        raise TypeError(f"{owner}: cannot read the optimizer's learning rate as a number: {lr!r}")
    return value


def _set_learning_rate(model, value: float) -> None:
    model.optimizer.learning_rate = float(value)


class EarlyStopping(Callback):
    """Stops training when a monitored quantity has stopped improving.

    Args:
        monitor: the log key to watch ("val_loss").
        min_delta: a change smaller than this is no improvement.
        patience: epochs without improvement after which training stops.
        verbose: 1 prints when it stops and when it restores weights.
        mode: "min", "max" or "auto" (see ``resolve_mode``).
        baseline: training stops after ``patience`` epochs unless the quantity beats this value.
        restore_best_weights: at the end of training, set the weights of the best epoch (via
            ``model.get_weights`` / ``set_weights``), whether or not training stopped early.
        start_from_epoch: epochs to wait before watching (a warm-up).
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0):
        super().__init__()
        self.monitor = monitor
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = baseline
        self.min_delta = abs(float(min_delta))
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = int(start_from_epoch)
        self.mode = resolve_mode(mode, monitor, "EarlyStopping")
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def _is_improvement(self, value: float, reference: float) -> bool:
        if self.mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        current = self._monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.best is None:  # used without on_train_begin
            self.on_train_begin()
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()  # until something improves, these are the best
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # patience restarts only for an improvement that also beats the baseline
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
                return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            _print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def _monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(logs)}", stacklevel=3)
            return None
        return _as_float(value)


class ModelCheckpoint(Callback):
    """Saves the model (or its weights) every epoch, every ``save_freq`` batches, or when it improves.

    ``filepath`` may hold ``str.format`` fields: ``epoch`` (1-based), ``batch`` (1-based, with an
    integer ``save_freq``) and any log key, e.g. ``"ckpt/{epoch:02d}-{val_loss:.2f}.graphc"``. Its
    folder is created when missing. Saving calls ``model.save(path)`` or ``model.save_weights(path)``.

    Args:
        filepath: where to save (a format string).
        monitor: the log key compared when ``save_best_only``.
        verbose: 1 prints a line per save (and per non-improvement with ``save_best_only``).
        save_best_only: save only when ``monitor`` improves on the best value so far.
        save_weights_only: call ``save_weights`` instead of ``save``.
        mode: "min", "max" or "auto" (see ``resolve_mode``).
        save_freq: "epoch", or an int: save after that many batches.
        initial_value_threshold: the best value to beat at the start (with ``save_best_only``).
    """

    def __init__(self, filepath, monitor: str = "val_loss", verbose: int = 0, save_best_only: bool = False,
                 save_weights_only: bool = False, mode: str = "auto", save_freq="epoch",
                 initial_value_threshold: float | None = None):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        if save_freq != "epoch" and not (isinstance(save_freq, int) and not isinstance(save_freq, bool)
                                         and save_freq > 0):
            raise ValueError(f"ModelCheckpoint: save_freq must be 'epoch' or a positive int, received {save_freq!r}")
        self.save_freq = save_freq
        self.mode = resolve_mode(mode, monitor, "ModelCheckpoint")
        if initial_value_threshold is not None:
            self.best = float(initial_value_threshold)
        else:
            self.best = math.inf if self.mode == "min" else -math.inf
        self._batches_since_save = 0
        self._current_epoch = 0
        self.last_saved_path: str | None = None

    def _improved(self, current: float) -> bool:
        return current < self.best if self.mode == "min" else current > self.best

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def format_filepath(self, epoch: int, batch: int | None, logs) -> str:
        """The file path for a save after ``epoch`` (0-based) and ``batch`` (0-based or None)."""
        fields = dict(logs or {})
        fields["epoch"] = epoch + 1
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as e:
            raise KeyError(f'ModelCheckpoint: failed to format the filepath "{self.filepath}": it names {e} '
                           f"but the logs hold only {sorted(logs or {})} (and epoch"
                           f"{', batch' if batch is not None else ''})") from None

    def _save(self, epoch: int, batch: int | None, logs) -> None:
        logs = logs or {}
        path = self.format_filepath(epoch, batch, logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            current = None if current is None else _as_float(current)
            if current is None:
                warnings.warn(f"ModelCheckpoint: can save the best model only with {self.monitor} available, "
                              "skipping.", stacklevel=3)
                return
            if not self._improved(current):
                if self.verbose > 0:
                    _print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose > 0:
                _print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, "
                       f"saving model to {path}")
            self.best = current
        elif self.verbose > 0:
            _print(f"\nEpoch {epoch + 1}: saving model to {path}")
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        self.last_saved_path = path


class TerminateOnNaN(Callback):
    """Stops training at the first batch whose loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        value = _as_float(loss)
        if value is not None and not math.isfinite(value):
            _print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LearningRateScheduler(Callback):
    """Sets the optimizer's learning rate at the start of each epoch from ``schedule(epoch, lr)``.

    ``schedule`` takes the 0-based epoch and the current learning rate and returns the new one (a
    one-argument ``schedule(epoch)`` works too). The rate in effect is logged as ``learning_rate``.
    """

    def __init__(self, schedule: Callable, verbose: int = 0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be callable, received {schedule!r}")
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = _get_learning_rate(self.model, "LearningRateScheduler")
        try:
            new_lr = self.schedule(epoch, lr)
        except TypeError:  # schedule(epoch) of old code
            new_lr = self.schedule(epoch)
        value = _as_float(new_lr)
        if value is None or isinstance(new_lr, (str, bool)):
            raise ValueError(f"LearningRateScheduler: the schedule must return a float, returned {new_lr!r} "
                             f"for epoch {epoch}")
        if not math.isfinite(value):
            raise ValueError(f"LearningRateScheduler: the schedule returned {value} for epoch {epoch}")
        _set_learning_rate(self.model, value)
        if self.verbose > 0:
            _print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {value}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _get_learning_rate(self.model, "LearningRateScheduler")


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by ``factor`` when a quantity has stopped improving.

    Args:
        monitor: the log key to watch.
        factor: the multiplier (< 1).
        patience: epochs without improvement before a reduction.
        verbose: 1 prints each reduction.
        mode: "min", "max" or "auto" (see ``resolve_mode``).
        min_delta: improvements smaller than this do not count.
        cooldown: epochs after a reduction during which no improvement is awaited.
        min_lr: the rate never goes below this.
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, verbose: int = 0,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.monitor = monitor
        self.factor = float(factor)
        self.patience = int(patience)
        self.verbose = verbose
        self.min_delta = abs(float(min_delta))
        self.cooldown = int(cooldown)
        self.min_lr = float(min_lr)
        self.mode = resolve_mode(mode, monitor, "ReduceLROnPlateau")
        self._reset()

    def _reset(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait = 0
        self.cooldown_counter = 0

    def _improved(self, current: float) -> bool:
        if self.mode == "min":
            return current < self.best - self.min_delta
        return current > self.best + self.min_delta

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = _get_learning_rate(self.model, "ReduceLROnPlateau")
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs)}", stacklevel=3)
            return
        current = _as_float(current)
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = logs["learning_rate"]
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    _set_learning_rate(self.model, new_lr)
                    if self.verbose > 0:
                        _print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class CSVLogger(Callback):
    """Writes one CSV row per epoch: ``epoch`` (0-based) then the log keys in sorted order.

    The file is flushed after every row, so a crash loses nothing already logged. Values that are
    lists are written as ``"[a, b]"``; a key missing in some epoch is written as ``NA``.

    Args:
        filename: the CSV file.
        separator: the field separator.
        append: append to an existing file (the header is written only if the file is empty).
    """

    def __init__(self, filename, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys: list[str] | None = None
        self.writer = None
        self.csv_file = None
        self._write_header = True

    def on_train_begin(self, logs=None):
        mode = "w"
        self._write_header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename, encoding="utf-8") as f:
                self._write_header = not f.readline()
            mode = "a"
        folder = os.path.dirname(self.filename)
        if folder:
            os.makedirs(folder, exist_ok=True)
        self.csv_file = open(self.filename, mode, newline="", encoding="utf-8")
        self.keys = None
        self.writer = None

    @staticmethod
    def _cell(value):
        if isinstance(value, str):
            return value
        if isinstance(value, Iterable) and not (isinstance(value, np.ndarray) and value.ndim == 0):
            return f"[{', '.join(map(str, value))}]"
        return value

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.csv_file is None:  # used without on_train_begin
            self.on_train_begin()
        if self.keys is None:
            self.keys = sorted(logs)
        if self.writer is None:
            self.writer = csv.writer(self.csv_file, delimiter=self.sep, lineterminator="\n")
            if self._write_header:
                self.writer.writerow(["epoch", *self.keys])
        self.writer.writerow([epoch, *(self._cell(logs.get(k, "NA")) for k in self.keys)])
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None:
            self.csv_file.close()
        self.csv_file = None
        self.writer = None


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``.

    Accepts any hook name as a keyword argument; each function receives the hook's arguments.
    """

    _HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
              "on_train_batch_end", "on_batch_begin", "on_batch_end", "on_test_begin", "on_test_end",
              "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
              "on_predict_batch_begin", "on_predict_batch_end")

    def __init__(self, **hooks):
        super().__init__()
        unknown = sorted(set(hooks) - set(self._HOOKS))
        if unknown:
            raise TypeError(f"LambdaCallback: unknown hook(s) {unknown}; known: {', '.join(self._HOOKS)}")
        for name, fn in hooks.items():
            setattr(self, name, fn)


__all__ = ["Callback", "CallbackList", "CSVLogger", "EarlyStopping", "History", "LambdaCallback",
           "LearningRateScheduler", "ModelCheckpoint", "ProgbarLogger", "ReduceLROnPlateau", "TerminateOnNaN",
           "resolve_mode"]
