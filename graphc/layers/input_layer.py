"""InputLayer and ``Input()``: the symbolic entry points of a Functional model."""
from __future__ import annotations

from graphc import backend
from graphc.ir import TensorType, as_dtype
from graphc.tensor import CallNode, KerasTensor

from .layer import Layer


def input_type(shape, batch_size=None, dtype="float32", name="input") -> TensorType:
    """The IR type of an Input: batch dim ``"batch"`` (or the given size), other None dims named."""
    dims = [batch_size if batch_size is not None else "batch"]
    for i, d in enumerate(shape):
        if d is None:
            dims.append(f"{name}_dim{i + 1}")
        elif isinstance(d, int) and d >= 0:
            dims.append(int(d))
        else:
            raise ValueError(f"shape: expected non-negative ints or None, received {tuple(shape)}")
    return TensorType(as_dtype(dtype), tuple(dims))


class InputLayer(Layer):
    """The layer behind ``Input``: no weights; its single call node has no inputs."""

    def __init__(self, shape=None, batch_size=None, dtype="float32", name=None, batch_shape=None, sparse=None,
                 input_shape=None, **kwargs):
        if sparse:
            raise NotImplementedError("InputLayer: sparse inputs are not supported; pass a dense array")
        if shape is None and input_shape is not None:
            shape = input_shape
        if batch_shape is not None:
            shape, batch_size = tuple(batch_shape[1:]), batch_shape[0]
        if shape is None:
            raise ValueError("Input: shape is required, e.g. Input(shape=(784,))")
        if isinstance(shape, int):
            shape = (shape,)
        shape = tuple(shape)
        super().__init__(name=name or backend.unique_name("input_layer"), dtype=None, **kwargs)
        self.dtype = as_dtype(dtype)
        self.shape = shape
        self.batch_size = batch_size
        self.built = True
        t = KerasTensor(input_type(shape, batch_size, dtype, self.name), (self, 0, 0), name=self.name)
        self._inbound_nodes.append(CallNode(self, (), {}, [], t, [t]))

    @property
    def batch_shape(self) -> tuple:
        return (self.batch_size,) + self.shape

    def call(self, inputs):
        return inputs

    def get_config(self) -> dict:
        return {"name": self.name, "batch_shape": list(self.batch_shape), "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(batch_shape=tuple(config["batch_shape"]), dtype=config["dtype"], name=config["name"])


def Input(shape=None, batch_size=None, dtype="float32", name=None, batch_shape=None, sparse=None) -> KerasTensor:
    """A symbolic input tensor: ``Input(shape=(784,))`` has shape ``(None, 784)``."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape,
                       sparse=sparse)
    return layer.output
