"""The op registry as a table: every op carries its four parts, and every op is tested somewhere.

A new op without ``infer``/``ref``/``lower``/``grad``, or without a test naming it, fails here in CI
rather than at a user's first ``fit``.
"""
from __future__ import annotations

import ast
import pathlib

import onnx
import pytest

from graphc.ops import REGISTRY, OpDef

TESTS = pathlib.Path(__file__).resolve().parents[1]

#: Ops tested without a test file spelling their name, with where they are covered. Keep short:
#: prefer a ``check_op`` case that names the op.
EXEMPT: dict = {}


def _overrides(op: OpDef, method: str) -> bool:
    """True if the op's class (or a family base class) defines ``method`` itself, not OpDef."""
    return getattr(type(op), method) is not getattr(OpDef, method)


def _lowers(op: OpDef) -> bool:
    """A custom ``lower``, or OpDef's default (one ONNX node of the same name), which is only valid
    when the op's name is a default-domain ONNX operator."""
    return _overrides(op, "lower") or onnx.defs.has(op.name)


OPS = sorted(REGISTRY)


@pytest.mark.parametrize("name", OPS)
def test_op_has_infer_ref_lower(name):
    op = REGISTRY[name]
    missing = [m for m in ("infer", "ref") if not _overrides(op, m)]
    if not _lowers(op):
        missing.append("lower (OpDef's default emits an ONNX node of the same name, and ONNX has no "
                       f"operator {name!r})")
    assert not missing, f"op {name} ({type(op).__module__}) lacks: {', '.join(missing)}"


@pytest.mark.parametrize("name", OPS)
def test_op_has_grad_or_is_marked_nondifferentiable(name):
    op = REGISTRY[name]
    assert op.differentiable is False or _overrides(op, "grad"), (
        f"op {name} ({type(op).__module__}) has no grad rule; write one or set differentiable = False")
    assert all(isinstance(i, int) and i >= 0 for i in op.nondiff_inputs), f"{name}.nondiff_inputs: {op.nondiff_inputs}"


def _string_constants() -> dict:
    """Every string literal in tests/**/*.py -> the files it appears in."""
    found: dict = {}
    for path in sorted(TESTS.rglob("*.py")):
        try:
            tree = ast.parse(path.read_text(), filename=str(path))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.setdefault(node.value, set()).add(path.relative_to(TESTS).as_posix())
    return found


def test_every_op_is_named_in_a_test():
    strings = _string_constants()
    untested = [name for name in OPS if name not in strings and name not in EXEMPT]
    assert not untested, (
        f"ops never named in a test under tests/: {untested}. Add a graphc.testing.check_op case for each "
        "(tests/ops/test_ops.py shows the pattern), or list the op in EXEMPT with where it is tested.")


def test_exemptions_are_current():
    stale = [name for name in EXEMPT if name not in REGISTRY]
    assert not stale, f"EXEMPT lists ops that are no longer registered: {stale}"


def test_registry_test_fails_for_an_incomplete_op():
    """The checks above must catch an op that only inherits OpDef's placeholders."""

    class Frobnicate(OpDef):
        name = "Frobnicate"

        def infer(self, x):
            return x

    op = Frobnicate()
    assert _overrides(op, "infer") and not _overrides(op, "ref") and not _overrides(op, "grad")
    assert not _lowers(op)
