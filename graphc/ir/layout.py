"""ParamLayout: a parameter stored on the device in the layout its consumers read.

A training step reads every parameter once per step. When a parameter is only ever read through a
fixed permutation of its elements (a Conv2D kernel, HWIO in Keras, transposed to the OIHW that ONNX
Conv wants; a Dense kernel behind a Flatten of an NCHW activation, whose rows the NHWC Flatten
would otherwise need transposed), the step can keep the permuted copy as its state instead and
skip that permutation every step (``passes.param_layouts``). Users, layers, saved files and
``get_weights`` keep Keras' layout: the conversion happens where values cross between the host and
the step (``to_device`` / ``from_device``), like the optimizer slots' device form.

The permutation is ``reshape(split) -> transpose(perm) -> reshape(shape)``.

A Param node may also stand for a block of rows of its (device-layout) array: the ``rows``
attribute ``(start, stop)``, set by ``passes.param_chunks`` on large MatMul weights; the step's state
then holds one tensor per chunk, named with ``chunk_name``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ParamLayout:
    """``to_device(a) = a.reshape(split).transpose(perm).reshape(shape)``; ``base`` is Keras' shape."""

    base: tuple
    split: tuple
    perm: tuple
    shape: tuple

    def __post_init__(self):
        if int(np.prod(self.base, dtype=np.int64)) != int(np.prod(self.shape, dtype=np.int64)) or \
                int(np.prod(self.split, dtype=np.int64)) != int(np.prod(self.base, dtype=np.int64)):
            raise ValueError(f"ParamLayout: shapes {self.base}, {self.split} and {self.shape} differ in size")
        if sorted(self.perm) != list(range(len(self.split))):
            raise ValueError(f"ParamLayout: perm {self.perm} is not a permutation of {len(self.split)} axes")

    @classmethod
    def transposed(cls, base: tuple, perm: tuple) -> "ParamLayout":
        """The layout of ``transpose(a, perm)``."""
        base, perm = tuple(base), tuple(int(p) for p in perm)
        return cls(base, base, perm, tuple(base[p] for p in perm))

    def to_device(self, a) -> np.ndarray:
        a = np.asarray(a)
        if a.shape != self.base:
            raise ValueError(f"ParamLayout.to_device: expected shape {self.base}, received {a.shape}")
        return np.ascontiguousarray(a.reshape(self.split).transpose(self.perm)).reshape(self.shape)

    def from_device(self, a) -> np.ndarray:
        a = np.asarray(a)
        if a.shape != self.shape:
            raise ValueError(f"ParamLayout.from_device: expected shape {self.shape}, received {a.shape}")
        moved = tuple(self.split[p] for p in self.perm)
        inverse = tuple(int(i) for i in np.argsort(self.perm))
        return np.ascontiguousarray(a.reshape(moved).transpose(inverse)).reshape(self.base)


def param_value(node, value=None) -> np.ndarray:
    """The array a ``Param`` node stands for: ``value`` (Keras layout, default the Variable's) in the
    node's device layout if it has one, and of that only the rows ``start:stop`` if the node is a
    chunk (``rows`` attribute, ``passes.param_chunks``)."""
    a = node.attrs["variable"].value if value is None else np.asarray(value)
    layout = node.attrs.get("layout")
    a = a if layout is None else layout.to_device(a)
    rows = node.attrs.get("rows")
    return a if rows is None else np.ascontiguousarray(a[rows[0]:rows[1]])


def chunk_name(name: str, rows: tuple) -> str:
    """The step graph's name for the rows ``start:stop`` of the state ``name`` (a chunked parameter or
    one of its optimizer slots): ``dense/kernel:0-2048``."""
    return f"{name}:{rows[0]}-{rows[1]}"
