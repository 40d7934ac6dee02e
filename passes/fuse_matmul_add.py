"""FuseMatMulAdd: a rank-2 MatMul followed by a bias Add becomes one Gemm (onnxruntime's
"MatMulAddFusion").

Rewrites:
    Add(MatMul(x, w), b) -> Gemm(x, w, b)
    Add(b, MatMul(x, w)) -> Gemm(x, w, b)
when x and w have rank 2, the dtype is float, the MatMul result feeds only this Add, and b
broadcasts to the (M, N) result without changing it (Gemm's C broadcasts one way only). MatMuls
of rank > 2 are left alone: Gemm is rank-2 only.
"""
from __future__ import annotations

from graphc.ir import Graph, broadcast_shapes, is_float

from .rewrite import Match, NoMatch, RewritePass, add_op, replace_node, single_use


class FuseMatMulAdd(RewritePass):
    ops = ("Add",)

    def rewrite(self, graph: Graph, node, m):
        mm = m.values["matmul"]
        gemm = add_op(graph, "Gemm", [mm.inputs[0], mm.inputs[1], m.values["bias"]], {}, node.scope)
        replace_node(graph, node, gemm.outputs)

    def match(self, graph: Graph, node):
        last = NoMatch("no operand is a MatMul")
        for pos in (0, 1):
            v = node.inputs[pos]
            if v.node.op != "MatMul":
                continue
            mm, bias = v.node, node.inputs[1 - pos]
            x, w = mm.inputs
            if x.type.rank != 2 or w.type.rank != 2:
                last = NoMatch(f"MatMul operands have ranks {x.type.rank} and {w.type.rank}; Gemm needs 2")
                continue
            if not is_float(x.dtype):
                last = NoMatch(f"Gemm needs a float dtype, MatMul has {x.dtype}")
                continue
            if not single_use(graph, v):
                last = NoMatch("the MatMul result has other uses")
                continue
            if bias.type.rank > 2:
                last = NoMatch(f"bias of rank {bias.type.rank} cannot be Gemm's C")
                continue
            try:
                out = broadcast_shapes(v.shape, bias.shape)
            except ValueError:
                last = NoMatch("bias does not broadcast")
                continue
            if out != v.shape or node.outputs[0].shape != v.shape:
                last = NoMatch(f"bias {bias.type} would change the result shape {v.type}")
                continue
            return Match({"matmul": mm, "bias": bias})
        return last
