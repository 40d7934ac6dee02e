"""Reverse-mode autodiff: gradients of small graphs against central differences in float64."""
import numpy as np
import pytest

from graphc import ops
from graphc.ir import Graph, TensorType, Variable
from graphc.ops import Builder
from graphc.ops.interpreter import evaluate
from passes.autodiff import AppendGradients, gradients


def _build(fn, inputs: dict, variables: list):
    """Traces ``fn(b, *input_values)`` returning a scalar loss; returns graph, loss, param values."""
    g = Graph("t")
    b = Builder(g)
    with b.activate():
        xs = [b.input(n, TensorType.of(a)) for n, a in inputs.items()]
        loss = fn(*xs)
        params = [b.param(v) for v in variables]
    return g, loss, params


def _check(fn, inputs, variables, rtol=1e-6, atol=1e-8):
    g, loss, params = _build(fn, inputs, variables)
    grads = gradients(g, loss, params)
    got = evaluate(g, inputs, values=[loss] + [gr for gr in grads if gr is not None])
    rng = np.random.default_rng(0)
    k = 1
    for var, gr in zip(variables, grads):
        assert gr is not None, var.path
        assert gr.shape == var.shape
        analytic = got[k]
        k += 1
        # directional derivative along a random direction, central differences in float64
        d = rng.standard_normal(var.shape)
        eps = 1e-6
        base = var.value.copy()
        plus = evaluate(g, inputs, params={var.path: base + eps * d}, values=[loss])[0]
        minus = evaluate(g, inputs, params={var.path: base - eps * d}, values=[loss])[0]
        numeric = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(np.sum(analytic * d), numeric, rtol=rtol, atol=atol, err_msg=var.path)


def _var(shape, name, seed):
    return Variable(np.random.default_rng(seed).standard_normal(shape), name)


def test_mlp_softmax_cross_entropy():
    x = np.random.default_rng(1).standard_normal((5, 4))
    onehot = np.eye(3)[[0, 2, 1, 1, 0]]
    w1, b1, w2 = _var((4, 6), "w1", 2), _var((6,), "b1", 3), _var((6, 3), "w2", 4)

    def fn(xv, yv):
        h = ops.relu(ops.add(ops.matmul(xv, w1), b1))
        logp = ops.log_softmax(ops.matmul(h, w2))
        return ops.neg(ops.reduce_mean(ops.reduce_sum(ops.mul(yv, logp), (1,), keepdims=False), keepdims=False))

    _check(fn, {"x": x, "y": onehot}, [w1, b1, w2])


def test_fan_out_and_broadcast():
    x = np.random.default_rng(1).standard_normal((3, 4))
    w = _var((4,), "w", 5)
    s = _var((1, 1), "s", 6)

    def fn(xv):
        a = ops.mul(xv, w)          # broadcast over rows
        c = ops.mul(a, a)           # fan-out: a used twice
        d = ops.add(c, ops.tanh(ops.mul(a, s)))
        return ops.reduce_sum(ops.sigmoid(d), keepdims=False)

    _check(fn, {"x": x}, [w, s])


def test_gemm_transposes_and_division():
    a = _var((3, 5), "a", 1)
    bm = _var((4, 5), "b", 2)
    c = _var((4,), "c", 3)

    def fn():
        y = ops.gemm(a, bm, c, transB=1, alpha=0.5)
        z = ops.div(y, ops.add(ops.exp(y), np.float64(1.0)))
        return ops.reduce_mean(ops.mul(z, z), keepdims=False)

    _check(lambda: fn(), {}, [a, bm, c])


def test_non_differentiable_inputs_and_ints_are_skipped():
    table = _var((6, 3), "table", 1)
    ids = np.array([[0, 2, 2], [5, 1, 0]], dtype=np.int64)

    def fn(idv):
        e = ops.gather(table, idv)  # duplicate ids accumulate
        return ops.reduce_sum(ops.mul(e, e), keepdims=False)

    _check(fn, {"ids": ids}, [table])


def test_unreached_parameter_has_no_gradient():
    w = _var((2,), "w", 1)
    unused = _var((2,), "unused", 2)
    g, loss, params = _build(lambda: ops.reduce_sum(ops.mul(w, w), keepdims=False), {}, [w, unused])
    gw, gu = gradients(g, loss, params)
    assert gu is None
    np.testing.assert_allclose(evaluate(g, {}, values=[gw])[0], 2 * w.value)


def test_gradient_nodes_are_scoped():
    w = _var((2, 2), "w", 1)
    g = Graph("t")
    b = Builder(g)
    with b.activate(), b.name_scope("dense"):
        x = b.input("x", TensorType("float64", ("batch", 2)))
        loss = ops.reduce_mean(ops.relu(ops.matmul(x, w)), keepdims=False)
    n_forward = len(g)
    AppendGradients(loss, [b.param(w)]).run(g)
    new = [n for n in g.nodes if n.id >= n_forward and n.op not in ("Constant",)]
    assert new and all(n.scope[0] == "grad" for n in new)
    assert g.output_names == ["loss", "grad/w"]
    out = evaluate(g, {"x": np.ones((3, 2))})
    assert out[1].shape == (2, 2)


def test_symbolic_batch_gradient_matches_numeric():
    w = _var((3, 2), "w", 7)
    x = np.random.default_rng(3).standard_normal((4, 3))
    g = Graph("t")
    b = Builder(g)
    with b.activate():
        xv = b.input("x", TensorType("float64", ("batch", 3)))
        loss = ops.reduce_mean(ops.softplus(ops.matmul(xv, w)), keepdims=False)
        p = b.param(w)
    (gw,) = gradients(g, loss, [p])
    analytic = evaluate(g, {"x": x}, values=[gw])[0]
    z = x @ w.value
    expected = x.T @ (1 / (1 + np.exp(-z))) / z.size
    np.testing.assert_allclose(analytic, expected, rtol=1e-10)


def test_rejects_non_scalar_loss():
    w = _var((2,), "w", 1)
    g, loss, params = _build(lambda: ops.mul(w, w), {}, [w])
    with pytest.raises(ValueError, match="scalar"):
        gradients(g, loss, params)


def test_gradient_graph_survives_the_cleanup_pipeline_on_onnxruntime():
    """Folding the scalar parts of a backward pass (Neg/Div of the seed) must keep them scalars."""
    from passes import optimize
    from runtime import Executable

    w = Variable(np.random.default_rng(0).standard_normal((3, 2)).astype(np.float32), "w")
    g = Graph("t")
    b = Builder(g)
    with b.activate():
        x = b.input("x", TensorType("float32", ("batch", 3)))
        per = ops.reduce_mean(ops.mul(ops.matmul(x, w), ops.matmul(x, w)), (-1,), keepdims=False)
        loss = ops.sub(ops.reduce_mean(per, keepdims=False),
                       ops.div(ops.reduce_mean(per, keepdims=False), np.float32(4)))
        (gw,) = gradients(g, loss, [b.param(w)])
    g.set_outputs([loss, gw], ["loss", "gw"])
    feeds = {"x": np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)}
    want = evaluate(g, feeds)
    for level in (1, 2):
        got = Executable(optimize(g, level=level)).run(feeds)
        for a, e in zip(got, want):
            np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)


def _grad_ops(g, n_forward):
    return [n.op for n in g.nodes if n.id >= n_forward and n.op != "Constant"]


def test_bias_gradient_is_one_reduce_sum_without_reshape():
    w, bias = _var((3, 2), "w", 1), _var((2,), "b", 2)
    g = Graph("t")
    b = Builder(g)
    with b.activate():
        x = b.input("x", TensorType("float64", ("batch", 3)))
        loss = ops.reduce_sum(ops.tanh(ops.add(ops.matmul(x, w), bias)), keepdims=False)
        n_forward = len(g)
        gw, gb = gradients(g, loss, [b.param(w), b.param(bias)])
    assert gb.node.op == "ReduceSum" and gb.node.attrs["keepdims"] == 0 and gb.shape == (2,)
    assert "Reshape" not in _grad_ops(g, n_forward)
    x0 = np.random.default_rng(0).standard_normal((4, 3))
    expected = (1 - np.tanh(x0 @ w.value + bias.value) ** 2).sum(0)
    np.testing.assert_allclose(evaluate(g, {"x": x0}, values=[gb])[0], expected, rtol=1e-10)


def test_broadcast_gradient_over_added_and_stretched_axes():
    # (1, 4) broadcast against (2, 3, 4): a leading axis added and a size-1 axis stretched
    w = _var((1, 4), "w", 3)
    x = np.random.default_rng(4).standard_normal((2, 3, 4))
    _check(lambda xv: ops.reduce_sum(ops.tanh(ops.mul(xv, w)), keepdims=False), {"x": x}, [w])


def test_mean_gradient_counts_a_symbolic_dim_with_one_scalar_gather():
    w = _var((3,), "w", 5)
    g = Graph("t")
    b = Builder(g)
    with b.activate():
        x = b.input("x", TensorType("float64", ("batch", 2, 3)))
        loss = ops.reduce_mean(ops.tanh(ops.mul(x, w)), keepdims=False)  # batch * 6 elements
        n_forward = len(g)
        (gw,) = gradients(g, loss, [b.param(w)])
    grad_ops = _grad_ops(g, n_forward)
    assert "ReduceProdInt" not in grad_ops and grad_ops.count("Gather") == 1
    gather = next(n for n in g.nodes if n.op == "Gather")
    assert gather.outputs[0].shape == ()
    # the division happens before the Expand, on the unexpanded seed
    expand = next(n for n in g.nodes if n.op == "Expand" and n.id >= n_forward)
    assert expand.inputs[0].node.op == "Div"
    x0 = np.random.default_rng(6).standard_normal((5, 2, 3))
    expected = ((1 - np.tanh(x0 * w.value) ** 2) * x0).sum((0, 1)) / x0.size
    np.testing.assert_allclose(evaluate(g, {"x": x0}, values=[gw])[0], expected, rtol=1e-10)


def test_flatten_gradient_with_a_symbolic_batch_is_a_static_reshape():
    w = _var((6,), "w", 7)
    g = Graph("t")
    b = Builder(g)
    with b.activate():
        x = b.input("x", TensorType("float64", ("batch", 2, 3)))
        loss = ops.reduce_sum(ops.tanh(ops.mul(ops.flatten(x), w)), keepdims=False)
        n_forward = len(g)
        xg = gradients(g, loss, [x])[0]
    assert "DynReshape" not in _grad_ops(g, n_forward)
    assert xg.node.op == "Reshape" and xg.shape == ("batch", 2, 3)
    x0 = np.random.default_rng(8).standard_normal((4, 2, 3))
    expected = (1 - np.tanh(x0.reshape(4, 6) * w.value) ** 2) * w.value
    np.testing.assert_allclose(evaluate(g, {"x": x0}, values=[xg])[0], expected.reshape(4, 2, 3), rtol=1e-10)
