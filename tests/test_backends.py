"""The op table on other array libraries: every primitive, first and second order, against
numpy's results (the registry-driven domains of tests/test_ops.py), and an nn training step.

array-api-strict runs in the README's test line (it catches numpy-only calls). Other CPU
backends run from their own environments with ``TAPEGRAD_BACKENDS`` (``torch``), as
``benchmarks/check_backends.sh`` does; this file needs no change for them. A new interpreter
of the tape (forward mode) adds one test here that reuses ``DOMAINS`` and ``BACKENDS``.
"""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ops import DOMAINS

import autograd as ag
from autograd import Tensor, array_api
from autograd.engine import registry
from autograd.testing import arrays

BACKENDS = os.environ.get("TAPEGRAD_BACKENDS", "array_api_strict").split(",")
RTOL = float(os.environ.get("TAPEGRAD_BACKEND_RTOL", "1e-10"))
pytestmark = pytest.mark.parametrize("backend", BACKENDS)


def host(x):
    """A result's values as numpy, whatever holds them."""
    x = x.data if isinstance(x, Tensor) else x
    return x if isinstance(x, np.ndarray) else np.asarray(Tensor(x).to("numpy").data)


def on(backend, x):
    """A float64 numpy array as a leaf Tensor of ``backend``."""
    return Tensor(array_api.namespace_for(backend).asarray(x), requires_grad=True)


def close(got, want, what):
    np.testing.assert_allclose(host(got), host(want), rtol=RTOL, atol=RTOL, err_msg=what)


def first_and_second(f, xs, u, v):
    """f's value, the gradient of sum(f * u) and the gradient of sum(grad * v) (an HVP)."""
    n = len(xs)
    loss = lambda *ts: (f(*ts) * u).sum()  # noqa: E731
    grads = ag.grad(loss, tuple(range(n)))
    hv = ag.grad(lambda *ts: sum((g * w).sum() for g, w in zip(grads(*ts), v)), tuple(range(n)))
    return f(*xs), grads(*xs), hv(*xs)


def test_every_primitive_has_a_backend_domain(backend):
    assert set(DOMAINS) == set(registry)


@pytest.mark.parametrize("name", sorted(DOMAINS))
@settings(max_examples=int(os.environ.get("TAPEGRAD_BACKEND_EXAMPLES", "25")))
@given(data=st.data())
def test_primitive_matches_numpy_to_second_order(backend, name, data):
    f, xs = data.draw(DOMAINS[name])
    shape = np.shape(f(*[Tensor(x) for x in xs]).data)
    u = data.draw(arrays(shape, low=0.5, high=2.0))
    v = [data.draw(arrays(np.shape(x), low=-1.0, high=1.0)) for x in xs]
    want = first_and_second(f, [Tensor(x, requires_grad=True) for x in xs], u, v)
    ns = array_api.namespace_for(backend)
    got = first_and_second(f, [on(backend, x) for x in xs], ns.asarray(u),
                           [ns.asarray(w) for w in v])
    assert got[0]._xp is ns, f"{name} left {backend}"
    close(got[0], want[0], f"{name}: value")
    for i, (a, b) in enumerate(zip(got[1], want[1])):
        close(a, b, f"{name}: gradient of input {i}")
    for i, (a, b) in enumerate(zip(got[2], want[2])):
        close(a, b, f"{name}: second order, input {i}")


# ----- libraries meet: errors, moves, zero-copy exchange ------------------------------------
def test_mixing_libraries_in_one_op_names_the_op_the_libraries_and_the_shapes(backend):
    x = on(backend, np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"mul: cannot mix .*numpy \(3,\).*\(2, 3\)"):
        Tensor(np.ones(3)) * x
    with pytest.raises(TypeError, match=r"matmul: cannot mix"):
        x @ Tensor(np.ones((3, 2)))
    assert (x * np.ones(3))._xp is x._xp  # a host constant is moved to the tensor's library
    with pytest.raises(TypeError, match="cannot mix"):
        Tensor(np.ones(3)) * x.data  # a foreign array beside a numpy tensor is not


def test_to_moves_values_into_a_new_leaf_and_back(backend):
    a = np.arange(6.0).reshape(2, 3)
    x = Tensor(a).to(backend.partition(":")[0])
    assert x._xp is not None and x.shape == (2, 3) and not x.requires_grad
    back = x.to("numpy")
    assert type(back.data) is np.ndarray
    np.testing.assert_array_equal(back.data, a)


def test_from_dlpack_shares_memory_and_the_gradient_stays_in_the_library(backend):
    mine = np.arange(4.0)
    shared = ag.from_dlpack(mine)
    mine[1] = 9.0
    assert shared.data[1] == 9.0  # zero-copy: unseen by version counters (README)
    x = on(backend, np.array([1.0, -2.0, 3.0]))
    (x * x).sum().backward()
    assert x.grad is not None and not isinstance(x.grad, np.ndarray)
    np.testing.assert_array_equal(host(x.grad), [2.0, -4.0, 6.0])


def test_repeated_indices_accumulate_on_every_backend(backend):
    x = on(backend, np.arange(4.0))
    x[[0, 0, 3, 0]].sum().backward()
    np.testing.assert_array_equal(host(x.grad), [3.0, 0.0, 0.0, 1.0])


def test_a_training_step_matches_numpy(backend):
    rng = np.random.default_rng(0)
    data = [rng.standard_normal(s) for s in ((8, 5), (5, 4), (4,), (4, 3), (3,))]
    labels = rng.integers(0, 3, 8)

    def step(arrays):
        x, *params = arrays
        h = ag.linear(x, params[0], params[1]).relu()
        loss = ag.cross_entropy(ag.linear(h, params[2], params[3]), labels).mean()
        loss.backward()
        with ag.no_grad():
            for p in params:
                p -= 0.1 * p.grad
        return loss, params

    want = step([Tensor(data[0])] + [Tensor(a, requires_grad=True) for a in data[1:]])
    got = step([Tensor(on(backend, data[0]).data)] + [on(backend, a) for a in data[1:]])
    close(got[0], want[0], "loss")
    for a, b in zip(got[1], want[1]):
        close(a, b, "updated parameter")


def test_joins_along_a_leading_axis_split_their_gradient_back(backend):
    # the VJPs index g along one axis of several: the standard wants the trailing ellipsis
    a, b = on(backend, np.ones((2, 3))), on(backend, np.ones((1, 3)))
    (ag.concatenate([a, b], axis=0) * 2.0).sum().backward()
    c, d = on(backend, np.ones((2, 3))), on(backend, np.ones((2, 3)))
    (ag.stack([c, d], axis=0) * 3.0).sum().backward()
    np.testing.assert_array_equal(host(a.grad), np.full((2, 3), 2.0))
    np.testing.assert_array_equal(host(d.grad), np.full((2, 3), 3.0))


def test_compile_refuses_another_librarys_tensors_clearly(backend):
    """A program is numpy source: a foreign tensor, as an argument or as state, is a TypeError
    naming its type, not an AttributeError from inside the tracer."""
    x, w = on(backend, np.ones(3)), on(backend, np.ones(3))
    with pytest.raises(TypeError, match=r"trace/compile: a tensor holds a .*only numpy tensors"):
        ag.compile(lambda a: (a * 2.0).sum())(x)
    with pytest.raises(TypeError, match=r"trace/compile: a tensor holds a .*only numpy tensors"):
        ag.compile(lambda a: (a * w).sum())(Tensor(np.ones(3)))


# ----- forward mode on backends: every JVP, and jacfwd, against numpy's --------------------------
@pytest.mark.parametrize("name", sorted(DOMAINS))
@settings(max_examples=int(os.environ.get("TAPEGRAD_BACKEND_EXAMPLES", "25")))
@given(data=st.data())
def test_primitive_jvp_matches_numpy(backend, name, data):
    """``jvp`` of each primitive (its value and J v) on the backend equals numpy's, with
    tangents of the backend's library; and forward over reverse (the JVP of a gradient, an
    HVP) too."""
    f, xs = data.draw(DOMAINS[name])
    shape = np.shape(f(*[Tensor(x) for x in xs]).data)
    u = data.draw(arrays(shape, low=0.5, high=2.0))
    vs = [data.draw(arrays(np.shape(x), low=-1.0, high=1.0)) for x in xs]
    ns = array_api.namespace_for(backend)
    n = len(xs)
    grads = ag.grad(lambda *ts: (f(*ts) * u).sum(), tuple(range(n)))

    def both(args, tangents):
        value, jv = ag.jvp(f, tuple(args), tuple(tangents))
        _, hv = ag.jvp(grads, tuple(args), tuple(tangents))
        return value, jv, hv

    want = both([Tensor(x) for x in xs], [Tensor(v) for v in vs])
    got = both([Tensor(ns.asarray(x)) for x in xs], [Tensor(ns.asarray(v)) for v in vs])
    assert got[1]._xp is ns, f"{name}: the tangent left {backend}"
    close(got[0], want[0], f"{name}: value")
    close(got[1], want[1], f"{name}: J v")
    for i, (a, b) in enumerate(zip(got[2], want[2])):
        close(a, b, f"{name}: forward over reverse, input {i}")


def test_jacfwd_matches_numpy(backend):
    """jacfwd (one forward sweep per input element, seeded in the backend's library) of a
    function R^3 -> R^2, and of its gradient (a Hessian, forward over reverse)."""
    a = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    x0 = np.array([0.3, -0.2, 0.9])

    def f(x):
        return (x @ a.T).tanh() * x[:2]  # (a host constant joins the tensor's library)

    def g(x):
        return (f(x) * f(x)).sum()

    for fn in (f, ag.grad(g)):
        want = ag.jacfwd(fn)(Tensor(x0))
        got = ag.jacfwd(fn)(on(backend, x0))
        assert got._xp is not None and got.shape == want.shape
        close(got, want, "jacfwd")
