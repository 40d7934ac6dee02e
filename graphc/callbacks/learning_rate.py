"""Callbacks that set the optimizer's learning rate: LearningRateScheduler and ReduceLROnPlateau."""
from __future__ import annotations

import math
import warnings
from typing import Callable

import numpy as np

from .callback import Callback, print_line
from .monitor import as_float, get_learning_rate, resolve_mode, set_learning_rate


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
        lr = get_learning_rate(self.model, "LearningRateScheduler")
        try:
            new_lr = self.schedule(epoch, lr)
        except TypeError:  # schedule(epoch) of old code
            new_lr = self.schedule(epoch)
        value = as_float(new_lr)
        if value is None or isinstance(new_lr, (str, bool)):
            raise ValueError(f"LearningRateScheduler: the schedule must return a float, returned {new_lr!r} "
                             f"for epoch {epoch}")
        if not math.isfinite(value):
            raise ValueError(f"LearningRateScheduler: the schedule returned {value} for epoch {epoch}")
        set_learning_rate(self.model, value)
        if self.verbose > 0:
            print_line(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {value}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = get_learning_rate(self.model, "LearningRateScheduler")


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
        logs["learning_rate"] = get_learning_rate(self.model, "ReduceLROnPlateau")
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs)}", stacklevel=3)
            return
        current = as_float(current)
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
                    set_learning_rate(self.model, new_lr)
                    if self.verbose > 0:
                        print_line(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0
