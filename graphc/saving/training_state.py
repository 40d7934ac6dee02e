"""Compile config and optimizer state in a ``.graphc`` archive (filled in once compile/fit exist)."""
from __future__ import annotations


def compile_config(model):
    """The JSON compile arguments kept on a compiled model, or None."""
    return None


def optimizer_members(model):
    """(optimizer JSON entry, archive members) for a compiled model's optimizer, or (None, [])."""
    return None, []


def restore(model, reader, compile_config, optimizer_entry) -> None:
    """Re-compiles ``model`` from the saved compile config and restores the optimizer state."""
