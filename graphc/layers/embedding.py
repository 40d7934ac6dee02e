"""Embedding: a trainable table ``(input_dim, output_dim)`` looked up by integer ids."""
from __future__ import annotations

import numpy as np

from graphc import initializers, ops
from graphc.ops.checks import check_ids_in_range, index_range_check

from .layer import Layer


class Embedding(Layer):
    """Maps ids in ``[0, input_dim)`` to rows of ``embeddings`` (Gather on axis 0).

    Ids may have any rank and symbolic (variable-length) dims; int32/int64 ids are used as they are,
    other dtypes (the float32 of a default ``Input(shape=(None,))``) are cast to int64 as Keras casts
    them to int. Out-of-range ids are reported with their position before onnxruntime runs (eager
    calls, ``predict``) — ONNX Gather would otherwise fail, or wrap negative ids around silently.

    Args:
        input_dim: vocabulary size.
        output_dim: embedding width.
        embeddings_initializer: Keras' default ``"uniform"`` is RandomUniform(-0.05, 0.05).
        mask_zero: not supported — graphc layers do not propagate Keras masks. ``True`` raises
            NotImplementedError rather than silently computing an unmasked result.
        input_length: accepted for Keras 2 compatibility and ignored.
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, input_length=None, **kwargs):
        super().__init__(**kwargs)
        for what, v in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"Embedding: {what} must be a positive int, received {v!r}")
        if mask_zero:
            raise NotImplementedError("Embedding: mask_zero=True is not supported (graphc does not propagate "
                                      "masks); pad with id 0 and let the model learn it, or slice sequences")
        if embeddings_regularizer is not None or embeddings_constraint is not None:
            raise NotImplementedError("Embedding: embeddings_regularizer / embeddings_constraint are not supported")
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        if embeddings_initializer == "uniform":
            embeddings_initializer = initializers.RandomUniform(-0.05, 0.05)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.mask_zero = False

    def build(self, input_shape):
        self.embeddings = self.add_weight((self.input_dim, self.output_dim), self.embeddings_initializer,
                                          "embeddings")
        self.built = True

    def check_input(self, inputs):
        if inputs.dtype == "bool":
            raise TypeError(f'Input 0 of layer "{self.name}" must hold integer ids, received dtype bool')

    def call(self, inputs):
        ids = inputs
        if ids.dtype not in ("int32", "int64"):
            ids = ops.cast(ids, "int64")
        ids = index_range_check(ids, self.input_dim, f'layer "{self.name}"')
        return ops.gather(self.embeddings, ids, axis=0)

    def _prepare_eager(self, inputs, arrays) -> None:
        check_ids_in_range(arrays[0], self.input_dim, f'layer "{self.name}"')

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                "mask_zero": self.mask_zero}
