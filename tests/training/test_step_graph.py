"""The training-step graph: full ONNX check, default-domain ops only, and runnable with a plain
onnxruntime InferenceSession by feeding the ``new/`` outputs back."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest

import graphc as keras
from graphc import layers, losses, optimizers

from .test_parity import data, initial_weights, mnist_mlp


def _check_proto(path):
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.ir_version == 9
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", 17)]
    assert {n.domain for n in proto.graph.node} <= {""}
    return proto


def _run_exported(path, state, batches):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    inputs = [i.name for i in sess.get_inputs()]
    outputs = [o.name for o in sess.get_outputs()]
    state = dict(state)
    losses_ = []
    for feeds in batches:
        res = dict(zip(outputs, sess.run(None, {n: (feeds[n] if n in feeds else state[n]) for n in inputs})))
        losses_.append(float(res["loss"]))
        for name, value in res.items():
            if name.startswith("new/"):
                state[name[4:]] = value
    return losses_, state


@pytest.mark.parametrize("opt", ["sgd", "adam", "rmsprop", "adamw", "adagrad"])
def test_export_training_runs_three_steps_in_plain_onnxruntime(tmp_path, opt):
    ws = initial_weights()
    x, y = data()
    model = mnist_mlp()
    model.set_weights(ws)
    model.compile(optimizer=opt, loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    path = str(tmp_path / "step.onnx")
    state = model.export_training(path)
    proto = _check_proto(path)
    names = {i.name for i in proto.graph.input}
    in_name = model.input_names[0]
    out_name = model.output_names[0]
    assert {in_name, out_name, f"sample_weight/{out_name}", "dense/kernel", "optimizer/iterations",
            "optimizer/learning_rate"} <= names
    assert all(i.name not in names for i in proto.graph.initializer)
    batches = []
    for s in range(3):
        batches.append({in_name: x[s * 32:(s + 1) * 32], out_name: y[s * 32:(s + 1) * 32].astype(np.int64),
                        f"sample_weight/{out_name}": np.ones(32, np.float32)})
    got, final = _run_exported(path, state, batches)
    # the same three steps through fit's executor
    twin = mnist_mlp()
    twin.set_weights(ws)
    twin.compile(optimizer=opt, loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    want = [twin.train_on_batch(x[s * 32:(s + 1) * 32], y[s * 32:(s + 1) * 32]) for s in range(3)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for var, twin_var in zip(model.weights, twin.weights):
        np.testing.assert_allclose(final[var.path], twin_var.numpy(), rtol=1e-5, atol=1e-7)
    assert int(final["optimizer/iterations"]) == 3


def test_parameters_are_inputs_and_outputs_do_not_alias(tmp_path):
    model = mnist_mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    path = str(tmp_path / "s.onnx")
    state = model.export_training(path)
    proto = onnx.load(path)
    inputs = {i.name for i in proto.graph.input}
    outputs = [o.name for o in proto.graph.output]
    assert inputs.isdisjoint(outputs)
    for var in model.trainable_weights:
        assert var.path in inputs and f"new/{var.path}" in outputs
        assert f"optimizer/{var.path}/momentum" in inputs and f"new/optimizer/{var.path}/velocity" in outputs
    assert set(state) == inputs - {"input_layer", "dense_2", "sample_weight/dense_2"} - {
        i for i in inputs if not (i.startswith("optimizer/") or "/" in i)}


def test_batchnorm_dropout_model_step_graph_checks_and_updates_moving_stats(tmp_path):
    inputs = keras.Input(shape=(8,))
    h = layers.Dense(16)(inputs)
    h = layers.BatchNormalization()(h)
    h = layers.Dropout(0.3)(layers.Activation("relu")(h))
    out = layers.Dense(1, activation="sigmoid")(h)
    model = keras.Model(inputs, out)
    model.compile(optimizer=optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    path = str(tmp_path / "bn.onnx")
    model.export_training(path)
    proto = _check_proto(path)
    outs = {o.name for o in proto.graph.output}
    bn = model.layers[2]
    moving = [w for w in bn.weights if not w.trainable]
    assert moving and all(f"new/{w.path}" in outs for w in moving)
    before = [w.numpy() for w in moving]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 8)).astype(np.float32) * 3 + 1
    y = (x[:, 0] > 1).astype(np.float32)
    hist = model.fit(x, y, batch_size=32, epochs=10, verbose=0)
    assert hist.history["loss"][-1] < 0.8 * hist.history["loss"][0]
    assert hist.history["accuracy"][-1] > 0.75
    after = [w.numpy() for w in moving]
    assert all(not np.allclose(a, b) for a, b in zip(after, before))
    assert len(model.non_trainable_weights) == len(moving)


@pytest.mark.parametrize("level, opset, ir_version", [(0, 17, 9), (1, 21, 10), (2, 17, 9)])
def test_every_pipeline_level_and_opset_gives_the_same_steps(tmp_path, level, opset, ir_version):
    ws = initial_weights()
    x, y = data()
    model = mnist_mlp()
    model.set_weights(ws)
    model.compile(optimizer="rmsprop", loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    path = str(tmp_path / f"l{level}.onnx")
    state = model.export_training(path, level=level, opset=opset, ir_version=ir_version)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.ir_version == ir_version and proto.opset_import[0].version == opset
    assert {n.domain for n in proto.graph.node} <= {""}
    inn, out = model.input_names[0], model.output_names[0]
    batches = [{inn: x[s * 32:(s + 1) * 32], out: y[s * 32:(s + 1) * 32].astype(np.int64),
                f"sample_weight/{out}": np.ones(32, np.float32)} for s in range(3)]
    got, _ = _run_exported(path, state, batches)
    twin = mnist_mlp()
    twin.set_weights(ws)
    twin.compile(optimizer="rmsprop", loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    want = [twin.train_on_batch(x[s * 32:(s + 1) * 32], y[s * 32:(s + 1) * 32]) for s in range(3)]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_export_training_in_debug_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_DUMP_DIR", str(tmp_path / "dumps"))
    model = mnist_mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.export_training(str(tmp_path / "d.onnx"), debug=True)
    _check_proto(str(tmp_path / "d.onnx"))


def _all_nodes(graph):
    for n in graph.node:
        yield n
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from _all_nodes(a.g)
            for g in a.graphs:
                yield from _all_nodes(g)


def _lstm_ticket():
    a = keras.Input(shape=(None,), name="title")
    t = keras.Input(shape=(4,), name="tags")
    h = layers.LSTM(8)(layers.Embedding(50, 4)(a))
    x = layers.concatenate([h, t])
    return keras.Model([a, t], [layers.Dense(1, activation="sigmoid", name="priority")(x),
                                layers.Dense(3, activation="softmax", name="department")(x)]), (
        {"title": np.arange(12).reshape(2, 6) % 50, "tags": np.ones((2, 4), np.float32)},
        {"priority": np.ones((2, 1), np.float32), "department": np.array([0, 2])})


def _conv_net():
    i = keras.Input(shape=(10, 10, 3))
    x = layers.Conv2D(4, 3, activation="relu", padding="same")(i)
    x = layers.BatchNormalization()(x)
    x = layers.MaxPooling2D(2)(x)
    y = layers.Conv2D(4, 3, activation="relu", padding="same")(x)
    x = layers.add([x, y])
    x = layers.Conv2DTranspose(2, 3, strides=2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.5)(x)
    return keras.Model(i, layers.Dense(3)(x)), (np.ones((2, 10, 10, 3), np.float32), np.eye(3, dtype=np.float32)[[0, 2]])


@pytest.mark.parametrize("make, loss", [(_lstm_ticket, ["binary_crossentropy", "sparse_categorical_crossentropy"]),
                                        (_conv_net, losses.CategoricalCrossentropy(from_logits=True))],
                         ids=["embedding_lstm_two_heads", "conv_bn_pool_transpose_dropout"])
def test_internal_step_graphs_pass_the_full_check_with_default_domain_ops_only(make, loss):
    model, (x, y) = make()
    model.compile(optimizer="adam", loss=loss)
    model.train_on_batch(x, y)
    proto = model._train_state.proto
    onnx.checker.check_model(proto, full_check=True)
    assert {n.domain for n in _all_nodes(proto.graph)} <= {""}
    assert proto.ir_version == 9 and proto.opset_import[0].version == 17
