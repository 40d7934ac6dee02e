"""StoreParamsInChunks: large MatMul weights (and their optimizer slots) kept as row chunks in fit's step."""
import numpy as np
import onnx
import pytest

import graphc as keras
import graphc.ops as O
import passes.param_chunks as param_chunks
from graphc.ir import ParamLayout, TensorType, Variable, chunk_name, param_value
from graphc.ops import current_builder
from graphc.ops.base import emit
from passes.param_chunks import StoreParamsInChunks, chunk_rows
from pass_helpers import build, check_pass, fit_save_resume, small_cnn, small_cnn_data

RNG = np.random.default_rng(0)


def _var(shape, name):
    return Variable(RNG.standard_normal(shape).astype(np.float32), name)


def _chunk(var, rows, layout=None):
    """A Param node for rows ``start:stop`` of ``var`` (what the pass produces)."""
    attrs = {"variable": var, "rows": rows}
    if layout is not None:
        attrs["layout"] = layout
    g = current_builder().graph
    return g.add_node("Param", [], [TensorType(var.dtype, (rows[1] - rows[0], var.shape[1]))], attrs).output


# -- chunk_rows, param_value -------------------------------------------------------------------------

def test_chunk_rows_tiles_the_rows_in_near_equal_blocks():
    assert chunk_rows(36864, 128, 1 << 18) == [(i * 2048, (i + 1) * 2048) for i in range(18)]
    assert chunk_rows(8, 3, 9) == [(0, 3), (3, 6), (6, 8)]
    assert chunk_rows(3, 100, 10) == [(0, 1), (1, 2), (2, 3)]  # one row at least per chunk
    assert chunk_rows(5, 2, 100) == [(0, 5)]
    with pytest.raises(ValueError, match="expected positive sizes"):
        chunk_rows(0, 3)


def test_param_value_of_a_chunk_is_its_rows_of_the_device_layout():
    w = _var((24, 5), "dense/kernel")
    lay = ParamLayout((24, 5), (3, 2, 4, 5), (2, 0, 1, 3), (24, 5))
    g = build(lambda: (), {})
    node = g.add_node("Param", [], [TensorType("float32", (8, 5))], {"variable": w, "layout": lay, "rows": (8, 16)})
    np.testing.assert_array_equal(param_value(node), lay.to_device(w.value)[8:16])
    assert param_value(node).flags.c_contiguous
    assert chunk_name("optimizer/dense/kernel/momentum", (8, 16)) == "optimizer/dense/kernel/momentum:8-16"


# -- the pass ---------------------------------------------------------------------------------------

def test_matmul_weight_becomes_chunks_summed_over_a_split_input():
    w = _var((8, 3), "dense/kernel")

    def before(x):
        return O.relu(O.matmul(x, current_builder().param(w)))

    def expected(x):
        xs = emit("Split", x, axis=1, split=(3, 3, 2))
        acc = None
        for xk, rows in zip(xs, [(0, 3), (3, 6), (6, 8)]):
            prod = O.matmul(xk, _chunk(w, rows))
            acc = prod if acc is None else O.add(acc, prod)
        return O.relu(acc)

    p = StoreParamsInChunks([w], above=10, chunk=9)
    check_pass(p, build(before, {"x": ("batch", 8)}), build(expected, {"x": ("batch", 8)}))
    p.run(build(before, {"x": ("batch", 8)}))
    assert [rows for rows, _ in p.chunks[w.uid]] == [(0, 3), (3, 6), (6, 8)]


def test_chunks_keep_the_device_layout_of_a_dense_after_flatten():
    w = _var((24, 5), "dense/kernel")
    lay = ParamLayout((24, 5), (3, 2, 4, 5), (2, 0, 1, 3), (24, 5))

    def before(z):
        g = current_builder().graph
        p = g.add_node("Param", [], [TensorType("float32", (24, 5))], {"variable": w, "layout": lay}).output
        return O.matmul(emit("Flatten", z, axis=1), p)

    p = StoreParamsInChunks([w], above=50, chunk=40)
    g = check_pass(p, build(before, {"z": ("batch", 4, 3, 2)}))
    chunks = [n for n in g.params()]
    assert [n.attrs["rows"] for n in chunks] == [(0, 8), (8, 16), (16, 24)]
    assert all(n.attrs["layout"] == lay for n in chunks)


def test_does_not_fire_on_small_or_shared_or_left_operand_params():
    small, shared, left, other = (_var((4, 3), "small"), _var((8, 3), "shared"), _var((8, 8), "left"),
                                  _var((8, 3), "other"))

    def before(x, y):
        b = current_builder()
        a = O.matmul(x, b.param(small))
        s = O.add(O.matmul(y, b.param(shared)), O.reduce_sum(b.param(shared), axes=(0,), keepdims=True))
        l_ = O.matmul(b.param(left), y)
        return a, s, l_, O.matmul(y, b.param(other))

    p = StoreParamsInChunks([small, shared, left], above=12, chunk=8)
    check_pass(p, build(before, {"x": (2, 4), "y": (8, 8)}), fires=False)
    assert "read 2 times" in p.reasons["shared"]
    assert "not the weight of a MatMul" in p.reasons["left"]
    assert "small" not in p.reasons and "other" not in p.reasons  # too small / not given


# -- training with chunked parameters ------------------------------------------------------------------

@pytest.fixture
def small_chunks(monkeypatch):
    """Chunk parameters above 100 elements into chunks of at most 100 (the Dense kernel: 4 of 16 rows)."""
    monkeypatch.setattr(param_chunks, "CHUNK_ABOVE", 100)
    monkeypatch.setattr(param_chunks, "CHUNK_ELEMENTS", 100)


def _fit_unchunked(model, *args, **kwargs):
    with pytest.MonkeyPatch.context() as m:
        m.setattr(param_chunks, "CHUNK_ABOVE", 1 << 62)
        model.fit(*args, **kwargs)
    assert not model._train_state.sig.chunks


def _assert_same_training(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert wa.shape == wb.shape
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)
    got, want = a.optimizer.get_state(), b.optimizer.get_state()
    assert len(got) == len(want)  # same order; names differ between the two models
    for (k, ga), gb in zip(got.items(), want.values()):
        assert ga.shape == gb.shape, k
        np.testing.assert_allclose(ga, gb, rtol=1e-5, atol=1e-6, err_msg=k)


OPTIMIZERS = {
    "adam": lambda: keras.optimizers.Adam(),
    "adamw": lambda: keras.optimizers.AdamW(weight_decay=0.01),
    "adam_clipnorm": lambda: keras.optimizers.Adam(clipnorm=0.05),
    "adam_global_clipnorm": lambda: keras.optimizers.Adam(global_clipnorm=0.05),
    "rmsprop": lambda: keras.optimizers.RMSprop(),
    "rmsprop_centered_momentum": lambda: keras.optimizers.RMSprop(centered=True, momentum=0.5),
    "sgd_nesterov": lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True, clipvalue=0.1),
    "adagrad": lambda: keras.optimizers.Adagrad(0.05),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_fit_with_chunks_gives_the_weights_and_state_of_the_whole_step(small_chunks, name):
    x, y = small_cnn_data()
    chunked, whole = small_cnn(OPTIMIZERS[name]()), small_cnn(OPTIMIZERS[name]())
    chunked.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    sig = chunked._train_state.sig
    kernel = chunked.layers[4].kernel
    names = [n for n, (whole_name, _) in sig.chunks.items() if whole_name == kernel.path]
    assert names == [chunk_name(kernel.path, (i * 16, i * 16 + 16)) for i in range(4)]
    assert {w for w, _ in sig.chunks.values()} == {kernel.path} | {
        f"optimizer/{kernel.path}/{s}" for s in chunked.optimizer.slot_names(kernel)}
    _fit_unchunked(whole, x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    _assert_same_training(chunked, whole)


def test_the_chunked_step_is_a_valid_onnx_graph(small_chunks):
    model = small_cnn("adam")
    x, y = small_cnn_data(8)
    model.fit(x, y, batch_size=8, verbose=0)
    proto = model._train_state.proto
    onnx.checker.check_model(proto, full_check=True)
    ops = [n.op_type for n in proto.graph.node]
    assert "Split" in ops
    inputs = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input}
    assert inputs["dense/kernel:16-32"] == [16, 6] and "dense/kernel" not in inputs
    assert inputs["optimizer/dense/kernel/velocity:48-64"] == [16, 6]


def test_a_saved_model_resumes_with_chunks(small_chunks, tmp_path):
    a = small_cnn("adam")
    b = fit_save_resume(a, tmp_path)
    assert b._train_state.sig.chunks
    _assert_same_training(a, b)


def test_set_weights_and_set_state_between_fits_reach_the_chunks(small_chunks):
    x, y = small_cnn_data()
    chunked, whole = small_cnn("rmsprop"), small_cnn("rmsprop")

    def train(model, fit):
        fit(model, x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        model.set_weights([w * 0.5 for w in model.get_weights()])
        state = model.optimizer.get_state()
        model.optimizer.set_state({k: v * 2 if v.ndim else v for k, v in state.items()})
        fit(model, x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)

    train(chunked, type(chunked).fit)
    assert chunked._train_state.sig.chunks
    train(whole, _fit_unchunked)
    _assert_same_training(chunked, whole)


def test_a_frozen_large_kernel_is_not_chunked_and_stays_bit_identical(small_chunks):
    x, y = small_cnn_data()
    model = small_cnn("adam")
    model.layers[4].trainable = False
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    frozen = model.layers[4].kernel.numpy().copy()
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert not model._train_state.sig.chunks
    np.testing.assert_array_equal(model.layers[4].kernel.numpy(), frozen)


def test_export_training_keeps_one_array_per_variable(small_chunks, tmp_path):
    model = small_cnn("adam")
    x, y = small_cnn_data(8)
    model.fit(x, y, batch_size=8, verbose=0)
    state = model.export_training(str(tmp_path / "step.onnx"))
    kernel = model.layers[4].kernel
    assert state[kernel.path].shape == (64, 6)
    assert state[f"optimizer/{kernel.path}/momentum"].shape == (64, 6)
    assert not any(":" in name for name in state)
    np.testing.assert_array_equal(state[kernel.path], kernel.numpy())
