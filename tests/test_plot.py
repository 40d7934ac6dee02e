"""plot_model on a machine without Graphviz: valid PNG / SVG / PDF / DOT, legible and with shapes."""
from __future__ import annotations

import shutil
import struct
import zlib
from xml.etree import ElementTree

import numpy as np
import pytest

import graphc as keras
from graphc import layers
from graphc.utils import model_to_dot, plot_model
from graphc.utils.graph_layout import layered_layout
from graphc.utils.render_png import FONT, Canvas, decode_png, encode_png
from seed_conv_models import toy_resnet

SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def no_graphviz(monkeypatch):
    """Every test here runs as on a machine without the ``dot`` executable."""
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "dot" else real_which(name, *a, **k))


@pytest.fixture
def no_pillow(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def refuse_pil(name, *args, **kwargs):
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError("Pillow hidden by the test")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse_pil)


def ticket_classifier():
    title = keras.Input(shape=(10000,), name="title")
    text_body = keras.Input(shape=(10000,), name="text_body")
    tags = keras.Input(shape=(100,), name="tags")
    features = layers.concatenate([title, text_body, tags])
    features = layers.Dense(64, activation="relu")(features)
    priority = layers.Dense(1, activation="sigmoid", name="priority")(features)
    department = layers.Dense(4, activation="softmax", name="department")(features)
    return keras.Model(inputs=[title, text_body, tags], outputs=[priority, department], name="ticket_classifier")


def skip_model():
    """The toy ResNet of seed 000."""
    return toy_resnet()


def read_png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    (length,) = struct.unpack(">I", data[8:12])
    assert data[12:16] == b"IHDR" and length == 13
    width, height, depth, color = struct.unpack(">IIBB", data[16:26])
    assert depth == 8 and color in (2, 6)
    return data, width, height


def assert_not_blank(pixels: np.ndarray):
    dark = (pixels.astype(int).sum(axis=2) < 200).mean()
    coloured = (pixels.astype(int).sum(axis=2) < 3 * 250).mean()
    assert 0.005 < dark < 0.5, f"{dark:.4f} of the pixels are dark text/lines"
    assert coloured > 0.05, "boxes should be filled"


@pytest.mark.parametrize("build", [ticket_classifier, skip_model])
def test_png_without_graphviz(tmp_path, build, no_pillow):
    model = build()
    path = tmp_path / f"{model.name}.png"
    assert plot_model(model, str(path), show_shapes=True) == str(path)
    data, width, height = read_png(path)
    n_boxes = len(model.layers)
    assert 200 < width < 4000 and 100 * min(n_boxes, 4) < height < 30 * 200, (width, height)
    # decompress the IDAT chunks by hand and check the scanlines
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        if data[pos + 4:pos + 8] == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    assert len(raw) == height * (1 + 3 * width)
    pixels = decode_png(data)
    assert pixels.shape == (height, width, 3)
    assert_not_blank(pixels)


def test_png_with_pillow_when_installed(tmp_path):
    pil = pytest.importorskip("PIL.Image")
    path = tmp_path / "ticket.png"
    plot_model(ticket_classifier(), str(path), show_shapes=True)
    with pil.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 200
        assert_not_blank(np.asarray(image.convert("RGB")))


@pytest.mark.parametrize("build", [ticket_classifier, skip_model])
def test_svg_without_graphviz(tmp_path, build):
    model = build()
    path = tmp_path / f"{model.name}.svg"
    plot_model(model, str(path), show_shapes=True)
    root = ElementTree.parse(path).getroot()
    assert root.tag == f"{SVG_NS}svg"
    texts = [t.text for t in root.iter(f"{SVG_NS}text")]
    for layer in model.layers:
        assert f"{layer.name} ({type(layer).__name__})" in texts
    nodes = [g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "node"]
    edges = [g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "edge"]
    assert len(nodes) == len(model.layers)
    assert len(edges) == sum(len(n.input_tensors) for layer in model.layers for n in layer._inbound_nodes
                             if not isinstance(layer, keras.InputLayer))


def test_show_shapes_puts_shapes_in_svg_and_dot(tmp_path):
    model = ticket_classifier()
    dot = model_to_dot(model, show_shapes=True)
    assert "Output shape: (None, 20100)" in dot
    assert "Input shape: [(None, 10000), (None, 10000), (None, 100)]" in dot
    assert "(None, 20100)" not in model_to_dot(model)
    plot_model(model, str(tmp_path / "t.svg"), show_shapes=True)
    svg = (tmp_path / "t.svg").read_text()
    assert "Output shape: (None, 20100)" in svg and "Output shape: (None, 4)" in svg
    plot_model(model, str(tmp_path / "plain.svg"))
    assert "(None, 20100)" not in (tmp_path / "plain.svg").read_text()


def test_dot_file_and_options(tmp_path):
    model = ticket_classifier()
    path = tmp_path / "ticket.dot"
    plot_model(model, str(path), show_dtype=True, show_layer_activations=True, show_trainable=True,
               show_layer_names=False, rankdir="LR")
    dot = path.read_text()
    assert dot.startswith('digraph "ticket_classifier" {')
    assert 'rankdir="LR"' in dot
    assert "Activation: softmax" in dot and "Output dtype: float32" in dot and "Trainable: True" in dot
    assert "department (Dense)" not in dot and "label=\"Dense" in dot
    assert dot.count(" -> ") == 6


def test_pdf_without_graphviz_or_pillow(tmp_path, no_pillow):
    path = tmp_path / "ticket.pdf"
    plot_model(ticket_classifier(), str(path))
    data = path.read_bytes()
    assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
    assert b"/Subtype /Image" in data


def test_unknown_extension_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"\.png, \.svg, \.pdf or \.dot"):
        plot_model(ticket_classifier(), str(tmp_path / "model.bmp"))


def test_op_level_picture(tmp_path):
    model = ticket_classifier()
    dot = model_to_dot(model, level="ops", show_shapes=True)
    assert "MatMul (dense)" in dot and "Concat (concatenate)" in dot
    path = tmp_path / "ops.svg"
    plot_model(model, str(path), level="ops", expand_nested=True)
    assert "MatMul (priority)" in path.read_text()
    with pytest.raises(ValueError, match="level"):
        model_to_dot(model, level="bytes")


def test_nested_model_expanded(tmp_path):
    inner_in = keras.Input(shape=(8,), name="inner_in")
    encoder = keras.Model(inner_in, layers.Dense(4, name="inner_dense")(inner_in), name="encoder")
    x_in = keras.Input(shape=(8,), name="x")
    model = keras.Model(x_in, layers.Dense(2, name="head")(encoder(x_in)), name="outer")
    collapsed = model_to_dot(model)
    assert "encoder (Functional)" in collapsed and "inner_dense" not in collapsed
    expanded = model_to_dot(model, expand_nested=True)
    assert 'subgraph "cluster_c0"' in expanded and "inner_dense (Dense)" in expanded
    assert expanded.count(" -> ") == 3  # x -> inner_in -> inner_dense -> head
    plot_model(model, str(tmp_path / "nested.png"), expand_nested=True)
    read_png(tmp_path / "nested.png")


def test_sequential_and_subclassed(tmp_path):
    seq = keras.Sequential([layers.Dense(4), layers.Dense(2)], name="seq")
    assert model_to_dot(seq).count(" -> ") == 1  # unbuilt: the stack in order
    seq.build((None, 3))
    assert "(None, 3)" in model_to_dot(seq, show_shapes=True)

    class Sub(keras.Model):
        def __init__(self):
            super().__init__(name="sub")
            self.a = layers.Dense(8, activation="relu")
            self.b = layers.Dense(2)

        def call(self, x, training=None):
            return self.b(self.a(x))

    sub = Sub()
    with pytest.raises(ValueError, match="built"):
        model_to_dot(sub)
    sub.build((None, 5))
    dot = model_to_dot(sub, show_shapes=True)
    assert f"{sub.a.name} (Dense)" in dot and "Output shape: (None, 8)" in dot and "Output shape: (None, 2)" in dot
    assert dot.count(" -> ") == 2
    plot_model(sub, str(tmp_path / "sub.svg"))


def test_layout_keeps_skip_edges_beside_nodes():
    nodes = ["in", "a", "b", "add"]
    sizes = {n: (60, 20) for n in nodes}
    layout = layered_layout(nodes, sizes, [("in", "a"), ("a", "b"), ("b", "add"), ("in", "add")])
    skip = next(pts for u, v, pts in layout.edges if (u, v) == ("in", "add"))
    # the skip edge passes the ranks of a and b at an x outside their boxes
    for n in ("a", "b"):
        cx, cy = layout.centers[n]
        for x, y in skip[1:-1]:
            if abs(y - cy) <= 10:
                assert abs(x - cx) > 30
    ys = [layout.centers[n][1] for n in nodes]
    assert ys == sorted(ys) and len(set(ys)) == 4


def test_layout_has_no_crossings_for_parallel_chains():
    nodes = ["a1", "b1", "a2", "b2"]
    edges = [("a1", "a2"), ("b1", "b2")]
    layout = layered_layout(nodes, {n: (40, 20) for n in nodes}, edges, rankdir="LR")
    assert (layout.centers["a1"][1] < layout.centers["b1"][1]) == (layout.centers["a2"][1] < layout.centers["b2"][1])
    assert layout.centers["a1"][0] < layout.centers["a2"][0]  # left to right


def test_png_codec_and_font_round_trip():
    canvas = Canvas(60, 20)
    canvas.text(2, 2, "Dense", (0, 0, 0))
    pixels = decode_png(encode_png(canvas.pixels, dpi=96))
    np.testing.assert_array_equal(pixels, canvas.pixels)
    # the "D" glyph is drawn where it should be
    glyph = (pixels[3:3 + 9, 2:2 + 5].sum(axis=2) == 0)
    np.testing.assert_array_equal(glyph, FONT["D"])
    assert all(chr(c) in FONT for c in range(32, 127))


def fake_dot(tmp_path, monkeypatch, body: str) -> None:
    exe = tmp_path / "dot"
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(0o755)
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: str(exe) if name == "dot" else None)


def test_graphviz_is_used_when_present(tmp_path, monkeypatch):
    fake_dot(tmp_path, monkeypatch, 'out=""\nfor a in "$@"; do [ "$prev" = "-o" ] && out="$a"; prev="$a"; done\n'
                                    '{ echo "rendered-by-dot"; cat; } > "$out"\n')
    path = tmp_path / "ticket.svg"
    plot_model(ticket_classifier(), str(path), show_shapes=True)
    text = path.read_text()
    assert text.startswith("rendered-by-dot") and 'digraph "ticket_classifier"' in text


def test_failing_graphviz_falls_back_to_own_renderer(tmp_path, monkeypatch):
    fake_dot(tmp_path, monkeypatch, "echo 'broken install' >&2\nexit 3\n")
    path = tmp_path / "ticket.png"
    with pytest.warns(UserWarning, match="broken install"):
        plot_model(ticket_classifier(), str(path))
    read_png(path)
