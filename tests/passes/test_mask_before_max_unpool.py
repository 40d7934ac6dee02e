import numpy as np

import graphc.ops as O
from graphc.ops.base import emit
from passes import MaskBeforeMaxUnpool
from pass_helpers import build, check_pass, const

POOL = dict(kernel_shape=(3, 3), strides=(3, 3))   # disjoint windows: the gradient is a MaxUnpool
SHAPES = {"x": (2, 3, 9, 10), "g": (2, 3, 3, 3)}


def relu_mask(v):
    return O.cast(O.greater(v, const(0.0)), "float32")


def test_relu_mask_moves_to_the_pooled_gradient():
    def before(x, g):
        y = O.relu(x)
        _, idx = emit("MaxPoolWithIndices", y, **POOL)
        return O.mul(emit("MaxUnpool", g, idx, y, **POOL), relu_mask(y))

    def expected(x, g):
        y = O.relu(x)
        p, idx = emit("MaxPoolWithIndices", y, **POOL)
        return emit("MaxUnpool", O.mul(g, relu_mask(p)), idx, y, **POOL)

    g = check_pass(MaskBeforeMaxUnpool(), build(before, SHAPES), build(expected, SHAPES))
    greater = [n for n in g.nodes if n.op == "Greater"]
    assert len(greater) == 1 and greater[0].inputs[0].shape == (2, 3, 3, 3)


def test_mask_first_and_a_longer_chain():
    """Mul(mask, unpooled) with the mask Cast(Not(x <= 0.5)): the chain is rebuilt on the pool."""
    def before(x, g):
        _, idx = emit("MaxPoolWithIndices", x, **POOL)
        mask = O.cast(emit("Not", O.less_or_equal(x, const(0.5))), "float32")
        return O.mul(mask, emit("MaxUnpool", g, idx, x, **POOL))

    def expected(x, g):
        p, idx = emit("MaxPoolWithIndices", x, **POOL)
        mask = O.cast(emit("Not", O.less_or_equal(p, const(0.5))), "float32")
        return emit("MaxUnpool", O.mul(mask, g), idx, x, **POOL)

    check_pass(MaskBeforeMaxUnpool(), build(before, SHAPES), build(expected, SHAPES))


def test_does_not_fire_when_the_mask_reads_another_tensor():
    def before(x, g, z):
        _, idx = emit("MaxPoolWithIndices", x, **POOL)
        return O.mul(emit("MaxUnpool", g, idx, x, **POOL), O.cast(O.greater(x, z), "float32"))

    p = MaskBeforeMaxUnpool()
    check_pass(p, build(before, dict(SHAPES, z=(2, 3, 9, 10))), fires=False)
    assert "reads Input's output, not the pool's input" in " ".join(p.near_misses.values())


def test_does_not_fire_for_a_factor_that_is_not_a_mask():
    """Sign(x) is not 0/1: moving it would change nothing here, but the rule only moves masks."""
    def before(x, g):
        _, idx = emit("MaxPoolWithIndices", x, **POOL)
        return O.mul(emit("MaxUnpool", g, idx, x, **POOL), emit("Sign", x))

    p = MaskBeforeMaxUnpool()
    check_pass(p, build(before, SHAPES), fires=False)
    assert "not a bool mask" in " ".join(p.near_misses.values())


def test_does_not_fire_when_the_indices_pool_another_tensor():
    def before(x, g, w):
        _, idx = emit("MaxPoolWithIndices", w, **POOL)
        return O.mul(emit("MaxUnpool", g, idx, x, **POOL), relu_mask(x))

    p = MaskBeforeMaxUnpool()
    check_pass(p, build(before, dict(SHAPES, w=(2, 3, 9, 10))), fires=False)
    assert "do not come from a MaxPoolWithIndices" in " ".join(p.near_misses.values())


def test_training_step_masks_the_pooled_gradient():
    """In fit's step the gradient of the ReLU before a pool is masked at the pool's size: the
    comparison reads the pool's output, not the 9x9 activation."""
    import graphc as keras
    from graphc import layers

    keras.set_random_seed(3)
    inputs = keras.Input((9, 9, 2))
    x = layers.MaxPooling2D(3)(layers.Conv2D(8, 3, padding="same", activation="relu")(inputs))
    model = keras.Model(inputs, layers.Dense(3)(layers.Flatten()(x)))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(rng.random((16, 9, 9, 2), dtype=np.float32), rng.integers(0, 3, 16), batch_size=8, verbose=0)
    nodes = model._train_state.proto.graph.node
    pooled = {n.output[0] for n in nodes if n.op_type == "MaxPool"}
    compared = [n.input[0] for n in nodes if n.op_type == "Greater"]
    assert len(pooled) == 1 and compared == list(pooled), (pooled, compared)
