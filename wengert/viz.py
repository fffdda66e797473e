"""Pictures of graphs: ``wg.viz.draw(graph_or_tensor, "graph.svg")``.

    g = wg.Graph.from_list([("z1", "add", ("x1", "x1")), ("z2", "add", ("z1", "x2")),
                            ("f", "square", ("z2",))], inputs=["x1", "x2"])
    wg.viz.draw(g, "f.png", feed={"x1": 3.0, "x2": 5.0})     # values and gradients in the picture
    wg.viz.draw(g.backward_graph(x1=3.0, x2=5.0), "df.svg")   # the backward pass, as a picture too
    wg.viz.draw(loss, "loss.png")                             # a tensor's recorded eager history

    graph = wg.viz.trace(lambda x, y: F.cross_entropy(model(x), y), X, y, names=["x", "y"], modules=model)
    wg.viz.draw(graph.backward_graph(), "step.svg")           # each module's ops in a labelled box

The pictures are drawn as the lectures draw graphs: variables are ellipses (name, shape, dtype,
and with ``feed`` a summary of each value and gradient), ops are boxes (the op's name and its
constants), an arrow goes from each argument to the op that reads it and from the op to its
result. Inputs, parameters, outputs and literals have their own colours and shapes (a legend
says which). Graphviz's ``dot`` draws them where it is installed; elsewhere a layered layout
from grandalf is drawn with matplotlib.
"""

from __future__ import annotations

import html
import itertools
import shutil
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .core.backend import numpy
from .core.backward import grad
from .core.errors import WengertError, call_site
from .core.function import AccumulateGrad
from .core.grad_mode import enable_grad
from .core.tensor import Tensor
from .graph import Graph, GraphError, Literal, tracing
from .nn.module import Module

FORMATS = ("svg", "png")
ENGINES = ("auto", "graphviz", "matplotlib")
GRAPHVIZ_HINT = ("Graphviz's dot program was not found, so the picture was drawn with grandalf and matplotlib; "
                 "installing Graphviz (apt install graphviz, brew install graphviz) gives better pictures")

# kind -> (legend text, fill colour, border colour); variables are ellipses, ops boxes, literals notes
STYLES = {
    "input": ("input", "#cfe2ff", "#1f4e9c"),
    "parameter": ("parameter", "#ffe0b3", "#a35a00"),
    "variable": ("variable", "#ffffff", "#555555"),
    "output": ("output", "#c8efc8", "#1d6b1d"),
    "literal": ("literal", "#f4f4f4", "#888888"),
    "op": ("op", "#ececf6", "#444466"),
}
VARIABLE_KINDS = ("input", "parameter", "variable", "output")
# ops whose arguments can be swapped: their arrows need no argument numbers
SYMMETRIC = frozenset({"add", "multiply", "maximum", "minimum", "equal", "not_equal", "logical_and",
                       "logical_or"})


class VizError(WengertError, ValueError):
    """A picture that cannot be drawn as asked (an unknown format or engine, a bad feed)."""


# --- what a picture shows, whoever draws it -----------------------------------------------------

@dataclass
class Shape:
    """One node of a picture: ``kind`` is a key of ``STYLES``; ``title`` is its first, bold line."""

    key: str
    kind: str
    title: str
    details: list[str] = field(default_factory=list)
    cluster: str | None = None


@dataclass
class Picture:
    """Nodes in drawing order, arrows ``(from key, to key, label)``, and the clusters' labels in order
    (a shape's ``cluster`` is one of them)."""

    shapes: dict[str, Shape]
    arrows: list[tuple[str, str, str]]
    clusters: list[str]
    title: str | None = None


def picture(target: Graph | Tensor, *, feed: Mapping | None = None, title: str | None = None,
            names: Mapping | Module | None = None) -> Picture:
    """What ``draw`` would draw for ``target`` (a Graph, or a Tensor's recorded history)."""
    if isinstance(target, Graph):
        if names is not None:
            raise VizError(f"viz: names= is for a Tensor's history; a Graph names its own variables "
                           f"(called at {call_site()})")
        return _graph_picture(target, feed, title)
    if isinstance(target, Tensor):
        if feed is not None:
            raise VizError(f"viz: feed= is for a Graph; a Tensor's history has the values it was computed with "
                           f"(called at {call_site()})")
        return _tensor_picture(target, _tensor_names(names), title)
    raise VizError(f"viz: can draw a wg.Graph or a Tensor, not {type(target).__name__} (called at {call_site()})")


def _graph_picture(graph: Graph, feed: Mapping | None, title: str | None) -> Picture:
    values, gradients = _run(graph, feed) if feed is not None else ({}, {})
    clusters = dict(getattr(graph, "clusters", None) or {})
    shapes: dict[str, Shape] = {}
    arrows: list[tuple[str, str, str]] = []
    labels = dict(zip(graph.outputs, graph.labels))

    def variable(name: str, kind: str, shape: Any = None, dtype: Any = None) -> None:
        value = values.get(name)
        if value is not None:
            shape, dtype = value.shape, value.dtype
        title_text = name if labels.get(name, name) == name else f"{labels[name]} = {name}"  # dx2 = dz2
        details = [] if shape is None else [_type_text(shape, dtype)]
        details += [text for text in (_summary(value), _summary(gradients.get(name), "grad ")) if text]
        kind = "output" if name in labels and kind == "variable" else kind
        shapes[_variable_key(name)] = Shape(_variable_key(name), kind, title_text, details, clusters.get(name))

    for name in graph.inputs:
        example = graph.examples.get(name)
        variable(name, "input", *((example.shape, example.dtype) if example is not None else ()))
    for name, tensor in graph.parameters.items():
        variable(name, "parameter", tensor.shape, tensor.dtype)
    literals = itertools.count(1)
    for step in graph.assignments:
        op_key = _op_key(step.name)
        shapes[op_key] = Shape(op_key, "op", step.op, _constants_text(step.constants), clusters.get(step.name))
        numbered = len(step.arguments) > 1 and step.op not in SYMMETRIC
        for position, argument in enumerate(step.arguments, 1):
            if isinstance(argument, Literal):
                key = f"literal:{next(literals)}"
                shapes[key] = Shape(key, "literal", _literal_text(argument.value), [], clusters.get(step.name))
            else:
                key = _variable_key(argument)
            arrows.append((key, op_key, str(position) if numbered else ""))
        variable(step.name, "variable", step.shape, step.dtype)
        arrows.append((op_key, _variable_key(step.name), ""))
    in_order = [clusters[step.name] for step in graph.assignments if step.name in clusters]  # as their ops ran
    return Picture(shapes, arrows, list(dict.fromkeys([*in_order, *clusters.values()])), title)


def _variable_key(name: str) -> str:
    return f"var:{name}"


def _op_key(name: str) -> str:
    """The key of the op box that assigns variable ``name``."""
    return f"op:{name}"


def _run(graph: Graph, feed: Mapping) -> tuple[dict, dict]:
    """Every variable's value for ``feed``, and, for a graph with one one-element floating output,
    every variable's gradient (one backward pass), as arrays by name."""
    fed = {key if isinstance(key, str) else getattr(key, "name", str(key)): value for key, value in feed.items()}
    unknown = [name for name in fed if name not in graph.inputs]
    missing = [name for name in graph.inputs if name not in fed]
    if unknown or missing:
        raise GraphError(f"viz: the graph's inputs are {', '.join(graph.inputs)}; "
                         + (f"unknown: {', '.join(unknown)}" if unknown else f"missing: {', '.join(missing)}")
                         + f" (called at {call_site()})")
    arrays = {name: _as_array(value) for name, value in fed.items()}
    leaves = {name: Tensor(array, array.dtype.kind == "f") for name, array in arrays.items()}
    with enable_grad():
        values = graph.evaluate(leaves)
        outputs = [values[name] for name in graph.outputs]
        gradients: dict[str, Any] = {}
        if len(outputs) == 1 and outputs[0].size == 1 and outputs[0].requires_grad:
            wanted = {name: value for name, value in values.items()
                      if isinstance(value, Tensor) and value.requires_grad}
            found = grad(outputs[0], list(wanted.values()), allow_unused=True)
            gradients = {name: value.data for name, value in zip(wanted, found) if value is not None}
    return {name: value.data for name, value in values.items() if isinstance(value, Tensor)}, gradients


def _tensor_names(names: Mapping | Module | None) -> dict[int, str]:
    if names is None:
        return {}
    if isinstance(names, Module):
        return {id(parameter): name for name, parameter in names.named_parameters()}
    return {id(tensor): name for tensor, name in names.items()}


def _tensor_picture(tensor: Tensor, names: dict[int, str], title: str | None) -> Picture:
    """The recorded history of ``tensor``: its node, its parents, back to the leaves."""
    if tensor.node is None:
        raise VizError(f"viz: this tensor has no recorded history (it does not require grad, or was made under "
                       f"no_grad); nothing to draw (called at {call_site()})")
    nodes, stack, seen = [], [tensor.node], {id(tensor.node)}
    while stack:
        node = stack.pop()
        nodes.append(node)
        for parent in node.parents:
            if parent is not None and id(parent) not in seen:
                seen.add(id(parent))
                stack.append(parent)
    nodes.sort(key=lambda node: node.sequence)
    shapes: dict[str, Shape] = {}
    arrows: list[tuple[str, str, str]] = []
    key_of: dict[int, str] = {}  # id(node) -> the key of the variable it made
    leaf_numbers, step_numbers, constants = (itertools.count(1) for _ in range(3))
    for index, node in enumerate(nodes):
        key = f"var:{index}"
        key_of[id(node)] = key
        if node.function is AccumulateGrad:
            leaf = node.variable()
            name = (names.get(id(leaf)) if leaf is not None else None) or f"w{next(leaf_numbers)}"
            details = [_type_text(node.shape, node.dtype)]
            if leaf is not None:
                details += [text for text in (_summary(leaf.data), _summary(_data(leaf.grad), "grad ")) if text]
            shapes[key] = Shape(key, "parameter", name, details)
            continue
        op_key = f"op:{index}"
        shapes[op_key] = Shape(op_key, "op", node.name, _constants_text(node.constants or {}))
        numbered = len(node.parents) > 1 and node.name not in SYMMETRIC
        for position, parent in enumerate(node.parents, 1):
            if parent is None:  # an input that needs no gradient: the node kept no edge to it
                source = f"literal:{next(constants)}"
                shapes[source] = Shape(source, "literal", "no grad")
            else:
                source = key_of[id(parent)]
            arrows.append((source, op_key, str(position) if numbered else ""))
        details = [_type_text(node.shape, node.dtype)]
        if node is tensor.node:
            details += [text for text in (_summary(tensor.data), _summary(_data(tensor.grad), "grad ")) if text]
        name = "f" if node is tensor.node else f"z{next(step_numbers)}"
        shapes[key] = Shape(key, "output" if node is tensor.node else "variable", name, details)
        arrows.append((op_key, key, ""))
    return Picture(shapes, arrows, [], title)


# --- labels -------------------------------------------------------------------------------------

def _data(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


def _as_array(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        return value
    return numpy.asarray(value)  # Python floats in float64, as a Graph takes them


def _type_text(shape: Any, dtype: Any) -> str:
    return f"{tuple(shape)} {numpy.dtype(dtype) if dtype is not None else ''}".strip()


def _number(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def _summary(value: Any, prefix: str = "") -> str:
    """The value of a one-element array, else its mean, min and max; '' for no value."""
    if value is None or not hasattr(value, "dtype"):
        return ""
    if value.size == 0:
        return f"{prefix}empty"
    if value.dtype.kind == "b":
        value = value.astype(numpy.int64)
    if value.size == 1:
        return f"{prefix}= {_number(value.reshape(()).item())}"
    if value.dtype.kind not in "fiu":
        return ""
    mean = float(value.mean()) if value.dtype.kind == "f" else float(numpy.mean(value.astype(numpy.float64)))
    low, high = (_number(float(value.min()), 3), _number(float(value.max()), 3))
    return f"{prefix}mean {mean:.3g}, min {low}, max {high}"


def _literal_text(value: Any) -> str:
    if hasattr(value, "shape"):
        if value.size == 1 and value.ndim == 0:
            return _number(value.item())
        if value.size <= 4 and value.ndim == 1:
            return "[" + ", ".join(_number(item) for item in value.tolist()) + "]"
        return f"array {tuple(value.shape)} {value.dtype}"
    return _number(value)


def _constant_text(value: Any) -> str:
    if value is Ellipsis:
        return "..."
    if isinstance(value, (tuple, list)):
        items = ", ".join(_constant_text(item) for item in value)
        return f"({items},)" if isinstance(value, tuple) and len(value) == 1 else (
            f"({items})" if isinstance(value, tuple) else f"[{items}]")
    if isinstance(value, slice):
        text = ":".join("" if part is None else str(part) for part in (value.start, value.stop))
        return text if value.step is None else f"{text}:{value.step}"
    if isinstance(value, numpy.dtype) or (isinstance(value, type) and issubclass(value, numpy.generic)):
        return str(numpy.dtype(value))
    if hasattr(value, "shape"):
        return _literal_text(value)
    text = repr(value)
    return text if len(text) <= 28 else text[:25] + "..."


def _constants_text(constants: dict) -> list[str]:
    return [f"{key}={_constant_text(value)}" for key, value in constants.items()]


# --- DOT: the graphviz route ------------------------------------------------------------------------

def _html(text: str) -> str:
    return html.escape(text, quote=True)


def _dot_id(key: str) -> str:
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_label(shape: Shape) -> str:
    lines = [f"<b>{_html(shape.title)}</b>"] + [f'<font point-size="10">{_html(line)}</font>'
                                                   for line in shape.details]
    return "<" + "<br/>".join(lines) + ">"


_DOT_SHAPES = {"input": "ellipse", "parameter": "ellipse", "variable": "ellipse", "output": "ellipse",
               "literal": "note", "op": "box"}


def _dot_node(shape: Shape, indent: str = "  ") -> str:
    _, fill, border = STYLES[shape.kind]
    attributes = [f"label={_dot_label(shape)}", f"shape={_DOT_SHAPES[shape.kind]}", 'style="filled"',
                  f'fillcolor="{fill}"', f'color="{border}"']
    if shape.kind == "output":
        attributes.append("peripheries=2")
    if shape.kind == "op":
        attributes[2] = 'style="filled,rounded"'
    if shape.kind == "literal":
        attributes.append('fontcolor="#555555"')
    return f"{indent}{_dot_id(shape.key)} [{', '.join(attributes)}];"


def dot_source(target: Graph | Tensor, *, feed: Mapping | None = None, title: str | None = None,
               names: Mapping | Module | None = None) -> str:
    """The Graphviz DOT text of ``target``'s picture (what ``draw`` renders where ``dot`` exists)."""
    return _dot(picture(target, feed=feed, title=title, names=names))


def _dot(drawing: Picture) -> str:
    lines = ["digraph wengert {",
             '  graph [rankdir=TB, fontname="Helvetica", nodesep=0.25, ranksep=0.35, newrank=true'
             + (f", label={_dot_id(drawing.title)}, labelloc=t, fontsize=18" if drawing.title else "") + "];",
             '  node [fontname="Helvetica", fontsize=12, margin="0.12,0.04", height=0.3];',
             '  edge [color="#555555", arrowsize=0.7, fontname="Helvetica", fontsize=9, fontcolor="#555555"];']
    for number, cluster in enumerate(drawing.clusters):
        lines += [f"  subgraph cluster_{number} {{",
                  f'    label={_dot_id(cluster)}; style="rounded,dashed"; color="#8888aa"; fontsize=11; labeljust=l;']
        lines += [_dot_node(shape, "    ") for shape in drawing.shapes.values() if shape.cluster == cluster]
        lines.append("  }")
    lines += [_dot_node(shape) for shape in drawing.shapes.values() if shape.cluster is None]
    for source, target, label in drawing.arrows:
        lines.append(f"  {_dot_id(source)} -> {_dot_id(target)}" + (f" [label={_dot_id(label)}]" if label else "")
                     + ";")
    lines += ["  subgraph cluster_legend {", '    label="legend"; fontsize=10; style="rounded"; color="#bbbbbb";']
    for kind, (text, _, _) in STYLES.items():
        lines.append(_dot_node(Shape(f"legend:{kind}", kind, text), "    ").replace("<b>", "").replace("</b>", ""))
    keys = [_dot_id(f"legend:{kind}") for kind in STYLES]
    lines.append(f"    {{rank=same; {'; '.join(keys)}}}")  # one row, in this order
    lines.append("    " + " -> ".join(keys) + " [style=invis];")
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


# --- drawing ---------------------------------------------------------------------------------------

_warned = [False]


def draw(target: Graph | Tensor, path: str | Path, *, feed: Mapping | None = None, title: str | None = None,
         names: Mapping | Module | None = None, engine: str = "auto") -> Path:
    """Draw ``target`` (a Graph, forward or backward, or a Tensor's recorded history) into ``path``,
    an SVG or PNG file by its suffix; returns the path.

    ``feed`` (for a Graph: values of its inputs, by name) adds each variable's value to the picture,
    and for a graph with one one-element output, each variable's gradient. ``names`` (for a Tensor:
    a dict from tensors to names, or a Module for its parameters' names) names the leaves.
    ``engine``: "graphviz" (needs the dot program and the graphviz package), "matplotlib" (a
    layered layout from grandalf), or "auto": graphviz where dot exists, else matplotlib, saying once
    that installing Graphviz gives better pictures.
    """
    path = Path(path)
    file_format = path.suffix.lower().removeprefix(".")
    if file_format not in FORMATS:
        raise VizError(f"viz.draw: {path.name!r}: the file name must end in .svg or .png (called at {call_site()})")
    if engine not in ENGINES:
        raise VizError(f"viz.draw: engine must be one of {', '.join(ENGINES)}, got {engine!r} "
                       f"(called at {call_site()})")
    if engine == "graphviz" and not graphviz_available():
        raise VizError(f"viz.draw: engine='graphviz' needs Graphviz's dot program (apt install graphviz, brew "
                       f"install graphviz) and the graphviz package (pip install graphviz) (called at {call_site()})")
    drawing = picture(target, feed=feed, title=title, names=names)
    if engine == "auto":
        engine = "graphviz" if graphviz_available() else "matplotlib"
        if engine == "matplotlib" and not _warned[0]:
            _warned[0] = True
            warnings.warn(GRAPHVIZ_HINT, RendererWarning, stacklevel=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    if engine == "graphviz":
        import graphviz

        path.write_bytes(graphviz.Source(_dot(drawing)).pipe(format=file_format))
    else:
        _draw_with_matplotlib(drawing, path, file_format)
    return path


class RendererWarning(UserWarning):
    """The picture was drawn by the fallback route (no Graphviz)."""


def graphviz_available() -> bool:
    """Whether the dot program is on PATH and the graphviz package imports."""
    if shutil.which("dot") is None:
        return False
    try:
        import graphviz  # noqa: F401
    except ImportError:
        return False
    return True


# --- the pure-Python route: grandalf's layered layout, drawn by matplotlib -----------------------------

FONT_SIZE = 10.0  # points: the picture is drawn at 1 unit = 1 point
DETAIL_SIZE = 8.5
PAD_X, PAD_Y = 9.0, 5.0
LINE_GAP = 2.5
X_SPACE, Y_SPACE = 18.0, 26.0  # between neighbours in a layer, between layers
BEND_SIZE = 4.0
CLUSTER_PAD, CLUSTER_LABEL = 10.0, 16.0


@dataclass
class _Placed:
    """A shape's or a cluster's size and centre, in points, y downwards."""

    width: float
    height: float
    x: float = 0.0
    y: float = 0.0


class _View:
    """What grandalf reads and writes on each vertex: its size, then its centre."""

    def __init__(self, w: float, h: float) -> None:
        self.w, self.h, self.xy = w, h, (0.0, 0.0)


class _EdgeView:
    points: list | None = None

    def setpath(self, points: list) -> None:
        self.points = points


def _text_size(measure: Callable, shape: Shape) -> tuple[float, float]:
    widths, height = [], 0.0
    for number, line in enumerate([shape.title, *shape.details]):
        width, line_height = measure(line, FONT_SIZE if number == 0 else DETAIL_SIZE, number == 0)
        widths.append(width)
        height += line_height + (LINE_GAP if number else 0.0)
    return max(widths), height


def _layered(sizes: dict[str, tuple[float, float]], links: list[tuple[str, str]], hidden: Sequence = (),
             optimize: bool = True, y_space: float = Y_SPACE) -> tuple[dict[str, _Placed], dict]:
    """A layered (Sugiyama) layout by grandalf: each vertex's centre (points, y downwards), and the
    bends of each link that spans several layers. ``hidden`` links shape the layout but are not
    drawn. Separate components are placed side by side, their tops at y = 0."""
    from grandalf.graphs import Edge, Vertex
    from grandalf.graphs import Graph as Network
    from grandalf.layouts import SugiyamaLayout

    vertices = {}
    for key, (width, height) in sizes.items():
        vertex = vertices[key] = Vertex(key)
        vertex.view = _View(width, height)
    edges = {}
    for link in dict.fromkeys([*links, *hidden]):  # one edge per pair: parallel arrows share a route
        if link[0] != link[1]:
            edge = edges[link] = Edge(vertices[link[0]], vertices[link[1]])
            edge.view = _EdgeView()
    drawn = set(links)
    sends, receives = {a for a, _ in drawn}, {b for _, b in drawn}
    placed: dict[str, _Placed] = {}
    bends: dict[tuple[str, str], list] = {}
    offset = 0.0
    for component in Network(list(vertices.values()), list(edges.values())).C:
        layout = SugiyamaLayout(component)
        layout.xspace, layout.yspace = X_SPACE, y_space
        layout.dw = layout.dh = BEND_SIZE  # the stand-ins of a long arrow in the layers it crosses
        layout.init_all(optimize=optimize)  # optimize: a parameter or literal sits just above its reader
        layout.draw(3)
        for layer in layout.layers:
            _align_in_layer(layer, sends, receives)
        members = list(component.sV)
        shift = offset - min(vertex.view.xy[0] - vertex.view.w / 2 for vertex in members)
        top = min(vertex.view.xy[1] - vertex.view.h / 2 for vertex in members)
        for vertex in members:
            x, y = vertex.view.xy
            placed[vertex.data] = _Placed(vertex.view.w, vertex.view.h, x + shift, y - top)
        bands = [max(vertex.view.h for vertex in layer) for layer in layout.layers]
        for link, edge in edges.items():
            if link in drawn and edge in layout.ctrls:  # straight down through each layer it crosses, so
                stand_ins = layout.ctrls[edge]       # that it only slants between layers, where no shape is
                first, last = min(stand_ins), max(stand_ins)
                bends[link] = [(stand_ins[rank].view.xy[0] + shift, stand_ins[rank].view.xy[1] - top + side)
                               for rank in range(first + 1, last) for side in (-bands[rank] / 2, bands[rank] / 2)]
        offset = max(p.x + p.width / 2 for p in placed.values()) + 2 * X_SPACE
    return placed, bends


def _align_in_layer(layer: list, sends: set, receives: set) -> None:
    """Within a layer (one band of the picture), keep neighbours apart by X_SPACE, and set a vertex
    that only sends arrows at the band's bottom and one that only receives them at its top, so that
    no arrow runs across a taller neighbour."""
    if not layer:
        return
    band = max(vertex.view.h for vertex in layer)
    middle = layer[0].view.xy[1]
    right = -numpy.inf
    for vertex in sorted(layer, key=lambda vertex: vertex.view.xy[0]):
        x = max(vertex.view.xy[0], right + X_SPACE + vertex.view.w / 2)
        right = x + vertex.view.w / 2
        key = getattr(vertex, "data", None)  # None for a long arrow's stand-in
        y = middle
        if key in sends and key not in receives:
            y = middle + (band - vertex.view.h) / 2
        elif key in receives and key not in sends:
            y = middle - (band - vertex.view.h) / 2
        vertex.view.xy = (x, y)


def _depths(keys: Sequence[str], links: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Each vertex's longest distance from a source (the layer a layered layout gives it)."""
    depth = dict.fromkeys(keys, 0)
    for _ in keys:  # at most len(keys) rounds on a DAG
        changed = False
        for a, b in links:
            if depth[b] < depth[a] + 1:
                depth[b], changed = depth[a] + 1, True
        if not changed:
            break
    return depth


def _layout(drawing: Picture, measure: Callable
            ) -> tuple[dict[str, _Placed], dict[str, _Placed], list[tuple[list, str, str, str]]]:
    """Where each shape and each cluster goes, and each arrow's route (points, from, to, label).

    A cluster is laid out on its own, then stands as one block in the layout of the whole, so that
    a module's ops stay together in a box that holds nothing else. An arrow that leaves a cluster
    goes through a port at the bottom of its box, one that enters it through a port at the top,
    routed around the cluster's shapes."""
    sizes = {}
    for key, shape in drawing.shapes.items():
        width, height = _text_size(measure, shape)
        if shape.kind in VARIABLE_KINDS:  # an ellipse around the text's box (an output's has a second ring)
            ring = 8.0 if shape.kind == "output" else 0.0
            sizes[key] = (width * 1.15 + 2 * PAD_X + ring, height * 1.25 + 2 * PAD_Y + ring)
        else:
            sizes[key] = (width + 2 * PAD_X, height + 2 * PAD_Y)
    cluster_of = {key: shape.cluster for key, shape in drawing.shapes.items()}
    outer_of = {key: key if cluster is None else f"cluster:{cluster}" for key, cluster in cluster_of.items()}
    crossing = [(a, b) for a, b, _ in drawing.arrows if cluster_of[a] is None or cluster_of[a] != cluster_of[b]]
    exits = {(a, b): f"out:{a}>{outer_of[b]}" for a, b in crossing if cluster_of[a] is not None}
    entries = {(a, b): f"in:{outer_of[a]}>{b}" for a, b in crossing if cluster_of[b] is not None}
    placed: dict[str, _Placed] = {}
    inner_bends: dict[tuple[str, str], list] = {}
    block_sizes: dict[str, tuple[float, float]] = {}
    offsets: dict[str, list[str]] = {}  # block -> the keys placed relative to its corner
    for cluster in drawing.clusters:
        members = [key for key in sizes if cluster_of[key] == cluster]
        ports_out = [port for (a, _), port in exits.items() if cluster_of[a] == cluster]
        ports_in = [port for (_, b), port in entries.items() if cluster_of[b] == cluster]
        links = [(a, b) for a, b, _ in drawing.arrows if cluster_of[a] == cluster_of[b] == cluster]
        links += [(a, port) for (a, _), port in exits.items() if cluster_of[a] == cluster]
        links += [(port, b) for (_, b), port in entries.items() if cluster_of[b] == cluster]
        # Hidden links: a root holds the cluster together; the entries and a gate sit in the layer
        # below it, alone, and the gate leads to the shapes that nothing in the cluster feeds; the
        # deepest shape leads to the exits, which makes them the bottom layer.
        fed = {b for _, b in links}
        hidden = [("root", port) for port in ports_in] + [("root", "gate")]
        hidden += [("gate", key) for key in members if key not in fed]
        depth = _depths(["root", "gate", *members, *ports_in, *ports_out], links + hidden)
        deepest = max(members, key=depth.__getitem__)
        hidden += [(deepest, port) for port in ports_out]
        hidden_keys = ["root", "gate"]
        inner_sizes = {key: sizes[key] for key in members} | dict.fromkeys([*ports_in, *ports_out, *hidden_keys],
                                                                            (2.0, 2.0))
        inner, bends = _layered(inner_sizes, list(dict.fromkeys(links)), hidden, optimize=False, y_space=20.0)
        for key in hidden_keys:
            del inner[key]
        top = min(p.y - p.height / 2 for p in inner.values())
        width = max(max(p.x + p.width / 2 for p in inner.values()), measure(cluster, DETAIL_SIZE, False)[0])
        height = max(p.y + p.height / 2 for p in inner.values()) - top
        for key, where in inner.items():
            placed[key] = _Placed(where.width, where.height, where.x, where.y - top)
        inner_bends.update({link: [(x, y - top) for x, y in points] for link, points in bends.items()})
        block = f"cluster:{cluster}"
        offsets[block] = list(inner)
        block_sizes[block] = (width + 2 * CLUSTER_PAD, height + 2 * CLUSTER_PAD + CLUSTER_LABEL)
    outer_sizes = {key: size for key, size in sizes.items() if cluster_of[key] is None} | block_sizes
    outer, outer_bends = _layered(outer_sizes, [(outer_of[a], outer_of[b]) for a, b in crossing])
    clusters = {}
    for cluster in drawing.clusters:
        block = clusters[cluster] = outer.pop(f"cluster:{cluster}")
        left = block.x - block.width / 2 + CLUSTER_PAD
        top = block.y - block.height / 2 + CLUSTER_PAD + CLUSTER_LABEL
        for key in offsets[f"cluster:{cluster}"]:
            placed[key].x += left
            placed[key].y += top
        for link, points in inner_bends.items():
            if link[0] in offsets[f"cluster:{cluster}"]:
                inner_bends[link] = [(x + left, y + top) for x, y in points]
    placed.update(outer)

    def centre(key: str) -> tuple[float, float]:
        return placed[key].x, placed[key].y

    routes = []
    for a, b, label in drawing.arrows:
        if (a, b) not in exits and (a, b) not in entries and cluster_of[a] is not None:  # inside one cluster
            points = [centre(a), *inner_bends.get((a, b), []), centre(b)]
        else:
            points = [centre(a)]
            if (a, b) in exits:
                points += [*inner_bends.get((a, exits[a, b]), []), centre(exits[a, b])]
            points += outer_bends.get((outer_of[a], outer_of[b]), [])
            if (a, b) in entries:
                points += [centre(entries[a, b]), *inner_bends.get((entries[a, b], b), [])]
            points.append(centre(b))
        routes.append((points, a, b, label))
    shapes = {key: where for key, where in placed.items() if key in drawing.shapes}
    return shapes, clusters, routes


def _boundary(place: _Placed, kind: str, toward: tuple[float, float]) -> tuple[float, float]:
    """Where the line from ``place``'s centre to ``toward`` leaves its shape."""
    dx, dy = toward[0] - place.x, toward[1] - place.y
    if dx == 0 and dy == 0:
        return place.x, place.y
    a, b = place.width / 2, place.height / 2
    if kind in VARIABLE_KINDS:
        scale = 1.0 / numpy.sqrt((dx / a) ** 2 + (dy / b) ** 2)
    else:
        scale = min(a / abs(dx) if dx else numpy.inf, b / abs(dy) if dy else numpy.inf)
    return place.x + dx * scale, place.y + dy * scale


def _draw_with_matplotlib(drawing: Picture, path: Path, file_format: str) -> None:
    try:
        import grandalf  # noqa: F401
        import matplotlib
    except ImportError as error:
        raise ImportError(f"viz.draw: drawing without Graphviz needs grandalf and matplotlib ({error.name} is "
                          "missing): pip install grandalf matplotlib, or install Graphviz and pip install "
                          "graphviz") from error

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.patches import Ellipse, FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path as Curve

    renderer = RendererAgg(10, 10, 72)  # at 72 dpi a pixel is a point

    def measure(text: str, size: float, bold: bool) -> tuple[float, float]:
        properties = FontProperties(family="DejaVu Sans", size=size, weight="bold" if bold else "normal")
        width, height, _ = renderer.get_text_width_height_descent(text, properties, ismath=False)
        return width, max(height, size * 1.15)

    placed, clusters, routes = _layout(drawing, measure)
    if not placed:
        raise VizError("viz.draw: the graph has nothing to draw")
    boxes = [*placed.values(), *clusters.values()]
    boxes += [_Placed(0.0, 0.0, x, y) for points, *_ in routes for x, y in points]  # bends may reach further
    legend_height = 34.0
    title_height = 30.0 if drawing.title else 0.0
    left = min(p.x - p.width / 2 for p in boxes) - 20
    right = max(p.x + p.width / 2 for p in boxes) + 20
    top = min(p.y - p.height / 2 for p in boxes) - 20 - title_height - legend_height
    bottom = max(p.y + p.height / 2 for p in boxes) + 20
    legend_width = sum(measure(STYLES[kind][0], DETAIL_SIZE, False)[0] + 60 for kind in STYLES)
    right = max(right, left + legend_width + 20)
    width, height = right - left, bottom - top

    figure = Figure(figsize=(width / 72, height / 72), dpi=72)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(left, right)
    axes.set_ylim(bottom, top)  # y grows downwards, as in the layout
    axes.set_axis_off()
    text_style = {"family": "DejaVu Sans", "ha": "center", "va": "center", "zorder": 5}

    def outline(x: float, y: float, w: float, h: float, kind: str) -> None:
        _, fill, border = STYLES[kind]
        if kind in VARIABLE_KINDS:
            axes.add_patch(Ellipse((x, y), w, h, facecolor=fill, edgecolor=border, linewidth=1.0, zorder=3))
            if kind == "output":
                axes.add_patch(Ellipse((x, y), w - 6, h - 6, facecolor="none", edgecolor=border, linewidth=0.8,
                                       zorder=3))
        else:
            style = "round,pad=0,rounding_size=5" if kind == "op" else "square,pad=0"
            axes.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle=style, facecolor=fill,
                                          edgecolor=border, linewidth=1.0, zorder=3,
                                          linestyle="--" if kind == "literal" else "-"))

    for cluster in drawing.clusters:  # beneath everything else
        box = clusters[cluster]
        x0, y0 = box.x - box.width / 2, box.y - box.height / 2
        axes.add_patch(FancyBboxPatch((x0, y0), box.width, box.height, boxstyle="round,pad=0,rounding_size=8",
                                      facecolor="#f6f6fb", edgecolor="#8888aa", linewidth=0.9, linestyle="--",
                                      zorder=1))
        axes.text(x0 + CLUSTER_PAD, y0 + CLUSTER_PAD / 2 + CLUSTER_LABEL / 2, cluster, fontsize=DETAIL_SIZE,
                  color="#444466", style="italic", **{**text_style, "ha": "left", "zorder": 4},
                  bbox={"facecolor": "#f6f6fb", "edgecolor": "none", "pad": 1.0})  # above arrows that enter

    parallel: dict[tuple[str, str], int] = {}
    counts = Counter((source, target) for _, source, target, _ in routes)
    for points, source, target, label in routes:
        count = counts[source, target]
        number = parallel[source, target] = parallel.get((source, target), -1) + 1
        points = [_boundary(placed[source], drawing.shapes[source].kind, points[1]), *points[1:-1],
                  _boundary(placed[target], drawing.shapes[target].kind, points[-2])]
        side = number - (count - 1) / 2  # the same variable read twice (add(x1, x1)): side by side
        if count > 1 and len(points) == 2:
            arrow = FancyArrowPatch(points[0], points[-1], connectionstyle=f"arc3,rad={side}", arrowstyle="-|>",
                                    mutation_scale=9, color="#555555", linewidth=0.9, zorder=2, shrinkA=0, shrinkB=0)
        else:
            points = [points[0], *[(x + 6 * side, y) for x, y in points[1:-1]], points[-1]]
            codes = [Curve.MOVETO] + [Curve.LINETO] * (len(points) - 1)
            arrow = FancyArrowPatch(path=Curve(points, codes), arrowstyle="-|>", mutation_scale=9, color="#555555",
                                    linewidth=0.9, zorder=2, shrinkA=0, shrinkB=0)
        axes.add_patch(arrow)
        if label:  # the argument's position, just above the arrow's head
            (x0, y0), (x1, y1) = points[-2], points[-1]
            back = min(1.0, 14.0 / max(numpy.hypot(x1 - x0, y1 - y0), 1e-9))
            axes.text(x1 - (x1 - x0) * back + 4, y1 - (y1 - y0) * back, label, fontsize=7.5, color="#333333",
                      **{**text_style, "ha": "left", "zorder": 4},
                      bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5, "alpha": 0.8})

    for key, shape in drawing.shapes.items():
        place = placed[key]
        outline(place.x, place.y, place.width, place.height, shape.kind)
        sizes = [FONT_SIZE] + [DETAIL_SIZE] * len(shape.details)
        heights = [measure(line, size, number == 0)[1]
                   for number, (line, size) in enumerate(zip([shape.title, *shape.details], sizes))]
        total = sum(heights) + LINE_GAP * (len(heights) - 1)
        y = place.y - total / 2
        for number, (line, size, line_height) in enumerate(zip([shape.title, *shape.details], sizes, heights)):
            axes.text(place.x, y + line_height / 2, line, fontsize=size, weight="bold" if number == 0 else "normal",
                      color="#555555" if shape.kind == "literal" else "#111111", **text_style)
            y += line_height + LINE_GAP

    # the legend, one line along the top
    y = top + 10 + title_height + 10
    x = left + 10
    for kind, (text, _, _) in STYLES.items():
        outline(x + 14, y, 26, 14, kind)
        axes.text(x + 32, y, text, fontsize=DETAIL_SIZE, **{**text_style, "ha": "left"})
        x += measure(text, DETAIL_SIZE, False)[0] + 60
    if drawing.title:
        axes.text((left + right) / 2, top + 16, drawing.title, fontsize=14, weight="bold", **text_style)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "wengert"}):
        figure.savefig(path, format=file_format, dpi=100 if file_format == "png" else 72)


# --- module clusters ---------------------------------------------------------------------------------

class ModuleGraph(Graph):
    """A Graph that knows which module each assignment ran in: ``clusters`` maps assignment (and
    parameter) names to a module's label (``"0: Linear"``). ``backward_graph`` and ``select`` keep it."""

    clusters: dict[str, str]

    def backward_graph(self, *values: Any, **named: Any) -> Graph:
        backward = _parameters_renamed(super().backward_graph(*values, **named), self.parameters)
        return _with_clusters(backward, _backward_clusters(self, backward))

    def select(self, output: str) -> Graph:
        chosen = super().select(output)
        return _with_clusters(chosen, self.clusters)


def _with_clusters(graph: Graph, clusters: dict[str, str]) -> ModuleGraph:
    made = ModuleGraph.__new__(ModuleGraph)
    made.__dict__.update(graph.__dict__)
    made.clusters = dict(clusters)
    return made


def _parameters_renamed(graph: Graph, parameters: dict[str, Tensor]) -> Graph:
    """``graph`` with its parameters named as in ``parameters`` (the same tensors by other names):
    a backward graph numbers its parameters afresh."""
    names = {id(tensor): name for name, tensor in parameters.items()}
    renamed = {old: names.get(id(tensor), old) for old, tensor in graph.parameters.items()}
    if all(old == new for old, new in renamed.items()):
        return graph
    graph.parameters = {renamed[old]: tensor for old, tensor in graph.parameters.items()}
    graph.assignments = [replace(step, arguments=tuple(renamed.get(a, a) if isinstance(a, str) else a
                                                       for a in step.arguments))
                         for step in graph.assignments]
    graph.outputs = [renamed.get(name, name) for name in graph.outputs]
    return graph


def _module_label(path: str, module: Module) -> str:
    return f"{path}: {type(module).__name__}" if path else type(module).__name__


def trace(fn: Callable[..., Any], *examples: Any, modules: Module, names: Sequence[str] | None = None,
          allow_unused: bool = False) -> ModuleGraph:
    """``wg.Graph.trace(fn, *examples, names=...)`` that also notes which of ``modules``' submodules
    each op ran in, so that ``draw`` boxes each module's ops under its name. The parameters are
    named as ``modules.named_parameters()`` names them (``0.weight``)."""
    if not isinstance(modules, Module):
        raise VizError(f"viz.trace: modules must be an nn.Module, not {type(modules).__name__} "
                       f"(called at {call_site()})")
    inputs = [Tensor(_as_array(value)) for value in examples]
    owners: list[str | None] = []  # the module label of each application in the trace, in order
    stack: list[str] = []
    recorded: list = []

    def settle() -> None:  # the applications made since the last hook belong to the innermost module
        owners.extend([stack[-1] if stack else None] * (len(recorded) - len(owners)))

    def entering(label: str) -> Callable:
        def hook(module: Module, args: tuple) -> None:
            settle()
            stack.append(label)
        return hook

    def leaving(module: Module, args: tuple, output: Any) -> None:
        settle()
        stack.pop()

    handles = []
    for path, module in modules.named_modules():
        handles.append(module.register_forward_pre_hook(entering(_module_label(path, module))))
        handles.append(module.register_forward_hook(leaving))
    try:
        with tracing() as recorded:
            outputs = fn(*inputs)
            settle()
    finally:
        for handle in handles:
            handle.remove()
    outputs = list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]
    given = dict(zip(inputs, names)) if names is not None else {}
    parameter_names = {id(parameter): name for name, parameter in modules.named_parameters()}
    for application in recorded:  # name the parameters the model's way
        for value in application.inputs:
            if isinstance(value, Tensor) and id(value) in parameter_names:
                given[value] = parameter_names[id(value)]
    graph = Graph(inputs, outputs, recorded, given, allow_unused)
    clusters = _match(graph, recorded, owners)
    owner_of_parameter = {name: label for path, module in modules.named_modules()
                          for name in (f"{path}.{own}" if path else own for own in module._parameters)
                          for label in [_module_label(path, module)]}
    used = set(clusters.values())
    clusters.update({name: owner_of_parameter[name] for name in graph.parameters
                     if owner_of_parameter.get(name) in used})
    return _with_clusters(graph, clusters)


def _match(graph: Graph, recorded: list, owners: list) -> dict[str, str]:
    """Each assignment's module: the graph keeps, in order, the applications its outputs need, so
    its assignments are matched in order against the trace by op and shape."""
    clusters: dict[str, str] = {}
    position = 0
    for step in graph.assignments:
        while position < len(recorded) and not (recorded[position].function.name == step.op
                                                and tuple(recorded[position].result.shape) == step.shape):
            position += 1
        if position == len(recorded):
            return {}  # not found in order: no clusters rather than wrong ones
        if owners[position] is not None:
            clusters[step.name] = owners[position]
        position += 1
    return clusters


def _backward_clusters(forward: ModuleGraph, backward: Graph) -> dict[str, str]:
    """Clusters of ``forward.backward_graph()``: its first assignments redo the forward pass (they
    keep their module); each later one belongs to the backward of the forward op whose gradient
    it reads (``dz3`` is the gradient of forward's ``z3``), in a cluster "LABEL backward"; a step
    that reads no gradient goes with the first step that reads it."""
    steps = backward.assignments
    clusters = {name: label for name, label in forward.clusters.items() if name in backward.parameters}
    as_forward = {name: name for name in [*forward.inputs, *forward.parameters]}
    position, split = 0, len(steps)
    for index, step in enumerate(steps):
        arguments = tuple(as_forward.get(a, "?") if isinstance(a, str) else a for a in step.arguments)
        found = next((number for number in range(position, len(forward.assignments))
                      if forward.assignments[number].op == step.op
                      and _same_names(forward.assignments[number].arguments, arguments)), None)
        if found is None:
            split = index
            break
        as_forward[step.name] = forward.assignments[found].name
        if as_forward[step.name] in forward.clusters:
            clusters[step.name] = forward.clusters[as_forward[step.name]]
        position = found + 1
    variables = {*forward.inputs, *forward.parameters, *(step.name for step in forward.assignments)}
    seed = backward.inputs[-1]
    origin: dict[str, str | None] = {seed: forward.clusters.get(forward.outputs[0])}
    late = steps[split:]
    for step in late:
        gradients = [a for a in step.arguments if isinstance(a, str) and a in origin]
        if gradients:
            named = [a for a in gradients if a.startswith("d") and a[1:].rstrip("'") in variables]
            origin[step.name] = forward.clusters.get(named[0][1:].rstrip("'")) if named else origin[gradients[0]]
    for step in reversed(late):
        if step.name not in origin:
            readers = [other.name for other in late if step.name in other.arguments and other.name in origin]
            origin[step.name] = origin[readers[0]] if readers else None
    clusters.update({step.name: f"{origin[step.name]} backward" for step in late if origin[step.name] is not None})
    return clusters


def _same_names(ours: tuple, theirs: tuple) -> bool:
    """Whether two argument lists name the same variables (literals are not compared)."""
    return len(ours) == len(theirs) and all(
        isinstance(a, str) == isinstance(b, str) and (not isinstance(a, str) or a == b) for a, b in zip(ours, theirs))
