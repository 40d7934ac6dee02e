"""Model: a Layer with inputs and outputs that can be traced into a whole graph, run and exported.

``Model(inputs=..., outputs=...)`` builds a Functional model; subclasses of Model define ``call``.
"""
from __future__ import annotations

import numpy as np

from graphc import tree
from graphc.ir import Graph, TensorType, Value
from graphc.layers.layer import Layer
from graphc.ops import Builder
from graphc.tensor import KerasTensor
from graphc.training import data_adapter as da
from graphc.training import iterables
from graphc.training import recording
from graphc.training.trainer import Trainer

from . import data as data_utils


class Model(Trainer, Layer):
    """Groups layers into an object with inference (``predict``, ``export``) and training features."""

    def __new__(cls, *args, **kwargs):
        if cls is Model and ("inputs" in kwargs or "outputs" in kwargs or len(args) >= 2):
            from .functional import Functional

            return Functional.__new__(Functional)
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        name = kwargs.pop("name", None)
        trainable = kwargs.pop("trainable", True)
        dtype = kwargs.pop("dtype", None)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}; a model takes "
                            "inputs, outputs, name, trainable and dtype")
        super().__init__(name=name, trainable=trainable, dtype=dtype)
        self._graph_cache: dict = {}
        self._input_types = None  # [TensorType] of a subclassed model, from its first call
        self._input_structure = None
        self.compiled = False
        self.optimizer = None

    # -- structure ------------------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        return self._sublayers

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name or by index in ``layers``."""
        if (name is None) == (index is None):
            raise ValueError("get_layer: pass exactly one of name= or index=")
        if index is not None:
            if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
                raise TypeError(f"get_layer: index must be an int, received {index!r}")
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"get_layer: index {index} is out of range for {len(self.layers)} layers")
            return self.layers[index]
        if not isinstance(name, str):
            raise TypeError(f"get_layer: name must be a str, received {name!r}; use get_layer(index=...) for a position")
        for layer in self.layers:
            if layer.name == name:
                return layer
        names = ", ".join(layer.name for layer in self.layers)
        raise ValueError(f"get_layer: no layer named {name!r}; the layers are: {names}")

    @property
    def input_names(self) -> list[str]:
        return self._input_names()

    def _input_names(self) -> list[str]:
        if self._input_types is None:
            raise ValueError(f'Model "{self.name}" has not been built: call it on data or call build() first')
        return [f"input_{i}" for i in range(len(self._input_types))] if len(self._input_types) > 1 else ["input"]

    def _input_type_list(self) -> list[TensorType]:
        if self._input_types is None:
            raise ValueError(f'Model "{self.name}" has not been built yet: call it on data, fit it, or call '
                             "build(input_shape) first.")
        return list(self._input_types)

    def _output_names(self, n: int) -> list[str]:
        return ["output_0"] if n == 1 else [f"output_{i}" for i in range(n)]

    @property
    def output_names(self) -> list[str]:
        return self._output_names(len(tree.flatten(self._trace_structure())))

    # -- subclassed models: record the input signature on first use ------------------------------
    def _maybe_build(self, inputs) -> None:
        if self._input_types is None and not self._is_graph_network():
            flat = tree.flatten(inputs)
            if all(isinstance(v, Value) for v in flat):
                self._input_types = [TensorType(v.dtype, ("batch",) + tuple(v.shape[1:])) for v in flat]
                self._input_structure = tree.map_structure(lambda _: 0, inputs)
        super()._maybe_build(inputs)

    def build(self, input_shape=None) -> None:
        """Subclassed models: traces ``call`` on a symbolic input of ``input_shape`` to create weights."""
        if self._is_graph_network() or self.built:
            self.built = True
            return
        if input_shape is None:
            raise ValueError(f'Model "{self.name}": build() needs input_shape')
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        self._input_types = [TensorType(self.dtype, ("batch",) + tuple(
            f"input_{k}_dim{i}" if d is None else d for i, d in enumerate(s[1:], 1))) for k, s in enumerate(shapes)]
        self._input_structure = [0] * len(shapes) if isinstance(input_shape, list) else 0
        self.built = True
        self._trace_graph()

    def _is_graph_network(self) -> bool:
        return False

    # -- tracing --------------------------------------------------------------------------------
    def _trace_structure(self):
        return self._input_structure

    def _trace_graph(self, training: bool = False) -> Graph:
        """The whole model as one IR graph (batch dim symbolic), cached per training flag."""
        key = ("graph", training)
        if key in self._graph_cache:
            return self._graph_cache[key]
        g = Graph(self.name)
        b = Builder(g)
        b.training = training
        names = self._input_names()
        values = [b.input(n, t) for n, t in zip(names, self._input_type_list())]
        structure = self._input_structure_for_call()
        with b.activate():
            out = self._trace_call((tree.pack_sequence_as(structure, values),), {})
        flat = tree.flatten(out)
        g.set_outputs(flat, self._output_names_for(out))
        self._graph_cache[key] = g
        return g

    def _input_structure_for_call(self):
        return self._input_structure

    def _output_names_for(self, out) -> list[str]:
        if isinstance(out, dict):
            return list(out.keys())
        return self._output_names(len(tree.flatten(out)))

    def _invalidate(self) -> None:
        self._graph_cache.clear()
        self._eager_cache.clear()

    # -- inference ------------------------------------------------------------------------------
    def _executable(self, device=None):
        from passes import optimize
        from runtime import Executable

        key = ("exe", device or getattr(self, "_device", "cpu"))
        if key not in self._graph_cache:
            graph = optimize(self._trace_graph(False), level=2)
            self._graph_cache[key] = Executable(graph, device=key[1])
        return self._graph_cache[key]

    def predict(self, x, batch_size: int | None = None, verbose="auto", steps=None, callbacks=None, device=None):
        """Runs the model on ``x`` in onnxruntime, ``batch_size`` rows at a time (32 by default).

        ``x`` may also be an iterable of batches (a generator, a ``PyDataset``, a list), each ``x``,
        ``(x,)`` or ``(x, y)``: the outputs of ``steps`` batches (or all of them) are concatenated.
        ``verbose`` 1 / "auto" shows Keras' progress line, 0 nothing; ``callbacks`` get the
        ``on_predict_*`` hooks, ``on_predict_batch_end`` with ``{"outputs": the batch's outputs}``."""
        verbose = data_utils.check_verbose(verbose)
        if x is None:
            raise TypeError("predict: x is required (an array, a list or dict of arrays, or an iterable of batches), "
                            "received None")
        if iterables.kind(x) is not None:
            return iterables.predict(self, x, batch_size, steps, device, verbose, callbacks)
        self._ensure_built_for(x)  # a Sequential or subclassed model not built yet builds from x's shape
        exe = self._executable(device)
        feeds = data_utils.standardize_inputs(self, x, "x")
        n = data_utils.num_rows(feeds, "x")
        if n == 0:
            raise ValueError("predict: x has no rows")
        steps = da.check_steps(steps, "predict: steps")
        batch_size = da.resolve_batch_size(batch_size, n, steps)  # Keras: steps batches cover x without it
        sels = da.eval_selections(n, batch_size, steps, "predict: x")
        batches = ({k: v[sel] for k, v in feeds.items()} for sel in sels)
        return self._predict_batches(exe, batches, steps or len(sels), verbose, callbacks)

    def _predict_batches(self, exe, batches, steps, verbose: int, callbacks):
        """predict's loop for arrays and iterables: runs each feed dict, with the predict hooks."""
        from graphc.callbacks import CallbackList

        cbs = CallbackList(callbacks, model=self, add_progbar=verbose != 0, verbose=verbose, epochs=1, steps=steps)
        cbs.on_predict_begin()
        chunks = []
        for step, batch in enumerate(batches):
            cbs.on_predict_batch_begin(step)
            chunks.append(exe.run(batch))
            cbs.on_predict_batch_end(step, {"outputs": self._pack_outputs(chunks[-1])})
        cbs.on_predict_end()
        outs = [np.concatenate([c[i] for c in chunks], axis=0) for i in range(len(exe.output_names))]
        return self._pack_outputs(outs)

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=max(1, data_utils.num_rows(data_utils.standardize_inputs(self, x, "x"), "x")),
                            verbose=0)

    def _pack_outputs(self, outs):
        structure = self._output_structure()
        return tree.pack_sequence_as(structure, outs)

    def _output_structure(self):
        g = self._trace_graph(False)
        return g.outputs[0] if len(g.outputs) == 1 else list(g.outputs)

    def __call__(self, *args, **kwargs):
        if recording.should_record(args, kwargs):  # inside a GradientTape: record, run lazily
            return recording.record(self, args, kwargs)
        leaves = tree.flatten((args, kwargs))
        if args and not any(isinstance(x, (KerasTensor, Value)) for x in leaves):
            if len(args) > 2 or (len(args) == 2 and not isinstance(args[1], (bool, np.bool_, type(None)))):
                raise TypeError(f'Model "{self.name}" call: expected the inputs and optionally training (a bool), '
                                f"received {len(args)} positional arguments; pass several inputs as one list or "
                                "dict")
            if len(args) == 2:
                kwargs = {**kwargs, "training": bool(args[1])}
            return self._call_on_arrays(args[0], **kwargs)
        return super().__call__(*args, **kwargs)

    def _call_on_arrays(self, x, training=False, **kwargs):
        """``model(x)`` on NumPy data: NumPy out, via the compiled forward graph."""
        if kwargs:
            raise TypeError(f"Model call: unexpected keyword argument(s) {sorted(kwargs)}")
        if self._input_types is None and not self._is_graph_network():
            return super().__call__(x, training=training)
        if training:
            return super().__call__(x, training=True)
        exe = self._executable()
        feeds = data_utils.standardize_inputs(self, x, "inputs")
        return self._pack_outputs(exe.run(feeds))

    # -- export ---------------------------------------------------------------------------------
    def export(self, filepath: str, format: str = "onnx", opset: int = 17, ir_version: int = 9,
               level: int = 2, debug: bool | None = None, verbose: bool = False):
        """Writes the forward graph as ONNX: optimized, symbolic batch, initializers inside."""
        from graphc.onnx import check, save_model, to_onnx
        from graphc.onnx.export import check_output_path
        from passes import optimize

        if format != "onnx":
            raise ValueError(f"export: format must be 'onnx', received {format!r}")
        check_output_path(filepath)  # a bad path fails now, not after the graph is built
        graph = optimize(self._trace_graph(False), level=level, debug=debug, export=True)
        proto = to_onnx(graph, opset=opset, ir_version=ir_version)
        check(proto)
        save_model(proto, filepath)
        if verbose:
            print(f"Saved {self.name} to {filepath} ({len(proto.graph.node)} nodes, opset {opset})")
        return proto

    def to_onnx(self, opset: int = 17, ir_version: int = 9, level: int = 2):
        from graphc.onnx import to_onnx
        from passes import optimize

        return to_onnx(optimize(self._trace_graph(False), level=level), opset=opset, ir_version=ir_version)

    # -- summary --------------------------------------------------------------------------------
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Prints the Keras 3 table of layers, output shapes and parameter counts."""
        from graphc.summary import print_summary

        return print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                             expand_nested=expand_nested, show_trainable=show_trainable, layer_range=layer_range)

    def set_weights(self, weights) -> None:
        super().set_weights(weights)

    # -- saving (graphc.saving) -----------------------------------------------------------------
    def save(self, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Saves architecture, weights, compile config and optimizer state to a ``.graphc`` archive."""
        from graphc.saving import save_model

        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Writes the weights to ``.weights.graphc`` or a Keras 3 layout ``.weights.h5`` file."""
        from graphc.saving import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch: bool = False) -> None:
        """Loads weights from ``.weights.graphc``, ``.graphc`` or Keras 3 ``.weights.h5`` files."""
        from graphc.saving import load_weights

        load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def export_training_artifacts(self, directory, **kwargs):
        """Writes onnxruntime-training artifacts (training, eval, optimizer models, checkpoint)."""
        from runtime.artifacts import export_training_artifacts

        return export_training_artifacts(self, directory, **kwargs)
