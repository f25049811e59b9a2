"""tape() and explain(): execution order, the table, and a hand-checked backward walk."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest
from expressions import micrograd_readme
from hypothesis import find
from test_ops import DOMAINS

import autograd
import nn
from autograd import Tensor, Value, cross_entropy, explain, tape
from autograd.engine import registry
from autograd.tape import Entry, Tape, format_array


def abc():
    a, b, c = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c")
    e = a * b
    e.label = "e"
    out = e + c
    out.label = "L"
    return a, b, c, e, out


# ----- tape ------------------------------------------------------------------------------------
def test_tape_entries_in_execution_order():
    a, b, c, e, out = abc()
    t = tape(out)
    assert isinstance(t, Tape) and isinstance(t, list) and len(t) == 2
    assert t[0] == Entry(0, "mul", (a, b), e) and t[1] == Entry(1, "add", (e, c), out)
    assert [x.index for x in t] == [0, 1]
    assert t.leaves == [a, b, c]


def test_tape_of_micrograd_readme_follows_creation_numbers():
    a, b, g = micrograd_readme()
    t = tape(g)
    assert len(t) == 25
    assert [x.op for x in t[:6]] == ["add", "mul", "pow", "add", "add", "add"]
    assert t[2].inputs == (b, 3.0)  # constants are stored in place, not as nodes
    ids = [x.output._id for x in t]
    assert ids == sorted(ids) and t[-1].output is g
    assert t.leaves == [a, b]
    produced = {id(x.output) for x in t}
    for x in t:  # every input node is a leaf or produced by an earlier entry
        for i in x.inputs:
            if isinstance(i, Value) and i._op is not None:
                assert id(i) in produced and i._id < x.output._id


def test_tape_str_is_a_table():
    a, b, c, e, out = abc()
    assert str(tape(out)) == "\n".join([
        "tape of L: 2 ops, 3 leaves",
        "leaves:",
        "  a = 2",
        "  b = -3",
        "  c = 10",
        "#  op   inputs  output",
        "0  mul  a, b    e = -6",
        "1  add  e, c    L = 4",
    ])
    lines = str(tape(out * 2.0 - a)).splitlines()
    assert lines[-2:] == ["2  mul  L, 2    %2 = 8",
                          "3  sub  %2, a   %3 = 6"]


def test_tape_names_repeated_labels_apart():
    x1, x2 = Value(1.0, label="x"), Value(2.0, label="x")
    t = tape(x1 * x2)
    assert t.name(x1) == "x(leaf0)" and t.name(x2) == "x(leaf1)"


def test_tape_of_tensors_shows_shapes_params_and_small_arrays():
    x = Tensor(np.arange(6.0).reshape(2, 3), label="x")
    W = Tensor(np.ones((3, 2)), requires_grad=True, label="W")
    loss = (x @ W).relu().sum(axis=1).mean()
    text = str(tape(loss))
    assert "  x = (2, 3) float64 [[0, 1, 2], [3, 4, 5]]  (no grad)" in text
    assert "matmul" in text and "%0 = (2, 2) float64 [[3, 3], [12, 12]]" in text
    assert "sum axis=(1,)" in text
    assert [e.op for e in tape(loss)] == ["matmul", "relu", "sum", "mean"]


def test_tape_of_a_leaf_is_empty_and_long_tapes_are_shortened():
    a = Value(1.0, label="a")
    assert len(tape(a)) == 0 and "0 ops" in str(tape(a))
    y = a
    for _ in range(1000):
        y = y + 1.0
    text = str(tape(y))
    assert "... (960 more entries) ..." in text and len(text.splitlines()) < 60
    assert "999  add  %998, 1" in text


# ----- explain ---------------------------------------------------------------------------------
def test_explain_micrograd_readme_hand_checked():
    a, b, g = micrograd_readme(labels=True)
    text = explain(g)
    lines = text.splitlines()
    assert lines[0] == ("explain: backward of %24 = 24.70408 (Value); 25 ops on the tape, "
                        "2 leaves")
    # g = f/2 + 10/f with f = e**2 = 49: the last entry is an add of both terms
    assert "step 1 of 25 (tape #24): %24 = add(%22, %23)" in lines
    # d(10/f)/df = -10/f**2 = -10/2401; f is used twice, by both terms
    assert ("    to %21: local derivative -0.004164931, sends 1 x -0.004164931 = -0.004164931"
            "   [%21 is used 2 times; running total -0.004164931 (1 of 2)]") in lines
    assert ("    to %21: local derivative 0.5, sends 1 x 0.5 = 0.5   [%21 is used 2 times; "
            "running total -0.004164931 + 0.5 = 0.4958351 (2 of 2)]") in lines
    # at f = e**2: the two contributions arrive summed; local derivative 2e = -14 (e = -7)
    assert "    gradient arriving at %21: -0.004164931 (from #23) + 0.5 (from #22) = 0.4958351" \
        in lines
    assert "    to %20: local derivative -14, sends 0.4958351 x -14 = -6.941691" in lines
    # e = c - d: the subtracted side receives the gradient negated
    assert "step 5 of 25 (tape #20): %20 = sub(%9, %19)" in lines
    assert "    to %19: local derivative -1, sends -6.941691 x -1 = 6.941691" in lines
    # (b + a).relu() at -2: relu'(x) = 0 below zero, nothing flows
    assert "step 13 of 25 (tape #12): %12 = relu(%11)" in lines
    assert "    to %11: local derivative 0, sends 27.76676 x 0 = 0" in lines
    # a * b = -8 and b**3 = 8: local derivatives b = 2, a = -4 and 3 b**2 = 12
    assert "step 24 of 25 (tape #1): %1 = mul(a, b)" in lines
    assert ("    to a: local derivative 2, sends 83.30029 x 2 = 166.6006   [a is used 5 times; "
            "running total 0 + 166.6006 = 166.6006 (4 of 5)]") in lines
    assert "    to leaf1" not in text
    assert any(line.startswith("    to b: local derivative 12, sends 83.30029 x 12 = 999.6035")
               for line in lines)
    # the last step completes a's five contributions
    assert lines[-6] == ("    to a: local derivative 1, sends -27.76676 x 1 = -27.76676   [a is "
                         "used 5 times; running total 166.6006 - 27.76676 = 138.8338 (5 of 5)]")
    assert lines[-2:] == ["  a: grad = 138.8338", "  b: grad = 645.5773"]
    assert text.count("\nstep ") == 25


def test_explain_agrees_with_backward_and_touches_no_grad():
    a, b, g = micrograd_readme()
    text = explain(g)
    assert a.grad == 0.0 and b.grad == 0.0 and g.grad == 0.0
    assert text.endswith("  leaf0: grad = 138.8338\n  leaf1: grad = 645.5773")
    g.backward()
    before = (a.grad, b.grad)
    assert explain(g) == text  # the same numbers after a backward, and .grad unchanged
    assert (a.grad, b.grad) == before
    assert f"{a.grad:.4f} {b.grad:.4f}" == "138.8338 645.5773"


def test_explain_fan_out_running_totals():
    a = Value(3.0, label="a")
    b = a + a
    b.label = "b"
    c = b + b
    text = explain(c)
    assert ("    to b: local derivative 1, sends 1 x 1 = 1   [b is used 2 times; running total "
            "1 + 1 = 2 (2 of 2)]") in text
    assert "    gradient arriving at b: 1 (from #1) + 1 (from #1) = 2" in text
    assert text.endswith("  a: grad = 4")


def test_explain_tensor_mlp_step():
    x = Tensor([[1.0, 2.0], [3.0, 4.0]], label="x")
    W = Tensor([[1.0, -1.0], [0.5, 2.0]], requires_grad=True, label="W")
    b = Tensor([0.5, -10.0], requires_grad=True, label="b")
    loss = (x @ W + b).relu().sum()
    text = explain(loss)
    assert W.grad is None and b.grad is None
    assert "  x = (2, 2) float64 [[1, 2], [3, 4]]  (no grad)" in text
    assert "    to %2: d%2 = g + np.zeros((2, 2)) = (2, 2) float64 [[1, 1], [1, 1]]" in text
    # x @ W + b = [[2.5, -7], [5.5, -5]]: relu lets the first column through
    assert ("    to %1: local derivative (2, 2) float64 [[1, 0], [1, 0]], sends gradient x "
            "local = (2, 2) float64 [[1, 0], [1, 0]]") in text
    assert "to b: local derivative (2, 2) float64 [[1, 1], [1, 1]], sends gradient x local " \
           "summed back to shape (2,) = (2,) float64 [2, 0]" in text
    loss.backward()
    assert "  W: grad = (2, 2) float64 [[4, 0], [6, 0]]" in text
    np.testing.assert_array_equal(W.grad, [[4.0, 0.0], [6.0, 0.0]])


def test_explain_tensor_subtraction_shows_both_local_derivatives():
    x = Tensor([1.0, 2.0], requires_grad=True, label="x")
    y = Tensor([0.5, 3.0], requires_grad=True, label="y")
    text = explain(((x - y) * 2.0).sum())
    assert "    to x: local derivative (2,) float64 [1, 1], sends" in text
    assert "    to y: local derivative (2,) float64 [-1, -1], sends" in text


def test_explain_summarises_large_graphs():
    a = Value(0.5, label="a")
    y = a
    for _ in range(10_000):
        y = (y * 0.5).tanh()
    text = explain(y)
    lines = text.splitlines()
    assert len(lines) < 100
    assert "ops: mul x10000, tanh x10000" in lines
    assert "... (19990 steps not shown) ..." in lines
    assert "step 20000 of 20000 (tape #0): %0 = mul(a, 0.5)" in lines
    assert lines[-1].startswith("  a: grad = ")


def test_explain_of_a_leaf():
    a = Value(2.0, label="a")
    text = explain(a)
    assert "0 ops on the tape" in text and text.endswith("  a: grad = 1")


# ----- every elementwise op shows its local derivative in explain (from the registry) ---------
@pytest.mark.parametrize("name", sorted(n for n, op in registry.items() if op.elementwise))
def test_explain_shows_the_local_derivative_of_every_elementwise_op(name):
    f, xs = find(DOMAINS[name], lambda fx: all(np.size(x) == 1 for x in fx[1]))
    ts = [Tensor(x, requires_grad=True) for x in xs]
    out = f(*ts)
    assert out._op is registry[name]
    text = explain(out)
    step = next(line for line in text.splitlines() if line.startswith("step 1 of"))
    assert f"= {name}(" in step
    assert "local derivative" in text.split(step, 1)[1].split("step 2 of")[0]


# ----- issue 15: negative terms in sums, integer arrays -----------------------------------------
def test_explain_writes_a_minus_b_not_a_plus_minus_b():
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")  # the demo's explain.txt
    c = a * b
    e = (c + a).tanh()
    text = explain(e)
    assert "running total 0.001340951 - 0.004022852 = -0.002681901 (2 of 2)]" in text
    x = Value(3.0, label="x")
    y = x * -2.0
    y.label = "y"
    text = explain(y * y + y)  # y = -6 is used three times: 1 from the add, -6 twice from y * y
    assert "running total 1 - 6 = -5 (2 of 3)]" in text
    assert "running total -5 - 6 = -11 (3 of 3)]" in text
    assert "    gradient arriving at y: 1 (from #2) - 6 (from #1) - 6 (from #1) = -11" in text
    assert " + -" not in text
    t = Tensor([-1.0, 2.0], requires_grad=True, label="t")
    assert "running total (2,) float64 [-1, 2] + (2,) float64 [-1, 2] = " in explain((t * t).sum())


def test_integer_and_boolean_arrays_are_summarised_without_a_mean():
    assert format_array(np.arange(10.0)) == "min 0 mean 4.5 max 9"
    assert format_array(np.arange(10)) == "min 0 max 9"
    assert format_array(np.arange(10, dtype=np.uint8)) == "min 0 max 9"
    assert format_array(np.arange(10) % 3 == 0) == "min False max True"
    assert format_array(np.array([3, 1, 4])) == "[3, 1, 4]"  # small ones: their values
    z = Tensor(np.ones((8, 10)), requires_grad=True)
    text = str(tape(cross_entropy(z, np.array([3, 1, 4, 1, 5, 9, 2, 6]))))
    assert "const (8,) int64 min 1 max 9" in text  # labels: no mean


# ----- explain prints each backward step as the formula it computes (autograd.trace's printer) ---
def test_explain_prints_the_formula_of_each_non_elementwise_step():
    x = Tensor([[1.0, 2.0], [3.0, 4.0]], label="x")
    W = Tensor([[1.0, -1.0], [0.5, 2.0]], requires_grad=True, label="W")
    b = Tensor([0.5, -10.0], requires_grad=True, label="b")
    text = explain(autograd.cross_entropy(autograd.linear(x, W, b), [0, 1]).mean())
    assert "    to W: dW = x.T @ g = (2, 2) float64 [[1.5, -1.5], [2, -2]]" in text
    assert "    to b: db = g, summed back to shape (2,) = (2,) float64 [0.4999, -0.4999]" in text
    assert "    where t0 = np.exp(%0 - %0.max(axis=1, keepdims=True))" in text
    assert "VJP of" not in text
    text = explain((W.T @ x).sum())
    assert "    to %0: d%0 = g @ x.T = " in text and "    to W: dW = g.T = " in text


# ----- explain(mode="forward"): the tangent sweep (issue 17) -------------------------------------
def test_explain_forward_hand_checked():
    """e = tanh(a * b + a) at a = 2, b = -3 along (1, 0): d(ab)/da = b = -3, then + 1, times
    tanh' = 1 - tanh(-4)^2."""
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    e = (a * b + a).tanh()
    text = autograd.explain(e, mode="forward", tangents={a: 1.0, b: 0.0})
    lines = text.splitlines()
    assert lines[0] == ("explain: forward mode of %2 = -0.9993293 (Value); 3 ops on the tape, "
                        "2 leaves")
    assert "Tangent sweep: the tape replayed forward, one JVP per step" in lines
    i = lines.index("step 1 of 3 (tape #0): %0 = mul(a, b)")
    assert lines[i + 1:i + 4] == ["    tangents arriving: a: 1, b: 0",
                                  "    local derivatives: d/da = -3; d/db = 2",
                                  "    tangent of %0: sum of tangent x local = -3"]
    assert "    tangent of %1: sum of tangent x local = -2" in lines
    assert "    local derivative: d/d%1 = 0.001340951" in lines
    want = -2 * (1 - np.tanh(-4.0) ** 2)
    assert lines[-1] == f"Result: the tangent of %2, J v (its derivative along v): {want:.7g}"
    assert autograd.jvp(lambda a, b: (a * b + a).tanh(), (2.0, -3.0), (1.0, 0.0))[1] == \
        pytest.approx(want, rel=1e-15)


def test_explain_forward_of_tensors_seeds_ones_and_names_non_elementwise_jvps():
    x = Tensor([1.0, 2.0], requires_grad=True, label="x")
    w = Tensor(np.ones((2, 3)), requires_grad=True, label="W")
    root = (x @ w).relu().sum()
    text = autograd.explain(root, mode="forward", tangents={w: np.zeros((2, 3))})
    assert "  x: (2,) float64 [1, 1]" in text  # no tangent given: ones
    assert "tangent of %0: the JVP of matmul = (3,) float64 [2, 2, 2]" in text
    assert "tangent of %2: the JVP of sum (linear: sum of the tangents) = () float64 6" in text
    assert text.endswith("J v (its derivative along v): () float64 6")
    everywhere = autograd.explain(root, mode="forward")  # along ones: the sum of all partials
    total = sum(float(g.sum()) for g in autograd.grad(lambda x, w: (x @ w).relu().sum(),
                                                      (0, 1))(x, w))
    assert everywhere.endswith(f"() float64 {total:.4g}")
    assert x.grad is None and w.grad is None  # nothing written


def test_explain_forward_summarises_large_graphs_and_takes_zero_tangents():
    x = Value(0.5, label="x")
    y = x
    for _ in range(60):
        y = (y * 0.9).tanh()
    text = autograd.explain(y, mode="forward")
    assert "... (110 steps not shown) ..." in text and "step 120 of 120" in text
    c, k = Tensor([1.0, 2.0], requires_grad=True), Tensor(3.0, requires_grad=True, label="k")
    z = (c * 2.0).sum() + (k * k)
    z_text = autograd.explain(z, mode="forward", tangents={k: 0.0, c: np.zeros(2)})
    assert z_text.endswith("() float64 0")


def test_explain_forward_checks_its_arguments():
    a = Value(1.0, label="a")
    e = a * a
    with pytest.raises(ValueError, match="explain: mode must be 'reverse' or 'forward', got 'fwd'"):
        autograd.explain(e, mode="fwd")
    with pytest.raises(ValueError, match="tangents are for mode='forward'"):
        autograd.explain(e, tangents={a: 1.0})
    with pytest.raises(ValueError, match="not leaves of this tape"):
        autograd.explain(e, mode="forward", tangents={Value(2.0): 1.0})
    t = Tensor([1.0, 2.0], requires_grad=True, label="t")
    with pytest.raises(ValueError, match=r"the tangent of t has shape \(3,\), the leaf \(2,\)"):
        autograd.explain((t * t).sum(), mode="forward", tangents={t: np.ones(3)})


# ----- memory ----------------------------------------------------------------------------------
def test_tape_of_tensors_has_kept_and_read_columns_counting_each_array_once():
    x = Tensor(np.ones((4, 8)), label="x")  # a leaf: its owner keeps it, not the graph
    W = Tensor(np.ones((8, 16)), requires_grad=True, label="W")
    h = x @ W  # kept: its output (512 B); read: x and W (256 + 1024)
    v = h.reshape(16, 4)  # a view of h: nothing new kept; reshape reads nothing
    y = (v * v).sum()  # mul keeps its output, reads v twice: the same array, counted once
    t = tape(y)
    assert [(e.op, e.kept, e.read) for e in t] == [
        ("matmul", 512, 256 + 1024), ("reshape", 0, 0), ("mul", 512, 512), ("sum", 8, 0)]
    lines = str(t).splitlines()
    assert lines[4].split() == ["#", "op", "inputs", "kept", "read", "output"]
    assert lines[5].split()[:6] == ["0", "matmul", "x,", "W", "512", "B"]
    assert "1.28 kB" in lines[5]
    assert tape(Value(1.0) * 2.0)[0].kept is None  # a Value tape has no such columns
    h.backward(np.ones((4, 16)))  # a gradient left on an intermediate is kept too
    assert tape(y)[0].kept == 1024


class Block(nn.Module):
    def __init__(self, n, seed):
        self.a = nn.Linear(n, n, seed=seed)
        self.b = nn.Linear(n, n, seed=seed + 1)

    def forward(self, x):
        return self.b(self.a(x).tanh()) + x


def _blocks():
    return nn.Sequential(Block(128, 0), Block(128, 2), nn.Linear(128, 1, seed=9))


def test_memory_total_is_what_tracemalloc_sees_freed_when_the_graph_is_dropped():
    model, x = _blocks(), Tensor(np.ones((256, 128)))
    gc.collect()
    tracemalloc.start()
    try:
        loss = (model(x) ** 2).mean()
        total = autograd.memory(loss).total
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        del loss
        gc.collect()
        freed = before - tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert total > 2_000_000
    assert abs(freed - total) < 0.03 * total, (freed, total)


def test_memory_splits_by_op_and_module_and_says_what_checkpointing_frees():
    model, x = _blocks(), Tensor(np.ones((256, 128)))
    rep = autograd.memory((model(x) ** 2).mean())
    act = 256 * 128 * 8  # one activation
    assert rep.total == sum(rep.by_op.values()) == 8 * act + 2 * 256 * 8 + 8
    assert rep.by_op == {"linear": 4 * act + 256 * 8, "tanh": 2 * act, "add": 2 * act,
                         "pow": 256 * 8, "mean": 8}
    assert rep.by_module["0"] == rep.by_module["1"] == 4 * act
    assert rep.by_module["0.a"] == act and rep.by_module[""] == 256 * 8 + 8
    assert rep.checkpoint_frees["0"] == 3 * act  # all but its output
    assert rep.checkpoint_frees["0.a"] == 0  # one op: its output is all it keeps
    assert rep.read == 4 * act + 256 * 8  # linear reads its input, tanh its output, pow x
    assert rep.leaves == (2 * (2 * 128 * 128 + 2 * 128) + 128 + 1) * 8 + act
    text = repr(rep)
    assert text.startswith("memory of %")
    assert "0.a" in text and "checkpoint frees" in text and "(outside modules)" in text
    with pytest.raises(TypeError, match="memory: expected a Tensor, got Value"):
        autograd.memory(Value(1.0))


def test_checkpoint_frees_what_the_report_says():
    model, x = _blocks(), Tensor(np.ones((256, 128)))
    plain = autograd.memory((model(x) ** 2).mean())
    y = autograd.checkpoint(model[0], x)
    ck = autograd.memory((model[2](model[1](y)) ** 2).mean())
    assert plain.total - ck.total == plain.checkpoint_frees["0"]


def test_what_a_forward_keeps_for_its_vjp_counts_as_kept():
    z = Tensor(np.ones((4, 3)), requires_grad=True)
    [e] = tape(cross_entropy(z, [0, 1, 2, 0]))
    # its output and labels (4 each), and cross-entropy's residual: exp(z - max) and row sums
    assert e.kept == (4 + 4 + 4 * 3 + 4) * 8
