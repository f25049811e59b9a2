"""draw_graph: rendered through the real `dot` program, the SVG parsed as XML."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

import graphviz
import numpy as np
import pytest

from autograd import Tensor, Value, scope
from autograd.viz import GraphvizNotFound, draw_graph, save_graph

SVG = "{http://www.w3.org/2000/svg}"


def parse(dot: graphviz.Digraph) -> tuple[dict, set, dict]:
    """Render to SVG through `dot`; return {node: [texts]}, {(tail, head)}, {cluster: [texts]}."""
    root = ET.fromstring(dot.pipe(format="svg"))
    nodes, edges, clusters = {}, set(), {}
    for g in root.iter(f"{SVG}g"):
        title = g.findtext(f"{SVG}title")
        texts = [t.text or "" for t in g.iter(f"{SVG}text")]
        kind = g.get("class")
        if kind == "node":
            nodes[title] = texts
        elif kind == "edge":
            edges.add(tuple(title.split("->")))
        elif kind == "cluster":
            clusters[title] = texts
    return nodes, edges, clusters


def fills(dot: graphviz.Digraph) -> dict[str, str]:
    """The fill colour of each node's shape in the SVG."""
    root = ET.fromstring(dot.pipe(format="svg"))
    out = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == "node":
            shape = next(iter(g.iter(f"{SVG}polygon")), None)
            out[g.findtext(f"{SVG}title")] = None if shape is None else shape.get("fill")
    return out


def v(n) -> str:
    return f"v{n._id}"


def op(n) -> str:
    return f"op{n._id}"


def micrograd_abc():
    a, b, c = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c")
    ab = a * b
    out = ab + c
    out.label = "out"
    out.backward()
    return a, b, c, ab, out


def mlp_step():
    x = Tensor(np.arange(8.0).reshape(4, 2), label="x")
    W = Tensor([[1.0, -1.0, 0.5], [0.25, 2.0, -3.0]], requires_grad=True, label="W")
    b = Tensor([0.1, 0.2, 0.3], requires_grad=True, label="b")
    xw = x @ W
    h = xw + b
    r = h.relu()
    loss = r.sum()
    return x, W, b, xw, h, r, loss


def test_value_expression_exact_nodes_and_edges():
    a, b, c, ab, out = micrograd_abc()
    nodes, edges, clusters = parse(draw_graph(out))
    assert set(nodes) == {v(a), v(b), v(c), v(ab), v(out), op(ab), op(out)}
    assert edges == {(v(a), op(ab)), (v(b), op(ab)), (op(ab), v(ab)),
                     (v(ab), op(out)), (v(c), op(out)), (op(out), v(out))}
    assert clusters == {}
    assert nodes[v(a)] == ["a", "data 2", "grad -3"]
    assert nodes[v(b)] == ["b", "data -3", "grad 2"]
    assert nodes[v(ab)] == ["data -6", "grad 1"]
    assert nodes[v(out)] == ["out", "data 4", "grad 1"]
    assert nodes[op(ab)] == ["*"] and nodes[op(out)] == ["+"]


def test_tensor_mlp_step_exact_nodes_and_edges():
    x, W, b, xw, h, r, loss = mlp_step()
    dot = draw_graph(loss, show_tape=True)
    nodes, edges, _ = parse(dot)
    assert set(nodes) == {v(x), v(W), v(b), v(xw), v(h), v(r), v(loss),
                          op(xw), op(h), op(r), op(loss)}
    assert edges == {(v(x), op(xw)), (v(W), op(xw)), (op(xw), v(xw)),
                     (v(xw), op(h)), (v(b), op(h)), (op(h), v(h)),
                     (v(h), op(r)), (op(r), v(r)), (v(r), op(loss)), (op(loss), v(loss))}
    # show_tape numbers the ops in tape order; matmul shows its symbol, the others their names
    assert [nodes[op(n)] for n in (xw, h, r, loss)] == [["#0 @"], ["#1 +"], ["#2 relu"],
                                                        ["#3 sum"]]
    assert nodes[v(x)] == ["x", "(4, 2) float64", "min 0 mean 3.5 max 7"]  # 8 elements
    assert nodes[v(W)] == ["W", "(2, 3) float64", "[[1, -1, 0.5], [0.25, 2, -3]]"]  # 6 elements
    assert nodes[v(loss)] == ["() float64", "37.2"]
    assert not any(t.startswith("grad") for texts in nodes.values() for t in texts)

    loss.backward()
    nodes, _, _ = parse(draw_graph(loss))
    assert nodes[v(b)] == ["b", "(3,) float64", "[0.1, 0.2, 0.3]", "grad [4, 4, 0]"]
    assert nodes[v(x)] == ["x", "(4, 2) float64", "min 0 mean 3.5 max 7"]  # no grad asked


def test_styles_leaves_parameters_inputs_output_and_fan_out():
    w = Tensor([1.0, 2.0], requires_grad=True, label="w")  # a named leaf: a parameter
    x = Tensor([3.0, 4.0])  # data: no grad
    u = Tensor([1.0, 1.0], requires_grad=True)  # an unlabelled leaf
    y = w * x + u
    z = y * y + y  # y is used three times
    loss = z.sum()
    dot = draw_graph(loss)
    colours = fills(dot)
    assert colours[v(w)] == "#ffe08a"
    assert colours[v(x)] == "#f1f3f5"
    assert colours[v(u)] == "#cfe2ff"
    assert colours[v(loss)] == "#b7e4c7"
    assert colours[v(y)] == "white"
    nodes, edges, _ = parse(dot)
    assert nodes[v(y)][-1] == "used 3x: grads summed"
    assert sum(1 for t in nodes.values() if t[-1].startswith("used")) == 1


def test_constants_are_drawn_and_argument_order_is_shown():
    f = Value(3.0, label="f")
    g = 10.0 / f
    h = f**2
    out = g + h
    nodes, edges, _ = parse(draw_graph(out, show_data=False, show_grad=False))
    c_num, c_exp = f"c{g._id}_0", f"c{h._id}_1"
    assert set(nodes) == {v(f), v(g), v(h), v(out), op(g), op(h), op(out), c_num, c_exp}
    assert nodes[c_num] == ["10"] and nodes[c_exp] == ["2"]
    assert {(c_num, op(g)), (v(f), op(g)), (v(f), op(h)), (c_exp, op(h))} <= edges
    assert nodes[v(f)] == ["f", "used 2x: grads summed"]
    assert nodes[op(g)] == ["/"] and nodes[op(h)] == ["**"]
    # non-commutative ops label their edges with the argument position
    source = draw_graph(out).source
    assert f"{c_num} -> {op(g)} [label=0" in source
    assert f"v{f._id} -> {op(g)} [label=1" in source


def test_odd_labels_render_literally():
    odd = 'x{ } | < > " \\ & end\nsecond line'
    a = Value(1.0, label=odd)
    t = Tensor([1.0], requires_grad=True, label="<b>not bold</b>")
    nodes, _, _ = parse(draw_graph(a * 2.0))
    assert nodes[v(a)][:2] == ['x{ } | < > " \\ & end', "second line"]
    nodes, _, _ = parse(draw_graph(t.sum()))
    assert nodes[v(t)][0] == "<b>not bold</b>"
    with scope('odd "path" <{|}>'):
        out = t * 2.0
    _, _, clusters = parse(draw_graph(out))
    assert list(clusters.values()) == [['odd "path" <{|}>']]


def test_max_nodes_on_a_long_chain_keeps_the_nodes_nearest_the_root():
    x = Value(0.5, label="x")
    chain = [x]
    for _ in range(10**5 - 1):
        chain.append(chain[-1].tanh())
    root = chain[-1]
    dot = draw_graph(root, max_nodes=500)
    assert dot.visited <= 500 and dot.drawn <= 500 and dot.cut
    nodes, edges, _ = parse(dot)
    assert len(nodes) == dot.drawn == 500
    kept = {n for n in nodes if n.startswith("v")}
    assert kept == {v(n) for n in chain[-250:]}  # the newest values, nearest the root
    assert "cut" in nodes and "max_nodes=500" in " ".join(nodes["cut"])
    assert ("cut", v(chain[-250])) in edges  # the marker points where the graph goes on
    assert v(x) not in nodes


def test_max_nodes_counts_every_node_and_an_uncut_graph_has_no_marker():
    a, b, c, ab, out = micrograd_abc()
    full = draw_graph(out)
    assert (full.drawn, full.visited, full.cut) == (7, 5, False)
    assert "cut" not in full.source
    small = draw_graph(out, max_nodes=4)
    assert small.cut and small.drawn <= 4
    drawn = set(re.findall(r"^\t(\w+) \[", small.source, re.M)) - {"graph", "node"}
    assert drawn == {v(out), op(out), v(ab), "cut"}  # c did not fit
    assert f"cut -> {op(out)}" in small.source and f"cut -> {v(ab)}" in small.source
    with pytest.raises(ValueError, match="max_nodes"):
        draw_graph(out, max_nodes=1)


def test_module_clusters_appear_by_dotted_path():
    x = Tensor(np.ones((2, 2)), label="x")
    W0 = Tensor(np.eye(2), requires_grad=True, label="W0")
    W1 = Tensor(np.eye(2), requires_grad=True, label="W1")
    with scope("0"):
        h = (x @ W0).relu()
    with scope("encoder"), scope("1"):  # nested scopes join with "."
        y = h @ W1
    loss = y.sum()
    dot = draw_graph(loss)
    _, _, clusters = parse(dot)
    assert sorted(t[0] for t in clusters.values()) == ["0", "1", "encoder"]  # 1 in encoder
    body = dot.source
    zero = body[body.index("subgraph cluster_0 {"):]
    zero = zero[: zero.index("}")]
    assert op(h) in zero and v(h) in zero and f"op{h._args[0]._id}" in zero
    assert v(y) not in zero and v(loss) not in zero
    assert "subgraph" not in draw_graph(loss, clusters=False).source


def test_missing_dot_builds_the_source_and_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no `dot` anywhere
    a, b, c, ab, out = micrograd_abc()
    dot = draw_graph(out)
    assert "digraph" in dot.source and f"v{a._id}" in dot.source
    for render in (lambda: dot.pipe(format="svg"), dot._repr_mimebundle_,
                   lambda: dot.render(tmp_path / "g", format="svg")):
        with pytest.raises(GraphvizNotFound) as info:
            render()
        message = str(info.value)
        assert "apt-get install graphviz" in message
        assert "brew install graphviz" in message
        assert "conda install graphviz" in message
        assert isinstance(info.value, graphviz.ExecutableNotFound)
        assert isinstance(info.value, RuntimeError)
    written = save_graph(dot, tmp_path / "graph.svg")
    assert written == tmp_path / "graph.dot" and written.read_text() == dot.source


def test_render_save_and_jupyter_display(tmp_path):
    a, b, c, ab, out = micrograd_abc()
    dot = draw_graph(out)
    svg = save_graph(dot, tmp_path / "g.svg")
    assert svg == tmp_path / "g.svg" and ET.parse(svg).getroot().tag == f"{SVG}svg"
    png = save_graph(dot, tmp_path / "g.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert save_graph(dot, tmp_path / "g.dot").read_text() == dot.source
    rendered = dot.render(tmp_path / "r", format="svg")
    assert rendered.endswith("r.svg")
    bundle = dot._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml")


def test_a_leaf_alone_and_rankdir():
    a = Value(3.0, label="a")
    dot = draw_graph(a, rankdir="TB")
    nodes, edges, _ = parse(dot)
    assert nodes == {v(a): ["a", "data 3", "grad 0"]} and edges == set()
    assert "rankdir=TB" in dot.source


def test_show_tape_numbers_match_the_tape():
    from autograd import tape

    a, b = Value(-4.0, label="a"), Value(2.0, label="b")
    c = a * b + b**3
    out = (c - a).relu() + c
    source = draw_graph(out, show_tape=True).source
    for entry in tape(out):
        sym = entry.output._op.symbol
        assert f"{op(entry.output)} [label=<#{entry.index} {html.escape(sym)}>" in source


def test_nn_sequential_clusters():
    import nn

    model = nn.Sequential(nn.Linear(2, 3, seed=0), nn.ReLU(), nn.Linear(3, 1, seed=1))
    loss = model(Tensor(np.ones((4, 2)), label="x")).sum()
    loss.backward()
    dot = draw_graph(loss)
    nodes, _, clusters = parse(dot)
    assert {"0: Linear", "1: ReLU", "2: Linear"} <= {t[0] for t in clusters.values()}
    weight = dict(model.named_parameters())["0.weight"]
    assert nodes[v(weight)][0] == "0.weight"
    assert fills(dot)[v(weight)] == "#ffe08a"  # a Parameter


def test_a_parameter_is_a_labelled_leaf_that_requires_grad_whatever_its_class():
    import nn

    class Parameter(Tensor):  # a class name means nothing to the drawing
        __slots__ = ()

    anonymous = [Parameter([1.0], requires_grad=True), nn.Parameter([1.0])]
    named = [Parameter([1.0], requires_grad=True, label="p"), nn.Parameter([1.0], label="q"),
             Tensor([1.0], requires_grad=True, label="r")]
    loss = sum((t * 2.0 for t in anonymous + named), Tensor(0.0)).sum()
    colours = fills(draw_graph(loss))
    assert [colours[v(t)] for t in anonymous] == ["#cfe2ff"] * 2  # leaves
    assert [colours[v(t)] for t in named] == ["#ffe08a"] * 3  # parameters


# ----- issue 15: module titles, colours, constants, the fused op, width -------------------------
def extents(dot: graphviz.Digraph) -> dict[str, tuple[float, float, float, float]]:
    """Rendered through `dot`: the bounding box (x0, y0, x1, y1) of each node, by name, and
    of each cluster, by its title."""
    root = ET.fromstring(dot.pipe(format="svg"))
    out = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") not in ("node", "cluster"):
            continue
        shape = next(e for e in g if e.tag in (f"{SVG}polygon", f"{SVG}path", f"{SVG}ellipse"))
        if shape.tag == f"{SVG}ellipse":
            cx, cy, rx, ry = (float(shape.get(k)) for k in ("cx", "cy", "rx", "ry"))
            box = (cx - rx, cy - ry, cx + rx, cy + ry)
        else:
            numbers = [float(x) for x in
                       re.findall(r"-?\d+\.?\d*", shape.get("points") or shape.get("d"))]
            xs, ys = numbers[0::2], numbers[1::2]
            box = (min(xs), min(ys), max(xs), max(ys))
        key = g.findtext(f"{SVG}title") if g.get("class") == "node" else \
            g.findall(f"{SVG}text")[0].text
        out[key] = box
    return out


def inside(inner: tuple, outer: tuple) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and \
        inner[3] <= outer[3]


def png_size(dot: graphviz.Digraph) -> tuple[int, int]:
    """Width and height in pixels of the drawing rendered to PNG by `dot` (96 dpi)."""
    png = dot.pipe(format="png")
    assert png[12:16] == b"IHDR"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def test_module_boxes_are_titled_by_name_and_class_and_hold_their_parameters():
    import nn

    model = nn.Sequential(nn.Linear(2, 3, seed=0), nn.ReLU(), nn.Linear(3, 1, seed=1))
    x = Tensor(np.ones((4, 2)), label="x")
    loss = model(x).sum()
    dot = draw_graph(loss, model=model)
    _, _, clusters = parse(dot)
    titles = sorted(t[0] for t in clusters.values())
    assert titles == ["0: Linear", "1: ReLU", "2: Linear"]
    box = extents(dot)
    params = dict(model.named_parameters())
    for name in ("0.weight", "0.bias"):
        assert inside(box[v(params[name])], box["0: Linear"])
        assert not inside(box[v(params[name])], box["2: Linear"])
    assert inside(box[v(params["2.weight"])], box["2: Linear"])
    assert not any(inside(box[v(x)], box[t]) for t in titles)  # data is no module's
    # without the model too: the titles travel with the scope paths nn records
    assert sorted(t[0] for t in parse(draw_graph(loss))[2].values()) == titles


def test_nested_modules_are_nested_boxes_and_a_scope_around_the_call_is_one_more():
    import nn

    class Net(nn.Module):
        def __init__(self):
            self.encoder = nn.Sequential(nn.Linear(2, 3, seed=0), nn.Tanh())
            self.head = nn.Linear(3, 1, seed=1)

        def forward(self, x):
            return self.head(self.encoder(x))

    net = Net()
    with scope("train"):
        loss = net(Tensor(np.ones((4, 2)))).sum()
    dot = draw_graph(loss, model=net)
    box = extents(dot)
    titles = {t[0] for t in parse(dot)[2].values()}
    assert titles == {"train", "encoder: Sequential", "0: Linear", "1: Tanh", "head: Linear"}
    for inner, outer in [("0: Linear", "encoder: Sequential"), ("1: Tanh", "encoder: Sequential"),
                         ("encoder: Sequential", "train"), ("head: Linear", "train")]:
        assert inside(box[inner], box[outer]), (inner, outer)
    assert not inside(box["head: Linear"], box["encoder: Sequential"])
    with pytest.raises(TypeError, match=r"draw_graph: model must be a module .* not int"):
        draw_graph(loss, model=3)


def test_the_fused_linear_op_is_drawn_by_its_name():
    from autograd import linear

    x = Tensor(np.ones((2, 3)))
    w = Tensor(np.ones((3, 2)), requires_grad=True, label="w")
    b = Tensor(np.zeros(2), requires_grad=True, label="b")
    z = linear(x, w, b)
    nodes, _, _ = parse(draw_graph(z.sum()))
    assert nodes[op(z)] == ["linear"]
    assert z._op.symbol == "linear"


def test_labelled_inputs_have_a_colour_of_their_own():
    images = Tensor(np.ones((2, 2)), label="images")  # data with a name
    noise = Tensor(np.ones((2, 2)))  # data without one
    W = Tensor(np.eye(2), requires_grad=True, label="W")  # a parameter
    loss = (images @ W + noise * W).sum()
    colours = fills(draw_graph(loss))
    assert colours[v(images)] == "#e5dbff"
    assert colours[v(noise)] == "#f1f3f5" and colours[v(W)] == "#ffe08a"
    assert len({colours[v(t)] for t in (images, noise, W, loss)}) == 4


def test_integer_labels_are_a_constant_without_float_statistics():
    from autograd import cross_entropy

    z = Tensor(np.zeros((8, 10)), requires_grad=True, label="z")
    labels = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    loss = cross_entropy(z, labels).mean()
    nodes, _, _ = parse(draw_graph(loss))
    c = f"c{loss._args[0]._id}_1"
    assert nodes[c] == ["(8,) int64 min 1 max 9"]  # no mean: a mean label means nothing
    few = cross_entropy(z[:3], labels[:3]).mean()
    assert parse(draw_graph(few))[0][f"c{few._args[0]._id}_1"] == ["(3,) int64 [3, 1, 4]"]


def test_a_2_layer_mlp_step_renders_at_most_1600_px_wide():
    """The drawing of the demo's and notebook 3's training step, rendered by `dot` at its
    default settings (2887 px wide before: left to right, the layers side by side)."""
    import nn

    model = nn.MLP([64, 64, 10], seed=0)
    images = Tensor(np.random.default_rng(0).random((8, 64)), label="images (8)")
    loss = nn.CrossEntropyLoss()(model(images), np.arange(8))
    loss.label = "loss"
    loss.backward()
    for dot in (draw_graph(loss, model=model), draw_graph(loss)):
        width, height = png_size(dot)
        assert width <= 1600, width
        assert "rankdir=TB" in dot.source
    assert "rankdir=LR" in draw_graph(micrograd_abc()[-1]).source  # a Value's: micrograd's


# ----- module boxes titled without model= (issue 15) --------------------------------------------
def test_module_boxes_are_titled_by_name_and_class_without_the_model():
    import nn

    class Block(nn.Module):
        def __init__(self):
            self.proj = nn.Linear(3, 3, seed=2)

        def forward(self, x):
            with scope("gate"):  # a user's scope inside a module: a box in the module's
                g = self.proj(x).sigmoid()
            return x * g

    class Net(nn.Module):
        def __init__(self):
            self.encoder = nn.Sequential(nn.Linear(2, 3, seed=0), Block())
            self.head = nn.Linear(3, 1, seed=1)

        def forward(self, x):
            return self.head(self.encoder(x))

    net = Net()
    with scope("train"):
        loss = net(Tensor(np.ones((4, 2)))).sum()
    dot = draw_graph(loss)
    box = extents(dot)
    titles = sorted(t[0] for t in parse(dot)[2].values())
    assert titles == ["0: Linear", "1: Block", "encoder: Sequential", "gate", "head: Linear",
                      "proj: Linear", "train"]
    for inner, outer in [("0: Linear", "encoder: Sequential"), ("1: Block", "encoder: Sequential"),
                         ("proj: Linear", "1: Block"), ("gate", "1: Block"),
                         ("encoder: Sequential", "train"), ("head: Linear", "train")]:
        assert inside(box[inner], box[outer]), (inner, outer)
    assert box["proj: Linear"] != box["gate"]  # two boxes: proj is no child of gate
    params = dict(net.named_parameters())
    assert inside(box[v(params["encoder.1.proj.weight"])], box["proj: Linear"])
    assert parse(draw_graph(loss, model=net))[2] == parse(dot)[2]  # model= changes nothing


def test_models_whose_paths_coincide_keep_their_own_titles():
    import nn

    a = nn.Sequential(nn.Linear(2, 2, seed=0), nn.Tanh())
    b = nn.Sequential(nn.Sigmoid(), nn.Linear(2, 1, seed=1))
    x = Tensor(np.ones((1, 2)), requires_grad=True)
    ya, yb = a(x).sum(), b(x).sum()
    assert {t[0] for t in parse(draw_graph(ya))[2].values()} == {"0: Linear", "1: Tanh"}
    assert {t[0] for t in parse(draw_graph(yb))[2].values()} == {"0: Sigmoid", "1: Linear"}
    # in one drawing their paths are one box each, titled by both
    both = {t[0] for t in parse(draw_graph(ya + yb))[2].values()}
    assert both == {"0: Linear | 0: Sigmoid", "1: Tanh | 1: Linear"}


def test_a_plain_scope_path_is_titled_by_the_model_given():
    import nn

    model = nn.Sequential(nn.Linear(2, 2, seed=0))
    x = Tensor(np.ones((1, 2)), requires_grad=True)
    with scope("0"):  # a user's path, with no titles of its own
        y = (x * 2.0).sum()
    assert [t[0] for t in parse(draw_graph(y))[2].values()] == ["0"]
    assert [t[0] for t in parse(draw_graph(y, model=model))[2].values()] == ["0: Linear"]


# ----- gradient health -----
def edge_colours(dot: graphviz.Digraph) -> dict[tuple[str, str], str]:
    """The stroke colour of each edge in the SVG."""
    root = ET.fromstring(dot.pipe(format="svg"))
    out = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == "edge":
            path = next(iter(g.iter(f"{SVG}path")))
            out[tuple(g.findtext(f"{SVG}title").split("->"))] = path.get("stroke")
    return out


def dead_relu_model():
    import nn

    model = nn.Sequential(nn.Linear(3, 4, seed=0), nn.ReLU(), nn.Linear(4, 2, seed=1))
    model[0].bias.data[:] = -100.0  # every ReLU is dead: no gradient reaches layer 0
    return model


def test_grad_health_norms_are_the_gradients_along_each_edge():
    x, W, b, xw, h, r, loss = mlp_step()
    dot = draw_graph(loss, grad_health=True)
    assert W.grad is None and b.grad is None  # its own backward pass writes no .grad
    loss.backward()
    norms = dot.health.norms
    assert norms[(v(W), op(xw))] == pytest.approx(np.linalg.norm(W.grad), rel=1e-12)
    assert norms[(v(b), op(h))] == pytest.approx(np.linalg.norm(b.grad), rel=1e-12)
    assert norms[(op(r), v(r))] == pytest.approx(np.linalg.norm(r.grad), rel=1e-12)
    assert norms[(op(h), v(h))] == pytest.approx(np.linalg.norm(h.grad), rel=1e-12)
    assert (v(x), op(xw)) not in norms  # data gets no gradient: the edge is not coloured
    assert dot.health.largest == max(norms.values())
    colours = edge_colours(dot)
    assert colours[(op(loss), v(loss))] == "#3b528b"  # 1 of the largest (sqrt(32) = 5.66)
    assert colours[(v(W), op(xw))] == "#440154"  # the largest: the darkest
    assert colours[(v(x), op(xw))] == "black"
    assert not dot.health.vanishing and not dot.health.exploding


def test_grad_health_flags_vanishing_gradients_per_module_box_with_a_legend():
    model = dead_relu_model()
    loss = model(np.ones((5, 3))).sum()
    dot = draw_graph(loss, grad_health=True)
    # inside layer 0: its output, weight and bias edges; ReLU's input; layer 2's weight
    assert dot.health.vanishing == {"0": 3, "1": 1, "2": 1}
    _, _, clusters = parse(dot)
    assert clusters["cluster_0"] == ["0: Linear", "vanishing gradients (3 edges)"]
    assert clusters["cluster_2"] == ["2: Linear", "vanishing gradients (1 edges)"]
    assert 'color="#1c7ed6"' in dot.source  # the boxes' blue border
    hidden = loss.inputs[0].inputs[0].inputs[0]  # layer 0's output (sum <- 2 <- relu <- 0)
    grey = {e for e, c in edge_colours(dot).items() if c == "#adb5bd"}
    assert {(v(model[0].weight), op(hidden)), (v(model[0].bias), op(hidden)),
            (op(hidden), v(hidden)), (v(hidden), op(loss.inputs[0].inputs[0])),
            (v(model[2].weight), op(loss.inputs[0]))} == grey
    nodes, _, _ = parse(dot)
    legend = " ".join(nodes["legend"])
    assert "gradient norm along each edge" in legend
    assert "vanishing: 3 edge(s) in 0: Linear" in legend and "exploding" in legend
    # drawn as boxes (depth=1), the modules keep their flags
    nodes, _, _ = parse(draw_graph(loss, grad_health=True, depth=1))
    assert nodes["box_0"][-1] == "vanishing gradients (3 edges)"
    assert nodes["box_1"][-1] == "vanishing gradients (1 edges)"


def test_grad_health_flags_nan_as_exploding_and_uses_the_roots_grad_as_seed():
    from autograd import where

    x = Tensor([0.0, 1.0, 4.0], requires_grad=True, label="x")
    with scope("norm"):
        y = where(x > 0, x.sqrt(), 0.0)  # the masked-where trap: nan into x
    with pytest.raises(ValueError, match=r"grad_health needs the gradient of the root, of "
                                         r"shape \(3,\)"):
        draw_graph(y, grad_health=True)
    y.backward(np.array([1.0, 2.0, 0.0]))
    dot = draw_graph(y, grad_health=True)
    sqrt = y.inputs[1]
    assert np.isnan(dot.health.norms[(v(x), op(sqrt))])
    assert dot.health.norms[(op(y), v(y))] == pytest.approx(np.sqrt(5.0))
    assert dot.health.exploding == {"norm": 1}
    assert edge_colours(dot)[(v(x), op(sqrt))] == "#e03131"
    _, _, clusters = parse(dot)
    assert clusters["cluster_norm"] == ["norm", "exploding gradients (1 edges)"]


def test_grad_health_on_a_value_graph_and_off_by_default():
    a, b, c, ab, out = micrograd_abc()
    plain = draw_graph(out)
    assert plain.health is None and "legend" not in plain.source
    dot = draw_graph(out, grad_health=True)
    assert dot.health.norms[(v(a), op(ab))] == 3.0  # |d out / d a| = |b|
    assert dot.health.norms[(v(b), op(ab))] == 2.0


def test_grad_health_thresholds_are_relative_to_the_largest_and_the_median_norm():
    x = Tensor([1.0, 2.0], requires_grad=True, label="x")
    u = Tensor([1.0, 2.0], requires_grad=True, label="u")
    big = (x * 1e12).sum()  # x's gradient is 1e12 x the others: exploding (> 1e7 x median)
    small = (u * 1e-3).sum()  # u's is 1e-3 x the others: fine
    loss = big + small
    dot = draw_graph(loss, grad_health=True)
    h = dot.health
    assert h.norms[(v(x), op(big.inputs[0]))] == pytest.approx(1e12 * np.sqrt(2))
    assert h.kind(h.norms[(v(x), op(big.inputs[0]))]) == "exploding"
    assert h.kind(h.norms[(v(u), op(small.inputs[0]))]) == "ok"
    assert h.exploding == {"": 1} and not h.vanishing
    assert h.kind(h.largest * 0.99e-7) == "vanishing" and h.kind(h.largest * 1.01e-7) == "ok"
    assert h.kind(h.median * 1.01e7) == "exploding" and h.kind(h.median * 0.99e7) == "ok"


# ----- large graphs: depth, folded blocks, the backward graph -----
def blocks_model(widths=(4, 4, 4, 4)):
    import nn

    class Block(nn.Module):
        def __init__(self, n, seed):
            self.lin = nn.Linear(4, n, seed=seed)
            self.act = nn.Tanh()

        def forward(self, x):
            return self.act(self.lin(x))[:, :4]

    return nn.Sequential(nn.Linear(3, 4, seed=0), *[Block(n, i) for i, n in enumerate(widths)],
                         nn.Linear(4, 1, seed=9))


def test_depth_collapses_each_module_at_that_depth_into_one_box_with_its_shapes():
    model = blocks_model()
    x = Tensor(np.ones((5, 3)), label="x")
    loss = model(x).sum()
    dot = draw_graph(loss, depth=1)
    nodes, edges, clusters = parse(dot)
    assert clusters == {}
    assert set(nodes) == {v(x), op(loss), v(loss)} | {f"box_{i}" for i in range(6)}
    assert edges == {(v(x), "box_0"), ("box_0", "box_1"), ("box_1", "box_2"),
                     ("box_2", "box_3"), ("box_3", "box_4"), ("box_4", "box_5"),
                     ("box_5", op(loss)), (op(loss), v(loss))}
    assert nodes["box_0"] == ["0: Linear", "in (5, 3)", "out (5, 4)", "1 ops, 16 parameters"]
    assert nodes["box_2"] == ["2: Block", "in (5, 4)", "out (5, 4)", "3 ops, 20 parameters"]
    assert nodes["box_5"] == ["5: Linear", "in (5, 4)", "out (5, 1)", "1 ops, 5 parameters"]
    assert 'shape=box3d' in dot.source
    cut = draw_graph(loss, depth=1, max_nodes=12)  # the cut marker points at boxes too
    nodes, edges, _ = parse(cut)
    assert cut.cut and all(h in nodes for t, h in edges if t == "cut")
    assert any(h.startswith("box_") for t, h in edges if t == "cut")


def test_depth_two_keeps_the_outer_boxes_and_collapses_the_inner_modules():
    model = blocks_model()
    loss = model(np.ones((5, 3))).sum()
    dot = draw_graph(loss, depth=2)
    nodes, edges, clusters = parse(dot)
    assert set(clusters) == {f"cluster_{i}" for i in range(6)}
    assert clusters["cluster_1"] == ["1: Block"]
    inside = re.search(r"subgraph cluster_1 \{(.*?)\n\t\}", dot.source, re.S).group(1)
    assert '"box_1.lin" [' in inside and '"box_1.act" [' in inside
    assert nodes["box_1.act"] == ["act: Tanh", "in (5, 4)", "out (5, 4)", "1 ops, 0 parameters"]
    assert nodes["box_1.lin"] == ["lin: Linear", "in (5, 4)", "out (5, 4)",
                                  "1 ops, 20 parameters"]
    assert ("box_1.lin", "box_1.act") in edges
    # modules no deeper than 2 are drawn in full: the Linear layers at depth 1
    assert "box_0" not in nodes and clusters["cluster_0"][0] == "0: Linear"


def test_fold_draws_a_run_of_identical_blocks_as_one_box_marked_x_n():
    model = blocks_model()
    loss = model(np.ones((5, 3))).sum()
    dot = draw_graph(loss, fold=True)
    nodes, edges, clusters = parse(dot)
    assert nodes["box_1"] == ["1-4: Block x 4", "in (5, 4)", "out (5, 4)",
                              "12 ops, 80 parameters"]
    assert not any(k.startswith("box_") and k != "box_1" for k in nodes)
    assert set(clusters) == {"cluster_0", "cluster_5"}  # the other layers stay drawn in full
    first, last = model[0], model[5]
    into = [t for t, h in edges if h == "box_1"]
    out_of = [h for t, h in edges if t == "box_1"]
    assert len(into) == 1 and nodes[into[0]][0] == "(5, 4) float64"  # layer 0's output
    assert len(out_of) == 1 and nodes[out_of[0]] == ["linear"]  # layer 5's op
    assert first.weight.label == "0.weight" and last.weight.label == "5.weight"
    # with depth too: every layer a box, the run one box
    nodes, edges, _ = parse(draw_graph(loss, depth=1, fold=True))
    assert {k for k in nodes if k.startswith("box_")} == {"box_0", "box_1", "box_5"}
    assert ("box_0", "box_1") in edges and ("box_1", "box_5") in edges


def test_fold_keeps_blocks_apart_when_their_shapes_differ():
    model = blocks_model(widths=(4, 4, 6, 4, 4))  # block 3 is wider: runs 1-2 and 4-5
    loss = model(np.ones((5, 3))).sum()
    nodes, _, clusters = parse(draw_graph(loss, fold=True))
    assert nodes["box_1"][0] == "1-2: Block x 2" and nodes["box_4"][0] == "4-5: Block x 2"
    assert "cluster_3" in clusters and "box_3" not in nodes


def test_backward_draws_the_gradient_computation_and_what_it_reads():
    x = Tensor([1.0, 2.0], requires_grad=True, label="x")
    t = x.tanh()
    y = (t * x).sum()
    dot = draw_graph(y, backward=True)
    assert x.grad is None  # nothing written
    nodes, edges, _ = parse(dot)
    grads = [k for k, texts in nodes.items() if texts[0] == "grad x"]
    assert len(grads) == 1
    y.backward()
    shown = nodes[grads[0]][2]
    assert shown == "[" + ", ".join(f"{g:.4g}" for g in x.grad) + "]"  # the same gradient
    assert nodes[v(t)][0] == "saved: tanh output"  # a forward value backward reads
    assert nodes[v(x)][0] == "x"
    assert fills(dot)[v(t)] == "#fff3bf" and fills(dot)[grads[0]] == "#b7e4c7"
    seed = [k for k, texts in nodes.items() if texts[0] == "seed"]
    assert len(seed) == 1 and nodes[seed[0]][1:] == ["() float64", "1"]
    # the forward ops are not drawn: backward reads their values, it does not rerun them
    assert op(t) not in nodes and op(y) not in nodes
    assert {n for n in nodes if n.startswith("op")} and all(
        int(n[2:]) > y._id for n in nodes if n.startswith("op"))


def test_backward_of_a_value_graph_labels_each_leafs_gradient():
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    out = a * b + a
    nodes, _, _ = parse(draw_graph(out, backward=True))
    texts = {k: t for k, t in nodes.items() if t[0].startswith("grad")}
    assert sorted(t[0:2] for t in texts.values()) == [["grad a", "data -2"],
                                                      ["grad b", "data 2"]]


def test_depth_fold_and_backward_reject_bad_combinations():
    loss = (Tensor([1.0], requires_grad=True) * 2.0).sum()
    for depth in (0, -1, 1.5):
        with pytest.raises(ValueError, match="depth must be a positive int"):
            draw_graph(loss, depth=depth)
    with pytest.raises(ValueError, match="need clusters=True"):
        draw_graph(loss, depth=1, clusters=False)
    with pytest.raises(ValueError, match="draw backward=True without it"):
        draw_graph(loss, backward=True, grad_health=True)
