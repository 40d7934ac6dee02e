"""GradientTape: custom training loops on NumPy data, as in Keras/TensorFlow.

    with graphc.GradientTape() as tape:
        preds = model(x, training=True)
        loss = loss_fn(y, preds)
    grads = tape.gradient(loss, model.trainable_variables)   # NumPy arrays
    optimizer.apply_gradients(zip(grads, model.trainable_variables))

While a tape is active, calls of models, layers and losses on NumPy arrays (or on values the tape
returned) are *recorded*, not run: each returns ``TapeTensor`` handles. The recorded calls form a
program; ``gradient`` traces it into one IR graph (a graph Input per array; arrays that share the
batch axis with the model inputs get the symbolic batch dimension, see ``_batched``), appends the
backward pass (``passes.autodiff``) and runs it in onnxruntime. The compiled graph is cached by
the program's signature (which objects were called, on which input dtypes and shapes, and what is
differentiated), so the next step with the same shapes costs one session run, not a rebuild. The
signature is a chain with one cache entry per call: recording a call looks up (program so far,
this call) in O(1), and an uncached call is traced once onto the graph of the calls before it, so
a first step of n calls costs O(n) tracing. A TapeTensor used as a number (``float(loss)``,
printing, ``np.asarray``) is computed on demand (from the gradient run when there was one).

Gradients with respect to inputs: ``tape.watch(x)`` marks an array (by identity, as in TF); every
recorded use of that very object is a graph Input, and its gradient is the sum of theirs. Recorded
values (``features = extractor(x)``) are Values of the traced graph, so they can be sources too.
Which inputs and values are differentiated is part of the compiled program's cache key.
"""
from __future__ import annotations

import itertools
import warnings
import weakref
from collections import OrderedDict

import numpy as np

from graphc import tree
from graphc.ir import Graph, TensorType, Value, Variable, is_float
from graphc.losses import Loss

from .recording import TapeTensor, ValueOp, _active

#: (program id of the calls before, signature of one call) -> {"id", "ref", "weights", "types",
#: "structure"}: one entry per recorded call, so a program of n calls is a chain of n entries found
#: in O(1) each, and a step whose every call hits costs no tracing
_PROGRAMS: OrderedDict = OrderedDict()
#: (program id, what) -> compiled Executable with its output layout
_EXECUTABLES: OrderedDict = OrderedDict()
_PROGRAM_LIMIT = 4096      # recorded calls (small entries); least recently used first out
_CACHE_LIMIT = 64          # compiled executables
_program_ids = itertools.count(1)   # 0 is the empty program
#: counters for tests and benchmarks: executables built, recorded calls traced
STATS = {"compiled": 0, "traced_calls": 0}


def _weights_of(obj) -> tuple:
    """The variables a called object owns: a layer added to or popped from a model changes them."""
    from graphc.layers.layer import Layer

    return tuple(v.uid for v in obj.weights) if isinstance(obj, Layer) else ()


def _value_key(obj):
    """The key of a recorded call's object that stands for a value (recorded arithmetic and indexing,
    built-in losses), so that equal ones share programs; None for objects matched by identity."""
    if isinstance(obj, ValueOp):
        return obj.record_key
    return obj.record_key() if isinstance(obj, Loss) else None


def _event_key(obj):
    """A recorded call's object in program signatures: by value when it has one, else by identity."""
    key = _value_key(obj)
    return (type(obj), key) if key is not None else id(obj)


def _reference(obj):
    """What a cache entry keeps of an object matched by identity: a weak reference, so the caches
    keep no model alive, and an id reused by another object after the first died does not match."""
    try:
        return weakref.ref(obj)
    except TypeError:  # not weakly referenceable: hold it
        return lambda: obj


def _put(cache: OrderedDict, key, entry, limit: int) -> None:
    cache[key] = entry
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)


def _leaf_sig(x, tape, batched):
    """``batched`` says, for an array, whether its first axis is the symbolic batch axis."""
    if isinstance(x, TapeTensor):
        if x.tape is not tape:
            raise ValueError("a value recorded on one GradientTape was used on another")
        return ("t", x.index)
    if isinstance(x, (np.ndarray, np.generic)):
        dtype = "float32" if x.dtype == np.float64 else x.dtype.name  # as _as_array computes it, without a copy
        return ("a", dtype, "batch" if batched else None) + x.shape[1 if batched else 0:]
    if isinstance(x, (int, float, bool, str, type(None))):
        return ("c", repr(x))
    if isinstance(x, Variable):
        return ("v", x.uid)
    raise TypeError(f"GradientTape: cannot record an argument of type {type(x).__name__}")


_SYMBOLS = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/"}


def _check_broadcast(op, shapes) -> None:
    """Recorded arithmetic on operands NumPy could not broadcast fails here, not in onnxruntime."""
    if len(shapes) != 2 or not all(isinstance(d, int) for s in shapes for d in s):
        return
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        a, b = shapes
        raise ValueError(f"GradientTape: cannot record a {_SYMBOLS.get(getattr(op, 'op', ''), 'op')} b: a has shape "
                         f"{a} and b has shape {b}, which do not broadcast (NumPy rules, axes lined up from the "
                         "last). Reshape the array to line up with the recorded value's axes, e.g. w[:, None] for "
                         "a per-sample weight against a (batch, classes) value") from None


def _is_float_array(x) -> bool:
    return np.issubdtype(np.asarray(x).dtype, np.floating)


def _as_array(x) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    return a


class GradientTape:
    """Records model, layer and loss calls on NumPy data so their gradients can be taken.

    Gradients are taken with respect to Variables (always watched), to input arrays the tape was
    told to ``watch``, and to values the tape recorded. A saliency map::

        images = x_test[:8]                           # one array object, sliced once
        with graphc.GradientTape() as tape:
            tape.watch(images)
            preds = model(images)
            score = preds[:, 3]                       # indexing is recorded too
        saliency = np.abs(tape.gradient(score, images)).max(axis=-1)

    Inputs and weights can be mixed in one call: ``tape.gradient(loss, [images,
    *model.trainable_variables])`` returns a list in that order.

    Args:
        persistent: allow several ``gradient`` calls on one tape.
        watch_accessed_variables: kept for API compatibility; every Variable a recorded call reads
            can be differentiated.
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True):
        self.persistent = persistent
        self._events: list = []        # (obj, args, kwargs, batched flag per array argument)
        self._program = 0              # id of the cached program the recorded calls form (0: none yet)
        self._types: list = []          # TensorType per recorded output
        self._live = None               # the recorded calls traced so far (see _trace_last), or None
        self._values: dict = {}         # output index -> array, once computed
        self._used = False
        self._tracing = False
        self._state_applied = False
        self._batch = None             # the size of the symbolic batch dim, from the first array
        self._watched: list = []        # arrays passed to watch(), matched by identity
        self._token = None

    def __enter__(self) -> "GradientTape":
        self._token = _active.set(_active.get() + (self,))
        return self

    def __exit__(self, *exc) -> None:
        _active.reset(self._token)
        self._token = None

    def watch(self, x) -> None:
        """Marks NumPy arrays so that ``gradient`` can differentiate with respect to them.

        ``x`` is an array or a (nested) list, tuple or dict of them. Arrays are matched by identity
        (``is``), as tensors are in TensorFlow: pass the very object you watched to the model and to
        ``gradient``. ``x.astype(...)``, ``x[:8]`` or ``np.array(x)`` make new arrays, so slice or
        convert first and watch the result. float64 arrays are computed in float32 and their
        gradients returned as float64. Variables are always watched, and values the tape recorded
        can always be differentiated, so watching them does nothing. Integer arrays (token ids)
        have no gradient: watching one warns, and asking for its gradient raises.
        """
        for leaf in tree.flatten(x):
            if isinstance(leaf, Variable):
                continue
            if isinstance(leaf, TapeTensor):
                if leaf.tape is not self:
                    raise ValueError("GradientTape.watch: this value was recorded on another GradientTape")
                continue
            if not isinstance(leaf, (np.ndarray, np.generic)):
                raise TypeError(f"GradientTape.watch: expected a NumPy array (or a Variable), received "
                                f"{type(leaf).__name__}; convert it once with x = np.asarray(x, 'float32'), "
                                "then watch x and pass that same x to the model")
            if not _is_float_array(leaf):
                warnings.warn(f"GradientTape.watch: an array of dtype {leaf.dtype} is not differentiable (only float "
                              "arrays are); to differentiate through an Embedding, take the gradient with respect "
                              "to the embedding's output recorded on the tape instead of its token ids", stacklevel=2)
            if not any(w is leaf for w in self._watched):
                self._watched.append(leaf)

    def reset(self) -> None:
        """Forgets everything recorded so far."""
        self._events, self._types, self._values = [], [], {}
        self._program, self._live = 0, None
        self._used = False
        self._state_applied = False
        self._batch = None
        self._watched = []

    # -- recording --------------------------------------------------------------------------------
    def _batched(self, obj, leaves) -> list:
        """Per leaf, whether it is an array whose first axis is the batch axis of the model inputs.

        Arguments of models, layers and losses (inputs, labels, sample weights) are batched when
        their first axis has the batch size; an operand of recorded arithmetic only when NumPy
        broadcasting lines its first axis up with a batch axis of the recorded operand. Other
        arrays (a class-weight vector, a fixed mask, a scalar) keep their shape, so they are typed,
        indexed and cached by their own sizes.
        """
        is_array = [isinstance(x, (np.ndarray, np.generic)) and np.ndim(x) > 0 for x in leaves]
        if not isinstance(obj, ValueOp):
            if self._batch is None and any(is_array):
                self._batch = int(np.shape(leaves[is_array.index(True)])[0])
            return [ok and np.shape(x)[0] == self._batch for ok, x in zip(is_array, leaves)]
        types = [tuple(x.type.shape) for x in leaves if isinstance(x, TapeTensor)]
        _check_broadcast(obj, [tuple(self._batch if d == "batch" else d for d in x.type.shape)
                               if isinstance(x, TapeTensor) else np.shape(x) for x in leaves])
        # counted from the last axis, as broadcasting lines axes up
        batch_axes = {len(t) - k for t in types for k, d in enumerate(t) if d == "batch"}
        return [ok and np.shape(x)[0] == self._batch and np.ndim(x) in batch_axes
                for ok, x in zip(is_array, leaves)]

    def _record(self, obj, args, kwargs):
        structure = tree.map_structure(lambda _: 0, (args, kwargs))
        leaves = tree.flatten((args, kwargs))
        batched = self._batched(obj, leaves)
        sig = (_event_key(obj), repr(structure), tuple(_leaf_sig(x, self, f) for x, f in zip(leaves, batched)))
        flags = tuple(f for x, f in zip(leaves, batched) if isinstance(x, (np.ndarray, np.generic)))
        key = (self._program, sig)
        info = _PROGRAMS.get(key)
        # the calls before were checked when their entries were found: only this one is left to check
        if (info is not None and (info["ref"] is None or info["ref"]() is obj)
                and info["weights"] == _weights_of(obj)):
            _PROGRAMS.move_to_end(key)
            self._events.append((obj, args, kwargs, flags))
        else:
            self._events.append((obj, args, kwargs, flags))
            try:
                types, out_structure = self._trace_last()
            except Exception:
                self._events.pop()
                raise
            # one known by value is matched by its key alone: the cache keeps nothing of it
            info = {"id": next(_program_ids), "ref": None if isinstance(sig[0], tuple) else _reference(obj),
                    "weights": _weights_of(obj),
                    "types": types, "structure": out_structure}
            _put(_PROGRAMS, key, info, _PROGRAM_LIMIT)
        self._program = info["id"]
        start = len(self._types)
        self._types.extend(info["types"])
        handles = [TapeTensor(self, start + i, t) for i, t in enumerate(info["types"])]
        return tree.pack_sequence_as(info["structure"], handles)

    def _trace_last(self) -> tuple:
        """Traces the last recorded call onto the graph of the calls before it, kept between calls.

        Each call is traced once while recording (that graph is rebuilt only after ``gradient`` or a
        value took it, or a call failed), so recording n uncached calls costs O(n) tracing, not the
        O(n^2) of re-tracing the whole prefix per call. Returns (TensorType per output, structure).
        """
        live = self._live
        if live is None or live["n"] != len(self._events) - 1:
            live = self._live = self._new_trace()
            self._trace_events(live, self._events[:-1])
        try:
            n_before = len(live["env"])
            structure = self._trace_events(live, self._events[-1:])
        except Exception:
            self._live = None  # the failed call may have left nodes behind
            raise
        return [live["env"][i].type for i in range(n_before, len(live["env"]))], structure

    @staticmethod
    def _new_trace() -> dict:
        from graphc.ops import Builder

        g = Graph("gradient_tape")
        return {"g": g, "b": Builder(g), "env": {}, "inputs": [], "n": 0}

    def _trace_events(self, live: dict, events) -> object:
        """Traces ``events`` onto ``live`` (graph, builder, {output index: Value}, Input per array).

        Returns the output structure of the last event.
        """
        from graphc.layers.layer import Layer

        b, env, inputs = live["b"], live["env"], live["inputs"]
        structure = None

        def to_value(x, flags):
            if isinstance(x, TapeTensor):
                return env[x.index]
            if isinstance(x, (np.ndarray, np.generic)):
                a = _as_array(x)
                shape = ("batch",) + a.shape[1:] if next(flags) else a.shape
                inputs.append(b.input(f"array_{len(inputs)}", TensorType(a.dtype.name, shape)))
                return inputs[-1]
            return x

        self._tracing = True
        try:
            for obj, args, kwargs, flags in events:
                flags = iter(flags)
                vargs, vkwargs = tree.map_structure(lambda x: to_value(x, flags), (args, kwargs))
                vkwargs = dict(vkwargs)
                training = vkwargs.get("training")
                if isinstance(obj, Layer) and not obj._accepts("training"):
                    vkwargs.pop("training", None)
                b.training = bool(training)
                with b.activate():
                    out = obj(*vargs, **vkwargs)
                structure = tree.map_structure(lambda _: 0, out)
                for v in tree.flatten(out):
                    if not isinstance(v, Value):
                        raise TypeError(f"GradientTape: {obj!r} returned {v!r}, not a tensor")
                    env[len(env)] = v
                live["n"] += 1
                STATS["traced_calls"] += 1
        finally:
            self._tracing = False
        return structure

    def _trace(self):
        """All recorded calls traced into one graph that the caller may extend (gradients, outputs).

        Returns (graph, builder, {output index: Value}, [Input Value per array argument, in feed order]).
        The graph recording built is handed over when it holds every call: it is not used again.
        """
        live, self._live = self._live, None
        if live is None or live["n"] != len(self._events):
            live = self._new_trace()
            self._trace_events(live, self._events)
        return live["g"], live["b"], live["env"], live["inputs"]

    def _arrays(self) -> list:
        """The array arguments of the recorded calls as given (not converted), in feed order."""
        return [x for _, args, kwargs, _ in self._events for x in tree.flatten((args, kwargs))
                if isinstance(x, (np.ndarray, np.generic))]

    def _feeds(self) -> dict:
        return {f"array_{k}": _as_array(x) for k, x in enumerate(self._arrays())}

    # -- running ----------------------------------------------------------------------------------
    def _compile(self, what, build):
        key = (self._program, what)
        entry = _EXECUTABLES.get(key)
        if entry is None:
            entry = build()
            STATS["compiled"] += 1
            _put(_EXECUTABLES, key, entry, _CACHE_LIMIT)
        else:
            _EXECUTABLES.move_to_end(key)
        return entry

    def _run(self, entry) -> list:
        outs = entry["exe"].run(self._feeds())
        n = len(self._types)
        for i in range(n):
            self._values[i] = outs[i]
        if entry["state"] and not self._state_applied:
            self._state_applied = True
            for var, k in entry["state"]:
                var.assign(outs[k])
        return outs

    def _value_of(self, t: TapeTensor) -> np.ndarray:
        if t.index not in self._values:
            def build():
                from passes import optimize
                from runtime import Executable

                g, b, env, _ = self._trace()
                outs = [env[i] for i in range(len(env))]
                names = [f"value_{i}" for i in range(len(env))]
                state = []
                for var, v in b.state_updates:
                    state.append((var, len(outs)))
                    outs.append(v)
                    names.append(f"state_{len(state)}")
                g.set_outputs(outs, names)
                return {"exe": Executable(optimize(g, level=1)), "state": state}

            self._run(self._compile("forward", build))
        return self._values[t.index]

    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """d(target)/d(sources) as NumPy arrays, in the structure of ``sources``.

        Args:
            target: a value recorded on this tape (a non-scalar target is summed first, as in
                TensorFlow).
            sources: a Variable, a watched array, a value recorded on this tape, or a (nested) list,
                tuple or dict of them, mixed freely. Each gradient has its source's shape (the batch
                size of the arrays recorded) and dtype.
            unconnected_gradients: ``"none"`` (default) gives None for a source the target does not
                depend on, ``"zero"`` zeros. An array that was not watched counts as unconnected
                (with a warning when the recorded calls used it).

        Raises:
            TypeError: for an integer source (token ids have no gradient) or a source of another
                type.
        """
        if output_gradients is not None:
            raise NotImplementedError("GradientTape.gradient: output_gradients is not supported")
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError(f'GradientTape.gradient: unconnected_gradients must be "none" or "zero", '
                             f"received {unconnected_gradients!r}")
        if not isinstance(target, TapeTensor) or target.tape is not self:
            hint = (" A NumPy array is not recorded: index recorded values with ints and slices (preds[:, k]) "
                    "inside the tape, and use their arithmetic, not NumPy functions." if isinstance(target, np.ndarray)
                    else "")
            raise TypeError("GradientTape.gradient: target must be a value computed under this tape (e.g. the loss "
                            f"returned by loss_fn(y, model(x))), received {type(target).__name__}.{hint}")
        if self._used and not self.persistent:
            raise RuntimeError("A non-persistent GradientTape can only be used to compute one set of gradients; "
                               "create it with GradientTape(persistent=True) for several")
        flat = tree.flatten(sources)
        arrays = self._arrays()
        wrt = [self._source(k, v, arrays) for k, v in enumerate(flat)]
        self._used = True
        if any(t is not self for t in _active.get()):
            warnings.warn("GradientTape.gradient: called while another GradientTape is recording. Gradients are "
                          "NumPy arrays, which the outer tape takes as constants: anything computed from them adds "
                          "nothing to the outer tape's gradients, so second-order gradients (gradient penalties, "
                          "Hessian-vector products) are not supported. Call gradient outside the outer tape; for a "
                          "Hessian-vector product along v, take central differences of first-order gradients, "
                          "(g(w + eps * v) - g(w - eps * v)) / (2 * eps), assigning the shifted weights between "
                          "two tapes; for a gradient penalty in the loss, use Keras on the JAX or TensorFlow "
                          "backend", stacklevel=2)

        def build():
            from graphc import ops
            from passes import optimize
            from passes.autodiff import gradients
            from runtime import Executable
            from runtime.providers import nchwc_block_for

            g, b, env, inputs = self._trace()
            loss = env[target.index]
            if loss.type.rank != 0:
                with b.activate():
                    loss = ops.reduce_sum(loss, keepdims=False)
            present = {n.attrs["variable"].uid: n.output for n in g.params()}
            values = []   # per source: the graph values whose gradients sum to its gradient
            for kind, ref in wrt:
                if kind == "variable":
                    values.append([present[ref]] if ref in present else [])
                elif kind == "recorded":
                    values.append([env[ref]])
                else:
                    values.append([inputs[k] for k in ref])
            all_values = [v for vs in values for v in vs]
            grads = iter(gradients(g, loss, all_values, builder=b) if all_values else [])
            outs = [env[i] for i in range(len(env))]
            names = [f"value_{i}" for i in range(len(env))]
            layout = []
            for vs in values:
                parts = [gr for gr in (next(grads) for _ in vs) if gr is not None]
                if not parts:
                    layout.append(None)
                    continue
                with b.activate():
                    total = parts[0]
                    for p in parts[1:]:  # an array passed to several calls: one graph input per use
                        total = ops.add(total, p)
                layout.append(len(outs))
                outs.append(total)
                names.append(f"grad_{len(layout) - 1}")
            state = []
            for var, val in b.state_updates:
                state.append((var, len(outs)))
                outs.append(val)
                names.append(f"state_{len(state)}")
            g.set_outputs(outs, names)
            graph = optimize(g, level=1, target="onnxruntime", nchwc_block=nchwc_block_for("cpu"))
            return {"exe": Executable(graph), "state": state, "layout": layout}

        entry = self._compile(("gradient", target.index, tuple(wrt)), build)
        outs = self._run(entry)
        result = []
        for v, k in zip(flat, entry["layout"]):
            dtype = v.dtype if isinstance(v, (Variable, TapeTensor)) else np.asarray(v).dtype
            if k is None:
                result.append(np.zeros(v.shape, dtype) if unconnected_gradients == "zero" else None)
            else:
                result.append(np.asarray(outs[k]).astype(dtype, copy=False))
        return tree.pack_sequence_as(sources, result) if isinstance(sources, (list, tuple, dict)) else result[0]

    def _source(self, k: int, v, arrays: list) -> tuple:
        """What ``gradient`` differentiates for source ``v`` (flat position ``k``), as a cache-key part.

        ("variable", uid), ("recorded", output index), or ("arrays", positions among the array
        arguments of the recorded calls that are ``v`` itself; empty when ``v`` is not watched).
        """
        if isinstance(v, Variable):
            return ("variable", v.uid)
        if isinstance(v, TapeTensor):
            if v.tape is not self:
                raise ValueError(f"GradientTape.gradient: sources[{k}] was recorded on another GradientTape")
            if not is_float(v.dtype):
                raise TypeError(f"GradientTape.gradient: sources[{k}] is a recorded {v.dtype} value, which has no "
                                "gradient; only float values are differentiable")
            return ("recorded", v.index)
        if isinstance(v, (np.ndarray, np.generic)):
            if not _is_float_array(v):
                raise TypeError(f"GradientTape.gradient: sources[{k}] is an array of dtype {v.dtype}, which has no "
                                "gradient (integer inputs such as token ids are not differentiable); take the "
                                "gradient with respect to a float value recorded from it instead, e.g. the output "
                                "of the Embedding layer")
            positions = tuple(i for i, a in enumerate(arrays) if a is v)
            if not any(w is v for w in self._watched):
                if positions:
                    warnings.warn(f"GradientTape.gradient: sources[{k}] is an array the tape recorded but was not "
                                  "watched, so its gradient is None; call tape.watch(x) inside the tape", stacklevel=3)
                return ("arrays", ())
            return ("arrays", positions)
        raise TypeError(f"GradientTape.gradient: sources must be Variables, watched NumPy arrays or values recorded "
                        f"on this tape, received {type(v).__name__} at sources[{k}]")
