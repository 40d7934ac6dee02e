"""Nested structures (lists, tuples, dicts) of leaves: flatten and rebuild, in a fixed order."""
from __future__ import annotations


def is_nested(x) -> bool:
    return isinstance(x, (list, tuple, dict))


def flatten(x) -> list:
    """Leaves in order; dicts in key insertion order. None is a leaf."""
    if isinstance(x, dict):
        return [leaf for v in x.values() for leaf in flatten(v)]
    if isinstance(x, (list, tuple)):
        return [leaf for v in x for leaf in flatten(v)]
    return [x]


def pack_sequence_as(structure, leaves):
    """Rebuilds ``structure`` with ``leaves`` in ``flatten`` order."""
    it = iter(leaves)

    def build(s):
        if isinstance(s, dict):
            return {k: build(v) for k, v in s.items()}
        if isinstance(s, (list, tuple)):
            out = [build(v) for v in s]
            return type(s)(out) if isinstance(s, tuple) and not hasattr(s, "_fields") else out if isinstance(s, list) else type(s)(*out)
        return next(it)

    out = build(structure)
    rest = list(it)
    if rest:
        raise ValueError(f"{len(rest)} leaves left over when packing into {structure!r}")
    return out


def map_structure(fn, x):
    return pack_sequence_as(x, [fn(leaf) for leaf in flatten(x)])
