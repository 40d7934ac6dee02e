"""fit / evaluate / predict on iterables of batches: generators, PyDatasets and lists of batch tuples,
compared with the same data given as arrays; errors name the batch."""

import warnings

import numpy as np
import pytest

import graphc as keras
from graphc import callbacks, layers, losses, optimizers
from graphc.utils import PyDataset

N, D, K, B = 200, 20, 4, 32  # 200 rows in batches of 32: the last batch has 8


def blobs(n=N, d=D, k=K, seed=0):
    """Learnable synthetic classification data: k Gaussian clusters."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, d)) * 3
    y = rng.integers(0, k, n)
    x = (centers[y] + rng.standard_normal((n, d))).astype(np.float32)
    return x, y


def mlp(seed=1):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(D,))
    h = layers.Dense(16, activation="relu")(inputs)
    return keras.Model(inputs, layers.Dense(K)(h))


def compiled(seed=1, optimizer="sgd", **kwargs):
    model = mlp(seed)
    model.compile(optimizer=optimizer, loss=losses.SparseCategoricalCrossentropy(from_logits=True), **kwargs)
    return model


def batches_of(*arrays, batch_size=B):
    n = len(arrays[0])
    return [tuple(a[i:i + batch_size] for a in arrays) for i in range(0, n, batch_size)]


class Batches(PyDataset):
    """A PyDataset over a list of batch tuples; records the indices read and the epoch-end calls."""

    def __init__(self, batches, **kwargs):
        super().__init__(**kwargs)
        self.batches = batches
        self.read = []
        self.epoch_ends = 0

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, i):
        self.read.append(i)
        return self.batches[i]

    def on_epoch_end(self):
        self.epoch_ends += 1


def endless(batches):
    while True:
        yield from batches


def assert_same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6, atol=1e-7)


# -- learning and parity with arrays ----------------------------------------------------------------
def test_loss_falls_with_a_generator_and_with_a_pydataset():
    x, y = blobs()
    for data, kwargs in ((endless(batches_of(x, y)), {"steps_per_epoch": 7}), (Batches(batches_of(x, y)), {})):
        model = compiled(optimizer=optimizers.Adam(0.01), metrics=["accuracy"])
        hist = model.fit(data, epochs=6, verbose=0, **kwargs)
        assert len(hist.history["loss"]) == 6
        assert hist.history["loss"][-1] < 0.3 * hist.history["loss"][0]
        assert hist.history["accuracy"][-1] > 0.9


def test_pydataset_in_order_gives_the_weights_and_history_of_array_fit():
    x, y = blobs()
    a, b = compiled(optimizer="adam", metrics=["accuracy"]), compiled(optimizer="adam", metrics=["accuracy"])
    ha = a.fit(x, y, batch_size=B, epochs=3, shuffle=False, verbose=0)
    hb = b.fit(Batches(batches_of(x, y)), epochs=3, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):  # the same step graph on the same batches: bitwise
        np.testing.assert_array_equal(wa, wb)
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(ha.history[key], hb.history[key], rtol=1e-6)
    assert b.optimizer.iterations == a.optimizer.iterations == 3 * 7


def test_a_list_of_batches_restarts_each_epoch():
    x, y = blobs()
    a, b = compiled(), compiled()
    a.fit(x, y, batch_size=B, epochs=2, shuffle=False, verbose=0)
    hist = b.fit(batches_of(x, y), epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2
    assert_same_weights(a, b)


def test_multi_output_dict_batches_match_array_fit():
    rng = np.random.default_rng(3)
    xa = rng.standard_normal((96, 8)).astype(np.float32)
    xb = rng.standard_normal((96, 3)).astype(np.float32)
    y_cls = (xa[:, 0] > 0).astype(np.int64)
    y_reg = (xa[:, :2].sum(1, keepdims=True) + xb[:, :1]).astype(np.float32)

    def model():
        keras.utils.set_random_seed(5)
        ia, ib = keras.Input((8,), name="a"), keras.Input((3,), name="b")
        h = layers.Dense(16, activation="relu")(layers.Concatenate()([ia, ib]))
        m = keras.Model({"a": ia, "b": ib}, {"cls": layers.Dense(2, name="cls")(h),
                                              "reg": layers.Dense(1, name="reg")(h)})
        m.compile(optimizer="adam", loss={"cls": losses.SparseCategoricalCrossentropy(from_logits=True),
                                          "reg": "mse"}, loss_weights={"cls": 1.0, "reg": 0.5})
        return m

    def batch(i):
        s = slice(i, i + 24)
        return {"a": xa[s], "b": xb[s]}, {"reg": y_reg[s], "cls": y_cls[s]}

    m1, m2 = model(), model()
    h1 = m1.fit({"a": xa, "b": xb}, {"cls": y_cls, "reg": y_reg}, batch_size=24, epochs=4, shuffle=False, verbose=0)
    h2 = m2.fit((batch(i) for i in range(0, 96, 24)), epochs=1, steps_per_epoch=4, verbose=0)
    assert {"loss", "cls_loss", "reg_loss"} <= set(h2.history)
    m3 = model()
    h3 = m3.fit(Batches([batch(i) for i in range(0, 96, 24)]), epochs=4, shuffle=False, verbose=0)
    assert_same_weights(m1, m3)
    for key in ("loss", "cls_loss", "reg_loss"):
        np.testing.assert_allclose(h1.history[key], h3.history[key], rtol=1e-6)
    assert h3.history["loss"][-1] < h3.history["loss"][0]
    assert h2.history["loss"][0] == pytest.approx(h1.history["loss"][0], rel=1e-6)


def test_sample_weights_from_the_tuple_count_like_array_sample_weights():
    x, y = blobs()
    sw = np.where(y == 0, 5.0, 0.2).astype(np.float32)
    plain, weighted, arrays = compiled(), compiled(), compiled()
    plain.fit(Batches(batches_of(x, y)), epochs=2, shuffle=False, verbose=0)
    weighted.fit(Batches(batches_of(x, y, sw)), epochs=2, shuffle=False, verbose=0)
    arrays.fit(x, y, sample_weight=sw, batch_size=B, epochs=2, shuffle=False, verbose=0)
    assert_same_weights(weighted, arrays)
    diff = max(np.abs(p - w).max() for p, w in zip(plain.get_weights(), weighted.get_weights()))
    assert diff > 1e-3


def test_class_weight_applies_to_every_batch():
    x, y = blobs()
    cw = {0: 3.0, 1: 1.0, 2: 0.5, 3: 1.0}
    a, b = compiled(), compiled()
    a.fit(x, y, class_weight=cw, batch_size=B, epochs=1, shuffle=False, verbose=0)
    b.fit(endless(batches_of(x, y)), class_weight=cw, steps_per_epoch=7, verbose=0)
    assert_same_weights(a, b)


def test_validation_data_as_a_generator_gives_val_logs():
    x, y = blobs()
    xv, yv = blobs(64, seed=9)
    model = compiled(metrics=["accuracy"])
    hist = model.fit(endless(batches_of(x, y)), steps_per_epoch=7, epochs=1, verbose=0,
                     validation_data=endless(batches_of(xv, yv, batch_size=16)), validation_steps=4)
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    loss, acc = model.evaluate(xv, yv, verbose=0)
    assert hist.history["val_loss"][0] == pytest.approx(loss, rel=1e-6)
    assert hist.history["val_accuracy"][0] == pytest.approx(acc)
    # array training data with a PyDataset for validation
    hist = model.fit(x, y, epochs=1, verbose=0, validation_data=Batches(batches_of(xv, yv, batch_size=16)))
    assert hist.history["val_loss"][0] == pytest.approx(model.evaluate(xv, yv, verbose=0)[0], rel=1e-6)


def test_early_stopping_stops_a_generator_fit():
    x, y = blobs()
    model = compiled()
    stop = callbacks.EarlyStopping(monitor="loss", min_delta=100.0, patience=1, restore_best_weights=True)
    hist = model.fit(endless(batches_of(x, y)), steps_per_epoch=7, epochs=20, callbacks=[stop], verbose=0)
    assert len(hist.history["loss"]) == 2
    assert model.optimizer.iterations == 14


def test_batch_callbacks_see_every_step_and_the_progress_bar_knows_the_steps(capsys):
    x, y = blobs()
    seen = []
    cb = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append((batch, logs["loss"])))
    compiled().fit(Batches(batches_of(x, y)), epochs=2, callbacks=[cb], verbose=1)
    assert [b for b, _ in seen] == list(range(7)) * 2
    assert "7/7" in capsys.readouterr().out


def test_on_epoch_end_once_per_epoch_and_shuffle_permutes_the_batches_not_the_rows():
    x, y = blobs()
    ds = Batches(batches_of(x, y))
    keras.utils.set_random_seed(0)
    compiled().fit(ds, epochs=4, verbose=0)
    assert ds.epoch_ends == 4
    orders = [ds.read[1 + 7 * e:8 + 7 * e] for e in range(4)]
    assert all(sorted(o) == list(range(7)) for o in orders)
    assert any(o != list(range(7)) for o in orders)
    ds = Batches(batches_of(x, y))
    compiled().fit(ds, epochs=2, shuffle=False, verbose=0)
    assert ds.read[1:] == list(range(7)) * 2 and ds.epoch_ends == 2


def test_steps_per_epoch_continues_a_pydataset_across_epochs_but_not_past_the_end_of_a_pass():
    x, y = blobs()
    ds = Batches(batches_of(x, y))
    with pytest.warns(UserWarning, match=r"fit: x \(a PyDataset \(Batches\)\) ran out of data after 1 of "
                                         r"steps_per_epoch=3 steps: it has 7 batches.*next epoch starts a new pass"):
        hist = compiled().fit(ds, epochs=4, steps_per_epoch=3, shuffle=False, verbose=0)
    assert ds.read[1:] == [0, 1, 2, 3, 4, 5, 6, 0, 1, 2]  # Keras: epochs of 3, 3, 1 (the pass ends), 3 steps
    assert ds.epoch_ends == 4 and len(hist.history["loss"]) == 4


def test_evaluate_and_predict_on_a_pydataset_equal_the_array_results():
    x, y = blobs()
    model = compiled(metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0)
    want = model.evaluate(x, y, batch_size=B, verbose=0, return_dict=True)
    got = model.evaluate(Batches(batches_of(x, y)), verbose=0, return_dict=True)
    assert got == pytest.approx(want, rel=1e-6)
    got = model.evaluate((b for b in batches_of(x, y)), verbose=0, return_dict=True)
    assert got == pytest.approx(want, rel=1e-6)
    want = model.predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(Batches(batches_of(x, y)), verbose=0), want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model.predict((b[0] for b in batches_of(x, y))), want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model.predict([(b[0],) for b in batches_of(x, y)]), want, rtol=1e-6, atol=1e-6)
    assert model.predict(endless(batches_of(x, y)), steps=2).shape == (2 * B, K)


def test_an_unbuilt_sequential_model_builds_from_the_first_batch():
    x, y = blobs()
    keras.utils.set_random_seed(2)
    model = keras.Sequential([layers.Dense(16, activation="relu"), layers.Dense(K)])
    model.compile(optimizer="adam", loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    hist = model.fit(Batches(batches_of(x, y)), epochs=3, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert model.predict(x[:5]).shape == (5, K)


# -- errors ------------------------------------------------------------------------------------------
def test_batch_size_y_sample_weight_and_validation_split_are_refused_with_iterables():
    x, y = blobs()
    model = compiled()
    with pytest.raises(ValueError, match=r"fit: batch_size must not be given when x is a generator"):
        model.fit(endless(batches_of(x, y)), batch_size=32, steps_per_epoch=2, verbose=0)
    with pytest.raises(ValueError, match=r"fit: y must not be given"):
        model.fit(Batches(batches_of(x, y)), y, verbose=0)
    with pytest.raises(ValueError, match=r"sample_weight must not be given"):
        model.fit(Batches(batches_of(x, y)), sample_weight=np.ones(N), verbose=0)
    with pytest.raises(ValueError, match=r"validation_split is not supported"):
        model.fit(Batches(batches_of(x, y)), validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match=r"evaluate: batch_size must not be given"):
        model.evaluate(Batches(batches_of(x, y)), batch_size=8, verbose=0)
    with pytest.raises(ValueError, match=r"predict: batch_size must not be given"):
        model.predict(Batches(batches_of(x, y)), batch_size=8)
    assert model.optimizer.iterations == 0


def test_bad_batches_name_the_batch_what_was_expected_and_what_came():
    x, y = blobs()
    model = compiled()
    bad = batches_of(x, y)
    bad[1] = bad[1] + (np.ones(B), np.ones(B))
    with pytest.raises(ValueError, match=r"fit: x \(a PyDataset \(Batches\)\), batch 2 of epoch 1: expected a tuple "
                                         r"\(x, y\) or \(x, y, sample_weight\), received a tuple of 4 elements"):
        model.fit(Batches(bad), epochs=1, shuffle=False, verbose=0)
    with pytest.raises(TypeError, match=r"fit: x \(a generator\), batch 1 of epoch 1: expected a tuple \(x, y\) "
                                        r"or \(x, y, sample_weight\), received an array of shape \(32, 20\)"):
        model.fit((b[0] for b in batches_of(x, y)), steps_per_epoch=2, verbose=0)
    with pytest.raises(ValueError, match=r"fit: x \(a generator\), batch 3 of epoch 1: x \(input '\w+'\): expected "
                                         r"shape \(None, 20\), received shape \(32, 19\)"):
        model.fit(endless([(x[:32], y[:32])] * 2 + [(x[:32, :19], y[:32])]), steps_per_epoch=4, verbose=0)


def test_a_dict_key_that_matches_no_input_is_named():
    x, y = blobs()
    inputs = keras.Input((D,), name="features")
    model = keras.Model(inputs, layers.Dense(K)(inputs))
    model.compile(optimizer="sgd", loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(KeyError, match=r"fit: x \(a generator\), batch 1 of epoch 1: x: key\(s\) \['feature'\] "
                                       r"match no input .*its inputs are \['features'\]"):
        model.fit((({"feature": b[0]}, b[1]) for b in batches_of(x, y)), steps_per_epoch=7, verbose=0)
    model.fit((({"features": b[0]}, b[1]) for b in batches_of(x, y)), steps_per_epoch=7, verbose=0)


def test_an_out_of_range_label_in_the_third_batch_stops_before_its_step():
    x, y = blobs()
    bad = batches_of(x, y)
    labels = bad[2][1].copy()
    labels[5] = 9
    bad[2] = (bad[2][0], labels)
    model, reference = compiled(), compiled()
    reference.fit(bad[:2], epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"fit: x \(a PyDataset \(Batches\)\), batch 3 of epoch 1: "
                                         r"SparseCategoricalCrossentropy: label 9 at y\[5\] is out of range for 4 "
                                         r"classes"):
        model.fit(Batches(bad), epochs=1, shuffle=False, verbose=0)
    assert model.optimizer.iterations == 2
    for w, r in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(w, r)


def test_a_nan_loss_in_a_generator_batch_stops_with_the_weights_before_it():
    x, y = blobs()
    data = batches_of(x, y)
    data[1] = (np.full_like(data[1][0], np.inf), data[1][1])
    model, reference = compiled(), compiled()
    reference.fit(data[:1], verbose=0)
    with pytest.raises(FloatingPointError, match=r"epoch 1, step 2 \(batch of 32 samples\)"):
        model.fit(iter(data), steps_per_epoch=7, verbose=0)
    assert_same_weights(model, reference)


def test_an_unsized_generator_needs_steps_per_epoch():
    x, y = blobs()
    model = compiled()
    with pytest.raises(ValueError, match=r"fit: x \(a generator\) has no length, so the number of batches per "
                                         r"epoch is unknown: pass steps_per_epoch="):
        model.fit(endless(batches_of(x, y)), epochs=2, verbose=0)
    with pytest.raises(ValueError, match=r"validation_data \(a generator\) has no length and no validation_steps was "
                                         r"given, so the first of the 2 validations would read it to the end"):
        model.fit(x, y, epochs=2, validation_data=endless(batches_of(x, y)), verbose=0)
    with pytest.raises(ValueError, match=r"fit: steps_per_epoch: expected a positive int"):
        model.fit(endless(batches_of(x, y)), steps_per_epoch=0, verbose=0)


def test_an_exhausted_generator_is_an_error_and_running_out_stops_training_with_a_warning():
    x, y = blobs()
    model = compiled()
    gen = (b for b in batches_of(x, y))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hist = model.fit(gen, steps_per_epoch=3, epochs=5, verbose=0)
    ran_out = [w for w in caught if "ran out of batches" in str(w.message)]
    assert len(ran_out) == 1
    assert "after 1 of steps_per_epoch=3 steps of epoch 3; training stops here" in str(ran_out[0].message)
    assert len(hist.history["loss"]) == 3 and model.optimizer.iterations == 7
    with pytest.raises(ValueError, match=r"fit: x \(a generator\) yielded no batches \(it is exhausted"):
        model.fit(gen, steps_per_epoch=3, verbose=0)
    with pytest.raises(ValueError, match=r"evaluate: x \(a generator\) yielded no batches"):
        model.evaluate(gen, verbose=0)


def test_the_onnxruntime_training_backend_refuses_iterables():
    x, y = blobs()
    model = compiled(optimizer="adam")
    with pytest.raises(NotImplementedError, match=r'backend="onnxruntime-training"\) trains on arrays only; x is '
                                                  r'a PyDataset \(Batches\).*backend="onnxruntime"'):
        model.fit(Batches(batches_of(x, y)), backend="onnxruntime-training", verbose=0)


def test_pydataset_accepts_and_ignores_the_keras_worker_arguments():
    ds = Batches([], workers=4, use_multiprocessing=True, max_queue_size=3)
    assert (ds.workers, ds.use_multiprocessing, ds.max_queue_size) == (4, True, 3)
    assert keras.utils.Sequence is PyDataset
    with pytest.raises(ValueError, match=r"evaluate: x \(a PyDataset \(Batches\)\) yielded no batches"):
        compiled().evaluate(ds, verbose=0)


def test_the_readme_snippet_runs(capsys):
    import os
    import re

    readme = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
    with open(readme, encoding="utf-8") as f:
        section = f.read().split("## Training on generators and datasets", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["predictions"].shape == (200, 2)
    assert "13/13" in capsys.readouterr().out


def test_a_validation_generator_that_runs_out_warns_and_gives_nan_val_logs_that_keep_the_history_aligned():
    x, y = blobs()
    xv, yv = blobs(64, seed=9)
    model = compiled(metrics=["accuracy"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hist = model.fit(Batches(batches_of(x, y)), epochs=4, verbose=0, validation_steps=2,
                         validation_data=(b for b in batches_of(xv, yv, batch_size=16)))
    lengths = {k: len(v) for k, v in hist.history.items()}
    assert lengths == {"loss": 4, "accuracy": 4, "val_loss": 4, "val_accuracy": 4}
    assert np.isfinite(hist.history["val_loss"][:2]).all()
    assert np.isnan(hist.history["val_loss"][2:]).all() and np.isnan(hist.history["val_accuracy"][2:]).all()
    left = [str(w.message) for w in caught if "no batches left" in str(w.message)]
    assert len(left) == 1  # once, not per epoch
    assert left[0].startswith("fit: validation_data (a generator) has no batches left") and "validation_steps" in left[0]
