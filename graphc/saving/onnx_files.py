"""``load_onnx``: reading an ``.onnx`` file whose external data must stay inside its folder.

The protobuf work lives in ``graphc.onnx.files`` (the only package that handles ONNX protobufs);
this module turns its refusal into the saving package's ``FileFormatError``.
"""
from __future__ import annotations

from graphc.onnx.files import UnsafeOnnxFileError
from graphc.onnx.files import load_onnx as _load_onnx

from .errors import FileFormatError


def load_onnx(path, load_external_data: bool = True):
    """Reads an ONNX model, refusing external data that points outside the file's folder.

    Raises:
        FileFormatError: not a valid ONNX model, or an external-data location is absolute, climbs
            out with ``..``, or resolves outside the folder through a symlink.
    """
    try:
        return _load_onnx(path, load_external_data=load_external_data)
    except UnsafeOnnxFileError as e:
        raise FileFormatError(str(e)) from None
