"""The engine: one tape for Value and Tensor, iterative backward, memory, higher order."""

import gc
import math
import os
import re
import sys
import threading
import tracemalloc
import weakref

import numpy as np
import pytest
from expressions import TO_0D, leaf
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ops import DOMAINS

import autograd
import nn
import nn.functional as F
from autograd import (
    Tensor,
    Value,
    current_scope,
    detect_anomaly,
    enable_grad,
    explain,
    grad,
    hide_frames,
    is_grad_enabled,
    no_grad,
    ops,
    primitive,
    scope,
)
from autograd.engine import apply, backprop, graph
from autograd.testing import arrays
from autograd.viz import draw_graph

UNARY_F = {"tanh": lambda a: a.tanh(), "sigmoid": lambda a: a.sigmoid(),
           "exp_small": lambda a: (a * 0.1).exp(), "log_abs": lambda a: (abs(a) + 1).log(),
           "neg": lambda a: -a, "sin": lambda a: a.sin(), "relu": lambda a: a.relu(),
           "abs": lambda a: abs(a)}
BINARY_F = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
            "div": lambda a, b: a / (b * b + 1), "pow": lambda a, b: (a * a + 1) ** b.tanh()}


def build(program, leaves):
    """Run a random program over a list of nodes (Values or 0-d Tensors), reusing nodes."""
    nodes = list(leaves)
    for kind, name, i, j in program:
        a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
        nodes.append(UNARY_F[name](a) if kind == "u" else BINARY_F[name](a, b))
    out = nodes[-1]
    for n in nodes[len(leaves):-1]:
        out = out + n * 0.5  # every intermediate feeds the output: a DAG with fan-out
    return out


programs = st.lists(
    st.one_of(
        st.tuples(st.just("u"), st.sampled_from(sorted(UNARY_F)), st.integers(0, 50), st.just(0)),
        st.tuples(st.just("b"), st.sampled_from(sorted(BINARY_F)), st.integers(0, 50),
                  st.integers(0, 50))),
    min_size=1, max_size=25)


@given(programs, st.lists(st.floats(-2, 2), min_size=1, max_size=4))
def test_random_dag_value_and_0d_tensor_agree(program, xs):
    values = [Value(x) for x in xs]
    tensors = [Tensor(x, requires_grad=True) for x in xs]
    v, t = build(program, values), build(program, tensors)
    v.backward()
    t.backward()
    assert v.data == pytest.approx(float(t.data), rel=1e-12, abs=1e-300)
    for a, b in zip(values, tensors):
        tg = 0.0 if b.grad is None else float(b.grad)  # an unused leaf: None vs 0.0
        assert a.grad == pytest.approx(tg, rel=1e-12, abs=1e-12)


def test_graph_is_freed_by_refcounting_alone():
    gc.disable()
    try:
        for make in (lambda: Value(2.0), lambda: Tensor([2.0], requires_grad=True)):
            x = make()
            h = x * 3
            probe = weakref.ref(h)
            y = (h * h).exp() if isinstance(x, Value) else (h * h).sum()
            y.backward()
            del h
            assert probe() is not None  # the result still holds the graph
            del y
            assert probe() is None
    finally:
        gc.enable()


def test_graph_order_is_reverse_creation():
    x = Value(1.0)
    a = x * 2
    b = a + x
    c = b * a
    order = graph(c)
    assert order == [c, b, a, x]


@pytest.mark.parametrize("f, d2", [
    (lambda x: x.exp(), lambda x: math.exp(x)),
    (lambda x: x.log(), lambda x: -1 / x**2),
    (lambda x: x.tanh(), lambda x: -2 * math.tanh(x) * (1 - math.tanh(x) ** 2)),
    (lambda x: x.sin(), lambda x: -math.sin(x)),
    (lambda x: x**3, lambda x: 6 * x),
    (lambda x: 1 / x, lambda x: 2 / x**3),
])
def test_second_derivative_through_create_graph(f, d2):
    for make in (Value, lambda v: Tensor(v, requires_grad=True)):
        x = make(0.7)
        f(x).backward(create_graph=True)
        g = x.grad
        x.grad = None if isinstance(x, Tensor) else 0.0
        g.backward()
        assert float(x.grad) == pytest.approx(d2(0.7), rel=1e-12)


def test_create_graph_leaves_a_node_in_grad():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * x * x).sum().backward(create_graph=True)
    assert isinstance(x.grad, Tensor) and x.grad.requires_grad
    np.testing.assert_array_equal(x.grad.data, [3.0, 12.0])


@pytest.mark.parametrize("f, d2", TO_0D)
@pytest.mark.parametrize("x0", [np.array(0.7), np.array([0.7]), np.array([0.7, -1.3])])
def test_create_graph_through_a_reduction_to_0d(f, d2, x0):
    # issue 13: a 0-d gradient times a float is a numpy scalar, which took the scalar
    # namespace (no reshape, no sum) in the recorded backward
    x = Tensor(x0, requires_grad=True)
    f(x).backward(create_graph=True)
    g = x.grad
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad, d2(x0), rtol=1e-12)


def test_apply_on_raw_values_never_gives_or_takes_a_numpy_scalar():
    # what a higher-order rule computes from raw 0-d arrays is a numpy scalar; it is an array
    reshaped = apply(ops.RESHAPE, np.float64(2.0), shape=(1,))
    assert type(reshaped) is np.ndarray and reshaped.shape == (1,)
    total = apply(ops.SUM, np.array(True), axis=None, keepdims=True)
    assert type(total) is np.ndarray and total.shape == ()
    total = apply(ops.SUM, np.ones(3), axis=None, keepdims=False)
    assert type(total) is np.ndarray and total == 3.0
    assert type(apply(ops.EXP, 0.0)) is float  # floats stay floats (Value's rules)
    assert type(ops.node_ns.equal(np.array(1.0), np.array(1.0))) is np.ndarray


def test_detect_anomaly_nests_and_is_off_again_after_an_exception():
    from autograd import engine

    x = Tensor([0.0], requires_grad=True)
    with pytest.raises(KeyError):
        with detect_anomaly():
            with detect_anomaly():
                pass
            y = x.sqrt().sum()  # still in anomaly mode after the inner block closed
            with pytest.raises(FloatingPointError, match="sqrt"):
                y.backward()
            raise KeyError
    assert engine.anomaly_users[0] == 0 and not engine.state.anomaly
    z = x.sqrt().sum()
    assert z not in engine.traces  # recorded outside anomaly mode: no creation site kept
    z.backward()  # and its backward gives IEEE inf, silently
    assert x.grad[0] == math.inf


def test_one_detect_anomaly_instance_may_be_nested_and_restores_each_level():
    from autograd import engine

    d = detect_anomaly()
    with d:
        with d:
            assert engine.state.anomaly
        assert engine.state.anomaly and engine.anomaly_users[0] == 1
    assert not engine.state.anomaly and engine.anomaly_users[0] == 0


def test_detect_anomaly_names_a_changed_constant_and_a_write_through_data():
    import autograd as ag

    def tensor_constant():
        W, x = Tensor(np.ones(3), requires_grad=True), np.array([1.0, 2.0, 3.0])
        with detect_anomaly():
            y = (W * x).sum()
        x[0] = 10.0  # no version counter sees a plain numpy array
        return y

    def tensor_data():
        W, V = Tensor(np.ones(3), requires_grad=True), Tensor(np.ones(3), requires_grad=True)
        with detect_anomaly():
            y = (W * V).exp().sum()
        V.data[0] = 10.0  # writes through .data bypass the version counter
        return y

    def output_data():
        W = Tensor(np.ones(3), requires_grad=True)
        with detect_anomaly():
            y = W.exp()
        y.data[1] = 0.0  # exp's rule reads its output
        return y.sum()

    def value_data():
        a, b = Value(2.0), Value(3.0)
        with detect_anomaly():
            c = a * b
        b.data = 5.0
        return c

    for make, what in [(tensor_constant, "input 1 of 'mul'"), (tensor_data, "input 1 of 'mul'"),
                       (output_data, "the output of 'exp'"), (value_data, "input 1 of 'mul'")]:
        y = make()
        with pytest.raises(RuntimeError, match=f"detect_anomaly: {what} \\(created at "
                                               f"{__file__}:\\d+\\) changed after it was recorded"):
            y.backward()  # the check holds outside the block too: the graph was recorded in it

    # no false alarm: unchanged constants, and changes of values the rule does not read
    W, x = Tensor(np.ones(3), requires_grad=True), np.array([1.0, 2.0, 3.0])
    with detect_anomaly():
        ag.where(x > 1, W * x, 0.0).sum().backward()
        y = (W + x).sum()
    np.testing.assert_array_equal(W.grad, [0.0, 2.0, 3.0])
    x[0] = 10.0  # add's rule does not read its inputs
    y.backward()
    np.testing.assert_array_equal(W.grad, [1.0, 3.0, 4.0])


# ----- errors and edge cases: custom rules, anomaly mode, nan --------------------------------
def test_a_custom_rule_returning_a_gradient_of_the_wrong_shape_names_the_op_and_shapes():
    twice = autograd.primitive("twice", lambda xp, x: x * 2.0,
                               lambda xp, g, out, x: (g[:2],))
    x = leaf(np.ones(3))
    with pytest.raises(RuntimeError) as info:
        twice(x).sum().backward()
    assert "twice" in str(info.value) and "(2,)" in str(info.value) and "(3,)" in str(info.value)
    v = Value(1.0)
    with pytest.raises(RuntimeError, match="twice"):
        autograd.primitive("twice", lambda xp, x: x * 2.0,
                           lambda xp, g, out, x: (np.ones(2),))(v).backward()


def test_a_type_error_inside_a_custom_forward_keeps_the_users_traceback():
    def forward(xp, x):
        return x * len(x.shape[0])  # a bug: len() of an int

    op = autograd.primitive("buggy_forward", forward, lambda xp, g, out, x: (g,))
    with pytest.raises(TypeError, match="has no len") as info:
        op(leaf([1.0]))
    assert any(entry.name == "forward" for entry in info.traceback)


def test_a_custom_rule_records_nothing_in_a_first_order_backward():
    w = leaf([3.0])
    modes = []

    def vjp(xp, g, out, x):
        modes.append(autograd.is_grad_enabled())
        return (w * g,)  # a captured tensor that requires grad

    op = autograd.primitive("scaled", lambda xp, x: x * 3.0, vjp)
    x = leaf([2.0])
    op(x).sum().backward()
    assert modes == [False] and x.grad.op == "" and not x.grad.requires_grad
    np.testing.assert_array_equal(np.asarray(x.grad.data), [3.0])
    x.grad = None
    op(x).sum().backward(create_graph=True)  # higher order: the rule's work is recorded
    assert modes == [False, True] and x.grad.op == "mul"
    y = op(x).sum()
    with no_grad():  # also when that backward is called inside no_grad
        y.backward(create_graph=True)
    assert modes[-1] is True


def test_a_custom_rule_returning_a_gradient_with_extra_leading_axes_is_refused():
    """A (4, 3) gradient for a (3,) input of an op whose output is (3,) is a wrong shape (no
    broadcast can explain it); it must not be silently summed into a gradient of 4."""
    bad = autograd.primitive("bad", lambda xp, x: x * 2.0,
                             lambda xp, g, out, x: (np.ones((4, 3)),))
    x = leaf(np.ones(3))
    with pytest.raises(RuntimeError) as info:
        bad(x).sum().backward()
    assert "bad" in str(info.value) and "(4, 3)" in str(info.value) and "(3,)" in str(info.value)


HERE = os.path.abspath(__file__)


def next_line():
    """The line number after the caller's current line (where the op under test is built)."""
    return sys._getframe(1).f_lineno + 1


def test_detect_anomaly_names_the_op_and_the_users_line_for_a_tensor():
    with autograd.detect_anomaly():
        x = leaf([0.0, 4.0])
        line = next_line()
        y = x.sqrt()
        z = (y * 2.0).sum()
        with pytest.raises(FloatingPointError) as info:
            z.backward()
    msg = str(info.value)
    assert "'sqrt'" in msg and f"{HERE}:{line}" in msg and "non-finite" in msg
    z.backward()  # outside anomaly mode: IEEE inf, no exception, on the same graph
    np.testing.assert_array_equal(x.grad, [math.inf, 0.5])


def test_detect_anomaly_names_the_op_and_the_users_line_for_a_value():
    with autograd.detect_anomaly():
        x = Value(0.0)
        line = next_line()
        y = x.log()
        with pytest.raises(FloatingPointError) as info:
            (y * 3.0).backward()
    assert "'log'" in str(info.value) and f"{HERE}:{line}" in str(info.value)


def test_detect_anomaly_inside_nn_names_the_line_that_called_nn():
    """An op created inside nn (mse_loss's square) is reported at the user's call."""
    model = nn.Linear(2, 1, seed=0)
    with autograd.detect_anomaly():
        out = model(np.ones((3, 2)))
        line = next_line()
        loss = F.mse_loss(out, np.array([[np.inf], [0.0], [0.0]]))
        with pytest.raises(FloatingPointError) as info:
            loss.backward()
    assert "'mul'" in str(info.value) and f"{HERE}:{line}" in str(info.value)


def test_outside_detect_anomaly_the_same_backward_gives_ieee_inf_without_raising(strict_numpy):
    with autograd.detect_anomaly():
        x = leaf([0.0, 4.0])
        y = x.sqrt().sum()
    y.backward()  # anomaly mode is a property of the backward call, not of the graph
    np.testing.assert_array_equal(x.grad, [math.inf, 0.25])


def test_detect_anomaly_on_nodes_created_before_it_says_so():
    x = leaf([0.0])
    y = x.sqrt().sum()
    with autograd.detect_anomaly():
        with pytest.raises(FloatingPointError, match="'sqrt'.*created outside detect_anomaly"):
            y.backward()


def test_a_nan_upstream_gradient_propagates_to_the_leaves(strict_numpy):
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    w = leaf([[0.5, -1.0], [2.0, 1.0]])
    y = (x @ w).tanh().exp()
    y.backward(np.array([[np.nan, 1.0], [1.0, 1.0]]))
    assert np.isnan(x.grad[0]).all() and np.isfinite(x.grad[1]).all()  # row 0 of x met nan
    assert np.isnan(w.grad[:, 0]).all() and np.isfinite(w.grad[:, 1]).all()
    a = Value(0.5)
    b = (a * 3.0).tanh().exp()
    c = b * math.nan  # the upstream gradient of b is nan
    c.backward()
    assert math.isnan(a.grad)
    x = leaf([1.0, 2.0])
    (x * 2).backward(np.array([np.nan, 1.0]))
    assert np.isnan(x.grad[0]) and x.grad[1] == 2.0


# ----- threads -------------------------------------------------------------------------------
@pytest.fixture
def fast_switching():
    """Switch threads every 10 us instead of 5 ms, so that the threads below interleave."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(old)


def _value_case(i, k):
    a0, b0 = 0.5 + 0.1 * i + 0.01 * k, 1.0 + 0.05 * i
    a, b = Value(a0), Value(b0)
    f = a * a * b + (a * b).tanh() + b.exp() / a
    f.backward()
    sech2 = 1.0 - math.tanh(a0 * b0) ** 2
    da = 2 * a0 * b0 + b0 * sech2 - math.exp(b0) / a0**2
    db = a0 * a0 + a0 * sech2 + math.exp(b0) / a0
    ok = not f.is_leaf and math.isclose(a.grad, da, rel_tol=1e-12) and \
        math.isclose(b.grad, db, rel_tol=1e-12)
    return ok, (a.grad, da, b.grad, db)


def _tensor_case(rng):
    x0, w0, c0 = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    w = leaf(w0)
    y = ((Tensor(x0) @ w).tanh() * c0).sum()
    y.backward()
    expected = x0.T @ ((1 - np.tanh(x0 @ w0) ** 2) * c0)
    ok = y.requires_grad and np.allclose(w.grad, expected, rtol=1e-12, atol=1e-14)
    return ok, (w.grad, expected)


def test_eight_threads_backprop_their_own_graphs_while_another_toggles_no_grad(fast_switching):
    """Grad mode is thread-local: a thread entering and leaving no_grad never disables
    recording in another thread, and eight threads building and backpropagating their own
    Value and Tensor graphs at once all get exact gradients."""
    workers, rounds = 8, 60
    barrier = threading.Barrier(workers + 1)
    done = threading.Event()
    errors, toggles = [], []

    def worker(i):
        rng = np.random.default_rng(i)
        try:
            barrier.wait(timeout=30)
            for k in range(rounds):
                if not autograd.is_grad_enabled():
                    errors.append((i, k, "grad mode off in a worker"))
                ok, info = _value_case(i, k)
                if not ok:
                    errors.append((i, k, "Value", info))
                ok, info = _tensor_case(rng)
                if not ok:
                    errors.append((i, k, "Tensor", info))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append((i, repr(e)))

    def toggler():
        n = 0
        barrier.wait(timeout=30)
        while not done.is_set() and n < 100_000:
            with no_grad():
                r = leaf([1.0]) * 2.0
                if autograd.is_grad_enabled() or r.requires_grad or not (Value(1.0) * 2).is_leaf:
                    errors.append(("toggler", n, "no_grad not in effect"))
            if not autograd.is_grad_enabled():
                errors.append(("toggler", n, "grad mode not restored"))
            n += 1
        toggles.append(n)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    t = threading.Thread(target=toggler)
    for th in threads + [t]:
        th.start()
    for th in threads:
        th.join(timeout=60)
    done.set()
    t.join(timeout=60)
    assert not any(th.is_alive() for th in threads + [t])
    assert errors == []
    assert toggles and toggles[0] > 10  # the toggler really ran alongside the workers
    assert autograd.is_grad_enabled()


def test_detect_anomaly_in_one_thread_does_not_affect_another():
    started, finished = threading.Event(), threading.Event()
    result = []

    def other():
        started.wait(timeout=30)
        try:
            x = leaf([0.0])
            x.sqrt().sum().backward()  # inf, silently: this thread is not in anomaly mode
            result.append(x.grad[0])
        except BaseException as e:  # noqa: BLE001 - reported below
            result.append(e)
        finished.set()

    th = threading.Thread(target=other)
    th.start()
    with autograd.detect_anomaly():
        started.set()
        assert finished.wait(timeout=30)
        y = leaf([0.0]).sqrt().sum()
        with pytest.raises(FloatingPointError, match="sqrt"):
            y.backward()
    th.join(timeout=30)
    assert result == [math.inf]


def test_threads_sharing_a_parameter_build_graphs_in_parallel_and_backprop_under_a_lock():
    """The documented pattern: forward passes over shared parameters run in parallel (they
    only read); backward into the shared .grad (and optimizer steps) are serialised by a lock.
    The accumulated gradient is then exactly the sum over the threads."""
    w = nn.Parameter(np.array([[0.5, -1.0], [2.0, 0.25]]))
    xs = [np.random.default_rng(i).standard_normal((5, 2)) for i in range(8)]
    lock = threading.Lock()
    barrier = threading.Barrier(8)
    errors = []

    def worker(x):
        try:
            barrier.wait(timeout=30)
            loss = ((Tensor(x) @ w) ** 2).sum()
            with lock:
                loss.backward()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(x,)) for x in xs]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert errors == []
    expected = sum(2 * x.T @ (x @ w.data) for x in xs)
    np.testing.assert_allclose(w.grad, expected, rtol=1e-12)


# ----- scale and memory ----------------------------------------------------------------------
def test_a_million_node_value_graph_backpropagates_draws_and_frees_without_recursion():
    x = Value(0.5)
    y = x
    for _ in range(500_000):
        y = y * 1.0 + 1.0  # two nodes per step: 10**6 nodes
    assert sys.getrecursionlimit() < 10**5
    y.backward()
    assert x.grad == 1.0 and y.data == 500_000.5
    g = draw_graph(y, max_nodes=500)
    assert g.cut and g.drawn <= 500
    ref = weakref.ref(x)
    del x, y, g
    assert ref() is None  # the whole chain was freed by reference counting, no crash


def test_a_100k_op_tensor_graph_backpropagates_and_draws_with_max_nodes():
    a = leaf(np.linspace(-1.0, 1.0, 8))
    y = a
    for i in range(100_000):
        y = y * 1.0 if i % 2 else y + 0.0
    y = y.sum()
    y.backward()
    np.testing.assert_array_equal(a.grad, np.ones(8))
    g = draw_graph(y, max_nodes=500)
    assert g.cut and g.drawn <= 500 and g.visited <= 500
    assert "graph cut at max_nodes=500" in g.source
    assert len(autograd.tape(y)) == 100_001


def _fill_free_lists():
    """Fill CPython's tuple free lists (2000 per size) with untraced tuples. Without this,
    tuples freed during the measurement slowly fill those lists (about one per training
    step, up to ~110 KB, then flat) and look like a leak that is not one."""
    junk = [tuple(range(i, i + n)) for n in range(1, 20) for i in range(2100)]
    del junk


def _graph_and_backward(n):
    t = leaf(np.linspace(-1.0, 1.0, 64))
    y = t
    for _ in range(n):
        y = (y * 0.999).tanh() + 0.001
    y.sum().backward()
    v = Value(0.3)
    w = v
    for _ in range(n):
        w = (w * 0.999).tanh() + 0.001
    w.backward()
    return y, t, w, v


def test_memory_returns_to_its_baseline_after_the_result_is_dropped():
    """tracemalloc: after the first build-and-drop (which fills CPython's and numpy's free
    lists), building a graph, backpropagating and dropping the result returns live memory to
    that baseline, with the cyclic GC off (reference counting alone frees everything)."""
    gc.collect()
    gc.disable()
    try:
        out = _graph_and_backward(2000)  # warm up outside tracing
        del out
        _fill_free_lists()
        tracemalloc.start()
        try:
            out = _graph_and_backward(2000)
            del out
            baseline = tracemalloc.get_traced_memory()[0]
            out = _graph_and_backward(2000)
            live = tracemalloc.get_traced_memory()[0]
            refs = [weakref.ref(o) for o in out]
            del out
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    finally:
        gc.enable()
    assert live - baseline > 2_000_000  # the graph was there, and measured
    assert all(r() is None for r in refs)
    assert after - baseline < 8 * 1024, after - baseline


def test_memory_stays_flat_over_1000_training_steps():
    model = nn.MLP([2, 8, 1], seed=0)
    opt = nn.SGD(model.parameters(), lr=0.05)
    X = np.random.default_rng(0).standard_normal((16, 2))
    Y = X[:, :1] * 2.0 - X[:, 1:]
    loss_fn = nn.MSELoss()
    losses = [0.0, 0.0]  # the first and the latest loss, without a growing list

    def step():
        opt.zero_grad()
        loss = loss_fn(model(X), Y)
        loss.backward()
        opt.step()
        losses[1] = loss.item()

    step()
    losses[0] = losses[1]
    for _ in range(10):  # warm up outside tracing
        step()
    _fill_free_lists()
    tracemalloc.start()
    try:
        for i in range(1000):
            step()
            if i == 99:
                at_100 = tracemalloc.get_traced_memory()[0]
        at_1000 = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert at_1000 - at_100 < 4 * 1024, at_1000 - at_100  # a few KB: no per-step growth
    assert math.isfinite(losses[1]) and losses[1] < losses[0] / 10


LIBRARY = """
def double_sqrt(x):
    return x.sqrt() * 2.0  # the line of the library
"""


def test_hide_frames_skips_a_librarys_frames_in_anomaly_reports(tmp_path, monkeypatch):
    """autograd knows no other package: a library built on it (nn does this at import)
    registers itself, and anomaly reports then name the line that called the library. Only
    that package and its submodules are hidden, not every name that starts the same way."""
    from autograd import engine

    for name in ("mylib", "mylib_extra"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(LIBRARY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(engine, "_hidden_packages", list(engine._hidden_packages))
    import mylib
    import mylib_extra

    def site(lib):
        x = Tensor([0.0], requires_grad=True)
        with detect_anomaly():
            y = lib.double_sqrt(x).sum()  # the line of the caller
            with pytest.raises(FloatingPointError) as info:
                y.backward()
        return str(info.value)

    library_line = f"{tmp_path / 'mylib' / '__init__.py'}:3"
    assert library_line in site(mylib)  # not registered: the library's own line
    hide_frames("mylib")
    hide_frames("mylib")  # registering twice is harmless
    caller = site(mylib)
    assert f"{__file__}:" in caller and library_line not in caller
    assert f"{tmp_path / 'mylib_extra' / '__init__.py'}:3" in site(mylib_extra)
    assert engine._hidden_packages.count("mylib") == 1
    with pytest.raises(TypeError, match="hide_frames: package must be a str"):
        hide_frames(None)
    with pytest.raises(ValueError, match="hide_frames: package must not be empty"):
        hide_frames("")


# ----- scopes --------------------------------------------------------------------------------
def test_scopes_nest_join_with_dots_and_are_restored_after_an_exception():
    x = Tensor([1.0, 2.0], requires_grad=True)
    assert current_scope() is None
    with pytest.raises(KeyError):
        with scope("encoder"):
            a = x * 2.0
            with scope("attn"):
                b = a.exp()
                assert current_scope() == "encoder.attn"
                with scope("head", absolute=True):  # not joined: the path is the name
                    c = b.sum()
                assert current_scope() == "encoder.attn"
            d = a + b
            raise KeyError
    assert current_scope() is None
    assert [n._scope for n in (a, b, c, d)] == ["encoder", "encoder.attn", "head", "encoder"]
    assert (x * 1.0)._scope is None and x._scope is None  # outside any scope; a leaf
    s = scope("block")  # one instance may be shared and nested: each level is restored
    with s:
        with s:
            assert current_scope() == "block.block"
        assert current_scope() == "block"
    assert current_scope() is None


def test_a_scope_is_recorded_by_tensors_that_are_recorded_only():
    x = Tensor([1.0], requires_grad=True)
    with scope("s"):
        recorded = x * 2.0
        with no_grad():
            untracked = x * 2.0
        constant = Tensor([1.0]) * 2.0
        v = Value(1.0) * 2.0
    assert recorded._scope == "s"
    assert untracked._scope is None and constant._scope is None
    assert v._scope is None  # Value nodes record no scope (it would slow every scalar op)


def test_scopes_are_thread_local():
    seen = []
    entered, done = threading.Event(), threading.Event()

    def other():
        entered.wait()
        seen.append(current_scope())
        with scope("worker"):
            seen.append((Tensor([1.0], requires_grad=True) * 2.0)._scope)
        done.set()

    t = threading.Thread(target=other)
    t.start()
    with scope("main"):
        entered.set()
        done.wait()
        assert current_scope() == "main"
    t.join()
    assert seen == [None, "worker"]


@pytest.mark.parametrize("name, error", [(1, TypeError), (None, TypeError), ("", ValueError)])
def test_a_scope_name_must_be_a_nonempty_str(name, error):
    with pytest.raises(error, match="scope: name"):
        scope(name)


# ----- grad mode as a decorator --------------------------------------------------------------
@pytest.mark.parametrize("mode", [no_grad, enable_grad])
def test_grad_mode_decorates_with_and_without_parentheses(mode):
    def f(x):
        """Doubles."""
        return x * 2, is_grad_enabled()

    x = Tensor([1.0], requires_grad=True)
    for decorated in (mode(f), mode()(f)):
        assert decorated.__name__ == "f" and decorated.__doc__ == "Doubles."
        for outer in (no_grad, enable_grad):
            with outer():
                y, enabled = decorated(x)
                assert enabled is (mode is enable_grad) and y.requires_grad is enabled
                assert is_grad_enabled() is (outer is enable_grad)  # restored on return
    with pytest.raises(TypeError, match=f"{mode.__name__}: can decorate a function, not int"):
        mode(3)


@pytest.mark.parametrize("mode", [no_grad, enable_grad])
def test_grad_mode_on_a_generator_holds_at_every_resume_and_is_restored_at_every_yield(mode):
    """As in PyTorch: the generator body runs in the decorator's mode (after next, send and
    throw alike), the caller gets its own mode back at each yield, close runs in the mode,
    and the return value comes through."""
    inside = mode is enable_grad
    x = Tensor([1.0], requires_grad=True)
    seen = []

    @mode
    def steps(n):
        for i in range(n):
            try:
                sent = yield (x * i).requires_grad
            except KeyError:
                sent = "thrown"
            seen.append((sent, is_grad_enabled()))
        try:
            yield "last"
        finally:
            seen.append(("closed", is_grad_enabled()))
        return "done"

    for outer in (no_grad, enable_grad):
        seen.clear()
        caller = outer is enable_grad
        with outer():
            gen = steps(3)
            assert next(gen) is inside and is_grad_enabled() is caller
            assert gen.send("a") is inside and is_grad_enabled() is caller
            assert gen.throw(KeyError()) is inside and is_grad_enabled() is caller
            assert next(gen) == "last" and is_grad_enabled() is caller
            gen.close()
            assert is_grad_enabled() is caller
        assert seen == [("a", inside), ("thrown", inside), (None, inside), ("closed", inside)]
    with pytest.raises(StopIteration) as info:
        gen = steps(0)
        next(gen)
        next(gen)
    assert info.value.value == "done"


def test_a_generator_in_no_grad_resumed_by_two_threads_leaves_each_its_own_mode():
    """Grad mode is per thread: each resume sets it in the thread that resumes, and gives that
    thread's mode back; a thread that never entered no_grad keeps recording."""
    @no_grad
    def gen():
        while True:
            yield is_grad_enabled()

    g = gen()
    results, errors = [], []
    lock = threading.Lock()

    def worker():
        try:
            for _ in range(200):
                with lock:  # a generator cannot run in two threads at once
                    results.append(next(g))
                if not is_grad_enabled():
                    errors.append("the caller's grad mode leaked out of the generator")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and results == [False] * 400 and is_grad_enabled()


def test_grad_mode_refuses_to_decorate_an_async_function():
    async def f():
        return 1

    async def agen():
        yield 1

    for fn in (f, agen):
        with pytest.raises(TypeError, match="no_grad: cannot decorate the async function"):
            no_grad(fn)


# ----- custom rules --------------------------------------------------------------------------
def _custom_product(returns):
    """x * y as a custom primitive whose VJP returns ``returns(g, x, y)``."""
    return primitive("product", lambda xp, x, y: x * y,
                     lambda xp, g, out, x, y: returns(g, x, y))


WRONG_COUNTS = {"one of two": (lambda g, x, y: (g * y,), 1),
                "a bare gradient": (lambda g, x, y: g * y, 1),
                "three": (lambda g, x, y: (g * y, g * x, g), 3)}


@pytest.mark.parametrize("wrong", sorted(WRONG_COUNTS))
@pytest.mark.parametrize("kind", ["Value", "Tensor"])
@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("constant", [None, 0, 1])
def test_a_custom_rule_returning_the_wrong_number_of_gradients_is_a_runtime_error(
        wrong, kind, create_graph, constant):
    """On every path that replays the rule (backward, create_graph, the functional transforms,
    explain): a RuntimeError naming the op and both counts, never a gradient left at None."""
    returns, count = WRONG_COUNTS[wrong]
    product = _custom_product(returns)
    make = (lambda v: Value(v)) if kind == "Value" else (
        lambda v: Tensor([v, v], requires_grad=True))
    raw = (lambda v: v) if kind == "Value" else (lambda v: np.array([v, v]))
    leaves = [make(2.0), make(3.0)]
    args = [raw(3.0) if i == constant else leaf for i, leaf in enumerate(leaves)]
    message = f"product: its VJP returned {count} gradients for 2 inputs"
    out = product(*args)
    out = out.sum() if kind == "Tensor" else out
    with pytest.raises(RuntimeError, match=message):
        out.backward(create_graph=create_graph)
    assert all(leaf.grad is None or leaf.grad == 0.0 for leaf in leaves)
    with pytest.raises(RuntimeError, match=message):
        explain(out)
    i = 1 if constant == 0 else 0

    def f(v):
        xs = list(args)
        xs[i] = v
        y = product(*xs)
        return y.sum() if kind == "Tensor" else y

    with pytest.raises(RuntimeError, match=message):
        grad(f)(raw(2.0))
    with pytest.raises(RuntimeError, match=message):
        grad(lambda v: grad(f)(v) * 1.0 if kind == "Value" else grad(f)(v).sum())(raw(2.0))


def test_a_custom_rule_with_one_gradient_per_input_works_with_a_constant():
    product = _custom_product(lambda g, x, y: (g * y, g * x))
    x = Value(2.0)
    product(x, 3.0).backward()
    assert x.grad == 3.0
    t = Tensor([2.0, 5.0], requires_grad=True)
    product(np.array([3.0, 4.0]), t).sum().backward(create_graph=True)
    np.testing.assert_array_equal(t.grad.data, [3.0, 4.0])


def test_set_scope_returns_the_previous_path_and_scopes_nest_under_it():
    import autograd as ag

    assert ag.current_scope() is None
    prev = ag.set_scope("model.0")
    try:
        assert prev is None and ag.current_scope() == "model.0"
        with ag.scope("attn"):
            assert ag.current_scope() == "model.0.attn"
            t = Tensor(np.ones(2), requires_grad=True) * 2.0
        assert ag.current_scope() == "model.0" and t._scope == "model.0.attn"
    finally:
        assert ag.set_scope(prev) == "model.0"
    assert ag.current_scope() is None


# ----- primitive: parameters, one output, the xp vocabulary ---------------------------------
def test_a_primitive_takes_keyword_parameters_on_every_kind():
    scale = autograd.primitive("scale_k", lambda xp, x, *, k=2.0: x * k,
                               lambda xp, g, out, x, *, k: (g * k,))
    t = Tensor([1.0, 2.0], requires_grad=True)
    scale(t, k=3.0).sum().backward()
    np.testing.assert_array_equal(t.grad, [3.0, 3.0])
    v = Value(2.0)
    w = scale(v, k=5.0)
    w.backward()
    assert (w.data, v.grad) == (10.0, 5.0) and scale(2.0) == 4.0
    assert autograd.grad(autograd.grad(lambda x: scale(x * x, k=3.0)))(2.0) == 6.0
    with pytest.raises(TypeError, match=r"scale_k: unknown parameter\(s\) \['j'\].*k=2\.0"):
        scale(t, j=1.0)


def test_a_primitive_whose_forward_returns_a_tuple_is_refused():
    two = autograd.primitive("two", lambda xp, x: (x, 2 * x), lambda xp, g, out, x: (g,))
    for x in (Tensor([1.0]), Value(1.0), np.array([1.0])):
        with pytest.raises(TypeError, match="two: its forward returned a tuple of 2; .*one "
                                            "primitive per output"):
            two(x)


def test_a_rule_written_with_numpy_records_or_says_to_use_xp():
    e = autograd.primitive("np_exp", lambda xp, x: np.exp(x),
                           lambda xp, g, out, x: (g * np.exp(x),))  # np.exp of a node records
    np.testing.assert_allclose(autograd.hessian(lambda x: e(x).sum())(np.array([0.0, 1.0])),
                               np.diag([1.0, math.e]))
    f = autograd.primitive("np_floor", lambda xp, x: x * x,
                           lambda xp, g, out, x: (g * 2.0 * x + 0.0 * np.floor(x),))
    assert autograd.grad(lambda x: f(x).sum())(np.array([0.5])) == pytest.approx(1.0)
    with pytest.raises(TypeError, match=r"numpy\.floor is not recorded.*inside a primitive's "
                                        r"rule, use xp\.<name>"):
        autograd.hessian(lambda x: f(x).sum())(np.array([0.5]))


def test_the_primitive_docstring_lists_the_whole_xp_vocabulary():
    from autograd import backend

    doc = " ".join(autograd.primitive.__doc__.split())
    listed = set(re.findall(r"\w+", doc))
    names = set(vars(backend.numpy_ns)) - {"name"}
    assert names <= listed, f"not in primitive's docstring: {sorted(names - listed)}"
    assert set(vars(autograd.engine.node_ns)) - {"name"} == names  # the same names over nodes


# ----- scope paths with titles (issue 15: module boxes titled without model=) ------------------
def test_a_scope_path_is_its_string_and_carries_a_title_per_name():
    import pickle

    from autograd import ScopePath

    p = ScopePath("encoder.0", ("encoder: Sequential", "0: Linear"))
    assert p == "encoder.0" and hash(p) == hash("encoder.0") and f"{p}" == "encoder.0"
    assert p.titles == ("encoder: Sequential", "0: Linear")
    assert ScopePath.titles_of(p) == p.titles
    assert ScopePath.titles_of("train.head") == ("train", "head")  # a plain path's names
    q = pickle.loads(pickle.dumps(p))
    assert type(q) is ScopePath and q == p and q.titles == p.titles
    with pytest.raises(ValueError, match=r"ScopePath: 'encoder\.0' has 2 names but 1 titles"):
        ScopePath("encoder.0", ["0: Linear"])
    with pytest.raises(TypeError, match="ScopePath: path and titles must be str"):
        ScopePath("encoder", [3])


def test_nesting_a_scope_path_keeps_the_titles_and_a_plain_one_stays_plain():
    from autograd import ScopePath

    p = ScopePath("encoder.0", ("encoder: Sequential", "0: Linear"))
    joined = ScopePath.nest("train", p)
    assert joined == "train.encoder.0"
    assert joined.titles == ("train", "encoder: Sequential", "0: Linear")
    assert ScopePath.nest(p, "Tanh").titles == ("encoder: Sequential", "0: Linear", "Tanh")
    assert ScopePath.nest(None, p) is p
    plain = ScopePath.nest("train", "head")
    assert plain == "train.head" and type(plain) is str
    x = Tensor([1.0], requires_grad=True)
    prev = autograd.set_scope(p)
    try:
        with scope("attn"):  # a user's scope inside a module's: titled too
            a = x * 2.0
    finally:
        autograd.set_scope(prev)
    assert a._scope == "encoder.0.attn"
    assert a._scope.titles == ("encoder: Sequential", "0: Linear", "attn")
    with scope("encoder"):
        with scope("attn"):
            assert type(current_scope()) is str  # no titles: nothing more made


def test_the_public_names_are_listed_once_and_exist():
    names = autograd.__all__
    assert len(names) == len(set(names))
    assert all(hasattr(autograd, n) for n in names)


# ----- @no_grad without parentheses, on functions and methods ------------------------------------
def test_bare_no_grad_decorates_functions_and_methods_and_keeps_their_names():
    """``@no_grad`` (no parentheses) is an instance standing in for the function: calls go to
    it with every argument, and on a method it binds ``self`` as the function would."""
    @no_grad
    def f(x, k=1):
        """doc of f"""
        return is_grad_enabled(), x * k

    class M:
        @no_grad
        def m(self, a):
            return is_grad_enabled(), self, a

        @enable_grad
        def e(self):
            return is_grad_enabled()

    obj = M()
    assert f(2, k=3) == (False, 6) and f.__name__ == "f" and f.__doc__ == "doc of f"
    assert obj.m(5) == (False, obj, 5) and M.m.__name__ == "m"
    with no_grad():
        assert obj.e() is True
    assert is_grad_enabled()
    with pytest.raises(TypeError, match="no_grad: can decorate a function, not int"):
        no_grad()(3)
    with pytest.raises(TypeError, match="no_grad: can decorate a function, not 2 arguments"):
        no_grad()(f, f)


# ----- hooks ---------------------------------------------------------------------------------
def test_a_graph_with_hooks_is_freed_by_refcounting_after_backward():
    gc.disable()
    try:
        model = nn.Sequential(nn.Linear(3, 4, seed=0), nn.Tanh(), nn.Linear(4, 1, seed=1))
        for m in model.modules():
            m.register_full_backward_hook(lambda mod, gi, go: None)
            m.register_forward_hook(lambda mod, args, out: None)
        x = Tensor(np.ones((2, 3)), requires_grad=True)
        x.register_hook(lambda g: g)
        h = model(x)
        h.register_hook(lambda g: g * 1.0)
        loss = (h * h).sum()
        loss.backward()
        refs = [weakref.ref(n) for n in autograd.engine.graph(loss) if n._op is not None]
        assert len(refs) > 5
        del h, loss
        assert all(r() is None for r in refs)
    finally:
        gc.enable()


def test_removed_hooks_cost_nothing_and_the_counter_falls_back():
    before = autograd.engine.hook_users[0]
    x = Tensor([1.0], requires_grad=True)
    handles = [x.register_hook(lambda g: g), x.register_post_accumulate_grad_hook(print)]
    assert autograd.engine.hook_users[0] == before + 2
    for h in handles:
        h.remove()
        h.remove()
    assert autograd.engine.hook_users[0] == before


# ----- residuals -------------------------------------------------------------------------------
def test_a_first_order_backward_hands_the_vjp_what_its_forward_kept(monkeypatch):
    """Cross-entropy's forward keeps exp(z - max) and its row sums: both first-order loops
    (the lean one, and the general one that a hook forces) pass them to the VJP; higher order
    does not (its rule must differentiate its own recomputation), nor does a forward under
    no_grad keep them; and they go with the graph."""
    seen = []
    vjp = ops.CROSS_ENTROPY.vjp

    def spy(*args, res=None):
        seen.append(res is not None)
        return vjp(*args, res=res)

    monkeypatch.setattr(ops.CROSS_ENTROPY, "vjp", spy)
    z = Tensor(np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]]), requires_grad=True)

    def loss():
        return autograd.cross_entropy(z, [2, 0]).sum()

    loss().backward()
    h = z.register_hook(lambda g: g)
    loss().backward()
    h.remove()
    loss().backward(create_graph=True)
    assert seen == [True, True, False]
    again = loss()  # a second backward of one graph reads the same residual: never written
    first = backprop(again, np.array(1.0))[z]
    np.testing.assert_array_equal(backprop(again, np.array(1.0))[z], first)
    with no_grad():
        assert getattr(autograd.cross_entropy(z, [2, 0]), "_res", None) is None
    out = autograd.cross_entropy(z, [2, 0])
    kept = weakref.ref(out._res[0])
    del out
    assert kept() is None


# ----- the two first-order loops ---------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(DOMAINS))
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_the_lean_loops_agree_with_the_general_loop_bit_for_bit(name, data):
    """A first-order pass with nothing else asked of it runs its kind's own loop (Tensor's
    ``_backprop_arrays``, Value's ``_backprop_floats``); an observer forces the general loop.
    Both must give the same gradients, to the bit, for every primitive."""
    f, xs = data.draw(DOMAINS[name])
    ins = [Tensor(x, requires_grad=True) for x in xs]
    out = f(*ins)
    u = data.draw(arrays(out.shape, low=0.5, high=2.0))
    loss = (out * u).sum()
    lean = backprop(loss, np.array(1.0))
    general = backprop(loss, np.array(1.0), observe=lambda *a: None)
    assert lean.keys() == general.keys()
    for t in ins:
        if t in lean:
            np.testing.assert_array_equal(lean[t], general[t], err_msg=name)
            assert lean[t].dtype == general[t].dtype
