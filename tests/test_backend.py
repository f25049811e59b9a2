"""The raw namespaces: what the rules see, and the errors they give."""

import numpy as np
import pytest

import autograd
from autograd import Tensor, backend


# ----- errors and edge cases: what a custom rule may call ----------------------------------------
def test_a_custom_op_may_take_a_mean_over_an_int_axis_as_it_takes_a_sum():
    rowmean = autograd.primitive("rowmean", lambda xp, x: xp.mean(x, 1),
                                 lambda xp, g, out, x: (xp.broadcast_to(
                                     xp.reshape(g, (-1, 1)), x.shape) * (1.0 / x.shape[1]),))
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(rowmean(Tensor(x)).data, [1.0, 4.0])
    assert autograd.gradcheck(rowmean, x)


# ----- empty reductions --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["max", "min"])
def test_an_empty_reduction_is_named_as_such_and_nothing_else_is(name):
    reduce = getattr(backend.numpy_ns, name)
    with pytest.raises(ValueError, match=rf"^{name}: the tensor of shape \(0, 3\) has size 0"):
        reduce(np.ones((0, 3)), (0,))
    assert reduce(np.ones((3, 0)), (0,)).shape == (0,)  # nothing reduced over nothing: fine
    # numpy's own error for a bad axis, where "size 0" would be a wrong guess
    with pytest.raises(ValueError, match="out of bounds") as info:
        reduce(np.array(1.0), (0,))
    assert "size 0" not in str(info.value)


# ----- every name a rule asks of xp exists in every namespace it can be given ----------------
def _xp_names(fn, code=None, seen=None):
    """The attributes a function (and the module-level helpers it calls, and the lambdas and
    comprehensions inside it) loads from its ``xp`` argument."""
    import dis
    import types

    seen = set() if seen is None else seen
    code = fn.__code__ if code is None else code
    if code in seen:
        return set()
    seen.add(code)
    names, prev = set(), None
    for ins in dis.get_instructions(code):
        if ins.opname in ("LOAD_ATTR", "LOAD_METHOD") and prev is not None \
                and prev.opname in ("LOAD_FAST", "LOAD_DEREF") and prev.argval == "xp":
            names.add(ins.argval)
        if ins.opname == "LOAD_GLOBAL":
            g = fn.__globals__.get(ins.argval)
            if isinstance(g, types.FunctionType) and g.__module__ == fn.__module__:
                names |= _xp_names(g, None, seen)
        prev = ins
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _xp_names(fn, c, seen)
    return names


def test_every_xp_name_a_rule_uses_exists_in_every_namespace():
    from autograd import ops
    from autograd.engine import registry

    assert ops.node_ns.name == "node"
    for op in registry.values():
        used = _xp_names(op.forward) | _xp_names(op.vjp)
        for ns in (backend.numpy_ns, ops.node_ns) + ((backend.scalar,) if op.scalar else ()):
            # forwards run on raw values only; rules on all three
            names = _xp_names(op.vjp) if ns is ops.node_ns else used
            missing = sorted(n for n in names if not hasattr(ns, n))
            assert not missing, f"{op.name}: xp.{missing} is not in the {ns.name} namespace"
            if op.name in _xp_names(op.forward) and ns is not ops.node_ns:
                kernel = getattr(ns, op.name)  # not the forward calling itself
                assert not getattr(kernel, "from_forward", False), f"{ns.name}.{op.name}"
    assert "sum" in _xp_names(ops.SUM.vjp) | _xp_names(ops.SUM.forward)  # the scan sees helpers
    assert {"exp", "max", "sum"} <= _xp_names(ops.CROSS_ENTROPY.forward)


def test_the_namespaces_offer_every_op_under_its_name():
    from autograd import Tensor, ops
    from autograd.engine import registry

    for op in registry.values():
        assert getattr(ops.node_ns, op.name).__name__ == op.name
        assert hasattr(backend.numpy_ns, op.name)
        assert hasattr(backend.scalar, op.name) == op.scalar or hasattr(backend.scalar, op.name)
    # parameters positionally or by name, and at their defaults
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert ops.node_ns.sum(x, 1, True).shape == (2, 1)
    assert ops.node_ns.sum(x, axis=0).shape == (3,)
    assert ops.node_ns.sum(x).shape == ()
    assert ops.node_ns.logsumexp(x).shape == (2,)
    assert backend.numpy_ns.getitem(x.data, (0, 1)) == 1.0  # a raw entry made from the forward


# ----- erf: Cody's rational approximations against math.erf --------------------------------------
def test_erf_matches_math_erf_to_a_few_ulp_everywhere():
    import math
    rng = np.random.default_rng(0)
    xs = np.concatenate([rng.uniform(-7, 7, 20000), rng.normal(0, 1, 20000),
                         np.logspace(-300, 1.5, 5000), -np.logspace(-300, 1.5, 5000),
                         np.linspace(0.46, 0.48, 2001), np.linspace(3.99, 4.01, 2001)])
    expected = np.array([math.erf(x) for x in xs])
    got = backend.numpy_ns.erf(xs)
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)
    assert backend.scalar.erf is math.erf


def test_erf_at_ieee_edges_and_in_float32(strict_numpy):
    got = backend.numpy_ns.erf(np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 30.0, -30.0]))
    np.testing.assert_array_equal(got, [0.0, -0.0, 1.0, -1.0, np.nan, 1.0, -1.0])
    assert np.signbit(got[1])
    f32 = backend.numpy_ns.erf(np.array([0.25, -1.5, 5.0], np.float32))
    assert f32.dtype == np.float32
    np.testing.assert_allclose(f32, [0.2763263901682369, -0.9661051464753108, 1.0], rtol=1e-6)
