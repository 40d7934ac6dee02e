"""Training on onnxruntime-training's on-device API (``Module`` / ``Optimizer``) from graphc's artifacts.

The only module that imports ``onnxruntime.training``. That package (the ``graphc[training]`` extra,
onnxruntime-training 1.19.2) installs its own ``onnxruntime`` module, so it lives in an environment
of its own; everywhere else ``backend="onnxruntime-training"`` fails with ``ImportError`` naming the
install command.

``OrtTrainingSession`` loads the four files ``runtime.artifacts.export_training_artifacts`` wrote
and runs steps: ``train_step`` (forward, loss, gradients into the Module's buffers), ``apply``
(the Optimizer's update, then a lazy gradient reset), ``parameters`` (the current values by
variable path) and ``optimizer_state`` (step and per-parameter moments, read from a checkpoint
saved with the optimizer state, since the Python API has no accessor for them).
"""
from __future__ import annotations

import os

import numpy as np

from .artifacts import _FBS_DTYPES, _fbs

INSTALL_HINT = ("pip install graphc[training] (onnxruntime-training==1.19.2) in its own environment: it installs "
                "its own onnxruntime module and cannot share an environment with the onnxruntime wheel")


def training_api():
    """``onnxruntime.training.api``, or ImportError saying how to install it."""
    try:
        from onnxruntime.training import api
    except ImportError as e:
        raise ImportError(f'fit(backend="onnxruntime-training") needs onnxruntime-training, which is not '
                          f"importable here ({e}). {INSTALL_HINT}.") from e
    return api


def is_available() -> bool:
    """Whether ``onnxruntime.training.api`` can be imported."""
    try:
        training_api()
    except ImportError:
        return False
    return True


class OrtTrainingSession:
    """CheckpointState + Module + Optimizer over one artifacts folder.

    Args:
        paths: what ``export_training_artifacts`` returned.
        device: ``"cpu"`` (the training wheel on PyPI is built for the CPU).
    """

    def __init__(self, paths: dict, device: str = "cpu"):
        api = training_api()
        self._api = api
        self.directory = os.path.dirname(paths["checkpoint"])
        self.state = api.CheckpointState.load_checkpoint(paths["checkpoint"])
        self.module = api.Module(paths["training_model"], self.state, paths["eval_model"], device=device)
        self.optimizer = api.Optimizer(paths["optimizer_model"], self.module)
        self.input_names = list(self.module.input_names())
        self._lr = None
        self.steps = 0  # optimizer updates applied
        self.module.train()

    def set_learning_rate(self, lr: float) -> None:
        lr = float(lr)
        if lr != self._lr:
            self.optimizer.set_learning_rate(lr)
            self._lr = lr

    def train_step(self, batch: dict) -> float:
        """Forward, loss and gradients for one batch (``{input name: array}``); returns the loss."""
        out = self.module(*[batch[name] for name in self.input_names])
        return float(out[0] if isinstance(out, tuple) else out)

    def apply(self) -> None:
        """The Optimizer's update from the accumulated gradients, then a gradient reset for the next step."""
        self.optimizer.step()
        self.module.lazy_reset_grad()
        self.steps += 1

    def discard(self) -> None:
        """Drops the accumulated gradients without updating (a step whose loss was not finite)."""
        self.module.lazy_reset_grad()

    def parameters(self) -> dict:
        """``{variable path: array}`` for every parameter the checkpoint holds (trainable and frozen)."""
        return {name: np.array(param.data) for name, param in self.state.parameters}

    def optimizer_state(self) -> tuple[int, dict]:
        """``(step, {parameter name: [moment arrays]})`` of the Optimizer, from a saved checkpoint."""
        path = os.path.join(self.directory, "checkpoint.optimizer")
        self._api.CheckpointState.save_checkpoint(self.state, path, include_optimizer_state=True)
        return read_optimizer_state(path)


def read_optimizer_state(path) -> tuple[int, dict]:
    """``(step, {parameter name: [moments...]})`` from a checkpoint's first optimizer group.

    ``(0, {})`` when the checkpoint holds no optimizer state (no step taken, or SGD).
    """
    Checkpoint, _, _, _ = _fbs()
    with open(path, "rb") as f:
        buf = bytearray(f.read())
    ckpt = Checkpoint.Checkpoint.GetRootAs(buf, 0)
    if not ckpt.OptimizerGroupsLength():
        return 0, {}
    group = ckpt.OptimizerGroups(0)
    inverse = {v: k for k, v in _FBS_DTYPES.items()}
    moments = {}
    for i in range(group.OptimizerStatesLength()):
        state = group.OptimizerStates(i)
        arrays = []
        for j in range(state.MomentumsLength()):
            t = state.Momentums(j)
            dtype = np.dtype(inverse[t.DataType()]).newbyteorder("<")
            dims = tuple(int(d) for d in t.DimsAsNumpy()) if t.DimsLength() else ()
            raw = t.RawDataAsNumpy().tobytes() if t.RawDataLength() else b""
            arrays.append((t.Name().decode(), np.frombuffer(raw, dtype=dtype).reshape(dims).astype(
                dtype.newbyteorder("="))))
        moments[state.ParamName().decode()] = arrays
    return int(group.Step()), moments
