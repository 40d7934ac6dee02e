"""Utilities: plot_model, to_categorical, progress bars, random seeds, PyDataset.

Names resolve lazily so that ``import graphc`` stays light (plotting pulls in image code).
"""
from __future__ import annotations

import importlib

from graphc.backend import set_random_seed

_LAZY = {
    "plot_model": ".plot",
    "model_to_dot": ".plot",
    "to_categorical": ".numerical",
    "normalize": ".numerical",
    "Progbar": ".progbar",
    "PyDataset": ".py_dataset",
    "Sequence": ".py_dataset",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'graphc.utils' has no attribute {name!r}")


__all__ = ["set_random_seed", *_LAZY]
