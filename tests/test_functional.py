"""The functional API (grad, value_and_grad, jacobian, hessian, hvp) and higher order."""

import math

import numpy as np
import numpy.polynomial.polynomial as P
import pytest
from expressions import TO_0D
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import autograd
from autograd import Tensor, Value, grad, gradcheck, hessian, hvp, jacobian, no_grad, value_and_grad
from autograd.testing import arrays


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


# name -> (f on nodes, f'' as a formula on floats, points where it is twice differentiable)
UNARY = {
    "exp": (lambda x: x.exp(), math.exp, (-0.8, 0.7, 1.9)),
    "log": (lambda x: x.log(), lambda x: -1.0 / x**2, (0.3, 0.7, 1.9)),
    "sqrt": (lambda x: x.sqrt(), lambda x: -0.25 * x**-1.5, (0.3, 0.7, 1.9)),
    "tanh": (lambda x: x.tanh(), lambda x: -2.0 * math.tanh(x) * (1.0 - math.tanh(x) ** 2),
             (-0.8, 0.7, 1.9)),
    "sigmoid": (lambda x: x.sigmoid(),
                lambda x: sigmoid(x) * (1.0 - sigmoid(x)) * (1.0 - 2.0 * sigmoid(x)),
                (-0.8, 0.7, 1.9)),
    "relu": (lambda x: x.relu(), lambda x: 0.0, (-0.8, 0.7, 1.9)),
    "abs": (lambda x: abs(x), lambda x: 0.0, (-0.8, 0.7, 1.9)),
    "sin": (lambda x: x.sin(), lambda x: -math.sin(x), (-0.8, 0.7, 1.9)),
    "cos": (lambda x: x.cos(), lambda x: -math.cos(x), (-0.8, 0.7, 1.9)),
    "neg": (lambda x: -x, lambda x: 0.0, (-0.8, 0.7, 1.9)),
}


# ----- second derivatives of every unary primitive -----------------------------------------------
@pytest.mark.parametrize("name", sorted(UNARY))
def test_second_derivative_of_unary_primitive_via_grad_of_grad(name):
    f, d2, points = UNARY[name]
    for p in points:
        got = grad(grad(f))(p)
        assert type(got) is float
        assert got == pytest.approx(d2(p), rel=1e-12, abs=1e-15)


def _second_via_backward(f, x):
    """f'' at the leaf ``x`` through backward(create_graph=True), then a plain backward."""
    y = f(x).sum() if isinstance(x, Tensor) else f(x)
    y.backward(create_graph=True)
    g = x.grad
    x.grad = None if isinstance(x, Tensor) else 0.0
    if isinstance(g, (Value, Tensor)) and g.requires_grad:
        (g.sum() if isinstance(g, Tensor) else g).backward()
    if isinstance(x, Tensor):
        return np.zeros(x.shape) if x.grad is None else np.asarray(x.grad, dtype=float)
    return float(x.grad)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_second_derivative_of_unary_primitive_via_create_graph(name):
    f, d2, points = UNARY[name]
    x = Tensor(points, requires_grad=True)
    np.testing.assert_allclose(_second_via_backward(f, x), [d2(p) for p in points],
                               rtol=1e-12, atol=1e-15)
    for p in points:
        assert _second_via_backward(f, Value(p)) == pytest.approx(d2(p), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_create_graph_leaves_a_node_in_grad_for_every_unary_primitive(name):
    # DESIGN.md: "backward(create_graph=True) leaves .grad as a node", also when the
    # derivative is a constant (relu, abs, neg)
    f, _, points = UNARY[name]
    x = Tensor(points, requires_grad=True)
    f(x).sum().backward(create_graph=True)
    assert isinstance(x.grad, Tensor), type(x.grad)
    v = Value(points[1])
    f(v).backward(create_graph=True)
    assert isinstance(v.grad, Value), type(v.grad)


# ----- nesting -----------------------------------------------------------------------------------
def test_third_and_fourth_derivatives_of_a_scalar_function():
    f = lambda x: x**4
    assert grad(f)(2.0) == pytest.approx(32.0)
    assert grad(grad(f))(2.0) == pytest.approx(48.0)
    assert grad(grad(grad(f)))(2.0) == pytest.approx(48.0)
    assert grad(grad(grad(grad(f))))(2.0) == pytest.approx(24.0)
    assert grad(grad(grad(lambda x: x.sin())))(2.0) == pytest.approx(-math.cos(2.0))
    assert grad(grad(grad(lambda x: x.exp() * x)))(0.5) == pytest.approx(3.5 * math.exp(0.5))
    assert grad(grad(grad(f)))(2) == pytest.approx(48.0)  # an int argument too


def test_nested_grad_through_a_reduction_is_the_hessian_vector_product():
    f = lambda x: (x.sin() * x * x).sum() + (x[0] * x[1] * x[2])
    x = np.array([0.3, -1.2, 2.0])
    v = np.array([1.0, 0.5, -2.0])
    nested = grad(lambda t: (grad(f)(t) * v).sum())(x)
    np.testing.assert_allclose(nested, hessian(f)(x) @ v, rtol=1e-12)


def test_grad_is_differentiable_as_gradcheck_sees_it():
    f = lambda x: (x.tanh() * x.exp()).sum()
    assert gradcheck(grad(f), np.array([0.3, -1.2, 2.0]))
    assert gradcheck(grad(lambda x: x.sin() * x * x), 0.7, order=2)


def test_grad_works_inside_no_grad():
    with no_grad():
        assert grad(lambda x: x * x * x)(2.0) == pytest.approx(12.0)
        np.testing.assert_allclose(grad(lambda x: (x * x).sum())([1.0, 2.0]), [2.0, 4.0])
        np.testing.assert_allclose(hessian(lambda x: (x * x * x).sum())([1.0, 2.0]),
                                   np.diag([6.0, 12.0]))


# ----- value_and_grad: kinds, argnums, errors ----------------------------------------------------
def test_value_and_grad_returns_floats_for_floats():
    value, g = value_and_grad(lambda x: x * x + 1.0)(3.0)
    assert type(value) is float and type(g) is float
    assert (value, g) == (10.0, 6.0)
    value, g = value_and_grad(lambda x: x * x)(np.float64(2.0))
    assert type(value) is float and type(g) is float and g == 4.0


@pytest.mark.parametrize("arg", [np.array([1.0, 2.0]), [1.0, 2.0], np.array([1, 2]),
                                 np.array([1.0, 2.0], dtype=np.float32)])
def test_value_and_grad_returns_a_float_and_an_ndarray_for_arrays(arg):
    value, g = value_and_grad(lambda x: (x * x).sum())(arg)
    assert type(value) is float and value == 5.0
    assert type(g) is np.ndarray and g.dtype == np.float64
    np.testing.assert_array_equal(g, [2.0, 4.0])


def test_value_and_grad_returns_nodes_for_nodes():
    value, g = value_and_grad(lambda x: x * x)(Value(3.0))
    assert isinstance(value, Value) and isinstance(g, Value)
    assert (value.data, g.data) == (9.0, 6.0)
    for t in (Tensor([1.0, 2.0], requires_grad=True), Tensor([1.0, 2.0])):
        value, g = value_and_grad(lambda x: (x * x).sum())(t)
        assert isinstance(value, Tensor) and isinstance(g, Tensor)
        assert value.item() == 5.0
        np.testing.assert_array_equal(g.data, [2.0, 4.0])


def test_a_constant_gradient_is_still_a_node_for_a_node():
    _, g = value_and_grad(lambda x: (x * 2.0).sum())(Tensor([1.0, 2.0]))
    assert isinstance(g, Tensor)
    np.testing.assert_array_equal(g.data, [2.0, 2.0])
    value, g = value_and_grad(lambda x: Value(3.0))(Value(1.0))
    assert isinstance(value, Value) and isinstance(g, Value) and g.data == 0.0


def test_a_function_independent_of_its_argument_has_zero_gradient():
    assert grad(lambda x: Value(3.0))(1.0) == 0.0
    np.testing.assert_array_equal(grad(lambda x: Tensor(2.0))(np.ones(3)), np.zeros(3))
    assert grad(lambda x, y: x * x, argnums=1)(Value(1.0), 2.0) == 0.0  # an unused argument
    assert grad(lambda x, y: (x * 2.0).sum(), argnums=(0, 1))([1.0], 2.0)[1] == 0.0


def test_argnums():
    f = lambda x, y, z: x * y * y + z
    assert grad(f, argnums=1)(2.0, 3.0, 4.0) == 12.0
    assert grad(f, argnums=-1)(2.0, 3.0, 4.0) == 1.0
    gs = grad(f, argnums=(0, 2))(2.0, 3.0, 4.0)
    assert type(gs) is tuple and gs == (9.0, 1.0)
    assert grad(f, argnums=(1,))(2.0, 3.0, 4.0) == (12.0,)
    value, (gx, gy) = value_and_grad(lambda x, y: (x @ y).sum(), argnums=(0, 1))(
        np.ones((2, 3)), np.arange(3.0))
    assert value == 6.0
    np.testing.assert_array_equal(gx, np.tile(np.arange(3.0), (2, 1)))
    np.testing.assert_array_equal(gy, [2.0, 2.0, 2.0])
    with pytest.raises(ValueError, match="argnums"):
        grad(f, argnums=3)(2.0, 3.0, 4.0)


def test_a_vector_output_is_a_value_error_pointing_to_jacobian():
    with pytest.raises(ValueError, match="jacobian"):
        grad(lambda x: x * 2.0)(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="jacobian"):
        value_and_grad(lambda x: x.exp())([[1.0, 2.0]])


def test_a_one_element_tensor_output_is_accepted():
    np.testing.assert_array_equal(grad(lambda x: (x * x).sum(keepdims=True))([[1.0, 2.0]]),
                                  [[2.0, 4.0]])


def test_an_unsupported_argument_is_a_type_error():
    with pytest.raises(TypeError, match="str"):
        grad(lambda x: x)("1.0")


# ----- grad never touches .grad ------------------------------------------------------------------
def test_grad_never_touches_the_callers_grad_fields():
    w = Tensor([1.0, -2.0, 0.5], requires_grad=True)
    w.grad = np.array([7.0, 7.0, 7.0])
    w_grad = w.grad
    x = Tensor([0.5, 1.5, -1.0], requires_grad=True)
    x.grad = np.array([9.0, 9.0, 9.0])
    f = lambda t: ((t * w).tanh() * w).sum()
    g = grad(f)(x)
    value_and_grad(f)(np.array([0.5, 1.5, -1.0]))
    jacobian(lambda t: (t * w).tanh())(x)
    hessian(f)(np.array([0.5, 1.5, -1.0]))
    hvp(f, np.array([0.5, 1.5, -1.0]), np.ones(3))
    assert w.grad is w_grad
    np.testing.assert_array_equal(w.grad, [7.0, 7.0, 7.0])
    np.testing.assert_array_equal(x.grad, [9.0, 9.0, 9.0])
    assert g.grad is None  # the result is a fresh node; nothing was written into it either

    v = Value(2.0)
    v.grad = 5.0
    y = Value(-1.0)
    y.grad = 3.0
    assert grad(lambda s: s * v * v)(y).data == 4.0
    assert grad(grad(lambda s: s * s * v))(1.0) == 4.0
    assert (v.grad, y.grad) == (5.0, 3.0)


# ----- jacobian, hessian, hvp --------------------------------------------------------------------
def test_jacobian_of_an_elementwise_function_is_diagonal():
    x = np.array([-1.0, 0.2, 0.7, 2.0])
    jac = jacobian(lambda t: t.tanh() * 2.0)(x)
    assert type(jac) is np.ndarray and jac.shape == (4, 4)
    np.testing.assert_allclose(jac, np.diag(2.0 * (1.0 - np.tanh(x) ** 2)), rtol=1e-14)
    assert np.count_nonzero(jac - np.diag(np.diag(jac))) == 0


def test_jacobian_shape_is_out_shape_plus_in_shape_and_matches_finite_differences():
    w = np.arange(6.0).reshape(3, 2) / 4.0
    f = lambda t: (t @ w).sin()  # (2, 3) -> (2, 2)
    x = np.array([[0.1, -0.3, 0.5], [1.0, 0.2, -0.7]])
    jac = jacobian(f)(x)
    assert jac.shape == (2, 2, 2, 3)
    eps = 1e-6
    for idx in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[idx] = eps
        fd = (f(Tensor(x + d)).data - f(Tensor(x - d)).data) / (2 * eps)
        np.testing.assert_allclose(jac[(...,) + idx], fd, rtol=1e-6, atol=1e-9)
    assert jacobian(lambda v: v**3)(2.0) == pytest.approx(12.0)


def test_hessian_of_a_quadratic_form_is_a_plus_a_transpose():
    a = np.array([[1.0, 2.0, 0.0], [-3.0, 4.0, 1.5], [0.5, 0.0, -1.0]])
    x = np.array([0.3, -1.2, 2.0])
    h = hessian(lambda t: t @ (Tensor(a) @ t))(x)
    assert type(h) is np.ndarray and h.shape == (3, 3)
    np.testing.assert_allclose(h, a + a.T, rtol=1e-14, atol=1e-14)


def test_hessian_of_a_linear_function_is_zero_and_of_a_float_is_a_number():
    np.testing.assert_array_equal(hessian(lambda t: (t * 2.0).sum())(np.ones(3)),
                                  np.zeros((3, 3)))
    assert hessian(lambda v: v**3)(2.0) == pytest.approx(12.0)


def test_hvp_equals_hessian_times_vector():
    f = lambda t: (t.exp() * t.sin()).sum() + (t[0] * t[1]) ** 2
    x = np.array([0.3, -1.2, 2.0])
    for v in (np.array([1.0, 0.5, -2.0]), np.eye(3)[1]):
        got = hvp(f, x, v)
        assert type(got) is np.ndarray
        np.testing.assert_allclose(got, hessian(f)(x) @ v, rtol=1e-12)
    np.testing.assert_array_equal(hvp(lambda t: (t * 2.0).sum(), x, np.ones(3)), np.zeros(3))
    assert hvp(lambda s: s**3, 2.0, 0.5) == pytest.approx(6.0)


def test_newton_converges_in_a_few_steps_on_a_convex_problem():
    a = np.array([[1.0, 0.5], [-0.5, 1.0], [0.2, -1.0]])
    b = np.array([1.0, -2.0])

    def f(x):  # strictly convex: sum exp(a x) + |x|^2 / 2 - b x
        return (Tensor(a) @ x).exp().sum() + 0.5 * (x * x).sum() - (x * b).sum()

    x = np.zeros(2)
    steps = 0
    while np.linalg.norm(grad(f)(x)) > 1e-12 and steps < 20:
        x = x - np.linalg.solve(hessian(f)(x), grad(f)(x))
        steps += 1
    assert steps <= 6
    assert np.linalg.norm(grad(f)(x)) <= 1e-12
    np.testing.assert_allclose(a.T @ np.exp(a @ x) + x, b, atol=1e-12)  # the optimality condition


def test_inner_grad_of_a_float_keeps_its_dependence_on_the_outer_variable():
    # d/dx [d/dy (x * y)] = 1, although the inner argument is a plain float
    assert grad(lambda x: grad(lambda y: x * y)(2.0))(3.0) == 1.0
    # d/dx [x * d/dy (x * y^2) at y = 2] = d/dx [4 x^2] = 8 x
    assert grad(lambda x: grad(lambda y: x * y * y)(2.0) * x)(3.0) == 24.0


# ----- every transform nests (issue 13, item 8) --------------------------------------------------
def test_jacobian_of_jacobian_is_the_second_derivative():
    x = np.array([1.0, 2.0])
    jj = jacobian(jacobian(lambda t: t**3))(x)
    assert type(jj) is np.ndarray and jj.shape == (2, 2, 2)
    want = np.zeros((2, 2, 2))
    want[0, 0, 0], want[1, 1, 1] = 6.0, 12.0
    np.testing.assert_array_equal(jj, want)
    assert jacobian(jacobian(lambda v: v**3))(2.0) == 12.0
    assert jacobian(jacobian(jacobian(lambda v: v**3)))(2.0) == 6.0


def test_grad_of_a_function_that_uses_jacobian_or_hessian():
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(grad(lambda t: jacobian(lambda y: y**3)(t).sum())(x), 6.0 * x)
    # sum of the Hessian of sum(x^4) is 12 |x|^2: its gradient 24 x, its Hessian 24 I
    f = lambda t: (t**4).sum()
    np.testing.assert_allclose(grad(lambda t: hessian(f)(t).sum())(x), 24.0 * x, rtol=1e-14)
    np.testing.assert_allclose(hessian(lambda t: hessian(f)(t).sum())(x), 24.0 * np.eye(2),
                               rtol=1e-14)
    np.testing.assert_allclose(jacobian(grad(f))(x), hessian(f)(x), rtol=1e-14)


def test_hvp_inside_grad_in_x_and_in_v():
    f = lambda t: (t**4).sum() / 12.0  # H = diag(x^2)
    x, v = np.array([1.0, -2.0, 0.5]), np.array([0.3, 1.0, -2.0])
    np.testing.assert_allclose(grad(lambda t: hvp(f, t, v).sum())(x), 2.0 * x * v, rtol=1e-14)
    np.testing.assert_allclose(grad(lambda u: hvp(f, x, u).sum())(v), x**2, rtol=1e-14)
    assert grad(lambda s: hvp(lambda y: y**4, s, 2.0))(3.0) == pytest.approx(24.0 * 3.0 * 2.0)


def test_transforms_inside_another_transform_keep_the_dependence_on_the_outer_variable():
    # the inner arguments are plain; only the closure depends on the outer variable
    assert grad(lambda a: jacobian(lambda y: a * y * y)(3.0))(2.0) == 6.0
    a0 = np.array([1.0, 2.0])
    np.testing.assert_array_equal(
        grad(lambda a: jacobian(lambda y: a * y)(np.ones(2)).sum())(a0), [1.0, 1.0])
    np.testing.assert_array_equal(  # hessian of sum(a y^3) at y = 1: diag(6 a)
        grad(lambda a: hessian(lambda y: (a * y**3).sum())(np.ones(2)).sum())(a0), [6.0, 6.0])
    np.testing.assert_array_equal(  # H v = 6 a y v at y = 1
        grad(lambda a: hvp(lambda y: (a * y**3).sum(), np.ones(2), a0).sum())(a0), 6.0 * a0)


def test_jacobian_and_hessian_give_nodes_for_nodes_and_arrays_for_arrays():
    f = lambda t: t**3
    assert type(jacobian(f)(np.array([1.0, 2.0]))) is np.ndarray
    assert type(jacobian(f)(2.0)) is np.ndarray
    j = jacobian(f)(Tensor([1.0, 2.0]))
    assert isinstance(j, Tensor) and j.shape == (2, 2)
    j = jacobian(f)(Value(2.0))
    assert isinstance(j, Value) and j.data == 12.0
    h = hessian(lambda t: (t * 2.0).sum())(Tensor([1.0, 2.0], dtype=np.float32))
    assert isinstance(h, Tensor) and h.dtype == np.float32  # a constant: still a node
    np.testing.assert_array_equal(h.data, np.zeros((2, 2)))
    j = jacobian(lambda v: Tensor([1.0, 2.0]))(Value(1.0))  # out (2,) of in (): a Tensor
    assert isinstance(j, Tensor) and j.shape == (2,)
    j = jacobian(lambda t: t.sum())(Tensor(np.ones((2, 0))))
    assert isinstance(j, Tensor) and j.shape == (2, 0)


def test_jacobian_and_hessian_with_argnums_tuples_and_tuple_outputs():
    f = lambda x, y: (x * x * y).sum()
    x, y = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    (hxx, hxy), (hyx, hyy) = hessian(f, argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(hxx, np.diag(2.0 * y))
    np.testing.assert_array_equal(hxy, np.diag(2.0 * x))
    np.testing.assert_array_equal(hyx, np.diag(2.0 * x))
    np.testing.assert_array_equal(hyy, np.zeros((2, 2)))
    jx, jy = jacobian(lambda x, y: x * y, argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(jx, np.diag(y))
    np.testing.assert_array_equal(jy, np.diag(x))
    (ja,), (jb,) = jacobian(lambda t: (t.sum(), t * t), argnums=(0,))(x)
    np.testing.assert_array_equal(ja, [1.0, 1.0])
    np.testing.assert_array_equal(jb, np.diag(2.0 * x))
    # third order, with argnums tuples at every level: d/dx of sum(hessian blocks)
    g = grad(lambda x, y: sum(b.sum() for r in hessian(f, argnums=(0, 1))(x, y) for b in r))
    np.testing.assert_array_equal(g(x, y), [4.0, 4.0])  # 2 (y.sum()) + 4 (x.sum()) + 0


def horner(c):
    """c[0] + c[1] x + c[2] x^2 + ..., by products only (what is tested is nesting, not pow)."""
    def p(x):
        out = x * 0.0 + float(c[-1])
        for ck in reversed(c[:-1]):
            out = out * x + float(ck)
        return out
    return p


def power(x, p):
    out = x * 0.0 + 1.0
    for _ in range(p):
        out = out * x
    return out


# closed forms: name -> (family of f on nodes, given parameters; n-th derivative on floats)
FAMILIES = {
    "polynomial": (horner, lambda c, n, x: P.polyval(x, P.polyder(c, n))),
    "exp": (lambda a: lambda x: (x * a[0]).exp(), lambda a, n, x: a[0] ** n * np.exp(a[0] * x)),
    "sin": (lambda a: lambda x: (x * a[0] + a[1]).sin(),
            lambda a, n, x: a[0] ** n * np.sin(a[0] * x + a[1] + n * np.pi / 2)),
}
# a derivative of one-variable functions: name -> (order, transform)
SCALAR_DERIVATIVES = {
    "grad": (1, grad),
    "value_and_grad": (1, lambda f: lambda x: value_and_grad(f)(x)[1]),
    "jacobian": (1, jacobian),
    "hessian": (2, hessian),
    "hvp": (2, lambda f: lambda x: hvp(f, x, 1.0)),
}


def diagonal(m):
    return (m * np.eye(m.shape[0])).sum(1)  # an ndarray's, or a Tensor's (differentiably)


# the same, elementwise, on vectors (f is elementwise: its Jacobian and Hessian are diagonal)
VECTOR_DERIVATIVES = {
    "grad": (1, lambda f: lambda x: grad(lambda t: f(t).sum())(x)),
    "value_and_grad": (1, lambda f: lambda x: value_and_grad(lambda t: f(t).sum())(x)[1]),
    "jacobian": (1, lambda f: lambda x: diagonal(jacobian(f)(x))),
    "hessian": (2, lambda f: lambda x: diagonal(hessian(lambda t: f(t).sum())(x))),
    "hvp": (2, lambda f: lambda x: hvp(lambda t: f(t).sum(), x, np.ones(x.shape))),
}

coefficients = st.lists(st.floats(-3, 3), min_size=1, max_size=6)
family_params = st.one_of(
    st.tuples(st.just("polynomial"), coefficients),
    st.tuples(st.just("exp"), st.tuples(st.floats(-1.5, 1.5))),
    st.tuples(st.just("sin"), st.tuples(st.floats(-2, 2), st.floats(-3, 3))))
derivative_chains = st.lists(st.sampled_from(sorted(SCALAR_DERIVATIVES)), min_size=1,
                             max_size=4)


def nest(table, chain, f):
    order = 0
    for name in chain:
        n, transform = table[name]
        f, order = transform(f), order + n
    return f, order


@settings(max_examples=300)  # 5^4 chains of transforms, three families: cheap, so many
@given(family=family_params, chain=derivative_chains, x=st.floats(-2, 2))
def test_nested_transforms_of_a_scalar_function_match_closed_forms(family, chain, x):
    name, params = family
    make, derivative = FAMILIES[name]
    f, order = nest(SCALAR_DERIVATIVES, chain, make(params))
    assume(order <= 5)
    want = derivative(params, order, x)
    got = f(x)
    assert type(got) in (float, np.ndarray) and np.shape(got) == ()
    assert float(got) == pytest.approx(want, rel=1e-9, abs=1e-9)


@settings(max_examples=200)
@given(family=family_params, chain=derivative_chains,
       x=arrays(st.sampled_from([(1,), (2,), (3,)]), low=-2, high=2))
def test_nested_transforms_of_an_elementwise_function_match_closed_forms(family, chain, x):
    name, params = family
    make, derivative = FAMILIES[name]
    f, order = nest(VECTOR_DERIVATIVES, chain, make(params))
    assume(order <= 4)
    got = f(x)
    assert type(got) is np.ndarray
    np.testing.assert_allclose(got, derivative(params, order, x), rtol=1e-9, atol=1e-9)


def falling(p, k):
    return math.prod(range(p - k + 1, p + 1))  # p (p-1) ... (p-k+1); 0 when k > p


MIXED = {  # a partial derivative in the variables of a product x^p y^q z^r, by argnums
    "grad": lambda F, i: lambda *a: grad(F, argnums=i)(*a),
    "grad, argnums a tuple": lambda F, i: lambda *a: grad(F, argnums=(0, 1, 2))(*a)[i],
    "value_and_grad": lambda F, i: lambda *a: value_and_grad(F, argnums=(i,))(*a)[1][0],
    "jacobian, argnums reversed": lambda F, i: lambda *a: jacobian(F, argnums=(2, 1, 0))(*a)[
        2 - i],
    "hessian block, then nothing": lambda F, i: lambda *a: hessian(F, argnums=(0, 1, 2))(*a)[
        i][i],
}


@settings(max_examples=200)
@given(powers=st.tuples(*[st.integers(0, 4)] * 3),
       steps=st.lists(st.tuples(st.sampled_from(sorted(MIXED)), st.integers(0, 2)), min_size=1,
                      max_size=3),
       point=st.tuples(*[st.floats(-2, 2)] * 3))
def test_mixed_partials_of_a_product_of_several_variables(powers, steps, point):
    F = lambda x, y, z: power(x, powers[0]) * power(y, powers[1]) * power(z, powers[2])
    counts = [0, 0, 0]
    for kind, i in steps:
        F = MIXED[kind](F, i)
        counts[i] += 2 if kind.startswith("hessian") else 1
    want = math.prod(falling(p, k) * v ** (p - k) if k <= p else 0.0
                     for p, k, v in zip(powers, counts, point))
    assert float(F(*point)) == pytest.approx(want, rel=1e-9, abs=1e-9)


def smooth(t):
    return (t.sin() * t[::-1] + (t * 0.5).exp()).tanh()  # R^n -> R^n, not elementwise


@pytest.mark.parametrize("transform", [
    lambda x: jacobian(smooth)(x),
    lambda x: hessian(lambda t: smooth(t).sum())(x),
    lambda x: hvp(lambda t: smooth(t).sum(), x, np.array([0.5, -2.0])),
    lambda x: jacobian(jacobian(smooth))(x),
    lambda x: jacobian(lambda t: grad(lambda u: (smooth(u) * t).sum())(t))(x),
])
@settings(max_examples=25)  # each example: dozens of nested backward passes
@given(x=arrays((2,), low=-1.5, high=1.5))
def test_nested_transforms_match_finite_differences(transform, x):
    assert gradcheck(transform, x)


# ----- f must stay on the tape (issue 13, item 10) -----------------------------------------------
@pytest.mark.parametrize("call", [
    lambda: grad(lambda x: float(x**2))(2.0),
    lambda: value_and_grad(lambda x: np.sum(x.data**2))(np.array([1.0, 2.0])),
    lambda: grad(lambda x: (x * x).data)(np.array([3.0])),
    lambda: jacobian(lambda x: (x * 2.0).data)(np.array([1.0, 2.0])),
    lambda: jacobian(lambda x: (x.sum().item(), x))(np.array([1.0, 2.0])),
    lambda: hvp(lambda x: float(x**3), 2.0, 1.0),
    lambda: grad(lambda x: grad(lambda y: float(y * x))(1.0))(2.0),
    lambda: grad(lambda x: 3.0)(1.0),
])
def test_a_result_that_left_the_tape_is_an_error_not_a_zero_gradient(call):
    with pytest.raises(RuntimeError, match=r"not connected to its arguments.*\.item\(\)"):
        call()


def test_what_f_returns_is_checked_and_named():
    with pytest.raises(RuntimeError, match="^grad: f returned a float"):
        grad(lambda x: float(x))(1.0)
    with pytest.raises(RuntimeError, match="^hessian: f returned a float64"):
        hessian(lambda x: np.sum(x.data))(np.ones(2))
    with pytest.raises(RuntimeError, match="^hvp: f returned a float"):
        hvp(lambda x: float(x), 1.0, 1.0)
    for bad in (None, "1.0", [1.0], True):
        with pytest.raises(TypeError, match="must return a Value or a Tensor"):
            grad(lambda x, bad=bad: bad)(1.0)
        # (jacobian takes a list as a pytree of outputs: a list of floats left the tape)
        with pytest.raises(RuntimeError if bad == [1.0] else TypeError,
                           match="must return a Value or a Tensor|f returned a float"):
            jacobian(lambda x, bad=bad: bad)(1.0)


def test_a_constant_or_linear_function_has_zero_derivatives():
    # the derivative of a linear function is a constant node: its own derivative is 0
    assert grad(grad(lambda x: 2 * x))(1.0) == 0.0
    assert grad(grad(grad(lambda x: x * x)))(3.0) == 0.0
    assert grad(lambda x: grad(lambda y: y * y)(x) * 0.0 + Value(1.0))(2.0) == 0.0
    np.testing.assert_array_equal(jacobian(lambda x: Tensor([1.0, 2.0]))(np.ones(3)),
                                  np.zeros((2, 3)))
    np.testing.assert_array_equal(jacobian(jacobian(lambda x: x * 3.0))(np.ones(2)),
                                  np.zeros((2, 2, 2)))
    np.testing.assert_array_equal(hessian(lambda x: Tensor(5.0))(np.ones(2)), np.zeros((2, 2)))
    assert hessian(lambda v: v * 3.0)(2.0) == 0.0
    np.testing.assert_array_equal(hvp(lambda x: (x * 2.0).sum(), np.ones(2), np.ones(2)),
                                  [0.0, 0.0])


def test_hvp_checks_the_shape_of_v():
    f = lambda t: (t**3).sum()
    with pytest.raises(ValueError, match=r"hvp: v has shape \(3, 1\), x has shape \(3,\)"):
        hvp(f, np.ones(3), np.ones((3, 1)))  # would broadcast to a silent wrong answer
    with pytest.raises(ValueError, match=r"hvp: v has shape \(2,\), x has shape \(\)"):
        hvp(lambda s: s**3, 2.0, [1.0, 2.0])
    assert hvp(lambda s: s**3, 2.0, np.array(0.5)) == pytest.approx(6.0)


# ----- errors and edge cases: f left the tape, in every transform --------------------------------
@pytest.mark.parametrize("transform", ["grad", "value_and_grad", "jacobian", "hessian"])
@pytest.mark.parametrize("leave", [lambda y: y.item(), float, lambda y: y.data])
def test_a_transform_of_a_function_that_left_the_tape_says_so_and_gives_no_zero(transform,
                                                                                leave):
    """.item(), float() or .data inside f: the gradient would be a silent zero (issue 13)."""
    f = lambda x: leave((x * x).sum())
    with pytest.raises(RuntimeError) as info:
        getattr(autograd, transform)(f)(np.array([1.0, 2.0]))
    msg = str(info.value)
    assert msg.startswith(f"{transform}: f returned a ")
    assert "not connected to its arguments" in msg and ".item() or float()" in msg


# ----- second order through reductions to 0-d (issue 13, item 13) -------------------------------
@pytest.mark.parametrize("f, d", TO_0D)
@pytest.mark.parametrize("x", [np.array([1.0, 2.0]), np.array([1.5]), np.array(2.0)])
def test_hessian_through_a_reduction_to_0d(f, d, x):
    want = np.diag(np.atleast_1d(d(x))).reshape(x.shape + x.shape)
    np.testing.assert_allclose(hessian(f)(x), want, rtol=1e-14)


# ----- pytrees: the transforms take and return nested containers (issue 17 item 4) ------------
import collections  # noqa: E402
import dataclasses  # noqa: E402

from autograd.tree import tree_flatten, tree_unflatten  # noqa: E402

Pair = collections.namedtuple("Pair", "w b")


@dataclasses.dataclass
class Params:
    w: object
    b: object


X3 = np.array([[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0]])


def _numeric_grad(f, tree, eps=1e-6):
    """Central differences of a one-element f, leaf by leaf, in the tree's structure (f gets
    Values for a tree of numbers, else Tensors, as the transforms give it)."""
    leaves, treedef = tree_flatten(tree)
    raws = [np.array(getattr(leaf, "data", leaf), dtype=float) for leaf in leaves]
    scalars = all(r.ndim == 0 and not isinstance(x, (Tensor, np.ndarray))
                  for r, x in zip(raws, leaves))
    node = (lambda r: Value(float(r))) if scalars else Tensor
    if eps == 0:  # the value itself
        with no_grad():
            return _data(f(tree_unflatten(treedef, [node(r) for r in raws])))
    grads = []
    for k, raw in enumerate(raws):
        g = np.zeros(raw.shape)
        for idx in np.ndindex(raw.shape):
            parts = []
            for step in (eps, -eps):
                moved = [r.copy() for r in raws]
                moved[k][idx] += step
                with no_grad():
                    out = f(tree_unflatten(treedef, [node(m) for m in moved]))
                parts.append(float(_data(out)))
            g[idx] = (parts[0] - parts[1]) / (2 * eps)
        grads.append(g)
    return tree_unflatten(treedef, grads)


def _data(x):
    return getattr(x, "data", x)


def _assert_trees_close(got, want, rtol=1e-6, atol=1e-8):
    got_leaves, got_def = tree_flatten(got)
    want_leaves, want_def = tree_flatten(want)
    assert got_def == want_def, (got_def, want_def)
    for g, w in zip(got_leaves, want_leaves):
        np.testing.assert_allclose(getattr(g, "data", g), getattr(w, "data", w), rtol=rtol,
                                   atol=atol)


def _dense_loss(p):
    """A small layer's loss of a params tree with a weight, a bias and a float scale."""
    h = (Tensor(X3) @ p["layer"][0] + p["layer"][1]).tanh()
    return (h * h).sum() * p["scale"]


TREE_ARGS = {
    "dict": ({"w": np.array([0.3, -0.2]), "b": 0.5},
             lambda p: ((Tensor(X3) @ p["w"] + p["b"]).sigmoid()).sum()),
    "nested dict of list": ({"layer": [np.array([[0.2, -0.4], [0.7, 0.1]]),
                                       np.array([0.1, -0.3])], "scale": 1.5}, _dense_loss),
    "list": ([np.array([0.3, -0.2]), np.array([[1.0, 2.0]])],
             lambda p: (p[0] * p[1]).sin().sum()),
    "tuple": ((1.5, np.array([0.3, -0.2, 0.8])), lambda p: (p[1] * p[0]).exp().sum()),
    "namedtuple": (Pair(np.array([0.3, -0.2]), 0.7),
                   lambda p: (Tensor(X3) @ p.w + p.b).tanh().sum()),
    "dataclass": (Params(np.array([0.3, -0.2]), np.array([0.1, 0.2, 0.3])),
                  lambda p: ((Tensor(X3) @ p.w) * p.b).cos().sum()),
    "floats only": ({"a": 1.5, "b": [-0.5, Pair(2.0, 0.25)]},
                    lambda p: p["a"] * p["b"][0].exp() + p["b"][1].w * p["b"][1].b ** 2),
    "Tensor leaves": ({"w": Tensor([0.3, -0.2]), "b": Tensor(0.5)},
                      lambda p: ((Tensor(X3) @ p["w"]) * p["b"]).tanh().sum()),
}


@pytest.mark.parametrize("name", sorted(TREE_ARGS))
def test_grad_of_a_pytree_comes_back_in_its_structure_and_matches_finite_differences(name):
    tree, f = TREE_ARGS[name]
    g = grad(f)(tree)
    assert tree_flatten(g)[1] == tree_flatten(tree)[1]
    _assert_trees_close(g, _numeric_grad(f, tree))
    value, g2 = value_and_grad(f)(tree)
    _assert_trees_close(g2, g, rtol=0, atol=0)
    assert float(_data(value)) == pytest.approx(float(_numeric_grad(f, tree, eps=0)), rel=1e-14)


def test_pytree_gradients_keep_each_leafs_kind():
    g = grad(TREE_ARGS["dict"][1])({"w": np.array([0.3, -0.2]), "b": 0.5})
    assert type(g["b"]) is float and isinstance(g["w"], np.ndarray)  # a float stays a float
    g = grad(TREE_ARGS["floats only"][1])(TREE_ARGS["floats only"][0])
    assert all(type(leaf) is float for leaf in tree_flatten(g)[0])
    g = grad(TREE_ARGS["Tensor leaves"][1])(TREE_ARGS["Tensor leaves"][0])
    assert isinstance(g["w"], Tensor) and isinstance(g["b"], Tensor)  # a node for a node
    assert type(g) is dict and list(g) == ["b", "w"]  # rebuilt with sorted keys, as JAX


def test_numbers_in_a_tree_of_arrays_combine_with_them():
    """A float beside arrays becomes a 0-d Tensor (a Value and a Tensor never mix)."""
    seen = []
    f = lambda p: seen.append(type(p["s"])) or (p["w"] * p["s"]).sum()
    assert grad(f)({"w": np.array([1.0, 2.0]), "s": 2.0})["s"] == 3.0
    assert seen == [Tensor]
    assert grad(lambda p: p["a"] * p["b"])({"a": 2.0, "b": 3.0}) == {"a": 3.0, "b": 2.0}


def test_grad_with_argnums_over_trees_and_plain_arguments():
    f = lambda p, x, q: ((x @ p["w"]) * q[0]).sum() + q[1] * 2.0
    p, x, q = {"w": np.array([1.0, -1.0])}, X3, [np.array(0.5), 3.0]
    gp, gq = grad(f, argnums=(0, 2))(p, x, q)
    np.testing.assert_allclose(gp["w"], X3.sum(axis=0) * 0.5)
    assert type(gq) is list and gq[1] == 2.0
    np.testing.assert_allclose(gq[0], (X3 @ p["w"]).sum())
    assert grad(f, argnums=-1)(p, x, q)[1] == 2.0
    with pytest.raises(ValueError, match="argnums 3 is out of range for 3 arguments"):
        grad(f, argnums=(0, 3))(p, x, q)


def test_a_list_of_numbers_is_still_an_array_and_a_list_of_arrays_a_tree():
    np.testing.assert_allclose(grad(lambda x: (x * x).sum())([1.0, 2.0]), [2.0, 4.0])
    g = grad(lambda x: (x[0] * x[1]).sum())([np.array([1.0, 2.0]), np.array([3.0, 4.0])])
    assert type(g) is list
    np.testing.assert_allclose(g[0], [3.0, 4.0])
    np.testing.assert_allclose(g[1], [1.0, 2.0])


def test_jacobian_of_pytrees_is_output_structure_outside_input_structure_inside():
    def f(p):
        return {"y": (p["w"] * p["s"]).tanh(), "pair": ((p["w"] ** 2).sum(), p["s"] * 3.0)}

    p = {"w": np.array([0.3, -0.2, 0.5]), "s": 0.7}
    J = jacobian(f)(p)
    assert list(J) == ["pair", "y"] and type(J["pair"]) is tuple
    assert set(J["y"]) == {"s", "w"}
    assert J["y"]["w"].shape == (3, 3) and J["y"]["s"].shape == (3,)
    assert J["pair"][0]["w"].shape == (3,) and J["pair"][1]["s"].shape == ()
    rows = [(lambda o: o["y"][1], {"w": J["y"]["w"][1], "s": J["y"]["s"][1]}),
            (lambda o: o["pair"][0], J["pair"][0]), (lambda o: o["pair"][1], J["pair"][1])]
    for out_leaf, got in rows:
        _assert_trees_close(got, _numeric_grad(lambda q, o=out_leaf: o(f(q)), p))
    Jw = jacobian(lambda w: f({"w": w, "s": 0.7})["y"])(p["w"])  # the flat jacobian agrees
    np.testing.assert_allclose(J["y"]["w"], Jw, rtol=1e-15)


def test_jacobian_of_a_tree_with_argnums_gives_a_tuple_per_output():
    f = lambda a, b: [a["x"] * b, a["x"].sum()]
    J = jacobian(f, argnums=(0, 1))({"x": np.array([1.0, 2.0])}, np.array([3.0, 4.0]))
    assert type(J) is list and type(J[0]) is tuple and list(J[0][0]) == ["x"]
    np.testing.assert_array_equal(J[0][0]["x"], np.diag([3.0, 4.0]))
    np.testing.assert_array_equal(J[0][1], np.diag([1.0, 2.0]))
    np.testing.assert_array_equal(J[1][0]["x"], [1.0, 1.0])
    np.testing.assert_array_equal(J[1][1], [0.0, 0.0])


def test_hessian_of_a_pytree_is_its_structure_twice_and_matches_finite_differences():
    tree, f = TREE_ARGS["nested dict of list"]
    H = hessian(f)(tree)
    treedef = tree_flatten(tree)[1]
    assert list(H) == ["layer", "scale"] and type(H["layer"]) is list
    for row in (H["layer"][0], H["layer"][1], H["scale"]):
        assert tree_flatten(row)[1] == treedef  # each row: the tree again
    assert H["layer"][0]["layer"][1].shape == (2, 2, 2)
    assert H["scale"]["layer"][0].shape == (2, 2) and H["scale"]["scale"].shape == ()
    # rows against finite differences of the gradient, element by element
    g = grad(f)
    for pick, row in [(lambda t: t["layer"][0][1, 0], lambda H: _layer_row(H, (1, 0), 0)),
                      (lambda t: t["layer"][1][1], lambda H: _layer_row(H, (1,), 1)),
                      (lambda t: t["scale"], lambda H: H["scale"])]:
        want = _numeric_grad(lambda q, pick=pick: Tensor(_data(pick(g(q)))), tree, eps=1e-5)
        _assert_trees_close(row(H), want, rtol=1e-5, atol=1e-7)
    # symmetric: H[a][b] is H[b][a] transposed
    np.testing.assert_allclose(H["layer"][0]["scale"], H["scale"]["layer"][0], rtol=1e-13)
    np.testing.assert_allclose(H["layer"][0]["layer"][1], H["layer"][1]["layer"][0].transpose(
        1, 2, 0), rtol=1e-13)


def _layer_row(H, idx, k):
    """The row of ``H["layer"][k]`` for element ``idx`` of that leaf."""
    row = H["layer"][k]
    return {"layer": [row["layer"][0][idx], row["layer"][1][idx]], "scale": row["scale"][idx]}


def test_hvp_of_pytrees_equals_the_hessian_times_v():
    tree, f = TREE_ARGS["nested dict of list"]
    v = {"layer": [np.array([[1.0, -0.5], [0.25, 2.0]]), np.array([0.5, -1.0])], "scale": 0.3}
    hv = hvp(f, tree, v)
    assert tree_flatten(hv)[1] == tree_flatten(tree)[1] and type(hv["scale"]) is float
    leaves, treedef = tree_flatten(tree)
    n = [np.size(x) for x in leaves]
    H = hessian(lambda flat: f(_unravel(flat, leaves, treedef)))(
        np.concatenate([np.ravel(x) for x in leaves]))
    want = H @ np.concatenate([np.ravel(x) for x in tree_flatten(v)[0]])
    np.testing.assert_allclose(np.concatenate([np.ravel(x) for x in tree_flatten(hv)[0]]),
                               want, rtol=1e-12)
    assert sum(n) == want.size


def _unravel(flat, leaves, treedef):
    parts, k = [], 0
    for x in leaves:
        size = np.size(x)
        parts.append(flat[k:k + size].reshape(np.shape(x)) if np.ndim(x) else flat[k])
        k += size
    return tree_unflatten(treedef, parts)


def test_hvp_of_pytrees_checks_structure_and_shapes():
    f = lambda p: (p["w"] ** 3).sum() * p["s"]
    p = {"w": np.ones(2), "s": 1.0}
    with pytest.raises(ValueError, match=r"hvp: v has the structure PyTreeDef\(\{'w': \*\}\), "
                                         r"x has PyTreeDef\(\{'s': \*, 'w': \*\}\)"):
        hvp(f, p, {"w": np.ones(2)})
    with pytest.raises(ValueError, match=r"hvp: v\['w'\] has shape \(3,\), x\['w'\] has shape "
                                         r"\(2,\)"):
        hvp(f, p, {"w": np.ones(3), "s": 1.0})


def test_pytree_transforms_nest():
    f = TREE_ARGS["dict"][1]
    p = {"w": np.array([0.3, -0.2]), "b": 0.5}
    v = {"w": np.array([1.0, 2.0]), "b": -1.0}
    # grad of <grad f(p), v>: the Hessian-vector product, through trees at both levels
    inner = lambda q: (grad(f)(q)["w"] * v["w"]).sum() + grad(f)(q)["b"] * v["b"]
    _assert_trees_close(grad(inner)(p), hvp(f, p, v), rtol=1e-12)


def test_a_bad_leaf_in_a_pytree_argument_is_a_type_error_naming_its_path():
    with pytest.raises(TypeError, match=r"^grad: params\['layer'\]\[2\] is a str"):
        grad(lambda params: params["layer"][0])({"layer": [1.0, 2.0, "3"]})
    with pytest.raises(TypeError, match=r"^hessian: args\[0\]\.b is a object"):
        hessian(lambda *a: a[0].w)(Pair(1.0, object()))
    with pytest.raises(TypeError, match=r"^jacobian: cannot differentiate with respect to "
                                        r"p\['flag'\], a bool"):
        jacobian(lambda p: p["x"])({"x": np.ones(2), "flag": True})


def test_a_pytree_with_no_leaves_is_a_value_error():
    with pytest.raises(ValueError, match=r"grad: the arguments to differentiate \(argnums 0\) "
                                         "hold no leaves"):
        grad(lambda p: Value(1.0))({"a": [], "b": None})


def test_jacobian_of_a_function_returning_nothing_is_a_type_error():
    with pytest.raises(TypeError, match=r"jacobian: f must return a Value or a Tensor, or a "
                                        r"pytree of them, not \{\}"):
        jacobian(lambda p: {})({"w": np.ones(2)})


def test_hvp_of_pytrees_is_differentiable_in_v():
    f = lambda p: (p["w"] ** 3).sum() * p["s"]
    p = {"w": np.array([1.0, 2.0]), "s": 1.0}
    d = grad(lambda v: hvp(f, p, {"w": v, "s": 0.5})["w"].sum())(np.array([1.0, -1.0]))
    np.testing.assert_allclose(d, 6.0 * p["w"])  # the column sums of H_ww = diag(6 w s)
    v = Tensor([1.0, -1.0], requires_grad=True)  # a node outside any transform: recorded too
    hv = hvp(f, p, {"w": v, "s": 0.5})
    assert isinstance(hv["w"], Tensor) and isinstance(hv["s"], Tensor)  # both depend on v
    hv["w"].sum().backward()
    np.testing.assert_allclose(v.grad, 6.0 * p["w"])


def test_jacfwd_and_jacrev_take_pytrees_under_their_own_names():
    """The forward-mode transforms take trees as jacobian does (output structure outside)."""
    from autograd import jacfwd, jacrev

    for jac in (jacfwd, jacrev):
        J = jac(lambda p: {"y": p["w"] * 2.0, "z": (p["w"] * p["v"]).sum()})(
            {"w": np.ones(2), "v": np.arange(2.0)})
        np.testing.assert_array_equal(J["y"]["w"], 2.0 * np.eye(2))
        np.testing.assert_array_equal(J["y"]["v"], np.zeros((2, 2)))
        np.testing.assert_array_equal(J["z"]["w"], np.arange(2.0))
        np.testing.assert_array_equal(J["z"]["v"], np.ones(2))
        with pytest.raises(TypeError, match=rf"^{jac.__name__}: p\['s'\] is a str"):
            jac(lambda p: p["w"])({"w": np.ones(2), "s": "x"})


# ----- forward mode: jvp, linearize, vjp, jacfwd, jacrev (issue 17) ------------------------------
from autograd import jacfwd, jacrev, jvp, linearize, vjp  # noqa: E402

# the derivative tables above, with the forward-mode transforms and vjp: chains of them compose
FORWARD_SCALAR = SCALAR_DERIVATIVES | {
    "jacfwd": (1, jacfwd),
    "jacrev": (1, jacrev),
    "jvp": (1, lambda f: lambda x: jvp(f, (x,), (1.0,))[1]),
    "linearize": (1, lambda f: lambda x: linearize(f, x)[1](1.0)),
    "vjp": (1, lambda f: lambda x: vjp(f, x)[1](1.0)[0]),
}
FORWARD_VECTOR = VECTOR_DERIVATIVES | {
    "jacfwd": (1, lambda f: lambda x: diagonal(jacfwd(f)(x))),
    "jacrev": (1, lambda f: lambda x: diagonal(jacrev(f)(x))),
    "jvp": (1, lambda f: lambda x: jvp(f, (x,), (np.ones(x.shape),))[1]),
    "linearize": (1, lambda f: lambda x: linearize(f, x)[1](np.ones(x.shape))),
    "vjp": (1, lambda f: lambda x: vjp(f, x)[1](np.ones(x.shape))[0]),
}


@settings(max_examples=300)
@given(family=family_params, x=st.floats(-2, 2),
       chain=st.lists(st.sampled_from(sorted(FORWARD_SCALAR)), min_size=1, max_size=4))
def test_forward_and_reverse_transforms_nest_in_any_order_on_scalars(family, chain, x):
    """jacfwd(jacrev(f)), grad of a function that calls jvp, vjp of linearize, ... to depth 4
    (up to fifth derivatives), against closed forms."""
    name, params = family
    make, derivative = FAMILIES[name]
    f, order = nest(FORWARD_SCALAR, chain, make(params))
    assume(order <= 5)
    got = f(x)
    assert type(got) in (float, np.ndarray) and np.shape(got) == ()
    assert float(got) == pytest.approx(derivative(params, order, x), rel=1e-9, abs=1e-9)


@settings(max_examples=200)
@given(family=family_params, x=arrays(st.sampled_from([(1,), (2,), (3,)]), low=-2, high=2),
       chain=st.lists(st.sampled_from(sorted(FORWARD_VECTOR)), min_size=1, max_size=4))
def test_forward_and_reverse_transforms_nest_in_any_order_on_arrays(family, chain, x):
    name, params = family
    make, derivative = FAMILIES[name]
    f, order = nest(FORWARD_VECTOR, chain, make(params))
    assume(order <= 4)
    got = f(x)
    assert type(got) is np.ndarray
    np.testing.assert_allclose(got, derivative(params, order, x), rtol=1e-9, atol=1e-9)


FORWARD_MIXED = {
    "jacfwd, argnums a tuple": lambda F, i: lambda *a: jacfwd(F, argnums=(0, 1, 2))(*a)[i],
    "jacrev": lambda F, i: lambda *a: jacrev(F, argnums=i)(*a),
    "jvp along one axis": lambda F, i: lambda *a: jvp(F, a, tuple(float(j == i)
                                                                 for j in range(3)))[1],
    "vjp": lambda F, i: lambda *a: vjp(F, *a)[1](1.0)[i],
}


@settings(max_examples=200)
@given(powers=st.tuples(*[st.integers(0, 4)] * 3),
       steps=st.lists(st.tuples(st.sampled_from(sorted(MIXED | FORWARD_MIXED)),
                                st.integers(0, 2)), min_size=1, max_size=3),
       point=st.tuples(*[st.floats(-2, 2)] * 3))
def test_mixed_partials_in_forward_and_reverse_mode(powers, steps, point):
    F = lambda x, y, z: power(x, powers[0]) * power(y, powers[1]) * power(z, powers[2])
    counts = [0, 0, 0]
    for kind, i in steps:
        F = (MIXED | FORWARD_MIXED)[kind](F, i)
        counts[i] += 2 if kind.startswith("hessian") else 1
    want = math.prod(falling(p, k) * v ** (p - k) if k <= p else 0.0
                     for p, k, v in zip(powers, counts, point))
    assert float(F(*point)) == pytest.approx(want, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("transform", [
    lambda x: jacfwd(smooth)(x),
    lambda x: jvp(smooth, (x,), (np.array([0.5, -2.0]),))[1],
    lambda x: linearize(smooth, x)[1](np.array([0.5, -2.0])),
    lambda x: vjp(smooth, x)[1](np.array([0.5, -2.0]))[0],
    lambda x: jacfwd(jacrev(smooth))(x),
    lambda x: jacrev(jacfwd(smooth))(x),
    lambda x: jacfwd(jacfwd(smooth))(x),
    lambda x: jvp(lambda t: grad(lambda u: smooth(u).sum())(t), (x,), (x * x,))[1],
])
@settings(max_examples=15)
@given(x=arrays((2,), low=-1.5, high=1.5))
def test_forward_mode_transforms_match_finite_differences_also_nested(transform, x):
    assert gradcheck(transform, x, order=2)


def wide_and_tall(x, y):
    """Two outputs of two arguments: (4,) and (2, 3) from (3,) and ()."""
    z = (x * y).sin() + x[::-1] * x
    return concatenate_and_sum(z, y), (z[:, None] * z[None, :2]).T.tanh()


def concatenate_and_sum(z, y):
    return autograd.concatenate([z, (z * y).sum().reshape(1)])


@settings(max_examples=30)
@given(x=arrays((3,), low=-2, high=2), y=st.floats(-2, 2),
       argnums=st.sampled_from([0, 1, (0, 1), (1, 0)]))
def test_jacfwd_jacrev_and_jacobian_agree_with_argnums_and_tuple_outputs(x, y, argnums):
    y = np.array(y)
    fwd, rev, auto = (j(wide_and_tall, argnums)(x, y) for j in (jacfwd, jacrev, jacobian))
    flat = lambda j: [np.asarray(b) for out in j for b in (out if isinstance(out, tuple)
                                                             else (out,))]
    for a, b, c in zip(flat(fwd), flat(rev), flat(auto)):
        assert a.shape == b.shape == c.shape
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(c, b, rtol=1e-13, atol=1e-13)
    if argnums == (0, 1):  # per output, per argument: out.shape + in.shape
        assert [[b.shape for b in out] for out in fwd] == [[(4, 3), (4,)], [(2, 3, 3), (2, 3)]]


@settings(max_examples=30)
@given(x=arrays((3,), low=-1.5, high=1.5), v=arrays((3,)), w=arrays((3,)))
def test_hvp_is_hessian_times_v_and_linearize_is_jvp_and_vjp_is_the_transpose(x, v, w):
    f = lambda t: (smooth3(t) * t).sum()
    H = hessian(f)(x)
    np.testing.assert_allclose(hvp(f, x, v), H @ v, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(H, jacrev(jacrev(f))(x), rtol=1e-12, atol=1e-12)
    out, jv = jvp(smooth3, (x,), (v,))
    out2, push = linearize(smooth3, x)
    np.testing.assert_array_equal(out, out2)
    np.testing.assert_array_equal(push(v), jv)  # the same sweep over the same tape
    np.testing.assert_allclose(push(v) + push(w), push(v + w), rtol=1e-12, atol=1e-12)
    out3, pull = vjp(smooth3, x)
    np.testing.assert_array_equal(out3, out)
    assert float(w @ jv) == pytest.approx(float(pull(w)[0] @ v), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(jacfwd(smooth3)(x) @ v, jv, rtol=1e-12, atol=1e-12)


def smooth3(t):
    return (t.sin() * t[::-1] + (t * 0.5).exp()).tanh()


def test_jvp_and_friends_return_floats_arrays_or_nodes_as_the_reverse_transforms_do():
    assert jvp(lambda x: x * x, (3.0,), (1.0,)) == (9.0, 6.0)
    out, t = jvp(lambda x: x * x, (np.array([1.0, 2.0]),), ([1.0, 1.0],))
    assert type(out) is np.ndarray and type(t) is np.ndarray and t.tolist() == [2.0, 4.0]
    v = Value(3.0)
    out, t = jvp(lambda x: x * x, (v,), (1.0,))
    assert isinstance(out, Value) and isinstance(t, Value) and t.data == 6.0
    x = Tensor([1.0, 2.0], requires_grad=True)
    _, push = linearize(lambda x: x * x, x)
    assert isinstance(push(np.ones(2)), Tensor)
    _, pull = vjp(lambda x, y: x * y, 2.0, 5.0)
    assert pull(1.0) == (5.0, 2.0)
    assert jacfwd(lambda x: x * x)(3.0) == 6.0 and type(jacfwd(lambda x: x * x)(3.0)) is \
        type(jacrev(lambda x: x * x)(3.0)) is np.ndarray  # (jacobian's: shape ())
    assert jvp(lambda x: Tensor([1.0, 2.0]), (np.ones(3),), (np.ones(3),))[1].tolist() == [0, 0]
    # a float32 argument keeps its dtype through the sweep
    out, t = jvp(lambda x: x * 2.0, (Tensor(np.ones(2, np.float32)),), (np.ones(2),))
    assert t.dtype == np.float32


def test_a_tangent_keeps_the_dependence_on_the_outer_variable():
    # inside grad's f, a jvp of a float argument still depends on the outer x
    assert grad(lambda x: jvp(lambda y: x * y * y, (2.0,), (1.0,))[1])(3.0) == 4.0
    assert grad(lambda x: jacfwd(lambda y: x * y * y)(2.0))(3.0) == 4.0
    # and on a tangent that is a node: d/dv of J v is J
    assert grad(lambda v: jvp(lambda y: y * y, (2.0,), (v,))[1])(1.0) == 4.0
    np.testing.assert_allclose(
        jacrev(lambda v: hvp(lambda t: (t ** 3).sum(), np.array([1.0, 2.0]), v))(np.ones(2)),
        np.diag([6.0, 12.0]))


def test_jacobian_picks_forward_mode_for_wide_inputs_and_reverse_for_tall(monkeypatch):
    from autograd import functional

    sweeps = {"fwd": 0, "rev": 0}

    def counted(mode, sweep):
        def run(*a, **k):
            sweeps[mode] += 1
            return sweep(*a, **k)
        return run

    monkeypatch.setattr(functional, "push_tangents", counted("fwd", functional.push_tangents))
    monkeypatch.setattr(functional, "backprop", counted("rev", functional.backprop))
    jacobian(lambda x: (x[:, None] * np.ones(50)).sin())(np.ones(2))  # R^2 -> R^100
    assert sweeps == {"fwd": 2, "rev": 0}
    jacobian(lambda x: x.sum(0))(np.ones((50, 2)))  # R^100 -> R^2
    assert sweeps == {"fwd": 2, "rev": 2}
    assert "forward mode" in jacobian.__doc__ and "reverse mode" in jacobian.__doc__


def test_forward_mode_argument_errors_name_the_transform_and_the_shapes():
    f = lambda x: x * 2.0
    with pytest.raises(ValueError, match=r"jvp: tangent 0 has shape \(2,\) but primal 0 has "
                                         r"shape \(3,\)"):
        jvp(f, (np.ones(3),), (np.ones(2),))
    with pytest.raises(ValueError, match=r"jvp: 1 primals but tangents 2"):
        jvp(f, (np.ones(3),), (np.ones(3), np.ones(3)))
    with pytest.raises(TypeError, match=r"jvp: primals must be a tuple"):
        jvp(f, np.ones(3), (np.ones(3),))
    with pytest.raises(TypeError, match=r"jvp: tangent 0 is a str"):
        jvp(f, (1.0,), ("1",))
    with pytest.raises(TypeError, match=r"tangent 0 is a Tensor but primal 0 is a Value"):
        jvp(f, (1.0,), (Tensor(1.0),))
    _, pull = vjp(f, np.ones(3))
    with pytest.raises(ValueError, match=r"vjp: the cotangent has shape \(2,\) but the output "
                                         r"has shape \(3,\)"):
        pull(np.ones(2))
    _, push = linearize(f, np.ones(3))
    with pytest.raises(ValueError, match=r"linearize: tangent 0 has shape \(\)"):
        push(1.0)


@pytest.mark.parametrize("call", [
    lambda: jvp(lambda x: float(x ** 2), (2.0,), (1.0,)),
    lambda: jacfwd(lambda x: (x * 2.0).data)(np.array([1.0, 2.0])),
    lambda: linearize(lambda x: x.item(), np.array(1.0)),
    lambda: vjp(lambda x: float(x), 1.0),
])
def test_forward_mode_of_a_function_that_left_the_tape_is_an_error(call):
    with pytest.raises(RuntimeError, match=r"not connected to its arguments"):
        call()


def test_a_custom_primitive_without_a_jvp_is_an_error_in_forward_mode_only():
    cube = autograd.primitive("cube_nojvp", lambda xp, x: x * x * x,
                              lambda xp, g, out, x: (g * 3.0 * x * x,))
    f = lambda x: cube(x).sum()
    x = np.array([1.0, 2.0])
    for call in (lambda: jvp(f, (x,), (x,)), lambda: jacfwd(f)(x),
                 lambda: linearize(lambda t: cube(t) * 1.0, 2.0)[1](1.0)):
        with pytest.raises(RuntimeError, match=r"custom primitive 'cube_nojvp', which has no "
                                               r"JVP rule: .*jvp=\.\.\."):
            call()
    # the transforms that pick a mode fall back to reverse mode
    np.testing.assert_allclose(jacobian(cube)(np.array([2.0])), [[12.0]])
    np.testing.assert_allclose(hessian(lambda t: cube(t * t).sum())(x), np.diag([30.0, 480.0]))
    np.testing.assert_allclose(hvp(lambda t: cube(t * t).sum(), x, np.ones(2)), [30.0, 480.0])


def test_inside_another_transform_a_derivative_that_is_constant_is_a_node_not_a_float():
    # grad(F, 0) of F = x + y is the constant 1: inside grad over y it was the float 1.0, and
    # the outer grad refused it as having left the tape
    assert grad(lambda y: grad(lambda x, y: x + y)(1.0, y))(2.0) == 0.0
    assert grad(lambda y: jvp(lambda x: x * 3.0, (1.0,), (1.0,))[1] + y)(2.0) == 1.0
    assert grad(lambda y: jacfwd(lambda x: x * 3.0)(1.0) * y)(2.0) == 3.0


def test_a_tangent_sweep_over_a_tape_whose_saved_input_changed_in_place_is_an_error():
    w = Tensor([1.0, 2.0], requires_grad=True)
    x = Tensor([3.0, 4.0])
    _, push = linearize(lambda w: (w * x).sum(), w)
    assert push(np.ones(2)) == 7.0
    from autograd import no_grad as _no_grad
    with _no_grad():
        x += 1.0  # mul's JVP reads x: the recording no longer holds
    with pytest.raises(RuntimeError, match=r"mul: an input of shape \(2,\) that backward needs "
                                           r"was modified in place"):
        push(np.ones(2))


def test_jvp_linearize_and_vjp_of_a_function_returning_a_tuple():
    f = lambda x, y: (x.sin() * y, (x * x).sum() + y)
    x, y = np.array([1.0, 2.0]), np.array(3.0)
    v = (np.array([1.0, -1.0]), np.array(0.5))
    values, tangents = jvp(f, (x, y), v)
    _, push = linearize(f, x, y)
    (jx0, jy0), (jx1, jy1) = jacrev(f, (0, 1))(x, y)
    for t, p, jx, jy in zip(tangents, push(*v), (jx0, jx1), (jy0, jy1)):
        np.testing.assert_allclose(t, jx @ v[0] + jy * v[1], rtol=1e-14)
        np.testing.assert_array_equal(t, p)
    _, pull = vjp(f, x, y)
    u = (np.array([0.5, 2.0]), np.array(-1.0))
    gx, gy = pull(u)
    np.testing.assert_allclose(gx, u[0] @ jx0 + u[1] * jx1, rtol=1e-14)
    np.testing.assert_allclose(gy, u[0] @ jy0 + u[1] * jy1, rtol=1e-14)
    with pytest.raises(ValueError, match="vjp: f has 2 outputs but 1 cotangents"):
        pull((u[0],))


def test_the_same_node_as_two_primals_is_refused_in_forward_mode():
    x = Tensor([1.0, 2.0], requires_grad=True)
    f = lambda a, b: (a * b.exp()).sum()
    with pytest.raises(ValueError, match=r"jvp: primals 0 and 1 are the same node.*x\.clone\(\)"):
        jvp(f, (x, x), (np.ones(2), np.zeros(2)))
    _, t = jvp(f, (x, x.clone()), (np.ones(2), np.zeros(2)))  # the partial derivative in a
    assert float(t.data) == pytest.approx(float(np.exp([1.0, 2.0]).sum()), rel=1e-15)
    with pytest.raises(ValueError, match=r"linearize: primals 0 and 1 are the same node"):
        linearize(f, x, x)


# ----- pytrees through jvp, linearize and vjp --------------------------------------------------
def test_jvp_linearize_and_vjp_take_and_return_pytrees():
    """Each tangent has its primal's structure, the output's tangent and the cotangent the
    output's; the numbers are the flat transforms' on the leaves (checked by hand here)."""
    from autograd import jvp, linearize, vjp

    def f(p, s):
        return {"dot": (p["w"] * p["v"]).sum() * s, "scaled": [p["w"] * 3.0]}

    p = {"w": np.array([1.0, 2.0]), "v": np.array([3.0, 4.0])}
    t = {"w": np.array([1.0, 0.0]), "v": np.array([0.0, 1.0])}
    two, half = np.array(2.0), np.array(0.5)  # (a float primal would be a Value: no mixing)
    out, tan = jvp(f, (p, two), (t, half))
    assert float(out["dot"]) == 22.0 and np.array_equal(out["scaled"][0], [3.0, 6.0])
    assert float(tan["dot"]) == 2.0 * (3.0 + 2.0) + 0.5 * 11.0  # s (v.tw + w.tv) + ts (w.v)
    np.testing.assert_array_equal(tan["scaled"][0], [3.0, 0.0])
    value, jvp_fn = linearize(f, p, two)
    again = jvp_fn(t, half)
    assert float(again["dot"]) == float(tan["dot"]) and float(value["dot"]) == 22.0
    value, vjp_fn = vjp(f, p, two)
    gp, gs = vjp_fn({"dot": 1.0, "scaled": [np.array([1.0, 1.0])]})
    np.testing.assert_array_equal(gp["w"], 2.0 * p["v"] + 3.0)
    np.testing.assert_array_equal(gp["v"], 2.0 * p["w"])
    assert float(gs) == 11.0
    with pytest.raises(ValueError, match=r"jvp: tangent 0 has the structure"):
        jvp(f, (p, two), ({"w": np.ones(2)}, half))
    with pytest.raises(ValueError, match=r"vjp: the cotangent has the structure"):
        vjp_fn({"dot": 1.0})
