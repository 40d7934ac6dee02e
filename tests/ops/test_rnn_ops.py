"""LSTM and LSTMGrad: the op contract through check_op, and the NumPy references against each other.

onnxruntime has no float64 LSTM kernel, so the ops run in float32; check_op differences the NumPy
reference in float64 and holds the analytic gradient (the reverse-Scan lowering on onnxruntime and
the NumPy BPTT in the interpreter) to the float32 gradient tolerance.
"""
import numpy as np
import pytest

from graphc.ops.rnn import LSTM, LSTMGrad, lstm_forward
from graphc.testing import check_op


def _lstm_inputs(t=5, n=3, i=4, h=2, seed=0):
    rng = np.random.default_rng(seed)
    f32 = np.float32
    return dict(
        x=rng.standard_normal((t, n, i)).astype(f32),
        w=(0.5 * rng.standard_normal((1, 4 * h, i))).astype(f32),
        r=(0.5 * rng.standard_normal((1, 4 * h, h))).astype(f32),
        b=(0.5 * rng.standard_normal((1, 8 * h))).astype(f32),
        h0=rng.standard_normal((1, n, h)).astype(f32),
        c0=rng.standard_normal((1, n, h)).astype(f32),
        h=h,
    )


@pytest.mark.parametrize("inputs", ["xwr", "xwrb", "xwrb_h0c0"])
def test_lstm_contract(inputs):
    a = _lstm_inputs()
    args = [a["x"], a["w"], a["r"]]
    if "b" in inputs:
        args.append(a["b"])
    if "h0" in inputs:
        args += [a["h0"], a["c0"]]
    rep = check_op("LSTM", args, {"hidden_size": a["h"]}, eps=1e-3)
    assert sorted(rep.grads) == list(range(len(args)))


def test_lstm_contract_longer_sequence_and_batch_one():
    a = _lstm_inputs(t=12, n=1, i=3, h=4, seed=1)
    check_op("LSTM", [a["x"], a["w"], a["r"], a["b"]], {"hidden_size": 4}, eps=1e-3)


def test_lstm_relu_gate_activations_forward():
    a = _lstm_inputs(seed=2)
    check_op("LSTM", [a["x"], a["w"], a["r"], a["b"]],
             {"hidden_size": a["h"], "activations": ("Sigmoid", "Relu", "Relu")}, grad=False)


def test_lstm_gradient_with_other_activations_is_refused():
    from graphc.ir import Graph, TensorType
    from graphc.ops import Builder

    a = _lstm_inputs()
    g = Graph("g")
    b = Builder(g)
    with b.activate():
        ins = [b.input(k, TensorType.of(a[k])) for k in ("x", "w", "r")]
        y, _, _ = b.emit("LSTM", *ins, hidden_size=2, activations=("Sigmoid", "Relu", "Relu"))
        with pytest.raises(NotImplementedError, match="LSTM gradient"):
            LSTM().grad(y.node, [y, None, None])


def test_lstm_reference_matches_a_step_by_step_loop():
    """ONNX gate order i, o, f, c; c_t = f c + i g; h_t = o tanh(c_t)."""
    a = _lstm_inputs(t=4, n=2, i=3, h=3, seed=3)
    x, w, r, b = (a[k].astype(np.float64) for k in ("x", "w", "r", "b"))
    y, c_all, y_h, y_c = lstm_forward(x, w, r, b, None, None, 3)
    h = c = np.zeros((2, 3))
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    for t in range(4):
        z = x[t] @ w[0].T + h @ r[0].T + b[0, :12] + b[0, 12:]
        i, o, f, g = sig(z[:, :3]), sig(z[:, 3:6]), sig(z[:, 6:9]), np.tanh(z[:, 9:])
        c = f * c + i * g
        h = o * np.tanh(c)
        np.testing.assert_allclose(y[t, 0], h, rtol=1e-12)
        np.testing.assert_allclose(c_all[t, 0], c, rtol=1e-12)
    np.testing.assert_allclose(y_h[0], h, rtol=1e-12)
    np.testing.assert_allclose(y_c[0], c, rtol=1e-12)


def test_lstm_grad_op_lowering_matches_its_bptt_reference():
    """LSTMGrad alone: the two Scans on onnxruntime against the NumPy BPTT, at every opset."""
    a = _lstm_inputs(t=6, n=2, i=3, h=2, seed=4)
    y, _, _, _ = lstm_forward(a["x"], a["w"], a["r"], a["b"], a["h0"], a["c0"], 2)
    rng = np.random.default_rng(5)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dyh = rng.standard_normal(a["h0"].shape).astype(np.float32)
    dyc = rng.standard_normal(a["c0"].shape).astype(np.float32)
    rep = check_op("LSTMGrad", [a["x"], a["w"], a["r"], a["b"], a["h0"], a["c0"], y, dy, dyh, dyc],
                   {"hidden_size": 2}, grad=False)
    assert [o.shape for o in rep.outputs] == [a["x"].shape, a["w"].shape, a["r"].shape, a["b"].shape,
                                             a["h0"].shape, a["c0"].shape]
    assert not LSTMGrad.differentiable


def test_lstm_rejects_mismatched_weights():
    from graphc.ir import Graph, TensorType
    from graphc.ops import Builder

    g = Graph("g")
    b = Builder(g)
    with b.activate():
        x = b.input("x", TensorType("float32", ("seq", "batch", 4)))
        w = b.input("w", TensorType("float32", (1, 8, 5)))
        r = b.input("r", TensorType("float32", (1, 8, 2)))
        with pytest.raises(ValueError, match="input size"):
            b.emit("LSTM", x, w, r, hidden_size=2)


def test_lstm_symbolic_sequence_types():
    from graphc.ir import Graph, TensorType
    from graphc.ops import Builder

    g = Graph("g")
    b = Builder(g)
    with b.activate():
        x = b.input("x", TensorType("float32", ("seq", "batch", 4)))
        w = b.input("w", TensorType("float32", (1, 8, 4)))
        r = b.input("r", TensorType("float32", (1, 8, 2)))
        y, yh, yc = b.emit("LSTM", x, w, r, hidden_size=2)
    assert y.shape == ("seq", 1, "batch", 2) and yh.shape == (1, "batch", 2) and yc.shape == (1, "batch", 2)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_reverse_contract(axis):
    x = np.random.default_rng(6).standard_normal((4, 3, 2))
    rep = check_op("Reverse", [x], {"axis": axis}, eps=1.0)
    np.testing.assert_array_equal(rep.outputs[0], np.flip(x, axis))
