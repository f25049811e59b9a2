"""The engine: one tape for Value and Tensor, iterative backward, memory, higher order."""

import gc
import math
import weakref

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd import Tensor, Value, detect_anomaly, ops
from autograd.engine import apply, graph

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


def test_deep_chain_backpropagates_without_recursion():
    x = Value(0.5)
    y = x
    for _ in range(100_000):
        y = (y * 0.9 + 0.1).tanh()
    y.backward()
    assert math.isfinite(x.grad)
    t = Tensor(np.ones(3), requires_grad=True)
    z = t
    for _ in range(20_000):
        z = z * 1.0
    z.sum().backward()
    np.testing.assert_array_equal(t.grad, np.ones(3))


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


def every_axis(x):
    return tuple(range(x.ndim))  # (0,) for 1-d: mean(0), which crashed


@pytest.mark.parametrize("f, d2", [
    (lambda x: (x**3).mean(every_axis(x)), lambda x: 6 * x / x.size),
    (lambda x: (x**3).mean(), lambda x: 6 * x / x.size),
    (lambda x: (x**3).sum(every_axis(x)), lambda x: 6 * x),
    (lambda x: (x**3).max(), lambda x: 6 * x * (x == x.max())),
    (lambda x: (x**3).min(every_axis(x)), lambda x: 6 * x * (x == x.min())),
])
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


def test_detect_anomaly_names_the_op_and_line():
    x = Tensor([0.0, 1.0], requires_grad=True)
    with detect_anomaly():
        y = x.sqrt().sum()  # the line reported
        with pytest.raises(FloatingPointError, match=r"sqrt.*test_engine\.py:\d+"):
            y.backward()
    y.backward()  # outside anomaly mode: IEEE inf, no exception
    assert x.grad[0] == math.inf


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


def test_a_nan_upstream_gradient_propagates():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * 2).backward(np.array([np.nan, 1.0]))
    assert np.isnan(x.grad[0]) and x.grad[1] == 2.0
