"""PyDataset: Keras' base class for datasets that hand out whole batches by index."""
from __future__ import annotations


class PyDataset:
    """A dataset of batches: ``len(ds)`` batches, ``ds[i]`` the i-th one.

    Subclass it and define ``__len__`` and ``__getitem__``; ``__getitem__(i)`` returns a batch as
    ``fit`` takes it: ``(x, y)`` or ``(x, y, sample_weight)``, where x and y are arrays, lists of
    arrays (by position) or dicts keyed by input / output name, as for array data. ``predict``
    takes ``x`` alone, ``(x,)`` or ``(x, y)``.

    ``fit(ds)`` runs ``len(ds)`` steps per epoch, visiting the batches in a new random order each
    pass when ``shuffle=True`` (the rows inside a batch stay as they are), and calls
    ``on_epoch_begin`` / ``on_epoch_end`` around each epoch. With ``steps_per_epoch`` epochs continue
    through the batches, but, as in Keras, an epoch that reaches the last batch ends there (with a
    warning) and the next starts a new pass. Batches may differ in size
    (a smaller last batch is fine). ``evaluate(ds)`` and ``predict(ds)`` read the batches in order.

    Example:

        class Batches(graphc.utils.PyDataset):
            def __init__(self, x, y, batch_size, **kwargs):
                super().__init__(**kwargs)
                self.x, self.y, self.batch_size = x, y, batch_size

            def __len__(self):
                return -(-len(self.x) // self.batch_size)

            def __getitem__(self, i):
                s = slice(i * self.batch_size, (i + 1) * self.batch_size)
                return self.x[s], self.y[s]

        model.fit(Batches(x, y, 64), epochs=3)

    Args:
        workers, use_multiprocessing, max_queue_size: accepted for compatibility with Keras and
            ignored: graphc reads the batches one at a time in the calling process, in order.
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    # getattr defaults: subclasses that skip super().__init__() still work, as in Keras
    @property
    def workers(self) -> int:
        return getattr(self, "_workers", 1)

    @workers.setter
    def workers(self, value: int) -> None:
        self._workers = value

    @property
    def use_multiprocessing(self) -> bool:
        return getattr(self, "_use_multiprocessing", False)

    @use_multiprocessing.setter
    def use_multiprocessing(self, value: bool) -> None:
        self._use_multiprocessing = value

    @property
    def max_queue_size(self) -> int:
        return getattr(self, "_max_queue_size", 10)

    @max_queue_size.setter
    def max_queue_size(self, value: int) -> None:
        self._max_queue_size = value

    def __getitem__(self, index: int):
        """The batch at ``index`` (0 <= index < len(self))."""
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index) returning a batch")

    def __len__(self) -> int:
        """The number of batches."""
        raise NotImplementedError(f"{type(self).__name__} must define __len__() returning the number of batches")

    @property
    def num_batches(self) -> int:
        """The number of batches (``len(self)``)."""
        return len(self)

    def on_epoch_begin(self) -> None:
        """Called at the start of each epoch of ``fit``."""

    def on_epoch_end(self) -> None:
        """Called at the end of each epoch of ``fit`` (and after each pass of evaluate / validation),
        e.g. to reshuffle the rows between batches."""


#: Keras 2's name for the same idea (``keras.utils.Sequence`` is ``PyDataset`` in Keras 3).
Sequence = PyDataset
