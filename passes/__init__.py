"""IR -> IR transforms, autodiff and the PassManager."""
# Importing graphc.ir (as every pass does) runs graphc's package init, which registers debug mode's
# stage writers in passes.debug; started from here, halfway through this package, that failed. So
# graphc's init runs first, whichever of the two a program imports first. It loads nothing more.
import graphc as _graphc  # noqa: F401
from .base import FixedPoint, FixedPointError, Instrument, Pass, PassManager, PassRecord, PassResult
from .debug import NumericsCheck, NumericsError, OpCountDiff, StageDumper, format_table, register_stage_writer
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
from .pipeline import LAYOUT_PASSES, optimize, pipeline, run_pipeline
from .reuse_max_pool_indices import ReuseMaxPoolIndices

__all__ = [
    "EliminateCommonSubexpressions", "EliminateDeadCode", "EliminateIdentity", "FixedPoint", "FixedPointError",
    "FoldConstants", "FoldConvBatchNorm", "FoldExpandIntoBroadcast", "FoldNegIntoConstant", "FoldNegIntoSub",
    "FoldSqueezeIntoReduce", "FuseActivations", "FuseConsecutiveGathers", "FuseConsecutiveReshapes",
    "FuseConvAddBias", "FuseMatMulAdd", "FuseMatMulScale", "FusePadIntoConv", "FuseTransposeIntoGemm",
    "InferShapes", "Instrument", "LAYOUT_PASSES", "MaskBeforeMaxUnpool", "NumericsCheck", "NumericsError",
    "OpCountDiff", "Pass", "PassManager", "PassRecord", "PassResult", "ReuseMaxPoolIndices", "StageDumper",
    "format_table", "optimize", "pipeline", "register_stage_writer", "run_pipeline",
]
