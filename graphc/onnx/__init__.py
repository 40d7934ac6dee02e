"""IR <-> ONNX."""
from .export import DEFAULT_IR_VERSION, DEFAULT_OPSET, check, onnx_dtype, save_model, to_onnx

__all__ = ["DEFAULT_IR_VERSION", "DEFAULT_OPSET", "check", "onnx_dtype", "save_model", "to_onnx"]
