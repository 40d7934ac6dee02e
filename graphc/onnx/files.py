"""Loading ``.onnx`` files safely: external-data references must stay inside the model's folder.

An ONNX tensor can keep its bytes in a side file named by a ``location`` string. A hostile file can
name ``../../etc/passwd`` or an absolute path (or a symlink out of the folder) and make a loader
read it into the model. ``load_onnx`` checks every reference before reading any external data.
"""
from __future__ import annotations

import os

import onnx
from onnx import TensorProto


class UnsafeOnnxFileError(ValueError):
    """An ONNX file is unreadable or refers to data outside its folder; nothing was loaded from it."""


def _tensors(graph: onnx.GraphProto):
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for g in attr.graphs:
                yield from _tensors(g)


def _all_tensors(model: onnx.ModelProto):
    yield from _tensors(model.graph)
    for fn in model.functions:
        for node in fn.node:
            for attr in node.attribute:
                if attr.HasField("t"):
                    yield attr.t
                if attr.HasField("g"):
                    yield from _tensors(attr.g)


def check_external_data(model: onnx.ModelProto, folder: str, path: str) -> list[str]:
    """Raises unless every external-data reference is a plain relative file inside ``folder``."""
    root = os.path.realpath(folder)
    files = []
    for tensor in _all_tensors(model):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in tensor.external_data}
        location = info.get("location", "")
        where = f"{path}: tensor {tensor.name!r}"
        if not location or os.path.isabs(location) or "\\" in location or ":" in location or \
                any(part == ".." for part in location.replace("\\", "/").split("/")):
            raise UnsafeOnnxFileError(f"{where}: external data location {location!r} leaves the model's folder; "
                                  "refusing to load it")
        target = os.path.realpath(os.path.join(root, location))
        if os.path.commonpath([root, target]) != root:
            raise UnsafeOnnxFileError(f"{where}: external data location {location!r} resolves to {target}, outside the "
                                  f"model's folder {root} (a symlink?); refusing to load it")
        if not os.path.isfile(target):
            raise UnsafeOnnxFileError(f"{where}: external data file {location!r} is missing next to the model")
        for key in ("offset", "length"):
            if key in info and (not info[key].isdigit()):
                raise UnsafeOnnxFileError(f"{where}: external data {key} {info[key]!r} is not a non-negative integer")
        end = int(info.get("offset", 0)) + int(info.get("length", 0))
        if end > os.path.getsize(target):
            raise UnsafeOnnxFileError(f"{where}: external data needs bytes up to {end} of {location!r}, which has "
                                  f"{os.path.getsize(target)}")
        files.append(target)
    return files


def check_has_graph(model: onnx.ModelProto, where: str) -> None:
    """An empty file parses as an empty ModelProto: refuse a model without a graph."""
    if not model.HasField("graph"):
        raise UnsafeOnnxFileError(f"{where}: not a valid ONNX model (it has no graph; the file is empty or truncated)")


def load_onnx(path, load_external_data: bool = True) -> onnx.ModelProto:
    """Reads an ONNX model, refusing external data that points outside the file's folder.

    Args:
        path: the ``.onnx`` file.
        load_external_data: read external tensors into the model (after checking them).

    Raises:
        UnsafeOnnxFileError: not a valid ONNX protobuf, or an external-data reference escapes the folder.
            (``graphc.saving.load_onnx`` raises it as ``graphc.saving.FileFormatError``.)
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"load_onnx: path must be a str or os.PathLike, received {type(path).__name__}")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such file: {path}" + (" (it is a directory)" if os.path.isdir(path) else ""))
    try:
        model = onnx.load_model(path, load_external_data=False)
    except Exception as e:  # protobuf raises DecodeError and friends
        raise UnsafeOnnxFileError(f"{path}: not a valid ONNX model ({type(e).__name__}: {e})") from None
    check_has_graph(model, path)
    folder = os.path.dirname(os.path.abspath(path))
    check_external_data(model, folder, path)
    if load_external_data:
        onnx.load_external_data_for_model(model, folder)
    return model
