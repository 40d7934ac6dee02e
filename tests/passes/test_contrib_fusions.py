"""FuseActivations (FusedConv / FusedGemm) and FuseMatMulScale (FusedMatMul): com.microsoft ops,
checked on onnxruntime, and only in the pipeline when the target and the user allow them."""
import numpy as np
import pytest

import graphc.ops as O
from graphc.ops import REGISTRY, current_builder
from passes import FuseActivations, FuseMatMulScale, pipeline
from pass_helpers import build, check_pass, const

rng = np.random.default_rng(5)
W = rng.standard_normal((4, 3)).astype(np.float32)


def test_gemm_activation_becomes_fused_gemm():
    def before(x):
        return O.leaky_relu(O.gemm(x, const(W), const(np.ones(3))), 0.2), O.sigmoid(O.gemm(x, const(W)))

    g = check_pass(FuseActivations(), build(before, {"x": (2, 4)}))
    assert g.count_ops() == {"FusedGemm": 2}
    attrs = sorted(n.attrs["activation"] for n in g.nodes if n.op == "FusedGemm")
    assert attrs == ["LeakyRelu", "Sigmoid"]


@pytest.mark.skipif("Conv" not in REGISTRY, reason="Conv is not registered yet")
def test_conv_relu_becomes_fused_conv():
    k = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)

    def before(x):
        return O.relu(current_builder().emit("Conv", x, const(k), pads=(1, 1, 1, 1)))

    g = check_pass(FuseActivations(), build(before, {"x": (1, 3, 5, 5)}))
    assert g.count_ops() == {"FusedConv": 1}


def test_activation_fusion_does_not_fire_when_result_is_shared():
    def before(x):
        y = O.gemm(x, const(W))
        return O.relu(y), y

    p = FuseActivations()
    check_pass(p, build(before, {"x": (2, 4)}), fires=False)
    assert "other uses" in " ".join(p.near_misses.values())


def test_matmul_scale_and_transpose_become_fused_matmul():
    def before(a, b):
        return O.mul(O.matmul(a, O.transpose(b, (0, 2, 1))), const(0.125))

    g = check_pass(FuseMatMulScale(), build(before, {"a": (2, 3, 4), "b": (2, 5, 4)}))
    (node,) = [n for n in g.nodes if n.op == "FusedMatMul"]
    assert node.attrs == {"alpha": 0.125, "transB": 1}


def test_matmul_scale_does_not_fire_for_tensor_scale():
    def before(a):
        return O.mul(O.matmul(a, const(W)), const(np.ones(3)))

    p = FuseMatMulScale()
    check_pass(p, build(before, {"a": (2, 4)}), fires=False)
    assert "not a scalar" in " ".join(p.near_misses.values())


def _names(passes):
    out = []
    for p in passes:
        out += [q.name for q in getattr(p, "passes", [p])]
    return out


def test_contrib_fusions_need_onnxruntime_target_and_permission():
    assert "FuseActivations" not in _names(pipeline(3))
    assert "FuseActivations" not in _names(pipeline(3, target="onnxruntime"))
    assert "FuseActivations" not in _names(pipeline(3, allow_contrib=True))
    assert "FuseActivations" not in _names(pipeline(2, target="onnxruntime", allow_contrib=True))
    assert "FuseActivations" in _names(pipeline(3, target="onnxruntime", allow_contrib=True))


@pytest.mark.skipif("Conv" not in REGISTRY, reason="Conv is not registered yet")
def test_conv_add_relu_becomes_fused_conv_with_sum_input():
    k = rng.standard_normal((3, 3, 3, 3)).astype(np.float32)

    def before(x):
        b = current_builder()
        y = b.emit("Conv", x, const(k), const(np.ones(3)), pads=(1, 1, 1, 1))
        return O.relu(O.add(x, y))  # a residual block's tail

    g = check_pass(FuseActivations(), build(before, {"x": (1, 3, 5, 5)}))
    (node,) = [n for n in g.nodes if n.op == "FusedConv"]
    assert len(node.inputs) == 4 and node.inputs[3] is g.inputs[0]
