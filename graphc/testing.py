"""Test harness for ops and small graphs: type inference, ONNX lowering and gradients, in one call.

Use it from tests to hold an op to the four-part contract (``graphc/ops/base.py``)::

    from graphc.testing import check_op

    def test_my_conv():
        x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
        w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
        check_op("Conv", [x, w], {"pads": (1, 1, 1, 1)})

``check_op`` builds a one-node graph, checks ``infer`` against ``ref``, lowers to ONNX at several
opsets (full ``onnx.checker`` check), runs onnxruntime against ``ref``, and checks the gradient rule
against central finite differences. ``gradcheck_graph`` does the gradient part for a whole graph
(e.g. a layer's trace), and ``build_gradient_graph`` is the small reverse-mode driver both use.

Tolerances per dtype live in ``TOLERANCES`` (forward outputs, ORT vs NumPy) and
``GRAD_TOLERANCES`` (directional derivative vs finite difference). All failures raise
``AssertionError`` with the op, the input types and what differed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from graphc.ir import Graph, TensorType, Value, is_float
from graphc.ops import Builder, get_op, reduce_to_shape
from graphc.ops.interpreter import evaluate

#: (rtol, atol) for comparing forward outputs (onnxruntime vs the NumPy ``ref``), per dtype.
TOLERANCES: dict = {
    "float64": (1e-8, 1e-10),
    "float32": (2e-5, 2e-6),
    "float16": (1e-2, 1e-3),
    "int8": (0, 0), "uint8": (0, 0), "int32": (0, 0), "int64": (0, 0), "bool": (0, 0),
}

#: (rtol, atol) for gradients, per working dtype (the least precise float dtype among the op's
#: inputs): <grad, v> against the finite difference, and gradients from onnxruntime against the
#: NumPy interpreter's.
GRAD_TOLERANCES: dict = {
    "float64": (1e-6, 1e-9),
    "float32": (2e-3, 1e-4),
    "float16": (5e-2, 1e-2),
}

#: Opsets ``check_op`` lowers to by default: the default target and the two where lowerings switch.
DEFAULT_OPSETS = (17, 18, 21)

#: Finite-difference step per working dtype when ``eps`` is not given. The difference itself is
#: always taken in float64 on ``ref``; float16 gets a larger step because its inputs are coarse.
DEFAULT_EPS = {"float64": 1e-6, "float32": 1e-6, "float16": 1e-3}


@dataclass
class OpCheckReport:
    """What ``check_op`` computed, for further assertions in the calling test.

    Attributes:
        graph: the forward one-node graph.
        types: the output types ``infer`` produced.
        outputs: ``ref``'s outputs on the given inputs.
        grads: input index -> gradient array from the NumPy interpreter (differentiable inputs only).
        directional: input index -> (analytic <grad, v>, finite difference) pairs.
    """

    graph: Graph
    types: list
    outputs: list
    grads: dict = field(default_factory=dict)
    directional: dict = field(default_factory=dict)


def tolerance(dtype: str, rtol: float | None = None, atol: float | None = None, table: dict = TOLERANCES):
    """The (rtol, atol) for ``dtype`` from ``table``, with explicit overrides winning."""
    default = table.get(str(dtype), (0, 0))
    return (default[0] if rtol is None else rtol, default[1] if atol is None else atol)


def assert_close(actual, expected, dtype: str | None = None, rtol=None, atol=None, what: str = "value") -> None:
    """Asserts equal shape and dtype and closeness within the per-dtype tolerance (NaNs equal)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    dtype = dtype or expected.dtype.name
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape {actual.shape}, expected {expected.shape}")
    if actual.dtype != expected.dtype:
        raise AssertionError(f"{what}: dtype {actual.dtype}, expected {expected.dtype}")
    rtol, atol = tolerance(dtype, rtol, atol)
    if rtol == 0 and atol == 0:
        np.testing.assert_array_equal(actual, expected, err_msg=what)
    else:
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


# -- check_op ------------------------------------------------------------------------------------

def check_op(
    op_name: str,
    inputs: Sequence[np.ndarray | None],
    attrs: dict | None = None,
    *,
    grad: bool = True,
    ort: bool = True,
    rtol: float | None = None,
    atol: float | None = None,
    nondiff: Sequence[int] = (),
    eps: float | None = None,
    opsets: Sequence[int] = DEFAULT_OPSETS,
    const_inputs: Sequence[int] = (),
    unknown_dims_ok: bool = False,
    seed: int = 0,
) -> OpCheckReport:
    """Checks one op against its contract on concrete inputs.

    Steps, each raising ``AssertionError`` with a precise message on failure:

    1. Builds a one-node graph with ``Builder``: input ``i`` is a graph Input named ``x{i}`` typed
       like ``inputs[i]`` (or a Constant when ``i`` is in ``const_inputs``; ``None`` is an omitted
       optional input). ``infer``'s output types must equal the dtypes and shapes ``ref`` returns.
    2. Lowers the graph with ``graphc.onnx.to_onnx`` at every opset in ``opsets``, runs
       ``onnx.checker.check_model(full_check=True)``, runs it on onnxruntime (CPU) and compares
       every output to ``ref`` (``TOLERANCES``; integer and bool outputs exactly).
    3. Gradient (if ``grad`` and the op is ``differentiable``): adds one upstream-gradient Input
       ``dy{j}`` per float output, calls the op's ``grad`` rule, reduces each input gradient to the
       input's shape with ``reduce_to_shape`` (as the autodiff driver does), and evaluates the
       gradient graph with the NumPy interpreter and (if ``ort``) on onnxruntime at every opset.
       For each differentiable input ``i`` (float dtype, not in ``nondiff`` nor the op's
       ``nondiff_inputs``) and a random direction ``v``, ``<dX_i, v>`` must match the central
       difference ``(f(x_i + eps v) - f(x_i - eps v)) / (2 eps)`` of ``f = sum_j sum(Y_j * dy_j)``.
       The difference is computed with ``ref`` on float64 copies of the float inputs, so float32-only
       ops (Conv, pooling, LSTM: pass float32 arrays) are still differenced in float64; their
       analytic gradient is float32 and is held to the float32 row of ``GRAD_TOLERANCES``.
       onnxruntime's gradients are compared to the interpreter's.

    Choose inputs away from kinks (Relu at 0, ties in Max/ReduceMax, Abs at 0), where the finite
    difference is not the gradient.

    Args:
        op_name: a name in ``graphc.ops.REGISTRY``.
        inputs: one array (or None for an omitted optional input) per op input.
        attrs: op attributes, ONNX spelling; None values are dropped as the Builder does.
        grad: check the gradient rule.
        ort: run onnxruntime (forward and gradient graphs); False checks infer/ref/grad only.
        rtol, atol: override both the forward and the gradient tolerances.
        nondiff: input indices to skip in the gradient check, besides the op's ``nondiff_inputs``
            and non-float inputs.
        eps: finite-difference step; ``DEFAULT_EPS`` per working dtype otherwise. For ops that are
            linear in an input, a large step (1.0) is exact and immune to rounding.
        opsets: ONNX opsets to lower the forward and the gradient graphs to.
        const_inputs: input indices to emit as Constant nodes instead of graph Inputs (for inputs an
            op's lowering requires to be constant).
        unknown_dims_ok: accept ``None`` dims from ``infer`` (ops whose output shape depends on a
            tensor's values, e.g. Expand without a shape hint); known dims must still match.
        seed: seed of the random upstream gradients and directions.

    Returns:
        An ``OpCheckReport`` with the graph, types, reference outputs and gradients.
    """
    attrs = {k: v for k, v in (attrs or {}).items() if v is not None}
    opdef = get_op(op_name)
    inputs = [None if a is None else np.asarray(a) for a in inputs]
    graph, builder, values, outs = build_op_graph(op_name, inputs, attrs, const_inputs)
    node = outs[0].node
    label = f"{op_name}({', '.join('None' if a is None else str(TensorType.of(a)) for a in inputs)})"
    if attrs:
        label += f" {attrs}"

    expected = opdef.ref_node(_trim(inputs), node.attrs)
    types = [v.type for v in outs]
    _check_types(label, types, expected, unknown_dims_ok)
    feeds = {f"x{i}": a for i, a in enumerate(inputs) if a is not None and i not in const_inputs}

    graph.set_outputs(outs, [f"y{j}" for j in range(len(outs))])
    if ort:
        for opset in opsets:
            got = run_onnx(graph, feeds, opset=opset, what=label)
            for j, (g, e) in enumerate(zip(got, expected)):
                assert_close(g, e, e.dtype.name, rtol, atol, what=f"{label}: output {j} at opset {opset}")

    report = OpCheckReport(graph, types, expected)
    if not grad or not opdef.differentiable:
        return report
    skip = set(nondiff) | set(opdef.nondiff_inputs)
    wrt = [i for i, a in enumerate(inputs)
           if a is not None and i not in skip and is_float(a.dtype)]
    if not wrt:
        return report

    rng = np.random.default_rng(seed)
    dys = [_random_like(rng, e) if is_float(t.dtype) else None for t, e in zip(types, expected)]
    dy_values = [builder.input(f"dy{j}", t) if d is not None else None for j, (t, d) in enumerate(zip(types, dys))]
    with builder.activate(), builder.name_scope("grad"):
        raw = opdef.grad(node, list(dy_values))
        if raw is None or len(raw) < max(wrt) + 1:
            raise AssertionError(f"{label}: grad returned {raw!r}; expected one entry per input")
        dxs = []
        for i in wrt:
            g = raw[i]
            if g is None:
                raise AssertionError(f"{label}: grad returned None for differentiable input {i}; "
                                     f"list it in nondiff_inputs if that is intended")
            if g.dtype != values[i].dtype:
                raise AssertionError(f"{label}: gradient of input {i} has dtype {g.dtype}, "
                                     f"expected {values[i].dtype}")
            dxs.append(reduce_to_shape(g, values[i]))
    for i, g in zip(wrt, dxs):
        if g.shape != values[i].shape:
            raise AssertionError(f"{label}: gradient of input {i} has type {g.type} after un-broadcasting, "
                                 f"expected {values[i].type}")
    graph.set_outputs(dxs, [f"dx{i}" for i in wrt])
    gfeeds = dict(feeds)
    gfeeds.update({f"dy{j}": d for j, d in enumerate(dys) if d is not None})
    grads = evaluate(graph, gfeeds)

    work = _working_dtype([inputs[i] for i in wrt] + [e for e in expected if is_float(e.dtype)])
    grtol, gatol = tolerance(work, rtol, atol, GRAD_TOLERANCES)
    step = eps if eps is not None else DEFAULT_EPS.get(work, 1e-6)
    base64 = [None if a is None else (a.astype(np.float64) if is_float(a.dtype) else a) for a in inputs]

    def objective(args):
        ys = opdef.ref_node(_trim(args), node.attrs)
        return sum(float(np.sum(np.asarray(y, np.float64) * d)) for y, d in zip(ys, dys) if d is not None)

    for i, g in zip(wrt, grads):
        if g.shape != inputs[i].shape or g.dtype != inputs[i].dtype:
            raise AssertionError(f"{label}: interpreter gradient of input {i} is {g.dtype}{list(g.shape)}, "
                                 f"expected {inputs[i].dtype}{list(inputs[i].shape)}")
        v = rng.standard_normal(inputs[i].shape)
        plus, minus = list(base64), list(base64)
        plus[i] = base64[i] + step * v
        minus[i] = base64[i] - step * v
        fd = (objective(plus) - objective(minus)) / (2 * step)
        analytic = float(np.sum(g.astype(np.float64) * v))
        scale = max(abs(fd), float(np.sum(np.abs(g.astype(np.float64) * v))))
        if not abs(analytic - fd) <= gatol + grtol * scale:
            raise AssertionError(
                f"{label}: gradient of input {i} disagrees with finite differences: <dx, v> = {analytic!r}, "
                f"central difference (eps={step}) = {fd!r}, |diff| = {abs(analytic - fd):.3g} "
                f"> {gatol:g} + {grtol:g} * {scale:.3g}")
        report.grads[i] = g
        report.directional[i] = (analytic, fd)

    if ort:
        for opset in opsets:
            got = run_onnx(graph, gfeeds, opset=opset, what=f"gradient of {label}")
            for i, g, e in zip(wrt, got, grads):
                assert_close(g, e, work, grtol, gatol,
                             what=f"{label}: gradient of input {i} at opset {opset}, onnxruntime vs interpreter")
    return report


def build_op_graph(op_name: str, inputs: Sequence[np.ndarray | None], attrs: dict | None = None,
                   const_inputs: Sequence[int] = ()):
    """A one-node graph applying ``op_name`` to Inputs ``x{i}`` typed like ``inputs`` (Constants for
    indices in ``const_inputs``; None for omitted optional inputs).

    Returns:
        (graph, builder, input Values, output Values); the graph has no outputs set yet.
    """
    attrs = {k: v for k, v in (attrs or {}).items() if v is not None}
    graph = Graph(f"check_{op_name}")
    builder = Builder(graph)
    values: list = []
    for i, a in enumerate(inputs):
        if a is None:
            values.append(None)
        elif i in const_inputs:
            values.append(builder.constant(a, dtype=a.dtype))
        else:
            values.append(builder.input(f"x{i}", TensorType.of(a)))
    with builder.activate():
        out = builder.emit(op_name, *values, **attrs)
    outs = list(out) if isinstance(out, tuple) else [out]
    return graph, builder, values, outs


def _trim(arrays):
    arrays = list(arrays)
    while arrays and arrays[-1] is None:
        arrays.pop()
    return arrays


def _check_types(label, types, expected, unknown_dims_ok):
    if len(types) != len(expected):
        raise AssertionError(f"{label}: infer gives {len(types)} outputs, ref {len(expected)}")
    for j, (t, e) in enumerate(zip(types, expected)):
        ok_dtype = t.dtype == e.dtype.name
        ok_shape = len(t.shape) == e.ndim and all(
            d == s or (d is None and unknown_dims_ok) for d, s in zip(t.shape, e.shape))
        if not (ok_dtype and ok_shape):
            raise AssertionError(f"{label}: infer says output {j} is {t}, ref returns "
                                 f"{e.dtype.name}{list(e.shape)}")


def _random_like(rng, array):
    return rng.standard_normal(np.shape(array)).astype(np.asarray(array).dtype)


def _working_dtype(arrays) -> str:
    order = ["float16", "float32", "float64"]
    dts = [np.asarray(a).dtype.name for a in arrays if a is not None and np.asarray(a).dtype.name in order]
    return min(dts, key=order.index) if dts else "float64"


# -- running on onnxruntime ----------------------------------------------------------------------

def run_onnx(graph: Graph, feeds: dict, opset: int = 17, check: bool = True, what: str = "") -> list:
    """Lowers ``graph`` at ``opset``, optionally full-checks the model, runs it on onnxruntime (CPU).

    Parameters become graph inputs fed from their Variables. Returns the outputs as arrays.
    """
    from graphc.onnx import check as check_model, to_onnx
    from runtime.session import Executable

    if check:
        model = to_onnx(graph, opset=opset, params_as_inputs=True)
        try:
            check_model(model)
        except Exception as e:  # onnx raises several checker and inference error types
            raise AssertionError(f"{what or graph.name}: ONNX check failed at opset {opset}: {e}") from None
    try:
        exe = Executable(graph, device="cpu", opset=opset, threads=1)
        return [np.asarray(a) for a in exe.run(feeds)]
    except Exception as e:
        raise AssertionError(f"{what or graph.name}: onnxruntime failed at opset {opset}: {e}") from None


# -- whole-graph gradients -------------------------------------------------------------------------

def build_gradient_graph(graph: Graph, wrt: Sequence[Value] | None = None) -> tuple[Graph, list[str], list[Value]]:
    """Reverse mode over ``graph`` with the ops' grad rules: a reference driver for tests.

    Works on a copy. Adds one Input ``dy{j}`` per float graph output (same type) and makes the
    copy's outputs the gradients of ``sum_j sum(Y_j * dy_j)`` with respect to ``wrt``: Values of
    ``graph`` (float graph Inputs and trainable Params by default). Fan-out is summed with Add,
    broadcasting is reduced with ``reduce_to_shape``, ``nondiff_inputs`` and non-float values are
    skipped. A ``wrt`` value the outputs do not depend on gets a zero gradient.

    Returns:
        (gradient graph, names of the dy inputs in output order, the ``wrt`` Values of ``graph``).
    """
    from graphc.ops import add, zeros_like

    if wrt is None:
        wrt = [v for v in graph.inputs if is_float(v.dtype)]
        wrt += [n.output for n in graph.params() if n.attrs["variable"].trainable and is_float(n.output.dtype)]
    g = graph.copy()
    id_map = {(n.id, i): v for n in g.nodes for i, v in enumerate(n.outputs)}

    def mapped(v):
        return id_map[(v.node.id, v.index)]

    b = Builder(g)
    nodes = g.nodes
    grads: dict = {}
    dy_names = []
    with b.activate(), b.name_scope("grad"):
        for j, y in enumerate(list(g.outputs)):
            if not is_float(y.dtype):
                continue
            name = f"dy{j}"
            dy = b.input(name, y.type)
            dy_names.append(name)
            grads[y] = add(grads[y], dy) if y in grads else dy
        for node in reversed(nodes):
            if node.op in ("Input", "Param", "Constant") or not any(v in grads for v in node.outputs):
                continue
            opdef = get_op(node.op)
            if not opdef.differentiable:
                continue
            dys = [grads.get(v) if v in grads or not is_float(v.dtype) else zeros_like(v) for v in node.outputs]
            dys = [None if not is_float(v.dtype) else d for v, d in zip(node.outputs, dys)]
            with b.name_scope(node.scope_name or node.op):
                dxs = opdef.grad(node, dys)
                for port, (x, dx) in enumerate(zip(node.inputs, dxs)):
                    if x is None or dx is None or port in opdef.nondiff_inputs or not is_float(x.dtype):
                        continue
                    dx = reduce_to_shape(dx, x)
                    grads[x] = add(grads[x], dx) if x in grads else dx
        outs = []
        for v in wrt:
            m = mapped(v)
            outs.append(grads[m] if m in grads else zeros_like(m))
    g.set_outputs(outs, [f"grad_{k}" for k in range(len(outs))])
    return g, dy_names, list(wrt)


def gradcheck_graph(
    graph: Graph,
    feeds: dict,
    *,
    wrt: Sequence[Value] | None = None,
    ort: bool = True,
    opset: int = 17,
    rtol: float | None = None,
    atol: float | None = None,
    eps: float | None = None,
    seed: int = 0,
) -> dict:
    """Checks the gradient of a whole graph (e.g. a layer's trace) against finite differences.

    Builds the gradient graph with ``build_gradient_graph`` (the ops' grad rules, un-broadcasting
    and fan-out summed as the autodiff driver does), evaluates it with the NumPy interpreter and, if
    ``ort``, on onnxruntime at ``opset`` (full ONNX check first). For each ``wrt`` value (default:
    float graph Inputs and trainable Params) and a random direction ``v``, ``<grad, v>`` must match
    the central difference of ``sum_j sum(Y_j * dy_j)`` computed by the interpreter.

    The difference runs in the graph's own dtype, so build the graph in float64 for a tight check;
    a float32 graph is held to the float32 row of ``GRAD_TOLERANCES`` with ``eps`` 1e-2 by default.
    Params are perturbed through the interpreter's ``params`` overrides, never by mutating the
    Variables.

    Args:
        graph: a forward graph with named Inputs and outputs; it is not modified.
        feeds: input name -> array for every graph Input.
        wrt: Values of ``graph`` to differentiate with respect to.
        ort, opset, rtol, atol, eps, seed: as in ``check_op``.

    Returns:
        ``{value id: gradient array}`` from the interpreter, e.g. ``{"%3": array(...)}``.
    """
    ggraph, dy_names, wrt = build_gradient_graph(graph, wrt)
    rng = np.random.default_rng(seed)
    outs = evaluate(graph, feeds)
    dys = {}
    k = 0
    for y, out in zip(graph.outputs, outs):
        if is_float(y.dtype):
            dys[dy_names[k]] = _random_like(rng, out)
            k += 1
    gfeeds = dict(feeds)
    gfeeds.update(dys)
    grads = evaluate(ggraph, gfeeds)
    work = _working_dtype([np.empty(0, v.dtype) for v in wrt])
    grtol, gatol = tolerance(work, rtol, atol, GRAD_TOLERANCES)
    step = eps if eps is not None else (1e-6 if work == "float64" else 1e-2)
    base_params = {n.attrs["variable"].path: n.attrs["variable"].value for n in graph.params()}

    def objective(f, p):
        ys = evaluate(graph, f, params=p)
        total = 0.0
        k = 0
        for y, out in zip(graph.outputs, ys):
            if is_float(y.dtype):
                total += float(np.sum(np.asarray(out, np.float64) * dys[dy_names[k]]))
                k += 1
        return total

    result = {}
    for v, g in zip(wrt, grads):
        if v.node.op == "Input":
            base = np.asarray(feeds[v.name])
        elif v.node.op == "Param":
            base = np.asarray(base_params[v.node.attrs["variable"].path])
        else:
            raise ValueError(f"gradcheck_graph: wrt values must be graph Inputs or Params, received {v!r}")
        if g.shape != base.shape:
            raise AssertionError(f"gradient for {v.id} has shape {g.shape}, expected {base.shape}")
        d = rng.standard_normal(base.shape)
        points = []
        for sign in (1, -1):
            new = (base.astype(np.float64) + sign * step * d).astype(base.dtype)
            f, p = dict(feeds), dict(base_params)
            if v.node.op == "Input":
                f[v.name] = new
            else:
                p[v.node.attrs["variable"].path] = new
            points.append(objective(f, p))
        fd = (points[0] - points[1]) / (2 * step)
        analytic = float(np.sum(g.astype(np.float64) * d))
        scale = max(abs(fd), float(np.sum(np.abs(g.astype(np.float64) * d))))
        if not abs(analytic - fd) <= gatol + grtol * scale:
            raise AssertionError(
                f"graph {graph.name!r}: gradient for {v.id} ({v.node.op} {v.name or ''}) disagrees with finite "
                f"differences: <grad, v> = {analytic!r}, central difference (eps={step}) = {fd!r}")
        result[v.id] = g
    if ort:
        got = run_onnx(ggraph, gfeeds, opset=opset, what=f"gradient of graph {graph.name!r}")
        for v, a, e in zip(wrt, got, grads):
            assert_close(a, e, work, grtol, gatol, what=f"gradient for {v.id}, onnxruntime vs interpreter")
    return result


__all__ = ["DEFAULT_OPSETS", "GRAD_TOLERANCES", "OpCheckReport", "TOLERANCES", "assert_close",
           "build_gradient_graph", "build_op_graph", "check_op", "gradcheck_graph", "run_onnx", "tolerance"]
