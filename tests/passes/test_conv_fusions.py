"""FoldConvBatchNorm, FuseConvAddBias and FusePadIntoConv, on ONNX-semantics Conv / BatchNorm /
pool ops (skipped when those ops are not registered)."""
import numpy as np
import pytest

import graphc.ops as O
from graphc.ir import Variable
from graphc.ops import REGISTRY, current_builder
from passes import FoldConvBatchNorm, FuseConvAddBias, FusePadIntoConv
from pass_helpers import build, check_pass, const

pytestmark = pytest.mark.skipif(not {"Conv", "BatchNormalization", "AveragePool", "MaxPool"} <= set(REGISTRY),
                                reason="conv / batch-norm ops are not registered yet")

rng = np.random.default_rng(3)
W = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
BIAS = rng.standard_normal(4).astype(np.float32)
STATS = [rng.standard_normal(4).astype(np.float32), rng.standard_normal(4).astype(np.float32),
         rng.standard_normal(4).astype(np.float32), rng.random(4).astype(np.float32) + 0.5]
X = {"x": ("batch", 3, 6, 6)}


def _emit(op, *args, **attrs):
    return current_builder().emit(op, *args, **attrs)


def _bn(y, stats=STATS):
    return _emit("BatchNormalization", y, *[const(s) for s in stats], epsilon=1e-3)


def test_batch_norm_folds_into_conv():
    def before(x):
        return O.relu(_bn(_emit("Conv", x, const(W), const(BIAS), pads=(1, 1, 1, 1))))

    scale, b, mean, var = STATS
    s = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + 1e-3)  # the pass folds in float64

    def expected(x):
        return O.relu(_emit("Conv", x, const(W * s.astype(np.float32)[:, None, None, None]),
                            const(((BIAS.astype(np.float64) - mean) * s + b).astype(np.float32)),
                            pads=(1, 1, 1, 1)))

    check_pass(FoldConvBatchNorm(), build(before, X), build(expected, X), rtol=1e-4, atol=1e-4)


def test_batch_norm_fold_on_params_needs_export():
    var = Variable(W, "kernel")

    def before(x):
        return _bn(_emit("Conv", x, current_builder().param(var)))

    p = FoldConvBatchNorm()
    check_pass(p, build(before, X), fires=False)
    assert "weight is not constant" in " ".join(p.near_misses.values())
    out = check_pass(FoldConvBatchNorm(include_params=True), build(before, X), rtol=1e-4, atol=1e-4)
    assert out.count_ops() == {"Conv": 1}


def test_add_bias_becomes_conv_bias():
    bias_var = Variable(BIAS, "bias")

    def before(x):
        y = _emit("Conv", x, const(W))
        z = _emit("Conv", x, const(W))
        return (O.add(y, const(BIAS.reshape(1, 4, 1, 1))),
                O.add(O.reshape(current_builder().param(bias_var), (4, 1, 1)), z))

    def expected(x):
        return (_emit("Conv", x, const(W), const(BIAS)),
                _emit("Conv", x, const(W), current_builder().param(bias_var)))

    g = check_pass(FuseConvAddBias(), build(before, X), build(expected, X))
    assert len(g.params()) == 1  # the bias parameter is still fed, not frozen


def test_add_bias_does_not_fire_for_non_channel_bias():
    def before(x):
        return O.add(_emit("Conv", x, const(W)), const(np.ones((1, 1, 1, 4))))

    p = FuseConvAddBias()
    check_pass(p, build(before, X), fires=False)
    assert "not per-channel" in " ".join(p.near_misses.values())


def test_pad_merges_into_conv_and_average_pool():
    def before(x):
        y = _emit("Conv", O.pad(x, (0, 0, 1, 2, 0, 0, 1, 2)), const(W), pads=(1, 0, 1, 0))
        return _emit("AveragePool", O.pad(y, (0, 0, 1, 1, 0, 0, 1, 1)), kernel_shape=(3, 3), count_include_pad=1)

    def expected(x):
        y = _emit("Conv", x, const(W), pads=(2, 2, 2, 2))
        return _emit("AveragePool", y, kernel_shape=(3, 3), pads=(1, 1, 1, 1), count_include_pad=1)

    check_pass(FusePadIntoConv(), build(before, X), build(expected, X))


def test_pad_does_not_merge_when_semantics_differ():
    def before(x):
        a = _emit("AveragePool", O.pad(x, (0, 0, 1, 1, 0, 0, 1, 1)), kernel_shape=(3, 3))
        m = _emit("MaxPool", O.pad(x, (0, 0, 1, 1, 0, 0, 1, 1)), kernel_shape=(3, 3))
        c = _emit("Conv", O.pad(x, (0, 1, 0, 0, 0, 0, 0, 0)), const(rng.standard_normal((4, 4, 3, 3)).astype(np.float32)))
        return a, m, c

    p = FusePadIntoConv()
    check_pass(p, build(before, X), fires=False)
    reasons = " | ".join(p.near_misses.values())
    assert "count_include_pad=0" in reasons and "-inf" in reasons and "channel axis" in reasons


def test_pad_merges_through_layout_transpose_and_into_maxpool_after_relu():
    def before(x):  # x is channels-last, as a Keras model's input
        y = _emit("Conv", O.transpose(O.pad(x, (0, 1, 1, 0, 0, 1, 1, 0)), (0, 3, 1, 2)), const(W))
        return _emit("MaxPool", O.pad(O.relu(y), (0, 0, 1, 1, 0, 0, 1, 1)), kernel_shape=(3, 3), strides=(2, 2))

    def expected(x):
        y = _emit("Conv", O.transpose(x, (0, 3, 1, 2)), const(W), pads=(1, 1, 1, 1))
        return _emit("MaxPool", O.relu(y), kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1))

    nhwc = {"x": ("batch", 6, 6, 3)}
    check_pass(FusePadIntoConv(), build(before, nhwc), build(expected, nhwc))


def test_pool_pads_may_not_reach_the_kernel():
    def before(x):
        return _emit("AveragePool", O.pad(x, (0, 0, 2, 2, 0, 0, 2, 2)), kernel_shape=(2, 2), count_include_pad=1)

    p = FusePadIntoConv()
    check_pass(p, build(before, X), fires=False)
    assert "smaller than the kernel" in " ".join(p.near_misses.values())
