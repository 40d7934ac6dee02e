"""Imports point down only (ARCHITECTURE.md, STYLE.md §1), checked by parsing every module with ast.

    graphc/ API   layers, models, losses, optimizers, callbacks, summary, saving, ...
    runtime/      onnxruntime sessions, device state, training-step executor, artifacts
    graphc/onnx/  IR <-> ONNX protobuf
    passes/       IR -> IR transforms, autodiff
    graphc/ops/   one OpDef per op
    graphc/ir/    Graph, Node, Value, TensorType

Every import counts: module level, inside functions, under ``if TYPE_CHECKING``, relative imports
(resolved against the importing module), and ``importlib.import_module("...")`` / ``__import__``
with a literal name.
"""
from __future__ import annotations

import ast
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("graphc", "passes", "runtime")

#: The API floor: passes and runtime never import these.
API_MODULES = ("graphc.layers", "graphc.models", "graphc.losses", "graphc.optimizers", "graphc.metrics",
               "graphc.callbacks", "graphc.summary", "graphc.utils", "graphc.training", "graphc.saving",
               "graphc.applications", "graphc.datasets")

STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: pathlib.Path) -> list[tuple[str, int]]:
    """(absolute module name, line) for every import in the file; ``from a import b`` yields ``a.b``
    (b may be a submodule or a name in a)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                prefix = ".".join(base)
                mod = f"{prefix}.{node.module}" if node.module else prefix
            else:
                mod = node.module
            names = [alias.name for alias in node.names]
            if "*" in names:
                found.append((mod, node.lineno))
            # ``from a import b``: b is a submodule or a name defined in a; either way a.b is what it reads
            found += [(f"{mod}.{name}", node.lineno) for name in names if name != "*"]
        elif isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if name in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                found.append((node.args[0].value, node.lineno))
    return found


def is_within(mod: str, prefix: str) -> bool:
    return mod == prefix or mod.startswith(prefix + ".")


def source_files():
    files = []
    for pkg in PACKAGES:
        files += sorted((ROOT / pkg).rglob("*.py"))
    return files


FILES = source_files()


def rule_violations(path: pathlib.Path) -> list[str]:
    me = module_name(path)
    bad = []
    for mod, line in imports_of(path):
        top = mod.split(".")[0]
        where = f"{path.relative_to(ROOT)}:{line} imports {mod}"
        # onnxruntime only in runtime/
        if top == "onnxruntime" and not is_within(me, "runtime"):
            bad.append(f"{where}: onnxruntime is imported only under runtime/")
        # onnx (protobuf building) only in graphc/onnx and runtime/
        if top == "onnx" and not (is_within(me, "graphc.onnx") or is_within(me, "runtime")):
            bad.append(f"{where}: onnx protobufs are built only in graphc/onnx (and runtime/ for artifacts)")
        if is_within(me, "graphc.ir"):
            if not (top in STDLIB or top in ("numpy", "networkx") or is_within(mod, "graphc.ir")):
                bad.append(f"{where}: graphc/ir imports only numpy, networkx and the standard library")
        elif is_within(me, "graphc.ops"):
            if top == "graphc" and not (is_within(mod, "graphc.ir") or is_within(mod, "graphc.ops")):
                bad.append(f"{where}: graphc/ops imports only graphc.ir below it")
            if top in ("passes", "runtime"):
                bad.append(f"{where}: graphc/ops sits below passes and runtime")
        if is_within(me, "passes") or is_within(me, "runtime"):
            if any(is_within(mod, api) for api in API_MODULES):
                bad.append(f"{where}: {me.split('.')[0]}/ never imports the API modules")
        if is_within(me, "passes") and top == "runtime":
            bad.append(f"{where}: passes/ never imports runtime/")
    return bad


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_imports_point_down(path):
    bad = rule_violations(path)
    assert not bad, "\n".join(bad)


def test_all_three_packages_are_scanned():
    scanned = {module_name(p).split(".")[0] for p in FILES}
    assert scanned == set(PACKAGES)
    assert any(is_within(module_name(p), "graphc.ir") for p in FILES)
    assert any(is_within(module_name(p), "graphc.ops") for p in FILES)


# -- the checker itself ------------------------------------------------------------------------------

def _violations_of(tmp_path, relpath: str, source: str) -> list[str]:
    """Runs the rules on a synthetic module placed at ``relpath`` under a fake root."""
    global ROOT
    path = tmp_path / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    saved, ROOT = ROOT, tmp_path
    try:
        return rule_violations(path)
    finally:
        ROOT = saved


@pytest.mark.parametrize("relpath, source", [
    ("graphc/ir/bad.py", "def f():\n    import onnx\n"),
    ("graphc/ir/bad.py", "from graphc.ops import REGISTRY\n"),
    ("graphc/ir/bad.py", "import scipy\n"),
    ("graphc/ops/bad.py", "from ..onnx import to_onnx\n"),
    ("graphc/ops/bad.py", "from graphc import layers\n"),
    ("graphc/ops/bad.py", "import graphc\n"),
    ("graphc/ops/bad.py", "from graphc.onnx.export import to_onnx\n"),
    ("graphc/ir/bad.py", "if False:\n    from graphc.ops import base\n"),
    ("passes/bad.py", "from graphc import metrics\n"),
    ("passes/bad.py", "import graphc.callbacks as cb\n"),
    ("runtime/bad.py", "def f():\n    from graphc.summary import summary\n"),
    ("graphc/ops/bad.py", "def f():\n    from passes import base\n"),
    ("graphc/ops/bad.py", "import importlib\nm = importlib.import_module('onnxruntime')\n"),
    ("passes/bad.py", "from graphc.layers import Dense\n"),
    ("passes/sub/bad.py", "def f():\n    from runtime import Executable\n"),
    ("passes/bad.py", "import onnx\n"),
    ("runtime/bad.py", "from graphc.models import Model\n"),
    ("graphc/layers/bad.py", "import onnxruntime as ort\n"),
    ("graphc/models/bad.py", "from onnx import helper\n"),
])
def test_checker_catches(tmp_path, relpath, source):
    assert _violations_of(tmp_path, relpath, source)


@pytest.mark.parametrize("relpath, source", [
    ("graphc/ir/ok.py", "import networkx as nx\nimport numpy as np\nfrom .types import TensorType\nimport typing\n"),
    ("graphc/ops/ok.py", "from graphc.ir import Graph\nfrom .base import OpDef\nfrom ..ir import types\n"),
    ("graphc/ops/__init__.py", "from . import elementwise\nfrom .base import REGISTRY\n"),
    ("graphc/ops/sub/ok.py", "from ...ir import Graph\nfrom .. import base\n"),
    ("passes/ok.py", "from graphc.ops import REGISTRY\nfrom graphc.ir import Graph\n"),
    ("runtime/ok.py", "import onnxruntime\nimport onnx\nfrom graphc.onnx import to_onnx\n"),
    ("graphc/onnx/ok.py", "import onnx\nfrom onnx import helper\n"),
    ("graphc/models/ok.py", "from runtime import Executable\nfrom passes import base\n"),
])
def test_checker_allows(tmp_path, relpath, source):
    assert _violations_of(tmp_path, relpath, source) == []


@pytest.mark.parametrize("first", ["passes", "runtime", "graphc", "passes.cancel_transposes", "runtime.train_step"])
def test_each_package_can_be_imported_first(first):
    """A program may start with any of them (``from passes import optimize``): graphc's package init
    registers stage writers in ``passes.debug``, which once failed when ``passes`` came first."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", f"import {first}; import graphc, passes, runtime"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-1500:]
