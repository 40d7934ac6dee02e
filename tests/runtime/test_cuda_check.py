"""Executable on device='cuda' names an op without a CUDA kernel before onnxruntime sees the graph."""
import numpy as np
import pytest

import runtime.session as session_mod
from graphc.ir import Graph, TensorType
from graphc.ops import Builder
from runtime import Executable


def _graph(op, dtype, **attrs):
    g = Graph("probe")
    b = Builder(g, ("probe_layer",))
    x = b.input("x", TensorType(dtype, ("batch", 3)))
    with b.activate():
        y = b.emit(op, x, **attrs)
    g.set_outputs([y], ["y"])
    return g


def test_cuda_session_refuses_an_op_without_a_cuda_kernel(monkeypatch):
    monkeypatch.setattr(session_mod, "resolve_device", lambda device: "cuda")
    created = []
    monkeypatch.setattr(session_mod.ort, "InferenceSession", lambda *a, **k: created.append(a))
    with pytest.raises(NotImplementedError, match=r"ArgMax.*int64|no CUDA kernel"):
        Executable(_graph("ArgMax", "int64", axis=1, keepdims=0), device="cuda")
    assert not created, "onnxruntime must not be reached"


def test_cuda_check_passes_a_covered_graph(monkeypatch):
    monkeypatch.setattr(session_mod, "resolve_device", lambda device: "cuda")
    created = []
    monkeypatch.setattr(session_mod.ort, "InferenceSession", lambda *a, **k: created.append(k["providers"]))
    Executable(_graph("Relu", "float32"), device="cuda")
    assert created == [["CUDAExecutionProvider", "CPUExecutionProvider"]]


def test_cpu_sessions_skip_the_check():
    exe = Executable(_graph("ArgMax", "int64", axis=1, keepdims=0), device="cpu")
    out = exe.run({"x": np.array([[1, 5, 2]], dtype=np.int64)})
    assert out[0].tolist() == [1]
