"""Drawing computation graphs with Graphviz.

``draw_graph(root)`` returns a ``graphviz.Digraph`` (displayed inline in Jupyter; ``.render()``
writes SVG or PNG; ``save_graph`` writes one file by suffix). Node names in the source are
stable: ``v<n>`` for the value with creation number ``n``, ``op<n>`` for the op that produced
it, ``c<n>_<k>`` for the constant that is argument ``k`` of that op, ``cut`` for the marker
shown when ``max_nodes`` stopped the drawing, ``box_<path>`` for a module drawn as one box
(``depth``, ``fold``) and ``legend`` for the legend of ``grad_health``.
"""

from __future__ import annotations

import html
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphviz
import numpy as np

from . import engine
from .engine import Node, ScopePath, backprop
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
    "saved": {"fillcolor": "#fff3bf", "style": "filled,dashed"},  # a forward value backward reads
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
    health: GradHealth | None = None

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


def _walk(root: Node, max_nodes: int, roots: list | None = None, frontier: int = -1) -> _Walk:
    """Breadth-first from ``root`` (or from each of ``roots``), iterative; stops before drawing
    more than ``max_nodes`` nodes (values, ops, constants, and the cut marker, whose slot is
    kept in reserve). Nodes created at or before ``frontier`` are drawn but not expanded."""
    starts = [root] if roots is None else roots
    w = _Walk(values=list(starts), drawn=len(starts))
    budget = max_nodes - 1
    seen = set(starts)
    queue = deque(starts)
    while queue and not w.cut:
        n = queue.popleft()
        if n._op is None or n._id <= frontier:
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
    w.cut += [n for n in queue if n._op is not None and n._id > frontier and n not in w.cut]
    return w


def _value_attrs(n: Node, root: Node, uses: int, show_data: bool, show_grad: bool,
                 kind: str | None = None, note: str = "") -> dict:
    lines = _value_lines(n, show_data, show_grad)
    if note:
        lines.insert(1 if n.label else 0, note)
    attrs = {"shape": "box", "style": "filled", **_STYLE[kind or _kind(n, root)]}
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


VANISHING = 1e-7  # an edge's gradient norm below this times the largest one: vanishing
EXPLODING = 1e7  # above this times the median norm (or nan or inf): exploding
# edge colours by gradient norm relative to the largest, strongest first (viridis steps)
_RAMP = [(1e-1, "#440154", "3"), (1e-2, "#3b528b", "2.5"), (1e-3, "#21918c", "2"),
         (1e-5, "#5ec962", "1.5"), (VANISHING, "#b5de2b", "1.2")]
_VANISH_EDGE = {"color": "#adb5bd", "style": "dashed"}
_EXPLODE_EDGE = {"color": "#e03131", "penwidth": "3.5"}


def _norm(g: Any) -> float:
    """The 2-norm of a gradient, without overflow (a scaled sum of squares); nan stays nan."""
    a = np.abs(np.asarray(g.data if isinstance(g, Node) else g, dtype=np.float64))
    if a.size == 0:
        return 0.0
    big = a.max()
    if not np.isfinite(big) or big == 0.0:
        return float(big)
    return float(big * np.sqrt(np.sum(np.square(a / big))))


@dataclass
class GradHealth:
    """The gradient norm along each drawn edge and what ``draw_graph(grad_health=True)``
    flagged: the ``median`` of the finite nonzero norms and the ``largest`` of those that are
    not exploding, and per scope path ("" outside any) the number of ``vanishing`` (0 or
    < 1e-7 x largest) and ``exploding`` (nan, inf or > 1e7 x median) edges in it."""

    norms: dict = field(default_factory=dict)  # (tail name, head name) -> norm
    largest: float = 0.0
    median: float = 0.0
    vanishing: Counter = field(default_factory=Counter)
    exploding: Counter = field(default_factory=Counter)

    def kind(self, norm: float) -> str:
        """"exploding", "vanishing" or "ok"."""
        if not np.isfinite(norm) or norm > EXPLODING * self.median > 0.0:
            return "exploding"
        return "vanishing" if norm < VANISHING * self.largest or norm == 0.0 else "ok"

    def edge_attrs(self, norm: float) -> dict:
        """The colour, width and tooltip of an edge carrying a gradient of this norm."""
        kind, tip = self.kind(norm), {"tooltip": f"gradient norm {norm:.3g}"}
        if kind != "ok":
            return {**(_EXPLODE_EDGE if kind == "exploding" else _VANISH_EDGE), **tip}
        rel = norm / self.largest
        color, width = next((c, w) for bound, c, w in _RAMP if rel >= bound)
        return {"color": color, "penwidth": width, **tip}


def _grad_health(root: Node) -> GradHealth:
    """One backward pass from ``root`` (its ``.grad`` as the seed when a backward gave it one,
    else ones for a one-element root), recording the norm of the gradient along each edge:
    into an op, the gradient it sent that input; out of it, the one its output received.
    No ``.grad`` is written, and anomaly mode does not stop it: the nans are what to draw."""
    data = root.data
    if root.grad is not None and isinstance(data, np.ndarray):
        seed = root._make_seed(root.grad)
    elif not isinstance(data, np.ndarray) or data.size == 1:
        seed = root._make_seed(None)
    else:
        raise ValueError(f"draw_graph: grad_health needs the gradient of the root, of shape "
                         f"{tuple(data.shape)}: call backward(grad) on it first, or draw a "
                         f"one-element result (a loss)")
    h = GradHealth()
    norms = h.norms

    def observe(n: Node, g: Any, sent: list) -> None:
        norms[(f"op{n._id}", f"v{n._id}")] = _norm(g)
        for a, ga, _, _ in sent:
            key = (f"v{a._id}", f"op{n._id}")
            norms[key] = float(np.hypot(norms.get(key, 0.0), _norm(ga)))  # x * x: both

    prev = engine.state.anomaly
    engine.state.anomaly = False
    try:
        backprop(root, seed, observe=observe)
    finally:
        engine.state.anomaly = prev
    finite = [x for x in norms.values() if np.isfinite(x) and x > 0.0]
    h.median = float(np.median(finite)) if finite else 0.0
    # the largest of the norms that are not exploding: what the others vanish next to
    h.largest = max((x for x in finite if x <= EXPLODING * h.median), default=0.0)
    return h


def _legend(h: GradHealth, titles: dict[str, str]) -> str:
    """An HTML-like table: the colour ramp, and the boxes with vanishing or exploding edges."""
    rows = [f"<tr><td colspan='2'><b>gradient norm along each edge</b> "
            f"(largest {h.largest:.3g})</td></tr>"]
    for bound, color, _ in _RAMP:
        rows.append(f"<tr><td bgcolor='{color}' width='30'></td>"
                    f"<td align='left'>&#8805; {bound:g} x largest</td></tr>")
    rows.append(f"<tr><td bgcolor='{_VANISH_EDGE['color']}'></td><td align='left'>vanishing:"
                f" &lt; {VANISHING:g} x largest (dashed)</td></tr>")
    rows.append(f"<tr><td bgcolor='{_EXPLODE_EDGE['color']}'></td><td align='left'>exploding:"
                f" nan, inf or &gt; {EXPLODING:g} x median ({h.median:.3g})</td></tr>")
    for what, counts in (("exploding", h.exploding), ("vanishing", h.vanishing)):
        for path, k in counts.items():
            where = html.escape(titles.get(path, path) if path else "outside modules")
            rows.append(f"<tr><td colspan='2' align='left'>{what}: {k} edge(s) in "
                        f"{where}</td></tr>")
    return "<<table border='0' cellborder='1' cellspacing='0'>" + "".join(rows) + "</table>>"


def _backward_roots(root: Node) -> tuple[list, Node]:
    """Record the gradient computation of ``root`` (``backprop`` with ``create_graph``, from a
    seed node that requires grad, so that every step is recorded; no ``.grad`` written) and
    return the gradient of each leaf that requires grad (those nodes, labelled ``grad <leaf>``)
    and the seed."""
    data = root.data
    if isinstance(data, np.ndarray):
        seed = root._kind(root._make_seed(None if root.grad is None else root.grad),
                          requires_grad=True, label="seed")
    else:
        seed = root._kind(1.0, label="seed")
    grads = backprop(root, seed, create_graph=True)
    outs: dict[int, Node] = {}
    names: dict[int, list[str]] = {}
    for n, g in grads.items():
        if n._op is None and n is not root:
            g = g if isinstance(g, Node) else n._kind(g)
            outs.setdefault(id(g), g)
            names.setdefault(id(g), []).append(n.label or "leaf")
    for k, g in outs.items():  # (nodes of ours: the seed or steps of the recorded backward)
        g.label = ("seed = grad " if g is seed else "grad ") + ", ".join(names[k])
    return list(outs.values()), seed


def _signature(path: str, ops: list, title: str) -> tuple:
    """What makes two module calls the same block: the class, and each op under ``path`` in
    tape order with its sub-path, parameters, output shape and dtype."""
    inner = [(n._op.name, n._scope[len(path):], format_params(n._params),
              np.shape(n.data), str(getattr(n.data, "dtype", "float")))
             for n in ops if n._scope == path or n._scope.startswith(path + ".")]
    return (title.partition(": ")[2] or title, tuple(inner)) if inner else ()


def _fold_runs(paths: list[str], ops: list, titles: dict[str, str]) -> dict[str, tuple]:
    """path -> (the first path of its run, the run's paths) for every run of two or more
    consecutive siblings (``3``, ``4``, ``5`` under one parent, as a Sequential names its
    children) that are the same block; an outer run first, and nothing inside it folds."""
    scoped = sorted((n for n in ops if n._scope is not None), key=lambda n: n._id)
    sig = {p: _signature(p, scoped, titles.get(p, p)) for p in paths}
    siblings: dict[str, list[tuple[int, str]]] = {}
    for p in paths:
        parent, _, last = p.rpartition(".")
        if last.isdigit():
            siblings.setdefault(parent, []).append((int(last), p))
    folded: dict[str, tuple] = {}
    for parent in sorted(siblings, key=lambda q: q.count(".") if q else -1):
        if any(parent == f or parent.startswith(f + ".") for f in folded):
            continue
        kids = sorted(siblings[parent])
        start = 0
        for i in range(1, len(kids) + 1):
            if i < len(kids) and kids[i][0] == kids[i - 1][0] + 1 \
                    and sig[kids[i][1]] and sig[kids[i][1]] == sig[kids[start][1]]:
                continue
            if i - start >= 2:
                run = tuple(p for _, p in kids[start:i])
                folded.update({p: (run[0], run) for p in run})
            start = i
    return folded


def _collapse(w: _Walk, groups: dict, edges: list, titles: dict[str, str], depth: int | None,
              fold: bool, root: Node, health: GradHealth | None) -> tuple[dict, list, dict, dict]:
    """Replace each module deeper than ``depth`` names, and each run of identical blocks
    (``fold``), by one box node ``box_<path>`` titled with the module (``x N`` for a run)
    and the shapes going in and out. Returns the new groups, edges (tail, head, attrs) and
    titles, and the renaming of the nodes that went into boxes."""
    folded = _fold_runs(list(titles), w.ops, titles) if fold else {}

    def key_of(path: str | None) -> str | None:
        if path is None:
            return None
        parts = path.split(".")
        for end in range(1, len(parts) + 1):
            pre = ".".join(parts[:end])
            if pre in folded:
                return folded[pre][0]
            if end == depth:
                return pre
        return None

    rename: dict[str, str] = {}
    new_groups: dict[str | None, list] = {}
    inside: dict[str, list[str]] = {}  # box key -> the names it swallowed
    for path, members in groups.items():
        key = key_of(path)
        if key is None:
            new_groups.setdefault(path, []).extend(members)
            continue
        for name, _ in members:
            rename[name] = f"box_{key}"
        inside.setdefault(key, []).extend(name for name, _ in members)
    nodes = {f"v{n._id}": n for n in w.values}
    ins: dict[str, dict[str, None]] = {k: {} for k in inside}
    outs: dict[str, dict[str, None]] = {k: {} for k in inside}
    new_edges: list = []
    seen = set()
    for (tail, head, _), attrs in edges:
        t, h = rename.get(tail, tail), rename.get(head, head)
        if t == h and tail != head:
            continue  # inside one box
        if h != head:
            attrs = {k: v for k, v in attrs.items() if k not in ("label", "fontsize")}
            if tail in nodes:
                ins[h[4:]][tail] = None
        if t != tail and tail in nodes:
            outs[t[4:]][tail] = None
        if (t, h) not in seen:
            seen.add((t, h))
            new_edges.append((t, h, attrs))
    for key, names in inside.items():
        if f"v{root._id}" in names:
            outs[key][f"v{root._id}"] = None
        run = folded.get(key, (key, (key,)))[1]
        title = titles.get(key, key)
        if len(run) > 1:
            last = run[-1].rpartition(".")[2]
            name, _, cls = title.partition(": ")
            title = f"{name}-{last}: {cls} x {len(run)}" if cls else f"{name}-{last} x {len(run)}"
        params = [nodes[m] for m in names if m in nodes and nodes[m]._op is None]
        n_ops = sum(1 for m in names if m.startswith("op"))
        lines = [title,
                 "in " + ", ".join(_shape_of(nodes[v]) for v in ins[key]) if ins[key] else "",
                 "out " + ", ".join(_shape_of(nodes[v]) for v in outs[key]),
                 f"{n_ops} ops, {sum(int(np.size(p.data)) for p in params)} parameters"]
        attrs = {"shape": "box3d", "style": "filled", "fillcolor": "#e7f5ff"}
        for kind, flag in (("vanishing", "#1c7ed6"), ("exploding", "#e03131")):
            count = sum(k for p, k in getattr(health, kind).items() if p and key_of(p) == key) \
                if health is not None else 0
            if count:
                lines.append(f"{kind} gradients ({count} edges)")
                attrs.update(color=flag, penwidth="2.5")
        attrs["label"] = _html([x for x in lines if x], bold_first=True)
        new_groups.setdefault(key.rpartition(".")[0] or None, []).append((f"box_{key}", attrs))
    kept = {p: t for p, t in titles.items() if key_of(p) is None}
    return new_groups, new_edges, kept, rename


def _shape_of(n: Node) -> str:
    return str(tuple(n.data.shape)) if isinstance(n.data, np.ndarray) else "scalar"


def draw_graph(root: Node, *, rankdir: str | None = None, show_data: bool = True,
               show_grad: bool = True, show_tape: bool = False, max_nodes: int = 500,
               clusters: bool = True, model: Any = None,
               grad_health: bool = False, depth: int | None = None, fold: bool = False,
               backward: bool = False) -> Digraph:
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
    nodes it has (the legend aside) and ``cut`` whether it was cut.

    ``grad_health=True`` runs one backward pass from ``root`` (seeded with its ``.grad`` if a
    backward gave it one, else ones for a one-element root; no ``.grad`` is written) and
    colours each edge by the norm of the gradient along it (the gradient an op sends an
    input; out of an op, the one its output receives), darker and wider for larger norms
    relative to the largest. Vanishing gradients (norm 0 or < 1e-7 x the largest: dashed grey)
    and exploding ones (nan, inf, or > 1e7 x the median norm: thick red) are counted per
    box (the op's), whose border turns blue or red and whose title says how many; a legend
    lists the scale and the flagged boxes. The counts are in the graph's ``health`` (a
    ``GradHealth``).

    Large graphs: ``depth=k`` draws each module whose scope path has ``k`` names (a
    Sequential's layers are at depth 1, their sub-modules at 2; a ``scope`` of yours counts
    too) as one box, with its title, the shapes going in and out, and its ops and parameters
    counted; shallower modules stay boxes of ops. ``fold=True`` draws each run of two or more
    consecutive identical blocks (siblings named ``3``, ``4``, ... as in a Sequential, of one
    class, with the same ops on the same shapes) as one box ``3-5: Block x 3``. Both need
    ``clusters``. ``backward=True`` draws the backward graph instead: the gradient
    computation that ``backward(create_graph=True)`` records, run here from a ``seed`` (ones,
    or the root's ``.grad``) without writing any ``.grad``: its outputs are the gradients of
    the leaves (``grad W``), and the forward values it reads are dashed yellow ("saved:
    tanh output"), not expanded.
    """
    if max_nodes < 2:
        raise ValueError(f"draw_graph: max_nodes must be at least 2, not {max_nodes}")
    if depth is not None and (type(depth) is not int or depth < 1):
        raise ValueError(f"draw_graph: depth must be a positive int or None, not {depth!r}")
    if (depth is not None or fold) and not clusters:
        raise ValueError("draw_graph: depth and fold collapse module boxes: they need "
                         "clusters=True")
    if backward and grad_health:
        raise ValueError("draw_graph: grad_health colours the forward graph's edges; draw "
                         "backward=True without it")
    seed = None
    if backward:
        grad_roots, seed = _backward_roots(root)
        w = _walk(root, max_nodes, roots=grad_roots, frontier=root._id)
    else:
        grad_roots = [root]
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
    root_ids = {id(g) for g in grad_roots}
    for n in w.values:
        kind, saved = None, ""
        if backward:  # the gradients are the outputs; forward values are what backward reads
            kind = "output" if id(n) in root_ids else "saved" if n._id <= root._id else \
                "named input" if n is seed else None
            if kind == "saved" and n._op is not None:
                saved = f"saved: {n._op.name} output"
        attrs = _value_attrs(n, root, w.uses[n], show_data, show_grad, kind, saved)
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
    box_of = {name: path for path, members in groups.items() for name, _ in members}
    health = _grad_health(root) if grad_health else None
    edge_attrs: list[dict] = []
    for tail, head, tag in w.edges:
        attrs = {"label": tag, "fontsize": "9"} if tag else {}
        norm = None if health is None else health.norms.get((tail, head))
        if norm is not None and health is not None:
            attrs.update(health.edge_attrs(norm))
            kind = health.kind(norm)
            if kind != "ok":  # counted in the box of the op the gradient flows through
                op_box = box_of[head if head.startswith("op") else tail]
                getattr(health, kind)[op_box or ""] += 1
        edge_attrs.append(attrs)
    edges = [(tail, head, attrs) for (tail, head, _), attrs in zip(w.edges, edge_attrs)]
    rename: dict[str, str] = {}
    if depth is not None or fold:
        groups, edges, titles, rename = _collapse(w, groups, list(zip(w.edges, edge_attrs)),
                                                  titles, depth, fold, root, health)
        box_of = {name: path for path, members in groups.items() for name, _ in members}
    boxes: dict[str, graphviz.Digraph] = {}
    for key, title in titles.items():
        boxes[key] = box = graphviz.Digraph(name=f"cluster_{key}")
        lines, color = [title], "#868e96"
        if health is not None:
            for kind, flag in (("vanishing", "#1c7ed6"), ("exploding", "#e03131")):
                count = getattr(health, kind)[key]
                if count:
                    lines.append(f"{kind} gradients ({count} edges)")
                    color = flag
        box.attr(label=_html(lines), style="rounded,dashed", color=color,
                 fontname="Helvetica", penwidth="1" if color == "#868e96" else "2.5")
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
    computed = {f"v{n._id}" for n in w.ops} | set(rename.values())
    for tail, head, attrs in edges:
        if tail in computed and box_of[tail] != box_of[head]:
            attrs["minlen"] = "2"
        dot.edge(tail, head, **attrs)
    if health is not None:
        dot.node("legend", _legend(health, titles), shape="plaintext", fontsize="9")
        dot.health = health
    if w.cut:
        note = [f"graph cut at max_nodes={max_nodes}:", "ops farther from the output not drawn"]
        if show_tape:
            note.append("(tape numbers count drawn ops only)")
        dot.node("cut", _html(note), shape="octagon", style="filled", fillcolor="#ffc9c9",
                 color="#c92a2a", fontsize="10")
        for n in w.cut:
            name = f"op{n._id}" if n in number else f"v{n._id}"
            dot.edge("cut", rename.get(name, name), style="dashed", color="#c92a2a")
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
