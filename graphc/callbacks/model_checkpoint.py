"""ModelCheckpoint: saves the model or its weights during training."""
from __future__ import annotations

import math
import os
import warnings

from .callback import Callback, print_line
from .monitor import as_float, resolve_mode


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
            current = None if current is None else as_float(current)
            if current is None:
                warnings.warn(f"ModelCheckpoint: can save the best model only with {self.monitor} available, "
                              "skipping.", stacklevel=3)
                return
            if not self._improved(current):
                if self.verbose > 0:
                    print_line(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose > 0:
                print_line(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, "
                       f"saving model to {path}")
            self.best = current
        elif self.verbose > 0:
            print_line(f"\nEpoch {epoch + 1}: saving model to {path}")
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        self.last_saved_path = path
