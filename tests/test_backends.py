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
