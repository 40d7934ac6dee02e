"""Session-wide state: unique layer names and the random generator for initializers."""
from __future__ import annotations

import re

import numpy as np

_uids: dict = {}
_rng = np.random.default_rng()


def unique_name(base: str) -> str:
    """``dense``, ``dense_1``, ``dense_2``... as Keras 3 names layers."""
    k = _uids.get(base, 0)
    _uids[base] = k + 1
    return base if k == 0 else f"{base}_{k}"


def snake_case(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()
    return s.replace("2_d", "2d").replace("1_d", "1d").replace("3_d", "3d")


def clear_session() -> None:
    """Resets layer-name counters (so the next Dense is named ``dense`` again)."""
    _uids.clear()


def set_random_seed(seed: int) -> None:
    """Seeds the generator behind weight initializers, shuffling and dropout seeds."""
    global _rng
    _rng = np.random.default_rng(seed)


def rng() -> np.random.Generator:
    return _rng
