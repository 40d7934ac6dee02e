"""The Callback base class, LambdaCallback, and helpers the callbacks share."""
from __future__ import annotations

import sys

import numpy as np


def pythonify_logs(logs: dict | None) -> dict:
    """Scalars (NumPy or 0-d arrays) to Python floats; other values unchanged."""
    out = {}
    for key, value in (logs or {}).items():
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        if isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


def print_line(message: str) -> None:
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
