import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphc.onnx as gx
from graphc.__main__ import main
from graphc.ops.interpreter import evaluate

rng = np.random.default_rng(0)
W = rng.standard_normal((4, 3)).astype(np.float32)
B = rng.standard_normal(3).astype(np.float32)


def _model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "m", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _mlp(opset=17):
    """MatMul + Add + Relu with a Transpose of a weight, an Identity and a constant-shape Reshape."""
    nodes = [
        helper.make_node("Transpose", ["wt"], ["w"], perm=[1, 0]),
        helper.make_node("MatMul", ["x", "w"], ["mm"]),
        helper.make_node("Add", ["mm", "b"], ["y"]),
        helper.make_node("Identity", ["y"], ["yi"]),
        helper.make_node("Relu", ["yi"], ["r"]),
        helper.make_node("Reshape", ["r", "shape"], ["out"]),
    ]
    inits = [numpy_helper.from_array(W.T.copy(), "wt"), numpy_helper.from_array(B, "b"),
             numpy_helper.from_array(np.array([-1, 3], np.int64), "shape")]
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                  [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 3])], inits, opset)


def _run(model, feeds):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def test_import_maps_nodes_and_keeps_numbers():
    g = gx.import_model(_mlp())
    assert g.inputs[0].shape == ("N", 4) and g.output_names == ["out"]
    assert g.count_ops() == {"Transpose": 1, "MatMul": 1, "Add": 1, "Identity": 1, "Relu": 1, "Reshape": 1}
    (reshape,) = [n for n in g.nodes if n.op == "Reshape"]
    assert reshape.attrs["shape"] == (-1, 3)  # the constant shape input became the IR attribute
    x = rng.standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(evaluate(g, {"x": x})[0], _run(_mlp(), {"x": x})[0], rtol=1e-5, atol=1e-6)


def test_optimize_file_roundtrip(tmp_path):
    src, dst = tmp_path / "in.onnx", tmp_path / "out.onnx"
    onnx.save(_mlp(), src)
    proto = gx.optimize(str(src), str(dst), level=2)
    out = onnx.load(dst)
    onnx.checker.check_model(out, full_check=True)
    assert [n.op_type for n in out.graph.node] == ["Gemm", "Relu"]
    assert len(out.graph.node) < len(_mlp().graph.node) and proto.graph.node[0].op_type == "Gemm"
    x = rng.standard_normal((7, 4)).astype(np.float32)
    np.testing.assert_allclose(_run(out, {"x": x})[0], _run(_mlp(), {"x": x})[0], rtol=1e-5, atol=1e-6)


def test_unsupported_ops_are_listed():
    nodes = [helper.make_node("Unique", ["x"], ["u"]), helper.make_node("Det", ["u"], ["d"]),
             helper.make_node("Relu", ["d"], ["y"])]
    m = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
               [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    with pytest.raises(NotImplementedError, match="graphc cannot import ops: Det, Unique"):
        gx.import_model(m)


def test_runtime_shape_becomes_dyn_reshape():
    nodes = [helper.make_node("Reshape", ["x", "s"], ["y"])]
    m = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6]),
                       helper.make_tensor_value_info("s", TensorProto.INT64, [2])],
               [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    g = gx.import_model(m)
    assert g.count_ops() == {"DynReshape": 1}


def test_shape_subgraphs_of_static_values_become_attributes():
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"])]
    inits = [numpy_helper.from_array(np.array(0, np.int64), "zero"),
             numpy_helper.from_array(np.array([0], np.int64), "axes"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus1")]
    m = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
               [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    opt = gx.optimize(m, level=1)
    assert [n.op_type for n in opt.graph.node] == ["Reshape"]
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(_run(opt, {"x": x})[0], x.reshape(2, 12))


def test_opsets_outside_13_to_21():
    newer = _mlp(opset=23)  # these ops only gained types after opset 21
    assert gx.import_model(newer).count_ops()["MatMul"] == 1
    older = _model([helper.make_node("Unsqueeze", ["x"], ["y"], axes=[0])],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], opset=11)
    g = gx.import_model(older)
    (n,) = [n for n in g.nodes if n.op == "Unsqueeze"]
    assert n.attrs["axes"] == (0,)


def test_params_option_makes_float_initializers_parameters():
    g = gx.import_model(_mlp(), params=True)
    assert sorted(p.attrs["variable"].name for p in g.params()) == ["b", "wt"]


def test_cli_inspect_prints_the_table_and_dumps(tmp_path, capsys):
    src = tmp_path / "m.onnx"
    onnx.save(_mlp(), src)
    assert main(["inspect", str(src), "--level", "2", "--dump-dir", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "FuseMatMulAdd" in text and "nodes" in text and "what changed" in text
    dumped = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "00_input.txt" in dumped and "00_input.onnx" in dumped and any("FuseMatMulAdd" in d for d in dumped)


def test_cli_reports_unsupported_ops(tmp_path, capsys):
    m = _model([helper.make_node("Det", ["x"], ["y"])], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
               [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])])
    onnx.save(m, tmp_path / "det.onnx")
    assert main(["optimize", str(tmp_path / "det.onnx"), str(tmp_path / "o.onnx")]) == 2
    assert "Det" in capsys.readouterr().err
