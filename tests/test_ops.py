"""Every primitive of the op table against central finite differences, in float64."""

import numpy as np
import pytest
from hypothesis import assume, given
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

