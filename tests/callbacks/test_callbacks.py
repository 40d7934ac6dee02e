"""Callbacks driven by a small fake model and a training loop that calls the hooks as fit does."""
import math
import os

import numpy as np
import pytest

from graphc import callbacks as cb
from graphc.utils import progbar as progbar_module


class FakeOptimizer:
    def __init__(self, learning_rate=1.0):
        self.learning_rate = learning_rate


class FakeModel:
    """Weights are one counter that each train step increments; saves are recorded, not written."""

    def __init__(self, learning_rate=1.0):
        self.weights = [np.zeros(())]
        self.optimizer = FakeOptimizer(learning_rate)
        self.stop_training = False
        self.saved = []
        self.lr_seen = []

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]

    def train_step(self):
        self.lr_seen.append(self.optimizer.learning_rate)
        self.weights[0] = self.weights[0] + 1

    def save(self, path):
        self.saved.append(("save", path))

    def save_weights(self, path):
        self.saved.append(("save_weights", path))


def fake_fit(model, callbacks=None, epochs=1, steps=2, epoch_logs=None, batch_loss=None, verbose=0, clock=None):
    """Calls the hooks in fit's order. ``epoch_logs[e]`` joins the epoch's logs (validation values);
    ``batch_loss(epoch, batch)`` gives the loss of each batch; ``clock`` advances 1 s per batch."""
    batch_loss = batch_loss or (lambda e, b: 1.0 / (1 + e))
    cbs = cb.CallbackList(callbacks, model=model, add_history=True, add_progbar=verbose != 0, verbose=verbose,
                          epochs=epochs, steps=steps)
    model.stop_training = False
    cbs.on_train_begin()
    for epoch in range(epochs):
        cbs.on_epoch_begin(epoch)
        total = 0.0
        for batch in range(steps):
            cbs.on_train_batch_begin(batch)
            model.train_step()
            total += batch_loss(epoch, batch)
            logs = {"loss": np.float32(total / (batch + 1))}
            if clock is not None:
                clock.advance(1.0)
            cbs.on_train_batch_end(batch, logs)
            if model.stop_training:
                break
        logs = dict(logs)
        if epoch_logs is not None:
            logs.update(epoch_logs[epoch])
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    cbs.on_train_end()
    return model.history


def val_losses(*values):
    return [{"val_loss": v} for v in values]


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    c = FakeClock()
    monkeypatch.setattr(progbar_module, "_clock", c)
    return c


# -- CallbackList and History ---------------------------------------------------------------------
class Recorder(cb.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __getattribute__(self, name):
        attr = object.__getattribute__(self, name)
        if name.startswith("on_") and callable(attr):
            def record(*args, **kwargs):
                object.__getattribute__(self, "calls").append(name)
                return attr(*args, **kwargs)
            return record
        return attr


def test_hooks_are_dispatched_in_order_with_params_and_model():
    model = FakeModel()
    rec = Recorder()
    fake_fit(model, [rec], epochs=2, steps=2)
    assert rec.model is model
    assert rec.params == {"verbose": 0, "epochs": 2, "steps": 2}
    # the train-batch hooks also reach the Keras 2 names on_batch_begin / on_batch_end
    epoch = ["on_epoch_begin"] + ["on_train_batch_begin", "on_batch_begin", "on_train_batch_end", "on_batch_end"] * 2 \
        + ["on_epoch_end"]
    assert rec.calls == ["on_train_begin"] + epoch * 2 + ["on_train_end"]


def test_callback_list_dispatches_every_hook():
    rec = Recorder()
    cbs = cb.CallbackList([rec])
    cbs.on_test_begin()
    cbs.on_test_batch_begin(0)
    cbs.on_test_batch_end(0, {"loss": 1.0})
    cbs.on_test_end({"loss": 1.0})
    cbs.on_predict_begin()
    cbs.on_predict_batch_begin(0)
    cbs.on_predict_batch_end(0, {"outputs": None})
    cbs.on_predict_end()
    assert rec.calls == ["on_test_begin", "on_test_batch_begin", "on_test_batch_end", "on_test_end",
                         "on_predict_begin", "on_predict_batch_begin", "on_predict_batch_end", "on_predict_end"]


def test_history_records_epochs_and_is_set_on_the_model():
    model = FakeModel()
    history = fake_fit(model, epochs=3, steps=2, epoch_logs=[{"val_loss": 3.0}, {"val_loss": 2.0}, {"val_loss": 1.0}])
    assert isinstance(history, cb.History)
    assert model.history is history
    assert history.epoch == [0, 1, 2]
    assert history.history == {"loss": [1.0, 0.5, pytest.approx(1 / 3)], "val_loss": [3.0, 2.0, 1.0]}
    assert all(type(v) is float for v in history.history["loss"])  # NumPy scalars become floats
    assert history.params == {"verbose": 0, "epochs": 3, "steps": 2}


def test_callback_list_reuses_given_history_and_progbar():
    history, progbar = cb.History(), cb.ProgbarLogger()
    model = FakeModel()
    cbs = cb.CallbackList([history, progbar], model=model, add_history=True, add_progbar=True)
    assert cbs.callbacks == [history, progbar]
    assert cbs.history is history and model.history is history
    with pytest.raises(TypeError):
        cb.CallbackList([object()])


def test_a_key_added_by_one_callback_reaches_the_next():
    class AddKey(cb.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["extra"] = epoch * 2

    history = fake_fit(FakeModel(), [AddKey()], epochs=2)
    assert history.history["extra"] == [0, 2]


def test_lambda_callback():
    seen = []
    lam = cb.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append((epoch, logs["loss"])),
                            on_train_begin=lambda logs: seen.append("begin"))
    fake_fit(FakeModel(), [lam], epochs=2, steps=1)
    assert seen == ["begin", (0, 1.0), (1, 0.5)]
    with pytest.raises(TypeError, match="unknown hook"):
        cb.LambdaCallback(on_epoch_ending=print)


# -- EarlyStopping --------------------------------------------------------------------------------
def test_early_stopping_patience():
    model = FakeModel()
    stop = cb.EarlyStopping(monitor="val_loss", patience=2)
    history = fake_fit(model, [stop], epochs=10, epoch_logs=val_losses(1.0, 0.9, 0.95, 0.97, 0.99, 0.8, 0.7, 0.6,
                                                                       0.5, 0.4))
    assert history.epoch == [0, 1, 2, 3]
    assert stop.stopped_epoch == 3
    assert stop.best == 0.9 and stop.best_epoch == 1


def test_early_stopping_patience_zero_and_min_delta():
    stop = cb.EarlyStopping(patience=0)
    history = fake_fit(FakeModel(), [stop], epochs=5, epoch_logs=val_losses(1.0, 0.9, 0.95, 0.8, 0.7))
    assert history.epoch == [0, 1, 2]
    # improvements of 0.05 are below min_delta=0.1: no improvement after the first epoch
    stop = cb.EarlyStopping(patience=1, min_delta=0.1)
    history = fake_fit(FakeModel(), [stop], epochs=5, epoch_logs=val_losses(1.0, 0.95, 0.9, 0.85, 0.8))
    assert history.epoch == [0, 1]


def test_early_stopping_restore_best_weights(capsys):
    model = FakeModel()
    stop = cb.EarlyStopping(patience=2, restore_best_weights=True, verbose=1)
    fake_fit(model, [stop], epochs=10, steps=2, epoch_logs=val_losses(1.0, 0.5, 0.7, 0.8, 0.9, 0.1, 0.1, 0.1, 0.1,
                                                                      0.1))
    # stopped after epoch 4 (index 3) with weights 8; the best epoch (index 1) ended with weights 4
    assert model.get_weights()[0] == 4
    out = capsys.readouterr().out
    assert "Epoch 4: early stopping\n" in out
    assert "Restoring model weights from the end of the best epoch: 2.\n" in out


def test_early_stopping_restores_at_train_end_even_without_stopping():
    model = FakeModel()
    stop = cb.EarlyStopping(patience=5, restore_best_weights=True)
    fake_fit(model, [stop], epochs=3, steps=1, epoch_logs=val_losses(0.5, 0.9, 0.8))
    assert model.stop_training is False
    assert model.get_weights()[0] == 1


def test_early_stopping_baseline():
    # never beats the baseline: stops once patience runs out, although it keeps improving
    stop = cb.EarlyStopping(patience=2, baseline=0.5)
    history = fake_fit(FakeModel(), [stop], epochs=6, epoch_logs=val_losses(1.0, 0.9, 0.8, 0.7, 0.6, 0.55))
    assert history.epoch == [0, 1]
    # beats the baseline from the second epoch on: runs to the end
    stop = cb.EarlyStopping(patience=2, baseline=0.95)
    history = fake_fit(FakeModel(), [stop], epochs=6, epoch_logs=val_losses(1.0, 0.9, 0.8, 0.7, 0.6, 0.55))
    assert history.epoch == [0, 1, 2, 3, 4, 5]


def test_early_stopping_auto_mode_and_start_from_epoch():
    assert cb.EarlyStopping(monitor="val_accuracy").mode == "max"
    assert cb.EarlyStopping(monitor="acc").mode == "max"
    assert cb.EarlyStopping(monitor="val_auc").mode == "max"
    assert cb.EarlyStopping(monitor="val_mae").mode == "min"
    with pytest.warns(UserWarning, match="unknown"):
        assert cb.EarlyStopping(mode="biggest").mode == "min"
    stop = cb.EarlyStopping(monitor="val_accuracy", patience=1)
    logs = [{"val_accuracy": a} for a in (0.5, 0.6, 0.55, 0.7)]
    assert fake_fit(FakeModel(), [stop], epochs=4, epoch_logs=logs).epoch == [0, 1, 2]
    # the first two epochs are a warm-up, not watched
    stop = cb.EarlyStopping(patience=0, start_from_epoch=2)
    history = fake_fit(FakeModel(), [stop], epochs=5, epoch_logs=val_losses(0.1, 0.9, 1.0, 0.8, 0.9))
    assert history.epoch == [0, 1, 2, 3, 4]


def test_early_stopping_missing_monitor_warns():
    stop = cb.EarlyStopping(monitor="val_loss")
    with pytest.warns(UserWarning, match="val_loss` which is not available. Available metrics are: loss"):
        history = fake_fit(FakeModel(), [stop], epochs=2)
    assert history.epoch == [0, 1]


# -- ReduceLROnPlateau ----------------------------------------------------------------------------
def test_reduce_lr_on_plateau_cooldown_and_min_lr():
    model = FakeModel(learning_rate=1.0)
    reduce = cb.ReduceLROnPlateau(factor=0.5, patience=1, cooldown=1, min_lr=0.3)
    history = fake_fit(model, [reduce], epochs=6, steps=1, epoch_logs=val_losses(*[1.0] * 6))
    # epoch 1: no improvement -> 0.5, cooldown; epoch 2: cooldown ends, waits 1 -> max(0.25, 0.3)
    assert model.lr_seen == [1.0, 1.0, 0.5, 0.3, 0.3, 0.3]
    assert history.history["learning_rate"] == [1.0, 1.0, 0.5, 0.3, 0.3, 0.3]


def test_reduce_lr_on_plateau_waits_for_patience_and_resets_on_improvement(capsys):
    model = FakeModel(learning_rate=0.1)
    reduce = cb.ReduceLROnPlateau(patience=2, verbose=1)
    fake_fit(model, [reduce], epochs=7, steps=1, epoch_logs=val_losses(1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5))
    # improvements at epochs 0 and 2; plateau counts 3, 4 -> reduce after epoch 4 (index)
    assert model.lr_seen == pytest.approx([0.1] * 5 + [0.01] * 2)
    assert "Epoch 5: ReduceLROnPlateau reducing learning rate to 0.01" in capsys.readouterr().out


def test_reduce_lr_min_delta_and_factor():
    model = FakeModel(learning_rate=1.0)
    reduce = cb.ReduceLROnPlateau(patience=1, factor=0.5, min_delta=0.1)
    fake_fit(model, [reduce], epochs=3, steps=1, epoch_logs=val_losses(1.0, 0.95, 0.5))
    assert model.lr_seen == [1.0, 1.0, 0.5]  # 0.95 is not 0.1 better than 1.0
    with pytest.raises(ValueError, match="factor"):
        cb.ReduceLROnPlateau(factor=1.0)


# -- LearningRateScheduler ------------------------------------------------------------------------
def test_learning_rate_scheduler(capsys):
    model = FakeModel(learning_rate=0.1)
    sched = cb.LearningRateScheduler(lambda epoch, lr: lr if epoch < 2 else lr * 0.5, verbose=1)
    history = fake_fit(model, [sched], epochs=4, steps=1)
    assert model.lr_seen == pytest.approx([0.1, 0.1, 0.05, 0.025])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    assert "\nEpoch 3: LearningRateScheduler setting learning rate to 0.05.\n" in capsys.readouterr().out


def test_learning_rate_scheduler_one_argument_and_errors():
    model = FakeModel()
    fake_fit(model, [cb.LearningRateScheduler(lambda epoch: 0.1 * (epoch + 1))], epochs=3, steps=1)
    assert model.lr_seen == pytest.approx([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="must return a float"):
        fake_fit(FakeModel(), [cb.LearningRateScheduler(lambda epoch, lr: "fast")])
    model = FakeModel()
    model.optimizer = None
    with pytest.raises(ValueError, match="learning_rate"):
        fake_fit(model, [cb.LearningRateScheduler(lambda epoch, lr: lr)])


# -- TerminateOnNaN -------------------------------------------------------------------------------
def test_terminate_on_nan(capsys):
    model = FakeModel()
    history = fake_fit(model, [cb.TerminateOnNaN()], epochs=3, steps=4,
                       batch_loss=lambda e, b: math.nan if (e, b) == (1, 2) else 1.0)
    assert model.stop_training is True
    assert history.epoch == [0, 1]
    assert model.get_weights()[0] == 4 + 3  # epoch 1 stopped after its third batch
    assert "Batch 2: Invalid loss, terminating training" in capsys.readouterr().out
    model = FakeModel()
    fake_fit(model, [cb.TerminateOnNaN()], epochs=2, batch_loss=lambda e, b: math.inf)
    assert model.stop_training is True


# -- ModelCheckpoint ------------------------------------------------------------------------------
def test_model_checkpoint_every_epoch_with_formatting(tmp_path):
    model = FakeModel()
    path = str(tmp_path / "ckpt" / "model-{epoch:02d}-{val_loss:.2f}.graphc")
    fake_fit(model, [cb.ModelCheckpoint(path)], epochs=2, epoch_logs=val_losses(0.123, 0.0456))
    assert model.saved == [("save", str(tmp_path / "ckpt" / "model-01-0.12.graphc")),
                           ("save", str(tmp_path / "ckpt" / "model-02-0.05.graphc"))]
    assert os.path.isdir(tmp_path / "ckpt")  # the folder is made for the model's save


def test_model_checkpoint_save_best_only(tmp_path, capsys):
    model = FakeModel()
    ckpt = cb.ModelCheckpoint(str(tmp_path / "w{epoch}.weights.h5"), save_best_only=True, save_weights_only=True,
                              verbose=1)
    fake_fit(model, [ckpt], epochs=4, epoch_logs=val_losses(1.0, 0.8, 0.9, 0.5))
    assert model.saved == [("save_weights", str(tmp_path / f"w{e}.weights.h5")) for e in (1, 2, 4)]
    assert ckpt.best == 0.5
    out = capsys.readouterr().out
    assert f"\nEpoch 1: val_loss improved from inf to 1.00000, saving model to {tmp_path / 'w1.weights.h5'}\n" in out
    assert "\nEpoch 3: val_loss did not improve from 0.80000\n" in out


def test_model_checkpoint_max_mode_and_threshold(tmp_path):
    model = FakeModel()
    ckpt = cb.ModelCheckpoint(str(tmp_path / "best.graphc"), monitor="val_acc", save_best_only=True,
                              initial_value_threshold=0.6)
    assert ckpt.mode == "max"
    fake_fit(model, [ckpt], epochs=3, epoch_logs=[{"val_acc": a} for a in (0.5, 0.7, 0.65)])
    assert model.saved == [("save", str(tmp_path / "best.graphc"))]


def test_model_checkpoint_save_freq_batches(tmp_path):
    model = FakeModel()
    ckpt = cb.ModelCheckpoint(str(tmp_path / "e{epoch}b{batch}.graphc"), save_freq=3)
    fake_fit(model, [ckpt], epochs=2, steps=4)
    # 8 batches: saves after the 3rd (epoch 1, batch 3) and the 6th (epoch 2, batch 2)
    assert [p for _, p in model.saved] == [str(tmp_path / "e1b3.graphc"), str(tmp_path / "e2b2.graphc")]
    with pytest.raises(ValueError, match="save_freq"):
        cb.ModelCheckpoint("x", save_freq=0)


def test_model_checkpoint_unknown_field_and_missing_monitor(tmp_path):
    with pytest.raises(KeyError, match="val_acc"):
        fake_fit(FakeModel(), [cb.ModelCheckpoint(str(tmp_path / "{val_acc:.2f}.graphc"))])
    model = FakeModel()
    with pytest.warns(UserWarning, match="only with val_loss available"):
        fake_fit(model, [cb.ModelCheckpoint(str(tmp_path / "m.graphc"), save_best_only=True)])
    assert model.saved == []


# -- CSVLogger ------------------------------------------------------------------------------------
def test_csv_logger_contents(tmp_path):
    path = tmp_path / "log.csv"
    fake_fit(FakeModel(), [cb.CSVLogger(str(path))], epochs=2, steps=1,
             epoch_logs=[{"val_loss": 0.5, "accuracy": 0.25}, {"val_loss": 0.25, "accuracy": 0.75}])
    assert path.read_text() == "epoch,accuracy,loss,val_loss\n0,0.25,1.0,0.5\n1,0.75,0.5,0.25\n"


def test_csv_logger_append_and_separator(tmp_path):
    path = tmp_path / "log.tsv"
    fake_fit(FakeModel(), [cb.CSVLogger(str(path), separator="\t")], epochs=1, steps=1)
    fake_fit(FakeModel(), [cb.CSVLogger(str(path), separator="\t", append=True)], epochs=2, steps=1)
    assert path.read_text() == "epoch\tloss\n0\t1.0\n0\t1.0\n1\t0.5\n"


def test_csv_logger_flushes_each_epoch(tmp_path):
    path = tmp_path / "log.csv"
    seen = []

    class ReadBack(cb.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(path.read_text())

    fake_fit(FakeModel(), [cb.CSVLogger(str(path)), ReadBack()], epochs=2, steps=1)
    assert seen == ["epoch,loss\n0,1.0\n", "epoch,loss\n0,1.0\n1,0.5\n"]


# -- ProgbarLogger: the progress line through CallbackList ----------------------------------------
def test_progress_line_verbose1(clock, capsys):
    fake_fit(FakeModel(), epochs=2, steps=3, verbose=1, clock=clock,
             epoch_logs=[{"val_loss": 0.5, "val_accuracy": 0.875}, {"val_loss": 0.25, "val_accuracy": 0.9375}])
    assert capsys.readouterr().out == (
        "Epoch 1/2\n"
        "3/3 [==============================] - 3s 1s/step - loss: 1.0000 - val_loss: 0.5000 - val_accuracy: 0.8750\n"
        "Epoch 2/2\n"
        "3/3 [==============================] - 3s 1s/step - loss: 0.5000 - val_loss: 0.2500 - val_accuracy: 0.9375\n"
    )


def test_progress_line_verbose1_on_a_terminal(clock, capsys, monkeypatch):
    monkeypatch.setattr(progbar_module, "is_interactive", lambda: True)
    fake_fit(FakeModel(), epochs=1, steps=2, verbose=1, clock=clock, epoch_logs=[{"val_loss": 0.5}])
    assert capsys.readouterr().out == (
        "\r1/2 [==============>...............] - ETA: 1s - loss: 1.0000"
        "\r2/2 [==============================] - ETA: 0s - loss: 1.0000"
        "\r2/2 [==============================] - 2s 1s/step - loss: 1.0000 - val_loss: 0.5000\n"
    )


def test_progress_line_verbose2(clock, capsys):
    fake_fit(FakeModel(), epochs=2, steps=3, verbose=2, clock=clock, epoch_logs=val_losses(0.5, 0.25))
    assert capsys.readouterr().out == (
        "Epoch 1/2\n3/3 - 3s - loss: 1.0000 - val_loss: 0.5000\n"
        "Epoch 2/2\n3/3 - 3s - loss: 0.5000 - val_loss: 0.2500\n"
    )


def test_progress_line_verbose0_prints_nothing(clock, capsys):
    fake_fit(FakeModel(), epochs=2, steps=3, verbose=0, clock=clock, epoch_logs=val_losses(0.5, 0.25))
    assert capsys.readouterr().out == ""


def test_progress_line_unknown_steps(clock, capsys):
    cbs = cb.CallbackList(model=FakeModel(), add_progbar=True, verbose=1, epochs=2, steps=None)
    cbs.on_train_begin()
    for epoch in range(2):
        cbs.on_epoch_begin(epoch)
        for b in range(4):
            clock.advance(0.5)
            cbs.on_train_batch_end(b, {"loss": 0.5})
        cbs.on_epoch_end(epoch, {"loss": 0.5})
    cbs.on_train_end()
    out = capsys.readouterr().out.splitlines()
    # the first epoch learns the step count at its end, and its last line already shows the bar
    assert out[1] == out[3] == "4/4 [==============================] - 2s 500ms/step - loss: 0.5000"


def evaluate_like(cbs, clock, steps, logs):
    cbs.on_test_begin()
    for b in range(steps):
        cbs.on_test_batch_begin(b)
        clock.advance(0.004)
        cbs.on_test_batch_end(b, logs)
    cbs.on_test_end(logs)


def test_evaluate_line_verbose2_and_1(clock, capsys):
    logs = {"loss": 0.0516, "accuracy": 0.9878}
    evaluate_like(cb.CallbackList(add_progbar=True, verbose=2, steps=313), clock, 313, logs)
    assert capsys.readouterr().out == "313/313 - 1s - loss: 0.0516 - accuracy: 0.9878\n"
    evaluate_like(cb.CallbackList(add_progbar=True, verbose=1, steps=313), clock, 313, logs)
    assert capsys.readouterr().out == (
        "313/313 [==============================] - 1s 4ms/step - loss: 0.0516 - accuracy: 0.9878\n")


def test_validation_inside_fit_prints_no_line_of_its_own(clock, capsys):
    cbs = cb.CallbackList(model=FakeModel(), add_progbar=True, verbose=1, epochs=1, steps=1)
    cbs.on_train_begin()
    cbs.on_epoch_begin(0)
    clock.advance(1)
    cbs.on_train_batch_end(0, {"loss": 1.0})
    evaluate_like(cbs, clock, 2, {"loss": 2.0})
    cbs.on_epoch_end(0, {"loss": 1.0, "val_loss": 2.0})
    cbs.on_train_end()
    assert capsys.readouterr().out == (
        "1/1 [==============================] - 1s 1s/step - loss: 1.0000 - val_loss: 2.0000\n")


def test_predict_line(clock, capsys):
    cbs = cb.CallbackList(add_progbar=True, verbose=1, steps=2)
    cbs.on_predict_begin()
    for b in range(2):
        clock.advance(0.25)
        cbs.on_predict_batch_end(b, {"outputs": np.zeros(3)})
    cbs.on_predict_end()
    assert capsys.readouterr().out == "2/2 [==============================] - 0s 250ms/step\n"


def test_progress_line_single_epoch_has_no_header(clock, capsys):
    fake_fit(FakeModel(), epochs=1, steps=2, verbose=1, clock=clock)
    assert capsys.readouterr().out == "2/2 [==============================] - 2s 1s/step - loss: 1.0000\n"


def test_progress_line_when_a_callback_stops_mid_epoch(clock, capsys):
    fake_fit(FakeModel(), [cb.TerminateOnNaN()], epochs=1, steps=4, verbose=1, clock=clock,
             batch_loss=lambda e, b: math.nan if b == 1 else 1.0)
    assert capsys.readouterr().out == (
        "Batch 1: Invalid loss, terminating training\n"
        "2/4 [==============>...............] - 2s 1s/step - loss: nan\n")
