"""The Trainer mixin of Model: compile, fit, evaluate, train_on_batch, test_on_batch, export_training.

``fit`` runs ONE ONNX graph per step (forward in training mode, loss, backward, optimizer update),
built by ``passes.BuildTrainingStep`` and executed by ``runtime.train_step.TrainStepExecutor`` with
the parameters and optimizer state resident on the device. The Variables and the optimizer's host
state are refreshed from the device lazily, when they are read. Metrics are computed on the host
from the predictions the step returns.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from graphc import losses as losses_mod
from graphc import ops
from graphc import optimizers as optimizers_mod
from graphc import tree
from graphc.ir import Graph, TensorType
from graphc.models import data as data_utils
from graphc.ops import Builder

from . import data_adapter as da
from . import iterables
from .train_state import SAMPLE_WEIGHT, Y_PRED, _initial_state, _Tracker, _TrainState, nan_loss_error

#: The pass pipeline level the training-step and evaluation graphs are optimized at.
STEP_OPT_LEVEL = 2


class Trainer:
    """compile / fit / evaluate for Model. State is created lazily, so Model.__init__ is untouched."""

    # -- compile ----------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly: bool = False, steps_per_execution: int = 1, jit_compile="auto", device: str = "cpu",
                threads: int | None = None, **kwargs):
        """Configures training.

        Args:
            optimizer: name (``"adam"``) or Optimizer.
            loss: name, Loss object or function; for several outputs also a list (by position) or
                a dict keyed by output name. A single loss applies to every output.
            loss_weights: scalar, list or dict of per-output loss coefficients.
            metrics: list of names/Metrics; for several outputs a nested list or dict by output.
            device: ``"cpu"`` or ``"cuda"`` (falls back to the CPU with a warning).
            threads: onnxruntime intra-op threads for the training and evaluation sessions
                (onnxruntime's default, one per core, when None).
        """
        if kwargs:
            raise TypeError(f"compile: unexpected keyword argument(s) {sorted(kwargs)}")
        self._detach_train_state()
        for leaf in tree.flatten(loss):  # unknown names are an error here, where the user wrote them
            if leaf is not None:
                losses_mod.get(leaf)
        da.check_compile_args(metrics, weighted_metrics, loss_weights)
        self.optimizer = optimizers_mod.get(optimizer)
        self._compile_args = {"loss": loss, "loss_weights": loss_weights, "metrics": metrics,
                              "weighted_metrics": weighted_metrics}
        self.loss = loss
        self._device = device
        self._threads = threads
        self.compiled = True
        self._compile_version = getattr(self, "_compile_version", 0) + 1
        self._resolved = None
        self._train_state = None
        self._eval_cache = {}
        self.stop_training = False
        if loss is not None and getattr(self, "built", False):
            self._resolve()  # losses, weights and metrics matched to the outputs: mistakes show here

    def get_compile_config(self) -> dict | None:
        """The compile arguments as plain data (names and ``{"class_name", "config"}`` dicts)."""
        if getattr(self, "_compile_args", None) is None:
            return None
        from graphc import metrics as metrics_mod

        def ser(x, module):
            if x is None or isinstance(x, (str, int, float)):
                return x
            if isinstance(x, dict):
                return {k: ser(v, module) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [ser(v, module) for v in x]
            if hasattr(x, "get_config"):
                return module.serialize(x)
            raise TypeError(f"get_compile_config: cannot serialize {x!r} (a plain function); compile with a name "
                            "or a Loss/Metric object to save the compile configuration")

        args = self._compile_args
        return {"optimizer": optimizers_mod.serialize(self.optimizer), "loss": ser(args["loss"], losses_mod),
                "loss_weights": args["loss_weights"], "metrics": ser(args["metrics"], metrics_mod),
                "weighted_metrics": ser(args["weighted_metrics"], metrics_mod),
                "device": getattr(self, "_device", "cpu"), "threads": getattr(self, "_threads", None)}

    def compile_from_config(self, config: dict) -> None:
        """Compiles from what ``get_compile_config`` returned."""
        from graphc import metrics as metrics_mod

        def de(x, module):
            if isinstance(x, dict) and "class_name" in x:
                return module.deserialize(x)
            if isinstance(x, dict):
                return {k: de(v, module) for k, v in x.items()}
            if isinstance(x, list):
                return [de(v, module) for v in x]
            return x

        self.compile(optimizer=optimizers_mod.deserialize(config["optimizer"]), loss=de(config["loss"], losses_mod),
                     loss_weights=config.get("loss_weights"), metrics=de(config.get("metrics"), metrics_mod),
                     weighted_metrics=de(config.get("weighted_metrics"), metrics_mod),
                     device=config.get("device", "cpu"), threads=config.get("threads"))

    def _require_compiled(self, what: str) -> None:
        if not getattr(self, "compiled", False) or getattr(self, "_compile_args", None) is None:
            raise RuntimeError(f"You must call compile() before {what}. For example: "
                               "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')")

    # -- building from data -----------------------------------------------------------------------
    def _ensure_built_for(self, x) -> None:
        if self._is_graph_network():
            return
        from graphc.models.sequential import Sequential

        arrays = [np.asarray(a) for a in tree.flatten(x)]
        if isinstance(self, Sequential):
            self.build((None,) + arrays[0].shape[1:])
            return
        if self._input_types is None:
            self._input_types = [TensorType(a.dtype.name if a.dtype.kind in "iub" else self.dtype,
                                            ("batch",) + tuple(a.shape[1:])) for a in arrays]
            self._input_structure = tree.map_structure(lambda _: 0, x if isinstance(x, (list, tuple, dict)) else 0)
            self.built = True
            self._trace_graph(False)

    def _outputs(self):
        g = self._trace_graph(False)
        return list(g.output_names), {n: v.type for n, v in zip(g.output_names, g.outputs)}, g

    def _resolve(self):
        """Per-output losses, weights and metric objects, resolved once the outputs are known."""
        names, types, graph = self._outputs()
        if self._resolved is not None and self._resolved["graph"] is graph:
            return self._resolved
        args = self._compile_args
        if args["loss"] is None:
            raise ValueError("compile() was called without a loss; pass loss=... to compile before fit/evaluate")
        def single(v):  # [v] for a one-output model is v, as in Keras
            return v[0] if isinstance(v, (list, tuple)) and len(v) == 1 and len(names) == 1 else v

        raw = da.by_output(single(args["loss"]), names, "loss", allow_single_for_all=True)
        loss_objs = {n: (None if raw.get(n) is None else losses_mod.get(raw[n])) for n in names}
        if all(v is None for v in loss_objs.values()):
            raise ValueError(f"loss: no output of the model {names} has a loss")
        weights = {n: 1.0 for n in names}
        lw = single(args["loss_weights"])
        if lw is not None:
            if isinstance(lw, (int, float)):
                weights = {n: float(lw) for n in names}
            else:
                for k, v in da.by_output(lw, names, "loss_weights").items():
                    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                        raise TypeError(f"loss_weights: expected a number for output {k!r}, received {v!r}")
                    weights[k] = float(v)
        metrics = {n: [] for n in names}
        for key in ("metrics", "weighted_metrics"):
            m = args[key]
            if m is None:
                continue
            per = self._metrics_by_output(m, names)
            for n, ids in per.items():
                for ident in ids:
                    from graphc import metrics as metrics_mod

                    obj = metrics_mod.get(ident, loss=loss_objs.get(n) or raw.get(n),
                                          output_shape=types[n].keras_shape())
                    if obj is not None:
                        metrics[n].append((obj, key == "weighted_metrics"))
        self._resolved = {"graph": graph, "names": names, "types": types, "losses": loss_objs,
                          "weights": weights, "metrics": metrics}
        return self._resolved

    @staticmethod
    def _metrics_by_output(m, names):
        if isinstance(m, dict):
            unknown = [k for k in m if k not in names]
            if unknown:
                raise data_utils.UnknownKeyError(f"metrics: key(s) {unknown} match no output of the model; its outputs are {names}")
            return {k: (list(v) if isinstance(v, (list, tuple)) else [v]) for k, v in m.items()}
        if not isinstance(m, (list, tuple)):
            m = [m]
        if len(names) > 1 and any(isinstance(e, (list, tuple)) for e in m):
            if len(m) != len(names):
                raise ValueError(f"metrics: the model has {len(names)} outputs {names}, received {len(m)} metric lists")
            return {n: (list(e) if isinstance(e, (list, tuple)) else ([] if e is None else [e])) for n, e in zip(names, m)}
        return {n: list(m) for n in names}

    @property
    def metrics_names(self) -> list[str]:
        r = self._resolve()
        return ["loss"] + [k for k in self._log_keys(r) if k != "loss"]

    def _log_keys(self, r) -> list[str]:
        multi = len(r["names"]) > 1
        keys = ["loss"]
        if multi:
            keys += [f"{n}_loss" for n in r["names"] if r["losses"][n] is not None]
        for n in r["names"]:
            for obj, _ in r["metrics"][n]:
                keys.append(f"{n}_{obj.name}" if multi else obj.name)
        return keys

    # -- graphs -----------------------------------------------------------------------------------
    def _target_type(self, name: str, r) -> TensorType:
        pred = r["types"][name]
        loss = r["losses"][name]
        if losses_mod.is_sparse_categorical(loss):
            return TensorType("int64", ("batch",) + tuple(pred.shape[1:-1]))
        return TensorType(pred.dtype, ("batch",) + tuple(pred.shape[1:]))

    def _trace_with_loss(self, training: bool):
        """Forward + losses in one graph; returns (graph, builder, total loss, fetches)."""
        r = self._resolve()
        g = Graph(f"{self.name}/{'train_step' if training else 'test_step'}")
        b = Builder(g)
        b.training = training
        xs = [b.input(n, t) for n, t in zip(self._input_names(), self._input_type_list())]
        with b.activate():
            out = self._trace_call((tree.pack_sequence_as(self._input_structure_for_call(), xs),), {})
        preds = dict(zip(r["names"], tree.flatten(out)))
        fetches, total, per = [], None, []
        with b.activate():
            ys = {n: b.input(n, self._target_type(n, r)) for n in r["names"] if r["losses"][n] is not None}
            sws = {n: b.input(SAMPLE_WEIGHT + n, TensorType("float32", ("batch",))) for n in ys}
            with b.name_scope("loss"):
                for n in ys:
                    value = r["losses"][n](ys[n], preds[n], sws[n])
                    per.append((n, value))
                    w = r["weights"][n]
                    term = value if w == 1.0 else ops.mul(value, np.asarray(w, value.dtype))
                    total = term if total is None else ops.add(total, term)
        fetches.append(("loss", total))
        if len(r["names"]) > 1:
            fetches += [(f"loss/{n}", v) for n, v in per]
        fetches += [(Y_PRED + n, preds[n]) for n in r["names"]]
        return g, b, total, fetches

    def _build_train_graph(self, debug: bool | None = None, level: int = STEP_OPT_LEVEL,
                           all_predictions: bool = True, device_layouts: bool = False):
        """The optimized step graph. ``all_predictions=False`` outputs ``y_pred/<output>`` only for
        outputs with metrics (the fit loop's graph: an unused output costs a copy per step);
        ``device_layouts`` keeps parameters the step reads permuted in that layout, and large MatMul
        weights as row chunks (the signature's ``layouts`` and ``chunks`` say how to convert)."""
        from passes import optimize
        from passes.build_training_step import BuildTrainingStep
        from runtime.providers import nchwc_block_for

        g, b, total, fetches = self._trace_with_loss(True)
        if not all_predictions:
            r = self._resolve()
            fetches = [(name, v) for name, v in fetches
                       if not name.startswith(Y_PRED) or r["metrics"][name[len(Y_PRED):]]]
        trainable = [v for v in self.trainable_weights if v.dtype in ("float32", "float64", "float16")]
        used = {n.attrs["variable"].uid for n in g.params()}
        trainable = [v for v in trainable if v.uid in used]
        step = BuildTrainingStep(b, total, trainable, self.optimizer, fetches, b.state_updates,
                                 device_layouts=device_layouts, chunk_params=device_layouts)
        step.run(g)
        # fit's own step (never an exported one) uses the CPU's NCHWc convolution kernels. Inference
        # graphs do not: they would permute every kernel on every call (ResNet50 predict of 4 images
        # 1.10 -> 1.30 s), where onnxruntime's own transformer permutes constant weights once.
        cpu = {"target": "onnxruntime", "nchwc_block": nchwc_block_for(getattr(self, "_device", "cpu"))} \
            if device_layouts else {}
        graph = optimize(g, level=level, debug=debug, **cpu)
        return graph, step.signature, trainable

    def _train_state_for(self):
        r = self._resolve()
        trainable_key = tuple(v.uid for v in self.trainable_weights)
        key = (self._compile_version, id(r["graph"]), trainable_key)
        ts = getattr(self, "_train_state", None)
        if ts is not None and ts.key == key:
            return ts
        self._detach_train_state()
        graph, sig, trainable = self._build_train_graph(all_predictions=False, device_layouts=True)
        if not trainable:
            warnings.warn(f'Model "{self.name}" has no trainable weights: fit only updates non-trainable state '
                          "(e.g. BatchNormalization statistics). Did you set trainable = False on every layer?",
                          UserWarning, stacklevel=3)
        self.optimizer.build(trainable)
        ts = _TrainState(self, graph, sig, trainable, self._device, key)
        ts.graph_ref = r["graph"]  # keeps the forward graph (and so its id in ``key``) alive
        self._train_state = ts
        return ts

    def _detach_train_state(self) -> None:
        ts = getattr(self, "_train_state", None)
        if ts is not None:
            ts.sync()
            self._train_state = None

    def _eval_executable(self):
        from passes import optimize
        from runtime import Executable

        r = self._resolve()
        key = (self._compile_version, id(r["graph"]))
        cache = self.__dict__.setdefault("_eval_cache", {})
        exe = cache.get(key)
        if exe is None:
            cache.clear()
            g, _, _, fetches = self._trace_with_loss(False)
            g.set_outputs([v for _, v in fetches], [n for n, _ in fetches])
            exe = Executable(optimize(g, level=STEP_OPT_LEVEL), device=getattr(self, "_device", "cpu"),
                             threads=getattr(self, "_threads", None))
            exe.fetch_names = [n for n, _ in fetches]
            exe.graph_ref = r["graph"]
            cache[key] = exe
        return exe

    # -- data -------------------------------------------------------------------------------------
    def _prepare(self, x, y, sample_weight=None, class_weight=None, what: str = "fit"):
        if x is None:
            raise ValueError(f"{what}: x is required")
        self._ensure_built_for(x)
        r = self._resolve()
        feeds = data_utils.standardize_inputs(self, x, "x")
        n = data_utils.num_rows(feeds, "x")
        if n == 0:
            raise ValueError(f"{what}: x has no rows (0 samples); give at least one sample")
        ys = da.standardize_targets(y, r["names"], r["types"], r["losses"])
        rows = {k: len(v) for k, v in ys.items()}
        bad = {k: m for k, m in rows.items() if m != n}
        if bad:
            raise ValueError(f"{what}: x has {n} rows but y has {bad}; x and y must have the same number of samples")
        sws = da.standardize_sample_weights(sample_weight, class_weight, ys, r["names"], n)
        return feeds, ys, sws, n

    def _batch_feeds(self, feeds, ys, sws):
        out = dict(feeds)
        out.update(ys)
        out.update({SAMPLE_WEIGHT + k: v for k, v in sws.items()})
        return out

    # -- fit --------------------------------------------------------------------------------------
    def _fit_data(self, x, y, batch_size, verbose, sample_weight, class_weight, validation_split,
                  validation_data, steps_per_epoch, validation_steps=None, validation_batch_size=None,
                  validation_runs: int = 1):
        """fit's checked inputs, shared by every backend: batch size, verbosity, feeds, targets, sample
        weights, row count, resolved losses/metrics and the validation data (``da.ArrayValidation``, or
        an ``iterables.Validation`` for an iterable of batches), labels range-checked. Without a
        ``batch_size``, ``steps_per_epoch`` batches cover the training rows once (Keras' rule)."""
        steps_per_epoch = da.check_steps(steps_per_epoch, "fit: steps_per_epoch")
        verbose = data_utils.check_verbose(verbose)
        feeds, ys, sws, n = self._prepare(x, y, sample_weight, class_weight, "fit")
        r = self._resolve()
        val = self._validation_data(validation_data, validation_steps, validation_batch_size, batch_size,
                                    validation_runs)
        if val is None and validation_split:
            (feeds, ys, sws), (vf, vy, vs) = da.split_validation([feeds, ys, sws], validation_split)
            n = data_utils.num_rows(feeds, "x")
            da.check_label_range(vy, r["losses"], r["types"], len(r["names"]) > 1)
            val = da.ArrayValidation(vf, vy, vs, validation_batch_size or batch_size, validation_steps,
                                     "fit: validation_split")
        da.check_label_range(ys, r["losses"], r["types"], len(r["names"]) > 1)
        batch_size = da.resolve_batch_size(batch_size, n, steps_per_epoch)
        return batch_size, verbose, feeds, ys, sws, n, r, val

    def _validation_data(self, validation_data, steps, validation_batch_size, batch_size=None, runs: int = 1):
        """``validation_data`` checked: a ``da.ArrayValidation`` for arrays (labels in range, batches of
        ``validation_batch_size or batch_size`` rows as in Keras), an ``iterables.Validation`` for an
        iterable of batches, or None. ``runs``: how many times fit will validate."""
        val = iterables.validation(self, validation_data, steps, validation_batch_size, runs)
        if val is not None or validation_data is None:
            return val
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data: expected a tuple (x_val, y_val) or (x_val, y_val, sample_weight), "
                             "or an iterable of such batches (a generator, a PyDataset, a list)")
        vsw = validation_data[2] if len(validation_data) == 3 else None
        val = self._prepare(validation_data[0], validation_data[1], vsw, None, "validation_data")[:3]
        r = self._resolve()
        da.check_label_range(val[1], r["losses"], r["types"], len(r["names"]) > 1)
        return da.ArrayValidation(*val, validation_batch_size or batch_size, steps)

    def fit(self, x=None, y=None, batch_size=None, epochs: int = 1, verbose="auto", callbacks=None,
            validation_split: float = 0.0, validation_data=None, shuffle: bool = True, class_weight=None,
            sample_weight=None, initial_epoch: int = 0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq: int = 1, backend: str = "onnxruntime"):
        """Trains for ``epochs`` epochs; returns the History (also ``model.history``).

        ``x`` is array data (with ``y``, ``batch_size``...) or an iterable of ``(x, y)`` /
        ``(x, y, sample_weight)`` batches: a generator (with ``steps_per_epoch``), a
        ``graphc.utils.PyDataset`` or a list; so may ``validation_data`` be (see ``iterables``).
        ``steps_per_epoch`` / ``validation_steps`` count batches as in Keras, for arrays too (see
        ``data_adapter``).

        ``backend="onnxruntime-training"`` trains through onnxruntime-training's Module / Optimizer
        instead (``ort_training_backend``; needs ``pip install graphc[training]``)."""
        if backend != "onnxruntime":
            from . import ort_training_backend

            args = {k: v for k, v in locals().items() if k not in ("self", "backend", "ort_training_backend")}
            return ort_training_backend.fit(self, backend, **args)
        from graphc.callbacks import CallbackList

        self._require_compiled("training the model (fit)")
        verbose = data_utils.check_verbose(verbose)
        da.check_epochs(epochs, initial_epoch)
        runs = iterables.validation_runs(initial_epoch, epochs, validation_freq)
        if iterables.kind(x) is not None:  # a generator, PyDataset, list of batches...
            feeder = iterables.fit_feeder(self, x, y, batch_size, sample_weight, class_weight, validation_split,
                                          shuffle, steps_per_epoch, epochs - initial_epoch)
            r = self._resolve()
            val = self._validation_data(validation_data, validation_steps, validation_batch_size, None, runs)
        else:
            batch_size, verbose, feeds, ys, sws, n, r, val = self._fit_data(
                x, y, batch_size, verbose, sample_weight, class_weight, validation_split, validation_data,
                steps_per_epoch, validation_steps, validation_batch_size, runs)
            feeder = da.ArrayFeeder(self._train_state_for(), self._batch_feeds(feeds, ys, sws), n, batch_size,
                                    shuffle, da.check_steps(steps_per_epoch, "fit: steps_per_epoch"))
        cbs = CallbackList(callbacks, model=self, add_history=True, add_progbar=verbose != 0, verbose=verbose,
                           epochs=epochs, steps=feeder.steps)
        return self._train_epochs(feeder, cbs, r, epochs, initial_epoch, val, validation_freq)

    def _train_epochs(self, feeder, cbs, r, epochs: int, initial_epoch: int, val, validation_freq: int):
        """fit's epoch loop for every kind of data: ``feeder.batches(epoch)`` yields ``(plan, batch, rows)``
        with the batch already in the plan's bound input buffers (``da.ArrayFeeder``,
        ``iterables.IterableFeeder``)."""
        ts = feeder.ts
        # per-batch hooks (and so per-batch logs and host-state checks) only when a callback has them
        batch_hooks = da.has_batch_hooks(cbs)
        refresh = batch_hooks or feeder.runs_user_code
        self.stop_training = False
        logs: dict = {}
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            tracker = _Tracker(self, r)
            cbs.on_epoch_begin(epoch)
            ts.refresh()  # epoch hooks may have set weights or the optimizer state
            for step, (plan, batch, rows) in enumerate(feeder.batches(epoch)):
                if batch_hooks:
                    cbs.on_train_batch_begin(step)
                outs = ts.run_plan(plan, refresh=refresh)
                loss = float(outs[0])
                if not math.isfinite(loss):
                    ts.undo_last_step()
                    raise nan_loss_error(loss, epoch, step, rows)
                tracker.update(outs, batch, ts.fetch_index)
                if batch_hooks:
                    logs = tracker.logs()
                    cbs.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            feeder.end_epoch(epoch)
            if self.stop_training and not tracker.count:
                break  # the data ran out at the start of this epoch: nothing to report
            logs = tracker.logs()
            self._end_epoch(cbs, epoch, logs, val, validation_freq)
            if self.stop_training:
                break
        # the weights stay on the device: each Variable syncs when it is read (``_TrainState.sync``),
        # so fit called epoch by epoch does not copy the state to the host between calls
        cbs.on_train_end(logs)
        return self.history

    def _end_epoch(self, cbs, epoch: int, logs: dict, val, validation_freq: int) -> None:
        """Validates when this epoch is due (adding ``val_*`` entries to ``logs``), then ``on_epoch_end``."""
        if val is not None and iterables.should_validate(epoch, validation_freq):
            logs.update({"val_" + k: v for k, v in val.evaluate(self, cbs).items()})
        cbs.on_epoch_end(epoch, logs)

    # -- evaluate ---------------------------------------------------------------------------------
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict: bool = False):
        """Loss and metrics on (x, y): a scalar, a list ``[loss, *metrics]`` or a dict. ``x`` may also be
        an iterable of ``(x, y)`` / ``(x, y, sample_weight)`` batches (``steps`` of them, or all)."""
        from graphc.callbacks import CallbackList

        self._require_compiled("evaluating the model (evaluate)")
        verbose = data_utils.check_verbose(verbose)
        if iterables.kind(x) is not None:  # a generator, PyDataset, list of batches...
            logs = iterables.evaluate(self, x, y, batch_size, sample_weight, steps, callbacks, verbose)
            return self._format_results(logs, return_dict)
        steps = da.check_steps(steps, "evaluate: steps")
        feeds, ys, sws, n = self._prepare(x, y, sample_weight, None, "evaluate")
        batch_size = da.resolve_batch_size(batch_size, n, steps)
        r = self._resolve()
        da.check_label_range(ys, r["losses"], r["types"], len(r["names"]) > 1)
        cbs = CallbackList(callbacks, model=self, add_progbar=verbose != 0, verbose=verbose, epochs=1,
                           steps=steps or da.num_steps(n, batch_size))
        logs = self._evaluate_arrays(feeds, ys, sws, batch_size, cbs, steps, "evaluate: x")
        return self._format_results(logs, return_dict)

    def _format_results(self, logs: dict, return_dict: bool):
        if return_dict:
            return dict(logs)
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def _evaluate_arrays(self, feeds, ys, sws, batch_size: int, callbacks=None, steps: int | None = None,
                         where: str = "evaluate: x", steps_arg: str = "steps") -> dict:
        """Loss and metrics over the first ``steps`` batches of the arrays (all when None)."""
        n = data_utils.num_rows(feeds, "x")
        data = self._batch_feeds(feeds, ys, sws)
        sels = da.eval_selections(n, batch_size, steps, where, steps_arg)
        return self._evaluate_batches((da.take(data, sel) for sel in sels), callbacks)

    def _evaluate_batches(self, batches, callbacks=None) -> dict:
        """Loss and metrics over ``batches`` (an iterable of step feeds), with the test-batch hooks."""
        r = self._resolve()
        exe = self._eval_executable()
        tracker = _Tracker(self, r)
        index = {name: i for i, name in enumerate(exe.fetch_names)}
        if callbacks is not None:
            callbacks.on_test_begin()
        for step, batch in enumerate(batches):
            if callbacks is not None:
                callbacks.on_test_batch_begin(step)
            outs = exe.run(batch)
            tracker.update(outs, batch, index)
            if callbacks is not None:
                callbacks.on_test_batch_end(step, tracker.logs())
        logs = tracker.logs()
        if callbacks is not None:
            callbacks.on_test_end(logs)
        return logs

    # -- single batches ---------------------------------------------------------------------------
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict: bool = False):
        """One optimizer step on one batch; returns the loss and metrics of that batch."""
        self._require_compiled("train_on_batch")
        feeds, ys, sws, n = self._prepare(x, y, sample_weight, class_weight, "train_on_batch")
        r = self._resolve()
        da.check_label_range(ys, r["losses"], r["types"], len(r["names"]) > 1)
        ts = self._train_state_for()
        batch = self._batch_feeds(feeds, ys, sws)
        outs = ts.step(batch)
        tracker = _Tracker(self, r)
        tracker.update(outs, batch, ts.fetch_index)
        return self._format_results(tracker.logs(), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        self._require_compiled("test_on_batch")
        feeds, ys, sws, n = self._prepare(x, y, sample_weight, None, "test_on_batch")
        logs = self._evaluate_arrays(feeds, ys, sws, batch_size=max(n, 1))
        return self._format_results(logs, return_dict)

    # -- export -----------------------------------------------------------------------------------
    def export_training(self, filepath: str, opset: int = 17, ir_version: int = 9, state_path: str | None = None,
                        level: int = STEP_OPT_LEVEL, debug: bool | None = None):
        """Writes the training-step graph as ONNX, runnable with plain ``onnxruntime.InferenceSession``.

        The model must be compiled (and built). The graph has default-domain ops only and passes the
        full ONNX check. Its contract:

        Inputs:
            * ``<input name>`` per model input (batch dimension symbolic);
            * ``<output name>`` per output with a loss: the targets (int64 class ids for sparse
              categorical cross-entropy, else the output's dtype and shape);
            * ``sample_weight/<output name>``: float32 ``[batch]`` (feed ones for unweighted);
            * ``<layer>/<weight>`` per parameter, e.g. ``dense/kernel`` (trainable and frozen);
            * ``optimizer/<layer>/<weight>/<slot>`` per optimizer slot (``momentum``, ``velocity``...),
              in the optimizer's device form: some slots are kept scaled or shifted to save passes
              over the parameter (Adam's ``momentum`` is ``m / (1 - beta_1)``, see
              ``Optimizer.slot_encoding``); ``optimizer.slot_from_device(variable, slot, array)``
              gives Keras' value and ``slot_to_device`` the reverse;
            * ``optimizer/iterations``: int64 scalar, steps taken so far;
            * ``optimizer/learning_rate``: float32 scalar, the rate of this step.

        Outputs:
            * ``loss`` (float32 scalar, the weighted total), ``loss/<output>`` for several outputs,
              ``y_pred/<output>`` (the predictions);
            * ``new/<name>`` for every parameter, optimizer slot, ``optimizer/iterations`` and
              non-trainable state (BatchNormalization moving statistics) the step updates: feed
              each back as ``<name>`` in the next step. Inputs without a ``new/`` output (frozen
              weights) stay as they are.

        Args:
            filepath: where to write the ``.onnx`` file.
            opset, ir_version: ONNX versions (17 / 9 by default).
            state_path: if given, an ``.npz`` of the current values of every non-batch input
                (parameters, optimizer state in its device form, iterations, learning rate) to
                start from.
            level: the pass pipeline level the step graph is optimized at (0 to 2).
            debug: run the pipeline in debug mode (IR checks and numerics after every pass, stage
                dumps, the pass table); None reads ``GRAPHC_DEBUG``.

        Returns:
            ``{input name: array}`` with those initial values.
        """
        from graphc.onnx import check, save_model, to_onnx

        self._require_compiled("export_training")
        if not self.built or (not self._is_graph_network() and self._input_types is None):
            raise ValueError(f'Model "{self.name}" must be built (called on data or build()) before export_training')
        ts = getattr(self, "_train_state", None)
        if ts is not None:
            ts.sync()
        graph, sig, trainable = self._build_train_graph(debug=debug, level=level)
        self.optimizer.build(trainable)
        proto = to_onnx(graph, opset=opset, ir_version=ir_version, params_as_inputs=True)
        bad = sorted({n.domain for n in proto.graph.node if n.domain not in ("", "ai.onnx")})
        if bad:
            raise RuntimeError(f"export_training: the step graph uses non-default domains {bad}")
        check(proto)
        save_model(proto, filepath)
        state = _initial_state(self, graph, sig, proto)
        state[sig.learning_rate] = np.asarray(self.optimizer._lr_at(self.optimizer.iterations), np.float32)
        if state_path is not None:
            np.savez(state_path, **state)
        return state
