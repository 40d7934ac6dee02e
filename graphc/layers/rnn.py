"""LSTM with Keras' weights and semantics, run by ONNX's LSTM op.

Keras keeps ``kernel (input_dim, 4u)``, ``recurrent_kernel (u, 4u)`` and ``bias (4u,)`` with the
gate blocks in the order **i, f, c, o**; ONNX's LSTM wants ``W [1, 4u, input_dim]``,
``R [1, 4u, u]``, ``B [1, 8u]`` in the order **i, o, f, c** and a sequence-major input. The layer
emits those conversions as graph ops (Slice/Concat/Transpose of the weights, Transpose of the
input and output), so the Variables stay in Keras' layout and gradients flow back through them.
The sequence length may be symbolic: one model serves every length.
"""
from __future__ import annotations

import numpy as np

from graphc import backend, initializers, ops
from graphc.ir import format_shape, is_float
from graphc.ops.random import dropout as apply_dropout
from graphc.ops.rnn import lstm, reverse

from .layer import Layer

#: Keras activation name -> ONNX LSTM activation name.
_ONNX_ACTIVATIONS = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu"}

#: Keras gate block (i=0, f=1, c=2, o=3) for each ONNX block position (i, o, f, c).
_KERAS_TO_ONNX_BLOCKS = (0, 3, 1, 2)


def _activation_name(value, what: str) -> str:
    name = value if isinstance(value, str) else getattr(value, "__name__", None)
    if name not in _ONNX_ACTIVATIONS:
        raise NotImplementedError(f"LSTM: {what}={value!r} is not supported; ONNX's LSTM op runs "
                                  f"{sorted(_ONNX_ACTIVATIONS)} here")
    return name


class LSTM(Layer):
    """Long short-term memory layer (Hochreiter 1997) with Keras 3's arguments and defaults.

    Args:
        units: size of the hidden and cell states.
        activation: cell candidate and output activation ("tanh"; also "sigmoid", "relu").
        recurrent_activation: gate activation ("sigmoid"; also "tanh", "relu").
        use_bias: add ``bias``.
        kernel_initializer, recurrent_initializer, bias_initializer: Keras defaults
            glorot_uniform, orthogonal, zeros.
        unit_forget_bias: the forget-gate block of the initial bias is ones (Keras' default True).
        return_sequences: return every step's hidden state ``(batch, time, units)`` rather than the
            last ``(batch, units)``.
        return_state: also return the final hidden and cell states: ``[output, h, c]``.
        go_backwards: process the sequence from its end; with ``return_sequences`` the outputs come
            in processing order (reversed), as in Keras.

        dropout: fraction of the input features dropped in training; as in Keras, one mask per
            sample is drawn for the whole sequence (shared by every time step and gate).
        seed: seed of that dropout mask (None draws one when the layer is created).

    Not supported (NotImplementedError): recurrent_dropout > 0 (ONNX's LSTM op has no dropout on
    the hidden state), stateful, unroll, masks.
    ``call(inputs, initial_state=None, training=None)``; ``initial_state`` is ``[h, c]``, each
    ``(batch, units)``.

    Gradients: the LSTM op's rule (a reverse Scan) supports the default tanh/sigmoid activations.
    """

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, (int, np.integer)) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"LSTM: units must be a positive int, received {units!r}")
        if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"LSTM: dropout must be a number in [0, 1), received {dropout!r}")
        if recurrent_dropout:
            raise NotImplementedError("LSTM: recurrent_dropout is not supported (ONNX's LSTM op has no dropout on the "
                                      "hidden state); use dropout, or a Dropout layer after the LSTM")
        if stateful or unroll:
            raise NotImplementedError("LSTM: stateful=True and unroll=True are not supported")
        for what, v in (("kernel_regularizer", kernel_regularizer), ("recurrent_regularizer", recurrent_regularizer),
                        ("bias_regularizer", bias_regularizer), ("activity_regularizer", activity_regularizer),
                        ("kernel_constraint", kernel_constraint), ("recurrent_constraint", recurrent_constraint),
                        ("bias_constraint", bias_constraint)):
            if v is not None:
                raise NotImplementedError(f"LSTM: {what} is not supported")
        self.units = int(units)
        self.seed = seed
        self.dropout = float(dropout)
        self._dropout_seed = int(seed) if seed is not None else (
            int(backend.rng().integers(0, 2**31 - 1)) if self.dropout else 0)  # no draw without dropout
        self.activation = _activation_name(activation, "activation")
        self.recurrent_activation = _activation_name(recurrent_activation, "recurrent_activation")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)

    def build(self, input_shape):
        if not isinstance(input_shape, tuple) or len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f'Layer "{self.name}" expects input of shape (batch, time, features) with known '
                             f"features, received {input_shape}")
        u = self.units
        self.kernel = self.add_weight((input_shape[-1], 4 * u), self.kernel_initializer, "kernel")
        self.recurrent_kernel = self.add_weight((u, 4 * u), self.recurrent_initializer, "recurrent_kernel")
        if self.use_bias:
            if self.unit_forget_bias:
                init = self.bias_initializer

                def bias_init(shape, dtype="float32"):
                    return np.concatenate([init((u,), dtype), np.ones((u,), dtype), init((2 * u,), dtype)])

                self.bias = self.add_weight((4 * u,), bias_init, "bias")
            else:
                self.bias = self.add_weight((4 * u,), self.bias_initializer, "bias")
        else:
            self.bias = None
        self.built = True

    def check_input(self, inputs):
        x = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        k = self.kernel.shape[0]
        if x.type.rank != 3 or x.shape[-1] != k:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected shape '
                             f"(batch, time, {k}), received {format_shape(x.type.keras_shape())}")
        if not is_float(x.dtype):
            raise TypeError(f'Input 0 of layer "{self.name}" must be a float tensor, received {x.dtype}. '
                            "Word ids go through an Embedding layer first.")

    def _onnx_blocks(self, v, axis: int):
        """Reorders the four gate blocks of ``v`` along ``axis`` from Keras' i,f,c,o to ONNX's i,o,f,c."""
        u = self.units
        parts = [ops.slice_(v, (k * u,), ((k + 1) * u,), (axis,)) for k in _KERAS_TO_ONNX_BLOCKS]
        return ops.concat(parts, axis)

    def call(self, inputs, initial_state=None, training=None, mask=None):
        if mask is not None:
            raise NotImplementedError(f'Layer "{self.name}": masks are not supported')
        u = self.units
        if self.dropout:  # one mask per sample and feature, shared by the time steps (Keras' LSTM)
            inputs = apply_dropout(inputs, self.dropout, training, seed=self._dropout_seed, noise_shape=(None, 1, None))
        x = ops.transpose(inputs, (1, 0, 2))                                      # (time, batch, features)
        if self.go_backwards:
            x = reverse(x, 0)
        w = ops.unsqueeze(ops.transpose(self._onnx_blocks(self.kernel, 1), (1, 0)), (0,))
        r = ops.unsqueeze(ops.transpose(self._onnx_blocks(self.recurrent_kernel, 1), (1, 0)), (0,))
        b = None
        if self.use_bias:
            b = ops.unsqueeze(ops.concat([self._onnx_blocks(self.bias, 0), np.zeros((4 * u,), self.dtype)], 0), (0,))
        h0 = c0 = None
        if initial_state is not None:
            if not isinstance(initial_state, (list, tuple)) or len(initial_state) != 2:
                raise ValueError(f'Layer "{self.name}": initial_state must be [h, c], received {initial_state!r}')
            h0, c0 = (ops.unsqueeze(s, (0,)) for s in initial_state)
            if b is None:
                b = np.zeros((1, 8 * u), self.dtype)
        acts = (_ONNX_ACTIVATIONS[self.recurrent_activation], _ONNX_ACTIVATIONS[self.activation],
                _ONNX_ACTIVATIONS[self.activation])
        y, y_h, y_c = lstm(x, w, r, b, h0, c0, hidden_size=u, activations=acts)
        h_last = ops.squeeze(y_h, (0,))
        if self.return_sequences:
            output = ops.transpose(ops.squeeze(y, (1,)), (1, 0, 2))               # (batch, time, units)
        else:
            output = h_last
        if self.return_state:
            return [output, h_last, ops.squeeze(y_c, (0,))]
        return output

    def get_config(self):
        return {**super().get_config(), "units": self.units, "seed": self.seed, "activation": self.activation,
                "recurrent_activation": self.recurrent_activation, "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "unit_forget_bias": self.unit_forget_bias, "dropout": self.dropout,
                "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards}
