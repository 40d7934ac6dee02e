"""Functional models: a DAG of recorded layer calls from ``inputs`` to ``outputs``, replayed when traced."""
from __future__ import annotations

from graphc import tree
from graphc.ir import Value
from graphc.layers.input_layer import InputLayer
from graphc.tensor import KerasTensor

from .model import Model


def _producer(t: KerasTensor):
    layer, node_index, _ = t._keras_history
    return layer._inbound_nodes[node_index]


def nested_input_aliases(flat_inputs: list) -> dict:
    """Maps the Input tensors of nested Functional models to the tensors they are called on.

    Walking forward from ``flat_inputs``, every call of a graph model (a Functional or built Sequential
    used as a layer) binds its own Input tensors to that call's input tensors. With this map a model
    can output a tensor from inside a nested model (feature extraction through ``encoder`` in
    ``autoencoder``), which Keras refuses as "Graph disconnected".
    """
    aliases: dict = {}
    ambiguous: set = set()
    seen: set = set()
    frontier = list(flat_inputs)
    while frontier:
        t = frontier.pop()
        for node in getattr(t, "_consumers", []):
            if id(node) in seen:
                continue
            seen.add(id(node))
            inner = getattr(node.layer, "_functional", None) or node.layer
            if isinstance(inner, Functional):
                for a, b in zip(inner._flat_inputs, node.input_tensors):
                    if id(a) in aliases and aliases[id(a)] is not b:
                        ambiguous.add(id(a))
                    aliases[id(a)] = b
                frontier.extend(inner._flat_inputs)
            frontier.extend(node.output_tensors)
    for k in ambiguous:
        del aliases[k]
    return aliases


def collect_nodes(flat_inputs: list, flat_outputs: list, model_name: str, aliases: dict | None = None) -> list:
    """The call nodes between inputs and outputs in topological order; raises on a disconnected graph.

    ``aliases`` (from ``nested_input_aliases``) lets the walk continue from a nested model's Input
    to the outer tensor that feeds it.
    """
    aliases = aliases or {}
    input_ids = {id(t) for t in flat_inputs}
    order, state = [], {}

    def resolve(t):
        while id(t) not in input_ids and id(t) in aliases:
            t = aliases[id(t)]
        return t

    def visit(node, via):
        key = id(node)
        if state.get(key) == 2:
            return
        if state.get(key) == 1:
            raise ValueError(f'Model "{model_name}": the layer graph has a cycle at layer "{node.layer.name}"')
        state[key] = 1
        for t in node.input_tensors:
            t = resolve(t)
            if id(t) in input_ids:
                continue
            parent = _producer(t)
            if isinstance(parent.layer, InputLayer):
                raise ValueError(
                    f'Graph disconnected: cannot obtain value for tensor {t.name} needed by layer '
                    f'"{node.layer.name}". The input "{parent.layer.name}" is missing from inputs=; the model '
                    f"was given inputs {[x.name for x in flat_inputs]}. Add it to inputs=[...].")
            visit(parent, node)
        state[key] = 2
        order.append(node)

    for t in flat_outputs:
        t = resolve(t)
        if id(t) in input_ids:
            continue
        visit(_producer(t), None)
    return order


class Functional(Model):
    """``Model(inputs, outputs)``: inputs and outputs are KerasTensors, lists or dicts of them."""

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        flat_in, flat_out = tree.flatten(inputs), tree.flatten(outputs)
        for what, flat in (("inputs", flat_in), ("outputs", flat_out)):
            bad = [x for x in flat if not isinstance(x, KerasTensor)]
            if bad or not flat:
                raise TypeError(f"Model {what}: expected symbolic tensors (from Input() and layer calls), "
                                f"received {bad[0] if bad else flat!r}")
        for t in flat_in:
            if not isinstance(t._keras_history[0], InputLayer):
                raise ValueError(f"Model inputs: {t.name} is not an Input(); inputs must come from keras.Input")
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self._flat_inputs = flat_in
        self._flat_outputs = flat_out
        try:
            self._aliases: dict = {}
            self._nodes = collect_nodes(flat_in, flat_out, self.name)
        except ValueError as disconnected:
            # outputs from inside nested models: bind their Inputs to the outer tensors and retry
            self._aliases = nested_input_aliases(flat_in)
            if not self._aliases:
                raise
            try:
                self._nodes = collect_nodes(flat_in, flat_out, self.name, self._aliases)
            except ValueError:
                raise disconnected from None
        self._input_structure = tree.map_structure(lambda _: 0, inputs)
        self._input_types = [t.type for t in flat_in]
        layers = [t._keras_history[0] for t in flat_in]
        for node in self._nodes:
            if all(node.layer is not x for x in layers):
                layers.append(node.layer)
        names = [layer.name for layer in layers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f'Model "{self.name}": all layer names should be unique; {dup} appear more than once')
        for layer in layers:
            self._track(layer)
        self.built = True

    def _is_graph_network(self) -> bool:
        return True

    @property
    def inputs(self) -> list:
        return list(self._flat_inputs)

    @property
    def outputs(self) -> list:
        return list(self._flat_outputs)

    @property
    def input(self):
        return self._inputs_struct

    @property
    def output(self):
        return self._outputs_struct

    def _input_names(self) -> list[str]:
        return [t._keras_history[0].name for t in self._flat_inputs]

    def _output_names(self, n: int) -> list[str]:
        if isinstance(self._outputs_struct, dict):
            return list(self._outputs_struct.keys())
        names, seen = [], set()
        for t in self._flat_outputs:
            layer, _, index = t._keras_history
            name = layer.name if len(_producer(t).output_tensors) == 1 else f"{layer.name}_{index}"
            base, k = name, 1
            while name in seen:
                name = f"{base}_{k}"
                k += 1
            seen.add(name)
            names.append(name)
        return names

    def _output_names_for(self, out) -> list[str]:
        return self._output_names(len(self._flat_outputs))

    def _output_structure(self):
        return tree.map_structure(lambda _: 0, self._outputs_struct)

    @property
    def output_names(self) -> list[str]:
        return self._output_names(len(self._flat_outputs))

    def call(self, inputs, training=None):
        flat = self._match_inputs(inputs)
        env = {id(t): v for t, v in zip(self._flat_inputs, flat)}

        def lookup(t):
            while id(t) not in env and id(t) in self._aliases:
                t = self._aliases[id(t)]
            return env[id(t)]

        for node in self._nodes:
            if isinstance(node.layer, InputLayer):
                continue
            args, kwargs = tree.map_structure(lambda x: lookup(x) if isinstance(x, KerasTensor) else x,
                                              (node.args, node.kwargs))
            out = node.layer._trace_call(args, kwargs)
            for t, v in zip(node.output_tensors, tree.flatten(out)):
                env[id(t)] = v
        return tree.pack_sequence_as(self._outputs_struct, [lookup(t) for t in self._flat_outputs])

    def _match_inputs(self, inputs) -> list:
        names = self._input_names()
        if isinstance(inputs, dict) and not isinstance(self._inputs_struct, dict):
            missing = [n for n in names if n not in inputs]
            if missing:
                raise ValueError(f'Model "{self.name}": missing input(s) {missing}')
            return [inputs[n] for n in names]
        flat = tree.flatten(inputs)
        if len(flat) != len(self._flat_inputs):
            raise ValueError(f'Model "{self.name}" expects {len(self._flat_inputs)} input(s) {names}, '
                             f"received {len(flat)}")
        for i, (v, t) in enumerate(zip(flat, self._flat_inputs)):
            if isinstance(v, Value) and v.type.rank != t.type.rank:
                raise ValueError(f'Input {i} of model "{self.name}" is incompatible: expected shape {t.shape}, '
                                 f"received {v.type.keras_shape()}")
        return flat

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable}
