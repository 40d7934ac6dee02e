"""Training speed: graphc against Keras 3, PyTorch eager and onnxruntime-training, in one run.

Each framework runs in its own subprocess (clean imports, same thread count); every measurement is
the median steps/s over repetitions after a warm-up. Alternatives that are not installed are
reported as such, never silently dropped.

    python benchmarks/train_speed.py [--steps 200] [--reps 5] [--threads 2] [--workloads W1,W2,W3]

Keras with TensorFlow and onnxruntime-training need their own environments; point
GRAPHC_BENCH_TF_PYTHON and GRAPHC_BENCH_ORTT_PYTHON at those interpreters (see RESULTS.md).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from workloads import WORKLOADS, data, keras_like_model, labels_for, train_flops_per_step  # noqa: E402


def _time_fit(model, x, y, batch, reps):
    model.fit(x[: batch * 5], y[: batch * 5], batch_size=batch, epochs=1, verbose=0, shuffle=False)
    rates = []
    steps = len(x) // batch
    for _ in range(reps):
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
        rates.append(steps / (time.perf_counter() - t0))
    return rates


def run_graphc(name, steps, reps, threads):
    import graphc as keras
    from graphc import layers

    keras.set_random_seed(0)
    model = keras_like_model(keras, layers, name)
    x, y = data(name, steps)
    return _time_fit(model, x, labels_for(name, y), WORKLOADS[name]["batch"], reps)


def run_keras(name, steps, reps, threads):
    import keras
    from keras import layers

    model = keras_like_model(keras, layers, name)
    x, y = data(name, steps)
    return _time_fit(model, x, labels_for(name, y), WORKLOADS[name]["batch"], reps)


def run_torch(name, steps, reps, threads):
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if name == "W1":
        model = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
        opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
        loss_fn = nn.CrossEntropyLoss()
    elif name == "W2":
        model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.Flatten(),
                              nn.Linear(24 * 24 * 64, 128), nn.ReLU(), nn.Linear(128, 10))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
        loss_fn = nn.CrossEntropyLoss()
    else:
        class ToyResNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.c1, self.c2 = nn.Conv2d(3, 32, 3), nn.Conv2d(32, 64, 3)
                self.pool = nn.MaxPool2d(3)
                self.c3, self.c4 = nn.Conv2d(64, 64, 3, padding=1), nn.Conv2d(64, 64, 3, padding=1)
                self.c5, self.c6 = nn.Conv2d(64, 64, 3, padding=1), nn.Conv2d(64, 64, 3, padding=1)
                self.c7 = nn.Conv2d(64, 64, 3)
                self.fc1, self.fc2, self.drop = nn.Linear(64, 256), nn.Linear(256, 10), nn.Dropout(0.5)

            def forward(self, x):
                r = torch.relu
                b1 = self.pool(r(self.c2(r(self.c1(x)))))
                b2 = r(self.c4(r(self.c3(b1)))) + b1
                b3 = r(self.c6(r(self.c5(b2)))) + b2
                x = r(self.c7(b3)).mean(dim=(2, 3))
                return self.fc2(self.drop(r(self.fc1(x))))

        model = ToyResNet()
        opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
        loss_fn = nn.CrossEntropyLoss()
    batch = WORKLOADS[name]["batch"]
    x, y = data(name, steps)
    if x.ndim == 4:
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def epoch(n):
        for i in range(n):
            xb, yb = xt[i * batch:(i + 1) * batch], yt[i * batch:(i + 1) * batch]
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()

    epoch(5)
    rates = []
    for _ in range(reps):
        t0 = time.perf_counter()
        epoch(steps)
        rates.append(steps / (time.perf_counter() - t0))
    return rates


def matmul_gflops(threads):
    """The machine's float32 matrix-multiply rate (NumPy/BLAS), the yardstick for conv workloads."""
    a = np.random.rand(1024, 1024).astype(np.float32)
    a @ a
    t = []
    for _ in range(5):
        t0 = time.perf_counter()
        a @ a
        t.append(time.perf_counter() - t0)
    return 2 * 1024 ** 3 / float(np.median(t)) / 1e9


RUNNERS = {"graphc": run_graphc, "keras-jax": run_keras, "keras-torch": run_keras, "keras-tensorflow": run_keras,
           "pytorch": run_torch, "onnxruntime-training": None}

# Alternatives that cannot share this environment run under their own interpreter, named by these
# variables (e.g. a venv with tensorflow, or one with onnxruntime-training==1.19.2 and torch).
INTERPRETERS = {"keras-tensorflow": "GRAPHC_BENCH_TF_PYTHON", "onnxruntime-training": "GRAPHC_BENCH_ORTT_PYTHON"}


def command_for(fw, name, steps, reps, threads):
    python = os.environ.get(INTERPRETERS.get(fw, ""), sys.executable)
    if fw == "onnxruntime-training":
        if INTERPRETERS[fw] not in os.environ:
            return None
        return [python, os.path.join(HERE, "ort_training_runner.py"), name, str(steps), str(reps), str(threads)]
    return [python, __file__, "--child", fw, name, "--steps", str(steps), "--reps", str(reps), "--threads",
            str(threads)]


def child(framework, name, steps, reps, threads):
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if framework.startswith("keras-"):
        os.environ["KERAS_BACKEND"] = framework.split("-", 1)[1]
    try:
        rates = RUNNERS[framework](name, steps, reps, threads)
        print(json.dumps({"ok": True, "rates": rates}))
    except ImportError as e:
        print(json.dumps({"ok": False, "why": f"not installed ({e.name})"}))
    except Exception as e:  # a failing alternative is reported, not fatal
        print(json.dumps({"ok": False, "why": f"{type(e).__name__}: {str(e)[:200]}"}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workloads", default="W1,W2,W3")
    ap.add_argument("--frameworks", default=",".join(RUNNERS))
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.steps, args.reps, args.threads)
        return
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}; threads={args.threads}, steps={args.steps}, reps={args.reps}")
    gf = matmul_gflops(args.threads)
    print(f"float32 matmul rate (NumPy 1024^3): {gf:.1f} GFLOP/s")
    for name in args.workloads.split(","):
        print(f"\n{name}: {WORKLOADS[name]['desc']}")
        results = {}
        for fw in args.frameworks.split(","):
            steps = args.steps if name == "W1" else max(20, args.steps // 5)
            cmd = command_for(fw, name, steps, args.reps, args.threads)
            if cmd is None:
                results[fw] = {"ok": False, "why": f"not configured (set {INTERPRETERS[fw]})"}
                continue
            out = subprocess.run(cmd, capture_output=True, text=True,
                                 env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)))
            lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
            res = json.loads(lines[-1]) if lines else {"ok": False, "why": (out.stderr.strip().splitlines() or
                                                                           ["no output"])[-1][:200]}
            results[fw] = res
        base = results.get("graphc", {})
        g = float(np.median(base["rates"])) if base.get("ok") else None
        for fw, res in results.items():
            if not res.get("ok"):
                print(f"  {fw:18s} {res['why']}")
                continue
            med = float(np.median(res["rates"]))
            ratio = f"graphc/{fw} = {g / med:.2f}x" if g and fw != "graphc" else ""
            extra = ""
            if name != "W1":
                extra = f"  {train_flops_per_step(name) * med / 1e9:.1f} GFLOP/s"
            print(f"  {fw:18s} {med:9.1f} steps/s (median of {len(res['rates'])}){extra}  {ratio}")


if __name__ == "__main__":
    main()
