"""Compiled graphs: an IR graph lowered to ONNX and loaded into an onnxruntime session.

Parameters are graph inputs fed from the layers' Variables at each run, so one session survives
weight updates; the batch dimension is symbolic, so one session serves every batch size.
"""
from __future__ import annotations

import re

import numpy as np
import onnxruntime as ort

from graphc.ir import Graph
from graphc.onnx import to_onnx
from graphc.ops.checks import feed_checks

from .providers import DISABLED_OPTIMIZERS, providers_for, resolve_device, session_options


class RuntimeFailure(RuntimeError):
    """onnxruntime failed on a graphc graph; the message names the layer scope of the failing node."""


class Executable:
    """A graph ready to run: ``run(feeds)`` takes input arrays by name and returns the outputs."""

    def __init__(self, graph: Graph, device: str | None = "cpu", opset: int = 17, threads: int | None = None):
        self.graph = graph
        self.device = resolve_device(device)
        self.model = to_onnx(graph, opset=opset, params_as_inputs=True)
        n_user = len(graph.inputs)
        self.input_names = [i.name for i in self.model.graph.input[:n_user]]
        param_inputs = [i.name for i in self.model.graph.input[n_user:]]
        self.params = list(zip(param_inputs, [n.attrs["variable"] for n in graph.params()]))
        self.output_names = [o.name for o in self.model.graph.output]
        self._feed_checks = feed_checks(graph)  # host-side checks of the feeds (Embedding id ranges)
        self._node_scopes = {n.name: n.name.rsplit("/", 1)[0] for n in self.model.graph.node}
        if self.device == "cuda":
            from .cuda_kernels import check_cuda_coverage

            # name the op before onnxruntime refuses it (CPU fallback is disabled on CUDA)
            check_cuda_coverage(self.model, what=f"graph {graph.name!r}")
        so = session_options(self.device, threads)
        try:
            self.session = ort.InferenceSession(self.model.SerializeToString(), so,
                                                providers=providers_for(self.device),
                                                disabled_optimizers=DISABLED_OPTIMIZERS)
        except Exception as e:  # onnxruntime raises its own exception types
            raise RuntimeFailure(self._explain(e, "creating the session")) from None

    def param_feeds(self) -> dict:
        return {name: var.value for name, var in self.params}

    def run(self, feeds: dict, outputs: list | None = None) -> list[np.ndarray]:
        for check in self._feed_checks:
            check(feeds)
        all_feeds = dict(feeds)
        all_feeds.update(self.param_feeds())
        try:
            return self.session.run(outputs, all_feeds)
        except Exception as e:
            raise RuntimeFailure(self._explain(e, "running")) from None

    def _explain(self, error: Exception, what: str) -> str:
        text = str(error)
        m = re.search(r"node\.? Name:'([^']*)'", text) or re.search(r"Node \(([^)]*)\)", text)
        where = ""
        if m and m.group(1) in self._node_scopes:
            where = f" in layer scope '{self._node_scopes[m.group(1)]}'"
        return f"onnxruntime failed while {what} graph {self.graph.name!r}{where}: {text}"
