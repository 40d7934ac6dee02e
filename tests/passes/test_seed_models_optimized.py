"""The seed models (SEEDS.md) and ResNet50 exported at level 2: fewer ONNX nodes than the plain
(level 0) export and the same outputs on onnxruntime."""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "saving"))
import seed_models  # noqa: E402


#: Embedding lookups and an Add: no pass has anything to remove (the id range checks lower to Identity).
NOTHING_TO_FUSE = {"shared_embedding"}


def _run(path, x):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    xs = x if isinstance(x, (list, tuple)) else [x]
    return sess.run(None, {i.name: a for i, a in zip(sess.get_inputs(), xs)})


def _compare(model, x, tmp_path):
    plain, opt = str(tmp_path / "plain.onnx"), str(tmp_path / "opt.onnx")
    model.export(plain, level=0)
    model.export(opt, level=2)
    n_plain, n_opt = len(onnx.load(plain).graph.node), len(onnx.load(opt).graph.node)
    for a, b in zip(_run(plain, x), _run(opt, x)):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    return n_plain, n_opt


@pytest.mark.parametrize("name", sorted(seed_models.BUILDERS))
def test_seed_model_level2_export(name, tmp_path):
    try:
        model, x = seed_models.BUILDERS[name]()
    except (ImportError, AttributeError) as e:
        pytest.skip(f"{name}: {e}")
    n_plain, n_opt = _compare(model, x, tmp_path)
    if name in NOTHING_TO_FUSE:
        assert n_opt <= n_plain
    else:
        assert n_opt < n_plain, f"{name}: {n_opt} nodes at level 2, {n_plain} plain"


@pytest.mark.slow
def test_resnet50_level2_export(tmp_path):
    from graphc.applications import ResNet50

    model = ResNet50(weights=None)
    x = np.random.default_rng(0).random((1, 224, 224, 3), dtype=np.float32)
    n_plain, n_opt = _compare(model, x, tmp_path)
    assert n_opt < n_plain // 3
