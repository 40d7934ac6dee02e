"""Sequential: a stack of single-input, single-output layers, a Functional model once its input is known."""
from __future__ import annotations

import numpy as np

from graphc.layers.input_layer import Input, InputLayer
from graphc.layers.layer import Layer
from graphc.tensor import KerasTensor

from .functional import Functional
from .model import Model


class Sequential(Model):
    """``Sequential([layers...])`` or built up with ``add``; ``pop`` removes the last layer."""

    def __init__(self, layers=None, trainable=True, name=None):
        super().__init__(name=name, trainable=trainable)
        self._stack: list[Layer] = []
        self._input_layer: InputLayer | None = None
        self._functional: Functional | None = None
        self._chain: list = []  # the Input tensor, then each layer's output tensor
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_rebuild()

    def add(self, layer, rebuild: bool = True) -> None:
        """Appends a layer (or an ``Input()`` tensor, which sets the input shape)."""
        if isinstance(layer, KerasTensor):
            layer = layer._keras_history[0]
        if isinstance(layer, InputLayer):
            if self._input_layer is not None or self._stack:
                raise ValueError(f'Sequential "{self.name}": an Input can only be the first element')
            self._input_layer = layer
        elif isinstance(layer, Layer):
            if any(layer is x for x in self._stack):
                raise ValueError(f'Sequential "{self.name}": layer "{layer.name}" is already in the model')
            names = [x.name for x in self._stack]
            if layer.name in names:
                raise ValueError(f'Sequential "{self.name}": all layer names should be unique; "{layer.name}" '
                                 "appears twice")
            self._stack.append(layer)
        else:
            raise TypeError(f"Sequential.add: expected a Layer or Input(), received {layer!r}")
        if rebuild:
            if self._functional is not None and isinstance(layer, Layer) and not isinstance(layer, InputLayer):
                # extend the existing graph: earlier layers keep their one call (layer.output stays valid)
                self._chain.append(layer(self._chain[-1]))
                self._wrap_functional()
            else:
                self._maybe_rebuild()

    def pop(self, rebuild: bool = True) -> Layer:
        if not self._stack:
            raise IndexError(f'Sequential "{self.name}" has no layers to pop')
        layer = self._stack.pop()
        self._invalidate()
        if self._functional is not None and len(self._chain) > 1:
            self._chain.pop()
            self._wrap_functional()
        else:
            self._functional = None
            self._chain = []
            self.built = False
            if rebuild:
                self._maybe_rebuild()
        return layer

    @property
    def layers(self) -> list[Layer]:
        return list(self._stack)

    @property
    def _sublayers(self) -> list[Layer]:
        return list(self._stack)

    def _maybe_rebuild(self) -> None:
        self._invalidate()
        self._functional = None
        if self._input_layer is None and self._stack and self._stack[0]._declared_input_shape is not None:
            shape = self._stack[0]._declared_input_shape
            self._input_layer = InputLayer(shape=shape[1:], batch_size=shape[0])
        if self._input_layer is not None and self._stack:
            self._build_functional(self._input_layer)
        elif self._input_layer is not None:
            self.built = False

    def _build_functional(self, input_layer: InputLayer) -> None:
        self._chain = [input_layer.output]
        for layer in self._stack:
            self._chain.append(layer(self._chain[-1]))
        self._wrap_functional()

    def _wrap_functional(self) -> None:
        """The Functional model from the Input to the last layer's output (no layer is called again)."""
        self._invalidate()
        self._functional = Functional(self._chain[0], self._chain[-1], name=self.name)
        # the graph that runs keeps a symbolic batch, so a model built by a call on one concrete array
        # (seed 003: summary shows (1, 2)) still predicts any number of rows
        self._input_types = [t.with_shape(("batch",) + tuple(t.shape[1:])) if t.rank else t
                             for t in self._functional._input_types]
        self._input_structure = 0
        self.built = True

    def build(self, input_shape=None) -> None:
        """Builds for ``input_shape`` including the batch dim, e.g. ``(None, 3)``."""
        if input_shape is None:
            if self._functional is None:
                raise ValueError(f'Sequential "{self.name}": build() needs input_shape')
            return
        input_shape = tuple(input_shape)
        self._invalidate()
        self._input_layer = InputLayer(batch_shape=input_shape)
        if self._stack:
            self._build_functional(self._input_layer)
        self.built = True

    def _prepare_eager(self, inputs, arrays) -> None:
        if self._functional is None:
            self.build(tuple(np.asarray(arrays[0]).shape))

    def _call_on_arrays(self, x, training=False, **kwargs):
        if self._functional is None:
            self.build(tuple(np.asarray(x).shape))
        return super()._call_on_arrays(x, training=training, **kwargs)

    def _maybe_build(self, inputs) -> None:
        if self._functional is None:
            shape = inputs.type.keras_shape()
            self.build(shape)
        self.built = True

    def call(self, inputs, training=None):
        if self._functional is None:
            raise ValueError(f'Sequential "{self.name}" has no layers')
        return self._functional.call(inputs, training=training)

    def _is_graph_network(self) -> bool:
        return self._functional is not None

    @property
    def inputs(self):
        return self._functional.inputs if self._functional else None

    @property
    def outputs(self):
        return self._functional.outputs if self._functional else None

    @property
    def input(self):
        if self._functional is None:
            raise AttributeError(f'Sequential "{self.name}" has no input yet')
        return self._functional.input

    @property
    def output(self):
        if self._functional is None:
            raise AttributeError(f'Sequential "{self.name}" has no output yet')
        return self._functional.output

    def _input_names(self) -> list[str]:
        if self._functional is None:
            raise ValueError(f'Sequential "{self.name}" has not been built yet: add an Input, pass input_shape '
                             "to the first layer, call build(), or call it on data.")
        return self._functional._input_names()

    def _output_names(self, n):
        return self._functional._output_names(n)

    def _output_names_for(self, out):
        return self._functional._output_names(1)

    def _output_structure(self):
        return 0

    @property
    def output_names(self):
        return self._functional.output_names

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable}
