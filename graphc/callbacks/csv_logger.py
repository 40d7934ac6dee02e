"""CSVLogger: one CSV row of logs per epoch."""
from __future__ import annotations

import csv
import os
from typing import Iterable

import numpy as np

from .callback import Callback


class CSVLogger(Callback):
    """Writes one CSV row per epoch: ``epoch`` (0-based) then the log keys in sorted order.

    The file is flushed after every row, so a crash loses nothing already logged. Values that are
    lists are written as ``"[a, b]"``; a key missing in some epoch is written as ``NA``.

    Args:
        filename: the CSV file.
        separator: the field separator.
        append: append to an existing file (the header is written only if the file is empty).
    """

    def __init__(self, filename, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys: list[str] | None = None
        self.writer = None
        self.csv_file = None
        self._write_header = True

    def on_train_begin(self, logs=None):
        mode = "w"
        self._write_header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename, encoding="utf-8") as f:
                self._write_header = not f.readline()
            mode = "a"
        folder = os.path.dirname(self.filename)
        if folder:
            os.makedirs(folder, exist_ok=True)
        self.csv_file = open(self.filename, mode, newline="", encoding="utf-8")
        self.keys = None
        self.writer = None

    @staticmethod
    def _cell(value):
        if isinstance(value, str):
            return value
        if isinstance(value, Iterable) and not (isinstance(value, np.ndarray) and value.ndim == 0):
            return f"[{', '.join(map(str, value))}]"
        return value

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.csv_file is None:  # used without on_train_begin
            self.on_train_begin()
        if self.keys is None:
            self.keys = sorted(logs)
        if self.writer is None:
            self.writer = csv.writer(self.csv_file, delimiter=self.sep, lineterminator="\n")
            if self._write_header:
                self.writer.writerow(["epoch", *self.keys])
        self.writer.writerow([epoch, *(self._cell(logs.get(k, "NA")) for k in self.keys)])
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None:
            self.csv_file.close()
        self.csv_file = None
        self.writer = None
