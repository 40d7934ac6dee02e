"""IR <-> ONNX."""
from .export import DEFAULT_IR_VERSION, DEFAULT_OPSET, check, onnx_dtype, save_model, to_onnx
from .importer import import_model, supported_ops
from .optimize import optimize

__all__ = ["DEFAULT_IR_VERSION", "DEFAULT_OPSET", "check", "import_model", "onnx_dtype", "optimize", "save_model",
           "supported_ops", "to_onnx"]
