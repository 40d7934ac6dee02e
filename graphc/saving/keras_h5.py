"""Keras 3 ``.weights.h5`` files: read and write weights in Keras' own layout (needs ``h5py``).

Keras 3 walks the model as a tree of saveable objects and stores each object's own variables in
an HDF5 group ``<path>/vars`` as datasets ``"0"``, ``"1"``, ... (trainable variables first, then
non-trainable, each in creation order). Paths are built like this:

* the root model's own variables live in ``/vars``;
* a Functional or Sequential model's ``layers`` list comes first, under ``layers/``; a layer in a
  list is addressed by its snake-cased class name, made unique with a counter in list order
  (``layers/dense``, ``layers/dense_1``, ``layers/input_layer``) — not by its user-visible name;
* other children are attributes, addressed by attribute name (a subclassed model's
  ``self.classifier = Dense(...)`` is ``classifier/vars``; an LSTM's weights are in ``cell/vars``);
* an object already visited (a shared layer) is stored only at its first path.

So the seed MLP ``Input -> Dense(64) -> Dense(64) -> Dense(10)`` reads ``layers/dense/vars/0``
(kernel, ``(784, 64)``), ``layers/dense/vars/1`` (bias), ``layers/dense_1/...``,
``layers/dense_2/...``. Kernels use the same layout in Keras and graphc (Dense ``(in, out)``,
Conv2D ``(kh, kw, in, out)``, Conv2DTranspose ``(kh, kw, out, in)``, LSTM gates i, f, c, o), so no
array is transposed.

Groups Keras writes that graphc has no variables for (``optimizer``, ``seed_generator`` of random
layers, metrics) are ignored; any other extra or missing group is an error naming it.
"""
from __future__ import annotations

import os
import re

import numpy as np

from .errors import FileFormatError

_RNN_CELL_CLASSES = ("LSTM", "GRU", "SimpleRNN")
_IGNORED_GROUPS = ("optimizer", "seed_generator", "metrics", "compile_metrics", "loss_tracker", "_tracker")


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("Reading or writing .weights.h5 files needs h5py: pip install 'graphc[h5]' "
                          "(or pip install h5py)") from None
    return h5py


def keras_snake_case(name: str) -> str:
    """Keras 3's snake case for class names: ``Conv2DTranspose`` -> ``conv2d_transpose``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _natural_key(text: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


def _own_vars(layer) -> list:
    own = list(layer._own_weights)
    return [v for v in own if v.trainable] + [v for v in own if not v.trainable]


def _children(layer):
    """(attribute path, child or list of children) in the order Keras 3 walks them."""
    from graphc.layers.layer import Layer
    from graphc.models import Functional, Sequential

    if isinstance(layer, Functional):
        yield "layers", keras_functional_order(layer)
        return
    if isinstance(layer, Sequential):
        yield "layers", list(layer.layers)
        return
    for attr in sorted(vars(layer), key=_natural_key):
        if attr.startswith("_"):
            continue
        value = vars(layer)[attr]
        if isinstance(value, Layer):
            yield attr, value
        elif isinstance(value, (list, tuple)) and any(isinstance(v, Layer) for v in value):
            yield attr, [v for v in value if isinstance(v, Layer)]
        elif isinstance(value, dict) and any(isinstance(v, Layer) for v in value.values()):
            yield attr, [v for v in value.values() if isinstance(v, Layer)]


def keras_functional_order(model) -> list:
    """A Functional model's layers in Keras 3's order: by depth from the inputs, ties by discovery order.

    Keras discovers layers depth-first from the outputs (pre-order), gives every call node the
    longest distance to an output, and lists layers from the deepest down; this order decides the
    ``dense`` / ``dense_1`` numbering in its weight files.
    """
    from graphc import tree

    discovered: dict[int, int] = {}
    node_depth: dict[int, int] = {}
    layers: dict[int, object] = {}
    flat_inputs = {id(t) for t in model._flat_inputs}

    def producer(t):
        layer, node_index, _ = t._keras_history
        return layer._inbound_nodes[node_index]

    def visit(t, depth):
        node = producer(t)
        layer = node.layer
        layers[id(layer)] = layer
        discovered.setdefault(id(layer), len(discovered))
        if node_depth.get(id(node), -1) >= depth and id(node) in node_depth:
            return
        node_depth[id(node)] = max(depth, node_depth.get(id(node), -1))
        if id(t) in flat_inputs:
            return
        for parent in node.input_tensors:
            visit(parent, depth + 1)

    for t in tree.flatten(model._outputs_struct):
        visit(t, 0)
    layer_depth: dict[int, int] = {}
    for layer_id, layer in layers.items():
        layer_depth[layer_id] = max(node_depth[id(n)] for n in layer._inbound_nodes if id(n) in node_depth)
    return sorted(layers.values(), key=lambda l: (-layer_depth[id(l)], discovered[id(l)]))


def keras_layout(model) -> list[tuple[str, object, list]]:
    """``(vars group path, layer, [Variable])`` for every object with variables, in Keras' walk order."""
    out, visited = [], set()

    def visit(layer, path):
        if id(layer) in visited:
            return
        visited.add(id(layer))
        own = _own_vars(layer)
        if own:
            is_cell = type(layer).__name__ in _RNN_CELL_CLASSES and not any(
                a == "cell" for a, _ in _children(layer))
            base = f"{path}/cell" if is_cell else path
            out.append((f"{base}/vars" if base else "vars", layer, own))
        for attr, child in _children(layer):
            child_path = f"{path}/{attr}" if path else attr
            if isinstance(child, list):
                used: dict[str, int] = {}
                for c in child:
                    name = keras_snake_case(type(c).__name__)
                    if name in used:
                        used[name] += 1
                        name = f"{name}_{used[name]}"
                    else:
                        used[name] = 0
                    visit(c, f"{child_path}/{name}")
            else:
                visit(child, child_path)

    visit(model, "")
    return out


def save_weights_h5(model, filepath: str) -> None:
    """Writes ``model``'s weights as a Keras 3 ``.weights.h5`` file, atomically."""
    import tempfile

    h5py = _h5py()
    folder = os.path.dirname(os.path.abspath(filepath))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(filepath)}.", suffix=".tmp")
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            f.create_group("vars")
            for group_path, _, variables in keras_layout(model):
                group = f.require_group(group_path)
                for i, var in enumerate(variables):
                    group.create_dataset(str(i), data=np.asarray(var.value))
        os.replace(tmp, filepath)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _dataset_groups(f, h5py) -> dict[str, object]:
    """Every group named ``vars`` that holds datasets, by path; refuses links out of the file."""
    found = {}

    def walk(group, path):
        for key in group:
            link = group.get(key, getlink=True)
            child_path = f"{path}/{key}" if path else key
            if isinstance(link, (h5py.ExternalLink, h5py.SoftLink)):
                raise FileFormatError(f"{f.filename}: {child_path!r} is a link ({type(link).__name__}); "
                                      "links can point outside the file and are refused")
            item = group[key]
            if isinstance(item, h5py.Group):
                if key == "vars" and len(item):
                    found[child_path] = item
                walk(item, child_path)

    walk(f, "")
    return found


def _read_dataset(ds, h5py, where: str) -> np.ndarray:
    if not isinstance(ds, h5py.Dataset):
        raise FileFormatError(f"{where}: expected a dataset, found a {type(ds).__name__}")
    if ds.external:
        raise FileFormatError(f"{where}: dataset stores its data in external files {ds.external}; refused")
    if ds.dtype.kind not in "fiub" or ds.dtype.fields is not None:
        raise FileFormatError(f"{where}: dataset dtype {ds.dtype} is not a plain numeric type")
    return np.asarray(ds[()])


def load_weights_h5(model, filepath: str, skip_mismatch: bool = False) -> None:
    """Loads a Keras 3 ``.weights.h5`` file into ``model``; all checks pass before any weight changes."""
    h5py = _h5py()
    with open(filepath, "rb") as fh:
        magic = fh.read(8)
    if magic != b"\x89HDF\r\n\x1a\n":
        raise FileFormatError(f"{filepath}: not an HDF5 file (found {magic!r} at the start)")
    try:
        f = h5py.File(filepath, "r")
    except OSError as e:
        raise FileFormatError(f"{filepath}: the HDF5 file is truncated or corrupted ({e})") from None
    with f:
        available = _dataset_groups(f, h5py)
        updates, used = [], set()
        for group_path, layer, variables in keras_layout(model):
            group = available.get(group_path)
            if group is None:
                if skip_mismatch:
                    continue
                raise FileFormatError(
                    f"{filepath}: no group {group_path!r} for layer \"{layer.name}\" ({type(layer).__name__}, "
                    f"{len(variables)} variables). Groups with weights in the file: {sorted(available)[:12]}")
            used.add(group_path)
            keys = sorted(group.keys(), key=lambda k: int(k) if k.isdigit() else -1)
            if keys != [str(i) for i in range(len(variables))]:
                if skip_mismatch:
                    continue
                raise FileFormatError(f"{filepath}: group {group_path!r} holds datasets {keys}, layer "
                                      f"\"{layer.name}\" expects {len(variables)} ({[v.name for v in variables]})")
            staged = []
            for i, var in enumerate(variables):
                where = f"{filepath}: {group_path}/{i}"
                shape = tuple(group[str(i)].shape) if isinstance(group[str(i)], h5py.Dataset) else None
                if shape != tuple(var.shape):
                    if skip_mismatch:
                        staged = None
                        break
                    raise FileFormatError(f"{where} ({layer.name}/{var.name}) has shape {shape} in the file, the "
                                          f"model expects {tuple(var.shape)}")
                array = _read_dataset(group[str(i)], h5py, where)
                if array.dtype.name != var.dtype:
                    if array.dtype.kind != np.dtype(var.dtype).kind:
                        raise FileFormatError(f"{where}: dtype {array.dtype} does not match the model's {var.dtype}")
                    array = array.astype(var.dtype)
                staged.append((var, array))
            updates += staged or []
        extra = [p for p in available if p not in used and not any(part in _IGNORED_GROUPS or part.endswith("_tracker")
                                                                      for part in p.split("/"))]
        if extra and not skip_mismatch:
            raise FileFormatError(f"{filepath}: the file has weights the model does not: {sorted(extra)[:12]}; the "
                                  f"model's groups are {[p for p, _, _ in keras_layout(model)][:12]}")
    for var, array in updates:
        var.assign(array)
