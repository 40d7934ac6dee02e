"""onnxruntime-training on-device artifacts, written from graphc's own gradient graph.

``export_training_artifacts(model, directory)`` writes the four files that
``onnxruntime.training.api`` (``CheckpointState``, ``Module``, ``Optimizer``) loads, in the layout
``onnxruntime.training.artifacts.generate_artifacts`` produces (see ONNX_TRAINING_NOTES.md §4):

``training_model.onnx``
    Inputs: the model's inputs, the targets (one per output with a loss, named after the output),
    ``sample_weight/<output>`` (float32 ``[batch]``; feed ones), every parameter the step reads
    (named by variable path, e.g. ``dense/kernel``), then one ``<param>_grad.accumulation.buffer``
    per trainable parameter, then ``lazy_reset_grad`` (bool ``[1]``). Outputs: ``loss``, then one
    ``<param>_grad.accumulation.out`` (bool ``[1]``) per trainable parameter. Forward, loss and
    backward are graphc's (standard ONNX ops only, from ``passes.autodiff``); the single
    training-build op is ``com.microsoft.InPlaceAccumulatorV2(buffer, grad, lazy_reset_grad)`` per
    parameter, which adds the gradient into the buffer in place (or overwrites it after a reset).
``eval_model.onnx``
    The forward pass in inference mode and the loss: same user inputs and parameters, output ``loss``.
``optimizer_model.onnx``
    One ``com.microsoft.AdamWOptimizer`` (graphc Adam/AdamW) or ``com.microsoft.SGDOptimizerV2``
    (graphc SGD without momentum) node with sequence inputs, as onnxblock builds it.
``checkpoint``
    A flatbuffer (file identifier ``ODTC``, schema ``ort_training_checkpoint.fbs``, version 2)
    written with ``flatbuffers.Builder`` and the generated classes that ship in the stock
    onnxruntime wheel: trainable parameters as ``requires_grad_params``, the other weights as
    ``frozen_params``, an empty property bag, no optimizer groups (onnxruntime creates the moments
    lazily, so graphc's optimizer state is not carried over).

All ONNX files use IR version 9 (at most 10) and opset 17 (at most 21), which onnxruntime-training
1.19.2 accepts. Layers whose training-mode state updates (BatchNormalization moving statistics)
have no place in this format train their trainable weights only.

This module builds ``ModelProto`` objects itself: the artifacts format is an export target of its
own (contrib ops, sequence inputs, a flatbuffer), outside the IR -> ONNX lowering of ``graphc.onnx``.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper

from graphc.onnx import to_onnx

GRAD_BUFFER_SUFFIX = "_grad.accumulation.buffer"
GRAD_OUT_SUFFIX = "_grad.accumulation.out"
LAZY_RESET_GRAD = "lazy_reset_grad"
CHECKPOINT_VERSION = 2
MAX_OPSET = 21
MAX_IR_VERSION = 10
TRAINING_DOMAIN = "com.microsoft"

_FBS_DTYPES = {"float32": 1, "uint8": 2, "int8": 3, "uint16": 4, "int16": 5, "int32": 6, "int64": 7, "bool": 9,
               "float16": 10, "float64": 11, "uint32": 12, "uint64": 13}


def _fbs():
    """The checkpoint's generated flatbuffer classes, as shipped in the stock onnxruntime wheel."""
    import onnxruntime.tools.ort_format_model  # noqa: F401  (puts ort_flatbuffers_py on sys.path)
    from ort_flatbuffers_py.fbs import Checkpoint, ModuleState, PropertyBag, Tensor

    return Checkpoint, ModuleState, PropertyBag, Tensor


# -- the training and eval graphs ---------------------------------------------------------------------
def _param_names(graph, proto, n_user: int) -> list[tuple[str, object]]:
    params = [n.attrs["variable"] for n in graph.params()]
    inputs = [i.name for i in proto.graph.input[n_user:]]
    return list(zip(inputs, params))


def _check_unique_paths(model) -> None:
    paths = [w.path for w in model.weights]
    dup = sorted({p for p in paths if paths.count(p) > 1})
    if dup:
        raise NotImplementedError(f"export_training_artifacts: variable paths {dup} are not unique; the artifacts "
                                  "name parameters by path, so give the layers distinct names")


def gradient_graph(model, opset: int = 17, ir_version: int = 9):
    """The forward + loss + backward graph with the gradients as plain outputs (runs on stock onnxruntime).

    Returns:
        ``(proto, user_inputs, params, trainable)``: the ModelProto whose outputs are ``loss`` then
        ``<param>_grad`` per trainable parameter; the user input names; ``[(onnx name, Variable)]``
        for every parameter input; the ONNX names of the trainable parameters.
    """
    from passes import optimize
    from passes.autodiff import gradients

    g, b, total, _ = model._trace_with_loss(True)
    used = {n.attrs["variable"].uid for n in g.params()}
    trainable = [v for v in model.trainable_weights if v.uid in used and v.dtype in ("float32", "float64", "float16")]
    params = [b.param(v) for v in trainable]
    grads = gradients(g, total, params, builder=b)
    with b.activate():
        grads = [gv if gv is not None else b.constant(np.zeros(v.shape, v.dtype), dtype=v.dtype)
                 for v, gv in zip(trainable, grads)]
    g.set_outputs([total] + grads, ["loss"] + [f"{v.path}_grad" for v in trainable])
    g = optimize(g, level=1)
    n_user = len(g.inputs)
    proto = to_onnx(g, opset=opset, ir_version=ir_version, params_as_inputs=True)
    names = _param_names(g, proto, n_user)
    by_uid = {var.uid: name for name, var in names}
    trainable_names = [by_uid[v.uid] for v in trainable if v.uid in by_uid]
    user_inputs = [i.name for i in proto.graph.input[:n_user]]
    return proto, user_inputs, names, trainable_names


def _training_model(model, opset: int, ir_version: int):
    proto, user_inputs, params, trainable = gradient_graph(model, opset, ir_version)
    graph = proto.graph
    outputs = {o.name: o for o in graph.output}
    loss_out = outputs["loss"]
    inputs = {i.name: i for i in graph.input}
    new_inputs, new_outputs, nodes = [], [helper.make_tensor_value_info("loss", loss_out.type.tensor_type.elem_type,
                                                                        [])], []
    for pname in trainable:
        grad_out = outputs[f"{pname}_grad"]
        p = inputs[pname].type.tensor_type
        dims = [d.dim_value for d in p.shape.dim]
        buffer = pname + GRAD_BUFFER_SUFFIX
        new_inputs.append(helper.make_tensor_value_info(buffer, p.elem_type, dims))
        flag = pname + GRAD_OUT_SUFFIX
        nodes.append(helper.make_node("InPlaceAccumulatorV2", [buffer, grad_out.name, LAZY_RESET_GRAD], [flag],
                                      name=f"grad/accumulate/{pname}", domain=TRAINING_DOMAIN))
        new_outputs.append(helper.make_tensor_value_info(flag, TensorProto.BOOL, [1]))
    new_inputs.append(helper.make_tensor_value_info(LAZY_RESET_GRAD, TensorProto.BOOL, [1]))
    graph.input.extend(new_inputs)
    graph.node.extend(nodes)
    del graph.output[:]
    graph.output.extend(new_outputs)
    proto.opset_import.append(helper.make_opsetid(TRAINING_DOMAIN, 1))
    proto.ir_version = ir_version
    return proto, user_inputs, params, trainable


def _eval_model(model, opset: int, ir_version: int):
    from passes import optimize

    g, _, total, _ = model._trace_with_loss(False)
    g.set_outputs([total], ["loss"])
    g = optimize(g, level=1)
    proto = to_onnx(g, opset=opset, ir_version=ir_version, params_as_inputs=True)
    return proto


# -- the optimizer graph ------------------------------------------------------------------------------
def _optimizer_model(optimizer, dtype: int, ir_version: int, opset: int):
    kind = type(optimizer).__name__
    seq = lambda name: helper.make_tensor_sequence_value_info(name, dtype, None)  # noqa: E731
    lr = helper.make_tensor_value_info("learning_rate", TensorProto.FLOAT, [1])
    if kind in ("Adam", "AdamW"):
        if getattr(optimizer, "amsgrad", False):
            raise NotImplementedError("export_training_artifacts: onnxruntime-training's AdamW has no amsgrad; "
                                      "use Adam(amsgrad=False)")
        node = helper.make_node(
            "AdamWOptimizer", ["learning_rate", "step", "params", "gradients", "first_order_moments",
                               "second_order_moments"], ["updated_flag"], name="AdamWOptimizer",
            domain=TRAINING_DOMAIN, alpha=float(optimizer.beta_1), beta=float(optimizer.beta_2),
            epsilon=float(optimizer.epsilon), weight_decay=float(optimizer.weight_decay or 0.0),
            adam_mode=1,  # Keras' rule: lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
            correct_bias=1)
        inputs = [lr, helper.make_tensor_value_info("step", TensorProto.INT64, [1]), seq("params"), seq("gradients"),
                  seq("first_order_moments"), seq("second_order_moments")]
        outputs = [helper.make_tensor_value_info("updated_flag", TensorProto.BOOL, [1])]
    elif kind == "SGD" and not getattr(optimizer, "momentum", 0.0):
        node = helper.make_node("SGDOptimizerV2", ["learning_rate", "params", "gradients"], ["update_completed"],
                                name="SGDOptimizerV2", domain=TRAINING_DOMAIN)
        # onnxruntime-training checks the graph inputs against this list for SGD too (step and the
        # moments are unused by the node), as generate_artifacts writes them
        inputs = [lr, helper.make_tensor_value_info("step", TensorProto.INT64, [1]), seq("params"), seq("gradients"),
                  seq("first_order_moments")]
        outputs = [helper.make_tensor_value_info("update_completed", TensorProto.BOOL, [1])]
    else:
        raise NotImplementedError(f"export_training_artifacts: onnxruntime-training has optimizers AdamW and SGD "
                                  f"(without momentum); the model is compiled with {kind}. Compile with "
                                  "optimizer='adam', 'adamw' or SGD() to export artifacts.")
    graph = helper.make_graph([node], "optimizer", inputs, outputs)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                   helper.make_opsetid(TRAINING_DOMAIN, 1)],
                              producer_name="graphc")
    proto.ir_version = ir_version
    return proto


# -- the checkpoint -----------------------------------------------------------------------------------
def _fbs_tensor(builder, Tensor, name: str, array: np.ndarray) -> int:
    array = np.asarray(array)
    if array.dtype.name not in _FBS_DTYPES:
        raise TypeError(f"checkpoint: cannot store {name} of dtype {array.dtype}")
    name_off = builder.CreateString(name)
    dims_off = builder.CreateNumpyVector(np.asarray(array.shape, dtype=np.int64))
    raw_off = builder.CreateNumpyVector(np.frombuffer(np.ascontiguousarray(array).astype(
        array.dtype.newbyteorder("<"), copy=False).tobytes(), dtype=np.uint8))
    Tensor.TensorStart(builder)
    Tensor.TensorAddName(builder, name_off)
    Tensor.TensorAddDims(builder, dims_off)
    Tensor.TensorAddDataType(builder, _FBS_DTYPES[array.dtype.name])
    Tensor.TensorAddRawData(builder, raw_off)
    return Tensor.TensorEnd(builder)


def checkpoint_bytes(trainable: list[tuple[str, np.ndarray]], frozen: list[tuple[str, np.ndarray]]) -> bytes:
    """An onnxruntime-training checkpoint holding the given parameters."""
    import flatbuffers

    Checkpoint, ModuleState, PropertyBag, Tensor = _fbs()
    builder = flatbuffers.Builder(1024)

    def vector(items, start):
        offs = [_fbs_tensor(builder, Tensor, n, a) for n, a in items]
        start(builder, len(offs))
        for off in reversed(offs):
            builder.PrependUOffsetTRelative(off)
        return builder.EndVector()

    req = vector(trainable, ModuleState.ModuleStateStartRequiresGradParamsVector)
    frz = vector(frozen, ModuleState.ModuleStateStartFrozenParamsVector)
    ModuleState.ModuleStateStart(builder)
    ModuleState.ModuleStateAddRequiresGradParams(builder, req)
    ModuleState.ModuleStateAddFrozenParams(builder, frz)
    ModuleState.ModuleStateAddIsNominalState(builder, False)
    ModuleState.ModuleStateAddHasExternalData(builder, False)
    module_state = ModuleState.ModuleStateEnd(builder)
    PropertyBag.PropertyBagStart(builder)
    bag = PropertyBag.PropertyBagEnd(builder)
    Checkpoint.CheckpointStart(builder)
    Checkpoint.CheckpointAddVersion(builder, CHECKPOINT_VERSION)
    Checkpoint.CheckpointAddModuleState(builder, module_state)
    Checkpoint.CheckpointAddPropertyBag(builder, bag)
    root = Checkpoint.CheckpointEnd(builder)
    builder.Finish(root, file_identifier=b"ODTC")
    return bytes(builder.Output())


def read_checkpoint(path) -> dict:
    """``{"version", "requires_grad": {name: array}, "frozen": {name: array}}`` read with the wheel's classes."""
    Checkpoint, _, _, _ = _fbs()
    with open(path, "rb") as f:
        buf = bytearray(f.read())
    if not Checkpoint.Checkpoint.CheckpointBufferHasIdentifier(buf, 0):
        raise ValueError(f"{path}: not an onnxruntime-training checkpoint (file identifier is not ODTC)")
    ckpt = Checkpoint.Checkpoint.GetRootAs(buf, 0)
    state = ckpt.ModuleState()
    inverse = {v: k for k, v in _FBS_DTYPES.items()}

    def tensors(n, get):
        out = {}
        for i in range(n):
            t = get(i)
            dtype = np.dtype(inverse[t.DataType()]).newbyteorder("<")
            dims = tuple(int(d) for d in t.DimsAsNumpy()) if t.DimsLength() else ()
            raw = t.RawDataAsNumpy().tobytes() if t.RawDataLength() else b""
            out[t.Name().decode()] = np.frombuffer(raw, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))
        return out

    return {"version": ckpt.Version(),
            "requires_grad": tensors(state.RequiresGradParamsLength(), state.RequiresGradParams),
            "frozen": tensors(state.FrozenParamsLength(), state.FrozenParams)}


# -- writing ------------------------------------------------------------------------------------------
def _write_atomic(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def export_training_artifacts(model, directory, opset: int = 17, ir_version: int = 9, check: bool = True) -> dict:
    """Writes training_model.onnx, eval_model.onnx, optimizer_model.onnx and checkpoint into ``directory``.

    Args:
        model: a compiled, built graphc Model (its loss, and its optimizer: Adam/AdamW or SGD
            without momentum).
        directory: the folder to write into (created if missing).
        opset: default-domain opset, 13 to 21.
        ir_version: ONNX IR version, at most 10 (onnxruntime-training 1.19.2 refuses newer).
        check: run ``onnx.checker`` on the three models.

    Returns:
        ``{"training_model", "eval_model", "optimizer_model", "checkpoint"}`` -> file path.
    """
    if not getattr(model, "compiled", False):
        raise RuntimeError("export_training_artifacts: compile the model first (it needs the loss and optimizer)")
    if ir_version > MAX_IR_VERSION or opset > MAX_OPSET:
        raise ValueError(f"export_training_artifacts: onnxruntime-training reads IR version <= {MAX_IR_VERSION} "
                         f"and opset <= {MAX_OPSET}; received IR {ir_version}, opset {opset}")
    if not model.built or (not model._is_graph_network() and model._input_types is None):
        raise ValueError(f'export_training_artifacts: model "{model.name}" must be built first')
    _check_unique_paths(model)
    ts = getattr(model, "_train_state", None)
    if ts is not None:  # weights may be newer on the training executor's device
        ts.sync()
    train, _, params, trainable = _training_model(model, opset, ir_version)
    evaluation = _eval_model(model, opset, ir_version)
    dtype = next((i.type.tensor_type.elem_type for i in train.graph.input if i.name in trainable), TensorProto.FLOAT)
    optim = _optimizer_model(model.optimizer, dtype, ir_version, opset)
    if check:
        for proto in (train, evaluation, optim):
            onnx.checker.check_model(proto)
    trainable_set = set(trainable)
    by_name = dict(params)
    frozen = [(w.path, w) for w in model.weights if w.path not in trainable_set]
    ckpt = checkpoint_bytes([(n, np.asarray(by_name[n].value)) for n in trainable],
                            [(n, np.asarray(w.value)) for n, w in frozen])
    os.makedirs(directory, exist_ok=True)
    paths = {key: os.path.join(os.fspath(directory), name) for key, name in (
        ("training_model", "training_model.onnx"), ("eval_model", "eval_model.onnx"),
        ("optimizer_model", "optimizer_model.onnx"), ("checkpoint", "checkpoint"))}
    _write_atomic(paths["training_model"], train.SerializeToString())
    _write_atomic(paths["eval_model"], evaluation.SerializeToString())
    _write_atomic(paths["optimizer_model"], optim.SerializeToString())
    _write_atomic(paths["checkpoint"], ckpt)
    return paths
