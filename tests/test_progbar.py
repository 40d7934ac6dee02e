"""The progress line, character for character, under a fake clock."""
import pytest

from graphc.utils import Progbar
from graphc.utils import progbar as progbar_module


class FakeClock:
    def __init__(self, start=1000.0):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    c = FakeClock()
    monkeypatch.setattr(progbar_module, "_clock", c)
    return c


@pytest.fixture
def tty(monkeypatch):
    monkeypatch.setattr(progbar_module, "is_interactive", lambda: True)


def run_epoch(bar, clock, steps, first_step=2.0, step=0.003, values=None):
    for i in range(1, steps + 1):
        clock.advance(first_step if i == 1 else step)
        bar.update(i, values(i) if values else None, finalize=False)


def test_format_time_per_unit():
    assert progbar_module.format_time_per_unit(0.003) == "3ms/step"
    assert progbar_module.format_time_per_unit(0.00025) == "250us/step"
    assert progbar_module.format_time_per_unit(2.4) == "2s/step"
    assert progbar_module.format_time_per_unit(0) == "0s/step"
    assert progbar_module.format_time_per_unit(0.5, "sample") == "500ms/sample"


def test_format_eta_and_value():
    assert progbar_module.format_eta(42.7) == "42s"
    assert progbar_module.format_eta(123) == "2:03"
    assert progbar_module.format_eta(3723) == "1:02:03"
    assert progbar_module.format_value(0.11184) == "0.1118"
    assert progbar_module.format_value(0.0) == "0.0000e+00"
    assert progbar_module.format_value(0.0005) == "5.0000e-04"
    assert progbar_module.format_value(float("nan")) == "nan"


def test_verbose1_tty_redraws_in_place(clock, tty, capsys):
    bar = Progbar(4, width=10, stateful_metrics=["loss"])
    clock.advance(1.0)
    bar.update(1, [("loss", 0.5)])
    clock.advance(0.5)
    bar.update(2, [("loss", 0.25)])
    clock.advance(0.5)
    bar.update(4, [("loss", 0.125)])
    out = capsys.readouterr().out
    lines = out.split("\r")
    assert lines[0] == ""
    # after one step of 1s, 3 remain: ETA 3s; the arrow marks the head of the bar
    assert lines[1] == "1/4 [=>........] - ETA: 3s - loss: 0.5000"
    assert lines[2] == "2/4 [====>.....] - ETA: 1s - loss: 0.2500"
    # finished: elapsed 2s, per step (excluding the first) (2.0 - 1.0) / 3 = 333ms
    assert lines[3] == "4/4 [==========] - 2s 333ms/step - loss: 0.1250\n"


def test_verbose1_tty_pads_a_shorter_line(clock, tty, capsys):
    bar = Progbar(2, width=4)
    clock.advance(0.1)
    bar.update(1, [("x", "a long piece of text")])
    clock.advance(0.1)
    bar.update(1, [("x", "b")], finalize=False)
    out = capsys.readouterr().out
    first, second = out.split("\r")[1:]
    assert len(second) == len(first)
    assert second.rstrip() == "1/2 [=>..] - ETA: 0s - x: b"


def test_verbose1_averages_non_stateful_values(clock, tty, capsys):
    bar = Progbar(3, width=3)
    clock.advance(1)
    bar.update(1, [("loss", 1.0)])
    clock.advance(1)
    bar.update(3, [("loss", 4.0)])  # covers 2 steps: (1 * 1 + 4 * 2) / 3 = 3
    out = capsys.readouterr().out
    assert out.endswith("3/3 [===] - 2s 500ms/step - loss: 3.0000\n")


def test_verbose1_tty_respects_interval(clock, tty, capsys):
    bar = Progbar(100, width=10, interval=0.05)
    for i in range(1, 100):
        clock.advance(0.004)
        bar.update(i)
    clock.advance(0.004)
    bar.update(100)
    out = capsys.readouterr().out
    # the first update draws, then a redraw once 50 ms have passed (every 13th step), then the last
    assert out.count("\r") == 1 + 98 // 13 + 1
    assert out.endswith("100/100 [==========] - 0s 4ms/step\n")


def test_verbose1_not_a_tty_prints_whole_lines_rarely(clock, capsys):
    bar = Progbar(1875, stateful_metrics=["loss", "accuracy"])
    run_epoch(bar, clock, 1875, values=lambda i: [("loss", 0.1118), ("accuracy", 0.9654)])
    clock.advance(0.0)
    bar.update(1875, [("loss", 0.1118), ("accuracy", 0.9654)], finalize=True)
    out = capsys.readouterr().out
    assert "\r" not in out
    # 2s + 1874 * 3ms = 7.6s: one intermediate line after 5s, then the final one
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("1001/1875 [===============>..............] - ETA: 2s - loss: 0.1118")
    assert lines[1] == ("1875/1875 [==============================] - 8s 3ms/step - loss: 0.1118 "
                        "- accuracy: 0.9654")


def test_seed_line_exactly(clock, capsys):
    """The line of the seed tutorial: 1875 steps, 5 seconds, 3 ms a step."""
    bar = Progbar(1875, stateful_metrics=["loss", "accuracy"])
    clock.advance(0.002)
    bar.update(1, [("loss", 0.5)])
    clock.advance(5.0)
    bar.update(1875, [("loss", 0.1118), ("accuracy", 0.9654)])
    assert capsys.readouterr().out == ("1875/1875 [==============================] - 5s 3ms/step - loss: 0.1118 "
                                       "- accuracy: 0.9654\n")


def test_verbose2_prints_one_line_when_finished(clock, capsys):
    bar = Progbar(313, verbose=2, stateful_metrics=["loss", "accuracy"])
    run_epoch(bar, clock, 312, first_step=0.2, step=0.0025)
    assert capsys.readouterr().out == ""
    clock.advance(0.1)
    bar.update(313, [("loss", 0.0516), ("accuracy", 0.9878)])
    assert capsys.readouterr().out == "313/313 - 1s - loss: 0.0516 - accuracy: 0.9878\n"


def test_verbose0_prints_nothing(clock, capsys):
    bar = Progbar(3, verbose=0)
    for i in range(1, 4):
        clock.advance(1)
        bar.update(i, [("loss", 1.0)])
    assert capsys.readouterr().out == ""


def test_unknown_target(clock, tty, capsys):
    bar = Progbar(None, width=10)
    clock.advance(0.5)
    bar.update(1)
    clock.advance(0.5)
    bar.update(2, finalize=True)
    out = capsys.readouterr().out
    assert out == "\r      1/Unknown - 0s 500ms/step\r      2/Unknown - 1s 500ms/step\n"


def test_add_advances(clock, tty, capsys):
    bar = Progbar(10, width=10)
    clock.advance(1)
    bar.add(5)
    clock.advance(1)
    bar.add(5)
    # step 1 was never reported, so the first step's time is not set apart: 2s / 10
    assert capsys.readouterr().out.endswith("10/10 [==========] - 2s 200ms/step\n")


def test_bad_arguments():
    with pytest.raises(ValueError, match="verbose"):
        Progbar(10, verbose=3)
    with pytest.raises(ValueError, match="target"):
        Progbar(-1)


def test_predict_shows_the_progress_line_and_calls_the_predict_hooks(capsys):
    import numpy as np

    import graphc as keras
    from graphc import layers

    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    x = np.ones((70, 3), np.float32)
    events = []

    class Hooks(keras.callbacks.Callback):
        def on_predict_begin(self, logs=None):
            events.append("begin")

        def on_predict_batch_begin(self, batch, logs=None):
            events.append(("batch", batch))

        def on_predict_batch_end(self, batch, logs=None):
            events.append(logs["outputs"].shape)

        def on_predict_end(self, logs=None):
            events.append("end")

    capsys.readouterr()
    assert model.predict(x, callbacks=[Hooks()]).shape == (70, 2)
    assert capsys.readouterr().out.strip().startswith("3/3 [==============================] - ")
    assert events == ["begin", ("batch", 0), (32, 2), ("batch", 1), (32, 2), ("batch", 2), (6, 2), "end"]
    model.predict(x, verbose=0)
    model.predict([(x[:10],), (x[10:],)], verbose=0)
    assert capsys.readouterr().out == ""
    model.predict([(x[:10],), (x[10:],)], verbose=2)
    assert capsys.readouterr().out.startswith("2/2 - ")
