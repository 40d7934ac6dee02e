"""CallbackList, which the trainer drives, and the two callbacks it adds: History and ProgbarLogger."""
from __future__ import annotations

from graphc.utils.progbar import Progbar

from .callback import Callback, print_line, pythonify_logs


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
        logs = pythonify_logs(logs)
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
            print_line(f"Epoch {epoch + 1}/{self.epochs}")

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
        elif not isinstance(callbacks, (list, tuple)):
            raise TypeError(f"callbacks: expected a list of Callback objects, received {type(callbacks).__name__}")
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
        logs = pythonify_logs(logs)
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
