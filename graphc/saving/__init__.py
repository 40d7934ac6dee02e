"""Saving and loading: ``.graphc`` archives, weights files (graphc's and Keras 3 ``.weights.h5``).

``model.save("m.graphc")`` writes one zip archive (see ``model_io``) holding the architecture as
JSON, the weights as pickle-free ``.npy`` arrays, the compile config, the optimizer state and step
count, and the forward graph as ``model.onnx``. ``graphc.load_model(path)`` rebuilds the model.
Classes resolve only through graphc's own layer and model classes and those decorated with
``@register_serializable()``. Saves are atomic (temporary file in the same folder, then
``os.replace``).

Files graphc refuses (each raises ``FileFormatError``, a ``ValueError``; nothing in the file is
executed and the model or file on disk is left unchanged):

=============================================  ================================================
File                                           What happens
=============================================  ================================================
truncated zip                                  "the zip file is truncated or corrupted"
not a zip (wrong magic bytes)                  "not a graphc archive (expected a zip file ...)"
entry bytes corrupted (bad CRC)                "entry '...' is truncated or corrupted"
config naming an unknown layer class           "unknown layer class 'X'. graphc knows ..."
malformed, NaN-bearing or 100k-deep JSON       "... is not valid JSON" / "entry i is malformed"
a layer config its class refuses               "X.from_config failed on the saved config: ..."
a call graph a layer cannot take               "calling layer 'dense' on the saved inputs failed"
tensor reference to a call that does not exist "names no earlier layer call"
duplicate member names                         "member 'config.json' appears twice"
weights of the wrong shape                     "weight dense/kernel has shape (...) in the file,
                                               the model expects (...)"; no weight is changed
weights missing or extra for the model         "the saved weights do not match model ..."
member path escaping the folder ("../x",       "member path '../x' leaves the archive's folder"
absolute, backslashes)
pickle-bearing ``.npy`` (object dtype)         "array dtype object is not allowed (object arrays
                                               would need pickle)"
``.npy`` data shorter/longer than its header   "array data is N bytes, expected M"
newer format version                           "format_version 9 is not supported ..."
``.onnx`` with external data outside its       "external data location '../x' leaves the model's
folder (``load_onnx``)                         folder"
Keras ``.weights.h5`` with wrong shapes,       "... has shape ... in the file, the model expects"
missing or extra layers                        / "no group 'layers/dense_2/vars' ..." / "has weights
                                               the model does not"
``.weights.h5`` with external links            "... is a link ...; links can point outside the file"
``.weights.h5`` that is not HDF5               "not an HDF5 file"
=============================================  ================================================

The table is exercised by ``tests/saving/test_hostile_files.py``.
"""
from .errors import FileFormatError
from .model_io import load_model, load_weights, save_model, save_weights
from .onnx_files import load_onnx
from .registry import get_registered_object, register_serializable

__all__ = ["FileFormatError", "get_registered_object", "load_model", "load_onnx", "load_weights",
           "register_serializable", "save_model", "save_weights"]
