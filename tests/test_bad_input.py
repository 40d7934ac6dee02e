"""A careless or hostile user against the public API: each case asserts the exception type and that the
message names the argument and what was received (found by an adversarial audit of the entry points)."""
import os
import zipfile

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import graphc as keras
from graphc import layers
from graphc.onnx import import_model
from graphc.saving import FileFormatError, load_onnx


@pytest.fixture(scope="module")
def mlp():
    inputs = keras.Input((8,), name="x")
    outputs = layers.Dense(3, name="head")(layers.Dense(4, activation="relu", name="hidden")(inputs))
    model = keras.Model(inputs, outputs, name="mlp")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


X = np.random.default_rng(0).standard_normal((5, 8)).astype("float32")


# -- model inputs: one validation point (graphc.models.data) serves call, predict and the *_on_batch ----------
@pytest.mark.parametrize("entry", ["call", "predict", "predict_on_batch"])
@pytest.mark.parametrize("x, exc, words", [
    (None, TypeError, ["x", "received None"]),
    (X.astype(complex), TypeError, ["x", "numeric array", "complex128"]),
    (np.array([["a"] * 8] * 5), TypeError, ["x", "numeric array", "<U1"]),
])
def test_bad_model_input(mlp, entry, x, exc, words):
    run = {"call": lambda: mlp(x), "predict": lambda: mlp.predict(x, verbose=0),
           "predict_on_batch": lambda: mlp.predict_on_batch(x)}[entry]
    with pytest.raises(exc) as e:
        run()
    for w in words:
        assert w in str(e.value)


def test_predict_batch_size_zero_is_refused(mlp):
    with pytest.raises(ValueError, match=r"batch_size: expected a positive int, received 0"):
        mlp.predict(X, batch_size=0, verbose=0)


# -- structure -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, exc, message", [
    ({"index": "1"}, TypeError, r"get_layer: index must be an int, received '1'"),
    ({"index": True}, TypeError, r"get_layer: index must be an int, received True"),
    ({"name": 3}, TypeError, r"get_layer: name must be a str, received 3"),
])
def test_get_layer_wrong_types(mlp, kwargs, exc, message):
    with pytest.raises(exc, match=message):
        mlp.get_layer(**kwargs)


@pytest.mark.parametrize("weights, exc, message", [
    (None, TypeError, r'Layer "mlp": set_weights expected a list of 4 arrays, received NoneType'),
    ({"kernel": 1}, TypeError, r"set_weights expected a list of 4 arrays, received dict"),
    ("abcd", TypeError, r"set_weights expected a list of 4 arrays, received str"),
    ("strings", TypeError, r"set_weights weights\[0\] \(hidden/kernel\) expects a numeric array of dtype float32, "
                           r"received dtype <U1"),
])
def test_set_weights_wrong_types_leave_weights_unchanged(mlp, weights, exc, message):
    before = mlp.get_weights()
    if isinstance(weights, str) and weights == "strings":
        weights = [np.full((8, 4), "a")] + before[1:]
    with pytest.raises(exc, match=message):
        mlp.set_weights(weights)
    for a, b in zip(before, mlp.get_weights()):
        np.testing.assert_array_equal(a, b)


# -- writing files -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["export", "export_training"])
@pytest.mark.parametrize("where, exc, message", [
    ("dir", IsADirectoryError, "is a directory"),
    ("under_file", NotADirectoryError, "is a file, not a directory"),
    ("none", TypeError, "received NoneType"),
])
def test_export_to_a_bad_path(mlp, tmp_path, method, where, exc, message):
    (tmp_path / "afile").write_bytes(b"x")
    path = {"dir": tmp_path, "under_file": tmp_path / "afile" / "m.onnx", "none": None}[where]
    with pytest.raises(exc) as e:
        getattr(mlp, method)(path)
    assert str(e.value).startswith("filepath: ") and message in str(e.value)
    assert sorted(os.listdir(tmp_path)) == ["afile"]  # no temporary file left behind


def test_export_opset_of_wrong_type(mlp, tmp_path):
    with pytest.raises(TypeError, match=r"opset: expected an int, received '17'"):
        mlp.export(tmp_path / "m.onnx", opset="17")


# -- reading files -------------------------------------------------------------------------------------------
def test_load_model_of_none_or_a_directory(tmp_path):
    with pytest.raises(TypeError, match=r"load_model: filepath must be a path .*received NoneType"):
        keras.load_model(None)
    with pytest.raises(IsADirectoryError, match=r"load_model: filepath .* is a directory, expected a file"):
        keras.load_model(tmp_path)


def _edit_config(src, dst, edit):
    import json

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "config.json":
                config = json.loads(data)
                edit(config["model"]["config"])
                data = json.dumps(config).encode()
            zout.writestr(name, data)


@pytest.mark.parametrize("case", ["units", "input_dim"])
def test_load_model_refuses_absurd_sizes_before_allocating(mlp, tmp_path, case):
    mlp.save(tmp_path / "m.graphc")

    def edit(config):
        if case == "units":
            config["layers"][1]["config"]["units"] = 10**12
        else:
            config["layers"][0]["config"]["batch_shape"] = [None, 10**12]
    _edit_config(tmp_path / "m.graphc", tmp_path / "evil.graphc", edit)
    with pytest.raises(FileFormatError, match=r'Layer "hidden": weight \'kernel\' of shape .*1000000000000.* '
                                              r"far more than the [\d,]+ bytes of weight data in the file"):
        keras.load_model(tmp_path / "evil.graphc")


def _relu_model(node_input="x"):
    graph = helper.make_graph([helper.make_node("Relu", [node_input], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("cut", [0.0, 0.3, 0.9])
def test_import_truncated_onnx(tmp_path, cut):
    data = _relu_model().SerializeToString()
    path = tmp_path / "m.onnx"
    path.write_bytes(data[:int(len(data) * cut)])
    with pytest.raises(ValueError, match=rf"{path}: not a valid ONNX model"):
        import_model(path)
    with pytest.raises(FileFormatError, match="not a valid ONNX model"):
        load_onnx(path)
    if cut:
        with pytest.raises(ValueError, match=r"model: bytes that are not a valid ONNX model"):
            import_model(data[:int(len(data) * cut)])


@pytest.mark.parametrize("arg", [None, 42])
def test_import_wrong_argument_type(arg):
    with pytest.raises(TypeError, match=rf"import_model: model must be a path, bytes or an onnx.ModelProto, received "
                                        rf"{type(arg).__name__}"):
        import_model(arg)


def test_import_node_reading_an_undefined_value():
    with pytest.raises(ValueError, match=r"ONNX node 'Relu' \(Relu\) reads \['q'\], which no graph input"):
        import_model(_relu_model("q"))


# -- second round: layers, model construction, saving paths, predict arguments --------------------------------
@pytest.mark.parametrize("target, shape", [((5,), (3, 4)), ((-1, 5), (3, 4)), ((2, 7), (3, 4))])
def test_reshape_to_a_different_size(target, shape):
    with pytest.raises(ValueError, match=rf"Layer \"reshape.*\": cannot reshape input of shape \(None, {shape[0]}, "
                                         rf"{shape[1]}\) \(12 values per sample\) to target_shape"):
        layers.Reshape(target)(keras.Input(shape))


@pytest.mark.parametrize("target, shape, out", [((-1,), (3, 4), (None, 12)), ((-1, 6), (3, 4), (None, 2, 6)),
                                                ((4, -1), (None, 4), (None, 4, None))])
def test_reshape_compatible_sizes_still_work(target, shape, out):
    assert tuple(layers.Reshape(target)(keras.Input(shape)).shape) == out


def test_model_rejects_unknown_keyword():
    inputs = keras.Input((3,))
    with pytest.raises(TypeError, match=r"Functional: unexpected keyword argument\(s\) \['frob'\]"):
        keras.Model(inputs, layers.Dense(2)(inputs), frob=1)


@pytest.mark.parametrize("method", ["save", "save_weights", "load_weights"])
def test_saving_with_a_filepath_of_wrong_type(mlp, method):
    with pytest.raises(TypeError, match=rf"{method}: filepath must be a path \(str or os.PathLike\), received "
                                        "NoneType"):
        getattr(mlp, method)(None)


def test_load_weights_from_a_directory(mlp, tmp_path):
    with pytest.raises(IsADirectoryError, match=r"load_weights: filepath .* is a directory, expected a file"):
        mlp.load_weights(tmp_path)


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(2)

    def call(self, x):
        return self.dense(x)


@pytest.mark.parametrize("make", [lambda: keras.Sequential([layers.Dense(2)]), _Subclassed])
def test_predict_none_before_the_model_is_built(make):
    with pytest.raises(TypeError, match=r"predict: x is required .*received None"):
        make().predict(None)


@pytest.mark.parametrize("verbose", ["x", -1, 1.5])
def test_predict_verbose_of_wrong_value(mlp, verbose):
    with pytest.raises(ValueError, match=rf"verbose: expected \"auto\", 0, 1 or 2, received {verbose!r}"):
        mlp.predict(X, verbose=verbose)


def test_fit_callbacks_not_a_list(mlp):
    with pytest.raises(TypeError, match=r"callbacks: expected a list of Callback objects, received int"):
        mlp.fit(X, np.zeros(5, "int64"), callbacks=5, verbose=0)


def test_model_call_with_a_second_array_is_refused(mlp):
    with pytest.raises(TypeError, match=r'Model "mlp" call: expected the inputs and optionally training \(a bool\), '
                                        r"received 2 positional arguments"):
        mlp(X, X)
    np.testing.assert_array_equal(mlp(X, False), mlp(X))  # Keras' positional training flag still works


def _exported(tmp_path):
    inputs = keras.Input((8,), name="x")
    keras.Model(inputs, layers.Dense(3)(inputs)).export(tmp_path / "m.onnx")
    return onnx.load(tmp_path / "m.onnx")


@pytest.mark.parametrize("corrupt, message", [
    (lambda p: p.graph.initializer[0].dims.__setitem__(0, 10**6),
     r"ONNX initializer '.*' \(dims \[1000000, 3\]\) is corrupted"),
    (lambda p: p.graph.ClearField("output"), r"ONNX graph '.*' has no outputs"),
    (lambda p: p.graph.node.extend([p.graph.node[-1]]), r"writes '.*', which is already defined"),
])
def test_import_malformed_onnx_graph(tmp_path, corrupt, message):
    proto = _exported(tmp_path)
    corrupt(proto)
    with pytest.raises(ValueError, match=message):
        import_model(proto)


@pytest.mark.parametrize("method, name", [("save", "m.graphc"), ("save_weights", "m.weights.graphc"),
                                          ("save_weights", "m.weights.h5"), ("load_weights", "m.weights.graphc")])
def test_saving_to_a_directory(mlp, tmp_path, method, name):
    (tmp_path / name).mkdir()
    with pytest.raises(IsADirectoryError, match=rf"{method}: filepath .*{name} is a directory"):
        getattr(mlp, method)(tmp_path / name)
    assert os.listdir(tmp_path) == [name] and not os.listdir(tmp_path / name)


# -- training entry points (fit, evaluate, the *_on_batch, compile) ---------------------------------------------
def _regression():
    inputs = keras.Input((8,))
    model = keras.Model(inputs, layers.Dense(3)(inputs))
    model.compile("adam", "mse")
    return model


def _two_outputs():
    inputs = keras.Input((8,))
    return keras.Model(inputs, [layers.Dense(3, name="p")(inputs), layers.Dense(2, name="q")(inputs)])


EMPTY = (np.zeros((0, 8), "float32"), np.zeros((0, 3), "float32"))
Y3 = np.zeros((5, 3), "float32")


@pytest.mark.parametrize("entry", ["fit", "evaluate", "train_on_batch", "test_on_batch"])
def test_zero_rows_are_refused(entry):
    """0 samples: fit and evaluate returned empty logs and train_on_batch reached onnxruntime."""
    model = _regression()
    run = {"fit": lambda: model.fit(*EMPTY, verbose=0), "evaluate": lambda: model.evaluate(*EMPTY, verbose=0),
           "train_on_batch": lambda: model.train_on_batch(*EMPTY),
           "test_on_batch": lambda: model.test_on_batch(*EMPTY)}[entry]
    with pytest.raises(ValueError, match=rf"{entry}: x has no rows \(0 samples\)"):
        run()


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"epochs": "2"}, TypeError, "fit: epochs must be an int >= 0, received '2'"),
    ({"epochs": 2.0}, TypeError, "fit: epochs must be an int >= 0, received 2.0"),
    ({"initial_epoch": -1}, TypeError, "fit: initial_epoch must be an int >= 0, received -1"),
    ({"verbose": "x"}, ValueError, "verbose: expected \"auto\", 0, 1 or 2, received 'x'"),
    ({"class_weight": {"a": 1.0}}, TypeError, "class_weight: keys must be class indices .*received the key 'a'"),
    ({"class_weight": {0: "heavy"}}, TypeError, "class_weight: the weight of class 0 must be a finite number, "
                                                "received 'heavy'"),
])
def test_fit_argument_types(kwargs, exc, message):
    model = _regression()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(exc, match=message):
        model.fit(X, Y3, **{"verbose": 0, **kwargs})
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_evaluate_verbose_of_wrong_value():
    with pytest.raises(ValueError, match="verbose: expected \"auto\", 0, 1 or 2, received 'x'"):
        _regression().evaluate(X, Y3, verbose="x")


def test_learning_rate_of_wrong_type():
    with pytest.raises(TypeError, match="adam: learning_rate must be a number or a LearningRateSchedule, received 'x'"):
        keras.optimizers.Adam(learning_rate="x")


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"metrics": "mae"}, TypeError, r"compile: metrics must be a list, tuple or dict \(by output\), received 'mae'; "
                                    r"write metrics=\['mae'\]"),
    ({"loss_weights": "heavy"}, TypeError, "compile: loss_weights must be a number, list or dict, received 'heavy'"),
    ({"loss_weights": ["a"]}, TypeError, "loss_weights: expected a number for output .*, received 'a'"),
])
def test_compile_argument_types(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        _regression().compile("adam", "mse", **kwargs)


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"loss": {"p": "mse", "zz": "mse"}}, KeyError, r"loss: key\(s\) \['zz'\] match no output of the model; its "
                                                    r"outputs are \['p', 'q'\]"),
    ({"loss": "mse", "loss_weights": [1.0]}, ValueError, r"loss_weights: the model has 2 outputs \['p', 'q'\], "
                                                         "received 1 values"),
    ({"loss": "mse", "metrics": {"zz": ["mae"]}}, KeyError, r"metrics: key\(s\) \['zz'\] match no output"),
])
def test_compile_matches_losses_to_outputs_when_built(kwargs, exc, message):
    """A built model's compile matches losses, weights and metrics to its outputs there, not at the first fit."""
    with pytest.raises(exc, match=message) as e:
        _two_outputs().compile("adam", **kwargs)
    assert not str(e.value).startswith(("'", '"'))  # printed as the message, not KeyError's quoted repr
    if exc is KeyError:
        assert isinstance(e.value, ValueError)


def test_single_output_takes_one_element_lists():
    """loss=["mse"], loss_weights=[2.0] on a one-output model mean "mse" and 2.0, as in Keras."""
    a, b = _regression(), _regression()
    b.set_weights(a.get_weights())
    a.compile("adam", ["mse"], loss_weights=[2.0])
    b.compile("adam", "mse")
    y = np.random.default_rng(1).standard_normal((5, 3)).astype("float32")
    np.testing.assert_allclose(a.evaluate(X, y, verbose=0), 2.0 * b.evaluate(X, y, verbose=0), rtol=1e-6)
