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

from workloads import WORKLOADS, data  # noqa: E402


def torch_model(name):
    import torch
    from torch import nn

    if name == "W1":
        return nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    if name == "W2":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.Flatten(),
                             nn.Linear(24 * 24 * 64, 128), nn.ReLU(), nn.Linear(128, 10))

    class ToyResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(3, 32, 3), nn.Conv2d(32, 64, 3)
            self.pool = nn.MaxPool2d(3)
            self.c3, self.c4 = nn.Conv2d(64, 64, 3, padding=1), nn.Conv2d(64, 64, 3, padding=1)
            self.c5, self.c6 = nn.Conv2d(64, 64, 3, padding=1), nn.Conv2d(64, 64, 3, padding=1)
            self.c7 = nn.Conv2d(64, 64, 3)
            self.fc1, self.fc2 = nn.Linear(64, 256), nn.Linear(256, 10)

        def forward(self, x):
            r = torch.relu
            b1 = self.pool(r(self.c2(r(self.c1(x)))))
            b2 = r(self.c4(r(self.c3(b1)))) + b1
            b3 = r(self.c6(r(self.c5(b2)))) + b2
            x = r(self.c7(b3)).mean(dim=(2, 3))
            return self.fc2(r(self.fc1(x)))  # Dropout left out: the artifact builder has no training flag input

    return ToyResNet()


def build(name, steps, threads):
    import onnx
    import torch
    from onnxruntime.training import artifacts
    from onnxruntime.training.api import CheckpointState, Module, Optimizer

    torch.manual_seed(0)
    batch = WORKLOADS[name]["batch"]
    model = torch_model(name)
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
