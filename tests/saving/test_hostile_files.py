"""Hostile and broken files: each is refused with a clear FileFormatError; nothing in the file runs,
nothing on disk or in the model changes.

| case                         | file                                                      | refused with            |
|------------------------------|-----------------------------------------------------------|-------------------------|
| truncated_zip                | a valid archive cut in half                               | truncated or corrupted  |
| not_a_zip                    | text / HDF5 bytes named .graphc                           | not a graphc archive    |
| corrupted_entry              | one stored weight's bytes flipped (CRC mismatch)          | truncated or corrupted  |
| unknown_layer_class          | config.json names class "EvilLayer"                       | unknown layer class     |
| dotted_class_name            | config.json names "os.system"                             | unknown layer class     |
| wrong_weight_shape           | kernel stored (and declared) as (10, 64)                  | has shape ... expects   |
| header_manifest_mismatch     | .npy header disagrees with the manifest                   | the manifest says       |
| member_escapes_folder        | an extra member "../x"                                    | leaves the archive's    |
| absolute_member              | an extra member "/tmp/x"                                  | leaves the archive's    |
| pickle_npy                   | a weight replaced by an object-array .npy whose pickle    | object arrays would     |
|                              | would run a shell command                                 | need pickle             |
| truncated_npy                | a weight's data cut short                                 | truncated or corrupted  |
| invalid_json                 | config.json is not JSON                                   | not valid JSON          |
| nan_json                     | config.json uses the NaN constant                         | not valid JSON          |
| future_version               | format_version 99                                         | not supported           |
| dangling_tensor_ref          | a node input names a call that does not exist             | names no earlier        |
| missing_weight               | a weight entry removed                                    | do not match            |
| duplicate_member             | config.json twice                                         | appears twice           |
| deep_json                    | config.json nested 100,000 levels deep                    | not valid JSON          |
| layer_config_rejected        | a layer config the class refuses (units=-3)               | from_config failed      |
| incompatible_call            | an int32 Input feeding a Dense layer                      | calling layer ... failed|
| onnx_external_parent         | .onnx with external data "../secret.bin"                  | leaves the model's      |
| onnx_external_absolute       | .onnx with external data "/etc/hostname"                  | leaves the model's      |
| onnx_external_symlink        | .onnx with external data via a symlink out of the folder  | outside the model's     |
| h5_wrong_shape               | Keras .weights.h5 with a (10, 64) kernel                  | has shape ... expects   |
| h5_external_link             | Keras .weights.h5 with an HDF5 external link              | is a link               |
| h5_not_hdf5                  | zip bytes named .weights.h5                               | not an HDF5 file        |
"""
from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphc
from graphc.saving import FileFormatError, load_model, load_onnx

import seed_models


def read_members(path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as zf:
        return [(i.filename, zf.read(i)) for i in zf.infolist()]


def write_members(path, members) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name)
            zf.writestr(info, data)


def edit(path, fn) -> None:
    members = read_members(path)
    write_members(path, fn(members))


def replace(members, name, data):
    return [(n, data if n == name else d) for n, d in members]


def get(members, name):
    return dict(members)[name]


def edit_json(name, fn):
    def apply(members):
        obj = json.loads(get(members, name))
        fn(obj)
        return replace(members, name, json.dumps(obj).encode())
    return apply


def npy(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


class _Evil:
    sentinel = ""

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


# -- archive cases: (mutator(path, tmp_path), expected message) ------------------------------------------
def truncated_zip(path, tmp):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def not_a_zip(path, tmp):
    path.write_bytes(b"\x89HDF\r\n\x1a\nthis is not a zip archive")


def corrupted_entry(path, tmp):
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("weights/00000.npy")
        offset = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    data = bytearray(path.read_bytes())
    data[offset:offset + 16] = bytes(16)
    path.write_bytes(bytes(data))


def unknown_layer_class(path, tmp):
    edit(path, edit_json("config.json", lambda c: c["model"]["config"]["layers"][1].update(class_name="EvilLayer")))


def dotted_class_name(path, tmp):
    edit(path, edit_json("config.json", lambda c: c["model"]["config"]["layers"][1].update(class_name="os.system")))


def wrong_weight_shape(path, tmp):
    def fn(members):
        manifest = json.loads(get(members, "weights/manifest.json"))
        manifest[0]["shape"] = [10, 64]
        members = replace(members, "weights/manifest.json", json.dumps(manifest).encode())
        return replace(members, manifest[0]["file"], npy(np.zeros((10, 64), np.float32)))
    edit(path, fn)


def header_manifest_mismatch(path, tmp):
    edit(path, lambda m: replace(m, "weights/00000.npy", npy(np.zeros((784, 32), np.float32))))


def member_escapes_folder(path, tmp):
    edit(path, lambda m: m + [("../x", b"escaped")])


def absolute_member(path, tmp):
    edit(path, lambda m: m + [("/tmp/x", b"escaped")])


def pickle_npy(path, tmp):
    _Evil.sentinel = str(tmp / "pwned")
    edit(path, lambda m: replace(m, "weights/00000.npy", npy(np.array([_Evil()], dtype=object))))


def truncated_npy(path, tmp):
    edit(path, lambda m: replace(m, "weights/00000.npy", get(m, "weights/00000.npy")[:-100]))


def invalid_json(path, tmp):
    edit(path, lambda m: replace(m, "config.json", b'{"model": {"class_name": "Functional", '))


def nan_json(path, tmp):
    edit(path, lambda m: replace(m, "config.json", b'{"model": NaN}'))


def future_version(path, tmp):
    edit(path, edit_json("metadata.json", lambda c: c.update(format_version=99)))


def dangling_tensor_ref(path, tmp):
    edit(path, edit_json("config.json", lambda c: c["model"]["config"]["nodes"][1]["args"]["tuple"][0].update(
        tensor=["dense", 7, 0])))


def missing_weight(path, tmp):
    edit(path, edit_json("weights/manifest.json", lambda m: m.pop()))


def deep_json(path, tmp):
    edit(path, lambda m: replace(m, "config.json", b'{"model": ' + b"[" * 100000 + b"]" * 100000 + b"}"))


def layer_config_rejected(path, tmp):
    edit(path, edit_json("config.json", lambda c: c["model"]["config"]["layers"][1]["config"].update(units=-3)))


def incompatible_call(path, tmp):
    edit(path, edit_json("config.json", lambda c: c["model"]["config"]["layers"][0]["config"].update(
        dtype="int32")))


def duplicate_member(path, tmp):
    edit(path, lambda m: m + [("config.json", get(m, "config.json"))])


ARCHIVE_CASES = [
    (truncated_zip, "truncated or corrupted"),
    (not_a_zip, "not a graphc archive"),
    (corrupted_entry, "truncated or corrupted"),
    (unknown_layer_class, "unknown layer class 'EvilLayer'"),
    (dotted_class_name, "unknown layer class 'os.system'"),
    (wrong_weight_shape, r"has shape \(10, 64\) in the file, the model expects \(784, 64\)"),
    (header_manifest_mismatch, "the manifest says"),
    (member_escapes_folder, "leaves the archive's folder"),
    (absolute_member, "leaves the archive's folder"),
    (pickle_npy, "object arrays would need pickle"),
    (truncated_npy, "truncated or corrupted"),
    (invalid_json, "not valid JSON"),
    (nan_json, "not valid JSON"),
    (future_version, "format_version 99 is not supported"),
    (dangling_tensor_ref, "names no earlier layer call"),
    (missing_weight, "do not match"),
    (duplicate_member, "appears twice"),
    (deep_json, "not valid JSON"),
    (layer_config_rejected, "from_config failed"),
    (incompatible_call, "calling layer 'dense' on the saved inputs failed"),
]


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("mutate,message", ARCHIVE_CASES, ids=[c[0].__name__ for c in ARCHIVE_CASES])
def test_hostile_archive_refused(mutate, message, tmp_path):
    model, x = seed_models.mlp()
    path = tmp_path / "m.graphc"
    model.save(path)
    mutate(path, tmp_path)
    hostile = path.read_bytes()
    with pytest.raises(FileFormatError, match=message):
        load_model(path)
    assert path.read_bytes() == hostile  # the file is not touched
    assert not (tmp_path / "pwned").exists()  # nothing in it ran
    assert sorted(os.listdir(tmp_path)) == ["m.graphc"]  # nothing extracted
    # load_weights refuses the same file and leaves the model's weights as they were
    if mutate not in (unknown_layer_class, dotted_class_name, dangling_tensor_ref, invalid_json, nan_json, deep_json,
                      layer_config_rejected, incompatible_call):
        before = model.get_weights()
        with pytest.raises(FileFormatError):
            model.load_weights(path)
        for a, b in zip(before, model.get_weights()):
            np.testing.assert_array_equal(a, b)
    assert not (tmp_path / "pwned").exists()


# -- ONNX external data ----------------------------------------------------------------------------------
def _onnx_with_external(folder, location):
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4])
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", "16")):
        entry = w.external_data.add()
        entry.key, entry.value = k, v
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize("case", ["onnx_external_parent", "onnx_external_absolute", "onnx_external_symlink"])
def test_onnx_external_data_outside_folder_refused(case, tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(4, dtype=np.float32).tobytes())
    folder = tmp_path / "models"
    folder.mkdir()
    if case == "onnx_external_parent":
        path, message = _onnx_with_external(folder, "../secret.bin"), "leaves the model's folder"
    elif case == "onnx_external_absolute":
        path, message = _onnx_with_external(folder, str(secret)), "leaves the model's folder"
    else:
        os.symlink(secret, folder / "link.bin")
        path, message = _onnx_with_external(folder, "link.bin"), "outside the model's folder"
    with pytest.raises(FileFormatError, match=message):
        load_onnx(path)
    # graphc's ONNX importer refuses it too, through the same check
    from graphc.onnx import import_model

    with pytest.raises(ValueError, match="outside|absolute|leaves the model's folder"):
        import_model(path)


def test_onnx_external_data_inside_folder_loads(tmp_path):
    (tmp_path / "w.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    model = load_onnx(_onnx_with_external(tmp_path, "w.bin"))
    np.testing.assert_array_equal(numpy_helper.to_array(model.graph.initializer[0]), np.arange(4, dtype=np.float32))


def test_onnx_not_a_model(tmp_path):
    path = tmp_path / "x.onnx"
    path.write_bytes(b"\xff\xff\xff garbage")
    with pytest.raises(FileFormatError, match="not a valid ONNX model"):
        load_onnx(path)


# -- Keras .weights.h5 -----------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["h5_wrong_shape", "h5_external_link", "h5_not_hdf5"])
def test_hostile_h5_refused(case, tmp_path):
    h5py = pytest.importorskip("h5py")
    model, _ = seed_models.mlp()
    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    if case == "h5_wrong_shape":
        with h5py.File(path, "a") as f:
            del f["layers/dense/vars/0"]
            f["layers/dense/vars/0"] = np.zeros((10, 64), np.float32)
        message = r"has shape \(10, 64\) in the file, the model expects \(784, 64\)"
    elif case == "h5_external_link":
        with h5py.File(tmp_path / "other.h5", "w") as f:
            f["secret"] = np.zeros((784, 64), np.float32)
        with h5py.File(path, "a") as f:
            del f["layers/dense/vars/0"]
            f["layers/dense/vars/0"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/secret")
        message = "is a link"
    else:
        model.save(tmp_path / "m.graphc")
        path.write_bytes((tmp_path / "m.graphc").read_bytes())
        message = "not an HDF5 file"
    before = model.get_weights()
    with pytest.raises(FileFormatError, match=message):
        model.load_weights(path)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
