"""Every layer class exported by graphc.layers: get_config/from_config keeps every argument, and a
tiny instance survives the .graphc archive with identical outputs.

A constructor argument given a non-default value must either be refused by the constructor (graphc
does not support it) or come back unchanged from ``from_config(get_config())``; an argument that is
silently accepted and then dropped from the config is a bug ("config loses an argument"). Known gaps
are listed in KNOWN_GAPS as strict xfails, so each shows in the test report and a fix turns it into
a pass that must be recorded by removing the entry.
"""
from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

import graphc
from graphc import layers
from graphc.layers.layer import Layer

# A non-default value per constructor argument name (class-specific overrides in PROBES_BY_CLASS).
PROBES = {
    "activation": "tanh", "recurrent_activation": "tanh", "use_bias": False, "units": 3, "filters": 2,
    "kernel_size": 2, "strides": 2, "padding": "same", "dilation_rate": 2, "groups": 1, "depth_multiplier": 2,
    "pool_size": 3, "size": 3, "interpolation": "bilinear", "cropping": 1, "target_shape": [3, 2],
    "axis": 1, "epsilon": 0.01, "momentum": 0.5, "center": False, "scale": False, "rate": 0.3, "seed": 7,
    "noise_shape": [None, 1], "alpha": 0.5, "negative_slope": 0.1, "max_value": 6.0, "threshold": 0.5,
    "keepdims": True, "data_format": "channels_first", "mask_zero": True, "input_length": 5, "output_dim": 3,
    "input_dim": 7, "return_sequences": True, "return_state": True, "go_backwards": True, "stateful": True,
    "unroll": True, "unit_forget_bias": False, "dropout": 0.2, "recurrent_dropout": 0.2,
    "kernel_initializer": "ones", "bias_initializer": "ones", "recurrent_initializer": "ones",
    "embeddings_initializer": "ones", "depthwise_initializer": "ones", "gamma_initializer": "zeros",
    "beta_initializer": "ones", "moving_mean_initializer": "ones", "moving_variance_initializer": "zeros",
    "kernel_regularizer": "l2", "bias_regularizer": "l2", "activity_regularizer": "l2",
    "recurrent_regularizer": "l2", "embeddings_regularizer": "l2", "depthwise_regularizer": "l2",
    "beta_regularizer": "l2", "gamma_regularizer": "l2", "kernel_constraint": "non_neg",
    "bias_constraint": "non_neg", "recurrent_constraint": "non_neg", "embeddings_constraint": "non_neg",
    "depthwise_constraint": "non_neg", "beta_constraint": "non_neg", "gamma_constraint": "non_neg",
    "synchronized": True, "output_padding": 1, "name": "custom_name", "trainable": False, "dtype": "float64",
    "shape": [3], "batch_shape": [None, 3], "batch_size": 4, "sparse": True,
}
PROBES_BY_CLASS = {"ZeroPadding2D": {"padding": 2}, "Conv2DTranspose": {"output_padding": [1, 1]},
                   "Softmax": {"axis": 1}}
# Required arguments and input shapes for a tiny instance: class -> (kwargs, input shape, input dtype).
CASES = {
    "Dense": ({"units": 3}, (4,), "float32"),
    "Activation": ({"activation": "relu"}, (4,), "float32"),
    "Identity": ({}, (4,), "float32"),
    "Flatten": ({}, (2, 3), "float32"),
    "Reshape": ({"target_shape": (3, 2)}, (6,), "float32"),
    "ReLU": ({"max_value": 6.0}, (4,), "float32"),
    "LeakyReLU": ({}, (4,), "float32"),
    "Softmax": ({}, (4,), "float32"),
    "ELU": ({}, (4,), "float32"),
    "Dropout": ({"rate": 0.5}, (4,), "float32"),
    "SpatialDropout1D": ({"rate": 0.5}, (5, 3), "float32"),
    "SpatialDropout2D": ({"rate": 0.5}, (4, 4, 2), "float32"),
    "Embedding": ({"input_dim": 7, "output_dim": 3}, (5,), "int32"),
    "LSTM": ({"units": 3}, (5, 2), "float32"),
    "Conv2D": ({"filters": 2, "kernel_size": 3}, (6, 6, 2), "float32"),
    "Conv2DTranspose": ({"filters": 2, "kernel_size": 3}, (4, 4, 2), "float32"),
    "DepthwiseConv2D": ({"kernel_size": 3}, (6, 6, 2), "float32"),
    "MaxPooling2D": ({"pool_size": 2}, (6, 6, 2), "float32"),
    "AveragePooling2D": ({"pool_size": 2}, (6, 6, 2), "float32"),
    "GlobalMaxPooling2D": ({}, (6, 6, 2), "float32"),
    "GlobalAveragePooling2D": ({}, (6, 6, 2), "float32"),
    "UpSampling2D": ({"size": 2}, (3, 3, 2), "float32"),
    "ZeroPadding2D": ({"padding": 1}, (3, 3, 2), "float32"),
    "Cropping2D": ({"cropping": 1}, (5, 5, 2), "float32"),
    "BatchNormalization": ({}, (5, 3), "float32"),
    "InputLayer": ({"shape": (3,)}, None, None),
}
MERGE = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"}
# Keras arguments accepted only for signature compatibility, taken by the base Layer.
NOT_CONFIG = {"input_shape", "batch_input_shape", "input_dim_", "batch_size"}
# Arguments Keras 3 itself accepts and drops (deprecated), so graphc may drop them too.
KERAS3_DROPS = {("Embedding", "input_length"), ("InputLayer", "trainable")}
# (class, argument): why the config drops it today. Strict xfails: remove an entry once fixed.
KNOWN_GAPS: dict[tuple[str, str], str] = {}


def layer_classes() -> dict[str, type]:
    out = {}
    for attr in dir(layers):
        obj = getattr(layers, attr)
        if isinstance(obj, type) and issubclass(obj, Layer) and obj is not Layer:
            out[obj.__name__] = obj
    return dict(sorted(out.items()))


def init_params(cls) -> list[str]:
    names = []
    for klass in cls.__mro__:
        if klass is object:
            break
        if "__init__" in vars(klass):
            for p in inspect.signature(klass.__init__).parameters.values():
                if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name not in names:
                    names.append(p.name)
    return names


def base_kwargs(name: str) -> dict:
    if name in MERGE:
        return {}
    if name not in CASES:
        pytest.fail(f"layer class {name} has no case in tests/saving/test_layer_configs.py CASES: add its required "
                    "arguments and an input shape")
    return dict(CASES[name][0])


def _arg_cases():
    cases = []
    for name, cls in layer_classes().items():
        for param in init_params(cls):
            if param in ("input_shape", "batch_input_shape") or (name, param) in KERAS3_DROPS \
                    or (param == "input_dim" and name != "Embedding") or (param == "batch_size" and name != "InputLayer"):
                continue
            marks = []
            if (name, param) in KNOWN_GAPS:
                marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[(name, param)]))
            cases.append(pytest.param(name, param, id=f"{name}-{param}", marks=marks))
    return cases


def _norm(v):
    return json.loads(json.dumps(v))


@pytest.mark.parametrize("name,param", _arg_cases())
def test_config_keeps_argument(name, param):
    cls = layer_classes()[name]
    kwargs = base_kwargs(name)
    probe = PROBES_BY_CLASS.get(name, {}).get(param, PROBES.get(param, "__none__"))
    if probe == "__none__":
        pytest.fail(f"no probe value for argument {param!r} of {name}: add one to PROBES")
    kwargs[param] = probe
    if name == "InputLayer" and param == "batch_shape":
        kwargs.pop("shape")
    try:
        layer = cls(**kwargs)
    except (NotImplementedError, ValueError, TypeError):
        return  # refused at construction: nothing is silently lost
    config = layer.get_config()
    json.dumps(config)  # plain JSON
    again = cls.from_config(dict(config)).get_config()
    assert _norm(again) == _norm(config), f"{name}: from_config(get_config()) changes the config"
    keys = set(config)
    aliases = {"shape": "batch_shape", "batch_size": "batch_shape"}
    assert param in keys or aliases.get(param) in keys, (
        f"{name}({param}={probe!r}) is accepted, but get_config() has no {param!r}: the argument is lost on save. "
        f"Config keys: {sorted(keys)}")
    if param in keys and not param.endswith("initializer") and param != "dtype":
        saved = config[param]
        if (isinstance(saved, dict) and "class_name" in saved) or (isinstance(saved, (list, tuple))
                                                                   and not isinstance(probe, list)):
            return  # normalized by the layer (e.g. padding 1 -> ((1, 1), (1, 1))); from_config agreed above
        assert _norm(saved) == _norm(probe) or (isinstance(probe, (int, float)) and not isinstance(probe, bool)
                                                and _norm(saved) in (_norm([probe, probe]), _norm(probe))), (
            f"{name}: get_config()[{param!r}] is {saved!r}, constructed with {probe!r}")


@pytest.mark.parametrize("name", [n for n in layer_classes() if n != "InputLayer"])
def test_layer_archive_round_trip(name, tmp_path):
    cls = layer_classes()[name]
    rng = np.random.default_rng(0)
    if name in MERGE:
        a, b = graphc.Input((4,)), graphc.Input((4,))
        out = cls()([a, b])
        model = graphc.Model([a, b], out)
        x = [rng.random((2, 4), dtype=np.float32), rng.random((2, 4), dtype=np.float32)]
    else:
        kwargs, shape, dtype = CASES[name][0], CASES[name][1], CASES[name][2]
        inp = graphc.Input(shape, dtype=dtype)
        layer = cls(**kwargs)
        model = graphc.Model(inp, layer(inp))
        x = rng.integers(0, 7, (2,) + shape).astype(dtype) if dtype == "int32" else \
            rng.random((2,) + shape, dtype=np.float32)
        # non-trivial weights, so a lost weight would show
        layer.set_weights([rng.standard_normal(w.shape).astype(w.dtype) * 0.5 + (1.0 if "variance" in w.name else 0)
                           for w in layer.weights])
        if any("variance" in w.name for w in layer.weights):
            layer.set_weights([np.abs(w) + 0.1 if "variance" in v.name else w
                               for w, v in zip(layer.get_weights(), layer.weights)])
    path = tmp_path / f"{name}.graphc"
    model.save(path)
    loaded = graphc.load_model(path)
    got, want = loaded.predict(x), model.predict(x)
    for g, w in zip(graphc.tree.flatten(got), graphc.tree.flatten(want)):
        np.testing.assert_array_equal(g, w)
    assert loaded.layers[-1].get_config() == model.layers[-1].get_config()
