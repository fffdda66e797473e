"""Pictures of graphs: the pure-Python route writes real PNG and SVG files holding every node, the
DOT text for Graphviz names every variable and op with its shape, module clusters, eager histories,
value and gradient summaries checked against PyTorch, a layout without overlaps, clear refusals."""

import itertools
import re
import struct
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from conftest import random_array

import wengert as wg
import wengert.nn.functional as F
from wengert import nn, viz

SEED_LIST = [("z1", "add", ("x1", "x1")), ("z2", "add", ("z1", "x2")), ("f", "square", ("z2",))]
SIZES = (4, 8, 6, 3)  # a 3-layer MLP: 4 features, hidden 8 and 6, 3 classes
BATCH = 5
SVG_NAMESPACE = "{http://www.w3.org/2000/svg}"


def seed_graph():
    return wg.Graph.from_list(SEED_LIST, inputs=["x1", "x2"])


def mlp():
    wg.manual_seed(0)
    return nn.Sequential(nn.Linear(SIZES[0], SIZES[1]), nn.ReLU(), nn.Linear(SIZES[1], SIZES[2]), nn.ReLU(),
                         nn.Linear(SIZES[2], SIZES[3])).double()


def batch(seed=0):
    return random_array((BATCH, SIZES[0]), seed), np.random.default_rng(seed).integers(0, SIZES[-1], BATCH)


def traced_mlp():
    model = mlp()
    graph = viz.trace(lambda x, y: F.cross_entropy(model(x), y), *batch(), names=["x", "y"], modules=model)
    return model, graph


def torch_mlp(model):
    """The same network in PyTorch, with the same weights."""
    layers = [torch.nn.Linear(a, b) for a, b in itertools.pairwise(SIZES)]
    theirs = torch.nn.Sequential(layers[0], torch.nn.ReLU(), layers[1], torch.nn.ReLU(), layers[2]).double()
    theirs.load_state_dict({key: torch.tensor(value.numpy()) for key, value in model.state_dict().items()})
    return theirs


def torch_gradients(model, x, y):
    theirs = torch_mlp(model)
    loss = torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y))
    loss.backward()
    return loss.item(), {name: parameter.grad.numpy() for name, parameter in theirs.named_parameters()}


def svg_texts(path):
    """The text of every <text> element of an SVG file, with its position, and the picture's size."""
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG_NAMESPACE}svg"
    _, _, width, height = map(float, root.get("viewBox").split())
    texts = [(element.text or "", float(element.get("x")), float(element.get("y")))
             for element in root.iter(f"{SVG_NAMESPACE}text")]
    return texts, width, height


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def dot_nodes(source):
    """DOT node statements: key -> (label, attributes)."""
    return {match[1]: (match[2], match[3])
            for match in re.finditer(r'^\s*"([^"]+)" \[label=<(.*)>, (shape=.*)\];$', source, re.MULTILINE)}


def dot_clusters(source):
    """label -> the node keys inside that cluster."""
    clusters = {}
    for block in re.findall(r"subgraph cluster_\d+ \{\n(.*?)\n  \}", source, re.DOTALL):
        label = re.search(r'label="([^"]+)"', block)[1]
        clusters[label] = set(re.findall(r'^\s*"([^"]+)" \[', block, re.MULTILINE))
    return clusters


def expected_labels(graph):
    """The words a picture of ``graph`` must show: every variable's name and every op's name."""
    return {*graph.inputs, *graph.parameters, *(step.name for step in graph.assignments),
            *(step.op for step in graph.assignments)}


# --- the pure-Python route: real files, every node in the picture ------------------------------------

CASES = {
    "seed": lambda: (seed_graph(), {"x1": 3.0, "x2": 5.0}),
    "seed backward": lambda: (seed_graph().backward_graph(x1=3.0, x2=5.0), {"x1": 3.0, "x2": 5.0, "df": 1.0}),
    "mlp": lambda: (traced_mlp()[1], dict(zip(["x", "y"], batch(1)))),
    "mlp backward": lambda: (traced_mlp()[1].backward_graph(), None),
}


@pytest.mark.parametrize("case", CASES)
def test_the_pure_python_route_writes_a_png_and_an_svg_showing_every_node(case, tmp_path):
    graph, feed = CASES[case]()
    png = viz.draw(graph, tmp_path / "graph.png", feed=feed, title=case, engine="matplotlib")
    svg = viz.draw(graph, tmp_path / "graph.svg", feed=feed, title=case, engine="matplotlib")
    width, height = png_size(png)
    assert width >= 300 and height >= 300 and png.stat().st_size > 10_000
    texts, svg_width, svg_height = svg_texts(svg)
    shown = {text for text, _, _ in texts}
    missing = {label for label in expected_labels(graph) if not any(
        text == label or text.endswith(f"= {label}") or text.startswith(f"{label} =") for text in shown)}
    assert not missing, f"not in the picture: {missing}"
    assert {"input", "parameter", "variable", "output", "literal", "op", case} <= shown  # legend and title
    for text, x, y in texts:  # everything inside the picture
        assert 0 <= x <= svg_width and 0 <= y <= svg_height, text


def test_the_layout_keeps_shapes_apart_and_each_cluster_to_its_own(tmp_path):
    _, graph = traced_mlp()
    drawing = viz.picture(graph.backward_graph())

    def measure(text, size, bold):  # a monospace estimate: the layout only needs sizes
        return 0.6 * size * len(text), 1.2 * size

    shapes, clusters, routes = viz._layout(drawing, measure)
    assert set(shapes) == set(drawing.shapes) and set(clusters) == set(drawing.clusters)
    assert len(clusters) == 10  # 5 modules forward, 5 backward

    def box(place, margin=0.0):
        return (place.x - place.width / 2 - margin, place.y - place.height / 2 - margin,
                place.x + place.width / 2 + margin, place.y + place.height / 2 + margin)

    def overlap(a, b):
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

    keys = list(shapes)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            assert not overlap(box(shapes[a]), box(shapes[b])), (a, b)
    for cluster, place in clusters.items():
        outer = box(place)
        for key, shape in drawing.shapes.items():
            inner = box(shapes[key])
            if shape.cluster == cluster:
                assert outer[0] <= inner[0] and inner[2] <= outer[2] and outer[1] <= inner[1] and inner[3] <= outer[3]
            else:
                assert not overlap(outer, inner), (cluster, key)
        for other, other_place in clusters.items():
            assert other == cluster or not overlap(outer, box(other_place)), (cluster, other)
    assert len(routes) == len(drawing.arrows)
    for points, source, target, _ in routes:  # each arrow starts at its source and ends at its target
        assert points[0] == (shapes[source].x, shapes[source].y)
        assert points[-1] == (shapes[target].x, shapes[target].y)


def test_without_dot_the_picture_is_drawn_anyway_and_says_once_that_graphviz_draws_better(tmp_path, monkeypatch):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    monkeypatch.setattr(viz, "_warned", [False])
    assert not viz.graphviz_available()
    with pytest.warns(viz.RendererWarning, match=r"apt install graphviz, brew install graphviz") as caught:
        viz.draw(seed_graph(), tmp_path / "a.png")
        viz.draw(seed_graph(), tmp_path / "b.svg")
    assert len([w for w in caught if issubclass(w.category, viz.RendererWarning)]) == 1
    assert png_size(tmp_path / "a.png")[0] > 0 and svg_texts(tmp_path / "b.svg")[0]
    with pytest.raises(viz.VizError, match="needs Graphviz's dot program"):
        viz.draw(seed_graph(), tmp_path / "c.svg", engine="graphviz")


# --- the Graphviz route: the DOT text -----------------------------------------------------------

def test_the_dot_source_has_every_variable_and_op_with_its_shape():
    _, graph = traced_mlp()
    source = viz.dot_source(graph)
    nodes = dot_nodes(source)
    batch_rows, (n_in, h1, h2, n_out) = BATCH, SIZES
    shapes = {  # worked out from the layer sizes, not read from the graph
        "x": (batch_rows, n_in), "y": (batch_rows,),
        "0.weight": (h1, n_in), "0.bias": (h1,), "2.weight": (h2, h1), "2.bias": (h2,),
        "4.weight": (n_out, h2), "4.bias": (n_out,),
        "z1": (batch_rows, h1), "z2": (batch_rows, h1), "z3": (batch_rows, h2), "z4": (batch_rows, h2),
        "z5": (batch_rows, n_out), "f": (),
    }
    for name, shape in shapes.items():
        label, attributes = nodes[f"var:{name}"]
        assert label.startswith(f"<b>{name}</b>") and f"{shape}" in label, (name, label)
        assert "shape=ellipse" in attributes
    ops = {"z1": "linear", "z2": "relu", "z3": "linear", "z4": "relu", "z5": "linear", "f": "cross_entropy"}
    for name, op in ops.items():
        label, attributes = nodes[f"op:{name}"]
        assert label.startswith(f"<b>{op}</b>") and "shape=box" in attributes
        assert f'"op:{name}" -> "var:{name}";' in source
    assert len([key for key in nodes if key.startswith("op:")]) == len(graph.assignments)
    assert '"var:x" -> "op:z1" [label="1"];' in source and '"var:0.weight" -> "op:z1" [label="2"];' in source
    assert "dtype=float64" in nodes["op:z8"][0] and "key=(..., None)" in nodes["op:z6"][0]  # constants, readable
    assert source.count("{") == source.count("}") and source.startswith("digraph wengert {")


def test_inputs_parameters_outputs_literals_and_ops_look_different():
    _, graph = traced_mlp()
    drawing = viz.picture(graph)
    kinds = {key: shape.kind for key, shape in drawing.shapes.items()}
    assert kinds["var:x"] == kinds["var:y"] == "input"
    assert kinds["var:0.weight"] == kinds["var:4.bias"] == "parameter"
    assert kinds["var:f"] == "output" and kinds["var:z3"] == "variable" and kinds["op:z3"] == "op"
    assert {kinds[key] for key in kinds if key.startswith("literal:")} == {"literal"}
    assert any(key.startswith("literal:") for key in kinds)  # the class numbers cross_entropy compares with
    nodes = dot_nodes(viz.dot_source(graph))
    looks = {kind: next(attributes for key, (_, attributes) in nodes.items() if kinds.get(key) == kind)
             for kind in viz.STYLES}
    assert len(set(looks.values())) == len(viz.STYLES)
    assert "peripheries=2" in looks["output"] and "shape=note" in looks["literal"]
    for kind in viz.STYLES:  # and the legend says which is which
        assert f"legend:{kind}" in nodes


def test_a_variable_read_twice_gets_two_arrows_and_argument_order_is_shown_where_it_matters():
    drawing = viz.picture(seed_graph())
    assert drawing.arrows.count(("var:x1", "op:z1", "")) == 2  # z1 = add(x1, x1)
    subtract = wg.Graph.trace(lambda a, b: a - b, 1.0, 2.0, names=["a", "b"])
    assert {arrow for arrow in viz.picture(subtract).arrows if arrow[1] == "op:f"} == {
        ("var:a", "op:f", "1"), ("var:b", "op:f", "2")}


@pytest.mark.skipif(not viz.graphviz_available(), reason="Graphviz's dot program is not installed here")
@pytest.mark.parametrize("suffix", ["svg", "png"])
def test_dot_renders_the_picture(tmp_path, suffix):
    _, graph = traced_mlp()
    path = viz.draw(graph.backward_graph(), tmp_path / f"step.{suffix}", engine="graphviz")
    if suffix == "png":
        assert png_size(path)[1] > 300
    else:
        text = path.read_text()
        assert "d0.weight" in text and "0: Linear backward" in text


# --- values and gradients in the picture ---------------------------------------------------------

def details(drawing, name):
    return drawing.shapes[f"var:{name}"].details


def summary_numbers(text):
    """mean, min, max from 'grad mean 0.1, min -1, max 2'."""
    return [float(number) for number in re.findall(r"(?:mean|min|max) (\S+?)(?:,|$)", text)]


def test_a_fed_picture_shows_the_seeds_values_and_gradients():
    drawing = viz.picture(seed_graph(), feed={"x1": 3.0, "x2": 5.0})
    # f = (2 x1 + x2)^2: df/dz2 = 2 z2 = 22, df/dx1 = 2 * 22, df/dx2 = 22
    assert details(drawing, "f")[1:] == ["= 121", "grad = 1"]
    assert details(drawing, "z2")[1:] == ["= 11", "grad = 22"]
    assert details(drawing, "x1")[1:] == ["= 3", "grad = 44"]
    assert details(drawing, "x2")[1:] == ["= 5", "grad = 22"]
    assert details(drawing, "x1")[0] == "() float64"


def test_a_fed_mlp_picture_shows_each_parameters_gradient_as_pytorch_computes_it():
    model, graph = traced_mlp()
    x, y = batch(1)
    drawing = viz.picture(graph, feed={"x": x, "y": y})
    loss, gradients = torch_gradients(model, x, y)
    assert details(drawing, "f")[1] == f"= {loss:.4g}"
    for name, expected in gradients.items():
        (line,) = [text for text in details(drawing, name) if text.startswith("grad ")]
        np.testing.assert_allclose(summary_numbers(line), [expected.mean(), expected.min(), expected.max()],
                                   rtol=6e-3, atol=1e-12)
        (values,) = [text for text in details(drawing, name) if text.startswith("mean ")]
        weights = dict(model.named_parameters())[name].detach().numpy()
        np.testing.assert_allclose(summary_numbers(values), [weights.mean(), weights.min(), weights.max()], rtol=6e-3)
    assert model[0].weight.grad is None  # drawing leaves .grad alone


def test_an_eager_tensors_history_is_drawn_with_its_leaves_values_and_gradients(tmp_path):
    model = mlp()
    x, y = batch(2)
    loss = F.cross_entropy(model(wg.tensor(x)), wg.tensor(y))
    loss.backward()
    drawing = viz.picture(loss, names=model)
    ops = [shape.title for shape in drawing.shapes.values() if shape.kind == "op"]
    assert ops == ["linear", "relu", "linear", "relu", "linear", "cross_entropy"]
    leaves = {shape.title: shape for shape in drawing.shapes.values() if shape.kind == "parameter"}
    reference_loss, gradients = torch_gradients(model, x, y)
    assert set(leaves) == set(gradients)
    for name, expected in gradients.items():
        assert leaves[name].details[0] == f"{expected.shape} float64"
        np.testing.assert_allclose(summary_numbers(leaves[name].details[2]),
                                   [expected.mean(), expected.min(), expected.max()], rtol=6e-3, atol=1e-12)
    (output,) = [shape for shape in drawing.shapes.values() if shape.kind == "output"]
    assert output.details[:2] == ["() float64", f"= {reference_loss:.4g}"]
    # x and the one-hot labels need no gradient: the nodes kept no edge to them, and the picture says so
    assert [shape.title for shape in drawing.shapes.values() if shape.kind == "literal"] == ["no grad"] * 2
    texts, _, _ = svg_texts(viz.draw(loss, tmp_path / "loss.svg", names=model, engine="matplotlib"))
    assert {"0.weight", "4.bias", "cross_entropy", "no grad"} <= {text for text, _, _ in texts}
    unnamed = viz.picture(wg.exp(wg.tensor([1.0, 2.0], requires_grad=True)).sum())
    assert [shape.title for shape in unnamed.shapes.values() if shape.kind != "op"] == ["w1", "z1", "f"]


# --- module clusters -------------------------------------------------------------------------------

def test_each_modules_ops_are_boxed_under_its_name_forward_and_backward():
    model, graph = traced_mlp()
    assert list(graph.parameters) == [name for name, _ in model.named_parameters()]  # the model's names
    clusters = dot_clusters(viz.dot_source(graph))
    assert clusters == {
        "0: Linear": {"var:0.weight", "var:0.bias", "op:z1", "var:z1"},
        "1: ReLU": {"op:z2", "var:z2"},
        "2: Linear": {"var:2.weight", "var:2.bias", "op:z3", "var:z3"},
        "3: ReLU": {"op:z4", "var:z4"},
        "4: Linear": {"var:4.weight", "var:4.bias", "op:z5", "var:z5"},
    }
    backward = graph.backward_graph()
    assert list(backward.parameters) == list(graph.parameters)  # not renumbered w1, w2, ...
    backward_clusters = dot_clusters(viz.dot_source(backward))
    assert set(backward_clusters) == set(clusters) | {f"{label} backward" for label in clusters}
    assert {"op:d0.weight", "op:d0.bias", "op:dx"} <= backward_clusters["0: Linear backward"]
    assert {"op:d4.weight", "op:d4.bias", "op:dz4"} <= backward_clusters["4: Linear backward"]
    assert "op:dz3" in backward_clusters["3: ReLU backward"]  # relu's backward: dz4 * (z3 > 0)
    # the loss is no module: its ops stay outside the boxes
    assert not any("op:z9" in members for members in backward_clusters.values())
    assert backward.select("d2.bias").clusters["d2.bias"] == "2: Linear backward"


def test_a_backward_graph_with_the_models_parameter_names_still_computes_pytorchs_gradients():
    model, graph = traced_mlp()
    backward = graph.backward_graph()
    x, y = batch(3)
    results = dict(zip(backward.labels, backward(x=x, y=y, df=1.0)))
    _, gradients = torch_gradients(model, x, y)
    for name, expected in gradients.items():
        np.testing.assert_allclose(results[f"d{name}"].detach().numpy(), expected, rtol=1e-10, atol=1e-14)


def test_nested_modules_are_named_by_their_path_and_the_models_own_ops_by_its_class():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(3, 4), nn.Tanh())
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.body(x)) * 2.0

    net = Net().double()
    graph = viz.trace(lambda x: net(x).sum(), random_array((2, 3)), names=["x"], modules=net)
    assert [graph.clusters.get(step.name) for step in graph.assignments] == [
        "body.0: Linear", "body.1: Tanh", "head: Linear", "Net", None]
    assert graph.clusters["body.0.weight"] == "body.0: Linear"


# --- refusals ----------------------------------------------------------------------------------------

def test_bad_requests_are_refused_naming_the_problem_and_the_callers_line(tmp_path):
    with pytest.raises(viz.VizError, match=r"'graph.jpg': the file name must end in .svg or .png.*test_viz.py"):
        viz.draw(seed_graph(), tmp_path / "graph.jpg")
    with pytest.raises(viz.VizError, match="engine must be one of auto, graphviz, matplotlib, got 'tikz'"):
        viz.draw(seed_graph(), tmp_path / "graph.svg", engine="tikz")
    with pytest.raises(wg.GraphError, match=r"the graph's inputs are x1, x2; missing: x2.*test_viz.py"):
        viz.picture(seed_graph(), feed={"x1": 1.0})
    with pytest.raises(viz.VizError, match="no recorded history"):
        viz.picture(wg.tensor([1.0, 2.0]) * 2)
    with pytest.raises(viz.VizError, match=r"can draw a wg\.Graph or a Tensor, not ndarray"):
        viz.picture(np.ones(3))
    with pytest.raises(viz.VizError, match="feed= is for a Graph"):
        viz.picture(wg.tensor(1.0, requires_grad=True) * 2, feed={"x": 1.0})
    with pytest.raises(viz.VizError, match="names= is for a Tensor's history"):
        viz.picture(seed_graph(), names={})
    with pytest.raises(viz.VizError, match=r"modules must be an nn\.Module, not function"):
        viz.trace(lambda x: x * 2, 1.0, modules=lambda x: x)
    assert not list(tmp_path.iterdir())  # nothing written
