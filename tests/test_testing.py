"""autograd.testing: the strategies draw what they promise, and check_gradients finds bugs."""

import importlib
import sys

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from autograd import GradcheckError, Tensor, gradcheck, primitive
from autograd.testing import (
    array_shapes,
    arrays,
    broadcastable_shapes,
    check_gradients,
    matmul_shapes,
    valid_axes,
)

SMALL = settings(max_examples=25)


# ----- shapes ------------------------------------------------------------------------------------
@SMALL
@given(array_shapes())
def test_array_shapes_are_small_and_may_be_0d(shape):
    assert isinstance(shape, tuple)
    assert 0 <= len(shape) <= 3 and all(1 <= s <= 4 for s in shape)


def test_array_shapes_include_0d_and_respect_bounds():
    assert find(array_shapes(), lambda s: s == ()) == ()
    assert find(array_shapes(min_dims=2, max_dims=2, min_side=3, max_side=3),
                lambda s: True) == (3, 3)


@pytest.mark.parametrize("n", [1, 2, 3])
@SMALL
@given(data=st.data())
def test_broadcastable_shapes_broadcast(n, data):
    shapes = data.draw(broadcastable_shapes(n))
    assert len(shapes) == n and all(isinstance(s, tuple) for s in shapes)
    result = np.broadcast_shapes(*shapes)  # raises ValueError if they do not broadcast
    assert sum(np.zeros(s) for s in shapes).shape == result
    assert all(len(s) <= 3 and all(1 <= d <= 4 for d in s) for s in shapes)


def test_broadcastable_shapes_are_not_only_equal_shapes():
    # pairs where both shapes must be broadcast (neither is the result) are drawn too
    shapes = find(broadcastable_shapes(2), lambda s: np.broadcast_shapes(*s) not in s)
    assert len(set(shapes)) == 2


@SMALL
@given(matmul_shapes())
def test_matmul_shapes_are_valid_for_numpy_matmul(shapes):
    a, b = shapes
    out = np.matmul(np.ones(a), np.ones(b))  # raises ValueError when invalid
    assert (Tensor(np.ones(a)) @ Tensor(np.ones(b))).shape == out.shape


def test_matmul_shapes_cover_vectors_and_broadcast_batches():
    assert find(matmul_shapes(), lambda s: len(s[0]) == 1 and len(s[1]) == 1)
    a, b = find(matmul_shapes(), lambda s: len(s[0]) >= 3 and len(s[1]) >= 3
                and s[0][:-2] != s[1][:-2])
    np.matmul(np.ones(a), np.ones(b))


@pytest.mark.parametrize("ndim", [0, 1, 2, 3])
@SMALL
@given(data=st.data())
def test_valid_axes_are_valid_for_numpy_sum(ndim, data):
    axis = data.draw(valid_axes(ndim))
    shape = (2, 3, 4)[:ndim]
    x = np.arange(float(np.prod(shape))).reshape(shape)
    expected = np.sum(x, axis=axis)  # raises when the axis is invalid
    if isinstance(axis, tuple):
        assert len(set(axis)) == len(axis)
    np.testing.assert_array_equal(Tensor(x).sum(axis=axis).data, expected)


def test_valid_axes_of_a_0d_array_is_none_only():
    assert find(valid_axes(0), lambda a: True) is None
    assert find(valid_axes(2), lambda a: isinstance(a, tuple) and len(a) == 2) in ((0, 1), (1, 0))
    assert find(valid_axes(3), lambda a: isinstance(a, int) and a < 0) < 0


# ----- values ------------------------------------------------------------------------------------
@SMALL
@given(arrays((3, 4)))
def test_arrays_have_the_shape_and_default_range(x):
    assert type(x) is np.ndarray and x.dtype == np.float64 and x.shape == (3, 4)
    assert np.all(np.isfinite(x)) and np.all((-3.0 <= x) & (x <= 3.0))


@SMALL
@given(arrays(array_shapes(), low=-1.0, high=2.0, away_from=(0.0, 1.0), margin=0.1))
def test_arrays_respect_low_high_and_the_margins(x):
    assert x.dtype == np.float64
    assert np.all((-1.0 <= x) & (x <= 2.0))
    assert np.all(np.abs(x - 0.0) >= 0.1) and np.all(np.abs(x - 1.0) >= 0.1)


@SMALL
@given(arrays(st.sampled_from([3, (2, 1)]), low=0.5, high=0.5))
def test_arrays_take_an_int_shape_or_a_strategy_and_a_degenerate_range(x):
    assert x.shape in ((3,), (2, 1)) and np.all(x == 0.5)


# ----- check_gradients ---------------------------------------------------------------------------
SOFTPLUS = primitive(
    "softplus",
    lambda xp, x: xp.log(1.0 + xp.exp(x)),
    lambda xp, g, out, x: (g * xp.sigmoid(x),))


def test_check_gradients_passes_a_correct_function():
    check_gradients(lambda x: (x.sin() * x).sum(), arrays(array_shapes()), max_examples=20)
    check_gradients(lambda a, b: a * b.exp(), st.floats(-2, 2), st.floats(-2, 2),
                    max_examples=20)


def test_check_gradients_passes_a_correct_custom_op_to_second_order():
    check_gradients(SOFTPLUS, arrays(array_shapes()), max_examples=20, order=2)
    check_gradients(lambda x, w: SOFTPLUS(x @ w), arrays((2, 3)), arrays(3), max_examples=20)


def _square_vjp_wrong_above_one(xp, g, out, x):
    return (g * 2.0 * x * xp.where(xp.greater(x, 1.0), 1.5, 1.0),)  # a planted bug for x > 1


def test_check_gradients_finds_and_shrinks_a_planted_bug():
    bad = primitive("square_bug", lambda xp, x: x * x, _square_vjp_wrong_above_one)
    drawn = []
    strategy = arrays(array_shapes(min_dims=1, max_dims=3)).map(lambda a: drawn.append(a) or a)
    with pytest.raises(GradcheckError, match=r"input 0, element \(0,\)") as info:
        check_gradients(bad, strategy, max_examples=30)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "Falsifying example" in notes or "Failing test case" in notes  # hypothesis's words
    shrunk = drawn[-1]  # hypothesis replays the minimal example last
    assert shrunk.shape == (1,)
    assert 1.0 < shrunk[0] <= 2.0


def test_check_gradients_passes_options_to_gradcheck():
    # a VJP that is right to first order only: order=2 finds it
    cube = primitive("cube_first_order_only", lambda xp, x: x * x * x,
                     lambda xp, g, out, x: (g * 3.0 * np.square(getattr(x, "data", x)),))
    check_gradients(cube, arrays(3), max_examples=10)
    with pytest.raises(GradcheckError, match="second derivatives"):
        check_gradients(cube, arrays(3), max_examples=10, order=2)
    assert gradcheck(cube, np.array([1.0, 2.0]))


def test_importing_without_hypothesis_names_the_test_extra(monkeypatch):
    for name in [m for m in sys.modules if m == "hypothesis" or m.startswith("hypothesis.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "autograd.testing")
    with pytest.raises(ImportError, match="test"):
        importlib.import_module("autograd.testing")


def test_check_gradients_names_an_unknown_option():
    with pytest.raises(TypeError, match=r"check_gradients: unknown option\(s\) \['tol'\]: .*atol"):
        check_gradients(lambda x: (x * x).sum(), arrays((3,)), tol=1e-3)


# ----- pytrees (issue 17 item 4) ----------------------------------------------------------------
def test_check_gradients_draws_pytrees_and_names_a_failing_leaf():
    params = st.fixed_dictionaries({"w": arrays((2, 3)), "b": arrays(3),
                                    "s": st.floats(0.5, 2.0)})
    check_gradients(lambda p, x: ((x @ p["w"] + p["b"]).tanh() * p["s"]).sum(), params,
                    arrays((4, 2)), max_examples=10)
    bad = primitive("square_bug_in_a_tree", lambda xp, x: x * x,
                    lambda xp, g, out, x: (g * x,))  # half the true gradient
    with pytest.raises(GradcheckError, match=r"input 0\['b'\], element \(0,\)"):
        check_gradients(lambda p: bad(p["b"]).sum() + p["w"].sum(), params, max_examples=10)
