"""Watching a logged quantity: the "auto" mode rule, EarlyStopping and TerminateOnNaN."""
from __future__ import annotations

import math
import warnings

import numpy as np

from .callback import Callback, print_line

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


def as_float(value):
    try:
        return float(np.asarray(value, dtype=np.float64).reshape(()))
    except (TypeError, ValueError):
        return None


def get_learning_rate(model, owner: str) -> float:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise ValueError(f'{owner}: the model\'s optimizer must have a "learning_rate" attribute '
                         "(compile the model first)")
    lr = optimizer.learning_rate
    if hasattr(lr, "numpy"):
        lr = lr.numpy()
    value = as_float(lr)
    if value is None:
        raise TypeError(f"{owner}: cannot read the optimizer's learning rate as a number: {lr!r}")
    return value


def set_learning_rate(model, value: float) -> None:
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
            print_line(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print_line(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def _monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(logs)}", stacklevel=3)
            return None
        return as_float(value)


class TerminateOnNaN(Callback):
    """Stops training at the first batch whose loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        value = as_float(loss)
        if value is not None and not math.isfinite(value):
            print_line(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
