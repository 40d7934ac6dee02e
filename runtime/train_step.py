"""The training-step executor: device-resident state, IOBinding, two buffer sets swapped every step.

The step graph reads state inputs (parameters, optimizer state, the iteration count, moving
statistics) and writes their next values as outputs. Binding an output to its own input's buffer
gives wrong numbers in stock onnxruntime (the planner does not know about the alias), so the state
lives in two sets of OrtValues, A and B: even steps read A and write B, odd steps the reverse. Two
IOBindings are built once; each step binds only the batch and the learning rate. The fetched outputs
(loss, predictions) are written into host buffers allocated once per batch shape. Read-only inputs
(frozen weights) are bound to one OrtValue in both bindings. On CUDA the state OrtValues live on
the GPU and only the batch and the fetches cross to and from the host.

The batch dimension is symbolic, so one session serves every batch size (the last partial batch
included). State is copied back to the host only when ``read_state`` is called.

Two ways to run a step:

* ``run(feeds)`` binds host arrays each step and returns copies of the fetches: simple, safe.
* ``plan(shapes)`` + ``run_plan(plan)``: the fit loop's path. A ``StepPlan`` owns host arrays for
  the feeds and the fetches of one feed-shape signature; on the CPU the OrtValues bound to the
  session share their memory, so the caller gathers the next batch straight into ``plan.feeds``,
  runs, and reads ``plan.fetches`` without any per-step binding, allocation or copy. The fetch
  arrays are overwritten by the next ``run_plan`` with that plan.
"""
from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np
import onnxruntime as ort

from .providers import (DISABLED_OPTIMIZERS, providers_for, resolve_device, session_options,
                        warn_if_denormals_computed)


_NP_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
             "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_,
             "tensor(uint8)": np.uint8, "tensor(int8)": np.int8}


class StepPlan:
    """Host buffers for one feed-shape signature, bound once (see the module docstring).

    Attributes:
        feeds: ``{feed name: array}`` to write the next step's inputs into (in place).
        fetches: arrays of the fetched outputs, in ``fetches`` order, valid after ``run_plan``
            until the next ``run_plan`` with this plan.
    """

    __slots__ = ("feeds", "fetches", "_feed_values", "_fetch_values")

    def __init__(self, feeds: dict, feed_values: dict):
        self.feeds = feeds
        self.fetches: list = []
        self._feed_values = feed_values
        self._fetch_values = None  # known after the first run


def prefer_one_thread(t_default, t_one, margin: float = 0.9) -> bool:
    """True unless the default (one thread per core) session's median step time is below ``margin``
    times the one-thread session's: a second thread must clearly pay for itself."""
    return float(np.median(t_default)) >= margin * float(np.median(t_one))


class TrainStepExecutor:
    """Runs one ONNX training-step graph repeatedly with its state kept on the device.

    Args:
        model: the step graph (ModelProto or serialized bytes).
        state_pairs: (input name, output name) pairs: the output is the input's next value.
        initial_state: an array per state input and per read-only input that is not fed each step.
        feeds: names of the inputs fed every step (batch, learning rate).
        fetches: names of the outputs returned every step (loss, predictions).
        device: ``"cpu"`` or ``"cuda"``.
    """

    def __init__(self, model, state_pairs, initial_state: dict, feeds, fetches, device: str = "cpu",
                 threads: int | None = None):
        self.device = resolve_device(device)
        self._data = model if isinstance(model, (bytes, bytearray)) else model.SerializeToString()
        self.session = self._new_session(threads)
        self.threads = threads
        # with the thread count left to us, the first StepPlan times one thread against one per core
        self._tune_threads = threads is None and self.device == "cpu" and (os.cpu_count() or 1) > 1
        self._ort_device = "cuda" if self.device == "cuda" else "cpu"
        self.state_pairs = list(state_pairs)
        self.feeds = list(feeds)
        self.fetches = list(fetches)
        self._in_types = {i.name: i for i in self.session.get_inputs()}
        paired = {i for i, _ in self.state_pairs}
        self.readonly = [n for n in initial_state if n not in paired]
        missing = [n for n in self._in_types if n not in initial_state and n not in self.feeds]
        if missing:
            raise ValueError(f"TrainStepExecutor: no initial value or feed for input(s) {missing}")
        self._host_buffers: dict = {}
        # two state sets; set 0 holds the initial values, set 1 buffers of the same shapes
        self._sets = [{}, {}]
        for name, _ in self.state_pairs:
            a = np.asarray(initial_state[name])
            self._sets[0][name] = self._ortvalue(a, (0, name))
            self._sets[1][name] = ort.OrtValue.ortvalue_from_shape_and_type(a.shape, a.dtype, self._ort_device, 0)
        self._readonly_values = {n: self._ortvalue(initial_state[n], ("ro", n)) for n in self.readonly}
        self._bindings = [self._make_binding(k) for k in (0, 1)]
        # feed shapes -> host OrtValues for the fetched outputs / -> StepPlan; least recently used
        # first out past SHAPE_CACHE_SIZE, so many distinct shapes (variable-length sequences) cost
        # one new entry each instead of throwing away the shapes that keep coming back
        self._fetch_buffers: OrderedDict = OrderedDict()
        self._plans: OrderedDict = OrderedDict()
        self._bound_sig = [None, None]   # what each binding's feeds/fetches are bound to: a shape tuple or a plan
        self._current = 0  # the set holding the latest state
        self.steps = 0

    def _new_session(self, threads):
        so = session_options(self.device, threads)  # sets denormals-as-zero, see there
        session = ort.InferenceSession(self._data, so, providers=providers_for(self.device),
                                       disabled_optimizers=DISABLED_OPTIMIZERS)
        warn_if_denormals_computed(self.device)  # ... unless an earlier session decided otherwise
        return session

    def _ortvalue(self, a: np.ndarray, key):
        # on the CPU an OrtValue made from an array shares its memory: always hand it a private copy
        # (and keep that copy referenced for as long as the OrtValue may use it)
        a = np.array(a, copy=True, order="C")
        self._host_buffers[key] = a
        return ort.OrtValue.ortvalue_from_numpy(a, self._ort_device, 0)

    def _make_binding(self, k: int, session=None):
        """Binding k reads state set k and writes set 1 - k."""
        binding = (session or self.session).io_binding()
        src, dst = self._sets[k], self._sets[1 - k]
        for in_name, out_name in self.state_pairs:
            binding.bind_ortvalue_input(in_name, src[in_name])
            binding.bind_ortvalue_output(out_name, dst[in_name])
        for name, v in self._readonly_values.items():
            binding.bind_ortvalue_input(name, v)
        return binding

    def run(self, feeds: dict) -> list[np.ndarray]:
        """One step: binds ``feeds`` (host arrays), runs, swaps the sets; returns the fetched outputs."""
        k = self._current
        binding = self._bindings[k]
        for name in self.feeds:
            binding.bind_cpu_input(name, feeds[name])
        sig = tuple(np.shape(feeds[name]) for name in self.feeds)
        if isinstance(self._bound_sig[k], StepPlan):
            self._bound_sig[k] = None  # the plan's fetch buffers are bound: rebind this call's
        buffers = self._fetch_buffers.get(sig)
        if buffers is None:
            # first step with these shapes: let onnxruntime allocate the fetches and learn their shapes
            for name in self.fetches:
                binding.bind_output(name, "cpu")
            self._bound_sig[k] = None
            self.session.run_with_iobinding(binding)
            outs = binding.get_outputs()
            n_state = len(self.state_pairs)  # outputs come back in binding order: state first
            results = [np.array(o.numpy()) for o in outs[n_state:n_state + len(self.fetches)]]
            self._make_room(self._fetch_buffers)
            self._fetch_buffers[sig] = [ort.OrtValue.ortvalue_from_shape_and_type(r.shape, r.dtype, "cpu", 0)
                                        for r in results]
        else:
            # later steps write the fetches into buffers of their known shapes: no per-step allocation
            self._fetch_buffers.move_to_end(sig)
            if self._bound_sig[k] != sig:
                for name, v in zip(self.fetches, buffers):
                    binding.bind_ortvalue_output(name, v)
                self._bound_sig[k] = sig
            self.session.run_with_iobinding(binding)
            # copies: the buffers are rewritten by the next step with these shapes
            results = [np.array(v.numpy()) for v in buffers]
        self._current = 1 - self._current
        self.steps += 1
        return results

    def plan(self, shapes: dict) -> StepPlan:
        """The (cached) StepPlan for feeds of these shapes: ``{feed name: shape}``."""
        key = tuple(tuple(shapes[name]) for name in self.feeds)
        plan = self._plans.get(key)
        if plan is not None:
            self._plans.move_to_end(key)
        else:
            self._make_room(self._plans)
            arrays, values = {}, {}
            for name in self.feeds:
                dtype = _NP_TYPES.get(self._in_types[name].type)
                if dtype is None:
                    raise TypeError(f"TrainStepExecutor.plan: feed {name!r} has unsupported type "
                                    f"{self._in_types[name].type}")
                a = np.zeros(tuple(shapes[name]), dtype)
                arrays[name] = a
                # shares a's memory on the CPU; on CUDA the batch is copied to the device at run time
                values[name] = ort.OrtValue.ortvalue_from_numpy(a, "cpu", 0)
            plan = self._plans[key] = StepPlan(arrays, values)
        return plan

    #: Feed-shape signatures kept (per cache: fetch buffers for ``run``, plans for ``plan``).
    SHAPE_CACHE_SIZE = 8

    def _make_room(self, cache: OrderedDict) -> None:
        """Evicts the least recently used entries so one more fits; a binding bound to one forgets it."""
        while len(cache) >= self.SHAPE_CACHE_SIZE:
            key, entry = cache.popitem(last=False)
            for k in (0, 1):
                bound = self._bound_sig[k]
                if bound is entry or (isinstance(bound, tuple) and bound == key):
                    self._bound_sig[k] = None

    def run_plan(self, plan: StepPlan) -> list:
        """One step reading ``plan.feeds``; the fetches land in ``plan.fetches`` (overwritten next step)."""
        k = self._current
        binding = self._bindings[k]
        if self._bound_sig[k] is not plan:
            for name, v in plan._feed_values.items():
                binding.bind_ortvalue_input(name, v)
            if plan._fetch_values is not None:
                for name, v in zip(self.fetches, plan._fetch_values):
                    binding.bind_ortvalue_output(name, v)
                self._bound_sig[k] = plan
        if plan._fetch_values is None:
            # first run: onnxruntime allocates the fetches, which tells their shapes
            for name in self.fetches:
                binding.bind_output(name, "cpu")
            self.session.run_with_iobinding(binding)
            outs = binding.get_outputs()
            n_state = len(self.state_pairs)
            plan.fetches = [np.array(o.numpy()) for o in outs[n_state:n_state + len(self.fetches)]]
            plan._fetch_values = [ort.OrtValue.ortvalue_from_numpy(a, "cpu", 0) for a in plan.fetches]
            self._bound_sig[k] = None
        else:
            if self._tune_threads:
                binding = self._choose_threads(plan, k)
            self.session.run_with_iobinding(binding)
        self._current = 1 - k
        self.steps += 1
        return plan.fetches

    #: Steps slower than this (seconds) are compute-bound enough that one thread per core pays off,
    #: and too costly to time twice; faster ones are timed with one thread and with one per core.
    TUNE_BELOW = 0.02
    #: The trial: this many interleaved blocks of this many steps per session, compared by median.
    TUNE_BLOCKS, TUNE_RUNS = 5, 3
    #: One thread per core is kept only when its median step is at least this much faster.
    TUNE_MARGIN = 0.9

    def _choose_threads(self, plan: StepPlan, k: int):
        """Keeps whichever session runs ``plan``'s step faster: one per core or one thread.

        Small steps (an MLP) spend a good part of each op in the thread pool's hand-offs, and on a
        shared machine a second busy thread can halve the speed, so this is measured, not assumed:
        blocks of steps alternate between the two sessions and their medians are compared
        (``prefer_one_thread``); a best-of-few comparison favoured the spinning thread pool, whose
        fastest step is fast but whose typical one is not. The trial runs write only the scratch
        state set, so the state is unchanged; both sessions run the step equally often, so a seeded
        Dropout draws the same masks afterwards whichever wins. Returns binding ``k`` of the kept
        session.
        """
        import time

        self._tune_threads = False
        cur = self._bindings[k]

        def block(session, binding, n):
            t0 = time.perf_counter()
            for _ in range(n):
                session.run_with_iobinding(binding)
            return (time.perf_counter() - t0) / n

        if block(self.session, cur, 1) > self.TUNE_BELOW:
            return cur
        one = self._new_session(1)
        alt = self._make_binding(k, one)
        for name, v in plan._feed_values.items():
            alt.bind_ortvalue_input(name, v)
        for name, v in zip(self.fetches, plan._fetch_values):
            alt.bind_ortvalue_output(name, v)
        one.run_with_iobinding(alt)  # warm-up: first-run allocations
        t_default, t_one = [], []
        for r in range(self.TUNE_BLOCKS):
            if r % 2 == 0:
                t_default.append(block(self.session, cur, self.TUNE_RUNS))
                t_one.append(block(one, alt, self.TUNE_RUNS))
            else:
                t_one.append(block(one, alt, self.TUNE_RUNS))
                t_default.append(block(self.session, cur, self.TUNE_RUNS))
        if prefer_one_thread(t_default, t_one, self.TUNE_MARGIN):
            self.session, self.threads = one, 1
            self._bindings = [None, None]
            self._bindings[k] = alt
            self._bindings[1 - k] = self._make_binding(1 - k)
            self._bound_sig = [None, None]
            self._bound_sig[k] = plan
        return self._bindings[k]

    def rollback(self) -> None:
        """Undoes the last step: the set it read from still holds the state before it."""
        if self.steps == 0:
            raise RuntimeError("TrainStepExecutor.rollback: no step to undo")
        self._current = 1 - self._current
        self.steps -= 1

    def read_state(self, names=None) -> dict[str, np.ndarray]:
        """Host copies of the latest state (all state and read-only inputs by default)."""
        cur = self._sets[self._current]
        names = list(names) if names is not None else [n for n, _ in self.state_pairs] + self.readonly
        out = {}
        for n in names:
            v = cur.get(n, self._readonly_values.get(n))
            out[n] = np.array(v.numpy())  # a copy: the buffer is overwritten by later steps
        return out

    def write_state(self, values: dict) -> None:
        """Replaces state or read-only inputs with host arrays (after the user assigned weights)."""
        for name, a in values.items():
            a = np.asarray(a)
            if name in self._readonly_values:
                self._readonly_values[name] = self._ortvalue(a, ("ro", name))
            elif name in self._sets[self._current]:
                self._sets[self._current][name] = self._ortvalue(a, (self._current, name))
            else:
                raise KeyError(f"TrainStepExecutor: {name!r} is not a state input")
        self._bindings = [self._make_binding(k) for k in (0, 1)]
        self._bound_sig = [None, None]
