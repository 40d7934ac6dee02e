"""ConvsToNchwc: a CPU training step's convolutions run on onnxruntime's NCHWc kernels.

onnxruntime's CPU provider has convolution kernels for a channel-blocked layout (domain
``com.microsoft.nchwc``, see ``graphc.ops.contrib``) that are much faster than its NCHW Conv and
ConvTranspose on the shapes CNNs train with; its own NchwcTransformer uses them only when the
weights are constant, which they are not in a training step. The kernels read the weights as an
ordinary input, so this pass feeds them the step's weights permuted by one small Gather each.

Rewrites (B = the machine's block size, ``runtime.providers.nchwc_block_size``):
    Conv(X, W, b)                -> ReorderOutput(NchwcConv(ReorderInput(X), Wb, b))
    ConvTranspose(dY, W, b)      -> ReorderOutput(NchwcConv(ReorderInput(dY), Wt, b){pads = K-1-pads})
    Relu(ReorderOutput(NchwcConv(...))) -> ReorderOutput(NchwcConv(...){activation=Relu})
    ReorderInput(ReorderOutput(T)) -> T  (a blocked result read by the next convolution)
where Wb is W permuted by a cheap transpose and a gather of B-float rows
(``nchwc_filter_rows``) and Wt likewise the transposed, flipped kernel: a
stride-1 ConvTranspose (every Conv's input gradient) is the Conv of its input with that kernel.
Fires for float32, group 1 or depthwise (group = input = output channels, onnxruntime's
depthwise NCHWc kernel), dilation 1 and channel counts that are multiples of B; a ConvTranspose
also needs stride 1, no output padding and pads below the kernel. Measured on W3's
shapes (2 threads, AVX-512): forward 30x30x32 -> 64 Conv 21-23 -> 15-17 ms, its input gradient
25-27 -> 16-20 ms, each 9x9x64 Conv 7.5-7.9 -> 3.7 ms. Layers with fewer than B input channels
stay NCHW (no gain measured on the 3-channel input layer).

The result is onnxruntime-specific: the pass runs only on the CPU step graph graphc executes
itself (``Trainer``), never on exported graphs.
"""
from __future__ import annotations

from graphc.ir import Graph
from graphc.ops.contrib import nchwc_filter_rows
from graphc.ops.conv import conv_attrs

from .base import PassResult
from .rewrite import (Match, NoMatch, RewritePass, add_constant, add_op, prune, replace_node, single_use,
                      topological_nodes)


class ConvsToNchwc(RewritePass):
    ops = ("Conv", "ConvTranspose")
    stat = "convs"

    def __init__(self, block: int):
        super().__init__()
        if block < 4 or block & (block - 1):
            raise ValueError(f"block must be a power of two >= 4, received {block}")
        self.block = int(block)

    def match(self, graph: Graph, node):
        x, w = node.inputs[0], node.inputs[1]
        if x.dtype != "float32" or w.dtype != "float32":
            return NoMatch(f"onnxruntime's NCHWc kernels are float32, not {x.dtype}")
        if len(x.shape) != 4 or len(w.shape) != 4 or not all(isinstance(d, int) for d in w.shape):
            return NoMatch(f"needs a 2-D convolution with a static weight shape, received X {x}, W {w.type}")
        a = conv_attrs(w.shape, **node.attrs)
        g = a["group"]
        # Conv weight (O, I/g, KH, KW); ConvTranspose weight (I, O/g, KH, KW)
        c_out, c_in = (w.shape[0], w.shape[1] * g) if node.op == "Conv" else (w.shape[1] * g, w.shape[0])
        depthwise = g > 1 and g == c_in == c_out
        if (g != 1 and not depthwise) or a["dilations"] != (1, 1):
            return NoMatch(f"group {g} / dilations {a['dilations']}: the rewrite covers group 1 and depthwise "
                           "(group = channels), dilation 1")
        if c_in % self.block or c_out % self.block:
            return NoMatch(f"{c_in} input / {c_out} output channels are not multiples of the block {self.block}")
        if node.op == "Conv":
            return Match({"pads": a["pads"], "attrs": a})
        if a["strides"] != (1, 1) or a["output_padding"] != (0, 0):
            return NoMatch(f"a ConvTranspose with strides {a['strides']}, output padding {a['output_padding']} is "
                           "not a stride-1 Conv")
        k = a["kernel_shape"] * 2
        pads = tuple(kk - 1 - p for kk, p in zip(k, a["pads"]))
        if min(pads) < 0:
            return NoMatch(f"pads {a['pads']} exceed the kernel {a['kernel_shape']}")
        return Match({"pads": pads, "attrs": a})

    def rewrite(self, graph: Graph, node, m):
        x, w = node.inputs[0], node.inputs[1]
        bias = node.inputs[2] if len(node.inputs) > 2 else None
        transpose = node.op == "ConvTranspose"
        a = m.values["attrs"]
        g = a["group"]
        o, i = (w.shape[1] * g, w.shape[0] // g) if transpose else (w.shape[0], w.shape[1])  # the Conv's filter
        s, block = node.scope, self.block
        view, perm, rows = nchwc_filter_rows(w.shape, block, transpose=transpose, group=g)
        t = add_op(graph, "Transpose", [add_op(graph, "Reshape", [w], {"shape": view}, s).output], {"perm": perm}, s)
        flat = add_op(graph, "Reshape", [t.output], {"shape": (-1, block)}, s).output
        picked = add_op(graph, "Gather", [flat, add_constant(graph, rows, s)], {"axis": 0}, s).output
        wb = add_op(graph, "Reshape", [picked], {"shape": (o, i) + tuple(a["kernel_shape"])}, s).output
        xb = add_op(graph, "NchwcReorderInput", [x], {"block": block}, s).output
        attrs = {"block": block, "kernel_shape": tuple(a["kernel_shape"]), "pads": tuple(m.values["pads"]),
                 "strides": tuple(a["strides"]), "group": g}
        yb = add_op(graph, "NchwcConv", [xb, wb] + ([bias] if bias is not None else []), attrs, s).output
        y = add_op(graph, "NchwcReorderOutput", [yb], {"channels": o, "block": block}, s).output
        if y.type != node.outputs[0].type:
            raise AssertionError(f"ConvsToNchwc changed {node.op}'s type {node.outputs[0].type} to {y.type}")
        replace_node(graph, node, [y])

    def run(self, graph: Graph) -> PassResult:
        result = super().run(graph)
        fused = self._fuse_relus(graph)
        # a convolution reading another's result takes the blocked tensor straight away
        cancelled = 0
        for node in topological_nodes(graph):
            if node.id not in graph.nx or node.op != "NchwcReorderInput":
                continue
            src = node.inputs[0].node
            if src.op == "NchwcReorderOutput" and src.inputs[0].type == node.outputs[0].type:
                graph.replace_all_uses(node.outputs[0], src.inputs[0])
                prune(graph, [node])
                cancelled += 1
        result.stats.update(relus_fused=fused, reorders_cancelled=cancelled)
        return PassResult(graph, result.modified or fused > 0 or cancelled > 0, result.stats)

    @staticmethod
    def _fuse_relus(graph: Graph) -> int:
        """Relu(ReorderOutput(NchwcConv(...))) -> ReorderOutput(NchwcConv(...){activation=Relu}): the
        kernel applies it while the block is in registers, and the next convolution can read the
        blocked result (the Relu's gradient reads the NCHW result, which the ReorderOutput keeps)."""
        fused = 0
        for node in topological_nodes(graph):
            if node.id not in graph.nx or node.op != "Relu":
                continue
            out = node.inputs[0]
            if out.node.op != "NchwcReorderOutput" or not single_use(graph, out):
                continue
            conv = out.node.inputs[0].node
            if conv.op != "NchwcConv" or conv.attrs.get("activation") or not single_use(graph, conv.outputs[0]):
                continue
            new = add_op(graph, "NchwcConv", list(conv.inputs), dict(conv.attrs, activation="Relu"), conv.scope)
            y = add_op(graph, "NchwcReorderOutput", [new.output], out.node.attrs, out.node.scope).output
            replace_node(graph, node, [y])
            fused += 1
        return fused
