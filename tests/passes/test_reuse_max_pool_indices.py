import numpy as np

import graphc.ops as O
from graphc.ops.base import emit
from passes import ReuseMaxPoolIndices
from pass_helpers import build, check_pass

ATTRS = dict(kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1))


def test_max_pool_reads_the_indexed_pool():
    def before(x):
        y = O.max_pool2d(O.relu(x), **ATTRS)
        _, idx = emit("MaxPoolWithIndices", y.node.inputs[0], **y.node.attrs)
        return O.mul(y, np.asarray(2.0, np.float32)), idx

    def expected(x):
        y, idx = emit("MaxPoolWithIndices", O.relu(x), **ATTRS)
        return O.mul(y, np.asarray(2.0, np.float32)), idx

    g = check_pass(ReuseMaxPoolIndices(), build(before, {"x": (2, 3, 9, 9)}), build(expected, {"x": (2, 3, 9, 9)}))
    assert g.count_ops().get("MaxPool", 0) == 0


def test_does_not_fire_for_other_attributes():
    def before(x):
        y = O.max_pool2d(x, **ATTRS)
        _, idx = emit("MaxPoolWithIndices", x, kernel_shape=(2, 2), strides=(2, 2))
        return y, idx

    p = ReuseMaxPoolIndices()
    check_pass(p, build(before, {"x": (2, 3, 8, 8)}), fires=False)
    assert "other attributes" in " ".join(p.near_misses.values())


def test_training_step_runs_one_pool():
    """The gradient's pool with indices serves the forward pass too."""
    import graphc as keras
    from graphc import layers

    inputs = keras.Input((8, 8, 2))
    x = layers.MaxPooling2D(2)(layers.Conv2D(4, 3, activation="relu")(inputs))
    model = keras.Model(inputs, layers.Dense(3)(layers.Flatten()(x)))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(rng.random((8, 8, 8, 2), dtype=np.float32), rng.integers(0, 3, 8), batch_size=4, verbose=0)
    ops = [n.op_type for n in model._train_state.proto.graph.node]
    assert ops.count("MaxPool") == 1
