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
                                         reads (``StepSignature.layouts``, ``passes.param_layouts``)

Outputs, in order:
    ``loss``, ``loss/<output>`` (multi-output), the ``extra`` outputs (``y_pred/<output>``),
    ``new/<variable path>`` per trainable variable, ``new/optimizer/<path>/<slot>``,
    ``new/optimizer/iterations``, then ``new/<variable path>`` per non-trainable state update
    (BatchNormalization moving statistics).

The optimizer is duck-typed (passes never import the API): it needs ``slot_names(var)`` and
``emit_updates(entries, lr, step)`` as ``graphc.optimizers.Optimizer`` defines them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graphc.ir import Graph, TensorType, Value
from graphc.ops import Builder

from .autodiff import gradients
from .base import Pass, PassResult
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
    """

    def __init__(self, builder: Builder, loss: Value, trainable, optimizer, fetches, state_updates=(),
                 device_layouts: bool = False):
        self.builder = builder
        self.loss = loss
        self.trainable = list(trainable)
        self.optimizer = optimizer
        self.fetches = list(fetches)
        self.state_updates = list(state_updates)
        self.device_layouts = device_layouts
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
        params = [b.param(v) for v in self.trainable]
        grads = gradients(graph, self.loss, params, builder=b)
        with b.activate():
            saved = list(b.scope_stack)
            b.scope_stack[:] = ["optimizer"]
            try:
                step = b.input(ITERATIONS, TensorType("int64", ()))
                lr = b.input(LEARNING_RATE, TensorType("float32", ()))
                entries = []
                for var, p, g in zip(self.trainable, params, grads):
                    if g is None:  # no path to the loss: a zero gradient keeps the rule uniform
                        g = b.constant(np.zeros(p.shape, dtype=var.dtype), dtype=var.dtype)
                    layout = layouts.get(var.uid)
                    if layout is not None:
                        sig.layouts[var.path] = layout
                    slots = {}
                    for s in self.optimizer.slot_names(var):
                        name = slot_input_name(var.path, s)
                        slots[s] = b.input(name, TensorType(var.dtype, p.shape))
                        sig.slots[name] = (var, s)
                        if layout is not None:
                            sig.layouts[name] = layout
                    entries.append((var, p, g, slots))
                results, new_step = self.optimizer.emit_updates(entries, lr, step)
            finally:
                b.scope_stack[:] = saved

        outs, names = [], []
        for name, v in self.fetches:
            outs.append(v)
            names.append(name)
        sig.fetches = list(names)
        for (var, _, _, slots), (new_p, new_slots) in zip(entries, results):
            outs.append(new_p)
            names.append(new_name(var.path))
            sig.state_pairs.append((var.path, new_name(var.path)))
        for (var, _, _, slots), (new_p, new_slots) in zip(entries, results):
            for s in slots:
                name = slot_input_name(var.path, s)
                outs.append(new_slots[s])
                names.append(new_name(name))
                sig.state_pairs.append((name, new_name(name)))
        outs.append(new_step)
        names.append(new_name(ITERATIONS))
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
            names.append(new_name(var.path))
            sig.state_pairs.append((var.path, new_name(var.path)))
        graph.set_outputs(outs, names)
        for n in graph.params():
            var = n.attrs["variable"]
            sig.params[var.path] = var
        return PassResult(graph, True, {"trainable": len(self.trainable), "state_updates": len(self.state_updates)})

