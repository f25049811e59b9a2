"""Drawing computation graphs with Graphviz.

``draw_graph(root)`` returns a ``graphviz.Digraph`` (displayed inline in Jupyter; ``.render()``
writes SVG or PNG; ``save_graph`` writes one file by suffix). Node names in the source are
stable: ``v<n>`` for the value with creation number ``n``, ``op<n>`` for the op that produced
it, ``c<n>_<k>`` for the constant that is argument ``k`` of that op, and ``cut`` for the marker
shown when ``max_nodes`` stopped the drawing.
"""

from __future__ import annotations

import html
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphviz
import numpy as np

from .engine import Node, ScopePath
from .tape import format_array, format_params

INSTALL_HINT = (
    "the Graphviz 'dot' program is needed to render drawings but was not found on PATH; "
    "install Graphviz: `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
    "(macOS) or `conda install graphviz` (conda); building the source (.source) works without it"
)

_STYLE = {  # fill colour and shape of each kind of value node
    "output": {"fillcolor": "#b7e4c7", "penwidth": "2"},
    "parameter": {"fillcolor": "#ffe08a"},
    "leaf": {"fillcolor": "#cfe2ff"},
    "named input": {"fillcolor": "#e5dbff", "style": "filled,dashed"},
    "input": {"fillcolor": "#f1f3f5", "style": "filled,dashed"},
    "value": {"fillcolor": "white"},
}


class GraphvizNotFound(graphviz.ExecutableNotFound):
    """Rendering needs the Graphviz ``dot`` program; the message says how to install it."""

    def __init__(self, message: str = INSTALL_HINT) -> None:
        RuntimeError.__init__(self, message)


class Digraph(graphviz.Digraph):
    """A ``graphviz.Digraph`` whose rendering explains how to install Graphviz when the
    ``dot`` program is missing. ``drawn``, ``visited`` and ``cut`` describe the drawing:
    nodes drawn (values, ops, constants, cut marker), graph values examined, and whether
    ``max_nodes`` cut it."""

    drawn = 0
    visited = 0
    cut = False

    def pipe(self, *args: Any, **kwargs: Any) -> Any:
        """Render through ``dot`` and return the output (also used for Jupyter display)."""
        try:
            return super().pipe(*args, **kwargs)
        except graphviz.ExecutableNotFound as e:
            raise GraphvizNotFound() from e

    def render(self, *args: Any, **kwargs: Any) -> str:
        """Write the source and the rendered file (``format="svg"`` or ``"png"``)."""
        try:
            return super().render(*args, **kwargs)
        except graphviz.ExecutableNotFound as e:
            raise GraphvizNotFound() from e


def _html(lines: list[str], bold_first: bool = False) -> str:
    """An HTML-like label of escaped lines (``{ } | < > " \\`` and newlines stay literal)."""
    out = []
    for i, line in enumerate(lines):
        text = "<br/>".join(html.escape(part) for part in str(line).split("\n"))
        out.append(f"<b>{text}</b>" if bold_first and i == 0 else text)
    return "<" + "<br/>".join(out) + ">"


def _number(x: float) -> str:
    return f"{x:.4g}"


def _value_lines(n: Node, show_data: bool, show_grad: bool) -> list[str]:
    lines = [n.label] if n.label else []
    data = n.data
    if isinstance(data, np.ndarray):
        lines.append(f"{tuple(data.shape)} {data.dtype}")
        if show_data:
            lines.append(format_array(data))
        if show_grad and n.grad is not None:
            g = n.grad.data if isinstance(n.grad, Node) else n.grad
            lines.append(f"grad {format_array(g)}")
    else:
        if show_data:
            lines.append(f"data {_number(data)}")
        if show_grad and n.grad is not None:
            g = n.grad.data if isinstance(n.grad, Node) else n.grad
            lines.append(f"grad {_number(g)}")
    return lines or [type(n).__name__]


def _kind(n: Node, root: Node) -> str:
    if n is root:
        return "output"
    if n._op is not None:
        return "value"
    if not n.requires_grad:  # data: a named one (the images, the targets) stands out
        return "named input" if n.label else "input"
    # a leaf that requires grad and is named: a parameter (nn names every one it holds)
    return "parameter" if n.label else "leaf"


def _const_label(c: Any) -> str:
    if isinstance(c, np.ndarray):
        return f"{tuple(c.shape)} {c.dtype} {format_array(c)}"
    return _number(float(c)) if isinstance(c, (int, float, np.number)) else repr(c)[:30]


@dataclass
class _Walk:
    """What a bounded breadth-first walk from the root found."""

    values: list = field(default_factory=list)  # value nodes to draw, nearest the root first
    ops: list = field(default_factory=list)  # nodes whose op is drawn
    consts: list = field(default_factory=list)  # (name, constant, consuming node)
    edges: list = field(default_factory=list)  # (tail, head, argument position or "")
    uses: Counter = field(default_factory=Counter)  # drawn edges out of each value
    cut: list = field(default_factory=list)  # nodes where the drawing stops short
    drawn: int = 0


def _walk(root: Node, max_nodes: int) -> _Walk:
    """Breadth-first from ``root``, iterative; stops before drawing more than ``max_nodes``
    nodes (values, ops, constants, and the cut marker, whose slot is kept in reserve)."""
    w = _Walk(values=[root], drawn=1)
    budget = max_nodes - 1
    seen = {root}
    queue = deque([root])
    while queue and not w.cut:
        n = queue.popleft()
        if n._op is None:
            continue
        if w.drawn >= budget:
            w.cut.append(n)  # its op is not drawn
            break
        w.drawn += 1
        w.ops.append(n)
        w.edges.append((f"op{n._id}", f"v{n._id}", ""))
        ordered = len(n._args) > 1 and not n._op.commutative
        for k, a in enumerate(n._args):
            tag = str(k) if ordered else ""
            if not (isinstance(a, Node) and a in seen):
                if w.drawn >= budget:
                    w.cut.append(n)  # its op is drawn, some of its inputs are not
                    break
                w.drawn += 1
                if not isinstance(a, Node):
                    w.consts.append((f"c{n._id}_{k}", a, n))
                    w.edges.append((f"c{n._id}_{k}", f"op{n._id}", tag))
                    continue
                seen.add(a)
                w.values.append(a)
                queue.append(a)
            w.edges.append((f"v{a._id}", f"op{n._id}", tag))
            w.uses[a] += 1
    w.cut += [n for n in queue if n._op is not None and n not in w.cut]
    return w


def _value_attrs(n: Node, root: Node, uses: int, show_data: bool, show_grad: bool) -> dict:
    lines = _value_lines(n, show_data, show_grad)
    attrs = {"shape": "box", "style": "filled", **_STYLE[_kind(n, root)]}
    if uses > 1:
        lines.append(f"used {uses}x: grads summed")
        attrs.update(color="#e8590c", penwidth="2")
    attrs["label"] = _html(lines, bold_first=bool(n.label))
    return attrs


def _op_attrs(n: Node, number: int | None) -> dict:
    text = [n._op.symbol if number is None else f"#{number} {n._op.symbol}"]
    params = format_params(n._params)
    if params:
        text.append(params)
    return {"shape": "ellipse", "style": "filled", "fillcolor": "#e9ecef", "label": _html(text)}


def _titles(paths: list[str], titled: list[ScopePath], model: Any) -> dict[str, str]:
    """The title of the cluster of every scope path and of each path above it: the one the
    ``titled`` paths recorded (nn's: ``0: Linear``, as PyTorch prints a model), all of them if
    modules whose paths coincide gave several; else the path's last name and, where ``model``
    has a module there, its class. A module's path is relative to the outermost module called,
    perhaps under scopes of the caller's (``train.0``), so the longest suffix that names a
    module counts."""
    classes = {}
    if model is not None:
        if not callable(getattr(model, "named_modules", None)):
            raise TypeError(f"draw_graph: model must be a module (with named_modules()), "
                            f"not {type(model).__name__}")
        classes = {name: type(m).__name__ for name, m in model.named_modules() if name}
    recorded: dict[str, dict[str, None]] = {}  # path -> its distinct titles, in drawing order
    for t in titled:
        parts = t.split(".")
        for end, title in enumerate(t.titles, 1):
            recorded.setdefault(".".join(parts[:end]), {})[title] = None
    titles = {}
    for path in paths:
        parts = path.split(".")
        for end in range(1, len(parts) + 1):
            key = ".".join(parts[:end])
            titles[key] = " | ".join(recorded[key]) if key in recorded else \
                _title(parts[:end], classes)
    return titles


def _title(parts: list[str], classes: dict[str, str]) -> str:
    for start in range(len(parts)):
        cls = classes.get(".".join(parts[start:]))
        if cls:
            return f"{parts[-1]}: {cls}"
    return parts[-1]


def draw_graph(root: Node, *, rankdir: str | None = None, show_data: bool = True,
               show_grad: bool = True, show_tape: bool = False, max_nodes: int = 500,
               clusters: bool = True, model: Any = None) -> Digraph:
    """Draw the graph that computed ``root`` (a ``Value`` or a ``Tensor``).

    One node per value (label; data, or for tensors shape, dtype and values or min / mean /
    max; grad when known) and one per op (its symbol, ``+ - * / ** neg``, or its name), edges in
    data-flow direction; constants are small plain nodes. Leaves, parameters (labelled leaves
    that require grad), labelled data inputs, other data inputs and the output are coloured
    differently; a value used by several ops (its gradients are summed) has an orange border
    and says how many. ``show_tape`` numbers the ops in tape order. ``clusters`` boxes the ops
    run inside a ``scope`` (nn modules open one), a box per name of the dotted path, nested,
    with the leaves that require grad used in that scope only (a module's parameters); a
    module's box is titled by its name and class (``0: Linear``, from the ``ScopePath`` nn
    records), another box by its name (or by its name and the class of ``model``'s module at
    that path, given one). ``rankdir`` lays the graph out left to right
    (``"LR"``, micrograd's layout: the default for a ``Value``) or top to bottom (``"TB"``,
    torchviz's: the default for a ``Tensor``, whose boxes are wide; a 2-layer MLP's training
    step renders 1263 px wide so, 2887 px left to right).

    The traversal is breadth-first from ``root`` and iterative; it stops once ``max_nodes``
    nodes (values, ops, constants and the cut marker) are drawn, so the nodes nearest the root
    are kept, and a marker shows where the graph was cut. It never visits more than
    ``max_nodes`` values: the returned graph's ``visited`` says how many, ``drawn`` how many
    nodes it has and ``cut`` whether it was cut.
    """
    if max_nodes < 2:
        raise ValueError(f"draw_graph: max_nodes must be at least 2, not {max_nodes}")
    w = _walk(root, max_nodes)
    if rankdir is None:
        rankdir = "TB" if isinstance(root.data, np.ndarray) else "LR"
    # a leaf that requires grad, used in one scope only (a module's parameter), is drawn there
    users: dict[Node, set] = {}
    for n in w.ops:
        for a in n._args:
            if isinstance(a, Node) and a._op is None and a.requires_grad:
                users.setdefault(a, set()).add(n._scope)

    def scope_of(n: Node) -> str | None:
        if not clusters:
            return None
        if n._op is None:
            homes = users.get(n, ())
            return next(iter(homes)) if len(homes) == 1 else None
        return n._scope

    groups: dict[str | None, list[tuple[str, dict]]] = {}
    for n in w.values:
        attrs = _value_attrs(n, root, w.uses[n], show_data, show_grad)
        groups.setdefault(scope_of(n), []).append((f"v{n._id}", attrs))
    number = {n: i for i, n in enumerate(sorted(w.ops, key=lambda n: n._id))}
    for n in w.ops:
        attrs = _op_attrs(n, number[n] if show_tape else None)
        groups.setdefault(scope_of(n), []).append((f"op{n._id}", attrs))
    for name, c, n in w.consts:
        attrs = {"shape": "plaintext", "fontsize": "9", "width": "0", "height": "0",
                 "margin": "0.02", "label": _html([_const_label(c)])}
        groups.setdefault(scope_of(n), []).append((name, attrs))

    dot = Digraph(graph_attr={"rankdir": rankdir},
                  node_attr={"fontname": "Helvetica", "fontsize": "11"})
    # the titles travel with each path object: equal paths from two models may differ
    titled = {(p, p.titles): p for n in w.ops if isinstance(p := n._scope, ScopePath)}
    titles = _titles([p for p in groups if p is not None], list(titled.values()), model)
    boxes: dict[str, graphviz.Digraph] = {}
    for key, title in titles.items():
        boxes[key] = box = graphviz.Digraph(name=f"cluster_{key}")
        box.attr(label=_html([title]), style="rounded,dashed", color="#868e96",
                 fontname="Helvetica")
    for path, members in groups.items():
        for name, attrs in members:
            (dot if path is None else boxes[path]).node(name, **attrs)
    # a box is copied into its parent when added, so the deepest go first
    for key in sorted(boxes, key=lambda p: -p.count(".")):
        parent = key.rpartition(".")[0]
        (boxes[parent] if parent else dot).subgraph(boxes[key])
    # A value passed from one box to the next skips a rank: the next box's parameters take
    # that rank, inside their box, so boxes stack instead of stepping sideways (a 2-layer
    # MLP's step: 1263 px wide, not 1785).
    box_of = {name: path for path, members in groups.items() for name, _ in members}
    computed = {f"v{n._id}" for n in w.ops}
    for tail, head, tag in w.edges:
        attrs = {"label": tag, "fontsize": "9"} if tag else {}
        if tail in computed and box_of[tail] != box_of[head]:
            attrs["minlen"] = "2"
        dot.edge(tail, head, **attrs)
    if w.cut:
        note = [f"graph cut at max_nodes={max_nodes}:", "ops farther from the output not drawn"]
        if show_tape:
            note.append("(tape numbers count drawn ops only)")
        dot.node("cut", _html(note), shape="octagon", style="filled", fillcolor="#ffc9c9",
                 color="#c92a2a", fontsize="10")
        for n in w.cut:
            dot.edge("cut", f"op{n._id}" if n in number else f"v{n._id}", style="dashed",
                     color="#c92a2a")
        w.drawn += 1
    dot.drawn, dot.visited, dot.cut = w.drawn, len(w.values), bool(w.cut)
    return dot


def save_graph(dot: graphviz.Digraph, path: str | Path) -> Path:
    """Write ``dot`` to ``path``: rendered by its suffix (``.svg``, ``.png``, ``.pdf``), or the
    source for ``.dot``/``.gv``. Without the Graphviz program the source is written next to it
    (``.dot`` suffix) instead. Returns the path written."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt in ("dot", "gv"):
        path.write_text(dot.source)
        return path
    try:
        data = dot.pipe(format=fmt or "svg")
    except graphviz.ExecutableNotFound:
        path = path.with_suffix(".dot")
        path.write_text(dot.source)
        return path
    path.write_bytes(data)
    return path

# the interactive explorer (its own module): autograd.viz.explore(root)
from .explorer import Explorer, explore  # noqa: E402, F401
