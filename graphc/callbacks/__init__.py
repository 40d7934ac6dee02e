"""Callbacks: objects whose hooks ``fit``, ``evaluate`` and ``predict`` call as they run.

The trainer builds a ``CallbackList`` and calls its hooks in this order::

    fit:       on_train_begin
                 on_epoch_begin(e)
                   on_train_batch_begin(b) ... on_train_batch_end(b, logs)   for each batch
                   [validation: on_test_begin, on_test_batch_begin/end..., on_test_end(logs)]
                 on_epoch_end(e, logs)          logs hold train and val_ values
               on_train_end(logs)
    evaluate:  on_test_begin, on_test_batch_begin/end(b, logs)..., on_test_end(logs)
    predict:   on_predict_begin, on_predict_batch_begin/end(b, logs)..., on_predict_end

``logs`` are dicts of Python floats: in batch hooks the running means over the epoch so far (what
the progress line shows), in ``on_epoch_end`` the epoch's values plus ``val_``-prefixed validation
values. Every callback gets the same dict, so a key a callback adds (``learning_rate``) is seen by
those after it, History among them. A callback stops training by setting
``self.model.stop_training = True``; the trainer checks it after each batch and epoch.
"""
from .callback import Callback, LambdaCallback
from .callback_list import CallbackList, History, ProgbarLogger
from .csv_logger import CSVLogger
from .learning_rate import LearningRateScheduler, ReduceLROnPlateau
from .model_checkpoint import ModelCheckpoint
from .monitor import EarlyStopping, TerminateOnNaN, resolve_mode

__all__ = ["Callback", "CallbackList", "CSVLogger", "EarlyStopping", "History", "LambdaCallback",
           "LearningRateScheduler", "ModelCheckpoint", "ProgbarLogger", "ReduceLROnPlateau", "TerminateOnNaN",
           "resolve_mode"]
