"""Property-based: random valid graphs from the registry's elementwise and shape ops. The optimized
graph computes the unoptimized graph's numbers (NumPy interpreter, and onnxruntime on its export),
and optimizing again changes nothing."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc.ops as O
from graphc.ops.interpreter import evaluate
from passes import optimize, run_pipeline
from passes.debug import random_feeds
from pass_helpers import build, const, run_ort

UNARY = ["Relu", "Tanh", "Sigmoid", "Neg", "Abs", "Identity", "Softplus"]
BINARY = ["Add", "Sub", "Mul", "Max", "Min"]
SHAPE = (2, 3)

step = st.one_of(
    st.tuples(st.just("unary"), st.sampled_from(UNARY), st.integers(0, 99)),
    st.tuples(st.just("binary"), st.sampled_from(BINARY), st.integers(0, 99), st.integers(0, 99)),
    st.tuples(st.just("const"), st.sampled_from(BINARY), st.integers(0, 99), st.sampled_from([0.0, 1.0, 0.5, -2.0])),
    st.tuples(st.just("folded"), st.sampled_from(BINARY), st.integers(0, 99)),
    st.tuples(st.just("shape"), st.sampled_from(["reshape_same", "reshape_chain", "transpose_twice",
                                                 "transpose_id", "unsqueeze_squeeze", "cast_same", "concat_slice"]),
              st.integers(0, 99)),
    st.tuples(st.just("matmul_add"), st.integers(0, 99)),
)


def _apply(values, s):
    pick = lambda i: values[i % len(values)]  # noqa: E731
    kind = s[0]
    if kind == "unary":
        return O.emit(s[1], pick(s[2]))
    if kind == "binary":
        return O.emit(s[1], pick(s[2]), pick(s[3]))
    if kind == "const":
        return O.emit(s[1], pick(s[2]), const(s[3]))
    if kind == "folded":
        c = O.emit(s[1], const(np.full(SHAPE, 1.5)), O.transpose(const(np.arange(6.0).reshape(3, 2)), (1, 0)))
        return O.emit("Add", pick(s[2]), c)
    if kind == "matmul_add":
        w = const(np.linspace(-1, 1, 9).reshape(3, 3))
        return O.add(O.matmul(pick(s[1]), w), const(np.ones(3)))
    x = pick(s[2])
    name = s[1]
    if name == "reshape_same":
        return O.reshape(x, SHAPE)
    if name == "reshape_chain":
        return O.reshape(O.reshape(x, (3, 2)), SHAPE)
    if name == "transpose_twice":
        return O.transpose(O.transpose(x, (1, 0)), (1, 0))
    if name == "transpose_id":
        return O.transpose(x, (0, 1))
    if name == "unsqueeze_squeeze":
        return O.squeeze(O.unsqueeze(x, (0,)), (0,))
    if name == "cast_same":
        return O.cast(x, "float32")
    return O.slice_(O.concat([x, x], axis=0), starts=(0,), ends=(2,), axes=(0,))


def _random_graph(steps, n_outputs):
    def fn(a, b):
        values = [a, b]
        for s in steps:
            values.append(_apply(values, s))
        return values[-n_outputs:]

    return build(fn, {"a": SHAPE, "b": SHAPE})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=12), st.integers(1, 2), st.sampled_from([1, 2, 3]))
def test_optimized_graph_keeps_numbers_and_is_idempotent(steps, n_outputs, level):
    g = _random_graph(steps, n_outputs)
    opt = optimize(g, level=level)
    feeds = random_feeds(g, seed=1)
    want = evaluate(g, feeds)
    for w, got in zip(want, evaluate(opt, feeds)):
        np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-6)
    for w, got in zip(want, run_ort(opt, feeds)):  # and the optimized graph's ONNX on onnxruntime
        np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-5)
    assert len(opt) <= len(g)
    again, manager = run_pipeline(opt, level=level)
    assert not any(r.modified for r in manager.records), [r for r in manager.records if r.modified]
    assert str(again) == str(opt)
