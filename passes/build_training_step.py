"""BuildTrainingStep: turns a traced forward + loss graph into ONE training-step graph.

Given a graph holding the model's forward pass (traced in training mode), the loss, the trainable
parameters and an optimizer rule, it appends the backward pass (``passes.autodiff``) and the
optimizer update and sets the graph's signature:

Inputs (besides the batch inputs already in the graph):
    ``optimizer/<variable path>/<slot>``  optimizer state per trainable variable (the optimizer's
                                         device form, ``Optimizer.slot_encoding``)
    ``optimizer/iterations``             int64 scalar: steps taken so far
    ``optimizer/learning_rate``          float32 scalar: the rate for this step
    ``<variable path>``                  every parameter (Param nodes become inputs when lowered
                                         with ``params_as_inputs=True``); with ``device_layouts``,
                                         some trainable ones and their slots in the layout the step
                                         reads (``StepSignature.layouts``, ``passes.param_layouts``);
                                         with ``chunk_params``, large MatMul weights and their slots
                                         as row chunks ``<name>:<start>-<stop>``
                                         (``StepSignature.chunks``, ``passes.param_chunks``)

Outputs, in order:
    ``loss``, ``loss/<output>`` (multi-output), the ``extra`` outputs (``y_pred/<output>``),
    ``new/<variable path>`` per trainable variable (per chunk), ``new/optimizer/<path>/<slot>``,
    ``new/optimizer/iterations``, then ``new/<variable path>`` per non-trainable state update
    (BatchNormalization moving statistics).

The optimizer is duck-typed (passes never import the API): it needs ``slot_names(var)`` and
``emit_updates(entries, lr, step)`` as ``graphc.optimizers.Optimizer`` defines them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graphc.ir import Graph, TensorType, Value, chunk_name
from graphc.ops import Builder

from .autodiff import gradients
from .base import Pass, PassResult
from .param_chunks import StoreParamsInChunks
from .param_layouts import StoreParamsInDeviceLayout

ITERATIONS = "optimizer/iterations"
LEARNING_RATE = "optimizer/learning_rate"


def slot_input_name(path: str, slot: str) -> str:
    return f"optimizer/{path}/{slot}"


def new_name(name: str) -> str:
    return f"new/{name}"


@dataclass
class StepSignature:
    """What the step graph reads and writes, by ONNX name.

    ``state_pairs`` lists (input, output) pairs whose output is the input's next value; inputs not
    in a pair (frozen weights, the batch, the learning rate) are read only.
    """

    batch_inputs: list = field(default_factory=list)
    fetches: list = field(default_factory=list)           # loss, per-output losses, y_pred
    state_pairs: list = field(default_factory=list)       # (input name, output name)
    params: dict = field(default_factory=dict)            # ONNX input name -> Variable
    slots: dict = field(default_factory=dict)             # ONNX input name -> (Variable, slot)
    layouts: dict = field(default_factory=dict)           # ONNX input name -> ParamLayout (device layout)
    chunks: dict = field(default_factory=dict)            # ONNX input name -> (whole name, (start, stop))
    iterations: str = ITERATIONS
    learning_rate: str = LEARNING_RATE


class BuildTrainingStep(Pass):
    """Appends backward pass and optimizer update; see the module docstring for the signature.

    Args:
        builder: the builder the forward pass was traced with (its scopes and params are reused).
        loss: the scalar loss Value.
        trainable: the trainable Variables (frozen ones are simply not listed).
        optimizer: the update rule.
        fetches: (name, Value) pairs returned each step besides the updates (loss first).
        state_updates: (Variable, new Value) pairs from the trace (``Builder.state_updates``).
        device_layouts: keep trainable parameters (and their slots) in the layout the step reads
            them in (``StoreParamsInDeviceLayout``); whoever feeds the step converts with
            ``signature.layouts``.
        chunk_params: keep large trainable MatMul weights (and their slots) as row chunks
            (``StoreParamsInChunks``); the state tensors of a chunked variable are the rows
            ``signature.chunks`` names of its (device-layout) array.
    """

    def __init__(self, builder: Builder, loss: Value, trainable, optimizer, fetches, state_updates=(),
                 device_layouts: bool = False, chunk_params: bool = False):
        self.builder = builder
        self.loss = loss
        self.trainable = list(trainable)
        self.optimizer = optimizer
        self.fetches = list(fetches)
        self.state_updates = list(state_updates)
        self.device_layouts = device_layouts
        self.chunk_params = chunk_params
        self.signature = StepSignature()

    def run(self, graph: Graph) -> PassResult:
        b = self.builder
        sig = self.signature
        sig.batch_inputs = [v.name for v in graph.inputs]
        layouts = {}
        if self.device_layouts:
            # frozen weights are read-only inputs: a layout saves their Transposes too (not the
            # ones the step writes back, such as BatchNormalization's moving statistics)
            skip = {v.uid for v in self.trainable} | {v.uid for v, _ in self.state_updates}
            frozen = [n.attrs["variable"] for n in graph.params() if n.attrs["variable"].uid not in skip]
            store = StoreParamsInDeviceLayout(self.trainable + frozen, builder=b)
            store.run(graph)
            layouts = store.layouts
            sig.layouts.update({v.path: layouts[v.uid] for v in frozen if v.uid in layouts})
        chunks = {}
        if self.chunk_params:
            split = StoreParamsInChunks(self.trainable, builder=b)
            split.run(graph)
            chunks = split.chunks
        # one (variable, rows, param Value) per optimizer entry: a chunked variable has one per chunk
        parts = [(v, rows, p) for v in self.trainable
                 for rows, p in (chunks[v.uid] if v.uid in chunks else [(None, b.param(v))])]
        grads = gradients(graph, self.loss, [p for _, _, p in parts], builder=b)
        with b.activate():
            saved = list(b.scope_stack)
            b.scope_stack[:] = ["optimizer"]
            try:
                step = b.input(ITERATIONS, TensorType("int64", ()))
                lr = b.input(LEARNING_RATE, TensorType("float32", ()))
                entries, names = [], []
                for (var, rows, p), g in zip(parts, grads):
                    if g is None:  # no path to the loss: a zero gradient keeps the rule uniform
                        g = b.constant(np.zeros(p.shape, dtype=var.dtype), dtype=var.dtype)
                    layout = layouts.get(var.uid)
                    pname = var.path if rows is None else chunk_name(var.path, rows)
                    state = [(pname, var.path)]
                    slots = {}
                    for s in self.optimizer.slot_names(var):
                        whole = slot_input_name(var.path, s)
                        name = whole if rows is None else chunk_name(whole, rows)
                        slots[s] = b.input(name, TensorType(var.dtype, p.shape))
                        sig.slots[name] = (var, s)
                        state.append((name, whole))
                    for name, whole in state:
                        if layout is not None:
                            sig.layouts[name] = layout
                        if rows is not None:
                            sig.chunks[name] = (whole, rows)
                    entries.append((var, p, g, slots))
                    names.append(pname)
                results, new_step = self.optimizer.emit_updates(entries, lr, step)
            finally:
                b.scope_stack[:] = saved

        outs, out_names = [], []
        for name, v in self.fetches:
            outs.append(v)
            out_names.append(name)
        sig.fetches = list(out_names)
        for pname, (new_p, _) in zip(names, results):
            outs.append(new_p)
            out_names.append(new_name(pname))
            sig.state_pairs.append((pname, new_name(pname)))
        for (_, _, _, slots), (_, new_slots) in zip(entries, results):
            for s, slot_in in slots.items():
                name = slot_in.node.attrs["name"]
                outs.append(new_slots[s])
                out_names.append(new_name(name))
                sig.state_pairs.append((name, new_name(name)))
        outs.append(new_step)
        out_names.append(new_name(ITERATIONS))
        sig.state_pairs.append((ITERATIONS, new_name(ITERATIONS)))
        trainable_ids = {v.uid for v in self.trainable}
        for var, value in self.state_updates:
            if var.uid in trainable_ids:
                raise ValueError(f"BuildTrainingStep: {var.path} is trainable and also has a state update")
            if value.dtype != var.dtype:
                with b.activate():
                    from graphc.ops import cast

                    value = cast(value, var.dtype)
            outs.append(value)
            out_names.append(new_name(var.path))
            sig.state_pairs.append((var.path, new_name(var.path)))
        graph.set_outputs(outs, out_names)
        for n in graph.params():
            var, rows = n.attrs["variable"], n.attrs.get("rows")
            sig.params[var.path if rows is None else chunk_name(var.path, rows)] = var
        return PassResult(graph, True, {"trainable": len(self.trainable), "state_updates": len(self.state_updates)})

