"""An interactive graph explorer: one self-contained HTML page, in the browser or in Jupyter.

``explore(root)`` lays the graph of ``root`` out with Graphviz (``draw_graph``'s drawing, as
SVG, made here by the ``dot`` program) and writes it into a page with a small script of our own
and the data of every node as inline JSON: nothing is fetched when the page is viewed (a strict
Content-Security-Policy forbids it). In the page one steps through the forward pass and then
the backward pass one tape entry at a time (the text of each step is ``explain``'s), clicks a
node to read its panel, zooms and pans, searches by label, and collapses module boxes.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import linecache
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import backend
from .engine import Node, traces
from .tape import Tape, _replay, _step_lines, format_data, format_number, format_params, tape

DETAIL_LIMIT = 400  # above this many drawn nodes, Graphviz lays out short labels (see explore)
# Graphviz's effort on a large graph: network simplex and crossing minimisation are capped
# (a 3,200-node graph: 3.2 s of CPU uncapped, 1.4 s capped)
_FAST_LAYOUT = {"nslimit": "0.2", "nslimit1": "0.2", "mclimit": "0.1"}
_EDGE_TAG = re.compile(r"^(\s*\S+ -> \S+) \[label=\d+ fontsize=9( minlen=2)?\]$")
_NODE = re.compile(r'^\s*("[^"]*"|\w+) \[', re.M)
_SUBGRAPH = re.compile(r'^\s*subgraph ("[^"]*"|\w+) \{$')
# a node's and an edge's names as attributes, not <title> elements; no comments: a third fewer
# elements for the browser to parse (what a 5,000-node page's load time is made of)
_COMMENT = re.compile(r"<!--.*?-->\n", re.S)
_NODE_TITLE = re.compile(r'<g id="node\d+" class="node">\n<title>(\w+)</title>')
_EDGE_TITLE = re.compile(r'<g id="edge\d+" class="edge">\n<title>(\w+)&#45;&gt;(\w+)</title>')


class Explorer:
    """The explorer page of one graph: ``save(path)`` writes it as one HTML file, and Jupyter
    shows it inline (in an iframe of its own, so that several outputs never clash).

    ``html`` is the page; ``drawn`` the number of nodes drawn; ``detailed`` whether the drawing
    shows values (``False`` above ``detail_limit`` nodes: the panel still does); ``steps`` the
    number of forward and backward steps.
    """

    def __init__(self, page: str, name: str, drawn: int, detailed: bool, steps: int) -> None:
        self.html = page
        self.drawn = drawn
        self.detailed = detailed
        self.steps = steps
        self._name = name

    def save(self, path: str | Path) -> Path:
        """Write the page to ``path`` (UTF-8) and return the path."""
        path = Path(path)
        path.write_text(self.html, encoding="utf-8")
        return path

    def _repr_html_(self) -> str:
        """Jupyter's display: the page in an iframe."""
        # srcdoc isolates the page's ids, styles and script from the notebook and its outputs
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" sandbox="allow-scripts" '
                f'style="width: 100%; height: 640px; border: 1px solid #ced4da" '
                f'title="tapegrad explorer: {html.escape(self._name)}"></iframe>')

    def __repr__(self) -> str:
        return (f"<Explorer of {self._name}: {self.drawn} nodes drawn, {self.steps} steps; "
                f".save('graph.html') writes the page>")


def explore(root: Node, *, max_nodes: int = 10_000, detail_limit: int = DETAIL_LIMIT,
            model: Any = None, rankdir: str | None = None) -> Explorer:
    """The interactive explorer of the graph that computed ``root`` (a ``Value`` or a
    ``Tensor``): displayed inline in Jupyter, ``.save("graph.html")`` writes one
    self-contained page that needs no network.

    The drawing is ``draw_graph``'s (boxes per module, ops numbered in tape order;
    ``max_nodes``, ``model`` and ``rankdir`` are passed on). Above ``detail_limit`` drawn nodes
    the boxes show labels and shapes only and the layout is Graphviz's faster one, so a graph
    of thousands of nodes lays out in seconds; the page hides text too small to read until
    one zooms in. Each node's panel shows its label, op, shape, dtype, value and gradient
    statistics and the source line that created it (recorded for graphs built under
    ``detect_anomaly()``). The gradients are those of one backward pass from ``root`` (seeded
    with ones, as ``explain``), replayed without touching any ``.grad``.
    Needs Graphviz's ``dot`` program (``GraphvizNotFound`` says how to install it).
    """
    if not isinstance(root, Node):
        raise TypeError(f"explore: root must be a Value or a Tensor, not {type(root).__name__}")
    if type(max_nodes) is not int or max_nodes < 2:
        raise ValueError(f"explore: max_nodes must be an int of at least 2, not {max_nodes!r}")
    if type(detail_limit) is not int or detail_limit < 0:
        raise ValueError(f"explore: detail_limit must be a non-negative int, not "
                         f"{detail_limit!r}")
    dot = draw_graph(root, max_nodes=max_nodes, show_tape=True, show_grad=False, model=model,
                     rankdir=rankdir, show_data=False)
    detailed = dot.drawn <= detail_limit
    if detailed:  # the same drawing with values (few nodes: drawn twice is cheap)
        dot = draw_graph(root, max_nodes=max_nodes, show_tape=True, show_grad=False,
                         model=model, rankdir=rankdir)
    else:
        _reduce(dot)
    svg = dot.pipe(format="svg").decode("utf-8")
    t = tape(root)
    steps, grads = _replay(t)
    # a cut drawing: panels and steps for what is drawn only (the replay is one backward pass)
    drawn = set(_NODE.findall(dot.source))
    fmt = format_data if detailed else _brief
    forward, backward = _forward(t, fmt, drawn), _backward(t, steps, detailed, drawn)
    data = {"name": t.name(root), "nodes": _nodes(t, grads, fmt, drawn),
            "clusters": _clusters(dot.source), "forward": forward, "backward": backward,
            "detailed": detailed, "cut": dot.cut}
    return Explorer(_page(svg, data), t.name(root), dot.drawn, detailed,
                    len(forward) + len(backward))


def _reduce(dot: Digraph) -> None:
    """A large drawing made cheap to lay out: no argument numbers on edges (each labelled
    edge is a node of its own to Graphviz; the panel lists an op's inputs in order) and
    capped layout effort."""
    dot.body[:] = [_EDGE_TAG.sub(lambda m: m[1] + (" [minlen=2]" if m[2] else ""), line)
                   for line in dot.body]
    dot.graph_attr.update(_FAST_LAYOUT)


def _clusters(source: str) -> dict[str, Any]:
    """Module boxes from the Graphviz source: each box's parent and each node's box."""
    parent: dict[str, str | None] = {}
    home: dict[str, str] = {}
    stack: list[str] = []
    for line in source.splitlines():
        m = _SUBGRAPH.match(line)
        if m:
            name = m[1].strip('"')
            parent[name] = stack[-1] if stack else None
            stack.append(name)
        elif line.strip() == "}":
            if stack:
                stack.pop()
        elif stack and "->" not in line and (m := _NODE.match(line)):
            home[m[1].strip('"')] = stack[-1]
    return {"parent": parent, "home": home}


def _stats(x: Any) -> str:
    """min / mean / max / std (and non-finite counts) of an array of more than one element."""
    a = np.asarray(x)
    if a.size <= 1:
        return ""
    if a.dtype.kind in "biu":
        return f"min {a.min()} max {a.max()}"
    with backend.quiet():
        finite = np.isfinite(a)
        text = (f"min {a.min():.4g}  mean {a.mean():.4g}  max {a.max():.4g}  "
                f"std {a.std():.4g}  norm {np.linalg.norm(a.ravel()):.4g}")
    bad = a.size - int(finite.sum())
    if bad:
        text += f"  non-finite {bad} (nan {int(np.isnan(a).sum())})"
    return text


def _source(n: Node) -> str:
    """Where ``n`` was created, with the line itself, if anomaly mode recorded it."""
    where = traces.get(n)
    if where is None:
        return ("not recorded: build the graph "
                "under `with autograd.detect_anomaly():` to record where each node is made)")
    file, _, line = where.rpartition(":")
    text = linecache.getline(file, int(line)).strip() if line.isdigit() else ""
    return f"{where}: {text}" if text else where


def _nodes(t: Tape, grads: dict, fmt: Callable[[Any], str], drawn: set) -> dict[str, list]:
    """The panel of every node the drawing may hold, as (field, text) rows, by drawing name."""
    out: dict[str, list] = {}
    entry = {e.output: e for e in t}
    values = [e.output for e in t] + [a for e in t for a in e.inputs if isinstance(a, Node)]
    values.append(t.root)
    for n in values:
        key = f"v{n._id}"
        if key in out or key not in drawn:
            continue
        e = entry.get(n)
        array = isinstance(n.data, np.ndarray)
        rows = [["name", t.name(n)], ["label", n.label], ["kind", _kind(n, t.root)],
                ["op", "leaf (no op made it)" if e is None else
                 f"{e.op} {format_params(e.params)}".strip() + f"  (tape #{e.index})"]]
        if e is not None:
            rows.append(["inputs", ", ".join(t.name(a) for a in e.inputs)])
        rows += [["shape", str(tuple(n.data.shape)) if array else "() (a Value: a scalar)"],
                 ["dtype", str(n.data.dtype) if array else "float64 (Python float)"],
                 ["value", fmt(n.data)], ["value stats", _stats(n.data)]]
        g = grads.get(n)
        if g is None:
            why = "does not require grad" if not n.requires_grad else "no path to the output"
            rows += [["grad", f"none ({why})"], ["grad stats", ""]]
        else:
            rows += [["grad", fmt(g)], ["grad stats", _stats(g)]]
        rows.append(["source", _source(n) if e is not None else
                     "a leaf: made by the user, not by an op"])
        out[key] = rows
    for e in t:
        n = e.output
        if f"op{n._id}" not in drawn:
            continue
        out[f"op{n._id}"] = [["op", e.op], ["params", format_params(e.params)],
                             ["tape", f"#{e.index}"], ["describe", t.describe(e)],
                             ["output", t.name(n)], ["source", _source(n)]]
        for k, c in enumerate(e.inputs):
            if not isinstance(c, Node) and f"c{n._id}_{k}" in drawn:
                out[f"c{n._id}_{k}"] = [["constant", t.name(c)],
                                        ["used by", f"{e.op} (tape #{e.index}), argument {k}"]]
    return out


def _brief(x: Any) -> str:
    """``format_data``, fast: values of up to six elements, else min / mean / max (numpy's
    array printing costs about 0.5 ms a call: too slow for the thousands of a large graph)."""
    if not isinstance(x, np.ndarray):
        return format_number(x)
    head = f"{tuple(x.shape)} {x.dtype}"
    if x.size <= 6:
        return head + " [" + ", ".join(format_number(v) for v in x.ravel().tolist()) + "]"
    if x.dtype.kind in "biu":
        return f"{head} min {x.min()} max {x.max()}"
    with backend.quiet():
        return f"{head} min {x.min():.4g} mean {x.mean():.4g} max {x.max():.4g}"


def _forward(t: Tape, fmt: Callable[[Any], str], drawn: set) -> list[dict]:
    return [{"node": f"v{e.output._id}", "op": f"op{e.output._id}",
             "text": f"forward {e.index + 1} of {len(t)}: {t.describe(e)}\n"
                     f"    = {fmt(e.output.data)}",
             "grad": "", "sends": []} for e in t if f"op{e.output._id}" in drawn]


def _backward(t: Tape, steps: list, detailed: bool, drawn: set) -> list[dict]:
    """Each backward step: the node, the gradient arriving and what it sends, and its text:
    ``explain``'s, or for a large graph a short one (the gradients, without local
    derivatives and formulas)."""
    total = len(steps)
    fmt = format_data if detailed else _brief
    out = []
    for number, s in enumerate(steps, 1):
        e = s.entry
        if f"op{e.output._id}" not in drawn:
            continue
        if detailed:
            text = "\n".join(_step_lines(t, s, number, total))
        else:
            lines = [f"step {number} of {total} (tape #{e.index}): {t.describe(e)}",
                     f"    gradient arriving at {t.name(e.output)}: {fmt(s.grad)}"]
            for x in s.sends:
                line = f"    to {t.name(x.to)}: {fmt(x.grad)}"
                if x.uses > 1:
                    line += f"   [running total {fmt(x.total)} ({x.k} of {x.uses})]"
                lines.append(line)
            text = "\n".join(lines)
        out.append({"node": f"v{e.output._id}", "op": f"op{e.output._id}", "text": text,
                    "grad": fmt(s.grad), "sends": [[f"v{x.to._id}", fmt(x.grad)]
                                                   for x in s.sends]})
    return out


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _page(svg: str, data: dict) -> str:
    svg = svg[svg.index("<svg"):]  # no XML prolog or doctype inside HTML
    svg = _COMMENT.sub("", svg)
    svg = _NODE_TITLE.sub(r'<g class="node" data-name="\1">', svg)
    svg = _EDGE_TITLE.sub(r'<g class="edge" data-tail="\1" data-head="\2">', svg)
    svg = re.sub(r'<svg width="[^"]*" height="[^"]*"', '<svg id="graph"', svg, count=1)
    # JSON in a script element: "</" must not end it early
    payload = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")
    # the only script and style allowed to run are ours (by hash); nothing may be fetched
    csp = (f"default-src 'none'; script-src {_hash(_SCRIPT)}; style-src {_hash(_STYLE)}; "
           f"img-src data:")
    title = html.escape(data["name"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>tapegrad explorer: {title}</title>
<style>{_STYLE}</style></head>
<body>
<div id="bar">
<button id="first" title="before the first step (Home)">&#xAB; first</button>
<button id="prev" title="previous step (left arrow, p)">&#x25C0; prev</button>
<button id="next" title="next step (right arrow, n)">next &#x25B6;</button>
<button id="last" title="the last step (End)">last &#xBB;</button>
<span id="where"></span>
<span class="gap"></span>
<button id="zoom-in" title="zoom in (+)">+</button>
<button id="zoom-out" title="zoom out (-)">&#x2212;</button>
<button id="fit" title="the whole graph (f)">fit</button>
<input id="search" type="search" placeholder="search labels (/)" autocomplete="off">
<span id="found"></span>
</div>
<div id="main">
<div id="view">{svg}</div>
<div id="side">
<h2>Step</h2>
<div id="step-grad"></div>
<pre id="step-text"></pre>
<h2>Node</h2>
<table id="panel"><tr><td>Click a node.</td></tr></table>
<p class="help">Wheel: zoom. Drag: pan. Click a module's title: collapse or expand it.
Keys: n/p or arrows step, Home/End, +/- zoom, f fit, / search (Enter: next match).</p>
</div></div>
<script type="application/json" id="explorer-data">{payload}</script>
<script>{_SCRIPT}</script>
</body></html>
"""


_STYLE = """
html, body { margin: 0; height: 100%; font: 13px Helvetica, Arial, sans-serif; }
body { display: flex; flex-direction: column; }
#bar { display: flex; gap: 4px; align-items: center; padding: 4px 6px;
  border-bottom: 1px solid #ced4da; background: #f8f9fa; }
#bar .gap { flex: 1; }
#where { margin-left: 8px; color: #495057; }
#main { flex: 1; display: flex; min-height: 0; }
#view { flex: 1; min-width: 0; overflow: hidden; cursor: grab; background: white; }
#view.dragging { cursor: grabbing; }
#graph { width: 100%; height: 100%; display: block; }
#side { width: 360px; overflow: auto; border-left: 1px solid #ced4da; padding: 0 8px; }
#side h2 { font-size: 14px; margin: 10px 0 4px; }
#step-text { white-space: pre-wrap; font: 11px monospace; margin: 4px 0; }
#step-grad { font: 12px monospace; color: #c92a2a; }
#panel { border-collapse: collapse; font-size: 12px; }
#panel td { border-top: 1px solid #e9ecef; padding: 2px 4px; vertical-align: top;
  word-break: break-word; }
#panel td:first-child { color: #495057; white-space: nowrap; }
.help { color: #868e96; font-size: 11px; }
#graph.far text { display: none; }
g.node { cursor: pointer; }
g.node.current > :is(polygon, ellipse, path) { stroke: #c92a2a; stroke-width: 4px; }
g.node.current-op > :is(polygon, ellipse, path) { fill: #ffc9c9; stroke: #c92a2a; }
g.node.receive > :is(polygon, ellipse, path) { stroke: #1971c2; stroke-width: 4px; }
g.node.selected > :is(polygon, ellipse, path) { stroke: #7048e8; stroke-width: 3px;
  stroke-dasharray: 4 2; }
#graph.searching g.node:not(.match) { opacity: 0.25; }
g.node.match > :is(polygon, ellipse, path) { stroke: #f08c00; stroke-width: 4px; }
.gone { display: none; }
g.cluster > text { cursor: pointer; text-decoration: underline; }
g.cluster.collapsed > :is(path, polygon) { fill: #e9ecef; }
"""

_SCRIPT = r"""
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("explorer-data").textContent);
  const svg = document.getElementById("graph");
  const view = document.getElementById("view");
  const byName = new Map();  // drawing name (v12, op12, c12_1) -> its <g>
  for (const g of svg.querySelectorAll("g.node")) {
    byName.set(g.dataset.name, g);
  }
  const edges = [];
  for (const g of svg.querySelectorAll("g.edge")) {
    edges.push([g, g.dataset.tail, g.dataset.head]);
  }
  const clusters = new Map();
  for (const g of svg.querySelectorAll("g.cluster")) {
    const text = g.querySelector("text");
    clusters.set(g.querySelector("title").textContent,
                 {g: g, text: text, title: text ? text.textContent : ""});
  }

  // ----- zoom and pan: the viewBox -----
  const full = svg.viewBox.baseVal;
  const home = [full.x, full.y, full.width, full.height];
  let box = home.slice();
  function setBox(b) {
    box = b;
    svg.setAttribute("viewBox", b.join(" "));
    // text below 4 px on screen is not rendered (most of it, on a large graph)
    const px = Math.min(view.clientWidth / b[2], view.clientHeight / b[3]);
    svg.classList.toggle("far", px * 14 < 4);
  }
  function toUser(clientX, clientY) {
    const p = svg.createSVGPoint();
    p.x = clientX; p.y = clientY;
    return p.matrixTransform(svg.getScreenCTM().inverse());
  }
  function zoom(factor, cx, cy) {
    const r = view.getBoundingClientRect();
    const c = cx === undefined ? toUser(r.left + r.width / 2, r.top + r.height / 2)
                               : toUser(cx, cy);
    setBox([c.x - (c.x - box[0]) * factor, c.y - (c.y - box[1]) * factor,
            box[2] * factor, box[3] * factor]);
  }
  function fit() { setBox(home.slice()); }
  // the first view: the whole graph, or its top (the output) at a readable size if it is tall
  function start() {
    const w = view.clientWidth || 800, h = view.clientHeight || 600;
    const scale = Math.min(w / home[2], h / home[3]);
    if (scale * 14 >= 6) { fit(); return; }
    const s = Math.max(scale, 0.6);
    setBox([home[0], home[1], w / s, h / s]);
  }
  view.addEventListener("wheel", function (e) {
    e.preventDefault();
    zoom(Math.pow(1.0015, e.deltaY), e.clientX, e.clientY);
  }, {passive: false});
  let drag = null;
  view.addEventListener("pointerdown", function (e) {
    suppressClick = false;  // (set by a drag whose click landed on no node)
    drag = {x: e.clientX, y: e.clientY, box: box.slice(), moved: false};
  });
  window.addEventListener("pointermove", function (e) {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    drag.moved = true;
    view.classList.add("dragging");
    const k = 1 / svg.getScreenCTM().a;
    setBox([drag.box[0] - dx * k, drag.box[1] - dy * k, drag.box[2], drag.box[3]]);
  });
  window.addEventListener("pointerup", function () {
    view.classList.remove("dragging");
    if (drag && drag.moved) { suppressClick = true; }
    drag = null;
  });
  let suppressClick = false;
  function centre(g) {
    const b = g.getBBox();
    const m = svg.getScreenCTM().inverse().multiply(g.getScreenCTM());
    const p = svg.createSVGPoint();
    p.x = b.x + b.width / 2; p.y = b.y + b.height / 2;
    const c = p.matrixTransform(m);
    // close enough to read the node
    let w = box[2], h = box[3];
    const px = Math.min(view.clientWidth / w, view.clientHeight / h);
    if (px < 0.6) { w = view.clientWidth / 0.8; h = view.clientHeight / 0.8; }
    setBox([c.x - w / 2, c.y - h / 2, w, h]);
  }
  function visible(g) {
    const r = g.getBoundingClientRect(), v = view.getBoundingClientRect();
    return r.left >= v.left && r.right <= v.right && r.top >= v.top && r.bottom <= v.bottom;
  }

  // ----- stepping: the forward pass, then the backward pass -----
  const steps = data.forward.map(function (s) { return Object.assign({phase: "forward"}, s); })
    .concat(data.backward.map(function (s) { return Object.assign({phase: "backward"}, s); }));
  let at = 0;
  const marked = [];
  function mark(name, cls) {
    const g = byName.get(name);
    if (g) { g.classList.add(cls); marked.push([g, cls]); }
  }
  function show(i) {
    at = Math.max(0, Math.min(steps.length, i));
    for (const [g, cls] of marked.splice(0)) g.classList.remove(cls);
    const where = document.getElementById("where");
    const text = document.getElementById("step-text");
    const grad = document.getElementById("step-grad");
    if (at === 0) {
      where.textContent = "step 0 of " + steps.length;
      text.textContent = "Press next (or the right arrow) to step through the forward pass, " +
        "then the backward pass.";
      grad.textContent = "";
      return;
    }
    const s = steps[at - 1];
    const k = s.phase === "forward" ? at : at - data.forward.length;
    const n = s.phase === "forward" ? data.forward.length : data.backward.length;
    where.textContent = s.phase + " " + k + " of " + n;
    text.textContent = s.text;
    grad.textContent = s.phase === "backward" ? "gradient arriving: " + s.grad : "";
    mark(s.node, "current");
    mark(s.op, "current-op");
    for (const [to, g] of s.sends) mark(to, "receive");
    const g = byName.get(s.node);
    // bring the current node into view, readable
    if (g && !g.classList.contains("gone") && (!visible(g) || svg.classList.contains("far"))) {
      centre(g);
    }
    document.body.dataset.step = String(at);
  }
  document.getElementById("first").onclick = function () { show(0); };
  document.getElementById("prev").onclick = function () { show(at - 1); };
  document.getElementById("next").onclick = function () { show(at + 1); };
  document.getElementById("last").onclick = function () { show(steps.length); };
  document.getElementById("zoom-in").onclick = function () { zoom(1 / 1.4); };
  document.getElementById("zoom-out").onclick = function () { zoom(1.4); };
  document.getElementById("fit").onclick = fit;

  // ----- the panel of a clicked node -----
  let selected = null;
  function select(name) {
    if (selected) selected.classList.remove("selected");
    selected = byName.get(name) || null;
    if (selected) selected.classList.add("selected");
    const table = document.getElementById("panel");
    table.textContent = "";
    for (const [key, value] of (data.nodes[name] || [["node", name + " (no data)"]])) {
      const tr = table.insertRow();
      tr.dataset.key = key;
      tr.insertCell().textContent = key;
      tr.insertCell().textContent = value;
    }
    table.dataset.node = name;
  }
  for (const [name, g] of byName) {
    g.addEventListener("click", function () {
      if (suppressClick) { suppressClick = false; return; }
      select(name);
    });
  }

  // ----- module boxes collapse and expand -----
  const parent = data.clusters.parent, home_ = data.clusters.home;
  const collapsed = new Set();
  const inside = new Map();  // box -> how many nodes it holds, nested boxes included
  for (const k in home_) {
    for (let b = home_[k]; b; b = parent[b]) inside.set(b, (inside.get(b) || 0) + 1);
  }
  function hiddenBy(box_) {  // the outermost collapsed box around (or at) this one
    let found = null;
    for (let b = box_; b; b = parent[b]) if (collapsed.has(b)) found = b;
    return found;
  }
  function refresh() {
    const gone = new Set();
    for (const [name, g] of byName) {
      const hide = home_[name] !== undefined && hiddenBy(home_[name]) !== null;
      g.classList.toggle("gone", hide);
      if (hide) gone.add(name);
    }
    for (const [g, tail, head] of edges) {
      g.classList.toggle("gone", gone.has(tail) && gone.has(head));
    }
    for (const [name, c] of clusters) {
      const outer = parent[name] ? hiddenBy(parent[name]) : null;
      c.g.classList.toggle("gone", outer !== null);
      c.g.classList.toggle("collapsed", collapsed.has(name));
      if (c.text) {
        c.text.textContent = collapsed.has(name)
          ? "\u25B8 " + c.title + " (" + (inside.get(name) || 0) + " nodes)"
                                                 : c.title;
      }
    }
  }
  for (const [name, c] of clusters) {
    if (!c.text) continue;
    c.text.addEventListener("click", function (e) {
      e.stopPropagation();
      if (suppressClick) { suppressClick = false; return; }
      if (collapsed.has(name)) collapsed.delete(name); else collapsed.add(name);
      refresh();
    });
  }

  // ----- search by label -----
  const search = document.getElementById("search");
  let matches = [], hit = -1;
  function find() {
    const q = search.value.trim().toLowerCase();
    for (const g of matches) g.classList.remove("match");
    matches = [];
    hit = -1;
    svg.classList.toggle("searching", q !== "");
    if (q !== "") {
      for (const [name, g] of byName) {
        const rows = data.nodes[name] || [];
        const label = rows.length > 1 && rows[1][0] === "label" ? rows[1][1] : "";
        const named = rows.length && rows[0][0] === "name" ? rows[0][1] : "";
        if (label.toLowerCase().includes(q) || named.toLowerCase().includes(q)) {
          g.classList.add("match");
          matches.push(g);
        }
      }
    }
    document.getElementById("found").textContent = q === "" ? "" : matches.length + " found";
  }
  search.addEventListener("input", find);
  search.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && matches.length) {
      hit = (hit + 1) % matches.length;
      const g = matches[hit];
      select(g.dataset.name);
      centre(g);
    } else if (e.key === "Escape") {
      search.value = "";
      find();
      search.blur();
    }
    e.stopPropagation();
  });

  // ----- keys -----
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const k = e.key;
    if (k === "ArrowRight" || k === "n") show(at + 1);
    else if (k === "ArrowLeft" || k === "p") show(at - 1);
    else if (k === "Home") show(0);
    else if (k === "End") show(steps.length);
    else if (k === "+" || k === "=") zoom(1 / 1.4);
    else if (k === "-") zoom(1.4);
    else if (k === "f") fit();
    else if (k === "/") search.focus();
    else return;
    e.preventDefault();
  });

  start();
  show(0);
  document.body.dataset.ready = String(performance.now());
})();
"""

# viz exposes explore (its last line imports this module): importing these at the end lets
# either module be imported first
from .viz import Digraph, _kind, draw_graph  # noqa: E402
