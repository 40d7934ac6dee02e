"""Architecture as JSON: layers by class name and ``get_config``, Functional call graphs, Sequential stacks.

A serialized object is ``{"class_name", "config", "shared_object_id"[, "registered_name"]}``. An
object met a second time (a layer shared between a nested model and its parent) is written as
``{"class_name", "shared_object_id"}`` only and resolves to the first one on load, so shared layers
keep one set of weights.

Functional models store their call graph: ``nodes`` lists every layer call in topological order as
``{"layer": name, "args": ..., "kwargs": ...}``; a tensor in the arguments is
``{"tensor": [layer_name, node_index, tensor_index]}``, where ``node_index`` counts that layer's
calls within this model (so calls from other models do not shift it). Containers are tagged
(``{"list": [...]}``, ``{"tuple": [...]}``, ``{"dict": {...}}``) so a JSON object is never mistaken
for a tensor reference.

Nothing here evaluates strings or imports modules: classes come from ``registry.resolve_class``.
"""
from __future__ import annotations

import inspect
import math
from typing import Any

from graphc import tree
from graphc.backend import snake_case
from graphc.ir import TensorType

from .errors import FileFormatError
from .registry import builtin_classes, registered_name, resolve_class

_SIMPLE = (type(None), bool, int, float, str)


# -- helpers for tagged values ------------------------------------------------------------------
def encode_value(obj, tensor_ref=None, where: str = "value"):
    """JSON form of call arguments and plain config values; KerasTensors through ``tensor_ref``."""
    import numpy as np

    from graphc.tensor import KerasTensor

    if isinstance(obj, KerasTensor):
        if tensor_ref is None:
            raise TypeError(f"{where}: a symbolic tensor cannot be saved here")
        return {"tensor": list(tensor_ref(obj))}
    if isinstance(obj, (np.bool_, np.integer, np.floating)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return {"float": repr(obj)}
    if isinstance(obj, _SIMPLE):
        return obj
    if isinstance(obj, list):
        return {"list": [encode_value(v, tensor_ref, where) for v in obj]}
    if isinstance(obj, tuple):
        return {"tuple": [encode_value(v, tensor_ref, where) for v in obj]}
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError(f"{where}: dict keys must be strings to be saved, received {list(obj)}")
        return {"dict": {k: encode_value(v, tensor_ref, where) for k, v in obj.items()}}
    raise TypeError(f"{where}: cannot save a value of type {type(obj).__name__} ({obj!r}); layer call arguments "
                    "must be tensors, numbers, strings, None, or lists/tuples/dicts of them")


def decode_value(obj, tensor_lookup=None, where: str = "value"):
    """Inverse of ``encode_value``; every shape is checked, nothing is evaluated."""
    if isinstance(obj, _SIMPLE):
        return obj
    if isinstance(obj, dict) and len(obj) == 1:
        (tag, body), = obj.items()
        if tag == "tensor":
            if (tensor_lookup is None or not isinstance(body, list) or len(body) != 3
                    or not isinstance(body[0], str) or not all(isinstance(i, int) and not isinstance(i, bool)
                                                               for i in body[1:])):
                raise FileFormatError(f"{where}: malformed tensor reference {body!r}")
            return tensor_lookup(*body)
        if tag in ("list", "tuple") and isinstance(body, list):
            out = [decode_value(v, tensor_lookup, where) for v in body]
            return out if tag == "list" else tuple(out)
        if tag == "dict" and isinstance(body, dict):
            return {k: decode_value(v, tensor_lookup, where) for k, v in body.items()}
        if tag == "float" and body in ("nan", "inf", "-inf"):
            return float(body)
    raise FileFormatError(f"{where}: malformed value {obj!r}")


def check_json_config(config, where: str) -> None:
    """A config must be plain JSON data (what ``get_config`` returns for graphc's layers)."""
    if isinstance(config, float) and not math.isfinite(config):
        return
    if isinstance(config, _SIMPLE):
        return
    if isinstance(config, (list, tuple)):
        for i, v in enumerate(config):
            check_json_config(v, f"{where}[{i}]")
        return
    if isinstance(config, dict):
        for k, v in config.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: config keys must be strings, received {k!r}")
            check_json_config(v, f"{where}.{k}")
        return
    raise TypeError(f"{where}: get_config() returned a {type(config).__name__} ({config!r}), which cannot be "
                    "saved as JSON; return names, numbers, lists or dicts")


def _expect(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise FileFormatError(f"{where}: {what}")


def _type_to_json(t: TensorType) -> list:
    return [t.dtype, [d if isinstance(d, (int, str)) else None for d in t.shape]]


def _type_from_json(obj, where: str) -> TensorType:
    from graphc.ir import as_dtype

    _expect(isinstance(obj, list) and len(obj) == 2 and isinstance(obj[0], str) and isinstance(obj[1], list)
            and all(d is None or isinstance(d, (int, str)) for d in obj[1]), where, f"malformed input type {obj!r}")
    try:
        return TensorType(as_dtype(obj[0]), tuple(obj[1]))
    except (TypeError, ValueError) as e:
        raise FileFormatError(f"{where}: bad input type {obj!r}: {e}") from None


# -- serialization ------------------------------------------------------------------------------
class _SaveContext:
    def __init__(self):
        self.ids: dict[int, int] = {}


def _class_entry(obj) -> dict:
    cls = type(obj)
    entry = {"class_name": cls.__name__}
    reg = registered_name(cls)
    if reg is not None:
        entry["registered_name"] = reg
    elif builtin_classes().get(cls.__name__) is not cls:
        raise TypeError(
            f'Cannot save layer "{obj.name}": its class {cls.__module__}.{cls.__qualname__} is not one of graphc\'s '
            "and is not registered. Decorate it with @graphc.saving.register_serializable() so load_model can find "
            "it, or save only the weights with save_weights().")
    return entry


def serialize_layer(layer, ctx: _SaveContext | None = None) -> dict:
    """The JSON config of a layer or model (recursively for models)."""
    from graphc.models import Functional, Sequential
    from graphc.models.model import Model

    ctx = ctx or _SaveContext()
    entry = _class_entry(layer)
    if id(layer) in ctx.ids:
        entry["shared_object_id"] = ctx.ids[id(layer)]
        entry["name"] = layer.name
        return entry
    ctx.ids[id(layer)] = len(ctx.ids)
    entry["shared_object_id"] = ctx.ids[id(layer)]
    entry["name"] = layer.name
    if isinstance(layer, Sequential):
        entry["config"] = _serialize_sequential(layer, ctx)
    elif isinstance(layer, Functional):
        entry["config"] = _serialize_functional(layer, ctx)
    elif isinstance(layer, Model):
        entry["config"] = _subclass_config(layer)
        entry["build"] = _subclass_build(layer)
        entry["sublayer_names"] = {path: child.name for path, child in layer_paths(layer)[1:]}
    else:
        config = layer.get_config()
        check_json_config(config, f'layer "{layer.name}" config')
        entry["config"] = config
    return entry


def _subclass_config(model) -> dict:
    from graphc.layers.layer import Layer

    cls = type(model)
    if cls.get_config is not Layer.get_config:
        config = model.get_config()
        check_json_config(config, f'model "{model.name}" config')
        return config
    required = [p.name for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
                if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if required:
        raise TypeError(
            f"Cannot save model \"{model.name}\": {cls.__name__}.__init__ takes required argument(s) {required}, and "
            f"{cls.__name__} does not define get_config(). Define get_config() returning them (and from_config() "
            "if they need converting), or save the weights only with save_weights().")
    return {}


def _subclass_build(model) -> dict | None:
    if model._input_types is None:
        return None
    return {"input_types": [_type_to_json(t) for t in model._input_types],
            "input_structure": encode_value(model._input_structure, where="input structure")}


def _serialize_sequential(model, ctx) -> dict:
    return {
        "name": model.name,
        "trainable": model.trainable,
        "input_layer": serialize_layer(model._input_layer, ctx) if model._input_layer is not None else None,
        "layers": [serialize_layer(layer, ctx) for layer in model._stack],
    }


def _serialize_functional(model, ctx) -> dict:
    from graphc.layers.input_layer import InputLayer

    local: dict[int, tuple[str, int]] = {}
    counts: dict[str, int] = {}
    nodes = [n for n in model._nodes if not isinstance(n.layer, InputLayer)]
    for node in nodes:
        k = counts.get(node.layer.name, 0)
        counts[node.layer.name] = k + 1
        local[id(node)] = (node.layer.name, k)
    members = {id(layer) for layer in model._sublayers}

    def tensor_ref(t):
        layer, node_index, tensor_index = t._keras_history
        if isinstance(layer, InputLayer) and id(layer) in members:
            return layer.name, 0, 0
        key = local.get(id(layer._inbound_nodes[node_index]))
        if key is None:
            raise ValueError(f'Model "{model.name}": tensor {t.name} comes from a layer call outside the model')
        return key[0], key[1], tensor_index

    out_nodes = []
    for node in nodes:
        where = f'call of layer "{node.layer.name}" in model "{model.name}"'
        out_nodes.append({"layer": node.layer.name,
                          "args": encode_value(tuple(node.args), tensor_ref, where),
                          "kwargs": encode_value(dict(node.kwargs), tensor_ref, where)})
    return {
        "name": model.name,
        "trainable": model.trainable,
        "layers": [serialize_layer(layer, ctx) for layer in model._sublayers],
        "nodes": out_nodes,
        "inputs": encode_value(model._inputs_struct, tensor_ref, "model inputs"),
        "outputs": encode_value(model._outputs_struct, tensor_ref, "model outputs"),
    }


# -- deserialization ----------------------------------------------------------------------------
class _LoadContext:
    def __init__(self):
        self.objects: dict[int, Any] = {}


def deserialize_layer(entry, ctx: _LoadContext | None = None, where: str = "config"):
    """Rebuilds a layer or model from ``serialize_layer``'s output; every field is checked."""
    from graphc.layers.layer import Layer
    from graphc.models import Functional, Sequential
    from graphc.models.model import Model

    ctx = ctx or _LoadContext()
    _expect(isinstance(entry, dict), where, f"expected a layer entry (JSON object), found {type(entry).__name__}")
    name = entry.get("name")
    where = f'{where} (layer "{name}")' if isinstance(name, str) else where
    cls = resolve_class(entry.get("class_name"), entry.get("registered_name"), where)
    _expect(issubclass(cls, Layer), where, f"class {cls.__name__} is not a Layer")
    oid = entry.get("shared_object_id")
    _expect(oid is None or (isinstance(oid, int) and not isinstance(oid, bool)), where,
            f"shared_object_id must be an int, found {oid!r}")
    if "config" not in entry:
        _expect(oid in ctx.objects, where, f"refers to shared object {oid!r}, which was not defined before")
        obj = ctx.objects[oid]
        _expect(type(obj) is cls, where, f"shared object {oid} is a {type(obj).__name__}, not a {cls.__name__}")
        return obj
    config = entry["config"]
    _expect(isinstance(config, dict), where, f"config must be a JSON object, found {type(config).__name__}")
    if issubclass(cls, Sequential):
        obj = _deserialize_sequential(cls, config, ctx, where, oid)
    elif issubclass(cls, Functional):
        obj = _deserialize_functional(config, ctx, where, oid)
    elif issubclass(cls, Model):
        obj = _deserialize_subclass(cls, entry, ctx, where)
    else:
        try:
            obj = cls.from_config(dict(config))
        except (TypeError, ValueError, KeyError, NotImplementedError) as e:
            raise FileFormatError(f"{where}: {cls.__name__}.from_config failed on the saved config: {e}") from e
    if isinstance(name, str) and obj.name != name:
        obj.name = name
    if oid is not None:
        ctx.objects[oid] = obj
    return obj


def _deserialize_sequential(cls, config, ctx, where, oid):
    layers = config.get("layers")
    _expect(isinstance(layers, list), where, "Sequential config needs a 'layers' list")
    model = cls(name=config.get("name"), trainable=bool(config.get("trainable", True)))
    if oid is not None:
        ctx.objects[oid] = model
    if config.get("input_layer") is not None:
        model.add(deserialize_layer(config["input_layer"], ctx, f"{where}.input_layer"), rebuild=False)
    for i, entry in enumerate(layers):
        model.add(deserialize_layer(entry, ctx, f"{where}.layers[{i}]"), rebuild=False)
    model._maybe_rebuild()
    return model


def _deserialize_functional(config, ctx, where, oid):
    from graphc.layers.input_layer import InputLayer
    from graphc.models import Functional

    for key, kind in (("layers", list), ("nodes", list)):
        _expect(isinstance(config.get(key), kind), where, f"Functional config needs a {kind.__name__} {key!r}")
    _expect("inputs" in config and "outputs" in config, where, "Functional config needs 'inputs' and 'outputs'")
    layers: dict[str, Any] = {}
    for i, entry in enumerate(config["layers"]):
        layer = deserialize_layer(entry, ctx, f"{where}.layers[{i}]")
        _expect(layer.name not in layers, where, f"layer name {layer.name!r} appears twice")
        layers[layer.name] = layer
    produced: dict[tuple[str, int], list] = {}
    for name, layer in layers.items():
        if isinstance(layer, InputLayer):
            produced[(name, 0)] = [layer.output]

    def lookup(layer_name, node_index, tensor_index):
        outs = produced.get((layer_name, node_index))
        _expect(outs is not None, where, f"tensor reference {[layer_name, node_index, tensor_index]} names no "
                                         "earlier layer call")
        _expect(0 <= tensor_index < len(outs), where, f"tensor index {tensor_index} out of range for layer "
                                                      f"{layer_name!r} ({len(outs)} outputs)")
        return outs[tensor_index]

    counts: dict[str, int] = {}
    for i, node in enumerate(config["nodes"]):
        nwhere = f"{where}.nodes[{i}]"
        _expect(isinstance(node, dict) and isinstance(node.get("layer"), str), nwhere, "malformed node")
        layer = layers.get(node["layer"])
        _expect(layer is not None, nwhere, f"calls unknown layer {node['layer']!r}")
        args = decode_value(node.get("args", {"tuple": []}), lookup, nwhere)
        kwargs = decode_value(node.get("kwargs", {"dict": {}}), lookup, nwhere)
        _expect(isinstance(args, tuple) and isinstance(kwargs, dict), nwhere, "args must be a tuple, kwargs a dict")
        try:
            out = layer(*args, **kwargs)
        except (TypeError, ValueError, NotImplementedError) as e:
            raise FileFormatError(f"{nwhere}: calling layer {layer.name!r} on the saved inputs failed: {e}") from e
        k = counts.get(layer.name, 0)
        counts[layer.name] = k + 1
        produced[(layer.name, k)] = tree.flatten(out)
    inputs = decode_value(config["inputs"], lookup, f"{where}.inputs")
    outputs = decode_value(config["outputs"], lookup, f"{where}.outputs")
    return Functional(inputs, outputs, name=config.get("name"), trainable=bool(config.get("trainable", True)))


def _deserialize_subclass(cls, entry, ctx, where):
    config = dict(entry["config"])
    try:
        model = cls.from_config(config)
    except TypeError as e:
        raise FileFormatError(f"{where}: could not rebuild {cls.__name__} from its config {config}: {e}. Define "
                              f"get_config()/from_config() on {cls.__name__}.") from e
    names = entry.get("sublayer_names") or {}
    _expect(isinstance(names, dict) and all(isinstance(v, str) for v in names.values()), where,
            "sublayer_names must map paths to names")
    _rename_sublayers(model, names)
    build = entry.get("build")
    if build is not None:
        _expect(isinstance(build, dict) and isinstance(build.get("input_types"), list), where, "malformed build info")
        types = [_type_from_json(t, f"{where}.build") for t in build["input_types"]]
        structure = decode_value(build.get("input_structure", 0), None, f"{where}.build")
        _expect(len(tree.flatten(structure)) == len(types), where, "build input structure does not match its types")
        model._input_types = types
        model._input_structure = structure
        if "build" in vars(cls):  # the user's build() creates weights of its own
            shapes = [t.keras_shape() for t in types]
            model.build(shapes if isinstance(structure, (list, tuple)) else shapes[0])
        model.built = True
        model._trace_graph()
        if _rename_sublayers(model, names):  # layers created lazily during the first call
            model._invalidate()
            model._trace_graph()
    return model


def _rename_sublayers(model, names: dict) -> bool:
    """Gives a rebuilt subclassed model's layers the names they had when saved (summaries match)."""
    renamed = False
    for path, child in layer_paths(model)[1:]:
        name = names.get(path)
        if name and child.name != name:
            child.name = name
            renamed = True
            for var in child._own_weights:
                var.path = f"{name}/{var.name}"
    return renamed


# -- weight paths -------------------------------------------------------------------------------
def weight_paths(model) -> list[tuple[str, str, Any]]:
    """``(layer_path, variable_name, Variable)`` for every weight of ``model``, each once."""
    out, seen_vars = [], set()
    for path, layer in layer_paths(model):
        names: dict[str, int] = {}
        for var in layer._own_weights:
            if id(var) in seen_vars:
                continue
            seen_vars.add(id(var))
            k = names.get(var.name, 0)
            names[var.name] = k + 1
            out.append((path, var.name if k == 0 else f"{var.name}#{k}", var))
    return out


def layer_paths(model) -> list[tuple[str, Any]]:
    """``(path, layer)`` for ``model`` (path "") and every layer under it, each once, in a fixed order.

    A child is addressed by its snake-cased class name with a per-parent counter (``dense``,
    ``dense_1``, ``encoder``'s ``functional/conv2d``), as Keras addresses layers in its weight files:
    layer names are generated from session-wide counters, so a model built again in code (or a
    subclassed model rebuilt through its class) may get other names, but its structure, and so
    these paths, stay the same.
    """
    out, seen_layers = [], set()

    def walk(layer, path):
        if id(layer) in seen_layers:
            return
        seen_layers.add(id(layer))
        out.append((path, layer))
        counters: dict[str, int] = {}
        for child in layer._sublayers:
            base = snake_case(type(child).__name__)
            k = counters.get(base, 0)
            counters[base] = k + 1
            key = base if k == 0 else f"{base}_{k}"
            walk(child, f"{path}/{key}" if path else key)

    walk(model, "")
    return out
