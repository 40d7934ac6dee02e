"""``save_model`` / ``load_model`` and graphc-format ``save_weights`` / ``load_weights``.

Archive members (all names generated here, never taken from user strings):

    metadata.json            format name and version, graphc version
    config.json              {"model": architecture, "compile_config": ..., "optimizer": ...}
    weights/manifest.json    [{"layer", "name", "shape", "dtype", "file", "path"}], one per variable:
                             "layer" is the structural path (``config.layer_paths``), "path" the
                             variable's own path (its layer's name), for people reading the file
    weights/00000.npy ...    the arrays, ``.npy`` without pickle
    optimizer/manifest.json  {"iterations": n, "state": [{"key", "shape", "dtype", "file"}]}
    optimizer/00000.npy ...  the optimizer's state arrays
    model.onnx               the forward graph (a convenience copy; never read back)

A ``.weights.graphc`` file has the same metadata and weights members only.
"""
from __future__ import annotations

import os

import numpy as np

from graphc.layers.layer import weight_budget

from .archive import FORMAT_VERSION, ArchiveReader, dumps_json, encode_array, write_archive
from .config import deserialize_layer, serialize_layer, weight_paths
from .errors import FileFormatError

MODEL_FORMAT = "graphc.model"
WEIGHT_SLACK = 1 << 24  # weight elements a config may build beyond what the file stores
WEIGHTS_FORMAT = "graphc.weights"
MODEL_SUFFIX = ".graphc"
WEIGHTS_SUFFIXES = (".weights.graphc",)
H5_SUFFIXES = (".weights.h5", ".h5")


def _metadata(fmt: str) -> bytes:
    import graphc

    return dumps_json({"format": fmt, "format_version": FORMAT_VERSION, "graphc_version": graphc.__version__})


def _weights_members(model) -> list[tuple[str, bytes]]:
    manifest, members = [], []
    for i, (layer_path, name, var) in enumerate(weight_paths(model)):
        file = f"weights/{i:05d}.npy"
        value = np.asarray(var.value)
        manifest.append({"layer": layer_path, "name": name, "shape": list(value.shape), "dtype": value.dtype.name,
                         "file": file, "path": var.path})
        members.append((file, encode_array(value)))
    return [("weights/manifest.json", dumps_json(manifest))] + members


def _filepath(filepath, fn: str) -> str:
    """The path as a str; anything but a str or os.PathLike is the caller's TypeError, named."""
    if not isinstance(filepath, (str, os.PathLike)):
        raise TypeError(f"{fn}: filepath must be a path (str or os.PathLike), received {type(filepath).__name__}")
    filepath = os.fspath(filepath)
    if os.path.isdir(filepath):
        raise IsADirectoryError(f"{fn}: filepath {filepath} is a directory, expected a file")
    return filepath


def save_model(model, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """Saves architecture, weights, compile config and optimizer state as one ``.graphc`` zip.

    Args:
        model: a Functional, Sequential or registered subclassed Model.
        filepath: destination ending in ``.graphc``; written atomically.
        overwrite: if False, an existing file is an error.
        include_optimizer: also store the optimizer's state and step count.
    """
    from . import training_state

    filepath = _filepath(filepath, "save")
    if not filepath.endswith(MODEL_SUFFIX):
        raise ValueError(f"save: the file name must end in {MODEL_SUFFIX!r} (received {filepath!r}); use "
                         "save_weights() for .weights.graphc / .weights.h5 files or export() for .onnx")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"save: {filepath} exists and overwrite=False")
    config = {"model": serialize_layer(model),
              "compile_config": training_state.compile_config(model)}
    opt_config, opt_members = training_state.optimizer_members(model) if include_optimizer else (None, [])
    config["optimizer"] = opt_config
    members = [("metadata.json", _metadata(MODEL_FORMAT)), ("config.json", dumps_json(config))]
    members += _weights_members(model)
    members += opt_members
    onnx_bytes = _forward_onnx(model)
    if onnx_bytes is not None:
        members.append(("model.onnx", onnx_bytes))
    write_archive(filepath, members)


def _forward_onnx(model) -> bytes | None:
    """The exported forward graph, or None when the model cannot be traced yet (not built)."""
    if not model.built or (model._input_types is None and not model._is_graph_network()):
        return None
    try:
        return model.to_onnx().SerializeToString()
    except (ValueError, NotImplementedError, TypeError) as e:
        import warnings

        warnings.warn(f"save: model.onnx left out of the archive: the forward graph could not be exported ({e})",
                      RuntimeWarning, stacklevel=3)
        return None


def _check_metadata(reader: ArchiveReader, fmt: str) -> dict:
    meta = reader.read_json("metadata.json")
    if not isinstance(meta, dict) or meta.get("format") not in (MODEL_FORMAT, WEIGHTS_FORMAT):
        raise FileFormatError(f"{reader.path}: metadata.json does not describe a graphc file (format "
                              f"{meta.get('format') if isinstance(meta, dict) else meta!r})")
    if fmt == MODEL_FORMAT and meta["format"] != MODEL_FORMAT:
        raise FileFormatError(f"{reader.path}: this is a weights-only file; build the model in code and call "
                              "model.load_weights() instead of load_model()")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION or version < 1:
        raise FileFormatError(f"{reader.path}: format_version {version!r} is not supported by this graphc "
                              f"(it reads version 1 to {FORMAT_VERSION}); upgrade graphc")
    return meta


def load_model(filepath, compile: bool = True, custom_objects=None):
    """Rebuilds a model saved with ``model.save``: architecture, weights, compile config, optimizer state.

    Args:
        filepath: a ``.graphc`` file.
        compile: re-compile with the saved loss, metrics and optimizer (state and step count
            restored) when the model was compiled.
        custom_objects: optional ``{name: class}`` for custom layers, as an alternative to
            ``@graphc.saving.register_serializable()``; registered for this load only.

    Raises:
        FileFormatError: the file is truncated, corrupted, hostile or inconsistent; nothing from
            it has been executed.
    """
    from . import registry, training_state

    filepath = _filepath(filepath, "load_model")
    added = []
    for key, cls in (custom_objects or {}).items():
        if key not in registry._CUSTOM:
            registry._CUSTOM[key] = cls
            added.append(key)
    try:
        with ArchiveReader(filepath) as reader:
            _check_metadata(reader, MODEL_FORMAT)
            config = reader.read_json("config.json")
            if not isinstance(config, dict) or "model" not in config:
                raise FileFormatError(f"{filepath}: config.json has no 'model' entry")
            # Every weight the config builds must be stored in the file, one byte per element at least:
            # a config asking for far more (units=10**12) is refused before anything is allocated. The
            # slack lets a merely mismatched weight reach the clearer shape check against the manifest.
            stored = reader.total_size("weights/")
            try:
                with weight_budget(stored + WEIGHT_SLACK, f"the {stored:,} bytes of weight data in the file"):
                    model = deserialize_layer(config["model"], where=f"{filepath}: config.json model")
            except RecursionError:
                raise FileFormatError(f"{filepath}: config.json is nested too deeply") from None
            except FileFormatError:
                raise
            except (TypeError, ValueError, KeyError, NotImplementedError, MemoryError) as e:
                raise FileFormatError(f"{filepath}: config.json does not describe a model graphc can rebuild: "
                                      f"{e}") from e
            _read_weights(reader, model)
            if compile and config.get("compile_config") is not None:
                training_state.restore(model, reader, config.get("compile_config"), config.get("optimizer"))
        return model
    finally:
        for key in added:
            registry._CUSTOM.pop(key, None)


def _validate_manifest(manifest, path: str) -> list[dict]:
    from .archive import ALLOWED_DTYPES

    if not isinstance(manifest, list):
        raise FileFormatError(f"{path}: weights/manifest.json must be a list")
    seen = set()
    for i, e in enumerate(manifest):
        ok = (isinstance(e, dict) and isinstance(e.get("layer"), str) and isinstance(e.get("name"), str)
              and isinstance(e.get("shape"), list)
              and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in e["shape"])
              and e.get("dtype") in ALLOWED_DTYPES and isinstance(e.get("file"), str)
              and e["file"].startswith("weights/") and e["file"].endswith(".npy"))
        if not ok:
            raise FileFormatError(f"{path}: weights/manifest.json entry {i} is malformed: {e!r}")
        key = (e["layer"], e["name"])
        if key in seen:
            raise FileFormatError(f"{path}: weight {e['layer']}/{e['name']} appears twice")
        seen.add(key)
    return manifest


def _read_weights(reader: ArchiveReader, model, skip_mismatch: bool = False) -> None:
    """Reads every array first, checks all of them against the model, then assigns (all or nothing)."""
    manifest = _validate_manifest(reader.read_json("weights/manifest.json"), reader.path)
    targets = {(layer, name): var for layer, name, var in weight_paths(model)}
    by_key = {(e["layer"], e["name"]): e for e in manifest}
    missing = [f"{k[0]}/{k[1]}" for k in targets if k not in by_key]
    extra = [f"{k[0]}/{k[1]}" for k in by_key if k not in targets]
    if (missing or extra) and not skip_mismatch:
        raise FileFormatError(
            f"{reader.path}: the saved weights do not match model {model.name!r}: "
            + (f"missing from the file: {missing[:8]}{' ...' if len(missing) > 8 else ''}; " if missing else "")
            + (f"not in the model: {extra[:8]}{' ...' if len(extra) > 8 else ''}" if extra else ""))
    updates = []
    for key, var in targets.items():
        e = by_key.get(key)
        if e is None:
            continue
        if tuple(e["shape"]) != tuple(var.shape):
            if skip_mismatch:
                continue
            raise FileFormatError(f"{reader.path}: weight {key[0]}/{key[1]} has shape {tuple(e['shape'])} in the "
                                  f"file, the model expects {tuple(var.shape)}")
        array = reader.read_array(e["file"], e["shape"], e["dtype"])
        if array.dtype.name != var.dtype:
            if not (np.issubdtype(array.dtype, np.floating) and np.issubdtype(np.dtype(var.dtype), np.floating)):
                raise FileFormatError(f"{reader.path}: weight {key[0]}/{key[1]} has dtype {array.dtype.name}, "
                                      f"the model expects {var.dtype}")
            array = array.astype(var.dtype)
        updates.append((var, array))
    for var, array in updates:
        var.assign(array)


def save_weights(model, filepath, overwrite: bool = True) -> None:
    """Writes the model's weights: ``.weights.graphc`` (graphc's zip) or ``.weights.h5`` (Keras 3 layout)."""
    filepath = _filepath(filepath, "save_weights")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"save_weights: {filepath} exists and overwrite=False")
    if filepath.endswith(H5_SUFFIXES):
        from .keras_h5 import save_weights_h5

        return save_weights_h5(model, filepath)
    if not filepath.endswith(WEIGHTS_SUFFIXES):
        raise ValueError(f"save_weights: the file name must end in '.weights.graphc' or '.weights.h5', received "
                         f"{filepath!r}")
    members = [("metadata.json", _metadata(WEIGHTS_FORMAT))] + _weights_members(model)
    write_archive(filepath, members)


def load_weights(model, filepath, skip_mismatch: bool = False) -> None:
    """Loads weights saved by ``save_weights`` or ``save`` (graphc zip) or a Keras 3 ``.weights.h5`` file.

    All arrays are read and checked before any weight changes, so a bad file leaves the model as it was.
    """
    filepath = _filepath(filepath, "load_weights")
    if filepath.endswith(H5_SUFFIXES):
        from .keras_h5 import load_weights_h5

        return load_weights_h5(model, filepath, skip_mismatch=skip_mismatch)
    with ArchiveReader(filepath, "graphc weights file") as reader:
        _check_metadata(reader, WEIGHTS_FORMAT)
        _read_weights(reader, model, skip_mismatch=skip_mismatch)
