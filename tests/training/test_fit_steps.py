"""Step counts as in Keras 3: steps_per_epoch / validation_steps / steps with arrays and iterables,
epochs that stop at the end of a pass, validation generators that run dry, validation_freq lists.
The last test runs the same cases through Keras itself where it is installed."""
import os
import warnings

import numpy as np
import pytest

import graphc as keras
from graphc import callbacks
from graphc.utils import PyDataset

N, D = 40, 4


def data(n=N, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, D)).astype(np.float32), rng.random((n, 1)).astype(np.float32)


def model(M=keras, lr=0.1, zeros=False):
    i = M.Input((D,))
    kw = {"kernel_initializer": "zeros"} if zeros else {}
    m = M.Model(i, M.layers.Dense(1, **kw)(i))
    m.compile(optimizer=M.optimizers.SGD(lr), loss="mse")
    return m


def steps_counter(M=keras):
    class Steps(M.callbacks.Callback):
        """Steps per epoch, from on_train_batch_end."""

        def __init__(self):
            super().__init__()
            self.per_epoch = []

        def on_epoch_begin(self, epoch, logs=None):
            self.per_epoch.append(0)

        def on_train_batch_end(self, batch, logs=None):
            self.per_epoch[-1] += 1

    return Steps()


class Batches(PyDataset):
    def __init__(self, x, y, batch_size=10):
        super().__init__()
        self.x, self.y, self.batch_size, self.read = x, y, batch_size, []

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        self.read.append(i)
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]


def caught_messages(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [str(w.message) for w in caught]


# -- arrays -----------------------------------------------------------------------------------------
def test_steps_per_epoch_with_arrays_continues_through_the_data_across_epochs():
    x, y = data()
    a, b = model(), model()
    b.set_weights(a.get_weights())
    steps = steps_counter()
    hist, msgs = caught_messages(lambda: a.fit(x, y, batch_size=10, steps_per_epoch=3, epochs=4, shuffle=False,
                                               verbose=0, callbacks=[steps]))
    # Keras: 4 batches; epochs of 3 and 1 step (the pass ends there), then a new pass
    assert steps.per_epoch == [3, 1, 3, 1] and len(hist.history["loss"]) == 4
    assert sum("fit: x ran out of data after 1 of steps_per_epoch=3 steps: it has 4 batches (40 rows in batches "
               "of 10)" in m for m in msgs) == 2
    for _ in range(2):  # the same steps as two plain passes
        b.fit(x, y, batch_size=10, shuffle=False, verbose=0)
    for p, q in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(p, q, rtol=1e-6)


def test_steps_per_epoch_more_than_the_batches_runs_one_pass_per_epoch_with_a_warning():
    x, y = data()
    steps = steps_counter()
    with pytest.warns(UserWarning, match=r"after 4 of steps_per_epoch=6 steps: it has 4 batches"):
        hist = model().fit(x, y, batch_size=10, steps_per_epoch=6, epochs=3, verbose=0, callbacks=[steps])
    assert steps.per_epoch == [4, 4, 4] and len(hist.history["loss"]) == 3
    assert steps.params["steps"] == 6  # the progress bar's target, as in Keras


def test_steps_per_epoch_without_batch_size_covers_the_data_once_per_epoch():
    x, y = data()
    steps = steps_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model().fit(x, y, steps_per_epoch=3, epochs=2, verbose=0, callbacks=[steps])  # batches of 14, 14, 12
    assert steps.per_epoch == [3, 3]


def test_steps_per_epoch_keeps_one_shuffled_order_for_the_whole_pass():
    x, _ = data()
    y = np.arange(N, dtype=np.float32)[:, None]  # a zero model's loss on a batch is the mean of its rows' y**2

    class Sums(callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.sums = []

        def on_epoch_end(self, epoch, logs=None):
            self.sums.append(logs["loss"] * 20)  # 2 batches of 10 rows per epoch

    sums = Sums()
    model(lr=0.0, zeros=True).fit(x, y, batch_size=10, steps_per_epoch=2, epochs=2, shuffle=True, verbose=0,
                                  callbacks=[sums])
    np.testing.assert_allclose(sum(sums.sums), float((y ** 2).sum()), rtol=1e-5)  # every row once


def test_initial_epoch_and_validation_split_with_steps_per_epoch():
    x, y = data()
    steps = steps_counter()
    hist = model().fit(x, y, batch_size=10, steps_per_epoch=2, epochs=3, initial_epoch=1, validation_split=0.5,
                       shuffle=False, verbose=0, callbacks=[steps])
    assert steps.per_epoch == [2, 2]  # 20 training rows: 2 batches of 10, one pass per epoch
    assert {k: len(v) for k, v in hist.history.items()} == {"loss": 2, "val_loss": 2}


def test_validation_steps_with_arrays_reads_the_first_batches():
    x, y = data()
    xv, yv = data(seed=1)
    m = model()
    hist = m.fit(x, y, epochs=1, verbose=0, validation_data=(xv, yv), validation_batch_size=10, validation_steps=2)
    np.testing.assert_allclose(hist.history["val_loss"][0], m.evaluate(xv[:20], yv[:20], verbose=0), rtol=1e-6)
    with pytest.warns(UserWarning, match=r"fit: validation_data ran out of data after 4 of validation_steps=6 steps"):
        hist = m.fit(x, y, epochs=1, verbose=0, validation_data=(xv, yv), batch_size=10, validation_steps=6)
    np.testing.assert_allclose(hist.history["val_loss"][0], m.evaluate(xv, yv, verbose=0), rtol=1e-6)


def test_evaluate_and_predict_steps_with_arrays():
    x, y = data()
    m = model()
    np.testing.assert_allclose(m.evaluate(x, y, batch_size=10, steps=2, verbose=0),
                               m.evaluate(x[:20], y[:20], verbose=0), rtol=1e-6)
    assert m.predict(x, batch_size=10, steps=2, verbose=0).shape == (20, 1)
    assert m.predict(x, steps=3, verbose=0).shape == (N, 1)  # without batch_size 3 steps cover x
    with pytest.warns(UserWarning, match=r"predict: x ran out of data after 4 of steps=6 steps"):
        assert m.predict(x, batch_size=10, steps=6, verbose=0).shape == (N, 1)
    with pytest.raises(ValueError, match=r"evaluate: steps: expected a positive int .* received 0"):
        m.evaluate(x, y, steps=0, verbose=0)
    with pytest.raises(ValueError, match=r"fit: steps_per_epoch: expected a positive int .* received 2.5"):
        m.fit(x, y, steps_per_epoch=2.5, verbose=0)


def test_the_onnxruntime_training_backend_refuses_steps_per_epoch():
    x, y = data()
    with pytest.raises(NotImplementedError, match=r'backend="onnxruntime-training"\): steps_per_epoch'):
        model().fit(x, y, steps_per_epoch=2, backend="onnxruntime-training", verbose=0)


# -- iterables --------------------------------------------------------------------------------------
def test_steps_per_epoch_more_than_a_pydataset_runs_one_pass_per_epoch_and_keeps_training():
    x, y = data()
    ds = Batches(x, y)
    steps = steps_counter()
    with pytest.warns(UserWarning, match=r"fit: x \(a PyDataset \(Batches\)\) ran out of data after 4 of "
                                         r"steps_per_epoch=6 steps"):
        hist = model().fit(ds, steps_per_epoch=6, epochs=3, shuffle=False, verbose=0, callbacks=[steps])
    assert steps.per_epoch == [4, 4, 4] and ds.read[1:] == [0, 1, 2, 3] * 3 and len(hist.history["loss"]) == 3


def test_each_validation_and_evaluate_start_at_the_first_batch_and_never_wrap():
    x, y = data()
    val = Batches(*data(seed=1))
    model().fit(x, y, epochs=3, verbose=0, validation_data=val, validation_steps=3)
    assert val.read[1:] == [0, 1, 2] * 3  # graphc read 0, 1, 2, 3, 0, ... before
    ds = Batches(x, y)
    with pytest.warns(UserWarning, match=r"evaluate: x \(a PyDataset \(Batches\)\) ran out of data after 4 of steps=6"):
        model().evaluate(ds, steps=6, verbose=0)
    assert ds.read[1:] == [0, 1, 2, 3]
    with pytest.warns(UserWarning, match=r"predict: x \(a PyDataset \(Batches\)\) ran out of data after 4 of steps=6"):
        assert model().predict(Batches(x, y), steps=6, verbose=0).shape == (N, 1)


def test_every_epoch_reads_a_pydataset_after_its_on_epoch_begin():
    x, y = data()
    log = []

    class Logged(Batches):
        def __getitem__(self, i):
            log.append(i)
            return super().__getitem__(i)

        def on_epoch_begin(self):
            log.append("begin")

        def on_epoch_end(self):
            log.append("end")

    model().fit(Logged(x, y), epochs=2, shuffle=False, verbose=0)
    # batch 0 is read once to build and check before training (Keras reads it too), then again in epoch 1
    assert log == [0, "begin", 0, 1, 2, 3, "end", "begin", 0, 1, 2, 3, "end"]
    log.clear()
    model().evaluate(Logged(x, y), verbose=0)
    assert log == [0, "begin", 0, 1, 2, 3, "end"]


def test_a_generator_without_steps_is_read_to_the_end_when_used_once():
    x, y = data()
    steps = steps_counter()
    gen = (b for b in [(x[i:i + 10], y[i:i + 10]) for i in range(0, N, 10)])
    val = (b for b in [(x[i:i + 10], y[i:i + 10]) for i in range(0, N, 10)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hist = model().fit(gen, epochs=1, verbose=0, validation_data=val, callbacks=[steps])
    assert steps.per_epoch == [4] and {k: len(v) for k, v in hist.history.items()} == {"loss": 1, "val_loss": 1}


def test_validation_freq_takes_a_list_of_epochs():
    x, y = data()
    hist = model().fit(x, y, epochs=4, verbose=0, validation_data=(x, y), validation_freq=[2, 4])
    assert len(hist.history["val_loss"]) == 2
    with pytest.raises(ValueError, match=r"fit: validation_freq: expected a positive int .* received 0"):
        model().fit(x, y, epochs=1, verbose=0, validation_data=(x, y), validation_freq=0)


# -- Keras as the oracle ----------------------------------------------------------------------------
CASES = [
    ("arrays, steps_per_epoch 3 of 4 batches", dict(batch_size=10, steps_per_epoch=3, epochs=4)),
    ("arrays, steps_per_epoch 6 of 4 batches", dict(batch_size=10, steps_per_epoch=6, epochs=2)),
    ("arrays, steps_per_epoch without batch_size", dict(steps_per_epoch=3, epochs=2)),
    ("arrays, validation_steps", dict(batch_size=10, epochs=2, validation_split=0.5, validation_steps=1)),
    ("pydataset, steps_per_epoch 3 of 4", dict(dataset=True, steps_per_epoch=3, epochs=4)),
    ("pydataset, steps_per_epoch 6 of 4", dict(dataset=True, steps_per_epoch=6, epochs=2)),
]


@pytest.mark.slow
def test_steps_history_and_warnings_match_keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    pytest.importorskip("jax")
    K = pytest.importorskip("keras")

    def run(M, kw):
        kw = dict(kw)
        x, y = data()
        steps = steps_counter(M)
        if kw.pop("dataset", False):
            class DS(M.utils.PyDataset):
                def __len__(self):
                    return 4

                def __getitem__(self, i):
                    return x[i * 10:(i + 1) * 10], y[i * 10:(i + 1) * 10]

            args = (DS(),)
        else:
            args = (x, y)
        hist, msgs = caught_messages(lambda: model(M).fit(*args, shuffle=False, verbose=0, callbacks=[steps], **kw))
        warned = sum("ran out of data" in m for m in msgs)
        return steps.per_epoch, {k: len(v) for k, v in hist.history.items()}, warned

    for name, kw in CASES:
        assert run(keras, kw) == run(K, kw), name
