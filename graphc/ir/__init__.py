"""graphc's IR: Graph, Node, Value, TensorType, Variable, verify and the text printer."""
from .graph import SOURCE_OPS, Graph, Node, Value
from .layout import ParamLayout, chunk_name, param_value
from .printer import format_graph, format_node
from .types import DTYPES, TensorType, as_dtype, broadcast_shapes, format_shape, is_float
from .variable import Variable
from .verify import IRError, verify

__all__ = [
    "DTYPES", "Graph", "IRError", "Node", "ParamLayout", "SOURCE_OPS", "TensorType", "Value", "Variable",
    "as_dtype", "broadcast_shapes", "chunk_name", "format_graph", "format_node", "format_shape", "is_float", "param_value",
    "verify",
]
