import logging

import numpy as np
import pytest

import graphc.ops as O
from graphc.ir import Variable
from graphc.ops import current_builder
from passes import (EliminateDeadCode, FixedPoint, FixedPointError, Pass, PassManager, PassResult, optimize,
                    pipeline, run_pipeline)
from pass_helpers import assert_same_numbers, build, const

W = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)


def _model(x):
    k = Variable(W, "dense/kernel")
    y = O.add(O.matmul(x, current_builder().param(k)), const(np.ones(3)))
    y = O.identity(O.relu(y))
    return O.reshape(O.reshape(y, (-1, 3, 1)), (-1, 3))


def test_levels():
    g = build(_model, {"x": ("batch", 4)})
    before = str(g)
    assert pipeline(0) == []
    l0, l1, l2 = (optimize(g, level=k) for k in (0, 1, 2))
    assert str(g) == before  # the caller's graph is never mutated
    assert l0.count_ops() == g.count_ops()
    assert l1.count_ops() == {"MatMul": 1, "Add": 1, "Relu": 1, "Reshape": 2}
    assert l2.count_ops() == {"Gemm": 1, "Relu": 1}
    for out in (l0, l1, l2):
        assert_same_numbers(g, out)
    assert len(l2.params()) == 1  # runtime graphs keep feeding parameters


def test_export_folds_parameter_transposes():
    k = Variable(np.ones((3, 4), np.float32), "kernel")
    g = build(lambda x: O.matmul(x, O.transpose(current_builder().param(k), (1, 0))), {"x": (2, 4)})
    runtime = optimize(g, level=2)
    assert runtime.count_ops() == {"Gemm": 1} and len(runtime.params()) == 1  # transB=1 on the fed kernel
    assert optimize(g, level=1).count_ops() == {"MatMul": 1, "Transpose": 1}
    exported = optimize(g, level=2, export=True)
    assert exported.count_ops() == {"MatMul": 1} and not exported.params()


def test_pipeline_is_idempotent():
    g = optimize(build(_model, {"x": ("batch", 4)}), level=2)
    again, manager = run_pipeline(g, level=2)
    assert not any(r.modified for r in manager.records)
    assert str(again) == str(g)


def test_rejects_bad_options():
    with pytest.raises(ValueError, match="level"):
        pipeline(4)
    with pytest.raises(ValueError, match="target"):
        pipeline(3, target="tensorrt")


class _AlwaysChanges(Pass):
    def run(self, graph):
        return PassResult(graph, True, {})


def test_fixed_point_bound(caplog):
    g = build(lambda x: O.relu(x), {"x": (2,)})
    group = FixedPoint([_AlwaysChanges()], max_steps=3, name="spin")
    with pytest.raises(FixedPointError, match="spin: still changing after 3 rounds"):
        PassManager([group], strict=True).run(g)
    with caplog.at_level(logging.WARNING, logger="graphc.passes"):
        PassManager([group]).run(g)
    assert "still changing" in caplog.text


def test_manager_records_every_pass_run():
    g = build(lambda x: O.relu(x), {"x": (2,)})
    pm = PassManager([EliminateDeadCode(), FixedPoint([EliminateDeadCode()], name="grp")])
    pm.run(g)
    assert [r.qualified_name for r in pm.records] == ["EliminateDeadCode", "grp/EliminateDeadCode"]
