"""The Layer base class: owns Variables, composes ops in ``call``, and serves three kinds of call.

* On KerasTensors (Functional API): the layer is traced once in a scratch graph to learn its output
  types, and the call is recorded as a ``CallNode`` so models can replay it.
* On IR Values (while an enclosing model or layer is being traced): ``call`` emits ops into the
  current graph under the layer's scope.
* On NumPy arrays (eager): the layer is traced once per input signature, compiled to ONNX, cached,
  and run in onnxruntime.
"""
from __future__ import annotations

import contextlib
import contextvars
import inspect

import numpy as np

from graphc import backend, initializers, tree
from graphc.ir import Graph, TensorType, Value, Variable, as_dtype
from graphc.ops import Builder, current_builder
from graphc.tensor import CallNode, KerasTensor


def _is_symbolic(x) -> bool:
    return isinstance(x, KerasTensor)


# While a saved model is rebuilt, weights may not exceed what its file can hold (``weight_budget``).
_WEIGHT_BUDGET: contextvars.ContextVar = contextvars.ContextVar("weight_budget", default=None)


@contextlib.contextmanager
def weight_budget(max_elements: int, source: str):
    """Caps the weight elements that layers may create inside the block (a hostile config's sizes).

    Args:
        max_elements: how many weight elements may be created in all.
        source: what the cap comes from, for the error message.
    """
    token = _WEIGHT_BUDGET.set([int(max_elements), source])
    try:
        yield
    finally:
        _WEIGHT_BUDGET.reset(token)


class Layer:
    """Base class of all layers (and of Model).

    Args:
        trainable: whether the layer's weights are updated by training.
        name: unique name; defaults to the snake-cased class name with a counter.
        dtype: the dtype of the layer's weights and computations (float32).
        input_shape: (first layer of a Sequential) the input shape without the batch dim.
    """

    def __init__(self, trainable: bool = True, name: str | None = None, dtype=None, input_shape=None,
                 input_dim=None, batch_input_shape=None, batch_size=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ValueError(f"name: expected a non-empty string without '/', received {name!r}")
        object.__setattr__(self, "_tracked_layers", [])
        self.name = name or backend.unique_name(backend.snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self.dtype = as_dtype(dtype or "float32")
        self.built = False
        self._own_weights: list[Variable] = []
        self._inbound_nodes: list[CallNode] = []
        self._eager_cache: dict = {}
        self._last_output_shapes = None
        self._build_input_shape = None
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            input_shape, batch_size = tuple(batch_input_shape[1:]), batch_input_shape[0]
        self._declared_input_shape = None if input_shape is None else (batch_size,) + tuple(input_shape)

    # -- tracking ---------------------------------------------------------------------------------
    def __setattr__(self, key, value):
        if isinstance(value, Layer) and not key.startswith("_"):
            self._track(value)
        elif isinstance(value, (list, tuple)) and not key.startswith("_"):
            for v in value:
                if isinstance(v, Layer):
                    self._track(v)
        object.__setattr__(self, key, value)

    def _track(self, layer: "Layer") -> None:
        if layer is not self and all(layer is not t for t in self._tracked_layers):
            self._tracked_layers.append(layer)

    @property
    def _sublayers(self) -> list["Layer"]:
        return list(self._tracked_layers)

    # -- weights ----------------------------------------------------------------------------------
    def add_weight(self, shape=(), initializer="glorot_uniform", name: str | None = None,
                   trainable: bool = True, dtype=None) -> Variable:
        """Creates a Variable owned by this layer, initialized now on the host."""
        shape = tuple(int(d) for d in shape)
        name = name or f"variable_{len(self._own_weights)}"
        dtype = as_dtype(dtype or self.dtype)
        if any(d < 0 for d in shape):
            raise ValueError(f'Layer "{self.name}": weight {name!r} has a negative dimension in shape {shape}')
        elements = int(np.prod(shape, dtype=np.float64))
        size = elements * np.dtype(dtype).itemsize
        budget = _WEIGHT_BUDGET.get()
        if budget is not None:
            if elements > budget[0]:
                raise ValueError(f'Layer "{self.name}": weight {name!r} of shape {shape} has {elements:,} elements, '
                                 f"far more than {budget[1]} can hold")
            budget[0] -= elements
        try:
            value = initializers.get(initializer)(shape, dtype)
        except MemoryError:
            raise MemoryError(f'Layer "{self.name}": cannot allocate weight {name!r} of shape {shape} {dtype} '
                              f"({size / 2**30:.1f} GiB); check the layer's sizes") from None
        var = Variable(value, name, trainable=trainable, dtype=dtype, copy=False)
        var.path = f"{self.name}/{name}"
        var._layer = self
        self._own_weights.append(var)
        return var

    def _all_sublayers(self) -> list["Layer"]:
        out, seen = [], set()
        stack = list(reversed(self._sublayers))
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.append(layer)
            stack.extend(reversed(layer._sublayers))
        return out

    @property
    def weights(self) -> list[Variable]:
        out = list(self._own_weights)
        for layer in self._sublayers:
            out += layer.weights
        return _dedup(out)

    @property
    def variables(self) -> list[Variable]:
        return self.weights

    @property
    def trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return []
        out = [w for w in self._own_weights if w.trainable]
        for layer in self._sublayers:
            out += layer.trainable_weights
        return _dedup(out)

    trainable_variables = trainable_weights

    @property
    def non_trainable_weights(self) -> list[Variable]:
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    non_trainable_variables = non_trainable_weights

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for layer in self._sublayers:
            layer.trainable = value

    def get_weights(self) -> list[np.ndarray]:
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights) -> None:
        mine = self.weights
        if isinstance(weights, (dict, str, bytes)) or not hasattr(weights, "__iter__"):
            raise TypeError(f'Layer "{self.name}": set_weights expected a list of {len(mine)} arrays, received '
                            f"{type(weights).__name__}")
        weights = list(weights)
        if len(weights) != len(mine):
            raise ValueError(f'Layer "{self.name}": set_weights expected {len(mine)} arrays, received {len(weights)}')
        arrays = []
        for i, (var, w) in enumerate(zip(mine, weights)):
            try:
                w = np.asarray(w)
            except ValueError as e:  # ragged nested lists
                raise TypeError(f'Layer "{self.name}": set_weights weights[{i}] ({var.path}) is not an array: {e}') from None
            if w.shape != var.shape:
                raise ValueError(f'Layer "{self.name}": weight {var.path} expects shape {var.shape}, received {w.shape}')
            if w.dtype.kind not in "fiub":
                raise TypeError(f'Layer "{self.name}": set_weights weights[{i}] ({var.path}) expects a numeric array '
                                f"of dtype {var.dtype}, received dtype {w.dtype}")
            arrays.append(w)
        for var, w in zip(mine, arrays):
            var.assign(w)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f'Layer "{self.name}" is not built yet, so it has no weights to count. '
                             "Call it on an input or call build(input_shape) first.")
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    # -- building and calling -------------------------------------------------------------------
    def build(self, input_shape) -> None:
        """Creates the weights once the input shape is known. Subclasses override."""
        self.built = True

    def call(self, inputs, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}.call")

    def _maybe_build(self, inputs) -> None:
        if self.built:
            return
        shapes = tree.map_structure(lambda v: v.type.keras_shape() if isinstance(v, Value) else None, inputs)
        self._build_input_shape = shapes
        self.build(shapes)
        self.built = True

    def check_input(self, inputs) -> None:
        """Validates the input types before ``call`` (after build). Subclasses override."""

    def _accepts(self, kwarg: str) -> bool:
        try:
            return kwarg in inspect.signature(self.call).parameters
        except (TypeError, ValueError):
            return False

    def __call__(self, *args, **kwargs):
        from graphc.training import recording

        if recording.should_record(args, kwargs):  # inside a GradientTape: record, run lazily
            return recording.record(self, args, kwargs)
        leaves = tree.flatten((args, kwargs))
        if any(_is_symbolic(x) for x in leaves):
            return self._symbolic_call(args, kwargs)
        if any(isinstance(x, Value) for x in leaves):
            return self._trace_call(args, kwargs)
        if not args:
            raise TypeError(f'Layer "{self.name}" was called without inputs')
        return self._eager_call(args, kwargs)

    def _trace_call(self, args, kwargs):
        """Emits the layer's ops into the graph being traced and returns its output Values."""
        b = current_builder()
        inputs = args[0] if args else None
        self._maybe_build(inputs)
        self.check_input(inputs)
        if self._accepts("training") and kwargs.get("training") is None:
            kwargs = dict(kwargs, training=b.training)
        k = b.call_index.get(id(self), 0)
        b.call_index[id(self)] = k + 1
        with b.name_scope(self.name if k == 0 else f"{self.name}:{k}"):
            out = self.call(*args, **kwargs)
        self._last_output_shapes = tree.map_structure(
            lambda v: v.type.keras_shape() if isinstance(v, Value) else None, out)
        return out

    def _symbolic_call(self, args, kwargs):
        """Functional API: records the call and returns KerasTensors of the inferred types."""
        flat_in = [x for x in tree.flatten((args, kwargs)) if _is_symbolic(x)]
        b = Builder(Graph(f"{self.name}/trace"))
        values = {id(t): b.input(f"input_{i}", t.type) for i, t in enumerate(flat_in)}
        vargs, vkwargs = tree.map_structure(lambda x: values[id(x)] if _is_symbolic(x) else x, (args, kwargs))
        with b.activate():
            out = self._trace_call(vargs, vkwargs)
        flat_out = tree.flatten(out)
        if not all(isinstance(v, Value) for v in flat_out):
            raise TypeError(f'Layer "{self.name}": call must return tensors, returned {out!r}')
        node_index = len(self._inbound_nodes)
        # an output that is one of the inputs keeps the input's symbols: type carries over as is
        kts = [KerasTensor(v.type, (self, node_index, i)) for i, v in enumerate(flat_out)]
        outputs = tree.pack_sequence_as(out, kts)
        node = CallNode(self, args, kwargs, flat_in, outputs, kts)
        self._inbound_nodes.append(node)
        for t in flat_in:
            t._consumers.append(node)
        return outputs

    def _eager_call(self, args, kwargs):
        """NumPy in, NumPy out: traced once per input signature, compiled, cached, run."""
        from runtime import Executable

        inputs, rest = args[0], args[1:]
        if any(isinstance(x, np.ndarray) for x in tree.flatten((rest, kwargs))):
            raise NotImplementedError(f'Layer "{self.name}": eager calls take arrays only in the first argument')
        arrays = [self._to_array(x) for x in tree.flatten(inputs)]
        training = bool(kwargs.pop("training", False) or False)
        self._prepare_eager(inputs, arrays)
        key = (repr(tree.map_structure(lambda _: 0, inputs)),
               tuple((a.dtype.name, a.shape[1:]) for a in arrays), training, repr(sorted(kwargs.items())))
        exe = self._eager_cache.get(key)
        if exe is None:
            g = Graph(self.name)
            b = Builder(g)
            b.training = training
            values = [b.input(f"input_{i}", TensorType(a.dtype.name, ("batch",) + a.shape[1:]) if a.ndim else
                              TensorType(a.dtype.name, ())) for i, a in enumerate(arrays)]
            with b.activate():
                out = self._trace_call((tree.pack_sequence_as(inputs, values),) + rest, kwargs)
            flat_out = tree.flatten(out)
            updates = list(b.state_updates)  # e.g. BatchNormalization's moving statistics in training
            g.set_outputs(flat_out + [v for _, v in updates], [f"output_{i}" for i in range(len(flat_out))]
                          + [f"state_{k}" for k in range(len(updates))])
            exe = Executable(_optimize(g))
            exe.structure = out
            exe.state_variables = [var for var, _ in updates]
            self._eager_cache[key] = exe
        results = exe.run({name: a for name, a in zip(exe.input_names, arrays)})
        n = len(results) - len(exe.state_variables)
        for var, value in zip(exe.state_variables, results[n:]):
            var.assign(value)
        return tree.pack_sequence_as(exe.structure, results[:n])

    def _prepare_eager(self, inputs, arrays) -> None:
        """Hook run before an eager call (Sequential builds itself from the concrete shape here)."""

    def _to_array(self, x) -> np.ndarray:
        a = np.asarray(x.value if isinstance(x, Variable) else x)
        if a.dtype == np.float64:
            a = a.astype(self.dtype)
        if a.dtype.name not in ("float32", "float64", "float16", "int32", "int64", "int8", "uint8", "bool"):
            raise TypeError(f'Layer "{self.name}": cannot take an array of dtype {a.dtype}')
        return a

    # -- connectivity ---------------------------------------------------------------------------
    def _node_tensors(self, attr: str):
        if not self._inbound_nodes:
            raise AttributeError(f'Layer "{self.name}" has never been called on a symbolic tensor, so it has no {attr}.')
        node = self._inbound_nodes[0]
        if attr == "input":
            t = node.input_tensors
            return t[0] if len(t) == 1 else list(t)
        return node.outputs

    @property
    def input(self):
        return self._node_tensors("input")

    @property
    def output(self):
        return self._node_tensors("output")

    @property
    def input_shape(self):
        return tree.map_structure(lambda t: t.shape, self.input)

    @property
    def output_shape(self):
        return tree.map_structure(lambda t: t.shape, self.output)

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _dedup(variables):
    seen, out = set(), []
    for v in variables:
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def _optimize(graph: Graph) -> Graph:
    """The default pipeline for graphs graphc runs itself."""
    from passes import optimize

    return optimize(graph, level=1)
