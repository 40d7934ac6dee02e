"""FuseActivations: an activation after Conv or Gemm becomes onnxruntime's contrib FusedConv or
FusedGemm (domain com.microsoft; onnxruntime's "ConvActivationFusion" and "GemmActivationFusion").

Rewrites (act one of Relu, Sigmoid, Tanh, LeakyRelu):
    act(Conv(X, W, B))         -> FusedConv(X, W, B){activation=act, activation_params=[alpha]}
    act(Add(Conv(X, W, B), Z)) -> FusedConv(X, W, B, Z){activation=act}   (a residual connection;
                                  onnxruntime's "ConvAddActivationFusion")
    act(Gemm(A, B, C))         -> FusedGemm(A, B, C){activation=act, activation_alpha=alpha}
when the Conv/Gemm (and Add) result feeds only the next op and Z has the Conv result's type. The pipeline runs this pass only with
``target="onnxruntime"`` and ``allow_contrib=True``: other runtimes do not know these ops.
"""
from __future__ import annotations

from graphc.ir import Graph
from graphc.ops.contrib import CONTRIB_ACTIVATIONS

from .rewrite import NoMatch, RewritePass, add_op, replace_node, single_use


class FuseActivations(RewritePass):
    ops = tuple(CONTRIB_ACTIVATIONS)

    def rewrite(self, graph: Graph, node, m):
        prod, z = m
        attrs = dict(prod.attrs, activation=node.op)
        alpha = float(node.attrs.get("alpha", 0.01))
        if prod.op == "Conv":
            if node.op == "LeakyRelu":
                attrs["activation_params"] = (alpha,)
            ins = list(prod.inputs) + [None] * (3 - len(prod.inputs))
            new = add_op(graph, "FusedConv", ins[:3] + ([z] if z is not None else []), attrs, prod.scope)
        else:
            if node.op == "LeakyRelu":
                attrs["activation_alpha"] = alpha
            new = add_op(graph, "FusedGemm", list(prod.inputs), attrs, prod.scope)
        replace_node(graph, node, new.outputs)

    def match(self, graph: Graph, node):
        """(Conv or Gemm node, Z value or None), or NoMatch(reason)."""
        x = node.inputs[0]
        if x.dtype != "float32":
            return NoMatch(f"onnxruntime's fused kernels are float32, not {x.dtype}")
        if x.node.op == "Add" and single_use(graph, x):
            for pos in (0, 1):
                y, z = x.node.inputs[pos], x.node.inputs[1 - pos]
                if y.node.op == "Conv" and single_use(graph, y) and z.type == y.type and z.node is not y.node:
                    return y.node, z
            return NoMatch("the Add does not join a single-use Conv result with a tensor of its type")
        if x.node.op not in ("Conv", "Gemm"):
            return NoMatch(f"input comes from {x.node.op}, not Conv or Gemm")
        if not single_use(graph, x):
            return NoMatch(f"the {x.node.op} result has other uses")
        return x.node, None
