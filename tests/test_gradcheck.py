"""gradcheck: it catches wrong custom ops, passes every built-in primitive, and checks the
protocol (zero in zero out, reentrancy, no mutation, float32, projections, order=2)."""

import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ops import DOMAINS

import autograd as ag
from autograd import GradcheckError, Tensor, Value, grad, gradcheck, ops, primitive
from autograd.engine import apply, registry

RNG = np.random.default_rng(20261128)
A23 = RNG.standard_normal((2, 3))
B23 = RNG.standard_normal((2, 3))
C3 = RNG.standard_normal(3)
POS23 = RNG.uniform(0.5, 2.0, (2, 3))
POS3 = RNG.uniform(0.5, 2.0, 3)
AWAY = np.array([[-1.5, -0.4, 0.3], [0.8, -2.0, 1.1]])  # no element near relu/abs's kink at 0
C2 = RNG.standard_normal(2)


def op_names(root):
    """The names of every op on the tape behind ``root`` (public node API only)."""
    seen, stack, names = {id(root)}, [root], set()
    while stack:
        node = stack.pop()
        if node.op:
            names.add(node.op)
        for a in node.inputs:
            if isinstance(a, (Tensor, Value)) and id(a) not in seen:
                seen.add(id(a))
                stack.append(a)
    return names


# ----- every built-in primitive passes, at second order, on draws from test_ops' one table -------
@pytest.mark.parametrize("name", sorted(registry))
@settings(max_examples=8)
@given(data=st.data())
def test_gradcheck_passes_every_builtin_primitive(name, data):
    f, xs = data.draw(DOMAINS[name])
    assert name in op_names(f(*[Tensor(x, requires_grad=True) for x in xs]))
    assert gradcheck(f, *xs, order=2) is True


@pytest.mark.parametrize("name", sorted(n for n, op in registry.items() if op.scalar))
@settings(max_examples=8)
@given(data=st.data())
def test_gradcheck_passes_every_scalar_primitive_on_floats(name, data):
    f, xs = data.draw(DOMAINS[name])
    floats = [float(np.asarray(x).reshape(-1)[0]) for x in xs]
    assert name in op_names(f(*[Value(x) for x in floats]))
    assert gradcheck(f, *floats, order=2) is True


def test_untake_is_checked_through_the_second_derivative_of_getitem():
    f = lambda x: (x[[0, 1, 0], 1:] ** 3).sum()
    x = Tensor(A23, requires_grad=True)
    f(x).backward(create_graph=True)
    assert "untake" in op_names(x.grad)
    assert gradcheck(f, A23, order=2)
    assert gradcheck(f, A23, order=3)


def test_cross_entropy_is_checked_with_its_second_derivative():
    labels = np.array([2, 0, 2])
    logits = RNG.standard_normal((3, 4))
    f = lambda z: apply(ops.CROSS_ENTROPY, z, labels)
    assert "cross_entropy" in op_names(f(Tensor(logits, requires_grad=True)))
    assert gradcheck(f, logits, order=2)


def test_gradcheck_accepts_values_tensors_and_several_inputs():
    assert gradcheck(lambda a, b: a * b.exp(), Value(0.5), 1.2)
    assert gradcheck(lambda a, b: (a @ b).tanh(), Tensor(A23), [[1.0], [0.5], [-2.0]])


# ----- deliberately wrong custom ops are caught --------------------------------------------------
def _rowscale_wrong_axis(xp, g, out, x, w):
    # d/dw_i of x_ij * w_i is sum_j g_ij x_ij: this sums over i (axis 0) instead of j (axis 1)
    return g * w[:, None], xp.sum(g * x, 0)


WRONG = {
    # x * x whose VJP forgets to multiply by g: only element 2 has a nonzero gradient
    "ignores_upstream": (primitive("sq_ignores_g", lambda xp, x: x * x,
                                   lambda xp, g, out, x: (2.0 * x,)),
                         (np.array([0.0, 0.0, 2.0]),), 0, (2,)),
    # wrong sign: only element 2 has a nonzero gradient
    "wrong_sign": (primitive("sq_wrong_sign", lambda xp, x: x * x,
                             lambda xp, g, out, x: (-(g * 2.0 * x),)),
                   (np.array([0.0, 0.0, 1.5]),), 0, (2,)),
    # off by a factor: only element 1 has a nonzero gradient
    "off_by_factor": (primitive("sq_off_by_3", lambda xp, x: x * x,
                                lambda xp, g, out, x: (g * 3.0 * x,)),
                      (np.array([0.0, 1.0, 0.0]),), 0, (1,)),
    # x * w[:, None] whose w-gradient reduces over the wrong axis (square x keeps the shapes
    # right); it first disagrees for output element (0, 1), on w's element 0
    "wrong_axis": (primitive("rowscale_wrong_axis", lambda xp, x, w: x * w[:, None],
                             _rowscale_wrong_axis),
                   (np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.5, -1.0])), 1, (0,)),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_gradcheck_catches_a_wrong_custom_op(name):
    op, xs, bad_input, bad_element = WRONG[name]
    # applied bare (a non-scalar output), gradcheck names exactly the wrong input and element
    with pytest.raises(GradcheckError) as info:
        gradcheck(op, *xs)
    msg = str(info.value)
    assert f"input {bad_input}, element {bad_element}" in msg, msg
    if name != "ignores_upstream":  # that one is caught by the zero-upstream check first
        assert "analytic" in msg and "numeric" in msg and "max abs error" in msg, msg
    # under a weighted sum (a scalar output) it is caught too
    weights = np.arange(1.0, 1.0 + xs[0].size).reshape(xs[0].shape)
    with pytest.raises(GradcheckError, match=r"input \d, element \(\d+,( \d+)?\)"):
        gradcheck(lambda *t: (op(*t) * weights).sum(), *xs)


def test_gradcheck_error_is_an_assertion_error_with_both_numbers():
    assert issubclass(GradcheckError, AssertionError)
    op = WRONG["off_by_factor"][0]
    with pytest.raises(AssertionError) as info:
        gradcheck(op, np.array([0.0, 1.0, 0.0]))
    m = re.search(r"analytic (\S+) vs numeric (\S+);", str(info.value))
    assert m, str(info.value)
    assert float(m[1]) == 3.0 and float(m[2]) == pytest.approx(2.0, rel=1e-6)
    assert "max abs error 1" in str(info.value) and "max rel error 0.5" in str(info.value)


def test_a_wrongly_shaped_custom_vjp_raises_runtime_error_naming_op_and_shapes():
    bad = primitive("bad_shape", lambda xp, x: x * 2.0, lambda xp, g, out, x: (g[:, :2],))
    pattern = r"bad_shape.*\(2, 2\).*\(2, 3\)"
    x = Tensor(A23, requires_grad=True)
    with pytest.raises(RuntimeError, match=pattern):
        bad(x).sum().backward()
    x = Tensor(A23, requires_grad=True)
    with pytest.raises(RuntimeError, match=pattern):
        bad(x).sum().backward(create_graph=True)
    with pytest.raises(RuntimeError, match=pattern):
        gradcheck(bad, A23)


def test_a_custom_vjp_returning_an_array_for_a_value_raises_runtime_error():
    bad = primitive("bad_scalar", lambda xp, x: x * 2.0,
                    lambda xp, g, out, x: (np.array([g, g]),))
    with pytest.raises(RuntimeError, match="bad_scalar"):
        bad(Value(1.0)).backward()


# ----- the other checks --------------------------------------------------------------------------
def test_gradcheck_checks_that_a_zero_upstream_gradient_gives_zero():
    op = WRONG["ignores_upstream"][0]
    with pytest.raises(GradcheckError, match="zero upstream gradient"):
        gradcheck(op, np.array([1.0, 2.0]))
    with pytest.raises(GradcheckError, match="zero upstream gradient"):
        gradcheck(op, 1.5)


def test_gradcheck_checks_that_backward_is_reentrant():
    calls = []

    def vjp(xp, g, out, x):
        calls.append(1)
        return (g * 2.0 * x * len(calls),)  # a VJP with hidden state

    op = primitive("stateful", lambda xp, x: x * x, vjp)
    with pytest.raises(GradcheckError, match="not reentrant"):
        gradcheck(op, np.array([1.0, 2.0]))


def test_gradcheck_checks_that_f_does_not_mutate_its_inputs():
    def f(x):
        out = x * 2.0
        x.data[1] = 7.0  # writes through .data bypass the version counter
        return out

    with pytest.raises(GradcheckError, match=re.escape("input 0, element (1,) was mutated by f")):
        gradcheck(f, np.array([1.0, 2.0, 3.0]))


def test_gradcheck_checks_that_backward_does_not_mutate_its_inputs():
    def vjp(xp, g, out, x):
        x[...] = 0.0  # a VJP that writes into the (raw) input array it was given
        return (g * 2.0,)

    op = primitive("scribbles", lambda xp, x: x * 2.0, vjp)
    with pytest.raises(GradcheckError, match="mutated by the backward pass"):
        gradcheck(op, np.array([1.0, 2.0]))


def test_gradcheck_leaves_the_callers_inputs_alone():
    t = Tensor(A23.copy(), requires_grad=True)
    arr = B23.copy()
    assert gradcheck(lambda a, b: (a * b).sin(), t, arr, order=2)
    np.testing.assert_array_equal(t.data, A23)
    np.testing.assert_array_equal(arr, B23)
    assert t.grad is None


def test_gradcheck_upcasts_float32_with_a_warning():
    f = lambda x: (x * x * x).sum()
    x32 = A23.astype(np.float32)
    for x in (Tensor(x32, requires_grad=True), x32, np.float32(0.3)):
        with pytest.warns(UserWarning, match="float32"):
            assert gradcheck(f if not isinstance(x, np.floating) else (lambda v: v * v * v), x)


def test_gradcheck_in_float64_is_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gradcheck(lambda x: x.exp(), A23)


def test_gradcheck_rejects_no_inputs_and_integer_tensors():
    with pytest.raises(ValueError):
        gradcheck(lambda: Value(1.0))
    with pytest.raises(TypeError, match="int"):
        gradcheck(lambda x: x * 2, Tensor([1, 2]))


# ----- projections on large inputs ---------------------------------------------------------------
BIG = RNG.standard_normal((120, 100))  # 12,000 elements: past the full-Jacobian limit


def test_gradcheck_uses_projections_on_a_large_input():
    assert gradcheck(lambda x: (x.tanh() * x).sum(), BIG)
    op = WRONG["off_by_factor"][0]
    with pytest.raises(GradcheckError, match="random projection"):
        gradcheck(lambda x: op(x).sum(), BIG)


def test_gradcheck_fast_mode_on_request_is_deterministic_and_private():
    op = WRONG["off_by_factor"][0]
    x = RNG.standard_normal((3, 4))
    assert gradcheck(lambda t: t.sin(), x, fast=True)
    state = np.random.get_state()
    messages = []
    for _ in range(2):
        with pytest.raises(GradcheckError, match="random projection") as info:
            gradcheck(op, x, fast=True, seed=3)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1])  # global RNG untouched


def test_gradcheck_fast_false_compares_the_full_jacobian():
    op = WRONG["off_by_factor"][0]
    with pytest.raises(GradcheckError, match=r"output element \(1,\)"):
        gradcheck(op, np.array([0.0, 1.0, 0.0]), fast=False)


# ----- order=2 -----------------------------------------------------------------------------------
def _cube_vjp_not_differentiable(xp, g, out, x):
    raw = x.data if isinstance(x, (Value, Tensor)) else x  # leaves the tape: wrong 2nd order
    return (g * 3.0 * raw * raw,)


def test_order_2_passes_correct_functions():
    assert gradcheck(lambda x: (x.sin() * x * x).sum(), A23, order=2)
    assert gradcheck(lambda x, y: (x * y).sigmoid() @ y.T, A23, B23, order=2)
    assert gradcheck(lambda v: v.exp() / (v * v + 1.0), 0.4, order=2)


def test_order_2_catches_a_first_order_only_vjp():
    cube = primitive("cube_no2", lambda xp, x: x * x * x, _cube_vjp_not_differentiable)
    x = np.array([0.5, -1.0, 2.0])
    assert gradcheck(cube, x)
    assert gradcheck(cube, 0.7)
    with pytest.raises(GradcheckError, match="second derivatives: .*input 0, element"):
        gradcheck(cube, x, order=2)
    with pytest.raises(GradcheckError, match="second derivatives"):
        gradcheck(cube, 0.7, order=2)


# ----- custom primitives -------------------------------------------------------------------------
CUBE = primitive("cube", lambda xp, x: x * x * x, lambda xp, g, out, x: (g * 3.0 * x * x,))


def test_a_correct_custom_op_passes_to_third_order():
    assert gradcheck(CUBE, np.array([0.5, -1.0, 2.0]), order=3)
    assert gradcheck(CUBE, 0.7, order=3)
    assert grad(grad(grad(CUBE)))(2.0) == pytest.approx(6.0)


def test_a_custom_op_works_on_floats_arrays_values_and_tensors_and_is_named():
    assert CUBE(2.0) == 8.0
    np.testing.assert_array_equal(CUBE(np.array([1.0, 2.0])), [1.0, 8.0])
    v = CUBE(Value(2.0))
    assert isinstance(v, Value) and v.data == 8.0 and v.op == "cube"
    t = CUBE(Tensor([1.0, 2.0], requires_grad=True))
    assert isinstance(t, Tensor) and t.op == "cube"
    assert "cube" in op_names(t.sum())


def test_a_custom_op_is_named_on_the_tape_and_in_drawings():
    from autograd.viz import draw_graph

    root = CUBE(Tensor([1.0, 2.0], requires_grad=True)).sum()
    assert [str(entry.op) for entry in ag.tape(root)] == ["cube", "sum"]
    assert "cube" in draw_graph(root).source


def test_a_custom_vjp_returning_the_wrong_number_of_gradients_raises_runtime_error():
    two = primitive("two_grads", lambda xp, x: x * 2.0, lambda xp, g, out, x: (g, g))
    with pytest.raises(RuntimeError, match="two_grads.*2 gradients for 1 input"):
        two(Value(1.0)).backward()


def test_gradcheck_of_a_function_that_left_the_tape_says_so():
    with pytest.raises(GradcheckError, match=r"f returned ndarray \(2,\), not a Tensor or a "
                                             r"Value: .*left the tape"):
        ag.gradcheck(lambda x: x.data * 2.0, np.array([1.0, 2.0]))
    assert ag.gradcheck(lambda x: np.ones(3), np.array([1.0, 2.0]))  # a constant: zero gradients


# ----- pytrees (issue 17 item 4) ----------------------------------------------------------------
import collections  # noqa: E402

Pair = collections.namedtuple("Pair", "w b")
SQUARE_BUG = primitive("square_bug_tree", lambda xp, x: x * x,
                       lambda xp, g, out, x: (g * x,))  # half the true gradient


def test_gradcheck_takes_pytree_inputs():
    params = {"w": A23, "b": C3, "scale": 0.7}
    f = lambda p, xs: ((Tensor(B23.T) @ p["w"] + p["b"]).tanh() * p["scale"] * xs[0]).sum() \
        + xs[1].w.sin().sum()
    assert gradcheck(f, params, [np.array(0.5), Pair(C3, None)])
    assert gradcheck(f, params, [np.array(0.5), Pair(C3, None)], order=2)
    assert gradcheck(f, params, [np.array(0.5), Pair(C3, None)], fast=True)


def test_gradcheck_of_pytrees_names_the_failing_leaf_by_its_path():
    with pytest.raises(GradcheckError, match=r"^gradcheck: input 1\['b'\]\.w, element \(0,\): "
                                             r"analytic"):
        gradcheck(lambda p, q: (p[0] * q["b"].w).sum() + SQUARE_BUG(q["b"].w).sum(),
                  [C3], {"a": 1.0, "b": Pair(C3, None)})
    with pytest.raises(TypeError, match=r"gradcheck: input 0\['a'\] is a str"):
        gradcheck(lambda p: p["b"], {"a": "x", "b": C3})


# ----- custom primitives with both rules: forward mode against reverse mode (issue 17) ----------
def cube_with(jvp_factor=3.0, vjp_factor=3.0, name="cube_both"):
    return primitive(name, lambda xp, x: x * x * x,
                     lambda xp, g, out, x: (g * vjp_factor * x * x,),
                     jvp=lambda xp, ts, out, x: ts[0] * jvp_factor * x * x)


def test_a_custom_op_with_both_rules_passes_and_runs_in_forward_mode():
    cube = cube_with()
    for x in (np.array([1.0, -2.0, 0.5]), 1.5, Value(1.5), Tensor([0.5, 2.0])):
        assert gradcheck(lambda t: cube(t) * 2.0, x, order=2)
    assert gradcheck(lambda t: cube(t).sum() * t, np.arange(120.0) / 60, fast=True)
    assert ag.jvp(cube, (2.0,), (1.0,)) == (8.0, 12.0)
    assert ag.jacfwd(ag.jacfwd(ag.jacfwd(cube)))(2.0) == 6.0  # written with xp: it nests


@pytest.mark.parametrize("fast", [False, True])
def test_a_jvp_that_disagrees_with_the_vjp_is_named_by_input_and_element(fast):
    wrong = cube_with(jvp_factor=3.0000001)  # 1e-7 off: far inside finite differences' tolerance
    x = np.array([[0.5, 1.0], [1.5, 2.0]])
    pattern = (r"random projection 0: <u, J v> = .* by forward mode but <J\^T u, v> = .* by "
               r"reverse mode" if fast else
               r"input 1, element \(0, 0\) \(output element \(0, 0\)\): forward mode gives the "
               r"derivative 0\.7500000\d*, reverse mode 0\.75;")
    with pytest.raises(GradcheckError, match=pattern + r".*'cube_both'.* disagree"):
        gradcheck(lambda a, b: wrong(b) + a, x, x, fast=fast)


def test_a_slightly_wrong_vjp_passes_finite_differences_but_not_the_jvp():
    wrong = cube_with(vjp_factor=3.0000001)
    with pytest.raises(GradcheckError, match=r"input 0, element \(1,\).*forward mode gives the "
                                             r"derivative 12\.0, reverse mode 12\.0000004"):
        gradcheck(wrong, np.array([0.0, 2.0]))
    from autograd.testing import arrays, check_gradients

    with pytest.raises(GradcheckError, match="forward mode .* reverse mode"):
        check_gradients(wrong, arrays((2,), low=1.0, high=2.0), max_examples=5)


def test_a_custom_jvp_must_return_one_tangent_of_the_output_shape():
    pair = primitive("pair_jvp", lambda xp, x: x * 2.0, lambda xp, g, out, x: (g * 2.0,),
                     jvp=lambda xp, ts, out, x: (ts[0] * 2.0, ts[0]))
    with pytest.raises(RuntimeError, match=r"pair_jvp: its JVP returned tuple; return the "
                                           r"output's tangent"):
        ag.jvp(pair, (1.0,), (1.0,))
    bad = primitive("bad_shape_jvp", lambda xp, x: x.sum(), lambda xp, g, out, x: (g + 0 * x,),
                    jvp=lambda xp, ts, out, x: ts[0])
    with pytest.raises(RuntimeError, match=r"bad_shape_jvp: its JVP returned a tangent of shape "
                                           r"\(3,\) for an output of shape \(\)"):
        ag.jvp(bad, (np.ones(3),), (np.ones(3),))
    scale = primitive("scale_jvp", lambda xp, x, *, k=2.0: x * k,
                      lambda xp, g, out, x, *, k: (g * k,),
                      jvp=lambda xp, ts, out, x, *, k: ts[0] * k)
    assert ag.jvp(lambda x: scale(x, k=5.0), (1.0,), (2.0,)) == (5.0, 10.0)
    assert gradcheck(lambda x: scale(x, k=5.0), np.ones(2))
