"""graphc: a graph IR compiler for Keras-style models, emitting ONNX for onnxruntime.

Use it as ``import graphc as keras`` and ``from graphc import layers``.
"""
from passes.debug import register_stage_writer as _register_stage_writer

from . import activations, backend, initializers, layers, ops
from . import callbacks, losses, metrics, optimizers
from .backend import clear_session, set_random_seed
from .ir import Variable
from .layers import Input, InputLayer, Layer
from .models import Functional, Model, Sequential
from .training import GradientTape

__version__ = "0.1.0"


def _write_stage_picture(graph, base):
    """Debug-mode stage picture (registered here: passes cannot import the plotting code)."""
    from .utils.plot import write_stage_picture

    return write_stage_picture(graph, base)


_register_stage_writer("svg", _write_stage_picture)
from . import onnx as _onnx  # noqa: E402  (registers debug mode's .onnx stage writer)

# Heavier subpackages load on first use: ``graphc.applications``, ``graphc.datasets``, ``graphc.utils``.
_LAZY_MODULES = ("applications", "datasets", "utils", "saving", "callbacks", "metrics", "losses", "optimizers")


def load_model(filepath, compile: bool = True, custom_objects=None):
    """Loads a model saved with ``model.save("m.graphc")`` (see ``graphc.saving.load_model``)."""
    from .saving import load_model as _load_model

    return _load_model(filepath, compile=compile, custom_objects=custom_objects)


def __getattr__(name):
    if name == "register_serializable":
        from .saving import register_serializable

        return register_serializable
    if name in _LAZY_MODULES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'graphc' has no attribute {name!r}")

__all__ = ["Functional", "GradientTape", "Input", "InputLayer", "Layer", "Model", "Sequential", "Variable", "activations",
           "backend", "clear_session", "initializers", "layers", "load_model", "losses", "ops", "optimizers",
           "set_random_seed"]
