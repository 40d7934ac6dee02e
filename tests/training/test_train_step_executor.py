"""runtime.train_step.TrainStepExecutor on a hand-written ONNX step: ping-pong state, batch sizes,
read/write of state, private host buffers."""
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as T
from onnx import helper

from runtime.train_step import TrainStepExecutor


def sgd_step_model():
    """loss = mean((x @ w - y)^2); w_new = w - lr * dloss/dw; count_new = count + 1; bias read-only."""
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["xw"]),
        helper.make_node("Add", ["xw", "bias"], ["pred"]),
        helper.make_node("Sub", ["pred", "y"], ["err"]),
        helper.make_node("Mul", ["err", "err"], ["sq"]),
        helper.make_node("ReduceMean", ["sq"], ["loss"], keepdims=0),
        helper.make_node("Shape", ["x"], ["xs"]),
        helper.make_node("Gather", ["xs", "zero"], ["n"], axis=0),
        helper.make_node("Cast", ["n"], ["nf"], to=T.FLOAT),
        helper.make_node("Transpose", ["x"], ["xt"]),
        helper.make_node("MatMul", ["xt", "err"], ["g0"]),
        helper.make_node("Mul", ["g0", "two"], ["g1"]),
        helper.make_node("Div", ["g1", "nf"], ["g"]),
        helper.make_node("Mul", ["g", "lr"], ["step"]),
        helper.make_node("Sub", ["w", "step"], ["new/w"]),
        helper.make_node("Add", ["count", "one"], ["new/count"]),
    ]
    graph = helper.make_graph(
        nodes, "step",
        [helper.make_tensor_value_info("x", T.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("y", T.FLOAT, ["batch", 1]),
         helper.make_tensor_value_info("w", T.FLOAT, [3, 1]),
         helper.make_tensor_value_info("bias", T.FLOAT, [1]),
         helper.make_tensor_value_info("count", T.INT64, []),
         helper.make_tensor_value_info("lr", T.FLOAT, [])],
        [helper.make_tensor_value_info("loss", T.FLOAT, []),
         helper.make_tensor_value_info("pred", T.FLOAT, ["batch", 1]),
         helper.make_tensor_value_info("new/w", T.FLOAT, [3, 1]),
         helper.make_tensor_value_info("new/count", T.INT64, [])],
        initializer=[helper.make_tensor("two", T.FLOAT, [], [2.0]), helper.make_tensor("one", T.INT64, [], [1]),
                     helper.make_tensor("zero", T.INT64, [], [0])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    return model


def reference(w, bias, batches, lr):
    losses = []
    for x, y in batches:
        err = x @ w + bias - y
        losses.append(float((err ** 2).mean()))
        w = w - lr * (2 * x.T @ err / len(x))
    return losses, w


def test_ping_pong_matches_reference_over_varying_batch_sizes():
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 1)).astype(np.float32)
    bias = np.array([0.5], np.float32)
    sizes = [8, 8, 5, 8, 1, 3, 8]
    batches = [(rng.standard_normal((n, 3)).astype(np.float32), rng.standard_normal((n, 1)).astype(np.float32))
               for n in sizes]
    init = {"w": w0, "bias": bias, "count": np.asarray(0, np.int64)}
    ex = TrainStepExecutor(sgd_step_model(), [("w", "new/w"), ("count", "new/count")], init,
                           feeds=["x", "y", "lr"], fetches=["loss", "pred"])
    got, preds = [], []
    for x, y in batches:
        loss, pred = ex.run({"x": x, "y": y, "lr": np.asarray(0.1, np.float32)})
        assert pred.shape == (len(x), 1)
        got.append(float(loss))
        preds.append(pred)
    want, w_ref = reference(w0.astype(np.float64), bias, batches, 0.1)
    # fetched arrays are the caller's: later steps (reusing fetch buffers per shape) do not touch them
    w = w0.astype(np.float64)
    for (x, y), pred in zip(batches, preds):
        np.testing.assert_allclose(pred, x @ w + bias, rtol=1e-5, atol=1e-6)
        w = w - 0.1 * (2 * x.T @ (x @ w + bias - y) / len(x))
    assert len(ex._fetch_buffers) == 4  # one buffer set per distinct batch size
    np.testing.assert_allclose(got, want, rtol=1e-5)
    state = ex.read_state()
    np.testing.assert_allclose(state["w"], w_ref, rtol=1e-5)
    assert int(state["count"]) == len(sizes) and ex.steps == len(sizes)
    np.testing.assert_array_equal(state["bias"], bias)
    np.testing.assert_array_equal(init["w"], w0)  # the caller's arrays are never written


def test_read_state_returns_copies_and_write_state_replaces():
    w0 = np.ones((3, 1), np.float32)
    ex = TrainStepExecutor(sgd_step_model(), [("w", "new/w"), ("count", "new/count")],
                           {"w": w0, "bias": np.zeros(1, np.float32), "count": np.asarray(0, np.int64)},
                           feeds=["x", "y", "lr"], fetches=["loss"])
    x, y = np.ones((4, 3), np.float32), np.zeros((4, 1), np.float32)
    ex.run({"x": x, "y": y, "lr": np.asarray(0.01, np.float32)})
    snap = ex.read_state(["w"])["w"]
    ex.run({"x": x, "y": y, "lr": np.asarray(0.01, np.float32)})
    ex.run({"x": x, "y": y, "lr": np.asarray(0.01, np.float32)})
    assert not np.array_equal(snap, ex.read_state(["w"])["w"])  # the snapshot did not move with the buffers
    ex.write_state({"w": np.zeros((3, 1), np.float32), "bias": np.array([2.0], np.float32)})
    (loss,) = ex.run({"x": x, "y": y, "lr": np.asarray(0.0, np.float32)})
    assert float(loss) == 4.0
    assert int(ex.read_state(["count"])["count"]) == 4


def test_binding_outputs_to_their_own_inputs_would_be_wrong_so_sets_differ():
    ex = TrainStepExecutor(sgd_step_model(), [("w", "new/w"), ("count", "new/count")],
                           {"w": np.ones((3, 1), np.float32), "bias": np.zeros(1, np.float32),
                            "count": np.asarray(0, np.int64)}, feeds=["x", "y", "lr"], fetches=["loss"])
    for name, _ in ex.state_pairs:
        assert ex._sets[0][name] is not ex._sets[1][name]
        assert ex._sets[0][name].data_ptr() != ex._sets[1][name].data_ptr()
    assert isinstance(ex.session, ort.InferenceSession)


def test_step_plans_match_reference_and_mix_with_run():
    """StepPlan steps (batch written into bound buffers, fetches read in place) interleaved with
    plain run() steps over varying batch sizes give the reference losses and weights, with one
    thread or with the thread count left to the executor (which then times both)."""
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((3, 1)).astype(np.float32)
    bias = np.array([0.25], np.float32)
    sizes = [8, 8, 5, 8, 8, 3, 8, 8, 8]
    batches = [(rng.standard_normal((n, 3)).astype(np.float32), rng.standard_normal((n, 1)).astype(np.float32))
               for n in sizes]
    want, w_ref = reference(w0.astype(np.float64), bias, batches, 0.1)
    for threads in (1, None):
        ex = TrainStepExecutor(sgd_step_model(), [("w", "new/w"), ("count", "new/count")],
                               {"w": w0, "bias": bias, "count": np.asarray(0, np.int64)},
                               feeds=["x", "y", "lr"], fetches=["loss", "pred"], threads=threads)
        got = []
        for i, (x, y) in enumerate(batches):
            if i == 2:  # a plain run() between plan steps rebinds, and the next plan step binds back
                loss, pred = ex.run({"x": x, "y": y, "lr": np.asarray(0.1, np.float32)})
            else:
                plan = ex.plan({"x": x.shape, "y": y.shape, "lr": ()})
                plan.feeds["x"][...] = x
                plan.feeds["y"][...] = y
                plan.feeds["lr"][()] = 0.1
                loss, pred = ex.run_plan(plan)
                assert plan.fetches[0] is loss
            assert pred.shape == (len(x), 1)
            got.append(float(loss))
        assert ex.plan({"x": (8, 3), "y": (8, 1), "lr": ()}) is ex.plan({"x": (8, 3), "y": (8, 1), "lr": ()})
        np.testing.assert_allclose(got, want, rtol=1e-5)
        state = ex.read_state()
        np.testing.assert_allclose(state["w"], w_ref, rtol=1e-5)
        assert int(state["count"]) == len(sizes)


def test_prefer_one_thread_needs_a_clear_margin():
    """One thread per core is kept only when its median step is clearly (TUNE_MARGIN) faster; a fast
    best case with a slow typical step (a spinning pool on a shared machine) does not win."""
    from runtime.train_step import prefer_one_thread

    assert prefer_one_thread([1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    assert prefer_one_thread([0.95, 0.95, 0.95], [1.0, 1.0, 1.0])          # 5% faster: not enough
    assert not prefer_one_thread([0.8, 0.8, 0.8], [1.0, 1.0, 1.0])
    assert prefer_one_thread([0.5, 1.4, 1.5, 1.4, 0.6], [1.0, 1.0, 1.1, 1.0, 1.0])  # best 0.5, median 1.4


def test_thread_tuning_keeps_state_and_follows_the_decision(monkeypatch):
    """With the thread count left to the executor, the first plan step times both sessions in
    interleaved blocks; whichever is kept, the trial steps leave the state untouched and the
    losses match the reference."""
    import runtime.train_step as ts

    rng = np.random.default_rng(2)
    w0 = rng.standard_normal((3, 1)).astype(np.float32)
    bias = np.array([0.5], np.float32)
    batches = [(rng.standard_normal((8, 3)).astype(np.float32), rng.standard_normal((8, 1)).astype(np.float32))
               for _ in range(5)]
    want, w_ref = reference(w0.astype(np.float64), bias, batches, 0.1)
    calls = []
    for choice in (True, False):
        def decide(t_default, t_one, margin=0.9, choice=choice):
            calls.append((len(t_default), len(t_one)))
            return choice

        monkeypatch.setattr(ts, "prefer_one_thread", decide)
        monkeypatch.setattr(ts.os, "cpu_count", lambda: 2)  # tuning runs on any machine
        ex = TrainStepExecutor(sgd_step_model(), [("w", "new/w"), ("count", "new/count")],
                               {"w": w0, "bias": bias, "count": np.asarray(0, np.int64)},
                               feeds=["x", "y", "lr"], fetches=["loss", "pred"])
        got = []
        for x, y in batches:
            plan = ex.plan({"x": x.shape, "y": y.shape, "lr": ()})
            plan.feeds["x"][...] = x
            plan.feeds["y"][...] = y
            plan.feeds["lr"][()] = 0.1
            got.append(float(ex.run_plan(plan)[0]))
        assert ex.threads == (1 if choice else None)
        np.testing.assert_allclose(got, want, rtol=1e-5)
        np.testing.assert_allclose(ex.read_state()["w"], w_ref, rtol=1e-5)
        assert int(ex.read_state()["count"]) == len(batches)
    blocks = TrainStepExecutor.TUNE_BLOCKS
    assert calls == [(blocks, blocks), (blocks, blocks)]


def test_many_batch_shapes_evict_the_least_recently_used_entry_not_every_cached_one():
    """Variable-length batches: each new shape past the bound evicts the least recently used plan
    (and fetch buffers), so a shape that keeps coming back keeps its plan; results stay exact."""
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal((3, 1)).astype(np.float32)
    bias = np.array([0.25], np.float32)
    sizes = [n for k in range(1, 21) for n in (8, k) if k != 8]  # 8 between 19 other sizes
    batches = [(rng.standard_normal((n, 3)).astype(np.float32), rng.standard_normal((n, 1)).astype(np.float32))
               for n in sizes]
    want, w_ref = reference(w0.astype(np.float64), bias, batches, 0.1)
    for use_plans in (True, False):
        ex = TrainStepExecutor(sgd_step_model(), [("w", "new/w"), ("count", "new/count")],
                               {"w": w0, "bias": bias, "count": np.asarray(0, np.int64)},
                               feeds=["x", "y", "lr"], fetches=["loss", "pred"], threads=1)
        got, kept = [], None
        for x, y in batches:
            if use_plans:
                plan = ex.plan({"x": x.shape, "y": y.shape, "lr": ()})
                plan.feeds["x"][...] = x
                plan.feeds["y"][...] = y
                plan.feeds["lr"][()] = 0.1
                loss, pred = ex.run_plan(plan)
                cache, entry = ex._plans, plan
            else:
                loss, pred = ex.run({"x": x, "y": y, "lr": np.asarray(0.1, np.float32)})
                cache, entry = ex._fetch_buffers, ex._fetch_buffers[((len(x), 3), (len(x), 1), ())]
            if len(x) == 8:
                kept = kept or entry
                assert entry is kept  # never thrown away: it is used every other step
            assert len(cache) <= ex.SHAPE_CACHE_SIZE
            got.append(float(loss))
            np.testing.assert_allclose(pred.shape, (len(x), 1))
        assert len(cache) == ex.SHAPE_CACHE_SIZE
        np.testing.assert_allclose(got, want, rtol=1e-5)
        np.testing.assert_allclose(ex.read_state()["w"], w_ref, rtol=1e-5)
