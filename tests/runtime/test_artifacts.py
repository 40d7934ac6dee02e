"""onnxruntime-training artifacts written from graphc's own gradient graph.

Checked here with stock onnxruntime and onnx: the three ONNX files pass onnx.checker with IR
version <= 10 and opset <= 21; the training model has one com.microsoft.InPlaceAccumulatorV2 per
trainable parameter with onnxruntime-training's names; the checkpoint reads back through the
flatbuffer classes that ship in the stock wheel; the gradients (run in stock onnxruntime) equal
those of graphc's own training step; the eval model's loss equals ``model.evaluate``.

``test_trains_with_onnxruntime_training`` (SGD and Adam, three steps each, against ``fit`` on stock
onnxruntime) needs the onnxruntime-training package, which cannot share an environment with
onnxruntime: it installs its own ``onnxruntime`` module. Run it in a venv layered over this one
(numpy, onnx, torch, graphc come from the base environment; the venv's onnxruntime 1.19.2 wins)::

    python -m venv --system-site-packages /tmp/ort-training
    /tmp/ort-training/bin/pip install --no-deps onnxruntime-training==1.19.2
    /tmp/ort-training/bin/python -m pytest tests/runtime/test_artifacts.py -p no:cacheprovider

(``import onnxruntime.training`` needs torch; without one in the base environment add
``pip install torch --index-url https://download.pytorch.org/whl/cpu``.) This passed with
onnxruntime-training 1.19.2, torch 2.13 (CPU), numpy 2.4, Python 3.11.

It is skipped cleanly where ``onnxruntime.training`` cannot be imported.
"""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import graphc
from graphc import layers
from runtime.artifacts import (GRAD_BUFFER_SUFFIX, GRAD_OUT_SUFFIX, LAZY_RESET_GRAD, export_training_artifacts,
                               gradient_graph, read_checkpoint)

if not hasattr(graphc, "losses"):
    pytest.skip("training (losses/optimizers) not in the tree", allow_module_level=True)


def mlp(optimizer="adam", frozen_first=False):
    graphc.clear_session()
    graphc.set_random_seed(3)
    inputs = graphc.Input(shape=(784,))
    first = layers.Dense(64, activation="relu")
    x = first(inputs)
    x = layers.Dense(64, activation="relu")(x)
    model = graphc.Model(inputs, layers.Dense(10)(x), name="mnist_model")
    if frozen_first:
        first.trainable = False
    model.compile(optimizer=optimizer, loss=graphc.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def batch(n=8):
    rng = np.random.default_rng(0)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)


def test_files_pass_checker_with_supported_versions(tmp_path):
    paths = export_training_artifacts(mlp(), tmp_path / "artifacts")
    assert sorted(paths) == ["checkpoint", "eval_model", "optimizer_model", "training_model"]
    for key in ("training_model", "eval_model", "optimizer_model"):
        proto = onnx.load(paths[key])
        onnx.checker.check_model(proto)
        assert proto.ir_version <= 10
        assert all(o.version <= 21 for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    onnx.checker.check_model(onnx.load(paths["eval_model"]), full_check=True)


def test_training_model_layout(tmp_path):
    model = mlp()
    paths = export_training_artifacts(model, tmp_path)
    proto = onnx.load(paths["training_model"])
    params = [w.path for w in model.trainable_weights]
    names = [i.name for i in proto.graph.input]
    assert names[:3] == ["input_layer", "dense_2", "sample_weight/dense_2"]
    assert names[3:3 + len(params)] == params
    assert names[3 + len(params):-1] == [p + GRAD_BUFFER_SUFFIX for p in params]
    assert names[-1] == LAZY_RESET_GRAD
    reset = proto.graph.input[-1].type.tensor_type
    assert reset.elem_type == onnx.TensorProto.BOOL and [d.dim_value for d in reset.shape.dim] == [1]
    assert [o.name for o in proto.graph.output] == ["loss"] + [p + GRAD_OUT_SUFFIX for p in params]
    acc = [n for n in proto.graph.node if n.domain == "com.microsoft"]
    assert [n.op_type for n in acc] == ["InPlaceAccumulatorV2"] * len(params)
    for node, p in zip(acc, params):
        assert node.input[0] == p + GRAD_BUFFER_SUFFIX and node.input[2] == LAZY_RESET_GRAD
        assert list(node.output) == [p + GRAD_OUT_SUFFIX]
    assert {n.domain for n in proto.graph.node} == {"", "com.microsoft"}


def test_checkpoint_reads_back_with_the_wheels_classes(tmp_path):
    model = mlp(frozen_first=True)
    paths = export_training_artifacts(model, tmp_path)
    raw = open(paths["checkpoint"], "rb").read()
    assert raw[4:8] == b"ODTC"
    ckpt = read_checkpoint(paths["checkpoint"])
    assert ckpt["version"] == 2
    weights = {w.path: w.numpy() for w in model.weights}
    assert list(ckpt["requires_grad"]) == ["dense_1/kernel", "dense_1/bias", "dense_2/kernel", "dense_2/bias"]
    assert list(ckpt["frozen"]) == ["dense/kernel", "dense/bias"]
    for group in ("requires_grad", "frozen"):
        for name, array in ckpt[group].items():
            assert array.dtype == np.float32 and array.shape == weights[name].shape
            np.testing.assert_array_equal(array, weights[name])
    train = onnx.load(paths["training_model"])
    assert not any(i.name.startswith("dense/") and i.name.endswith(GRAD_BUFFER_SUFFIX) for i in train.graph.input)


def test_gradients_equal_graphc_training_step(tmp_path):
    """The artifacts' backward pass is graphc's: with SGD(lr=1) a step moves each parameter by -grad."""
    x, y = batch()
    model = mlp(graphc.optimizers.SGD(learning_rate=1.0))
    proto, user_inputs, params, trainable = gradient_graph(model)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {"input_layer": x, "dense_2": y, "sample_weight/dense_2": np.ones(len(x), np.float32)}
    feeds.update({name: np.asarray(var.value) for name, var in params})
    outs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))

    state = model.export_training(str(tmp_path / "step.onnx"))
    step = ort.InferenceSession(str(tmp_path / "step.onnx"), providers=["CPUExecutionProvider"])
    step_feeds = {i.name: (feeds[i.name] if i.name in feeds else state[i.name]) for i in step.get_inputs()}
    step_outs = dict(zip([o.name for o in step.get_outputs()], step.run(None, step_feeds)))
    np.testing.assert_allclose(outs["loss"], step_outs["loss"], rtol=1e-6)
    for name in trainable:
        grad = state[name] - step_outs[f"new/{name}"]
        np.testing.assert_allclose(outs[f"{name}_grad"], grad, rtol=1e-4, atol=1e-6)


def test_eval_model_loss_equals_evaluate(tmp_path):
    x, y = batch(16)
    model = mlp()
    paths = export_training_artifacts(model, tmp_path)
    sess = ort.InferenceSession(paths["eval_model"], providers=["CPUExecutionProvider"])
    feeds = {"input_layer": x, "dense_2": y, "sample_weight/dense_2": np.ones(len(x), np.float32)}
    feeds.update({w.path: w.numpy() for w in model.weights})
    loss = sess.run(["loss"], {i.name: feeds[i.name] for i in sess.get_inputs()})[0]
    np.testing.assert_allclose(loss, model.evaluate(x, y, batch_size=16, verbose=0), rtol=1e-5)


def test_optimizer_models(tmp_path):
    adam = onnx.load(export_training_artifacts(mlp("adam"), tmp_path / "a")["optimizer_model"])
    (node,) = adam.graph.node
    assert (node.domain, node.op_type) == ("com.microsoft", "AdamWOptimizer")
    assert list(node.input) == ["learning_rate", "step", "params", "gradients", "first_order_moments",
                                "second_order_moments"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert attrs["alpha"] == pytest.approx(0.9) and attrs["beta"] == pytest.approx(0.999)
    assert attrs["epsilon"] == pytest.approx(1e-7) and attrs["correct_bias"] == 1
    assert adam.graph.input[2].type.HasField("sequence_type")
    sgd = onnx.load(export_training_artifacts(mlp("sgd"), tmp_path / "s")["optimizer_model"])
    assert sgd.graph.node[0].op_type == "SGDOptimizerV2" and sgd.ir_version == 9
    with pytest.raises(NotImplementedError, match="AdamW and SGD"):
        export_training_artifacts(mlp("rmsprop"), tmp_path / "r")


def test_versions_beyond_onnxruntime_training_are_refused(tmp_path):
    with pytest.raises(ValueError, match="IR version <= 10"):
        export_training_artifacts(mlp(), tmp_path, ir_version=11)
    with pytest.raises(ValueError, match="opset <= 21"):
        export_training_artifacts(mlp(), tmp_path, opset=22)


def test_model_method_delegates(tmp_path):
    paths = mlp().export_training_artifacts(tmp_path / "m")
    assert set(paths) == {"training_model", "eval_model", "optimizer_model", "checkpoint"}


@pytest.mark.parametrize("make_optimizer,lr,frozen", [
    (lambda: graphc.optimizers.SGD(learning_rate=0.1), 0.1, False),
    (lambda: graphc.optimizers.SGD(learning_rate=0.1), 0.1, True),
    (lambda: graphc.optimizers.Adam(learning_rate=0.01), 0.01, False)], ids=["sgd", "sgd_frozen_first", "adam"])
def test_trains_with_onnxruntime_training(make_optimizer, lr, frozen, tmp_path):
    """Three steps through onnxruntime-training's Module/Optimizer equal graphc's stock backend."""
    api = pytest.importorskip("onnxruntime.training.api", reason="onnxruntime-training is not installed "
                              "(it needs its own environment; see this file's docstring)")
    x, y = batch(24)
    model = mlp(make_optimizer(), frozen_first=frozen)
    paths = export_training_artifacts(model, tmp_path)
    state = api.CheckpointState.load_checkpoint(paths["checkpoint"])
    module = api.Module(paths["training_model"], state, paths["eval_model"], device="cpu")
    optimizer = api.Optimizer(paths["optimizer_model"], module)
    optimizer.set_learning_rate(lr)
    module.train()
    losses = []
    for i in range(3):
        xb, yb = x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8]
        losses.append(float(module(xb, yb, np.ones(len(xb), np.float32))))
        optimizer.step()
        module.lazy_reset_grad()
    module.eval()
    eval_loss = float(module(x[:8], y[:8], np.ones(8, np.float32)))

    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert np.isfinite(losses).all()
    np.testing.assert_allclose(np.mean(losses), history.history["loss"][0], rtol=1e-4)
    for w in model.weights:  # frozen ones included: they must not move
        # Adam divides by sqrt(v) + eps: float32 rounding in near-zero gradients shows at ~1e-5
        np.testing.assert_allclose(state.parameters[w.path].data, w.numpy(), rtol=1e-4, atol=5e-5)
    np.testing.assert_allclose(eval_loss, model.evaluate(x[:8], y[:8], verbose=0), rtol=1e-4)
