"""Named pipelines by optimization level, and ``optimize``.

    0  nothing
    1  cleanup: InferShapes, then to a fixed point FoldConstants, EliminateIdentity,
       FoldExpandIntoBroadcast, FoldNegIntoConstant, FoldNegIntoSub, FoldSqueezeIntoReduce,
       FuseConsecutiveGathers, EliminateCommonSubexpressions, EliminateDeadCode
    2  + fusions: CancelTransposes (the channels-last -> NCHW layout clean-up Keras-style models
       need), FuseConsecutiveReshapes, FuseMatMulAdd, FuseTransposeIntoGemm, FoldConvBatchNorm,
       FuseConvAddBias, FusePadIntoConv, ReuseMaxPoolIndices and MaskBeforeMaxUnpool (training
       graphs), with the cleanup passes, to a fixed point
    3  + further layout passes (``LAYOUT_PASSES``) and target-specific rewrites: with
       ``target="onnxruntime"`` and ``allow_contrib=True``, the com.microsoft fusions FusedConv /
       FusedGemm / FusedMatMul

Any level (with ``target="onnxruntime"``) may end with ``ConvsToNchwc(nchwc_block)``: convolutions
on onnxruntime's NCHWc CPU kernels, for graphs graphc runs itself on a machine that has them
(``runtime.providers.nchwc_block_for``); never in exports.

Every group is a ``FixedPoint`` with a step bound (``max_steps``).
"""
from __future__ import annotations

from dataclasses import dataclass

from graphc.ir import Graph

from .base import FixedPoint, PassManager
from .cancel_transposes import CancelTransposes
from .debug import NumericsCheck, OpCountDiff, StageDumper, debug_enabled, default_dump_dir, format_table
from .eliminate_common_subexpressions import EliminateCommonSubexpressions
from .eliminate_dead_code import EliminateDeadCode
from .eliminate_identity import EliminateIdentity
from .fold_constants import FoldConstants
from .fold_conv_batch_norm import FoldConvBatchNorm
from .fold_expand_into_broadcast import FoldExpandIntoBroadcast
from .fold_neg_into_constant import FoldNegIntoConstant
from .fold_neg_into_sub import FoldNegIntoSub
from .fold_squeeze_into_reduce import FoldSqueezeIntoReduce
from .fuse_activations import FuseActivations
from .fuse_consecutive_gathers import FuseConsecutiveGathers
from .fuse_consecutive_reshapes import FuseConsecutiveReshapes
from .fuse_conv_add_bias import FuseConvAddBias
from .fuse_matmul_add import FuseMatMulAdd
from .fuse_matmul_scale import FuseMatMulScale
from .fuse_pad_into_conv import FusePadIntoConv
from .fuse_transpose_into_gemm import FuseTransposeIntoGemm
from .infer_shapes import InferShapes
from .mask_before_max_unpool import MaskBeforeMaxUnpool
from .nchwc_convs import ConvsToNchwc
from .reuse_max_pool_indices import ReuseMaxPoolIndices

#: Level-3 layout passes (channels-last -> NCHW: sink and cancel Transposes), as classes taking no
#: arguments; each runs in the "layout" fixed-point group with the cleanup passes.
LAYOUT_PASSES: list = []

TARGETS = ("onnx", "onnxruntime")


@dataclass
class PipelineOptions:
    """What the pipeline may assume.

    Attributes:
        level: 0 to 3.
        export: the graph is being exported for deployment: Params may be folded into Constants
            (e.g. a kernel's layout Transpose). Runtime and training graphs feed parameters as
            inputs, so this is False for them.
        target: "onnx" (any runtime) or "onnxruntime".
        allow_contrib: the user allows onnxruntime's com.microsoft ops (with target="onnxruntime").
        max_steps: bound on each fixed-point group.
        strict: reaching a bound is an error (debug mode) rather than a warning.
        nchwc_block: onnxruntime's NCHWc block size on the CPU that will run the graph; above 0,
            the pipeline ends with ``ConvsToNchwc`` (target "onnxruntime", not for export).
    """

    level: int = 1
    export: bool = False
    target: str = "onnx"
    allow_contrib: bool = False
    max_steps: int = 10
    strict: bool = False
    nchwc_block: int = 0


def _cleanup(o: PipelineOptions) -> list:
    return [FoldConstants(include_params=o.export), EliminateIdentity(), FoldExpandIntoBroadcast(),
            FoldNegIntoConstant(), FoldNegIntoSub(), FoldSqueezeIntoReduce(), FuseConsecutiveGathers(),
            EliminateCommonSubexpressions(), EliminateDeadCode()]


def pipeline(level: int = 1, export: bool = False, target: str = "onnx", allow_contrib: bool = False,
             max_steps: int = 10, strict: bool = False, nchwc_block: int = 0) -> list:
    """The passes run at ``level`` (see the module docstring)."""
    if level not in (0, 1, 2, 3):
        raise ValueError(f"level: expected 0, 1, 2 or 3, received {level!r}")
    if target not in TARGETS:
        raise ValueError(f"target: expected one of {TARGETS}, received {target!r}")
    if nchwc_block and (target != "onnxruntime" or export):
        raise ValueError(f"nchwc_block={nchwc_block} makes onnxruntime-specific CPU ops: it needs target='onnxruntime' "
                         f"and export=False, received target={target!r}, export={export}")
    o = PipelineOptions(level, export, target, allow_contrib, max_steps, strict, nchwc_block)
    if level == 0:
        return [ConvsToNchwc(nchwc_block)] if nchwc_block else []
    passes: list = [InferShapes(), FixedPoint(_cleanup(o), max_steps, "cleanup", strict)]
    if level >= 2:
        fusions = [CancelTransposes(), FuseConsecutiveReshapes(), FuseMatMulAdd(), FuseTransposeIntoGemm(),
                   FoldConvBatchNorm(include_params=export), FuseConvAddBias(include_params=export),
                   FusePadIntoConv(), ReuseMaxPoolIndices(), MaskBeforeMaxUnpool()]
        passes.append(FixedPoint(fusions + _cleanup(o), max_steps, "fusions", strict))
    if level >= 3:
        if LAYOUT_PASSES:
            passes.append(FixedPoint([cls() for cls in LAYOUT_PASSES] + _cleanup(o), max_steps, "layout", strict))
        if target == "onnxruntime" and allow_contrib:
            passes.append(FixedPoint([FuseMatMulScale(), FuseActivations()] + _cleanup(o), max_steps, "contrib",
                                     strict))
    if nchwc_block:
        passes.append(ConvsToNchwc(nchwc_block))
    return passes


def run_pipeline(graph: Graph, level: int = 1, debug: bool | None = None, export: bool = False,
                 target: str = "onnx", allow_contrib: bool = False, dump_dir: str | None = None,
                 max_steps: int = 10, print_table: bool | None = None, passes: list | None = None,
                 op_counts: bool = False, nchwc_block: int = 0):
    """Like ``optimize`` but returns ``(graph, manager)``; ``manager.records`` holds the table rows
    and, in debug mode, ``manager.dump_dir`` the stage folder. ``op_counts`` records each pass's
    op-count difference outside debug mode too (debug mode always does)."""
    debug = debug_enabled(debug)
    if passes is None:
        passes = pipeline(level, export, target, allow_contrib, max_steps, strict=debug, nchwc_block=nchwc_block)
    instruments: list = []
    dumper = None
    if debug or op_counts:
        instruments.append(OpCountDiff())
    if debug:
        instruments.append(NumericsCheck())
    if debug or dump_dir:
        dumper = StageDumper(dump_dir or default_dump_dir(graph))
        instruments.append(dumper)
    manager = PassManager(passes, verify_each=debug, instruments=instruments, strict=debug)
    manager.dump_dir = dumper.folder if dumper else None
    out = manager.run(graph)
    if print_table if print_table is not None else debug:
        title = f"graphc passes on {graph.name!r} (level {level})"
        if manager.dump_dir:
            title += f", stages in {manager.dump_dir}"
        print(format_table(manager.records, title))
    return out, manager


def optimize(graph: Graph, level: int = 1, debug: bool | None = None, export: bool = False,
             target: str = "onnx", allow_contrib: bool = False, dump_dir: str | None = None,
             max_steps: int = 10, nchwc_block: int = 0) -> Graph:
    """Runs the level's pipeline on a copy of ``graph`` and returns the optimized copy.

    Args:
        graph: the graph; never mutated.
        level: 0 (none), 1 (cleanup), 2 (+ fusions), 3 (+ layout and target-specific).
        debug: verify IR invariants and numbers after every pass, time and dump every stage and
            print the table; ``None`` reads ``GRAPHC_DEBUG``.
        export: fold Params as constants (deployment export only).
        target: "onnx" or "onnxruntime".
        allow_contrib: allow com.microsoft fusions (with target="onnxruntime", level 3).
        dump_dir: folder for the stage dumps (debug mode picks a fresh one when not given).
        max_steps: bound on each fixed-point group.
        nchwc_block: end with ``ConvsToNchwc`` for onnxruntime's NCHWc kernels of this block size
            (target "onnxruntime"; ``runtime.providers.nchwc_block_for`` gives the machine's).
    """
    return run_pipeline(graph, level, debug, export, target, allow_contrib, dump_dir, max_steps,
                        nchwc_block=nchwc_block)[0]
