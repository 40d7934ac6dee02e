"""Symbolic tensors of the Functional API."""
from __future__ import annotations

from graphc.ir import TensorType, format_shape


class KerasTensor:
    """A symbolic tensor: a type and the layer call that produces it.

    ``shape`` reads as Keras prints it (None for the batch and other unknown dims);
    ``_keras_history`` is ``(layer, node_index, tensor_index)``.
    """

    def __init__(self, type: TensorType, history, name: str | None = None):
        self.type = type
        self._keras_history = history
        self._consumers: list = []  # CallNodes that read this tensor (forward links)
        self.name = name or f"{history[0].name}_output_{history[2]}" if history else name

    @property
    def shape(self) -> tuple:
        return self.type.keras_shape()

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def ndim(self) -> int:
        return self.type.rank

    def __repr__(self) -> str:
        return f"<KerasTensor shape={format_shape(self.shape)}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *a, **k):
        raise TypeError(
            f"{self!r} is symbolic: it has no value until the model runs. Build a Model from it "
            "and call predict(), or call the layer on a NumPy array."
        )

    def __bool__(self):
        raise TypeError(f"{self!r} is symbolic and has no truth value")

    def __hash__(self):
        return id(self)


class CallNode:
    """One call of a layer on symbolic tensors (Keras' ``Node``)."""

    def __init__(self, layer, args, kwargs, input_tensors: list, outputs, output_tensors: list):
        self.layer = layer
        self.args = args
        self.kwargs = kwargs
        self.input_tensors = input_tensors
        self.outputs = outputs  # the structure the call returned, with KerasTensor leaves
        self.output_tensors = output_tensors

    @property
    def parent_nodes(self) -> list:
        out = []
        for t in self.input_tensors:
            layer, node_index, _ = t._keras_history
            out.append(layer._inbound_nodes[node_index])
        return out
