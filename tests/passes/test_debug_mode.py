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


def test_dropout_in_training_is_checked_with_a_fixed_seed(tmp_path):
    from graphc.ops import current_builder

    def model(x):
        b = current_builder()
        y, _ = b.emit("Dropout", O.identity(x), const(0.5), b.constant(np.asarray(True)))
        return O.relu(y)

    g = build(model, {"x": (4, 8)})
    out, manager = run_pipeline(g, level=2, debug=True, dump_dir=str(tmp_path), print_table=False)
    numerics = next(i for i in manager.instruments if type(i).__name__ == "NumericsCheck")
    assert numerics.skipped == ""
    assert out.count_ops() == {"Dropout": 1, "Relu": 1}


def test_debug_run_on_the_toy_resnet_training_step(monkeypatch, tmp_path, capsys):
    """Seed 000's toy ResNet (narrow), trained one step with GRAPHC_DEBUG=1: every pass on the
    training-step graph is verified and number-checked, dumped and tabled."""
    import graphc
    from graphc import layers

    monkeypatch.setenv("GRAPHC_DEBUG", "1")
    monkeypatch.setenv("GRAPHC_DUMP_DIR", str(tmp_path))
    inputs = graphc.Input(shape=(16, 16, 3), name="img")
    x = layers.Conv2D(4, 3, activation="relu")(inputs)
    block_1 = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(4, 3, activation="relu", padding="same")(block_1)
    x = layers.add([x, block_1])
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.5)(layers.Dense(8, activation="relu")(x))
    model = graphc.Model(inputs, layers.Dense(3)(x), name="toy_resnet")
    model.compile(optimizer="rmsprop", loss=graphc.losses.CategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    model.fit(rng.random((4, 16, 16, 3), dtype=np.float32), np.eye(3, dtype=np.float32)[[0, 1, 2, 0]],
              epochs=1, batch_size=4, verbose=0)
    out = capsys.readouterr().out
    assert "train_step" in out and "CancelTransposes" in out and "total:" in out
    folders = [f for f in os.listdir(tmp_path) if "train_step" in f]
    assert folders and any(f.endswith(".txt") for f in os.listdir(tmp_path / folders[0]))


def test_debug_dumps_text_onnx_and_a_picture_per_stage(tmp_path):
    import graphc as keras
    from graphc import layers
    from passes import optimize

    i = keras.Input((8,))
    model = keras.Model(i, layers.Dense(3)(layers.Dense(4, activation="relu")(i)))
    optimize(model._trace_graph(False), level=2, debug=True, dump_dir=str(tmp_path))
    names = sorted(os.listdir(tmp_path))
    for ext in (".txt", ".onnx", ".svg"):
        assert any(n.startswith("00_input") and n.endswith(ext) for n in names), names
    svg = next(n for n in names if n.endswith("FuseMatMulAdd.svg"))
    assert "Gemm" in (tmp_path / svg).read_text()
