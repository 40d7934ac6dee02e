"""model.summary(): golden tables for the seed models, and the figures of SEEDS.md as numbers.

Golden files live in tests/golden/<example>.summary.txt and are compared exactly. To regenerate them
after an intended change, run ``GRAPHC_UPDATE_GOLDENS=1 python -m pytest tests/models/test_summary.py``
and review the diff.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import graphc as keras
from graphc import layers
from graphc.summary import column_widths, readable_memory_size, render_table

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden"
UPDATE_GOLDENS = os.environ.get("GRAPHC_UPDATE_GOLDENS", "") not in ("", "0")


def summary_of(model, **kwargs) -> str:
    out = []
    model.summary(print_fn=out.append, **kwargs)
    assert len(out) == 1
    return out[0]


def check_golden(example: str, text: str) -> None:
    path = GOLDEN_DIR / f"{example}.summary.txt"
    if UPDATE_GOLDENS:
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"no golden file {path}; create it with GRAPHC_UPDATE_GOLDENS=1 and review it")
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"summary differs from {path} (GRAPHC_UPDATE_GOLDENS=1 regenerates it):\n{text}"


def rows_of(text: str) -> list[list[str]]:
    """The table's body rows as lists of stripped cells (first line of each row only)."""
    rows, lines = [], text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("┡"))
    new_row = True
    for line in lines[start + 1:]:
        if line.startswith("│"):
            if new_row:
                rows.append([c.strip() for c in line.strip("│").split("│")])
            new_row = False
        elif line.startswith("├") or line.startswith("└"):
            new_row = True
    return rows


def has_layer(name: str) -> bool:
    return hasattr(layers, name)


# -- seed models -------------------------------------------------------------------------------------
def mnist_model():
    inputs = keras.Input(shape=(784,), name="img")
    x = layers.Dense(64, activation="relu")(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")


def ticket_classifier():
    vocabulary_size, num_tags, num_departments = 10000, 100, 4
    title = keras.Input(shape=(vocabulary_size,), name="title")
    text_body = keras.Input(shape=(vocabulary_size,), name="text_body")
    tags = keras.Input(shape=(num_tags,), name="tags")
    features = layers.concatenate([title, text_body, tags])
    features = layers.Dense(64, activation="relu")(features)
    priority = layers.Dense(1, activation="sigmoid", name="priority")(features)
    department = layers.Dense(num_departments, activation="softmax", name="department")(features)
    return keras.Model(inputs=[title, text_body, tags], outputs=[priority, department])


def test_mnist_model_golden():
    model = mnist_model()
    text = summary_of(model)
    check_golden("seed000_mnist_model", text)
    assert model.count_params() == 55_050
    assert [layer.count_params() for layer in model.layers] == [0, 50_240, 4_160, 650]
    assert [r[1] for r in rows_of(text)] == ["(None, 784)", "(None, 64)", "(None, 64)", "(None, 10)"]
    assert [r[2] for r in rows_of(text)] == ["0", "50,240", "4,160", "650"]
    assert " Total params: 55,050 (215.04 KB)" in text.splitlines()
    assert " Trainable params: 55,050 (215.04 KB)" in text.splitlines()
    assert " Non-trainable params: 0 (0.00 B)" in text.splitlines()
    assert text.splitlines()[0] == 'Model: "mnist_model"'
    # a sequential-like Functional model gets three columns, 88 characters wide
    assert "Connected to" not in text
    assert all(len(line) == 88 for line in text.splitlines()[1:-3])


def test_summary_prints_to_stdout(capsys):
    model = mnist_model()
    assert model.summary() is None
    printed = capsys.readouterr().out
    assert printed == summary_of(model)


def test_seed002_sequential_from_list_and_add():
    from_list = keras.Sequential([layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])
    by_add = keras.Sequential()
    by_add.add(layers.Dense(64, activation="relu"))
    by_add.add(layers.Dense(10, activation="softmax"))
    for model in (from_list, by_add):
        assert model.weights == []
        model.build(input_shape=(None, 3))
        assert [tuple(w.shape) for w in model.weights] == [(3, 64), (64,), (64, 10), (10,)]
        assert model.count_params() == 906
    text = summary_of(by_add)
    check_golden("seed002_sequential_906", text)
    assert " Total params: 906 (3.54 KB)" in text.splitlines()
    assert [r[1:] for r in rows_of(text)] == [["(None, 64)", "256"], ["(None, 10)", "650"]]


def test_seed002_unbuilt_sequential_summary():
    model = keras.Sequential([layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])
    text = summary_of(model)
    check_golden("seed002_sequential_unbuilt", text)
    assert [r[1:] for r in rows_of(text)] == [["?", "0 (unbuilt)"], ["?", "0 (unbuilt)"]]
    assert " Total params: 0 (0.00 B)" in text.splitlines()


def test_seed002_named_model():
    model = keras.Sequential(name="my_example_model")
    model.add(layers.Dense(64, activation="relu", name="my_first_layer"))
    model.add(layers.Dense(10, activation="softmax", name="my_last_layer"))
    model.build((None, 3))
    text = summary_of(model)
    check_golden("seed002_my_example_model", text)
    assert text.splitlines()[0] == 'Model: "my_example_model"'
    assert [r[0] for r in rows_of(text)] == ["my_first_layer (Dense)", "my_last_layer (Dense)"]


def test_seed002_sequential_with_input():
    model = keras.Sequential()
    model.add(keras.Input(shape=(3,)))
    model.add(layers.Dense(64, activation="relu"))
    text = summary_of(model)
    check_golden("seed002_sequential_input", text)
    assert rows_of(text) == [["dense (Dense)", "(None, 64)", "256"]]


def test_seed002_functional_my_input():
    inputs = keras.Input(shape=(3,), name="my_input")
    features = layers.Dense(64, activation="relu")(inputs)
    outputs = layers.Dense(10, activation="softmax")(features)
    model = keras.Model(inputs=inputs, outputs=outputs)
    text = summary_of(model)
    check_golden("seed002_functional_my_input", text)
    assert [r[0] for r in rows_of(text)] == ["my_input (InputLayer)", "dense (Dense)", "dense_1 (Dense)"]
    assert " Total params: 906 (3.54 KB)" in text.splitlines()


def test_seed002_ticket_classifier():
    model = ticket_classifier()
    text = summary_of(model)
    check_golden("seed002_ticket_classifier", text)
    assert model.count_params() == 1_286_789
    assert " Total params: 1,286,789 (4.91 MB)" in text.splitlines()
    assert [layer.name for layer in model.layers[:3]] == ["title", "text_body", "tags"]
    assert all(isinstance(layer, keras.InputLayer) for layer in model.layers[:3])
    concat = model.layers[3]
    assert isinstance(concat.input, list) and len(concat.input) == 3
    assert [t.shape for t in concat.input] == [(None, 10000), (None, 10000), (None, 100)]
    assert concat.output.shape == (None, 20100)
    # a multi-input model gets the fourth column, 108 characters wide
    rows = rows_of(text)
    assert rows[0] == ["title (InputLayer)", "(None, 10000)", "0", "-"]
    assert rows[3] == ["concatenate (Concatenate)", "(None, 20100)", "0", "title[0][0],"]
    assert "text_body[0][0]," in text and "tags[0][0]" in text
    assert rows[5][3] == rows[6][3] == "dense[0][0]"
    assert all(len(line) == 108 for line in text.splitlines()[1:-3])


def test_seed003_sequential_on_concrete_array():
    model = keras.Sequential([
        layers.Dense(2, activation="relu", name="layer1"),
        layers.Dense(3, activation="relu", name="layer2"),
        layers.Dense(4, name="layer3"),
    ])
    x = np.ones((3, 3), dtype="float32")
    y = model(x)
    assert y.shape == (3, 4)
    layer1, layer2, layer3 = model.layers
    # the same layers called one after the other give the same numbers
    np.testing.assert_allclose(layer3(layer2(layer1(x))), y, rtol=1e-6, atol=1e-6)
    text = summary_of(model)
    check_golden("seed003_sequential_3x3", text)
    assert [r[1] for r in rows_of(text)] == ["(3, 2)", "(3, 3)", "(3, 4)"]


def test_seed003_layer_calls_match_sequential():
    layer1 = layers.Dense(2, activation="relu", name="layer1")
    layer2 = layers.Dense(3, activation="relu", name="layer2")
    layer3 = layers.Dense(4, name="layer3")
    x = np.ones((3, 3), dtype="float32")
    y = layer3(layer2(layer1(x)))
    model = keras.Sequential([layer1, layer2, layer3])
    np.testing.assert_allclose(model(x), y, rtol=1e-6, atol=1e-6)
    # layers called eagerly only: their shapes come from their last trace
    text = summary_of(model)
    assert [r[1:] for r in rows_of(text)] == [["(3, 2)", "8"], ["(3, 3)", "9"], ["(3, 4)", "16"]]


def test_seed003_add_and_pop():
    model = keras.Sequential()
    model.add(layers.Dense(2, activation="relu", name="layers 1"))
    model.add(layers.Dense(3, activation="relu"))
    model.add(layers.Dense(4))
    popped = model.pop()
    assert popped.name == "dense_1"
    assert len(model.layers) == 2
    model.build((None, 5))
    text = summary_of(model)
    check_golden("seed003_after_pop", text)
    assert [r[0] for r in rows_of(text)] == ["layers 1 (Dense)", "dense (Dense)"]
    assert [r[1:] for r in rows_of(text)] == [["(None, 2)", "12"], ["(None, 3)", "9"]]


def test_seed003_dense_weights_on_first_call():
    layer = layers.Dense(3)
    assert layer.weights == []
    layer(np.ones((1, 4), dtype="float32"))
    assert [tuple(w.shape) for w in layer.weights] == [(4, 3), (3,)]


def test_seed003_summary_after_first_call():
    model = keras.Sequential([
        layers.Dense(2, activation="relu"),
        layers.Dense(3, activation="relu"),
        layers.Dense(4),
    ])
    assert model.weights == []
    model(np.ones((1, 4), dtype="float32"))
    assert len(model.weights) == 6
    text = summary_of(model)
    check_golden("seed003_sequential_1x4", text)
    assert [r[1:] for r in rows_of(text)] == [["(1, 2)", "10"], ["(1, 3)", "9"], ["(1, 4)", "16"]]
    assert " Total params: 35 (140.00 B)" in text.splitlines()
    assert model.count_params() == 35


def test_seed003_debugging_workflow_input():
    model = keras.Sequential()
    model.add(keras.Input(shape=(4,)))
    model.add(layers.Dense(2, activation="relu"))
    text = summary_of(model)
    check_golden("seed003_sequential_input_4", text)
    assert rows_of(text) == [["dense (Dense)", "(None, 2)", "10"]]
    other = keras.Sequential()
    other.add(layers.Dense(2, activation="relu", input_shape=(4,)))
    assert rows_of(summary_of(other)) == [["dense_1 (Dense)", "(None, 2)", "10"]]


def test_show_trainable_and_frozen_layers():
    model = mnist_model()
    model.layers[1].trainable = False
    text = summary_of(model, show_trainable=True)
    check_golden("seed000_mnist_show_trainable", text)
    assert [r[-1] for r in rows_of(text)] == ["-", "N", "Y", "Y"]
    assert " Trainable params: 4,810 (18.79 KB)" in text.splitlines()
    assert " Non-trainable params: 50,240 (196.25 KB)" in text.splitlines()
    assert all(len(line) == 100 for line in text.splitlines()[1:-3])


def test_nested_models_and_expand_nested():
    inner_in = keras.Input(shape=(8,), name="inner_in")
    inner = keras.Model(inner_in, layers.Dense(4, name="inner_dense")(inner_in), name="encoder")
    head = keras.Sequential([layers.Dense(2, name="head_dense")], name="head")
    x_in = keras.Input(shape=(8,), name="x")
    model = keras.Model(x_in, head(inner(x_in)), name="outer")
    text = summary_of(model)
    check_golden("nested_models", text)
    assert [r[:3] for r in rows_of(text)] == [["x (InputLayer)", "(None, 8)", "0"],
                                             ["encoder (Functional)", "(None, 4)", "36"],
                                             ["head (Sequential)", "(None, 2)", "10"]]
    expanded = summary_of(model, expand_nested=True)
    check_golden("nested_models_expanded", expanded)
    assert [r[0] for r in rows_of(expanded)] == [
        "x (InputLayer)", "encoder (Functional)", "└ inner_in (InputLayer)", "└ inner_dense (Dense)",
        "head (Sequential)", "└ head_dense (Dense)"]
    assert rows_of(expanded)[3][1:3] == ["(None, 4)", "36"]
    # weights are shared with the inner models
    assert model.count_params() == 46
    assert any(w is inner.layers[1].kernel for w in model.weights)


def test_subclassed_model_summary():
    class TwoLayers(keras.Model):
        def __init__(self):
            super().__init__(name="two_layers")
            self.hidden = layers.Dense(16, activation="relu")
            self.out = layers.Dense(3)

        def call(self, x, training=None):
            return self.out(self.hidden(x))

    model = TwoLayers()
    before = rows_of(summary_of(model))
    assert before == [["dense (Dense)", "?", "0 (unbuilt)"], ["dense_1 (Dense)", "?", "0 (unbuilt)"]]
    model.build((None, 5))
    text = summary_of(model)
    check_golden("subclassed_two_layers", text)
    assert rows_of(text) == [["dense (Dense)", "(None, 16)", "96"], ["dense_1 (Dense)", "(None, 3)", "51"]]


def test_layer_range_and_line_length():
    model = mnist_model()
    text = summary_of(model, layer_range=["dense", "dense_1"])
    assert [r[0] for r in rows_of(text)] == ["dense (Dense)", "dense_1 (Dense)"]
    narrow = summary_of(model, line_length=50)
    assert all(len(line) == 50 for line in narrow.splitlines()[1:-3])
    with pytest.raises(ValueError, match="layer_range"):
        summary_of(model, layer_range=["nope", "dense"])


def test_long_names_wrap_at_spaces_and_cut_long_words():
    widths = column_widths(40, [0.45, 0.80, 1.0])
    lines = render_table(["Layer (type)", "Output Shape", "Param #"],
                         [["a_layer_with_a_long_name (Dense)", "(None, 28, 28, 1)", "1,000"]], widths,
                         ["left", "left", "right"])
    assert all(len(line) == 40 for line in lines)
    assert widths == [17, 12, 7]
    body = lines[lines.index("┡━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━┩") + 1:]
    assert body[0] == "│ a_layer_with_a… │ (None, 28, │ 1,000 │"  # a word longer than its cell is cut
    assert body[1] == "│ (Dense)         │ 28, 1)     │       │"  # the rest wraps at spaces


def test_readable_memory_size():
    assert readable_memory_size(0) == "0.00 B"
    assert readable_memory_size(3624) == "3.54 KB"
    assert readable_memory_size(5_147_156) == "4.91 MB"


def test_table_matches_rich_layout():
    """rich (what Keras prints through) is an oracle here when it is installed; graphc does not need it."""
    rich_table = pytest.importorskip("rich.table")
    rich_console = pytest.importorskip("rich.console")
    rng = np.random.default_rng(0)
    words = ["dense", "(Dense)", "(None,", "64)", "└", "title[0][0],", "0 (unbuilt)", "1,286,464",
             "a_very_long_layer_name_more_than_thirty_characters"]
    for trial in range(60):
        line_length = int(rng.choice([60, 76, 88, 108, 120]))
        positions = [0.3, 0.56, 0.74, 1.0] if trial % 2 else [0.45, 0.80, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"][:len(positions)]
        justify = ["left", "left", "right", "left"][:len(positions)]
        rows = [[" ".join(rng.choice(words, size=int(rng.integers(0, 5)))) for _ in header]
                for _ in range(int(rng.integers(0, 4)))]
        requested, current = [], 0
        for p in positions:
            requested.append(int(p * line_length) - current)
            current += requested[-1]
        table = rich_table.Table(*[rich_table.Column(h, justify=j, width=w)
                                   for h, j, w in zip(header, justify, requested)],
                                 width=line_length, show_lines=True)
        for row in rows:
            table.add_row(*row)
        console = rich_console.Console(highlight=False, force_terminal=False, color_system=None, width=300)
        console.begin_capture()
        console.print(table)
        expected = console.end_capture()
        got = "\n".join(render_table(header, rows, column_widths(line_length, positions), justify)) + "\n"
        assert got == expected


@pytest.mark.slow
def test_goldens_match_keras():
    """Keras 3 itself (torch backend, when installed) prints the very tables stored as goldens."""
    import importlib.util
    import json
    import subprocess
    import sys

    if os.environ.get("GRAPHC_KERAS_ORACLE", "") in ("", "0"):
        pytest.skip("about a minute: set GRAPHC_KERAS_ORACLE=1 to compare the goldens with Keras' own output")
    if importlib.util.find_spec("keras") is None or importlib.util.find_spec("torch") is None:
        pytest.skip("Keras 3 with the torch backend is not installed")
    env = dict(os.environ, KERAS_BACKEND="torch", COLUMNS="300")
    run = subprocess.run([sys.executable, str(GOLDEN_DIR / "keras_oracle.py")], capture_output=True, text=True,
                         env=env, timeout=600, cwd=str(GOLDEN_DIR))
    if run.returncode != 0:
        pytest.skip(f"Keras could not run here: {run.stderr.strip().splitlines()[-1:]}")
    tables = json.loads(run.stdout)
    assert len(tables) >= 20
    for name, text in tables.items():
        golden = (GOLDEN_DIR / f"{name}.summary.txt").read_text(encoding="utf-8")
        assert golden == text, f"{name}: graphc's golden differs from Keras' own summary:\n{text}"


def test_multi_output_layer_and_shared_layer_rows():
    if not hasattr(layers, "LSTM"):
        pytest.skip("LSTM has not landed yet")
    i = keras.Input(shape=(5, 3), name="seq")
    out, h, c = layers.LSTM(8, return_state=True)(i)
    text = summary_of(keras.Model(i, [out, h, c], name="lstm_states"))
    check_golden("lstm_return_state", text)
    assert "│ lstm (LSTM)                          │ [(None, 8), (None, 8),      │             384 │" in text
    a = keras.Input(shape=(3,), name="a")
    shared = layers.Dense(4, name="shared")
    text = summary_of(keras.Model(a, shared(shared(layers.Dense(4)(a))), name="shared_twice"))
    check_golden("shared_layer_twice", text)
    assert rows_of(text)[-1] == ["shared (Dense)", "(None, 4)", "20", "dense[0][0], shared[0][0]"]


def test_optimizer_params_after_training():
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3, activation="relu"), layers.Dense(2)])
    if not hasattr(model, "compile"):
        pytest.skip("training has not landed yet")
    model.compile(optimizer="rmsprop", loss="mse")
    assert "Optimizer params" not in summary_of(model)  # no optimizer state before the first step
    model.fit(np.ones((8, 4), "float32"), np.zeros((8, 2), "float32"), epochs=1, verbose=0)
    lines = summary_of(model).splitlines()
    n_state = sum(int(np.prod(np.shape(v))) for v in model.optimizer.variables)
    assert lines[-1].startswith(f" Optimizer params: {n_state:,} (")
    assert lines[-4] == f" Total params: {23 + n_state:,} ({readable_memory_size(92 + 4 * (n_state - 1) + 8)})"


@pytest.mark.parametrize("name, total", [("ResNet50", 25_636_712), ("MobileNetV2", 3_538_984),
                                         ("VGG19", 143_667_240)])
def test_applications_goldens(name, total):
    applications = pytest.importorskip("graphc.applications")
    model = getattr(applications, name)(weights=None)
    text = summary_of(model)
    check_golden(f"applications_{name.lower()}", text)
    assert f" Total params: {total:,} (" in text
    assert len(rows_of(text)) == len(model.layers)
