"""Runs ONNX's own conformance cases through graphc: import -> optimize -> export -> onnxruntime.

Sources: the node cases ``onnx.backend.test.case.node.collect_testcases()`` generates, and the
model tests packaged under ``onnx/backend/test/data/`` (light, simple, pytorch-operator,
pytorch-converted). A case is *supported* when graphc imports it (no NotImplementedError); a
supported case *passes* when onnxruntime, running graphc's optimized export, gives the expected
outputs within the case's tolerances.

``python tests/onnx/conformance.py`` regenerates ``tests/onnx/CONFORMANCE.md``.
"""
from __future__ import annotations

import collections
import glob
import os
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

SUITES = ("light", "simple", "pytorch-operator", "pytorch-converted")
DATA_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")


@dataclass
class Case:
    name: str
    suite: str
    model: onnx.ModelProto
    data_sets: list  # [(inputs, outputs)]
    rtol: float = 1e-3
    atol: float = 1e-7


@dataclass
class Outcome:
    case: str
    suite: str
    status: str  # "pass", "fail", "unsupported"
    detail: str = ""
    ops: tuple = ()
    nodes_before: int = 0
    nodes_after: int = 0


def node_cases() -> list[Case]:
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            cases = collect_testcases()
    return [Case(c.name, "node", c.model, list(c.data_sets), c.rtol, c.atol) for c in cases]


def _read_pb(path: str) -> np.ndarray:
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def packaged_cases(suites=SUITES) -> list[Case]:
    cases = []
    for suite in suites:
        root = os.path.join(DATA_DIR, suite)
        for model_path in sorted(glob.glob(os.path.join(root, "*", "model.onnx"))):
            folder = os.path.dirname(model_path)
            data_sets = []
            for ds in sorted(glob.glob(os.path.join(folder, "test_data_set_*"))):
                ins = [_read_pb(p) for p in sorted(glob.glob(os.path.join(ds, "input_*.pb")), key=_index)]
                outs = [_read_pb(p) for p in sorted(glob.glob(os.path.join(ds, "output_*.pb")), key=_index)]
                data_sets.append((ins, outs))
            cases.append(Case(os.path.basename(folder), suite, onnx.load(model_path), data_sets))
        for model_path in sorted(glob.glob(os.path.join(root, "light_*.onnx"))):
            # "light" models: weights generated in the graph, one zero-input data set
            out = model_path[:-5] + "_output_0.pb"
            model = onnx.load(model_path)
            if os.path.exists(out):
                cases.append(Case(os.path.basename(model_path)[:-5], suite, model, [(None, [_read_pb(out)])]))
    return cases


def _index(path: str) -> int:
    return int(re.findall(r"_(\d+)\.pb$", path)[0])


def _inputs_for(model: onnx.ModelProto, ins):
    if ins is not None:
        return ins
    from graphc.onnx.importer import _value_type

    inits = {t.name for t in model.graph.initializer}
    feeds = []
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        t = _value_type(vi)
        feeds.append(np.zeros([d if isinstance(d, int) else 1 for d in t.shape], t.dtype))
    return feeds


def _array(x) -> np.ndarray:
    return numpy_helper.to_array(x) if isinstance(x, onnx.TensorProto) else np.asarray(x)


def run_case(case: Case, level: int = 2) -> Outcome:
    import onnxruntime as ort

    from graphc.onnx import import_model, to_onnx
    from graphc.onnx.importer import model_opset
    from passes import optimize

    ops = tuple(sorted({n.op_type for n in case.model.graph.node}))
    try:
        graph = import_model(case.model)
    except NotImplementedError as e:
        return Outcome(case.name, case.suite, "unsupported", str(e), ops)
    try:
        with np.errstate(all="ignore"):
            opt = optimize(graph, level=level, export=True)
        proto = to_onnx(opt, opset=model_opset(case.model))
        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.intra_op_num_threads = 1
        sess = ort.InferenceSession(proto.SerializeToString(), so, providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]
        for ins, expected in case.data_sets:
            ins = _inputs_for(case.model, ins)
            got = sess.run(None, {n: _array(a) for n, a in zip(names, ins)})
            if len(got) != len(expected):
                return Outcome(case.name, case.suite, "fail", f"{len(got)} outputs, expected {len(expected)}", ops)
            for i, (g, e) in enumerate(zip(got, expected)):
                e = _array(e)
                if g.shape != e.shape:
                    return Outcome(case.name, case.suite, "fail", f"output {i}: shape {g.shape}, expected {e.shape}",
                                   ops)
                if e.dtype.kind in "fc":
                    ok = np.allclose(g.astype(np.float64), e.astype(np.float64), rtol=case.rtol,
                                     atol=max(case.atol, 1e-6), equal_nan=True)
                else:
                    ok = np.array_equal(g, e)
                if not ok:
                    return Outcome(case.name, case.suite, "fail", f"output {i} differs", ops)
        return Outcome(case.name, case.suite, "pass", "", ops, len(graph), len(opt))
    except Exception as e:  # any failure after import is a conformance failure to report
        return Outcome(case.name, case.suite, "fail", f"{type(e).__name__}: {str(e).splitlines()[0][:200]}", ops)


def unsupported_ops(outcomes) -> collections.Counter:
    """How many unsupported cases each missing op (or feature) accounts for."""
    counter: collections.Counter = collections.Counter()
    for o in outcomes:
        if o.status != "unsupported":
            continue
        m = re.match(r"graphc cannot import ops: (.*)", o.detail)
        if m:
            counter.update(x.strip() for x in m.group(1).split(","))
        else:
            counter.update([f"({re.split(r' [(]|; ', o.detail)[0][:90]})"])
    return counter


def report(outcomes) -> str:
    by_suite = collections.defaultdict(list)
    for o in outcomes:
        by_suite[o.suite].append(o)
    lines = ["# ONNX conformance: import -> optimize (level 2) -> export -> onnxruntime", "",
             "Generated by `python tests/onnx/conformance.py`; `tests/onnx/test_conformance.py` asserts the counts.",
             "", "| suite | cases | supported | passing |", "|---|---:|---:|---:|"]
    for suite, items in by_suite.items():
        sup = [o for o in items if o.status != "unsupported"]
        lines.append(f"| {suite} | {len(items)} | {len(sup)} | {sum(o.status == 'pass' for o in sup)} |")
    fails = [o for o in outcomes if o.status == "fail"]
    lines += ["", f"## Supported but failing ({len(fails)})", ""]
    lines += [f"- {o.suite}/{o.case}: {o.detail}" for o in fails] or ["none"]
    lines += ["", "## Unsupported ops and features (cases affected)", ""]
    lines += [f"- {op}: {n}" for op, n in sorted(unsupported_ops(outcomes).items(), key=lambda t: (-t[1], t[0]))]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    cases = node_cases() + packaged_cases()
    outcomes = [run_case(c) for c in cases]
    text = report(outcomes)
    with open(os.path.join(os.path.dirname(__file__), "CONFORMANCE.md"), "w") as f:
        f.write(text)
    print(text[:3000])
