"""The onnxruntime-training alternative of train_speed.py, run in its own environment.

onnxruntime-training 1.19.2 cannot share an environment with the stock onnxruntime wheel, so
train_speed.py starts this script with the interpreter named by GRAPHC_BENCH_ORTT_PYTHON (a venv
with `pip install onnxruntime-training==1.19.2 torch onnx numpy`). The workload's forward graph is
exported from PyTorch, `generate_artifacts` builds the training artifacts (AdamW: the training
build offers AdamW and SGD only), and `Module`/`Optimizer` train on the same data shapes.

    $GRAPHC_BENCH_ORTT_PYTHON benchmarks/ort_training_runner.py W1 200 2

It speaks train_speed.py's worker protocol: ``ready`` once built, then one timed epoch per ``run`` line.
"""
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from workloads import WORKLOADS, data, torch_model  # noqa: E402


def build(name, steps, threads):
    import onnx
    import torch
    from onnxruntime.training import artifacts
    from onnxruntime.training.api import CheckpointState, Module, Optimizer

    torch.manual_seed(0)
    batch = WORKLOADS[name]["batch"]
    model = torch_model(name, dropout=False)
    x, y = data(name, steps)
    if x.ndim == 4:
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    folder = tempfile.mkdtemp()
    fwd = os.path.join(folder, "fwd.onnx")
    torch.onnx.export(model, torch.from_numpy(x[:batch]), fwd, input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "batch"}}, opset_version=17, do_constant_folding=False,
                      training=torch.onnx.TrainingMode.TRAINING, dynamo=False)
    m = onnx.load(fwd)
    params = [init.name for init in m.graph.initializer]
    artifacts.generate_artifacts(m, requires_grad=params, frozen_params=[], loss=artifacts.LossType.CrossEntropyLoss,
                                 optimizer=artifacts.OptimType.AdamW, artifact_directory=folder)
    for f in ("training_model.onnx", "eval_model.onnx", "optimizer_model.onnx"):
        # onnx >= 1.16 stamps IR versions the 1.19.2 runtime refuses
        path = os.path.join(folder, f)
        art = onnx.load(path)
        art.ir_version = min(art.ir_version, 9)
        onnx.save(art, path)
    state = CheckpointState.load_checkpoint(os.path.join(folder, "checkpoint"))
    module = Module(os.path.join(folder, "training_model.onnx"), state, os.path.join(folder, "eval_model.onnx"))
    opt = Optimizer(os.path.join(folder, "optimizer_model.onnx"), module)
    module.train()

    def epoch(n):
        for i in range(n):
            module(x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch])
            opt.step()
            module.lazy_reset_grad()

    epoch(5)

    def timed():
        t0 = time.perf_counter()
        epoch(steps)
        return steps / (time.perf_counter() - t0)
    return timed


if __name__ == "__main__":
    from train_speed import serve  # noqa: E402  (train_speed imports only NumPy and the workloads)

    name, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.environ["OMP_NUM_THREADS"] = str(threads)
    serve(lambda: build(name, steps, threads))
