"""The training step's host side: the step executor with the bookkeeping that keeps the layers'
Variables, the optimizer and the device state coherent (``_TrainState``), the conversion of host
values to the step's inputs (optimizer slots' device form, parameters' device layouts), and the
running loss and metric means of an epoch (``_Tracker``).

A chunked parameter (``passes.param_chunks``) is several step inputs, one per block of rows of its
device-layout array, and so are its optimizer slots (``StepSignature.chunks``): host values are
converted once and sliced on the way in, and the chunks are joined on the way out.
"""
from __future__ import annotations

import numpy as np

from graphc.ir import chunk_name

Y_PRED = "y_pred/"
SAMPLE_WEIGHT = "sample_weight/"


def _initial_state(model, graph, sig, proto) -> dict:
    """Current host values for every non-batch input of the step graph, by ONNX name (optimizer slots
    in the device form the graph reads)."""
    opt = model.optimizer
    names = _param_onnx_names(graph, proto)
    host = {onnx_name: var.value for onnx_name, var in names.items()}
    for name, (var, slot) in sig.slots.items():
        host[name] = opt._device_slots[var.uid][slot]
    state = _to_step_all(sig, host)
    state[sig.iterations] = np.asarray(opt.iterations, np.int64)
    return state


def _to_step_all(sig, host: dict) -> dict:
    """Host arrays (Keras layout) by step input name, as the step graph reads them. The chunks of one
    array are cut from one conversion of it."""
    out, whole = {}, {}
    for name, a in host.items():
        layout = sig.layouts.get(name)
        chunk = sig.chunks.get(name)
        if chunk is None:
            out[name] = np.array(a) if layout is None else layout.to_device(a)
            continue
        key = (id(a), chunk[0])
        if key not in whole:
            whole[key] = (a, np.asarray(a) if layout is None else layout.to_device(a))  # ``a`` kept: id stays unique
        start, stop = chunk[1]
        out[name] = np.array(whole[key][1][start:stop])
    return out


def _from_step_all(sig, state: dict) -> dict:
    """The step's state by name in Keras' layout; the chunks of an array are joined under its whole name
    (``sig.chunks``)."""
    out, parts = {}, {}
    for name, a in state.items():
        chunk = sig.chunks.get(name)
        if chunk is None:
            layout = sig.layouts.get(name)
            out[name] = a if layout is None else layout.from_device(a)
        else:
            parts.setdefault(chunk[0], []).append((chunk[1], name, a))
    for whole, pieces in parts.items():
        pieces.sort(key=lambda t: t[0])
        stops = [rows[1] for rows, _, _ in pieces]
        if [rows[0] for rows, _, _ in pieces] != [0] + stops[:-1]:
            raise RuntimeError(f"training step: the chunks of {whole!r} do not tile its rows: "
                               f"{[rows for rows, _, _ in pieces]}")
        a = np.concatenate([p for _, _, p in pieces], axis=0)
        layout = sig.layouts.get(pieces[0][1])
        out[whole] = a if layout is None else layout.from_device(a)
    return out


def _whole_name(sig, name: str) -> str:
    chunk = sig.chunks.get(name)
    return name if chunk is None else chunk[0]


def _param_onnx_names(graph, proto) -> dict:
    n_user = len(graph.inputs)
    nodes = graph.params()
    onnx_names = [i.name for i in proto.graph.input[n_user:]]
    out = {}
    for name, node in zip(onnx_names, nodes):
        var, rows = node.attrs["variable"], node.attrs.get("rows")
        expected = var.path if rows is None else chunk_name(var.path, rows)
        if name != expected:
            raise RuntimeError(f"training step: parameter {expected!r} was lowered as {name!r}; variable paths must "
                               "be unique within a model")
        out[name] = var
    return out


def nan_loss_error(loss: float, epoch: int, step: int, rows: int) -> FloatingPointError:
    """fit's error for a non-finite loss (0-based ``epoch`` and ``step``), raised after the step is undone."""
    return FloatingPointError(
        f"fit: the loss became {loss} at epoch {epoch + 1}, step {step + 1} (batch of {rows} samples); training "
        "stopped and the weights are those from before that step. Lower the learning rate, check the inputs for "
        "NaN/inf, or scale them.")


class _TrainState:
    """The step executor plus the bookkeeping that keeps host and device copies coherent."""

    def __init__(self, model, graph, sig, trainable, device, key):
        from graphc.onnx import to_onnx
        from runtime.train_step import TrainStepExecutor

        self.key = key
        self.model = model
        self.optimizer = model.optimizer
        self.sig = sig
        self.proto = to_onnx(graph, params_as_inputs=True)
        params = _param_onnx_names(graph, self.proto)
        paired = {i for i, _ in sig.state_pairs}
        self.vars = {n: v for n, v in params.items() if n in paired}          # updated on the device
        self.readonly_vars = {n: v for n, v in params.items() if n not in paired}
        initial = _initial_state(model, graph, sig, self.proto)
        self.feeds = list(sig.batch_inputs) + [sig.learning_rate]
        self.fetch_index = {name: i for i, name in enumerate(sig.fetches)}
        self.executor = TrainStepExecutor(self.proto, sig.state_pairs, initial, self.feeds, sig.fetches,
                                          device=device, threads=getattr(model, "_threads", None))
        self.host = {n: v._value for n, v in params.items()}
        self._plans: dict = {}  # batch rows -> the executor's StepPlan
        self.iterations = int(self.optimizer._iterations)
        self.opt_version = self.optimizer._version
        self.dirty = False

    def refresh(self) -> None:
        """Uploads host values the user changed since the last sync (set_weights, set_state)."""
        host = {}
        for n, v in list(self.vars.items()) + list(self.readonly_vars.items()):
            hook = v._sync_hook
            if hook is not None and hook != self.sync:
                v.value  # another model sharing this layer trained it: bring its state home first
            if v._sync_hook is None and v._value is not self.host[n]:
                host[n] = self.host[n] = v._value
        optimizer_changed = self.optimizer._version != self.opt_version
        if optimizer_changed:
            self.sync()
            for name, (var, slot) in self.sig.slots.items():
                host[name] = self.optimizer._device_slots[var.uid][slot]
        changed = _to_step_all(self.sig, host) if host else {}
        if optimizer_changed:
            changed[self.sig.iterations] = np.asarray(self.optimizer._iterations, np.int64)
            self.iterations = int(self.optimizer._iterations)
            self.opt_version = self.optimizer._version
        if changed:
            self.executor.write_state(changed)

    def step(self, batch: dict) -> list:
        self.refresh()
        feeds = dict(batch)
        feeds[self.sig.learning_rate] = np.asarray(self.optimizer._lr_at(self.iterations), np.float32)
        outs = self.executor.run(feeds)
        self._stepped()
        return outs

    def plan_for(self, data: dict, rows: int):
        """The executor's StepPlan for batches of ``rows`` rows of ``data`` (cached per size)."""
        plan = self._plans.get(rows)
        if plan is None:
            shapes = {name: (rows,) + np.shape(data[name])[1:] for name in self.sig.batch_inputs}
            shapes[self.sig.learning_rate] = ()
            plan = self._plans[rows] = self.executor.plan(shapes)
        return plan

    def plan_for_batch(self, batch: dict):
        """The StepPlan for one batch's own shapes (batches from an iterable may differ in any axis)."""
        shapes = {name: np.shape(batch[name]) for name in self.sig.batch_inputs}
        shapes[self.sig.learning_rate] = ()
        return self.executor.plan(shapes)

    def run_plan(self, plan, refresh: bool = True) -> list:
        """One step on the batch already in ``plan.feeds``; returns ``plan.fetches`` (reused buffers).

        ``refresh=False`` skips the check for host-side changes, for loops where no user code ran
        since the last step.
        """
        if refresh:
            self.refresh()
        plan.feeds[self.sig.learning_rate][()] = self.optimizer._lr_at(self.iterations)
        outs = self.executor.run_plan(plan)
        self._stepped()
        return outs

    def _stepped(self) -> None:
        self.iterations += 1
        if not self.dirty:
            self.dirty = True
            for v in self.vars.values():
                v._sync_hook = self.sync
            self.optimizer._sync_hook = self.sync
            self.optimizer._live_iterations = lambda: self.iterations

    def undo_last_step(self) -> None:
        """Drops the last step's updates (a NaN step) and syncs the state from before it."""
        self.executor.rollback()
        self.iterations -= 1
        self.sync()

    def sync(self) -> None:
        """Copies the device state into the Variables and the optimizer (once per dirty period)."""
        if not self.dirty:
            return
        self.dirty = False
        state = _from_step_all(self.sig, self.executor.read_state([n for n, _ in self.sig.state_pairs]))
        done, kept = set(), set()
        for n, v in self.vars.items():
            if v.uid not in done:  # once per variable (a chunked one has several names)
                done.add(v.uid)
                if v._sync_hook is None and v._value is not self.host[n]:
                    # assigned on the host after the last step (set_weights on one layer, then another
                    # layer's weights read): the assignment wins, and the next step's refresh uploads it
                    kept.add(v.uid)
                    continue
                v._sync_hook = None
                v._set_from_device(state[_whole_name(self.sig, n)])
            if v.uid not in kept:
                self.host[n] = v._value
        slots: dict = {}
        for name, (var, slot) in self.sig.slots.items():
            slots.setdefault(var.uid, {})[slot] = state[_whole_name(self.sig, name)]
        self.optimizer._sync_hook = None
        self.optimizer._live_iterations = None
        self.optimizer._write_from_device(int(state[self.sig.iterations]), slots)
        self.iterations = int(self.optimizer._iterations)
        self.opt_version = self.optimizer._version


class _Tracker:
    """Running, batch-size-weighted loss means and host-side metrics over an epoch."""

    def __init__(self, model, r):
        self.r = r
        self.keys = model._log_keys(r)
        self.multi = len(r["names"]) > 1
        self.count = 0
        self.sums: dict = {}
        for n in r["names"]:
            for obj, _ in r["metrics"][n]:
                obj.reset_state()

    def update(self, outs, batch, index) -> None:
        r = self.r
        first = next(iter(batch.values()))
        m = len(first)
        self.count += m
        self.sums["loss"] = self.sums.get("loss", 0.0) + float(outs[index["loss"]]) * m
        if self.multi:
            for n in r["names"]:
                if r["losses"][n] is not None:
                    k = f"{n}_loss"
                    self.sums[k] = self.sums.get(k, 0.0) + float(outs[index[f"loss/{n}"]]) * m
        for n in r["names"]:
            if not r["metrics"][n]:
                continue
            y_pred = outs[index[Y_PRED + n]]
            y_true = batch.get(n)
            sw = batch.get(SAMPLE_WEIGHT + n)
            for obj, weighted in r["metrics"][n]:
                obj.update_state(y_true, y_pred, sample_weight=sw if weighted else None)

    def logs(self) -> dict:
        out = {}
        for k in self.keys:
            if k in self.sums:
                out[k] = self.sums[k] / max(self.count, 1)
        for n in self.r["names"]:
            for obj, _ in self.r["metrics"][n]:
                out[f"{n}_{obj.name}" if self.multi else obj.name] = float(obj.result())
        return out
