"""Every primitive of the op table against central finite differences, in float64."""

import math

import numpy as np
import pytest
from expressions import leaf
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd as ag
from autograd import Tensor, Value, gradcheck, ops
from autograd.engine import apply, registry
from autograd.testing import arrays, broadcastable_shapes, matmul_shapes, valid_axes


def distinct(shape):
    """Values at least 0.1 apart: no ties, so max/min have a gradient everywhere."""
    return hnp.arrays(np.float64, shape, elements=st.integers(-60, 60).map(lambda i: i / 10),
                      unique=True)


def elementwise(n, *kws):
    """n arrays of mutually broadcastable shapes; kws[i] are arrays() options of input i."""
    @st.composite
    def inputs(draw):
        shapes = draw(broadcastable_shapes(n))
        opts = list(kws) + [{}] * n
        return [draw(arrays(s, **opts[i])) for i, s in enumerate(shapes)]
    return inputs()


def unary(**kw):
    return elementwise(1, kw)


@st.composite
def reduction(draw, values=arrays):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    axis = draw(valid_axes(len(shape)))
    keepdims = draw(st.booleans())
    return draw(values(shape)), axis, keepdims


@st.composite
def reshapes(draw):
    x = draw(arrays(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)))
    target = draw(st.sampled_from([(-1,), x.shape[::-1], (1,) + x.shape, (x.size, 1)]))
    return x, target


@st.composite
def transposes(draw):
    x = draw(arrays(hnp.array_shapes(min_dims=1, max_dims=4, max_side=3)))
    return x, tuple(draw(st.permutations(range(x.ndim))))


@st.composite
def indexings(draw):
    x = draw(arrays(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)))
    kind = draw(st.sampled_from(["int", "slice", "array", "mask", "tuple"]))
    n = x.shape[0]
    if kind == "int":
        idx = draw(st.integers(-n, n - 1))
    elif kind == "slice":
        idx = slice(draw(st.integers(0, n)), None, draw(st.integers(1, 2)))
    elif kind == "array":  # repeated indices accumulate
        idx = np.array(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=6)))
    elif kind == "mask":
        idx = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    else:
        idx = (slice(None), Ellipsis) if x.ndim == 1 else (Ellipsis, 0)
    return x, idx


@st.composite
def joins(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3))
    axis = draw(st.integers(0, len(shape) - 1))
    k = draw(st.integers(1, 3))
    xs = []
    for _ in range(k):
        s = list(shape)
        s[axis] = draw(st.integers(1, 3))
        xs.append(draw(arrays(tuple(s))))
    return xs, axis


@st.composite
def stacks(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    xs = [draw(arrays(shape)) for _ in range(draw(st.integers(1, 3)))]
    return xs, draw(st.integers(0, len(shape)))


@st.composite
def classification(draw):
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    labels = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    return draw(arrays((n, c), low=-5, high=5)), labels


@st.composite
def where_inputs(draw):
    cs, xs, ys = draw(broadcastable_shapes(3))
    return (draw(hnp.arrays(bool, cs)), draw(arrays(xs)), draw(arrays(ys)))


@st.composite
def separated_pair(draw):
    x, y = draw(elementwise(2))
    assume(np.all(np.abs(np.subtract(x, y)) > 1e-3))  # no ties: maximum has a derivative
    return [x, y]


# op name -> (strategy of a tuple (function, inputs))
DOMAINS = {
    "add": elementwise(2).map(lambda xs: (lambda a, b: a + b, xs)),
    "sub": elementwise(2).map(lambda xs: (lambda a, b: a - b, xs)),
    "mul": elementwise(2).map(lambda xs: (lambda a, b: a * b, xs)),
    "div": elementwise(2, {}, dict(away_from=(0,), margin=0.3)).map(
        lambda xs: (lambda a, b: a / b, xs)),
    "neg": unary().map(lambda xs: (lambda a: -a, xs)),
    "pow": elementwise(2, dict(low=0.3), dict(low=-2, high=2)).map(
        lambda xs: (lambda a, b: a ** b, xs)),
    "exp": unary().map(lambda xs: (lambda a: a.exp(), xs)),
    "log": unary(low=0.1).map(lambda xs: (lambda a: a.log(), xs)),
    "sqrt": unary(low=0.1).map(lambda xs: (lambda a: a.sqrt(), xs)),
    "tanh": unary().map(lambda xs: (lambda a: a.tanh(), xs)),
    "sigmoid": unary(low=-8, high=8).map(lambda xs: (lambda a: a.sigmoid(), xs)),
    "relu": unary(away_from=(0,), margin=1e-2).map(lambda xs: (lambda a: a.relu(), xs)),
    "abs": unary(away_from=(0,), margin=1e-2).map(lambda xs: (lambda a: abs(a), xs)),
    "sin": unary().map(lambda xs: (lambda a: a.sin(), xs)),
    "cos": unary().map(lambda xs: (lambda a: a.cos(), xs)),
    "maximum": separated_pair().map(lambda xs: (ag.maximum, xs)),
    "minimum": separated_pair().map(lambda xs: (ag.minimum, xs)),
    "where": where_inputs().map(lambda cxy: (lambda a, b: ag.where(cxy[0], a, b), cxy[1:])),
    "sum": reduction().map(lambda r: (lambda a: a.sum(r[1], r[2]), [r[0]])),
    "mean": reduction().map(lambda r: (lambda a: a.mean(r[1], r[2]), [r[0]])),
    "max": reduction(distinct).map(lambda r: (lambda a: a.max(r[1], r[2]), [r[0]])),
    "min": reduction(distinct).map(lambda r: (lambda a: a.min(r[1], r[2]), [r[0]])),
    "logsumexp": reduction().map(lambda r: (lambda a: a.logsumexp(r[1], r[2]), [r[0]])),
    "reshape": reshapes().map(lambda r: (lambda a: a.reshape(r[1]), [r[0]])),
    "transpose": transposes().map(lambda r: (lambda a: a.transpose(r[1]), [r[0]])),
    "cast": unary().map(lambda xs: (lambda a: a.astype(np.float64), xs)),
    "getitem": indexings().map(lambda r: (lambda a: a[r[1]], [r[0]])),
    "untake": indexings().map(lambda r: (
        lambda a: apply(ops.UNTAKE, a, index=r[1], shape=r[0].shape), [np.asarray(r[0][r[1]])])),
    "concatenate": joins().map(lambda r: (lambda *a: ag.concatenate(a, axis=r[1]), r[0])),
    "stack": stacks().map(lambda r: (lambda *a: ag.stack(a, axis=r[1]), r[0])),
    "matmul": matmul_shapes().flatmap(lambda s: st.tuples(arrays(s[0]), arrays(s[1]))).map(
        lambda xs: (lambda a, b: a @ b, list(xs))),
    "linear": matmul_shapes().filter(lambda s: len(s[1]) >= 2).flatmap(
        lambda s: st.tuples(arrays(s[0]), arrays(s[1]), arrays(s[1][-1:]))).map(
        lambda xs: (lambda a, w, b: apply(ops.LINEAR, a, w, b), list(xs))),
    "cross_entropy": classification().map(lambda r: (
        lambda z: apply(ops.CROSS_ENTROPY, z, r[1]), [r[0]])),
}


def test_every_primitive_has_a_test_domain():
    assert set(DOMAINS) == set(registry), "add a domain to DOMAINS for each new primitive"


@pytest.mark.parametrize("name", sorted(DOMAINS))
@given(data=st.data())
def test_primitive_matches_finite_differences(name, data):
    f, xs = data.draw(DOMAINS[name])
    shape = np.shape(f(*[Tensor(x) for x in xs]).data)
    u = data.draw(arrays(shape, low=0.5, high=2.0))  # a random upstream gradient
    assert gradcheck(lambda *t: f(*t) * u, *xs)


SCALAR_OPS = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "tanh", "sigmoid",
              "relu", "abs", "sin", "cos"]


@pytest.mark.parametrize("name", SCALAR_OPS)
@given(data=st.data())
def test_scalar_primitive_matches_finite_differences(name, data):
    f, xs = data.draw(DOMAINS[name])
    xs = [float(np.asarray(x).reshape(-1)[0]) for x in xs]
    u = data.draw(st.floats(0.5, 2.0))
    assert gradcheck(lambda *v: f(*v) * u, *xs)
    assert isinstance(f(*[Value(x) for x in xs]), Value)


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "tanh", "sigmoid", "sin", "cos"])
def test_unary_value_and_tensor_agree(name):
    x = 0.7
    v = getattr(Value(x), name)()
    t = getattr(Tensor(x, requires_grad=True), name)()
    v.backward()
    t.backward()
    assert v.data == pytest.approx(float(t.data), rel=1e-15)
    assert v._args[0].grad == pytest.approx(float(t._args[0].grad), rel=1e-15)


# ----- errors and edge cases: IEEE extremes of sigmoid and pow -----------------------------------
def test_sigmoid_at_plus_minus_1000_is_exact_for_value_and_tensor(strict_numpy):
    for x, value in [(1000.0, 1.0), (-1000.0, 0.0)]:
        v = Value(x)
        s = v.sigmoid()
        s.backward()
        assert s.data == value and v.grad == 0.0
    t = leaf([1000.0, -1000.0, 0.0])
    s = t.sigmoid()
    s.sum().backward()
    np.testing.assert_array_equal(s.data, [1.0, 0.0, 0.5])
    np.testing.assert_array_equal(t.grad, [0.0, 0.0, 0.25])


def test_a_negative_value_to_a_fractional_power_is_nan_never_complex(strict_numpy):
    v = Value(-2.0)
    y = v ** 0.5
    y.backward()
    assert type(y.data) is float and math.isnan(y.data) and math.isnan(v.grad)
    assert type(v.grad) is float
    e = Value(0.5)
    y = Value(-8.0) ** e  # exponent a Value: d/de = out * log(x), nan too
    y.backward()
    assert type(y.data) is float and math.isnan(y.data) and math.isnan(e.grad)
    assert math.isnan((Value(-8.0) ** (1 / 3)).data)
    t = leaf([-2.0, 4.0])
    y = t ** 0.5
    y.sum().backward()
    assert y.dtype == np.float64 and np.isnan(y.data[0]) and y.data[1] == 2.0
    assert np.isnan(t.grad[0]) and t.grad[1] == 0.25


# ----- second order at 0-d: numpy makes scalars of 0-d arrays, and none may reach a rule ---------
def tiny(n, *kws):
    """n arrays of shape () or of ones, that broadcast together (as ``elementwise``)."""
    @st.composite
    def inputs(draw):
        shapes = draw(broadcastable_shapes(n, max_side=1))
        opts = list(kws) + [{}] * n
        return [draw(arrays(s, **opts[i])) for i, s in enumerate(shapes)]
    return inputs()


@st.composite
def to_0d(draw, values=arrays):
    """A reduction with a 0-d result: over all axes of a small (or 0-d) array, or axis 0 of a
    1-d one."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    axis = draw(st.sampled_from([None, tuple(range(len(shape)))] + [0] * (len(shape) == 1)))
    return draw(values(shape)), axis


@st.composite
def tiny_indexings(draw):
    x = draw(arrays(st.sampled_from([(), (1,), (1, 1), (3,)])))
    return x, draw(st.sampled_from([(), Ellipsis] if x.ndim == 0 else [(0,) * x.ndim, -1]))


# op name -> strategy of (function, inputs) whose inputs or output are 0-d or of one element
ZERO_D = {
    "add": tiny(2).map(lambda xs: (lambda a, b: a + b, xs)),
    "sub": tiny(2).map(lambda xs: (lambda a, b: a - b, xs)),
    "mul": tiny(2).map(lambda xs: (lambda a, b: a * b, xs)),
    "div": tiny(2, {}, dict(away_from=(0,), margin=0.3)).map(lambda xs: (lambda a, b: a / b, xs)),
    "neg": tiny(1).map(lambda xs: (lambda a: -a, xs)),
    # (exponents away from 0: there x ** y's derivative in x is masked to 0, and so is its own
    # derivative in y, which the rules' owners decide, not this test)
    "pow": tiny(2, dict(low=0.3), dict(low=-2, high=2, away_from=(0,))).map(
        lambda xs: (lambda a, b: a ** b, xs)),
    "exp": tiny(1).map(lambda xs: (lambda a: a.exp(), xs)),
    "log": tiny(1, dict(low=0.1)).map(lambda xs: (lambda a: a.log(), xs)),
    "sqrt": tiny(1, dict(low=0.1)).map(lambda xs: (lambda a: a.sqrt(), xs)),
    "tanh": tiny(1).map(lambda xs: (lambda a: a.tanh(), xs)),
    "sigmoid": tiny(1, dict(low=-8, high=8)).map(lambda xs: (lambda a: a.sigmoid(), xs)),
    "relu": tiny(1, dict(away_from=(0,), margin=1e-2)).map(lambda xs: (lambda a: a.relu(), xs)),
    "abs": tiny(1, dict(away_from=(0,), margin=1e-2)).map(lambda xs: (lambda a: abs(a), xs)),
    "sin": tiny(1).map(lambda xs: (lambda a: a.sin(), xs)),
    "cos": tiny(1).map(lambda xs: (lambda a: a.cos(), xs)),
    "maximum": tiny(2).filter(lambda xs: np.all(np.abs(np.subtract(*xs)) > 1e-3)).map(
        lambda xs: (ag.maximum, xs)),
    "minimum": tiny(2).filter(lambda xs: np.all(np.abs(np.subtract(*xs)) > 1e-3)).map(
        lambda xs: (ag.minimum, xs)),
    "where": st.tuples(st.booleans(), tiny(2)).map(
        lambda cxy: (lambda a, b: ag.where(cxy[0], a, b), cxy[1])),
    "sum": to_0d().map(lambda r: (lambda a: a.sum(r[1]), [r[0]])),
    "mean": to_0d().map(lambda r: (lambda a: a.mean(r[1]), [r[0]])),
    "max": to_0d(distinct).map(lambda r: (lambda a: a.max(r[1]), [r[0]])),
    "min": to_0d(distinct).map(lambda r: (lambda a: a.min(r[1]), [r[0]])),
    "logsumexp": to_0d().map(lambda r: (lambda a: a.logsumexp(r[1]), [r[0]])),
    "reshape": st.tuples(tiny(1), st.sampled_from([(), (1,), (1, 1)])).map(
        lambda r: (lambda a: a.reshape(r[1]), r[0])),
    "transpose": tiny(1).map(lambda xs: (lambda a: a.transpose(), xs)),
    "cast": tiny(1).map(lambda xs: (lambda a: a.astype(np.float64), xs)),
    "getitem": tiny_indexings().map(lambda r: (lambda a: a[r[1]], [r[0]])),
    "untake": tiny_indexings().map(lambda r: (
        lambda a: apply(ops.UNTAKE, a, index=r[1], shape=r[0].shape), [np.asarray(r[0][r[1]])])),
    "concatenate": st.lists(arrays((1,)), min_size=1, max_size=3).map(
        lambda xs: (lambda *a: ag.concatenate(a), xs)),
    "stack": st.lists(arrays(()), min_size=1, max_size=3).map(lambda xs: (lambda *a: ag.stack(a),
                                                                          xs)),
    "matmul": st.integers(1, 3).flatmap(lambda k: st.tuples(arrays((k,)), arrays((k,)))).map(
        lambda xs: (lambda a, b: a @ b, list(xs))),
    "linear": st.tuples(arrays((1,)), arrays((1, 1)), arrays((1,))).map(
        lambda xs: (lambda a, w, b: apply(ops.LINEAR, a, w, b), list(xs))),
    "cross_entropy": st.integers(1, 3).flatmap(lambda c: st.tuples(
        arrays((1, c), low=-5, high=5), st.integers(0, c - 1))).map(lambda r: (
            lambda z: apply(ops.CROSS_ENTROPY, z, np.array([r[1]])), [r[0]])),
}


def test_every_primitive_has_a_0d_domain():
    assert set(ZERO_D) == set(registry), "add a domain to ZERO_D for each new primitive"


@pytest.mark.parametrize("name", sorted(ZERO_D))
@settings(max_examples=20)  # few shapes to try: the values vary, the shapes soon repeat
@given(data=st.data())
def test_primitive_at_0d_matches_finite_differences_to_second_order(name, data):
    # issue 13: the mean of a 1-d tensor and the max of a 0-d one crashed in create_graph
    f, xs = data.draw(ZERO_D[name])
    shape = np.shape(f(*[Tensor(x) for x in xs]).data)
    u = data.draw(arrays(shape, low=0.5, high=2.0))
    assert gradcheck(lambda *t: f(*t) * u, *xs, order=2)
    assert gradcheck(f, *xs, order=2)  # the raw seed goes straight into the rule
