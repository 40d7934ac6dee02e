"""IR -> IR transforms, autodiff and the PassManager."""
from .base import FixedPoint, Pass, PassManager, PassRecord, PassResult
from .eliminate_dead_code import EliminateDeadCode
from .pipeline import optimize, pipeline

__all__ = ["EliminateDeadCode", "FixedPoint", "Pass", "PassManager", "PassRecord", "PassResult", "optimize",
           "pipeline"]
