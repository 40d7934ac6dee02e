"""Execution providers: what the user asked for, what onnxruntime has, and the fallback said aloud."""
from __future__ import annotations

import functools
import os
import warnings

import numpy as np
import onnxruntime as ort

DEVICES = ("cpu", "cuda", "auto")


def available_providers() -> list[str]:
    return list(ort.get_available_providers())


def resolve_device(device: str | None) -> str:
    """Maps ``"cpu" | "cuda" | "auto" | None`` to the device that will run: ``"cpu"`` or ``"cuda"``.

    Asking for CUDA where onnxruntime has no CUDA provider warns and falls back to the CPU.
    """
    device = (device or "cpu").lower()
    if device not in DEVICES:
        raise ValueError(f"device: expected one of {DEVICES}, received {device!r}")
    has_cuda = "CUDAExecutionProvider" in available_providers()
    if device == "auto":
        return "cuda" if has_cuda else "cpu"
    if device == "cuda" and not has_cuda:
        warnings.warn(
            "device='cuda' was requested but this onnxruntime has no CUDAExecutionProvider "
            f"(available: {', '.join(available_providers())}); running on the CPU. "
            "Install onnxruntime-gpu to use CUDA.",
            RuntimeWarning,
            stacklevel=3,
        )
        return "cpu"
    return device


def providers_for(device: str) -> list[str]:
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]


#: onnxruntime graph rewrites every graphc session turns off (``InferenceSession(disabled_optimizers=...)``).
#: ``EliminateDropout`` removes a Dropout whose mask output nobody reads even when its training_mode is a
#: constant True, which silently turned ``model(x, training=True)`` (Monte Carlo dropout, SpatialDropout)
#: into the identity; graphc emits no Dropout at all outside training, so it has nothing to remove.
DISABLED_OPTIMIZERS = ["EliminateDropout"]


def session_options(device: str, threads: int | None = None, level: str = "all") -> ort.SessionOptions:
    so = ort.SessionOptions()
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[level]
    if threads:
        so.intra_op_num_threads = threads
    so.log_severity_level = 3
    # Decaying optimizer moments drift into denormals, which x86 computes ~100x slower (a W1 step went
    # 0.75 -> 1.8 ms after a few epochs). onnxruntime applies this flag to the calling thread only
    # once per process, with the value of the FIRST session created, and one-thread sessions run
    # every kernel on that thread: so every graphc session sets it, whichever comes first.
    so.add_session_config_entry("session.set_denormal_as_zero", "1")
    if device == "cuda":
        # a node without a CUDA kernel must be an error, not a silent copy to the CPU
        so.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
    return so


def _probe(op: str, inputs: list, x: np.ndarray, domain: str = "") -> np.ndarray:
    """Runs one ``op`` node reading the float32 input ``x`` (under the names ``inputs``) in a
    one-thread graphc session on the CPU, unoptimized: what this machine's onnxruntime does."""
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node(op, inputs, ["y"], domain=domain)], f"{op}_probe",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=opsets, ir_version=8)
    sess = ort.InferenceSession(model.SerializeToString(), session_options("cpu", threads=1, level="disable"),
                                providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


_DENORMALS_CHECKED: set = set()


def warn_if_denormals_computed(device: str) -> None:
    """Warns, once per thread, when onnxruntime computes denormal numbers on the calling thread.

    onnxruntime takes ``session.set_denormal_as_zero`` from the first session of the process only
    (see ``session_options``); if a session without it came first (the user's own, say), every
    later session computes denormals, and optimizer moments decaying toward zero can make training
    steps several times slower (W1: 2.4x after four epochs). A one-thread session multiplying a
    denormal by one shows which: it runs its kernel on this thread, like a one-thread step.
    """
    import threading

    key = threading.get_ident()
    if device != "cpu" or key in _DENORMALS_CHECKED:
        return
    _DENORMALS_CHECKED.add(key)
    # 1e-20 squared is 1e-40, a denormal: 0 when flushed
    if _probe("Mul", ["x", "x"], np.array([1e-20], np.float32))[0] != 0:
        warnings.warn(
            "onnxruntime computes denormal numbers on this thread: an onnxruntime session created before "
            "graphc's first one, without the session option 'session.set_denormal_as_zero', decided that for "
            "the whole process. Optimizer moments that decay toward zero then slow training steps several-fold. "
            "Import graphc and build its model before creating other onnxruntime sessions, or give them that "
            "option.", RuntimeWarning, stacklevel=3)


@functools.lru_cache(maxsize=None)
def nchwc_block_size() -> int:
    """The channel block of onnxruntime's NCHWc convolutions on this machine's CPU provider (8 with
    AVX2, 16 with AVX-512), or 0 when they are missing, do not block, or ``GRAPHC_NCHWC=0`` turns
    them off; graphc's CPU training steps use them only when this is at least 8.

    Probed once per process: a ReorderInput of 4 channels pads them to one block, then
    ``nchwc_rewrite_agrees`` checks the rewrite's numbers on this onnxruntime.
    """
    if os.environ.get("GRAPHC_NCHWC", "1").strip().lower() in ("0", "false", "off", "no"):
        return 0
    try:
        block = int(_probe("ReorderInput", ["x"], np.zeros((1, 4, 1, 1), np.float32),
                           domain="com.microsoft.nchwc").shape[1])
    except Exception:  # an onnxruntime build without the NCHWc kernels
        return 0
    if block < 8 or block & (block - 1):
        return 0
    return block if nchwc_rewrite_agrees(block) else 0


def nchwc_rewrite_agrees(block: int) -> bool:
    """Runs ``ConvsToNchwc``'s rewrite of a Conv (with its Relu), a stride-1 ConvTranspose and their
    depthwise forms on this onnxruntime and compares the numbers with the NumPy reference of the
    plain graph. The blocked filter layout is an internal of onnxruntime's kernels: a build that
    changed it turns the rewrite off here instead of computing wrong convolutions."""
    from graphc.ir import Graph, TensorType
    from graphc.onnx import to_onnx
    from graphc.ops import Builder, conv2d, relu
    from graphc.ops.base import emit
    from graphc.ops.interpreter import evaluate
    from passes.nchwc_convs import ConvsToNchwc

    c = 2 * block
    g = Graph("nchwc_check")
    b = Builder(g)
    with b.activate():
        x = b.input("x", TensorType("float32", (2, c, 5, 6)))
        w = b.input("w", TensorType("float32", (block, c, 3, 3)))
        dy = b.input("dy", TensorType("float32", (2, block, 4, 5)))
        dw = b.input("dw", TensorType("float32", (c, 1, 3, 3)))
        y = relu(conv2d(x, w, pads=(1, 0, 0, 1)))
        dx = emit("ConvTranspose", dy, w, kernel_shape=(3, 3), pads=(0, 1, 1, 0))
        yd = conv2d(x, dw, pads=(1, 1, 1, 1), group=c)  # depthwise, and its input gradient
        dxd = emit("ConvTranspose", x, dw, kernel_shape=(3, 3), pads=(1, 0, 1, 0), group=c)
    g.set_outputs([y, dx, yd, dxd], ["y", "dx", "yd", "dxd"])
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((2, c, 5, 6)).astype(np.float32),
             "w": rng.standard_normal((block, c, 3, 3)).astype(np.float32),
             "dy": rng.standard_normal((2, block, 4, 5)).astype(np.float32),
             "dw": rng.standard_normal((c, 1, 3, 3)).astype(np.float32)}
    want = evaluate(g, feeds)
    rewritten = g.copy()
    if ConvsToNchwc(block).run(rewritten).stats.get("convs") != 4:
        return False
    try:
        so = session_options("cpu", threads=1)
        so.log_severity_level = 4  # a refused layout is an answer here, not an error to print
        sess = ort.InferenceSession(to_onnx(rewritten).SerializeToString(), so, providers=["CPUExecutionProvider"])
        got = sess.run(None, feeds)
    except Exception:
        return False
    return all(np.allclose(a, e, rtol=1e-4, atol=1e-4) for a, e in zip(got, want))


def nchwc_block_for(device: str) -> int:
    """The ``nchwc_block`` for ``passes.optimize`` on a graph graphc will run on ``device``: this
    machine's NCHWc block on the CPU, 0 (no rewrite) elsewhere."""
    if device == "auto":
        device = "cuda" if "CUDAExecutionProvider" in available_providers() else "cpu"
    return nchwc_block_size() if device in ("cpu", None) else 0
