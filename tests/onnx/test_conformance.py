"""ONNX's conformance cases through graphc (see ``conformance.py``): every case whose ops graphc
supports must give the expected outputs on onnxruntime after import -> optimize -> export.

The node cases are generated once (``collect_testcases`` takes ~20 s) and cached in pytest's
cache folder; the sweep is split in shards so ``pytest -n`` can run them in parallel. The counts
and the unsupported ops are printed in the terminal summary and written to ``CONFORMANCE.md`` by
``python tests/onnx/conformance.py``.
"""
from __future__ import annotations

import os
import pickle

import onnx
import pytest

import conformance as C

SHARDS = 4

#: Supported cases onnxruntime itself cannot run (missing kernels), not graphc failures.
ORT_GAPS = {
    "test_celu_float16": "onnxruntime has no float16 Celu kernel",
    "test_range_float16_type_positive_delta": "onnxruntime has no float16 Range kernel",
}

#: Floors on supported-and-passing counts, so a regression shows.
MIN_PASSING = {"node": 830, "light": 9, "simple": 7, "pytorch-operator": 33, "pytorch-converted": 65}

RESULTS: list = []


@pytest.fixture(scope="session")
def node_cases(request):
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    if cache is not None:
        folder = str(cache.mkdir("graphc_onnx_node_cases"))
    else:
        import tempfile

        folder = os.path.join(tempfile.gettempdir(), "graphc_onnx_node_cases")
        os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"onnx-{onnx.__version__}.pkl")
    if os.path.exists(path):
        with open(path, "rb") as f:
            rows = pickle.load(f)
    else:
        rows = [(c.name, c.model.SerializeToString(), c.data_sets, c.rtol, c.atol) for c in C.node_cases()]
        with open(path, "wb") as f:
            pickle.dump(rows, f)
    return [C.Case(name, "node", onnx.load_from_string(model), data, rtol, atol)
            for name, model, data, rtol, atol in rows]


def _check(outcomes, suite):
    RESULTS.extend(outcomes)
    bad = [o for o in outcomes if o.status == "fail" and o.case not in ORT_GAPS]
    assert not bad, "\n".join(f"{o.suite}/{o.case}: {o.detail}" for o in bad)


@pytest.mark.parametrize("shard", range(SHARDS))
def test_node_cases(node_cases, shard):
    _check([C.run_case(c) for c in node_cases[shard::SHARDS]], "node")


@pytest.mark.parametrize("suite", C.SUITES)
def test_packaged_models(suite):
    outcomes = [C.run_case(c) for c in C.packaged_cases([suite])]
    _check(outcomes, suite)
    assert sum(o.status == "pass" for o in outcomes) >= MIN_PASSING[suite]


def test_node_case_floor(node_cases):
    node = [o for o in RESULTS if o.suite == "node"]
    if len(node) < len(node_cases):
        pytest.skip("the node shards did not all run in this process")
    assert sum(o.status == "pass" for o in node) >= MIN_PASSING["node"]


@pytest.mark.slow
@pytest.mark.parametrize("shard", range(SHARDS))
def test_debug_mode_over_conformance_graphs(node_cases, shard):
    """Every importable conformance graph through the level-3 onnxruntime pipeline in debug mode:
    IR verified and numbers compared (NumPy interpreter, random inputs) after every pass."""
    import numpy as np

    from graphc.onnx import import_model
    from passes import NumericsCheck, PassManager, pipeline

    cases = (node_cases + C.packaged_cases())[shard::SHARDS]
    bad = []
    for case in cases:
        try:
            graph = import_model(case.model)
        except NotImplementedError:
            continue
        passes = pipeline(3, export=True, target="onnxruntime", allow_contrib=True, strict=True)
        manager = PassManager(passes, verify_each=True, instruments=[NumericsCheck()], strict=True)
        try:
            with np.errstate(all="ignore"):
                manager.run(graph)
        except Exception as e:  # the pass and node are in the message
            bad.append(f"{case.suite}/{case.name}: {type(e).__name__}: {e}")
    assert not bad, "\n".join(bad)
