"""Helpers shared by the examples: quick mode and data that works offline."""
from __future__ import annotations

import os
import sys
import tempfile

import numpy as np


def is_quick() -> bool:
    return "--quick" in sys.argv or os.environ.get("GRAPHC_EXAMPLES_QUICK") == "1"


def workdir() -> str:
    return tempfile.mkdtemp(prefix="graphc-example-")


def load_or_synthesize(name: str, quick: bool, n_train: int, n_test: int, shape, classes: int, seed: int = 0):
    """The real dataset when it is available locally (graphc.datasets cache), else learnable synthetic
    data of the same shapes and dtypes, so the example runs offline. Quick mode always synthesizes."""
    if not quick:
        try:
            import graphc

            (x_train, y_train), (x_test, y_test) = getattr(graphc.datasets, name).load_data()
            return (x_train, y_train), (x_test, y_test)
        except Exception as e:  # absent and not downloadable: say so, then carry on with synthetic data
            print(f"[{name} not available: {str(e).splitlines()[0]}; using synthetic data]")
    rng = np.random.default_rng(seed)
    protos = rng.integers(0, 256, (classes,) + tuple(shape))

    def make(n):
        y = rng.integers(0, classes, n)
        noise = rng.integers(-40, 40, (n,) + tuple(shape))
        x = np.clip(protos[y] * 0.6 + noise + 50, 0, 255).astype(np.uint8)
        return x, y.astype(np.uint8)

    return make(n_train), make(n_test)
