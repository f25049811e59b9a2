"""The functional API (grad, value_and_grad, jacobian, hessian, hvp) and higher order."""

import math

import numpy as np
import pytest

from autograd import Tensor, Value, grad, gradcheck, hessian, hvp, jacobian, no_grad, value_and_grad


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
    value, g = value_and_grad(lambda x: 3.0)(Value(1.0))
    assert isinstance(value, Value) and isinstance(g, Value) and g.data == 0.0


def test_a_function_independent_of_its_argument_has_zero_gradient():
    assert grad(lambda x: 3.0)(1.0) == 0.0
    np.testing.assert_array_equal(grad(lambda x: Tensor(2.0))(np.ones(3)), np.zeros(3))


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
