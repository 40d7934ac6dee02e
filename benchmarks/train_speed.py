"""Training speed: graphc against Keras 3, PyTorch eager and onnxruntime-training, in one run.

Each framework runs in its own worker subprocess (clean imports, same thread count), built and
warmed up once; then the repetitions are interleaved: each round times one epoch of every framework
in turn (rotating the order), so a change in the machine's load falls on all frameworks alike. Every
figure is the median steps/s over the rounds. Alternatives that are not installed are reported as
such, never silently dropped.

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

from workloads import WORKLOADS, data, keras_like_model, labels_for, torch_model, train_flops_per_step  # noqa: E402


def _fit_epoch(model, x, y, batch):
    """Warms ``model`` up with a 5-step fit; returns a function timing one epoch (steps/s)."""
    model.fit(x[: batch * 5], y[: batch * 5], batch_size=batch, epochs=1, verbose=0, shuffle=False)
    steps = len(x) // batch

    def epoch():
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
        return steps / (time.perf_counter() - t0)
    return epoch


def run_graphc(name, steps, threads):
    import graphc as keras
    from graphc import layers

    keras.set_random_seed(0)
    model = keras_like_model(keras, layers, name)
    x, y = data(name, steps)
    return _fit_epoch(model, x, labels_for(name, y), WORKLOADS[name]["batch"])


def run_keras(name, steps, threads):
    import keras
    from keras import layers

    model = keras_like_model(keras, layers, name)
    x, y = data(name, steps)
    return _fit_epoch(model, x, labels_for(name, y), WORKLOADS[name]["batch"])


def run_torch(name, steps, threads):
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torch_model(name)
    if name == "W2":
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    else:
        opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    batch = WORKLOADS[name]["batch"]
    x, y = data(name, steps)
    if x.ndim == 4:
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def run(n):
        for i in range(n):
            xb, yb = xt[i * batch:(i + 1) * batch], yt[i * batch:(i + 1) * batch]
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()

    run(5)

    def epoch():
        t0 = time.perf_counter()
        run(steps)
        return steps / (time.perf_counter() - t0)
    return epoch


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


def command_for(fw, name, steps, threads):
    python = os.environ.get(INTERPRETERS.get(fw, ""), sys.executable)
    if fw == "onnxruntime-training":
        if INTERPRETERS[fw] not in os.environ:
            return None
        return [python, os.path.join(HERE, "ort_training_runner.py"), name, str(steps), str(threads)]
    return [python, __file__, "--child", fw, name, "--steps", str(steps), "--threads", str(threads)]


def serve(build) -> None:
    """A worker's loop: build the workload (``build()`` returns a function timing one epoch), say
    ``ready``, then answer each ``run`` line on stdin with one timed epoch. Results are JSON lines."""
    try:
        epoch = build()
    except ImportError as e:
        print(json.dumps({"ok": False, "why": f"not installed ({e.name})"}), flush=True)
        return
    except Exception as e:  # a failing alternative is reported, not fatal
        print(json.dumps({"ok": False, "why": f"{type(e).__name__}: {str(e)[:200]}"}), flush=True)
        return
    print(json.dumps({"ok": True, "ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        try:
            print(json.dumps({"ok": True, "rate": epoch()}), flush=True)
        except Exception as e:
            print(json.dumps({"ok": False, "why": f"{type(e).__name__}: {str(e)[:200]}"}), flush=True)
            return


def child(framework, name, steps, threads):
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if framework.startswith("keras-"):
        os.environ["KERAS_BACKEND"] = framework.split("-", 1)[1]
    serve(lambda: RUNNERS[framework](name, steps, threads))


class Worker:
    """One framework's subprocess, kept alive so that epochs of all frameworks can be interleaved."""

    def __init__(self, fw, cmd, threads):
        self.fw = fw
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
        self.rates: list = []
        self.why = None

    def _reply(self):
        for line in self.proc.stdout:
            if line.startswith("{"):
                return json.loads(line)
        err = self.proc.stderr.read().strip().splitlines()
        return {"ok": False, "why": (err or ["no output"])[-1][:200]}

    def wait_ready(self) -> bool:
        res = self._reply()
        if not res.get("ok"):
            self.why = res["why"]
        return self.why is None

    def run_epoch(self) -> None:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        res = self._reply()
        if res.get("ok"):
            self.rates.append(res["rate"])
        else:
            self.why = res["why"]

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


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
        child(args.child[0], args.child[1], args.steps, args.threads)
        return
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}; threads={args.threads}, steps={args.steps}, reps={args.reps}")
    gf = matmul_gflops(args.threads)
    print(f"float32 matmul rate (NumPy 1024^3): {gf:.1f} GFLOP/s")
    for name in args.workloads.split(","):
        print(f"\n{name}: {WORKLOADS[name]['desc']}")
        steps = args.steps if name == "W1" else max(20, args.steps // 5)
        workers, results = [], {}
        for fw in args.frameworks.split(","):
            cmd = command_for(fw, name, steps, args.threads)
            if cmd is None:
                results[fw] = f"not configured (set {INTERPRETERS[fw]})"
                continue
            w = Worker(fw, cmd, args.threads)
            if w.wait_ready():  # built and warmed up, one at a time
                workers.append(w)
            else:
                results[fw] = w.why
                w.close()
        loads = [load_average()]
        # round-robin: every repetition times one epoch of each framework, in a rotating order, so a
        # change in the machine's load falls on all of them alike
        for rep in range(args.reps):
            k = rep % max(1, len(workers))
            for w in workers[k:] + workers[:k]:
                if w.why is None:
                    time.sleep(0.3)  # let the previous framework's worker threads go idle
                    w.run_epoch()
            loads.append(load_average())
        for w in workers:
            w.close()
            results[w.fw] = w.why if w.why is not None else w.rates
        print(f"  1-minute load average during the run: {min(loads)}-{max(loads)}")
        g = float(np.median(results["graphc"])) if isinstance(results.get("graphc"), list) else None
        for fw, res in results.items():
            if not isinstance(res, list):
                print(f"  {fw:20s} {res}")
                continue
            med = float(np.median(res))
            ratio = ""
            if g and fw != "graphc":
                # per-round ratios: each round times both frameworks back to back, so a slow drift of
                # the machine cancels in the ratio (rounds where either failed are left out)
                paired = [a / b for a, b in zip(results["graphc"], res)]
                ratio = (f"graphc/{fw} = {g / med:.2f}x (per round: median {float(np.median(paired)):.2f}x, "
                         f"{min(paired):.2f}-{max(paired):.2f})")
            extra = f"  {train_flops_per_step(name) * med / 1e9:6.1f} GFLOP/s" if name != "W1" else ""
            spread = f"[{min(res):.1f}-{max(res):.1f}]"
            print(f"  {fw:20s} {med:9.1f} steps/s {spread:>17s} (median of {len(res)}){extra}  {ratio}")


if __name__ == "__main__":
    main()
