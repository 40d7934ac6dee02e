"""The live progress line of fit, evaluate and predict.

Verbose 1 draws the bar and redraws it in place::

    1875/1875 [==============================] - 5s 3ms/step - loss: 0.1118 - accuracy: 0.9654

(while running, ``- ETA: 4s`` stands where the elapsed and per-step times end up). Verbose 2 prints
one line when the bar is finished, as the seed tutorials show for ``evaluate(verbose=2)``::

    313/313 - 1s - loss: 0.0516 - accuracy: 0.9878

On a terminal (or in a notebook kernel) the line is redrawn with ``\\r`` at most every ``interval``
seconds. When stdout is a file or a pipe, ``\\r`` would pile every redraw into one endless line, so
each update is printed as a line of its own, and only every ``NON_TTY_INTERVAL`` seconds and when
the bar finishes: a log of a short epoch holds exactly one line.
"""
from __future__ import annotations

import math
import sys
import time
from typing import Iterable

import numpy as np

NON_TTY_INTERVAL = 5.0
"""Seconds between redraws when stdout is not interactive."""

# Read through the module so tests can substitute a fake clock.
_clock = time.monotonic


def is_interactive() -> bool:
    """Whether stdout can redraw a line in place (a terminal or a notebook kernel)."""
    stream = sys.stdout
    try:
        if stream is not None and stream.isatty():
            return True
    except (AttributeError, ValueError):
        pass
    return "ipykernel" in sys.modules


def format_time_per_unit(seconds: float, unit_name: str = "step") -> str:
    """``3ms/step``, ``250us/step``, ``2s/step`` (rounded to whole units, as Keras prints)."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit_name}"
    return f"{seconds * 1e6:.0f}us/{unit_name}"


def format_eta(seconds: float) -> str:
    """``1:02:03`` past an hour, ``2:03`` past a minute, ``42s`` below."""
    s = int(seconds)
    if seconds > 3600:
        return f"{s // 3600}:{(s % 3600) // 60:02d}:{s % 60:02d}"
    if seconds > 60:
        return f"{s // 60}:{s % 60:02d}"
    return f"{s}s"


def format_value(value) -> str:
    """A metric as the progress line shows it: 4 decimals, scientific notation when tiny."""
    if isinstance(value, str):
        return value
    try:
        v = float(np.mean(value))
    except (TypeError, ValueError):
        return str(value)
    if abs(v) > 1e-3 or math.isnan(v) or math.isinf(v):
        return f"{v:.4f}"
    return f"{v:.4e}"


class Progbar:
    """A progress bar with running metric values.

    Args:
        target: total number of steps expected, or None if unknown.
        width: width of the bar in characters.
        verbose: 0 (silent), 1 (live bar), 2 (one line when finished).
        interval: minimum seconds between redraws on a terminal.
        stateful_metrics: names of values shown as given; all other values are averaged over the
            steps seen so far (each update's value weighted by the steps it covers).
        unit_name: what a step is called in ``3ms/step``.
    """

    def __init__(self, target: int | None, width: int = 30, verbose: int = 1, interval: float = 0.05,
                 stateful_metrics: Iterable[str] | None = None, unit_name: str = "step"):
        if target is not None and (not isinstance(target, (int, np.integer)) or target < 0):
            raise ValueError(f"Progbar: target must be a non-negative int or None, received {target!r}")
        if verbose not in (0, 1, 2):
            raise ValueError(f"Progbar: verbose must be 0, 1 or 2, received {verbose!r}")
        self.target = None if target is None else int(target)
        self.width = int(width)
        self.verbose = verbose
        self.interval = float(interval)
        self.stateful_metrics = set(stateful_metrics or ())
        self.unit_name = unit_name
        self._dynamic_display = is_interactive()
        self._start = _clock()
        # A file gets its first line after NON_TTY_INTERVAL, a terminal at the first update.
        self._last_update = 0.0 if self._dynamic_display else self._start
        self._time_after_first_step = None
        self._seen_so_far = 0
        self._values: dict[str, list | object] = {}
        self._values_order: list[str] = []
        self._total_width = 0

    @property
    def _min_interval(self) -> float:
        return self.interval if self._dynamic_display else max(self.interval, NON_TTY_INTERVAL)

    def update(self, current: int, values=None, finalize: bool | None = None) -> None:
        """Moves the bar to step ``current``.

        Args:
            current: index of the current step (steps done so far).
            values: list of ``(name, value)`` pairs (or a dict) for this update.
            finalize: whether this is the last update; defaults to ``current >= target``.
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        self._accumulate(current, values)
        now = _clock()
        if current == 1 and self._time_after_first_step is None:
            self._time_after_first_step = now  # the first step pays for compilation: not an average
        if self.verbose == 1:
            if not finalize and now - self._last_update < self._min_interval:
                return
            self._write(self._line_verbose1(current, now, finalize), finalize)
        elif self.verbose == 2 and finalize:
            self._write(self._line_verbose2(current, now), True)
        self._last_update = now

    def add(self, n: int, values=None) -> None:
        """Advances the bar by ``n`` steps."""
        self.update(self._seen_so_far + n, values)

    # -- internals ------------------------------------------------------------------------------
    def _accumulate(self, current: int, values) -> None:
        if isinstance(values, dict):
            values = list(values.items())
        for name, value in values or ():
            if name not in self._values_order:
                self._values_order.append(name)
            if name in self.stateful_metrics or isinstance(value, str):
                self._values[name] = value
                continue
            weight = max(current - self._seen_so_far, 1)
            entry = self._values.get(name)
            if not isinstance(entry, list):
                self._values[name] = [value * weight, weight]
            else:
                entry[0] = entry[0] + value * weight
                entry[1] += weight
        self._seen_so_far = current

    def _shown_value(self, name: str) -> str:
        entry = self._values[name]
        if isinstance(entry, list):
            return format_value(np.asarray(entry[0], dtype=np.float64) / max(1, entry[1]))
        return format_value(entry)

    def _metrics_text(self) -> str:
        return "".join(f" - {name}: {self._shown_value(name)}" for name in self._values_order)

    def _step_duration(self, current: int, now: float) -> float:
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            return (now - self._time_after_first_step) / (current - 1)
        return (now - self._start) / current

    def _count(self, current: int) -> str:
        digits = len(str(self.target)) if self.target else 1
        return f"{current:>{digits}d}/{self.target}"

    def _bar(self, current: int) -> str:
        if self.target is None:
            return f"{current:7d}/Unknown"
        fraction = min(current / self.target, 1.0) if self.target else 1.0
        filled = int(self.width * fraction)
        body = ""
        if filled > 0:
            body = "=" * (filled - 1) + (">" if current < self.target else "=")
        return f"{self._count(current)} [{body}{'.' * (self.width - filled)}]"

    def _line_verbose1(self, current: int, now: float, finalize: bool) -> str:
        per_step = self._step_duration(current, now)
        if self.target is None or finalize:
            info = f" - {now - self._start:.0f}s {format_time_per_unit(per_step, self.unit_name)}"
        else:
            info = f" - ETA: {format_eta(per_step * (self.target - current))}"
        return self._bar(current) + info + self._metrics_text()

    def _line_verbose2(self, current: int, now: float) -> str:
        count = self._count(current) if self.target is not None else f"{current}"
        return f"{count} - {now - self._start:.0f}s{self._metrics_text()}"

    def _write(self, line: str, finalize: bool) -> None:
        stream = sys.stdout
        if self._dynamic_display and self.verbose == 1:
            pad = max(self._total_width - len(line), 0)
            self._total_width = len(line)
            text = "\r" + line + " " * pad + ("\n" if finalize else "")
        else:
            text = line + "\n"
        stream.write(text)
        stream.flush()
