"""``fit(..., backend="onnxruntime-training")``: training through onnxruntime-training's Module / Optimizer.

The default backend (``"onnxruntime"``) runs graphc's own training-step graph on stock onnxruntime
(``Trainer.fit``). This one writes graphc's onnxruntime-training artifacts
(``runtime.artifacts.export_training_artifacts``: graphc's gradient graph, its eval graph, an
AdamW/SGD optimizer graph and a checkpoint) to a temporary folder and trains them with
``onnxruntime.training.api`` (``runtime.ort_training``). The data path is the default backend's:
the same argument checks, validation split, batching and shuffling (``data_adapter``), callbacks,
progress line and History.

Differences from the default backend:

* Training logs hold ``loss`` only: the artifacts' training model outputs the loss and no
  predictions, so compiled metrics (and per-output losses) appear for validation data only.
* The Variables are updated at the end of each epoch (before validation and ``on_epoch_end``) and
  at the end of training; batch-level callbacks see the weights of the epoch's start.
* Optimizers: Adam / AdamW (without amsgrad) and SGD without momentum, the ones the artifacts
  write. Adam's moments start from zero (the checkpoint carries no optimizer state); at the end the
  moments and step count are copied into the graphc optimizer.
* Non-trainable state updates (BatchNormalization moving statistics) are not applied.
"""
from __future__ import annotations

import math
import tempfile
import warnings

import numpy as np

from . import data_adapter as da
from .train_state import nan_loss_error

DEFAULT_BACKEND = "onnxruntime"
ORT_TRAINING = "onnxruntime-training"
BACKENDS = (DEFAULT_BACKEND, ORT_TRAINING)
SUPPORTED_OPTIMIZERS = "Adam, AdamW (amsgrad=False) and SGD (momentum=0)"


def check_backend(backend) -> str:
    """The backend name, or ValueError listing the valid ones."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"fit: unknown backend {backend!r}; valid backends are {', '.join(map(repr, BACKENDS))} "
                         f"({DEFAULT_BACKEND!r} is the default)")
    return backend


def check_optimizer(optimizer) -> None:
    """NotImplementedError unless onnxruntime-training's artifacts can express the optimizer."""
    kind = type(optimizer).__name__
    ok = (kind in ("Adam", "AdamW") and not getattr(optimizer, "amsgrad", False)) or \
        (kind == "SGD" and not getattr(optimizer, "momentum", 0.0))
    if not ok:
        detail = kind
        if kind in ("Adam", "AdamW"):
            detail += "(amsgrad=True)"
        elif kind == "SGD":
            detail += f"(momentum={optimizer.momentum})"
        raise NotImplementedError(f'fit(backend="{ORT_TRAINING}"): supported optimizers are {SUPPORTED_OPTIMIZERS}; '
                                  f"the model is compiled with {detail}. Compile with one of those, or train with "
                                  f'backend="{DEFAULT_BACKEND}", which supports every graphc optimizer.')


def fit(model, backend: str, x=None, y=None, batch_size=None, epochs: int = 1, verbose="auto", callbacks=None,
        validation_split: float = 0.0, validation_data=None, shuffle: bool = True, class_weight=None,
        sample_weight=None, initial_epoch: int = 0, steps_per_epoch=None, validation_steps=None,
        validation_batch_size=None, validation_freq: int = 1):
    """``model.fit`` on a backend other than the default; the arguments are ``Trainer.fit``'s."""
    check_backend(backend)
    if backend == DEFAULT_BACKEND:
        raise ValueError(f'fit: backend "{DEFAULT_BACKEND}" is Trainer.fit itself')
    from . import iterables

    if iterables.kind(x) is not None:
        raise NotImplementedError(f'fit(backend="{backend}") trains on arrays only; x is {iterables.describe(x)}. '
                                  f'Pass arrays, or train with backend="{DEFAULT_BACKEND}" (the default), which '
                                  "takes generators, PyDatasets and lists of batches.")
    if steps_per_epoch is not None:
        raise NotImplementedError(f'fit(backend="{backend}"): steps_per_epoch is not supported; use batch_size, or '
                                  f'train with backend="{DEFAULT_BACKEND}" (the default), which takes it')
    from runtime.ort_training import training_api

    training_api()  # ImportError with the install command, before any work
    model._require_compiled("training the model (fit)")
    check_optimizer(model.optimizer)
    return _fit_ort_training(model, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
                             shuffle, class_weight, sample_weight, initial_epoch, steps_per_epoch, validation_steps,
                             validation_batch_size, validation_freq)


def _fit_ort_training(model, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
                      shuffle, class_weight, sample_weight, initial_epoch, steps_per_epoch, validation_steps,
                      validation_batch_size, validation_freq):
    from graphc.callbacks import CallbackList
    from runtime.artifacts import export_training_artifacts
    from runtime.ort_training import OrtTrainingSession

    batch_size, verbose, feeds, ys, sws, n, r, val = model._fit_data(
        x, y, batch_size, verbose, sample_weight, class_weight, validation_split, validation_data, steps_per_epoch,
        validation_steps, validation_batch_size, iterables.validation_runs(initial_epoch, epochs, validation_freq))
    _warn_about_differences(model, r)

    optimizer = model.optimizer
    trainable = [v for v in model.trainable_weights if v.dtype in ("float32", "float64", "float16")]
    optimizer.build(trainable)
    iterations = optimizer.iterations
    data = model._batch_feeds(feeds, ys, sws)
    with tempfile.TemporaryDirectory(prefix="graphc-ort-training-") as folder:
        session = OrtTrainingSession(export_training_artifacts(model, folder))
        missing = [name for name in session.input_names if name not in data]
        if missing:
            raise RuntimeError(f"fit: the onnxruntime-training model expects inputs {missing} that the data "
                               f"does not provide (it has {sorted(data)})")
        cbs = CallbackList(callbacks, model=model, add_history=True, add_progbar=verbose != 0, verbose=verbose,
                           epochs=epochs, steps=da.num_steps(n, batch_size))
        model.stop_training = False
        logs: dict = {}
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            total, count = 0.0, 0
            for step, sel in enumerate(da.batch_indices(n, batch_size, shuffle)):
                cbs.on_train_batch_begin(step)
                batch = da.take(data, sel)
                rows = da.num_rows_in(sel, n)
                session.set_learning_rate(optimizer._lr_at(iterations))
                loss = session.train_step(batch)
                if not math.isfinite(loss):
                    session.discard()
                    _copy_back(model, session, iterations, trainable)
                    raise nan_loss_error(loss, epoch, step, rows)
                session.apply()
                iterations += 1
                total += loss * rows
                count += rows
                logs = {"loss": total / count}
                cbs.on_train_batch_end(step, logs)
                if model.stop_training:
                    break
            logs = {"loss": total / max(count, 1)}
            # the Variables follow each epoch, so validation and epoch-end callbacks see the new weights
            _copy_back(model, session, iterations, trainable)
            model._end_epoch(cbs, epoch, logs, val, validation_freq)
            if model.stop_training:
                break
        _copy_back(model, session, iterations, trainable)
    cbs.on_train_end(logs)
    return model.history


def _warn_about_differences(model, r) -> None:
    has_metrics = any(r["metrics"][name] for name in r["names"])
    if has_metrics or len(r["names"]) > 1:
        warnings.warn(f'fit(backend="{ORT_TRAINING}"): the training logs hold the total loss only (onnxruntime-'
                      "training's Module returns no predictions); metrics and per-output losses are reported for "
                      "validation data", UserWarning, stacklevel=5)
    _, builder, _, _ = model._trace_with_loss(True)
    if builder.state_updates:
        warnings.warn(f'fit(backend="{ORT_TRAINING}"): non-trainable state (e.g. BatchNormalization moving '
                      "statistics) is not updated by this backend; train with the default backend to update it",
                      UserWarning, stacklevel=5)
    if type(model.optimizer).__name__ in ("Adam", "AdamW") and model.optimizer.iterations > 0:
        warnings.warn(f'fit(backend="{ORT_TRAINING}"): the optimizer has taken {model.optimizer.iterations} steps, '
                      "but onnxruntime-training starts Adam's moments and bias correction from zero",
                      UserWarning, stacklevel=5)


def _copy_back(model, session, iterations: int, trainable) -> None:
    """The Module's parameters into the layers' Variables; step count and Adam moments into the optimizer."""
    params = session.parameters()
    for var in model.weights:
        if var.path in params:
            var.assign(np.asarray(params[var.path]).reshape(var.shape))
    optimizer = model.optimizer
    state = {"iterations": np.asarray(iterations, np.int64)}
    if type(optimizer).__name__ in ("Adam", "AdamW") and session.steps:
        _, moments = session.optimizer_state()
        for var in trainable:
            arrays = moments.get(var.path)
            if arrays is None:
                continue
            for slot, (_, array) in zip(optimizer.slot_names(var), arrays):
                state[f"{var.path}/{slot}"] = array.reshape(var.shape)
    optimizer.set_state(state)
