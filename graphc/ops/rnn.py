"""LSTM: ONNX's LSTM op (forward, one direction) and its gradient as a reverse Scan.

``LSTM(X, W, R, [B], [initial_h], [initial_c]; hidden_size, activations) -> (Y, Y_h, Y_c)`` has
ONNX's semantics and layout 0 (sequence-major): X ``[T, N, I]``, W ``[1, 4H, I]``, R ``[1, 4H, H]``,
B ``[1, 8H]`` (input biases then recurrent biases), states ``[1, N, H]``, Y ``[T, 1, N, H]``. Gate
order is ONNX's **i, o, f, c** (Keras' is i, f, c, o: the LSTM layer permutes its weights in the
graph). The IR has no ``sequence_lens`` input (every sequence runs its full length); the lowering
leaves that ONNX slot empty. ``activations`` = (f, g, h) with f for the gates, g for the cell
candidate, h for the output; graphc supports Sigmoid, Tanh and Relu (onnxruntime's kernel takes
these without alpha/beta).

The gradient (``LSTMGrad``) follows ``ONNX_TRAINING_NOTES.md`` §1.7, in standard ONNX ops only
(stock onnxruntime has no LSTMGrad kernel):

1. previous hidden states ``Hprev = [h0, Y[:-1]]`` and all gate pre-activations in one batched
   MatMul, ``A = X W^T + Hprev R^T + (Wb + Rb)``; the activated gates elementwise;
2. ``Scan`` #1 (forward, elementwise only) rebuilds the cell states ``c_t = f c_{t-1} + i g``;
3. ``Scan`` #2 (reversed) carries ``(dh, dc)`` and emits the pre-activation gate gradients
   ``dA_t``; ``dh_{t-1} = dA_t R`` is the one MatMul per step;
4. ``dX = dA W``, ``dW = dA^T X``, ``dR = dA^T Hprev`` (two Gemms over the flattened time and batch
   axes), ``dB = sum dA`` for both bias halves, ``dh0``/``dc0`` are Scan #2's final states.

Its NumPy reference is a plain BPTT loop; the gradient check holds the two against finite
differences of the forward reference. Derivatives are written for f = Sigmoid and g = h = Tanh (the
Keras defaults); other activations raise NotImplementedError in the gradient rule.
"""
from __future__ import annotations

import numpy as np

from graphc.ir import TensorType, is_float
from graphc.ir.types import dims_equal

from .base import OpDef, emit, register_op

_ACTS = {
    "Sigmoid": lambda x: 0.5 * (1 + np.tanh(0.5 * x)),
    "Tanh": np.tanh,
    "Relu": lambda x: np.maximum(x, 0),
}
DEFAULT_ACTIVATIONS = ("Sigmoid", "Tanh", "Tanh")


def _check_dim(what, got, want):
    if dims_equal(got, want) is False:
        raise ValueError(f"LSTM: {what} is {got}, expected {want}")


@register_op
class LSTM(OpDef):
    """ONNX LSTM, forward direction, layout 0. Outputs Y (all hidden states), Y_h, Y_c."""

    def infer(self, x, w, r, b=None, initial_h=None, initial_c=None, hidden_size=None,
              activations=DEFAULT_ACTIVATIONS):
        if hidden_size is None:
            raise ValueError("LSTM needs hidden_size")
        h = int(hidden_size)
        for t, what in ((x, "X"), (w, "W"), (r, "R"), (b, "B"), (initial_h, "initial_h"), (initial_c, "initial_c")):
            if t is not None and (not is_float(t.dtype) or t.dtype != x.dtype):
                raise TypeError(f"LSTM: {what} must be a float tensor of X's dtype {x.dtype}, received {t.dtype}")
        if x.rank != 3 or w.rank != 3 or r.rank != 3:
            raise ValueError(f"LSTM: X, W, R must have rank 3, received {x.shape}, {w.shape}, {r.shape}")
        for got, want, what in ((w.shape[0], 1, "W axis 0"), (w.shape[1], 4 * h, "W axis 1"),
                                (w.shape[2], x.shape[2], "W axis 2 (input size)"), (r.shape[0], 1, "R axis 0"),
                                (r.shape[1], 4 * h, "R axis 1"), (r.shape[2], h, "R axis 2")):
            _check_dim(what, got, want)
        if b is not None:
            if b.rank != 2:
                raise ValueError(f"LSTM: B must have rank 2, received {b.shape}")
            _check_dim("B axis 1", b.shape[1], 8 * h)
        for s, what in ((initial_h, "initial_h"), (initial_c, "initial_c")):
            if s is not None:
                if s.rank != 3:
                    raise ValueError(f"LSTM: {what} must have rank 3, received {s.shape}")
                _check_dim(f"{what} axis 1 (batch)", s.shape[1], x.shape[1])
                _check_dim(f"{what} axis 2", s.shape[2], h)
        if len(activations) != 3 or any(a not in _ACTS for a in activations):
            raise NotImplementedError(f"LSTM: activations must be 3 of {sorted(_ACTS)}, received {activations}")
        t, n = x.shape[0], x.shape[1]
        return (TensorType(x.dtype, (t, 1, n, h)), TensorType(x.dtype, (1, n, h)), TensorType(x.dtype, (1, n, h)))

    def ref(self, x, w, r, b=None, initial_h=None, initial_c=None, hidden_size=None,
            activations=DEFAULT_ACTIVATIONS):
        y, _, y_h, y_c = lstm_forward(x, w, r, b, initial_h, initial_c, int(hidden_size), activations)
        return y, y_h, y_c

    def lower(self, ctx, node):
        ins = list(ctx.inputs[:3])
        ins.append(ctx.inputs[3] if len(ctx.inputs) > 3 else "")
        ins.append("")  # sequence_lens
        ins += ctx.inputs[4:6]
        while ins and ins[-1] == "":
            ins.pop()
        acts = list(node.attrs.get("activations", DEFAULT_ACTIVATIONS))
        ctx.emit("LSTM", ins, ctx.outputs, hidden_size=int(node.attrs["hidden_size"]),
                 activations=acts if tuple(acts) != DEFAULT_ACTIVATIONS else None)

    def grad(self, node, dys):
        from .nn import zeros_like

        acts = tuple(node.attrs.get("activations", DEFAULT_ACTIVATIONS))
        if acts != DEFAULT_ACTIVATIONS:
            raise NotImplementedError(f"LSTM gradient: only activations {DEFAULT_ACTIVATIONS} (Keras' defaults "
                                      f"tanh / sigmoid) are supported, received {acts}")
        ins = list(node.inputs) + [None] * (6 - len(node.inputs))
        x, w, r, b, h0, c0 = ins
        y, yh, yc = node.outputs
        h = int(node.attrs["hidden_size"])
        bias = b if b is not None else np.zeros((1, 8 * h), x.dtype)
        h0v = h0 if h0 is not None else zeros_like(yh)
        c0v = c0 if c0 is not None else zeros_like(yc)
        dy, dyh, dyc = [d if d is not None else zeros_like(v) for d, v in zip(dys, (y, yh, yc))]
        dx, dw, dr, db, dh0, dc0 = emit("LSTMGrad", x, w, r, bias, h0v, c0v, y, dy, dyh, dyc, hidden_size=h)
        return [dx, dw, dr, db if b is not None else None, dh0 if h0 is not None else None,
                dc0 if c0 is not None else None][:len(node.inputs)]


def lstm_forward(x, w, r, b, initial_h, initial_c, h, activations=DEFAULT_ACTIVATIONS):
    """NumPy LSTM in ONNX layout and gate order.

    Returns:
        Y ``[T, 1, N, H]`` (every hidden state), C ``[T, 1, N, H]`` (every cell state), and the final
        states Y_h, Y_c ``[1, N, H]``.
    """
    f, g, hh = (_ACTS[a] for a in activations)
    t_len, n = x.shape[0], x.shape[1]
    w2, r2 = w[0], r[0]
    bias = (b[0, :4 * h] + b[0, 4 * h:]) if b is not None else np.zeros(4 * h, x.dtype)
    hs = initial_h[0] if initial_h is not None else np.zeros((n, h), x.dtype)
    cs = initial_c[0] if initial_c is not None else np.zeros((n, h), x.dtype)
    ys, cells = [], []
    for t in range(t_len):
        a = x[t] @ w2.T + hs @ r2.T + bias
        i, o, fg, c = f(a[:, :h]), f(a[:, h:2 * h]), f(a[:, 2 * h:3 * h]), g(a[:, 3 * h:])
        cs = fg * cs + i * c
        hs = o * hh(cs)
        ys.append(hs)
        cells.append(cs)
    shape = (0, 1, n, h)
    y = np.stack(ys)[:, None].astype(x.dtype) if ys else np.zeros(shape, x.dtype)
    c_all = np.stack(cells)[:, None].astype(x.dtype) if cells else np.zeros(shape, x.dtype)
    return y, c_all, hs[None].astype(x.dtype), cs[None].astype(x.dtype)


@register_op
class LSTMGrad(OpDef):
    """Gradients of ``LSTM`` (Sigmoid/Tanh/Tanh) by reverse Scan; see the module docstring.

    Inputs: X, W, R, B, initial_h, initial_c, Y (the forward's all-steps output), dY, dY_h, dY_c.
    Outputs: dX, dW, dR, dB, d initial_h, d initial_c, each with its input's type.
    """

    differentiable = False  # second derivatives of LSTM are not supported

    def infer(self, x, w, r, b, h0, c0, y, dy, dyh, dyc, hidden_size):
        LSTM().infer(x, w, r, b, h0, c0, hidden_size=hidden_size)
        return x, w, r, b, h0, c0

    def ref(self, x, w, r, b, h0, c0, y, dy, dyh, dyc, hidden_size):
        h = int(hidden_size)
        sig, tanh = _ACTS["Sigmoid"], np.tanh
        t_len = x.shape[0]
        w2, r2 = w[0], r[0]
        bias = b[0, :4 * h] + b[0, 4 * h:]
        hs = y[:, 0]
        hprev = np.concatenate([h0, hs[:-1]], axis=0) if t_len else hs
        a = x @ w2.T + hprev @ r2.T + bias
        i, o, f, g = sig(a[..., :h]), sig(a[..., h:2 * h]), sig(a[..., 2 * h:3 * h]), tanh(a[..., 3 * h:])
        cells, c = [], c0[0]
        for t in range(t_len):
            c = f[t] * c + i[t] * g[t]
            cells.append(c)
        cs = np.stack(cells) if cells else np.zeros_like(hs)
        cprev = np.concatenate([c0, cs[:-1]], axis=0) if t_len else cs
        dh, dc = dyh[0].copy(), dyc[0].copy()
        da = np.zeros_like(a)
        for t in reversed(range(t_len)):
            dh_tot = dh + dy[t, 0]
            tc = tanh(cs[t])
            dc_tot = dc + dh_tot * o[t] * (1 - tc * tc)
            da[t, :, :h] = dc_tot * g[t] * i[t] * (1 - i[t])
            da[t, :, h:2 * h] = dh_tot * tc * o[t] * (1 - o[t])
            da[t, :, 2 * h:3 * h] = dc_tot * cprev[t] * f[t] * (1 - f[t])
            da[t, :, 3 * h:] = dc_tot * i[t] * (1 - g[t] * g[t])
            dh = da[t] @ r2
            dc = dc_tot * f[t]
        dx = da @ w2
        flat = da.reshape(-1, 4 * h)
        dw = (flat.T @ x.reshape(-1, x.shape[-1]))[None]
        dr = (flat.T @ hprev.reshape(-1, h))[None]
        dbias = flat.sum(axis=0)
        db = np.concatenate([dbias, dbias])[None]
        dt = x.dtype
        return (dx.astype(dt), dw.astype(dt), dr.astype(dt), db.astype(dt), dh[None].astype(dt),
                dc[None].astype(dt))

    def lower(self, ctx, node):
        h = int(node.attrs["hidden_size"])
        x, w, r, b, h0, c0, y, dy, dyh, dyc = ctx.inputs
        dt = ctx.input_types[0].dtype
        xt = ctx.input_types[0]
        n_dim = xt.shape[1]
        e = ctx.emit

        def c64(values, hint):
            return ctx.const(np.asarray(values, np.int64), hint)

        def sl(v, start, end, axis):
            return e("Slice", [v, c64([start], "start"), c64([end], "end"), c64([axis], "axis")], 1)[0]

        ax0, ax1 = c64([0], "axes0"), c64([1], "axes1")
        w2 = e("Squeeze", [w, ax0], 1)[0]
        r2 = e("Squeeze", [r, ax0], 1)[0]
        hs = e("Squeeze", [y, ax1], 1)[0]                                   # [T, N, H]
        dys = e("Squeeze", [dy, ax1], 1)[0]
        hprev = e("Concat", [h0, sl(hs, 0, -1, 0)], 1, axis=0)[0]          # [T, N, H]
        bias = e("Add", [sl(b, 0, 4 * h, 1), sl(b, 4 * h, 8 * h, 1)], 1)[0]  # [1, 4H]
        wt = e("Transpose", [w2], 1, perm=[1, 0])[0]
        rt = e("Transpose", [r2], 1, perm=[1, 0])[0]
        a = e("Add", [e("Add", [e("MatMul", [x, wt], 1)[0], e("MatMul", [hprev, rt], 1)[0]], 1)[0], bias], 1)[0]
        gi = e("Sigmoid", [sl(a, 0, h, 2)], 1)[0]
        go = e("Sigmoid", [sl(a, h, 2 * h, 2)], 1)[0]
        gf = e("Sigmoid", [sl(a, 2 * h, 3 * h, 2)], 1)[0]
        gg = e("Tanh", [sl(a, 3 * h, 4 * h, 2)], 1)[0]
        one = ctx.const(np.ones((), dt), "one")

        def dsig(v):
            return e("Mul", [v, e("Sub", [one, v], 1)[0]], 1)[0]

        state = (dt, (n_dim, h))
        step = (dt, (n_dim, h))
        # Scan 1: c_t = f_t * c_{t-1} + i_t * g_t
        ig = e("Mul", [gi, gg], 1)[0]

        def cell_body(b_ctx, names):
            c_prev, f_t, ig_t = names
            c_new = b_ctx.emit("Add", [b_ctx.emit("Mul", [f_t, c_prev], 1)[0], ig_t], 1)[0]
            return [c_new, c_new]

        body1 = ctx.subgraph("lstm_grad_cells", [("c_prev", *state), ("f_t", *step), ("ig_t", *step)],
                             [state, step], cell_body)
        c0s = e("Squeeze", [c0, ax0], 1)[0]
        _, cs = e("Scan", [c0s, gf, ig], 2, body=body1, num_scan_inputs=2)
        cprev = e("Concat", [c0, sl(cs, 0, -1, 0)], 1, axis=0)[0]
        tc = e("Tanh", [cs], 1)[0]
        k = e("Mul", [go, e("Sub", [one, e("Mul", [tc, tc], 1)[0]], 1)[0]], 1)[0]   # dc/dh through h = o tanh(c)
        p_i = e("Mul", [gg, dsig(gi)], 1)[0]
        p_o = e("Mul", [tc, dsig(go)], 1)[0]
        p_f = e("Mul", [cprev, dsig(gf)], 1)[0]
        p_g = e("Mul", [gi, e("Sub", [one, e("Mul", [gg, gg], 1)[0]], 1)[0]], 1)[0]

        # Scan 2, reversed: state (dh, dc); emits dA_t = d(pre-activations) in gate order i, o, f, c
        def grad_body(b_ctx, names):
            dh, dc, dy_t, k_t, pi_t, po_t, pf_t, pg_t, f_t = names
            be = b_ctx.emit
            dh_tot = be("Add", [dh, dy_t], 1)[0]
            dc_tot = be("Add", [dc, be("Mul", [dh_tot, k_t], 1)[0]], 1)[0]
            da = be("Concat", [be("Mul", [dc_tot, pi_t], 1)[0], be("Mul", [dh_tot, po_t], 1)[0],
                               be("Mul", [dc_tot, pf_t], 1)[0], be("Mul", [dc_tot, pg_t], 1)[0]], 1, axis=1)[0]
            dh_prev = be("MatMul", [da, r2], 1)[0]
            dc_prev = be("Mul", [dc_tot, f_t], 1)[0]
            return [dh_prev, dc_prev, da]

        names = ("dh", "dc", "dy_t", "k_t", "pi_t", "po_t", "pf_t", "pg_t", "f_t")
        body2 = ctx.subgraph("lstm_grad_steps", [(n, *(state if j < 2 else step)) for j, n in enumerate(names)],
                             [state, state, (dt, (n_dim, 4 * h))], grad_body)
        dh_t = e("Squeeze", [dyh, ax0], 1)[0]
        dc_t = e("Squeeze", [dyc, ax0], 1)[0]
        dh0, dc0, da_all = e("Scan", [dh_t, dc_t, dys, k, p_i, p_o, p_f, p_g, gf], 3, body=body2,
                             num_scan_inputs=7, scan_input_directions=[1] * 7, scan_output_directions=[1])
        out_dx, out_dw, out_dr, out_db, out_dh0, out_dc0 = ctx.outputs
        e("MatMul", [da_all, w2], [out_dx])
        da_flat = e("Reshape", [da_all, c64([-1, 4 * h], "shape")], 1)[0]
        x_flat = e("Reshape", [x, c64([-1, xt.shape[2]], "shape")], 1)[0]
        hp_flat = e("Reshape", [hprev, c64([-1, h], "shape")], 1)[0]
        e("Unsqueeze", [e("Gemm", [da_flat, x_flat], 1, transA=1)[0], ax0], [out_dw])
        e("Unsqueeze", [e("Gemm", [da_flat, hp_flat], 1, transA=1)[0], ax0], [out_dr])
        db_half = e("ReduceSum", [da_flat, ax0], 1, keepdims=1)[0]                       # [1, 4H]
        e("Concat", [db_half, db_half], [out_db], axis=1)
        e("Unsqueeze", [dh0, ax0], [out_dh0])
        e("Unsqueeze", [dc0, ax0], [out_dc0])


@register_op
class Reverse(OpDef):
    """Y = X flipped along ``axis`` (time reversal for ``go_backwards``); any size, symbolic too.

    Lowered to a step -1 Slice over the whole axis. dX = Reverse(dY).
    """

    def infer(self, x, axis=0):
        from .base import normalize_axis

        normalize_axis(axis, x.rank)
        return x

    def ref(self, x, axis=0):
        return np.flip(x, axis).copy()

    def lower(self, ctx, node):
        rank = ctx.input_types[0].rank
        axis = int(node.attrs.get("axis", 0)) % rank
        c = lambda v, hint: ctx.const(np.asarray([v], np.int64), hint)  # noqa: E731
        ctx.emit("Slice", [ctx.inputs[0], c(-1, "start"), c(np.iinfo(np.int64).min, "end"), c(axis, "axis"),
                           c(-1, "step")], ctx.outputs)

    def grad(self, node, dys):
        return [reverse(dys[0], node.attrs.get("axis", 0))]


def reverse(x, axis=0):
    return emit("Reverse", x, axis=int(axis))


def lstm(x, w, r, b=None, initial_h=None, initial_c=None, hidden_size=None, activations=DEFAULT_ACTIVATIONS):
    """Applies the ONNX-layout LSTM; returns (Y, Y_h, Y_c)."""
    args = [x, w, r, b, initial_h, initial_c]
    while args and args[-1] is None:
        args.pop()
    acts = tuple(activations)
    return emit("LSTM", *args, hidden_size=int(hidden_size),
                activations=None if acts == DEFAULT_ACTIVATIONS else acts)
