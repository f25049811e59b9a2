"""Every primitive of the op table against central finite differences, in float64."""

import inspect
import itertools
import math
import warnings

import numpy as np
import pytest
from expressions import leaf
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd as ag
from autograd import Tensor, Value, backend, gradcheck, ops
from autograd.backend import numpy_ns
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
    kind = draw(st.sampled_from(["int", "slice", "array", "mask", "tuple", "nested"]))
    n = x.shape[0]
    if kind == "int":
        idx = draw(st.integers(-n, n - 1))
    elif kind == "slice":
        idx = slice(draw(st.integers(0, n)), None, draw(st.integers(1, 2)))
    elif kind == "array":  # repeated indices accumulate
        idx = np.array(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=6)))
    elif kind == "mask":
        idx = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    elif kind == "nested":  # a tuple inside the index is an integer array: repeats accumulate
        idx = (tuple(draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=6))),)
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


# ----- strategies of pad, windows and unwindows (nn/conv.py's primitives) ---------------------
@st.composite
def paddings(draw, max_dims=3):
    x = draw(arrays(hnp.array_shapes(min_dims=0, max_dims=max_dims, max_side=3)))
    widths = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in x.shape)
    # (not -inf, which max pooling pads with: finite differences of inf are nan)
    return x, {"widths": widths, "value": draw(st.sampled_from([0.0, -1.5]))}


@st.composite
def windowings(draw):
    """An array, and windows over its last 1 or 2 axes that fit (kernel, stride, dilation)."""
    d = draw(st.integers(1, 2))
    kw = {k: tuple(draw(st.integers(1, hi)) for _ in range(d))
          for k, hi in (("kernel", 3), ("stride", 3), ("dilation", 2))}
    spans = [dl * (k - 1) + 1 for k, dl in zip(kw["kernel"], kw["dilation"])]
    lead = tuple(draw(st.lists(st.integers(1, 2), max_size=2)))
    return draw(arrays(lead + tuple(draw(st.integers(s, s + 3)) for s in spans))), kw


def unwindowings(windowing):
    """unwindows of an array of the windows' shape (of the array ``windowing`` draws)."""
    return windowing.map(lambda r: (
        lambda g: apply(ops.UNWINDOWS, g, shape=r[0].shape, **r[1]),
        [np.ascontiguousarray(numpy_ns.windows(r[0], **r[1]))]))



# op name -> (strategy of a tuple (function, inputs))
# Elementwise ops: name -> (function, value options of each input). Their domains, on
# broadcastable shapes and on 0-d and one-element shapes (ZERO_D), are made from this one line.
ELEMENTWISE = {
    "add": (lambda a, b: a + b,),
    "sub": (lambda a, b: a - b,),
    "mul": (lambda a, b: a * b,),
    "div": (lambda a, b: a / b, {}, dict(away_from=(0,), margin=0.3)),
    "neg": (lambda a: -a,),
    # (exponents away from 0 at 0-d: there x ** y's derivative in x is masked to 0, and its
    # own derivative in y is decided by the rule, which the kink tests check)
    "pow": (lambda a, b: a ** b, dict(low=0.3), dict(low=-2, high=2, away_from=(0,))),
    "exp": (lambda a: a.exp(),),
    "log": (lambda a: a.log(), dict(low=0.1)),
    "log1p": (lambda a: a.log1p(), dict(low=-0.9)),
    "expm1": (lambda a: a.expm1(),),
    "square": (lambda a: a.square(),),
    "sqrt": (lambda a: a.sqrt(), dict(low=0.1)),
    "tanh": (lambda a: a.tanh(),),
    "sigmoid": (lambda a: a.sigmoid(), dict(low=-8, high=8)),
    "relu": (lambda a: a.relu(), dict(away_from=(0,), margin=1e-2)),
    "abs": (lambda a: abs(a), dict(away_from=(0,), margin=1e-2)),
    "sin": (lambda a: a.sin(),),
    "cos": (lambda a: a.cos(),),
    "softplus": (lambda a: a.softplus(),),
    "erf": (lambda a: a.erf(),),
    "cast": (lambda a: a.astype(np.float64),),
}


def on_shapes(shapes, fn, *kws):
    """(fn, inputs) with inputs drawn on ``shapes(n)`` with each input's value options."""
    n = fn.__code__.co_argcount

    @st.composite
    def inputs(draw):
        opts = list(kws) + [{}] * n
        return [draw(arrays(s, **opts[i])) for i, s in enumerate(draw(shapes(n)))]
    return inputs().map(lambda xs: (fn, xs))


DOMAINS = {name: on_shapes(broadcastable_shapes, *spec) for name, spec in ELEMENTWISE.items()}
DOMAINS |= {
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
    "pad": paddings().map(lambda r: (lambda a: apply(ops.PAD, a, **r[1]), [r[0]])),
    "windows": windowings().map(lambda r: (lambda a: apply(ops.WINDOWS, a, **r[1]), [r[0]])),
    "unwindows": unwindowings(windowings()),
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


SCALAR_OPS = sorted(name for name, op in registry.items() if op.scalar)


@pytest.mark.parametrize("name", SCALAR_OPS)
@given(data=st.data())
def test_scalar_primitive_matches_finite_differences(name, data):
    f, xs = data.draw(DOMAINS[name])
    xs = [float(np.asarray(x).reshape(-1)[0]) for x in xs]
    u = data.draw(st.floats(0.5, 2.0))
    assert gradcheck(lambda *v: f(*v) * u, *xs)
    assert isinstance(f(*[Value(x) for x in xs]), Value)


@pytest.mark.parametrize("name", [n for n in SCALAR_OPS if len(registry[n].inputs) == 1
                                  and n not in ("relu", "abs", "neg")])
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
ZERO_D = {name: on_shapes(lambda n: broadcastable_shapes(n, max_side=1), *spec)
          for name, spec in ELEMENTWISE.items()}
ZERO_D |= {
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
    "pad": paddings(max_dims=1).filter(lambda r: r[0].size == 1).map(
        lambda r: (lambda a: apply(ops.PAD, a, **r[1]), [r[0]])),
    "windows": st.tuples(tiny(1), st.integers(1, 2)).map(lambda r: (
        lambda a: apply(ops.WINDOWS, a, kernel=(1,) * r[1], stride=(1,) * r[1],
                        dilation=(1,) * r[1]), [np.reshape(r[0][0], (1,) * r[1])])),
    "unwindows": unwindowings(arrays((1, 1)).map(lambda x: (x, dict(kernel=(1,), stride=(2,),
                                                                   dilation=(1,))))),
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


# ----- issue 13: cross-entropy at large logits ----------------------------------------------------
def test_cross_entropy_gradient_is_exact_at_large_logits():
    """Softmax from the shifted logits: recovered from the output as exp(z - (out + z[label]))
    it was [-0.50001454, 0.49998546] at float32 logits of 1000, and [0, 1] at 1e8."""
    for dtype, big in ((np.float32, 1e3), (np.float32, 1e8), (np.float64, 1e3),
                       (np.float64, 1e16), (np.float64, 1e300)):
        z = Tensor(np.array([[big, big], [big, big], [-big, -big], [big, -big]], dtype),
                   requires_grad=True)
        apply(ops.CROSS_ENTROPY, z, np.array([0, 1, 1, 1])).sum().backward()
        np.testing.assert_array_equal(
            z.grad, np.array([[-0.5, 0.5], [0.5, -0.5], [0.5, -0.5], [1.0, -1.0]], dtype))
    h = ag.hessian(lambda t: apply(ops.CROSS_ENTROPY, t.reshape(1, 2), np.array([0])).sum())
    np.testing.assert_array_equal(h([1e16, 1e16]), [[0.25, -0.25], [-0.25, 0.25]])


@given(st.sampled_from([np.float32, np.float64]),
       st.sampled_from([0.0, 1e3, -1e3, 1e8, 3e9, 1e16, -1e20]), classification())
def test_cross_entropy_gradient_is_softmax_minus_onehot_at_any_offset(dtype, offset, case):
    """At any offset the gradient is the softmax of the logits actually held (in float64, from
    their exact differences to the row maximum) minus the one-hot labels; rows sum to 0."""
    z0, labels = case
    z = Tensor((z0 + offset).astype(dtype), requires_grad=True)
    apply(ops.CROSS_ENTROPY, z, labels).sum().backward()
    held = z.data.astype(np.float64)
    e = np.exp(held - held.max(1, keepdims=True))
    expected = e / e.sum(1, keepdims=True) - np.eye(held.shape[1])[labels]
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(z.grad, expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(z.grad.sum(1), 0.0, atol=4 * tol)



def test_logsumexp_gradient_is_exact_at_large_inputs():
    """The same class: logsumexp's gradient was exp(x - out), with out rounded to x's
    precision ([0.49998546] * 2 at float32 1000, [1, 1] at float32 1e8 and float64 1e16)."""
    for dtype, big in ((np.float32, 1e3), (np.float32, 1e8), (np.float64, 1e16)):
        x = Tensor(np.array([[big, big], [-big, -big], [big, -big]], dtype), requires_grad=True)
        x.logsumexp(axis=1).sum().backward()
        np.testing.assert_array_equal(x.grad, np.array([[0.5, 0.5], [0.5, 0.5], [1, 0]], dtype))
    h = ag.hessian(lambda t: t.logsumexp())([1e16, 1e16])
    np.testing.assert_array_equal(h, [[0.25, -0.25], [-0.25, 0.25]])


@given(st.sampled_from([np.float32, np.float64]),
       st.sampled_from([0.0, 1e3, -1e3, 1e8, 3e9, 1e16, -1e20]), classification())
def test_logsumexp_gradient_is_the_softmax_at_any_offset(dtype, offset, case):
    x = Tensor((case[0] + offset).astype(dtype), requires_grad=True)
    x.logsumexp(axis=1).sum().backward()
    held = x.data.astype(np.float64)
    e = np.exp(held - held.max(1, keepdims=True))
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(x.grad, e / e.sum(1, keepdims=True), rtol=tol, atol=tol)

# ----- issue 13: the where trap in pow, at every order ------------------------------------------
def test_pow_at_zero_has_finite_derivatives_of_every_order():
    assert ag.grad(ag.grad(lambda x: x ** 0))(0.0) == 0.0  # was nan
    np.testing.assert_array_equal(ag.hessian(lambda x: (x ** 0).sum())([0.0, 1.0]),
                                  np.zeros((2, 2)))
    assert ag.grad(ag.grad(ag.grad(lambda x: x ** 1)))(0.0) == 0.0
    y = Tensor([0.0, 1.0, 2.0])  # exponents in a tensor: the rule's masked branch
    np.testing.assert_array_equal(ag.hessian(lambda x: (x ** y).sum())([0.0, 0.0, 0.0]),
                                  np.diag([0.0, 0.0, 2.0]))


@pytest.mark.parametrize("kind", [Value, Tensor])
@pytest.mark.parametrize("y", [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
def test_exponent_gradient_at_a_zero_base_is_zero_as_documented(kind, y):
    """d(x ** y)/dy at x == 0 is 0 (the op table's choice): it was inf * 0 = nan for y < 0."""
    for x0 in (0.0, -0.0):
        x, e = (Value(x0), Value(y)) if kind is Value else (Tensor(x0, requires_grad=True),
                                                            Tensor(y, requires_grad=True))
        (x ** e).backward()
        assert float(e.grad) == 0.0
    t = Tensor([0.0, 2.0])
    np.testing.assert_allclose(ag.grad(lambda e: (t ** e).sum())([y, y]),
                               [0.0, 2.0 ** y * math.log(2.0)], rtol=1e-15)


# ----- higher order at every documented non-differentiable point --------------------------------
INF = math.inf
POW_AT_0 = {0: (0.0, 0.0, 0.0), 1: (1.0, 0.0, 0.0), 2: (0.0, 2.0, 0.0),
            -1: (-INF, INF, -INF), 0.5: (INF, -INF, INF)}  # x ** y's at x = +0
# op name -> cases (f, x, inputs made nodes, (f', f'', f''') at x): each op whose doc declares a
# non-differentiable point, at that point, with the documented choice (inf: the limit from the
# right, as IEEE gives it); f differentiates in its first argument
KINKS = {
    "relu": [(lambda x: x.relu(), 0.0, (), (0.0, 0.0, 0.0))],
    "abs": [(abs, 0.0, (), (0.0, 0.0, 0.0)), (abs, -0.0, (), (0.0, 0.0, 0.0))],
    "sqrt": [(lambda x: x.sqrt(), 0.0, (), (INF, -INF, INF))],
    "pow": [*[(lambda x, y=y: x ** y, 0.0, (), d) for y, d in POW_AT_0.items()],
            *[(lambda x, y: x ** y, 0.0, (float(y),), d) for y, d in POW_AT_0.items()],
            *[(lambda y, x: x ** y, float(y), (0.0,), (0.0, 0.0, 0.0)) for y in POW_AT_0]],
    "maximum": [(lambda x: apply(ops.MAXIMUM, x, 0.0), 0.0, (), (0.5, 0.0, 0.0)),
                (lambda x: apply(ops.MAXIMUM, 0.0, x), 0.0, (), (0.5, 0.0, 0.0)),
                (lambda x: apply(ops.MAXIMUM, x, x), 1.0, (), (1.0, 0.0, 0.0))],
    "minimum": [(lambda x: apply(ops.MINIMUM, x, 0.0), 0.0, (), (0.5, 0.0, 0.0)),
                (lambda x: apply(ops.MINIMUM, x, x), 1.0, (), (1.0, 0.0, 0.0))],
    "max": [(lambda x: ag.stack([x, 0.0, x - 1.0]).max(), 0.0, (), (0.5, 0.0, 0.0))],
    "min": [(lambda x: ag.stack([x, 0.0, x + 1.0]).min(), 0.0, (), (0.5, 0.0, 0.0))],
    "where": [(lambda x: apply(ops.WHERE, x >= 0, x * x, x), 0.0, (), (0.0, 2.0, 0.0)),
              (lambda x: apply(ops.WHERE, x > 0, x * x, x), 0.0, (), (1.0, 0.0, 0.0))],
}


def _scalar_arity(op):
    """How many inputs ``op`` takes if it has a scalar form (its forward runs on floats)."""
    params = list(inspect.signature(op.forward).parameters.values())[1:]
    if any(p.kind is not p.POSITIONAL_OR_KEYWORD for p in params):
        return None
    try:
        out = op.forward(backend.scalar, *[0.5] * len(params))
    except (AttributeError, TypeError):  # no such scalar function, or not an input
        return None
    return len(params) if type(out) is float else None


SCALAR_FORMS = {name: n for name, op in registry.items() if (n := _scalar_arity(op))}


def _derivatives(f, x, kind, args):
    """f's first three derivatives in its first argument at x, by nested grad, with x a Value
    or a 0-d Tensor and ``args`` made nodes of that kind."""
    d1 = ag.grad(f)
    d2 = ag.grad(lambda x, *a: d1(x, *a))
    d3 = ag.grad(lambda x, *a: d2(x, *a))
    return _at(x, kind, args, (d1, d2, d3))


def _at(x, kind, args, chains):
    """Each derivative in ``chains`` at x, with ``args`` made nodes of ``kind``, as floats."""
    nodes = [Value(a) if kind is Value else Tensor(a, requires_grad=True) for a in args]
    x = float(x) if kind is Value else np.array(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # silently IEEE
        return tuple(float(np.asarray(d(x, *nodes))) for d in chains)


def test_every_documented_kink_is_tested_at_higher_order():
    documented = {name for name, op in registry.items() if op.kinks}
    assert documented == set(KINKS), "document each kink in its op's doc and test it in KINKS"


@pytest.mark.parametrize("name, kind", [(name, kind) for name in sorted(KINKS)
                                        for kind in (Value, Tensor)
                                        if kind is Tensor or name in SCALAR_FORMS])
def test_derivatives_at_documented_kinks_are_the_documented_ones(name, kind):
    for i, (f, x, args, expected) in enumerate(KINKS[name]):
        assert _derivatives(f, x, kind, args) == expected, f"{name}, case {i}"


# ----- one rule, one answer: Value against a 0-d float64 Tensor -----------------------------------
NUMPY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
         "neg": np.negative, "pow": np.power, "exp": np.exp, "log": np.log, "sqrt": np.sqrt,
         "tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
         "relu": lambda x: np.maximum(x, 0.0), "abs": np.abs, "sin": np.sin, "cos": np.cos,
         "maximum": np.maximum, "minimum": np.minimum, "where": np.where,
         "softplus": lambda x: np.logaddexp(0.0, x), "erf": np.vectorize(math.erf),
         "log1p": np.log1p, "expm1": np.expm1, "square": np.square}
EDGES = [math.inf, -math.inf, math.nan, 0.0, -0.0]
ORDINARY = [1.0, -1.0, 0.5, 2.0, -2.5]


def _agree(a, b, exact):
    """Equal as IEEE values: nan equals nan, zeros carry their sign; within a few ulp where
    two libms may round differently (not exact)."""
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b) or a == 0 or b == 0 or math.isinf(a) or exact:
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b))
    return a == pytest.approx(b, rel=1e-14)


def test_every_scalar_form_has_a_numpy_reference():
    assert set(SCALAR_OPS) < set(SCALAR_FORMS)  # the scalar forms are found...
    assert set(NUMPY) <= set(SCALAR_FORMS)  # (an op without one is compared with its forward)


@pytest.mark.parametrize("name", sorted(SCALAR_FORMS))
def test_value_equals_a_0d_tensor_at_ieee_edges(name):
    """Values (numpy's, for both) and gradients (nan equal to nan) at inf, -inf, nan, 0, -0
    and ordinary values, for every input a node or a constant."""
    op, n = registry[name], SCALAR_FORMS[name]
    for xs in itertools.product(EDGES + ORDINARY if n < 3 else EDGES, repeat=n):
        exact = all(x in EDGES or math.isnan(x) for x in xs)
        with np.errstate(all="ignore"):
            reference = NUMPY.get(name, lambda *a: registry[name].forward(numpy_ns, *a))
            expected = reference(*[np.array(x) for x in xs])
        for nodes in itertools.product([True, False], repeat=n):
            if not any(nodes):
                continue
            vs = [Value(x) if nd else x for x, nd in zip(xs, nodes)]
            ts = [Tensor(x, requires_grad=True) if nd else x for x, nd in zip(xs, nodes)]
            case = f"{name}{xs}, nodes {nodes}"
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                v, t = apply(op, *vs), apply(op, *ts)
                assert _agree(v.data, expected, exact) and _agree(t.data, expected, exact), case
                v.backward()
                t.backward()
            for a, b in zip(vs, ts):
                if isinstance(a, Value):
                    gb = 0.0 if b.grad is None else b.grad  # (a condition has no gradient)
                    assert _agree(a.grad, gb, exact), f"{case}: gradients {a.grad} and {gb}"


# ----- forward mode: every JVP against its VJP, and at the kinks (issue 17) ---------------------
def _transposed(f, xs, u, vs, data):
    """<u, J v> and <J^T u, v> of f at xs, J v by forward mode and J^T u by reverse mode,
    and the sum of the magnitudes of their terms (what rounding is relative to). Some inputs
    (drawn) are constants, so that rules meet inputs without a tangent too."""
    varied = data.draw(st.lists(st.booleans(), min_size=len(xs), max_size=len(xs)).filter(any))
    const = list(xs)

    def of_varied(*args):
        it = iter(args)
        return f(*[next(it) if v else c for v, c in zip(varied, const)])

    xs = [x for x, v in zip(xs, varied) if v]
    vs = [t for t, v in zip(vs, varied) if v]
    _, jv = ag.jvp(of_varied, tuple(xs), tuple(vs))
    _, pullback = ag.vjp(of_varied, *xs)
    grads = pullback(u)
    terms = [np.asarray(u * jv)] + [np.asarray(g * v) for g, v in zip(grads, vs)]
    return float(np.sum(terms[0])), float(sum(np.sum(t) for t in terms[1:])), \
        float(sum(np.sum(np.abs(t)) for t in terms))


@pytest.mark.parametrize("name", sorted(DOMAINS))
@given(data=st.data())
def test_every_jvp_is_the_transpose_of_its_vjp(name, data):
    """<u, J v> == <J^T u, v> to rounding at random points, directions and parameters (axes,
    shapes, repeated indices): no finite-difference noise, so a wrong rule cannot hide in a
    tolerance."""
    f, xs = data.draw(DOMAINS[name])
    out = f(*[Tensor(x, requires_grad=True) for x in xs])
    assert out.op == name  # the one op under test
    u = data.draw(arrays(out.shape))
    vs = [data.draw(arrays(np.shape(x))) for x in xs]
    lhs, rhs, scale = _transposed(f, xs, u, vs, data)
    assert abs(lhs - rhs) <= 1e-12 * scale + 1e-300, (lhs, rhs)  # (subnormals: no digits)


@pytest.mark.parametrize("name", SCALAR_OPS)
@given(data=st.data())
def test_every_scalar_jvp_is_the_transpose_of_its_vjp(name, data):
    f, xs = data.draw(DOMAINS[name])
    xs = [float(np.asarray(x).reshape(-1)[0]) for x in xs]
    assert isinstance(f(*[Value(x) for x in xs]), Value)
    u = data.draw(st.floats(-3, 3))
    vs = [data.draw(st.floats(-3, 3)) for _ in xs]
    lhs, rhs, scale = _transposed(f, xs, u, vs, data)
    assert abs(lhs - rhs) <= 1e-12 * scale + 1e-300, (lhs, rhs)  # (subnormals: no digits)


def _forward_derivatives(f, x, kind, args):
    """f's first three derivatives at x as ``_derivatives``, by forward mode: jacfwd,
    jacfwd over grad (forward-over-reverse), jacfwd over jacfwd over jacfwd."""
    d1 = ag.jacfwd(f)
    return _at(x, kind, args, (d1, ag.jacfwd(ag.grad(f)), ag.jacfwd(ag.jacfwd(d1))))


@pytest.mark.parametrize("name, kind", [(name, kind) for name in sorted(KINKS)
                                        for kind in (Value, Tensor)
                                        if kind is Tensor or name in SCALAR_FORMS])
def test_forward_mode_at_documented_kinks_agrees_with_reverse_mode(name, kind):
    """The JVP makes the VJP's choice at every kink: the same f', f'' and f''' (inf included)."""
    for i, (f, x, args, expected) in enumerate(KINKS[name]):
        assert _forward_derivatives(f, x, kind, args) == expected, f"{name}, case {i}"


# ----- residuals: what a forward keeps for its VJP ---------------------------------------------
SAVING = sorted(name for name, op in registry.items() if op.saves is not None)


def test_cross_entropy_keeps_its_softmax_parts():
    assert "cross_entropy" in SAVING  # (so that the test below is not empty)


@pytest.mark.parametrize("name", SAVING)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_a_kept_residual_gives_the_recomputed_gradient_bit_for_bit(name, data):
    """``saves`` returns the forward's output, to the bit, and a residual with which the VJP
    (first order) gives the same gradients, to the bit, as without it (higher order, other
    libraries and ``autograd.trace``, where the VJP computes them again)."""
    f, xs = data.draw(DOMAINS[name])
    out = f(*[Tensor(x, requires_grad=True) for x in xs])
    op, params = registry[name], out._params or {}
    vals = [a.data if isinstance(a, Tensor) else a for a in out._args]
    kept, res = op.saves(numpy_ns, *vals, **params)
    np.testing.assert_array_equal(kept, op.forward(numpy_ns, *vals, **params))
    np.testing.assert_array_equal(kept, out.data)
    g = data.draw(arrays(out.shape))
    need = tuple(isinstance(a, Tensor) for a in out._args)
    with backend.quiet():
        once = op.vjp(numpy_ns, g, out.data, need, *vals, **params, res=res)
        again = op.vjp(numpy_ns, g, out.data, need, *vals, **params)
    for a, b in zip(once, again):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)
            assert a.dtype == b.dtype
