"""FuseTransposeIntoGemm: a 2-D Transpose feeding Gemm's (or a 2-D MatMul's) A or B becomes Gemm's
trans flag (onnxruntime's "GemmTransposeFusion" / "MatmulTransposeFusion", in standard ONNX).

Rewrites:
    Gemm(Transpose(a, perm=(1, 0)), b, c){transA=t} -> Gemm(a, b, c){transA=1-t}
    Gemm(a, Transpose(b, perm=(1, 0)), c){transB=t} -> Gemm(a, b, c){transB=1-t}
    MatMul(Transpose(a), b) / MatMul(a, Transpose(b)), float, rank 2 -> Gemm(a, b){transA / transB}
        (the pattern gradient graphs are full of: dA = dY @ B^T, dB = A^T @ dY)
The Transpose is removed once nothing else reads it.
"""
from __future__ import annotations

from graphc.ir import Graph, is_float

from .rewrite import NoMatch, RewritePass, add_op, replace_node


def _is_transpose_2d(v) -> bool:
    n = v.node
    if n.op != "Transpose" or n.inputs[0].type.rank != 2:
        return False
    perm = n.attrs.get("perm")
    return perm is None or tuple(perm) == (1, 0)


class FuseTransposeIntoGemm(RewritePass):
    ops = ("Gemm", "MatMul")

    def rewrite(self, graph: Graph, node, m):
        inputs, attrs, n = m
        gemm = add_op(graph, "Gemm", inputs, attrs, node.scope)
        replace_node(graph, node, gemm.outputs)
        return n

    def match(self, graph: Graph, node):
        if node.op == "MatMul":
            a, b = node.inputs
            if a.type.rank != 2 or b.type.rank != 2 or not is_float(a.dtype):
                return NoMatch("MatMul is not a float 2-D product")
        inputs, attrs, n = list(node.inputs), dict(node.attrs), 0
        for port, flag in ((0, "transA"), (1, "transB")):
            if _is_transpose_2d(inputs[port]):
                inputs[port] = inputs[port].node.inputs[0]
                attrs[flag] = 0 if attrs.get(flag, 0) else 1
                if not attrs[flag]:
                    del attrs[flag]
                n += 1
        if not n:
            return NoMatch("neither A nor B is a 2-D Transpose")
        return inputs, attrs, n
