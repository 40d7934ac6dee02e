"""``graphc.onnx.optimize``: import an ONNX file, run the pass pipeline, write it back.

Also registers the ``.onnx`` stage writer that debug mode's ``StageDumper`` uses (``passes``
cannot import this package: the layering arrows point down).
"""
from __future__ import annotations

import os

import onnx

from passes.debug import register_stage_writer
from passes.pipeline import run_pipeline

from .export import DEFAULT_IR_VERSION, check, save_model, to_onnx
from .importer import import_model, model_opset


def _write_stage_onnx(graph, base: str) -> str:
    path = base + ".onnx"
    onnx.save_model(to_onnx(graph), path)
    return path


register_stage_writer("onnx", _write_stage_onnx)


def optimize(src, dst: str | None = None, level: int = 2, debug: bool | None = None,
             target: str = "onnx", allow_contrib: bool = False, dump_dir: str | None = None,
             opset: int | None = None, ir_version: int | None = None, print_table: bool | None = None,
             return_report: bool = False):
    """Optimizes an ONNX model graphc did not build.

    Args:
        src: input path, bytes or ModelProto.
        dst: output path; nothing is written when None.
        level: pipeline level 0-3 (see ``passes.pipeline``).
        debug: verify and check numbers after every pass, dump every stage and print the table;
            ``None`` reads ``GRAPHC_DEBUG``.
        target, allow_contrib: "onnxruntime" with ``allow_contrib=True`` enables com.microsoft
            fusions at level 3.
        dump_dir: write the stages here (implies dumping even outside debug mode).
        opset: default-domain opset of the output (the input's, within 13-21, by default).
        ir_version: ONNX IR version of the output (the input's, at most 10, by default 9).
        print_table: print the pass table (default: in debug mode).
        return_report: also return the PassManager (its ``records`` and ``dump_dir``).

    Returns:
        The optimized ModelProto (and the PassManager when ``return_report``).
    """
    model = onnx.load(os.fspath(src)) if isinstance(src, (str, os.PathLike)) else (
        onnx.load_from_string(bytes(src)) if isinstance(src, (bytes, bytearray)) else src)
    graph = import_model(model)
    out_graph, manager = run_pipeline(graph, level, debug, export=True, target=target, allow_contrib=allow_contrib,
                                      dump_dir=dump_dir, print_table=print_table, op_counts=return_report)
    if ir_version is None:
        ir_version = min(10, max(DEFAULT_IR_VERSION, model.ir_version))
    proto = to_onnx(out_graph, opset=opset or model_opset(model), ir_version=ir_version,
                    producer="graphc.onnx.optimize")
    if dst is not None:
        check(proto)
        save_model(proto, os.fspath(dst))
    return (proto, manager) if return_report else proto
