"""Export comparison: graphc (level 0 and level 2) against torch.onnx and tf2onnx.

The same four models, with the same weights, exported by every exporter that is installed:

* mlp: the seed 000 MNIST MLP 784-64-64-10 (logits);
* cnn: the seed 004 CNN on 28x28x1 (Conv 32, Conv 64, Flatten, Dense 128, Dense 10 softmax);
* toy_resnet: the seed 000 toy ResNet on 32x32x3;
* resnet50: ResNet50 with its top, 224x224x3 (``graphc.applications.ResNet50``; in PyTorch the same
  Keras v1 architecture built by hand — stride on the first 1x1 conv, biased convs, eps 1.001e-5 —
  and in Keras ``keras.applications.ResNet50(weights=None)``).

graphc's random weights (biases and BatchNormalization statistics randomized too, so no exporter can
drop an all-zero Add) are copied into the PyTorch modules and, through a weights file, into the Keras
models that tf2onnx converts in a TensorFlow interpreter (``--tf-python``). For each export: ONNX node
count, op histogram, export wall and CPU time (traced from the built model to the written file; the faster of two
exports, so one-time imports and warm-up are not counted) and
onnxruntime CPU inference time (median over repetitions taken round-robin across the exporters, one
SessionOptions for all; batch 1 also with onnxruntime's own graph optimizations off), and the largest output difference from graphc's level-0 export on the same
input. graphc level 2 must match level 0 within 1e-5.

    python benchmarks/export_compare.py [--models mlp cnn toy_resnet resnet50] [--threads 1]
        [--tf-python /tmp/tfenv/bin/python] [--reps 1.0]

torch's dynamo exporter needs ``onnxscript``; where it or tf2onnx is missing, its rows say why.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

MODELS = ("mlp", "cnn", "toy_resnet", "resnet50")
INPUT_SHAPES = {"mlp": (784,), "cnn": (28, 28, 1), "toy_resnet": (32, 32, 3), "resnet50": (224, 224, 3)}
WORKLOAD = {"mlp": "W1", "cnn": "W2", "toy_resnet": "W3"}
TOLERANCE = 1e-5


# -- models with shared weights -----------------------------------------------------------------
def build_keras_style(keras, layers, name: str):
    """The model in a Keras-compatible API (graphc here, Keras 3 in the TensorFlow worker)."""
    if name == "resnet50":
        if keras.__name__ == "graphc":
            from graphc.applications import ResNet50
        else:
            from keras.applications import ResNet50
        return ResNet50(weights=None)
    from workloads import keras_like_model

    return keras_like_model(keras, layers, WORKLOAD[name])


def randomize(model, seed: int = 0) -> list:
    """Random weights for every variable, BatchNormalization statistics included; returns them."""
    rng = np.random.default_rng(seed)
    values = []
    for v in model.weights:
        shape, leaf = tuple(v.value.shape), v.path.rsplit("/", 1)[-1]
        if leaf in ("gamma", "moving_variance"):
            a = rng.uniform(0.5, 1.5, shape)
        elif leaf in ("bias", "beta", "moving_mean"):
            a = rng.normal(0.0, 0.1, shape)
        else:  # kernels: He-scaled so activations keep their size through 50 layers
            fan_in = int(np.prod(shape[:-1]))
            a = rng.normal(0.0, np.sqrt(1.0 / fan_in), shape)
        values.append(a.astype(np.float32))
    model.set_weights(values)
    return values


def torch_model(name: str, weights: list):
    """The same architecture in PyTorch (NCHW), with graphc's weights copied in Keras layer order."""
    import torch
    from torch import nn

    if name == "mlp":
        m = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    elif name == "cnn":
        m = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(24 * 24 * 64, 128), nn.ReLU(), nn.Linear(128, 10), nn.Softmax(dim=1))
        m[5].keras_flatten_from = (24, 24, 64)  # Keras flattens HWC, torch CHW: permute that kernel's rows
    elif name == "toy_resnet":
        m = _TorchToyResNet()
    else:
        m = _TorchResNet50()
    layers = [mod for mod in m.modules() if isinstance(mod, (nn.Conv2d, nn.Linear, nn.BatchNorm2d))]
    it = iter(weights)
    with torch.no_grad():
        for mod in layers:
            if isinstance(mod, nn.Conv2d):
                mod.weight.copy_(torch.from_numpy(next(it).transpose(3, 2, 0, 1).copy()))
                mod.bias.copy_(torch.from_numpy(next(it)))
            elif isinstance(mod, nn.Linear):
                k = next(it)
                if hasattr(mod, "keras_flatten_from"):
                    h, w, c = mod.keras_flatten_from
                    k = k.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
                mod.weight.copy_(torch.from_numpy(k.T.copy()))
                mod.bias.copy_(torch.from_numpy(next(it)))
            else:
                for p in (mod.weight, mod.bias, mod.running_mean, mod.running_var):
                    p.copy_(torch.from_numpy(next(it)))
    if next(it, None) is not None:
        raise RuntimeError(f"{name}: the PyTorch model has fewer weights than graphc's")
    return m.eval()


def _torch_modules():
    from torch import nn

    class ToyResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(3, 32, 3), nn.Conv2d(32, 64, 3)
            self.c3, self.c4 = nn.Conv2d(64, 64, 3, padding=1), nn.Conv2d(64, 64, 3, padding=1)
            self.c5, self.c6 = nn.Conv2d(64, 64, 3, padding=1), nn.Conv2d(64, 64, 3, padding=1)
            self.c7 = nn.Conv2d(64, 64, 3)
            self.fc1, self.fc2 = nn.Linear(64, 256), nn.Linear(256, 10)
            self.pool, self.gap, self.relu = nn.MaxPool2d(3), nn.AdaptiveAvgPool2d(1), nn.ReLU()

        def forward(self, x):
            r = self.relu
            b1 = self.pool(r(self.c2(r(self.c1(x)))))
            b2 = r(self.c4(r(self.c3(b1)))) + b1
            b3 = r(self.c6(r(self.c5(b2)))) + b2
            x = self.gap(r(self.c7(b3))).flatten(1)
            return self.fc2(r(self.fc1(x)))  # Dropout is the identity at inference

    class Block(nn.Module):
        """Keras' ResNet v1 bottleneck: the stride is on the first 1x1 conv; convs have biases."""

        def __init__(self, cin, filters, stride, conv_shortcut):
            super().__init__()
            bn = lambda c: nn.BatchNorm2d(c, eps=1.001e-5)  # noqa: E731
            if conv_shortcut:  # registered first: Keras creates the shortcut's layers first
                self.conv0, self.bn0 = nn.Conv2d(cin, 4 * filters, 1, stride), bn(4 * filters)
            self.shortcut = conv_shortcut
            self.conv1, self.bn1 = nn.Conv2d(cin, filters, 1, stride), bn(filters)
            self.conv2, self.bn2 = nn.Conv2d(filters, filters, 3, padding=1), bn(filters)
            self.conv3, self.bn3 = nn.Conv2d(filters, 4 * filters, 1), bn(4 * filters)
            self.relu = nn.ReLU()

        def forward(self, x):
            s = self.bn0(self.conv0(x)) if self.shortcut else x
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.relu(self.bn2(self.conv2(y)))
            return self.relu(s + self.bn3(self.conv3(y)))

    class ResNet50(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, padding=3), nn.BatchNorm2d(64, eps=1.001e-5)
            # Keras zero-pads before the max pool; after a ReLU (inputs >= 0) padding with -inf is the same
            self.pool = nn.MaxPool2d(3, 2, padding=1)
            blocks, cin = [], 64
            for filters, n, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
                for i in range(n):
                    blocks.append(Block(cin, filters, stride if i == 0 else 1, i == 0))
                    cin = 4 * filters
            self.blocks = nn.Sequential(*blocks)
            self.gap, self.fc, self.relu = nn.AdaptiveAvgPool2d(1), nn.Linear(2048, 1000), nn.ReLU()

        def forward(self, x):
            x = self.pool(self.relu(self.bn1(self.conv1(x))))
            x = self.gap(self.blocks(x)).flatten(1)
            return self.fc(x).softmax(dim=1)

    return ToyResNet, ResNet50


def _TorchToyResNet():
    return _torch_modules()[0]()


def _TorchResNet50():
    return _torch_modules()[1]()


# -- exporters ----------------------------------------------------------------------------------
def export_graphc(model, level: int, path: str) -> tuple:
    """(wall s, CPU s of this process) to trace, optimize and write the model."""
    model._invalidate()  # time the trace too, as the other exporters trace the built model
    t, c = time.perf_counter(), time.process_time()
    model.export(path, level=level)
    return time.perf_counter() - t, time.process_time() - c


def export_torch(module, name: str, path: str, dynamo: bool) -> tuple:
    import logging
    import warnings

    import torch

    warnings.filterwarnings("ignore", category=DeprecationWarning)  # the legacy exporter's notice
    warnings.filterwarnings("ignore", category=FutureWarning)  # torch.export internals
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" notices
    shape = INPUT_SHAPES[name]
    x = torch.zeros((2,) + ((shape[2],) + shape[:2] if len(shape) == 3 else shape))
    t, c = time.perf_counter(), time.process_time()
    if dynamo:
        batch = torch.export.Dim("batch", min=1, max=4096)
        torch.onnx.export(module, (x,), path, dynamo=True, input_names=["x"], output_names=["y"],
                          dynamic_shapes=({0: batch},), external_data=False, verbose=False)
    else:
        torch.onnx.export(module, (x,), path, dynamo=False, opset_version=17, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    return time.perf_counter() - t, time.process_time() - c


def tf2onnx_worker(folder: str, names: list) -> None:
    """Runs in the TensorFlow interpreter: Keras model + graphc's weights -> tf2onnx -> .onnx."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import tensorflow as tf
    import tf2onnx
    from keras import layers

    for name in names:
        model = build_keras_style(keras, layers, name)
        with np.load(os.path.join(folder, f"{name}.weights.npz")) as f:
            by_path = {str(k): f[f"w{i}"] for i, k in enumerate(f["paths"])}
        if name == "resnet50":  # layer names are Keras' own: match by path, whatever the layer order
            for w in model.weights:
                w.assign(by_path[w.path])
        else:  # auto-numbered names differ between processes: the layers are in the same order
            model.set_weights(list(by_path.values()))
        spec = [tf.TensorSpec((None,) + INPUT_SHAPES[name], tf.float32, name="x")]
        path = os.path.join(folder, f"{name}.tf2onnx.onnx")
        seconds = []
        for _ in range(2):  # the faster of two, as for the other exporters (the first pays warm-up)
            t, c = time.perf_counter(), time.process_time()
            fn = tf.function(lambda x: model(x, training=False), input_signature=spec)
            tf2onnx.convert.from_function(fn, input_signature=spec, opset=17, output_path=path)
            seconds.append((time.perf_counter() - t, time.process_time() - c))
        with open(os.path.join(folder, f"{name}.tf2onnx.json"), "w") as f:
            json.dump({"export_s": list(min(seconds)), "tf": tf.__version__, "keras": keras.__version__,
                       "tf2onnx": tf2onnx.__version__}, f)


def run_tf2onnx(tf_python: str | None, folder: str, names: list) -> str | None:
    """Starts the worker; returns None on success, else why tf2onnx rows are missing."""
    if not tf_python or not os.path.exists(tf_python):
        return f"no TensorFlow interpreter ({tf_python})"
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    r = subprocess.run([tf_python, os.path.abspath(__file__), "--tf2onnx-worker", folder, *names],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        return "tf2onnx failed: " + (r.stderr.strip().splitlines() or ["?"])[-1][:160]
    return None


# -- onnxruntime --------------------------------------------------------------------------------
def session(path: str, threads: int, optimize: bool = True):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                   else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # the machine is shared
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def time_sessions(sessions: dict, feeds: dict, reps: int) -> dict:
    """Median ms per exporter; one run of each in turn per repetition, so load changes hit all alike."""
    for key, s in sessions.items():
        for _ in range(3):
            s.run(None, feeds[key])
    times = collections.defaultdict(list)
    for _ in range(reps):
        for key, s in sessions.items():
            t = time.perf_counter()
            s.run(None, feeds[key])
            times[key].append(time.perf_counter() - t)
    return {k: 1e3 * float(np.median(v)) for k, v in times.items()}


def histogram(path: str) -> collections.Counter:
    import onnx

    return collections.Counter(n.op_type for n in onnx.load(path, load_external_data=False).graph.node)


def summarize(h: collections.Counter, top: int = 4) -> str:
    items = h.most_common()
    text = ", ".join(f"{op} {n}" for op, n in items[:top])
    return text + (f", +{len(items) - top} kinds" if len(items) > top else "")


# -- driver -------------------------------------------------------------------------------------
def compare(name: str, folder: str, threads: int, reps: float, tf_error: str | None, torch_ok: bool,
            weights: list, gmodel) -> list:
    rows = []
    exports = {}  # exporter -> (path, seconds or error, layout)
    for level in (0, 2):
        path = os.path.join(folder, f"{name}.graphc{level}.onnx")
        exports[f"graphc L{level}"] = (path, min(export_graphc(gmodel, level, path) for _ in range(2)), "nhwc")
    if torch_ok:
        module = torch_model(name, weights)
        for label, dynamo in (("torch.onnx legacy", False), ("torch.onnx dynamo", True)):
            path = os.path.join(folder, f"{name}.{'dynamo' if dynamo else 'legacy'}.onnx")
            try:
                exports[label] = (path, min(export_torch(module, name, path, dynamo) for _ in range(2)), "nchw")
            except Exception as e:  # report the exporter's failure in the table, keep going
                exports[label] = (None, f"failed: {type(e).__name__}: {str(e).splitlines()[0][:100]}", "nchw")
    path = os.path.join(folder, f"{name}.tf2onnx.onnx")
    if tf_error is None and os.path.exists(path):
        with open(os.path.join(folder, f"{name}.tf2onnx.json")) as f:
            exports["tf2onnx"] = (path, tuple(json.load(f)["export_s"]), "nhwc")
    else:
        exports["tf2onnx"] = (None, tf_error or "not exported", "nhwc")

    rng = np.random.default_rng(1)
    batches = (1,) if name == "resnet50" else (1, 32)
    n_reps = {1: 15 if name == "resnet50" else 200, 32: 40}
    live = {k: v for k, v in exports.items() if v[0] is not None}
    sessions = {k: session(v[0], threads) for k, v in live.items()}
    plain_sessions = {k: session(v[0], threads, optimize=False) for k, v in live.items()}
    ms, diff, loads = {}, collections.defaultdict(float), []
    for b in batches:
        x = rng.random((b,) + INPUT_SHAPES[name], dtype=np.float32)
        feeds = {}
        for k, s in sessions.items():
            xin = x.transpose(0, 3, 1, 2).copy() if live[k][2] == "nchw" and x.ndim == 4 else x
            feeds[k] = {s.get_inputs()[0].name: xin}
        ref = sessions["graphc L0"].run(None, feeds["graphc L0"])[0]
        for k, s in sessions.items():
            diff[k] = max(diff[k], float(np.max(np.abs(s.run(None, feeds[k])[0] - ref))))
        loads.append(os.getloadavg()[0])
        ms[b] = time_sessions(sessions, feeds, max(5, int(n_reps[b] * reps)))
        if b == 1:  # what a runtime without its own graph optimizer would see
            ms["off"] = time_sessions(plain_sessions, feeds, max(5, int(n_reps[b] * reps)))
        loads.append(os.getloadavg()[0])
    for k, (path, secs, _) in exports.items():
        row = {"model": name, "exporter": k, "load": f"{min(loads):.1f}-{max(loads):.1f}"}
        if path is None:
            row.update(nodes=None, error=secs)
        else:
            h = histogram(path)
            row.update(nodes=sum(h.values()), hist=h, export_s=secs, diff=diff[k],
                       ms={b: ms[b][k] for b in ms}, size_mb=os.path.getsize(path) / 1e6)
        rows.append(row)
    return rows


def print_table(rows: list) -> None:
    print("| model | exporter | nodes | ops (most frequent) | export wall s | export CPU s | ORT b1 ms "
          "| ORT b32 ms | ORT b1 ms, ORT opts off | max abs diff vs graphc L0 | load avg |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        if r["nodes"] is None:
            print(f"| {r['model']} | {r['exporter']} | — | {r['error']} | | | | | | | |")
            continue
        b32 = f"{r['ms'][32]:.3f}" if 32 in r["ms"] else "—"
        b1s, offs = (f"{v:.1f}" if v >= 10 else f"{v:.3f}" for v in (r["ms"][1], r["ms"]["off"]))
        ok = ""
        if r["exporter"] == "graphc L2":
            ok = " ok" if r["diff"] <= TOLERANCE else " **FAIL**"
        wall, cpu = r["export_s"]
        print(f"| {r['model']} | {r['exporter']} | {r['nodes']} | {summarize(r['hist'])} | {wall:.2f} | {cpu:.2f} "
              f"| {b1s} | {b32} | {offs} | {r['diff']:.1e}{ok} | {r['load']} |")


def versions(torch_ok: bool) -> str:
    import onnx
    import onnxruntime

    parts = [f"Python {platform.python_version()}", f"numpy {np.__version__}", f"onnx {onnx.__version__}",
             f"onnxruntime {onnxruntime.__version__}"]
    if torch_ok:
        import torch

        parts.append(f"torch {torch.__version__}")
        try:
            import onnxscript

            parts.append(f"onnxscript {onnxscript.__version__}")
        except ImportError:
            parts.append("onnxscript not installed")
    return ", ".join(parts)


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except Exception:
        return platform.processor() or platform.machine()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (same for all)")
    p.add_argument("--tf-python", default=os.environ.get("GRAPHC_TF_PYTHON", "/tmp/tfenv/bin/python"),
                   help="a Python with TensorFlow, Keras and tf2onnx")
    p.add_argument("--reps", type=float, default=1.0, help="scale the number of timed repetitions")
    p.add_argument("--keep", help="write the .onnx files to this folder instead of a temporary one")
    p.add_argument("--tf2onnx-worker", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.tf2onnx_worker:
        tf2onnx_worker(args.tf2onnx_worker[0], args.tf2onnx_worker[1:])
        return

    import graphc
    from graphc import layers

    try:
        import torch  # noqa: F401

        torch_ok = True
    except ImportError:
        torch_ok = False
    folder = args.keep or tempfile.mkdtemp(prefix="graphc-export-compare-")
    os.makedirs(folder, exist_ok=True)
    print(f"# {cpu_model()}, {os.cpu_count()} CPUs; load average at start {os.getloadavg()}")
    print(f"# {versions(torch_ok)}")
    print(f"# onnxruntime: CPUExecutionProvider, intra_op_num_threads={args.threads}, inter_op 1, sequential, "
          f"ORT_ENABLE_ALL, no spinning; times are medians in ms")
    gmodels, weights = {}, {}
    for name in args.models:
        gmodels[name] = build_keras_style(graphc, layers, name)
        weights[name] = randomize(gmodels[name])
        np.savez(os.path.join(folder, f"{name}.weights.npz"), paths=np.array([v.path for v in gmodels[name].weights]),
                 **{f"w{i}": w for i, w in enumerate(weights[name])})
    tf_error = run_tf2onnx(args.tf_python, folder, args.models)
    if tf_error is None:
        with open(os.path.join(folder, f"{args.models[0]}.tf2onnx.json")) as f:
            v = json.load(f)
        print(f"# tf2onnx {v['tf2onnx']} on TensorFlow {v['tf']}, Keras {v['keras']} (opset 17)")
    else:
        print(f"# tf2onnx: {tf_error}")
    rows = []
    for name in args.models:
        rows += compare(name, folder, args.threads, args.reps, tf_error, torch_ok, weights[name], gmodels[name])
    print_table(rows)
    print()
    print("op histograms:")
    for r in rows:
        if r["nodes"] is not None:
            print(f"  {r['model']:<10} {r['exporter']:<18} {r['size_mb']:7.2f} MB  "
                  + ", ".join(f"{op} {n}" for op, n in sorted(r["hist"].items(), key=lambda kv: (-kv[1], kv[0]))))
    print(f"# load average at end {os.getloadavg()}")
    if not args.keep:  # ResNet50 alone writes five ~100 MB files
        shutil.rmtree(folder, ignore_errors=True)
    bad = [r for r in rows if r["exporter"] == "graphc L2" and r["nodes"] is not None and r["diff"] > TOLERANCE]
    if bad:
        raise SystemExit(f"graphc level 2 differs from level 0 by more than {TOLERANCE}: "
                         + ", ".join(f"{r['model']} {r['diff']:.2e}" for r in bad))


if __name__ == "__main__":
    main()
