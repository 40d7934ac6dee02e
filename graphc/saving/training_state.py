"""Compile config and optimizer state in a ``.graphc`` archive.

``compile()`` keeps its arguments on the model (``model._compile_args``: loss, loss_weights,
metrics, weighted_metrics; ``model._device``; ``model.optimizer``). They are stored as JSON:
names stay names, Loss and Metric objects become ``{"loss": {"class_name", "config"}}`` /
``{"metric": {...}}``, containers are tagged as in ``config.encode_value``. The optimizer is
``{"class_name", "config"}`` plus its state from ``get_state()`` (``iterations`` and one array per
variable slot, keyed ``"<variable path>/<slot>"``), stored as ``optimizer/NNNNN.npy`` arrays.

A compiled model whose loss or metrics are plain Python functions cannot be re-compiled from the
file; it is saved without its compile config (with a warning), as Keras does.
"""
from __future__ import annotations

import warnings

import numpy as np

from .archive import ALLOWED_DTYPES, dumps_json, encode_array
from .config import decode_value
from .errors import FileFormatError


class _NotSerializable(TypeError):
    pass


def _encode(obj, where: str):
    from graphc import losses, metrics

    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, losses.Loss):
        entry = losses.serialize(obj)
        if entry["class_name"] not in losses._CLASSES:
            raise _NotSerializable(f"{where}: the loss {obj!r} wraps a Python function")
        return {"loss": entry}
    if isinstance(obj, metrics.Metric):
        entry = metrics.serialize(obj)
        try:
            metrics.deserialize(entry)
        except (ValueError, TypeError):
            raise _NotSerializable(f"{where}: the metric {obj!r} is not a built-in class") from None
        return {"metric": entry}
    if isinstance(obj, list):
        return {"list": [_encode(v, where) for v in obj]}
    if isinstance(obj, tuple):
        return {"tuple": [_encode(v, where) for v in obj]}
    if isinstance(obj, dict):
        return {"dict": {str(k): _encode(v, where) for k, v in obj.items()}}
    raise _NotSerializable(f"{where}: {obj!r} is a {type(obj).__name__}, which cannot be saved as JSON")


def _decode(obj, where: str):
    from graphc import losses, metrics

    if isinstance(obj, dict) and len(obj) == 1 and next(iter(obj)) in ("loss", "metric"):
        kind, entry = next(iter(obj.items()))
        if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
            raise FileFormatError(f"{where}: malformed {kind} entry {entry!r}")
        try:
            return losses.deserialize(entry) if kind == "loss" else metrics.deserialize(entry)
        except (ValueError, TypeError) as e:
            raise FileFormatError(f"{where}: {e}") from None
    if isinstance(obj, dict) and len(obj) == 1 and next(iter(obj)) in ("list", "tuple", "dict"):
        tag, body = next(iter(obj.items()))
        if tag == "dict" and isinstance(body, dict):
            return {k: _decode(v, where) for k, v in body.items()}
        if tag in ("list", "tuple") and isinstance(body, list):
            out = [_decode(v, where) for v in body]
            return out if tag == "list" else tuple(out)
    return decode_value(obj, None, where)


def compile_config(model):
    """The JSON compile arguments of a compiled model, or None (not compiled, or not serializable)."""
    args = getattr(model, "_compile_args", None)
    if not getattr(model, "compiled", False) or args is None:
        return None
    try:
        config = {k: _encode(args.get(k), f"compile {k}") for k in ("loss", "loss_weights", "metrics",
                                                                     "weighted_metrics")}
        config["optimizer"] = _optimizer_entry(model.optimizer)
    except _NotSerializable as e:
        warnings.warn(f"save: the model is saved without its compile config ({e}); load_model() returns it "
                      "uncompiled. Use built-in loss/metric names or classes to keep it.", RuntimeWarning, stacklevel=4)
        return None
    config["device"] = getattr(model, "_device", "cpu")
    return config


def _optimizer_entry(optimizer) -> dict:
    from graphc import optimizers

    entry = optimizers.serialize(optimizer)
    if type(optimizer) is not optimizers._BY_NAME.get(entry["class_name"].lower()):
        raise _NotSerializable(f"optimizer {optimizer!r} is not one of graphc's optimizer classes")
    from .config import check_json_config

    try:
        check_json_config(entry["config"], "optimizer config")
    except TypeError as e:
        raise _NotSerializable(str(e)) from None
    return entry


def optimizer_members(model):
    """(JSON entry, archive members) holding the optimizer state, or (None, []) when not compiled."""
    if compile_config(model) is None or getattr(model, "optimizer", None) is None:
        return None, []
    state = model.optimizer.get_state()
    entries, members = [], []
    for i, (key, value) in enumerate(state.items()):
        value = np.asarray(value)
        file = f"optimizer/{i:05d}.npy"
        entries.append({"key": key, "shape": list(value.shape), "dtype": value.dtype.name, "file": file})
        members.append((file, encode_array(value)))
    manifest = {"iterations": int(state.get("iterations", 0)), "state": entries}
    return {"manifest": "optimizer/manifest.json"}, [("optimizer/manifest.json", dumps_json(manifest))] + members


def _read_state(reader, where: str) -> dict:
    manifest = reader.read_json("optimizer/manifest.json")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("state"), list):
        raise FileFormatError(f"{where}: optimizer/manifest.json is malformed")
    state = {}
    for i, e in enumerate(manifest["state"]):
        ok = (isinstance(e, dict) and isinstance(e.get("key"), str) and isinstance(e.get("shape"), list)
              and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in e["shape"])
              and e.get("dtype") in ALLOWED_DTYPES and isinstance(e.get("file"), str)
              and e["file"].startswith("optimizer/") and e["file"].endswith(".npy"))
        if not ok or e["key"] in state:
            raise FileFormatError(f"{where}: optimizer/manifest.json entry {i} is malformed or repeated: {e!r}")
        state[e["key"]] = reader.read_array(e["file"], e["shape"], e["dtype"])
    return state


def restore(model, reader, config, optimizer_entry) -> None:
    """Re-compiles ``model`` from the saved config and restores the optimizer state and step count."""
    from graphc import optimizers

    where = f"{reader.path}: compile_config"
    if not isinstance(config, dict) or not isinstance(config.get("optimizer"), dict):
        raise FileFormatError(f"{where}: malformed compile config")
    try:
        optimizer = optimizers.deserialize(config["optimizer"])
    except (ValueError, TypeError, KeyError) as e:
        raise FileFormatError(f"{where}: cannot rebuild the optimizer: {e}") from None
    kwargs = {k: _decode(config.get(k), f"{where}.{k}") for k in ("loss", "loss_weights", "metrics",
                                                                  "weighted_metrics")}
    device = config.get("device", "cpu")
    if device not in ("cpu", "cuda", "auto"):
        raise FileFormatError(f"{where}: unknown device {device!r}")
    model.compile(optimizer=optimizer, device=device, **kwargs)
    if optimizer_entry is not None:
        state = _read_state(reader, reader.path)
        optimizer.build(model.trainable_weights)
        try:
            optimizer.set_state(state)
        except ValueError as e:
            raise FileFormatError(f"{reader.path}: the optimizer state does not match the model: {e}") from None
