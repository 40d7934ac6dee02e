"""The convolutional models of the seed documents: SEEDS.md's shapes and parameter counts as numbers,
predict against the unoptimized graph on the NumPy interpreter, and ONNX export (full check, no
Transpose pair that cancels, same numbers as predict for batch sizes 1 and 7)."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest

import graphc as keras
from graphc import layers
from graphc.ops.interpreter import evaluate
from seed_conv_models import decoder_layers as build_decoder_on
from seed_conv_models import encoder_layers as build_encoder
from seed_conv_models import toy_resnet as build_toy_resnet

rng = np.random.default_rng(11)


def layer_rows(model):
    """(name, output shape without batch, params) for every layer but the inputs."""
    return [(layer.name, layer.output.shape[1:], layer.count_params()) for layer in model.layers
            if not isinstance(layer, keras.InputLayer)]


def build_seed003_stack():
    model = keras.Sequential()
    model.add(keras.Input(shape=(250, 250, 3)))
    model.add(layers.Conv2D(32, 5, strides=2, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    return model


def seed004_layers():
    return [layers.Conv2D(32, 3, activation="relu"), layers.Conv2D(64, 3, activation="relu"), layers.Flatten(),
            layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")]


# -- export checks ----------------------------------------------------------------------------------

def cancelling_pairs(model_proto):
    """Transpose nodes fed directly by another Transpose (a pair that cancels or merges)."""
    producers = {out: n for n in model_proto.graph.node for out in n.output}
    return [(producers[n.input[0]].name, n.name) for n in model_proto.graph.node
            if n.op_type == "Transpose" and n.input[0] in producers and producers[n.input[0]].op_type == "Transpose"]


def check_export(model, tmp_path, input_shape, weights_stored_once=True):
    path = str(tmp_path / f"{model.name}.onnx")
    model.export(path)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert cancelling_pairs(proto) == []
    # kernels are folded to ONNX layout at export, not transposed at run time, and stored once
    inits = {i.name: i for i in proto.graph.initializer}
    assert [n.name for n in proto.graph.node if n.op_type == "Transpose" and n.input[0] in inits] == []
    stored = sum(int(np.prod(i.dims)) for i in inits.values() if i.data_type == onnx.TensorProto.FLOAT)
    if weights_stored_once:  # (a BatchNormalization folded into its Conv changes the count)
        assert model.count_params() <= stored <= model.count_params() + 16
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    for batch in (1, 7):
        x = rng.random((batch,) + input_shape, dtype=np.float32)
        (got,) = sess.run(None, {name: x})
        np.testing.assert_allclose(got, model.predict(x), rtol=1e-4, atol=1e-5)
    return proto


def check_predict_matches_interpreter(model, input_shape, batch=3):
    x = rng.random((batch,) + input_shape, dtype=np.float32)
    graph = model._trace_graph()
    (expected,) = evaluate(graph, {graph.inputs[0].name: x})
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-4, atol=1e-5)


# -- seed 000: encoder, autoencoder, toy ResNet ------------------------------------------------------------

def test_encoder_shapes_and_params(tmp_path):
    inputs, outputs = build_encoder()
    encoder = keras.Model(inputs, outputs, name="encoder")
    assert layer_rows(encoder) == [
        ("conv2d", (26, 26, 16), 160),
        ("conv2d_1", (24, 24, 32), 4640),
        ("max_pooling2d", (8, 8, 32), 0),
        ("conv2d_2", (6, 6, 32), 9248),
        ("conv2d_3", (4, 4, 16), 4624),
        ("global_max_pooling2d", (16,), 0),
    ]
    assert encoder.count_params() == 18672
    check_predict_matches_interpreter(encoder, (28, 28, 1))
    proto = check_export(encoder, tmp_path, (28, 28, 1))
    # the only data Transpose left is the input's NHWC -> NCHW
    data = [n for n in proto.graph.node if n.op_type == "Transpose" and n.input[0] == "img"]
    assert len(data) == 1


def test_autoencoder_shapes_and_params(tmp_path):
    inputs, encoded = build_encoder()
    outputs = build_decoder_on(encoded)
    autoencoder = keras.Model(inputs, outputs, name="autoencoder")
    rows = layer_rows(autoencoder)[6:]
    assert [r[1] for r in rows] == [(4, 4, 1), (6, 6, 16), (8, 8, 32), (24, 24, 32), (26, 26, 16), (28, 28, 1)]
    assert [r[2] for r in rows] == [0, 160, 4640, 0, 4624, 145]
    assert autoencoder.count_params() == 28241
    check_predict_matches_interpreter(autoencoder, (28, 28, 1))
    check_export(autoencoder, tmp_path, (28, 28, 1))


def test_encoder_and_decoder_as_models():
    inputs, outputs = build_encoder()
    encoder = keras.Model(inputs, outputs, name="encoder")
    decoder_input = keras.Input(shape=(16,), name="encoded_img")
    decoder = keras.Model(decoder_input, build_decoder_on(decoder_input), name="decoder")
    assert decoder.count_params() == 28241 - 18672
    img = keras.Input(shape=(28, 28, 1), name="img")
    autoencoder = keras.Model(img, decoder(encoder(img)), name="autoencoder")
    assert autoencoder.count_params() == 28241
    x = rng.random((2, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(autoencoder.predict(x), decoder.predict(encoder.predict(x)), rtol=1e-4, atol=1e-5)


def test_toy_resnet(tmp_path):
    model = build_toy_resnet()
    assert model.count_params() == 223242
    rows = {name: (shape, params) for name, shape, params in layer_rows(model)}
    assert rows["max_pooling2d"] == ((9, 9, 64), 0)
    assert rows["add"] == ((9, 9, 64), 0) and rows["add_1"] == ((9, 9, 64), 0)
    assert rows["conv2d_6"] == ((7, 7, 64), 36928)
    assert rows["global_average_pooling2d"] == ((64,), 0)
    assert rows["dropout"] == ((256,), 0)
    check_predict_matches_interpreter(model, (32, 32, 3))
    check_export(model, tmp_path, (32, 32, 3))


# -- seed 003: the convolution stack growing on Input((250, 250, 3)) --------------------------------------

def test_seed003_stack(tmp_path):
    model = build_seed003_stack()
    assert layer_rows(model) == [("conv2d", (123, 123, 32), 2432), ("conv2d_1", (121, 121, 32), 9248),
                                 ("max_pooling2d", (40, 40, 32), 0)]
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(2))
    assert [r[1] for r in layer_rows(model)[3:]] == [(38, 38, 32), (36, 36, 32), (12, 12, 32), (10, 10, 32),
                                                     (8, 8, 32), (4, 4, 32)]
    assert model.count_params() == 48672  # before the head
    model.add(layers.GlobalMaxPooling2D())
    model.add(layers.Dense(10))
    assert model.count_params() == 48672 + 330
    check_export(model, tmp_path, (250, 250, 3))


# -- seed 004: one CNN in three styles ----------------------------------------------------------------------

SEED004_PARAMS = 320 + 18496 + 0 + 4718720 + 1290  # Conv2D 32, Conv2D 64, Flatten, Dense 128, Dense 10


class Seed004Model(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv32 = layers.Conv2D(32, 3, activation="relu")
        self.conv64 = layers.Conv2D(64, 3, activation="relu")
        self.flatten = layers.Flatten()
        self.dense128 = layers.Dense(128, activation="relu")
        self.dense = layers.Dense(10, activation="softmax")

    def call(self, x):
        return self.dense(self.dense128(self.flatten(self.conv64(self.conv32(x)))))


def seed004_models():
    sequential = keras.Sequential([keras.Input((28, 28, 1))] + seed004_layers())
    inputs = keras.Input(shape=(28, 28, 1))
    x = inputs
    for layer in seed004_layers():
        x = layer(x)
    functional = keras.Model(inputs=inputs, outputs=x)
    subclassed = Seed004Model()
    subclassed.build((None, 28, 28, 1))
    return {"sequential": sequential, "functional": functional, "subclassed": subclassed}


@pytest.mark.parametrize("style", ["sequential", "functional", "subclassed"])
def test_seed004_cnn(style, tmp_path):
    model = seed004_models()[style]
    assert model.count_params() == SEED004_PARAMS
    x = rng.random((3, 28, 28, 1), dtype=np.float32)
    y = model.predict(x)
    assert y.shape == (3, 10)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
    check_predict_matches_interpreter(model, (28, 28, 1))
    check_export(model, tmp_path, (28, 28, 1))


def test_seed004_styles_agree_with_the_same_weights():
    models = seed004_models()
    weights = models["sequential"].get_weights()
    for m in models.values():
        m.set_weights(weights)
    x = rng.random((4, 28, 28, 1), dtype=np.float32)
    ys = [m.predict(x) for m in models.values()]
    for y in ys[1:]:
        np.testing.assert_allclose(y, ys[0], rtol=1e-5, atol=1e-6)


def test_flatten_after_conv_uses_channels_last_order():
    """Flatten of a Conv2D output must see NHWC order, as in Keras (weights load across frameworks)."""
    inputs = keras.Input((3, 3, 2))
    conv = layers.Conv2D(2, 1, use_bias=False, kernel_initializer="ones")
    model = keras.Model(inputs, layers.Flatten()(conv(inputs)))
    x = rng.random((1, 3, 3, 2), dtype=np.float32)
    expected = np.repeat(x.sum(axis=-1, keepdims=True), 2, axis=-1).reshape(1, -1)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5)


def test_mobile_block_leaves_only_the_boundary_transposes(tmp_path):
    """Conv -> BatchNorm -> ReLU6 -> ZeroPadding -> DepthwiseConv -> residual add, as in MobileNetV2."""
    inputs = keras.Input((16, 16, 8), name="img")
    x = layers.Conv2D(16, 1, use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    x = layers.ZeroPadding2D(((0, 1), (0, 1)))(x)
    x = layers.DepthwiseConv2D(3, strides=2, use_bias=False)(x)
    x = layers.ReLU(6.0)(x)
    x = layers.Conv2D(8, 1)(x)
    shortcut = layers.MaxPooling2D(2)(inputs)
    outputs = layers.add([x, shortcut])
    model = keras.Model(inputs, outputs, name="mobile_block")
    check_predict_matches_interpreter(model, (16, 16, 8))
    proto = check_export(model, tmp_path, (16, 16, 8), weights_stored_once=False)
    transposes = [n for n in proto.graph.node if n.op_type == "Transpose"]
    assert len(transposes) == 2  # NHWC -> NCHW at the input, NCHW -> NHWC at the output


def test_small_cnn_learns_where_the_blob_is():
    """Conv, pool and Conv2DTranspose gradients through the training step on onnxruntime."""
    n = 384
    y = rng.integers(0, 2, n)
    x = rng.random((n, 12, 12, 1), dtype=np.float32) * 0.3
    for i in range(n):
        r, c = rng.integers(0, 5) + (6 if y[i] else 0), rng.integers(0, 10)
        x[i, r:r + 2, c:c + 2, 0] += 1.0
    model = keras.Sequential([keras.Input((12, 12, 1)), layers.Conv2D(8, 3, activation="relu"),
                              layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=8, batch_size=32, verbose=0).history
    assert history["loss"][-1] < history["loss"][0] * 0.8
    assert history["accuracy"][-1] > 0.85
