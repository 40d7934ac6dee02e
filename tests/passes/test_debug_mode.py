"""Debug mode: IR verification, numbers before/after every pass, timing, dumps and the table."""
import os

import numpy as np
import pytest

import graphc.ops as O
import graphc.onnx  # noqa: F401  (registers the .onnx stage writer)
from graphc.ir import IRError
from passes import NumericsError, Pass, PassResult, optimize, pipeline, run_pipeline
from passes.rewrite import add_op, replace_node
from pass_helpers import build, const


def _model(x):
    y = O.add(O.matmul(x, const(np.ones((4, 3)))), const(np.arange(3)))
    return O.tanh(O.mul(O.identity(y), const(2.0)))


class SwapAddForSub(Pass):
    """A deliberately wrong rewrite: Add(a, b) -> Sub(a, b)."""

    def run(self, graph):
        n = 0
        for node in graph.nodes:
            if node.op == "Add":
                new = add_op(graph, "Sub", list(node.inputs), {}, node.scope)
                replace_node(graph, node, new.outputs)
                n += 1
        return PassResult(graph, n > 0, {"swapped": n})


def test_numerics_check_names_the_pass_and_first_differing_node(tmp_path):
    g = build(_model, {"x": ("batch", 4)})
    passes = pipeline(1) + [SwapAddForSub()]
    with pytest.raises(NumericsError) as e:
        run_pipeline(g, debug=True, passes=passes, dump_dir=str(tmp_path), print_table=False)
    msg = str(e.value)
    assert "pass SwapAddForSub changed the graph's numbers" in msg
    assert "first differing node: %" in msg and "= Mul(" in msg  # the Add's consumer, kept by the pass
    assert "= Sub(" in msg  # and the node the pass made


def test_correct_passes_pass_the_numerics_check(tmp_path, capsys):
    g = build(_model, {"x": ("batch", 4)})
    out, manager = run_pipeline(g, level=2, debug=True, dump_dir=str(tmp_path))
    table = capsys.readouterr().out
    assert "pass" in table and "nodes" in table and "what changed" in table
    assert "FuseMatMulAdd" in table and "-1 Add +1 Gemm -1 MatMul" in table
    files = sorted(os.listdir(tmp_path))
    assert files[0] == "00_input.onnx" and "00_input.txt" in files
    assert any("FuseMatMulAdd.txt" in f for f in files) and any("FuseMatMulAdd.onnx" in f for f in files)
    assert all(r.seconds >= 0 for r in manager.records)


def test_verifier_names_the_pass_that_breaks_the_ir():
    class BreakWiring(Pass):
        def run(self, graph):
            node = next(n for n in graph.nodes if n.op == "Tanh")
            node.inputs[0] = graph.inputs[0]  # no edge added: the IR no longer matches itself
            return PassResult(graph, True, {})

    g = build(_model, {"x": ("batch", 4)})
    with pytest.raises(IRError, match="after BreakWiring"):
        run_pipeline(g, debug=True, passes=[BreakWiring()], print_table=False, dump_dir=None)


def test_env_variable_turns_debug_on(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("GRAPHC_DEBUG", "1")
    monkeypatch.setenv("GRAPHC_DUMP_DIR", str(tmp_path))
    optimize(build(_model, {"x": (2, 4)}), level=2)
    assert "total:" in capsys.readouterr().out
    (folder,) = os.listdir(tmp_path)
    assert os.listdir(tmp_path / folder)
