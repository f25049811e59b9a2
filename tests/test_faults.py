"""A catalogue of faults (issue 6): whatever a user feeds tapegrad, it gives a correct result or
the clear error that DESIGN.md's error table names; never a silent wrong gradient, a corrupted
model or a crashed interpreter.

One named test per fault, each asserting the exact behaviour: the exception type and the
fragments its message must contain (op name, shapes as Python tuples, versions, sizes, the file
and the reason), or the exact IEEE values and gradients, with numpy warnings turned into errors
where the promise is "silently".

Areas: shapes and types; empty and degenerate data; graph misuse; numerics; anomaly mode;
weight files; threads; scale and memory.
"""

import math
import re

import numpy as np
import pytest
from expressions import ATOL_1000, BAD_OPERANDS, BINARY, LOG3, Z, leaf

import autograd
import nn
from autograd import Tensor, concatenate, maximum, no_grad, where


# =============================================================================================
# Shapes and types
# =============================================================================================
def test_matmul_of_mismatched_shapes_names_matmul_and_both_shapes():
    with pytest.raises(ValueError) as info:
        leaf(np.ones((2, 3))) @ leaf(np.ones(4))
    assert "matmul" in str(info.value) and "(2, 3) and (4,)" in str(info.value)
    with pytest.raises(ValueError) as info:
        leaf(np.ones((5, 2, 3))) @ np.ones((4, 6))  # a constant on the right, batched left
    assert "matmul" in str(info.value) and "(5, 2, 3) and (4, 6)" in str(info.value)


@pytest.mark.parametrize("op, name", [
    (lambda a, b: a + b, "add"),
    (lambda a, b: a * b, "mul"),
    (lambda a, b: a / b, "div"),
    (lambda a, b: a ** b, "pow"),
    (lambda a, b: maximum(a, b), "maximum"),
])
def test_broadcast_mismatch_names_the_op_and_both_shapes(op, name):
    with pytest.raises(ValueError) as info:
        op(leaf(np.ones((2, 3))), leaf(np.ones(4)))
    assert str(info.value).startswith(name + ":")
    assert "(2, 3) and (4,)" in str(info.value)


def test_concatenate_of_mismatched_shapes_names_concatenate_and_both_shapes():
    with pytest.raises(ValueError) as info:
        concatenate([leaf(np.ones((2, 3))), leaf(np.ones((2, 4)))], axis=0)
    assert "concatenate" in str(info.value) and "(2, 3) and (2, 4)" in str(info.value)


@pytest.mark.parametrize("seed_shape", [(3,), (3, 2), (1, 3), (2, 3, 1), ()])
def test_a_backward_seed_of_the_wrong_shape_is_a_valueerror_naming_both_shapes(seed_shape):
    """Even a broadcastable seed ((1, 3) or (3,) for (2, 3)) is refused: exactly t's shape."""
    y = leaf(np.ones((2, 3))) * 2.0
    with pytest.raises(ValueError) as info:
        y.backward(np.ones(seed_shape))
    assert f"{seed_shape}" in str(info.value) and "(2, 3)" in str(info.value)


@pytest.mark.parametrize("make, dtype", [
    (lambda: Tensor([1, 2], requires_grad=True), "int64"),
    (lambda: Tensor([True, False], requires_grad=True), "bool"),
    (lambda: Tensor(np.arange(3, dtype=np.uint8), requires_grad=True), "uint8"),
    (lambda: Tensor(np.arange(3, dtype=np.int32)).requires_grad_(), "int32"),
    (lambda: autograd.zeros(3, dtype=np.int16, requires_grad=True), "int16"),
    (lambda: autograd.randn(3, seed=0, dtype=np.int32, requires_grad=True), "int32"),
    (lambda: nn.Parameter([1, 2, 3]), "int64"),
])
def test_integer_or_bool_data_asked_to_require_grad_is_a_typeerror_naming_the_dtype(make, dtype):
    with pytest.raises(TypeError, match=dtype):
        make()


def test_setting_requires_grad_on_an_integer_tensor_leaves_it_unchanged():
    t = Tensor([1, 2])
    with pytest.raises(TypeError, match="int64"):
        t.requires_grad = True
    assert t.requires_grad is False


@pytest.mark.parametrize("bad, typename", BAD_OPERANDS)
def test_unsupported_operands_on_either_side_of_a_tensor_are_typeerrors_naming_the_type(
        bad, typename):
    for op, name in BINARY + [(lambda a, b: a @ b, "matmul"), (lambda a, b: b @ a, "matmul")]:
        with pytest.raises(TypeError) as info:
            op(leaf([2.0, 3.0]), bad)
        msg = str(info.value)
        assert re.match(rf"({name}):", msg) and typename in msg and "Tensor" in msg, msg


def test_strings_none_and_objects_cannot_become_tensors():
    for bad, fragment in [("abc", "<U3"), (None, "object"), (object(), "object"),
                          (["a", "b"], "<U1"), ([1.0, None], "object")]:
        with pytest.raises(TypeError, match=re.escape(fragment)):
            Tensor(bad)


def test_an_object_array_operand_is_refused_never_computed_elementwise():
    objs = np.array([1.0, 2.0], dtype=object)
    for op in (lambda: leaf([1.0, 2.0]) + objs, lambda: objs + leaf([1.0, 2.0]),
               lambda: leaf([1.0, 2.0]) * objs, lambda: objs * leaf([1.0, 2.0])):
        with pytest.raises(TypeError, match="dtype object"):
            op()


@pytest.mark.parametrize("call", ["item", "bool"])
def test_item_and_bool_of_several_elements_are_valueerrors_naming_the_size(call):
    t = leaf(np.ones((2, 3)))
    fn = t.item if call == "item" else (lambda: bool(t))
    with pytest.raises(ValueError) as info:
        fn()
    assert call in str(info.value) and "6 elements" in str(info.value)
    assert "size" in str(info.value)
    empty = Tensor(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="0 elements"):
        empty.item() if call == "item" else bool(empty)
    one = Tensor([[3.0]])  # exactly one element: a plain Python number / truth value
    assert (one.item() if call == "item" else bool(one)) == (3.0 if call == "item" else True)


@pytest.mark.parametrize("other", [np.array([1.0, 2.0, 4.0]), np.float64(2.0), np.float32(2.0),
                                   np.int64(2), np.array(2.0)],
                         ids=["array", "float64", "float32", "int64", "0-d array"])
def test_numpy_arrays_and_scalars_on_either_side_of_a_tensor_give_tensors(other, strict_numpy):
    """Never an ndarray, never an object array: __array_ufunc__ = None defers to Tensor."""
    x0 = np.array([1.0, 2.0, 3.0])
    o = np.asarray(other, dtype=np.float64)
    cases = [
        (lambda x: x + other, x0 + o, np.ones(3)), (lambda x: other + x, o + x0, np.ones(3)),
        (lambda x: x - other, x0 - o, np.ones(3)), (lambda x: other - x, o - x0, -np.ones(3)),
        (lambda x: x * other, x0 * o, o + 0 * x0), (lambda x: other * x, o * x0, o + 0 * x0),
        (lambda x: x / other, x0 / o, 1 / o + 0 * x0),
        (lambda x: other / x, o / x0, -o / x0**2),
        (lambda x: x ** other, x0**o, o * x0 ** (o - 1)),
    ]
    for op, value, grad in cases:
        x = leaf(x0)
        out = op(x)
        assert type(out) is Tensor and out.dtype == np.float64, type(out)
        out.sum().backward()
        np.testing.assert_allclose(out.data, value, rtol=1e-15)
        np.testing.assert_allclose(x.grad, grad, rtol=1e-15)
    if np.ndim(other) == 1:
        for out in (leaf(x0) @ other, other @ leaf(x0)):
            assert type(out) is Tensor and out.item() == x0 @ other


def test_a_numpy_float32_scalar_keeps_a_float32_tensor_float32():
    x = leaf(np.ones(3), dtype=np.float32)
    for out in (x * np.float64(2.0), np.float64(2.0) * x, x + np.float32(1.0), np.int64(3) - x):
        assert type(out) is Tensor and out.dtype == np.float32


# =============================================================================================
# Empty and degenerate data
# =============================================================================================
E = np.zeros((0, 3))
REDUCTIONS = [
    # (name, call, expected value)
    ("sum", lambda x: x.sum(), np.array(0.0)),
    ("sum axis 0", lambda x: x.sum(axis=0), np.zeros(3)),
    ("sum axis 1", lambda x: x.sum(axis=1), np.zeros(0)),
    ("sum keepdims", lambda x: x.sum(axis=0, keepdims=True), np.zeros((1, 3))),
    ("mean", lambda x: x.mean(), np.array(np.nan)),
    ("mean axis 0", lambda x: x.mean(axis=0), np.full(3, np.nan)),
    ("mean axis 1", lambda x: x.mean(axis=1), np.zeros(0)),
    ("var", lambda x: x.var(), np.array(np.nan)),
    ("var axis 0", lambda x: x.var(axis=0), np.full(3, np.nan)),
    ("var axis 1", lambda x: x.var(axis=1), np.zeros(0)),
    ("std", lambda x: x.std(), np.array(np.nan)),
    ("std axis 0", lambda x: x.std(axis=0), np.full(3, np.nan)),
    ("std axis 1", lambda x: x.std(axis=1), np.zeros(0)),
    ("logsumexp", lambda x: x.logsumexp(), np.zeros(0)),  # axis=-1: one per (empty) row
    ("logsumexp axis 0", lambda x: x.logsumexp(axis=0), np.full(3, -np.inf)),  # log(0)
    ("softmax", lambda x: x.softmax(), np.zeros((0, 3))),
    ("softmax axis 0", lambda x: x.softmax(axis=0), np.zeros((0, 3))),
    ("log_softmax", lambda x: x.log_softmax(), np.zeros((0, 3))),
    ("log_softmax axis 0", lambda x: x.log_softmax(axis=0), np.zeros((0, 3))),
]


@pytest.mark.parametrize("name, call, expected", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
def test_a_zero_length_axis_through_every_reduction_keeps_the_gradient_shape(
        name, call, expected, strict_numpy):
    """Values as numpy defines them (sum 0, mean/var/std nan, logsumexp over nothing -inf),
    silently; the gradient reaches the input with its (0, 3) shape and dtype."""
    for dtype in (np.float64, np.float32):
        x = leaf(E, dtype=dtype)
        y = call(x)
        assert y.dtype == dtype
        np.testing.assert_array_equal(y.data, expected.astype(dtype))
        y.backward(np.ones(y.shape, dtype=dtype))
        assert x.grad.shape == (0, 3) and x.grad.dtype == dtype


@pytest.mark.parametrize("which", ["max", "min"])
@pytest.mark.parametrize("axis", [None, 0])
def test_max_and_min_of_an_empty_tensor_are_valueerrors_mentioning_the_size(which, axis):
    with pytest.raises(ValueError) as info:
        getattr(leaf(E), which)(axis=axis)
    msg = str(info.value)
    assert msg.startswith(which + ":") and "size 0" in msg and "(0, 3)" in msg


@pytest.mark.parametrize("which", ["max", "min"])
@pytest.mark.parametrize("axis", [1, -1])
def test_max_and_min_along_a_nonempty_axis_of_an_empty_tensor_are_empty(which, axis):
    """As in numpy and PyTorch: each of the zero rows has a maximum; there are none."""
    x = leaf(E)
    y = getattr(x, which)(axis=axis)
    assert y.shape == (0,)
    y.backward(np.ones(0))
    assert x.grad.shape == (0, 3)


def test_a_mean_over_zero_elements_is_nan_silently_and_its_gradient_is_empty(strict_numpy):
    x = leaf(np.zeros(0))
    m = x.mean()
    assert math.isnan(m.item())
    m.backward()
    assert x.grad.shape == (0,)
    assert math.isnan(leaf(np.zeros((2, 0))).mean(axis=1).data[1])


@pytest.mark.parametrize("a_shape, b_shape, out", [
    ((0, 3), (3, 2), np.zeros((0, 2))),
    ((2, 0), (0, 4), np.zeros((2, 4))),  # an empty inner axis: a sum over nothing, zeros
    ((0,), (0,), np.array(0.0)),
    ((4, 0, 3), (3, 5), np.zeros((4, 0, 5))),
])
def test_matmul_with_a_zero_length_axis_gives_zeros_and_gradients_of_the_input_shapes(
        a_shape, b_shape, out, strict_numpy):
    a, b = leaf(np.ones(a_shape)), leaf(np.ones(b_shape))
    y = a @ b
    np.testing.assert_array_equal(y.data, out)
    y.backward(np.ones(y.shape))
    assert a.grad.shape == a_shape and b.grad.shape == b_shape
    np.testing.assert_array_equal(a.grad, np.zeros(a_shape))  # every case has an empty
    np.testing.assert_array_equal(b.grad, np.zeros(b_shape))  # side: zeros, or empty


# =============================================================================================
# Graph misuse
# =============================================================================================
def test_backward_of_a_non_scalar_without_a_seed_says_to_pass_one_or_reduce():
    y = leaf(np.ones((2, 3))) * 2.0
    with pytest.raises(RuntimeError) as info:
        y.backward()
    msg = str(info.value)
    assert "(2, 3)" in msg and "pass a gradient" in msg and "reduce" in msg


def test_backward_of_a_tensor_built_under_no_grad_says_what_to_do():
    x = leaf([1.0, 2.0])
    with no_grad():
        y = (x * 2.0).sum()
    with pytest.raises(RuntimeError) as info:
        y.backward()
    assert "no_grad" in str(info.value) and "requires_grad=True" in str(info.value)
    assert x.grad is None


def test_backward_of_a_tensor_built_only_from_constants_says_what_to_do():
    y = (Tensor([1.0, 2.0]) * 3.0).sum()
    with pytest.raises(RuntimeError) as info:
        y.backward()
    assert "does not require grad" in str(info.value)
    assert "requires_grad=True" in str(info.value)


@pytest.mark.parametrize("mutate", [
    lambda x: x.__iadd__(1.0),
    lambda x: x.__imul__(2.0),
    lambda x: x.__setitem__(0, 5.0),
    lambda x: x.__setitem__((slice(None),), np.zeros(3)),
], ids=["+=", "*=", "setitem", "setitem slice"])
def test_an_inplace_change_of_a_saved_input_is_detected_at_backward(mutate):
    x = Tensor([1.0, 2.0, 3.0])  # a constant input that the mul VJP needs for w's gradient
    w = leaf([1.0, 1.0, 1.0])
    y = (x * w).sum()
    mutate(x)
    with pytest.raises(RuntimeError) as info:
        y.backward()
    msg = str(info.value)
    assert msg.startswith("mul:") and "version 0 when recorded, now 1" in msg
    assert w.grad is None


def test_an_inplace_change_of_a_saved_output_is_detected_at_backward():
    x = leaf([0.0, 1.0])
    e = x.exp()  # exp's VJP reads its own output
    with no_grad():
        e += 1.0
    with pytest.raises(RuntimeError) as info:
        e.sum().backward()
    msg = str(info.value)
    assert msg.startswith("exp:") and "version 0 when recorded, now 1" in msg


def test_a_change_through_a_detached_view_is_detected_at_backward():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    d = x.detach()  # shares data and version counter
    d[0] = 10.0
    with pytest.raises(RuntimeError, match="mul: .*version 0 when recorded, now 1"):
        y.backward()


@pytest.mark.parametrize("mutate", [
    lambda w: w.__iadd__(1.0), lambda w: w.__isub__(1.0), lambda w: w.__imul__(2.0),
    lambda w: w.__itruediv__(2.0), lambda w: w.__setitem__(0, 1.0),
], ids=["+=", "-=", "*=", "/=", "setitem"])
def test_an_inplace_change_of_a_leaf_that_requires_grad_in_grad_mode_points_to_no_grad(mutate):
    w = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="no_grad"):
        mutate(w)
    np.testing.assert_array_equal(w.data, [1.0, 2.0])


def _all_arrays(*tensors):
    return [t.grad for t in tensors if t.grad is not None]


def test_gradients_never_alias_each_other_or_the_seed():
    """Two leaves of one add get separate arrays; a view-like op (reshape, cast to the same
    dtype, getitem of everything, mul by 1) never hands its upstream array on; the seed is
    never written; a later backward never writes into an array the user holds."""
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    s = a + b
    r = s.reshape(2)
    c = r.astype(np.float64)
    g = c[:]
    y = g * 1.0
    seed = np.array([1.0, 1.0])
    y.backward(seed)
    arrays = _all_arrays(a, b, s, r, c, g, y) + [seed]
    for i, p in enumerate(arrays):
        for q in arrays[i + 1:]:
            assert not np.shares_memory(p, q)
    held = a.grad
    for arr in _all_arrays(a, b, s, r, c, g, y):
        arr += 100.0  # writing into one gradient changes no other, nor the seed
    np.testing.assert_array_equal(seed, [1.0, 1.0])
    np.testing.assert_array_equal(b.grad, [101.0, 101.0])
    y.backward(seed)  # accumulation makes a new array: the one the user holds stays put
    np.testing.assert_array_equal(held, [101.0, 101.0])
    np.testing.assert_array_equal(a.grad, [102.0, 102.0])
    assert not np.shares_memory(a.grad, held)


def test_a_leaf_used_twice_gets_one_owned_gradient_and_a_tensor_seed_is_not_written():
    x = leaf([1.0, 2.0])
    y = x + x
    seed = Tensor([1.0, 1.0])
    y.backward(seed)
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])
    assert not np.shares_memory(x.grad, y.grad) and not np.shares_memory(x.grad, seed.data)
    assert not np.shares_memory(y.grad, seed.data)
    y.grad += 1
    np.testing.assert_array_equal(seed.data, [1.0, 1.0])


# =============================================================================================
# Numerics
# =============================================================================================


def test_log_softmax_at_plus_minus_1000_is_exact(strict_numpy):
    z = leaf(Z)
    y = z.log_softmax()
    np.testing.assert_array_equal(y.data[:2], [[0.0, -2000.0, -1000.0], [-2000.0, -2000.0, 0.0]])
    np.testing.assert_allclose(y.data[2], [-LOG3] * 3, rtol=0, atol=ATOL_1000)
    y.backward(np.ones(Z.shape))  # g - softmax * sum(g) = 1 - 3 softmax
    np.testing.assert_array_equal(z.grad[:2], [[-2.0, 1.0, 1.0], [1.0, 1.0, -2.0]])
    np.testing.assert_allclose(z.grad[2], [0.0, 0.0, 0.0], rtol=0, atol=ATOL_1000)


def test_logsumexp_at_plus_minus_1000_is_exact(strict_numpy):
    z = leaf(Z)
    y = z.logsumexp()
    np.testing.assert_array_equal(y.data, [1000.0, 1000.0, -1000.0 + LOG3])
    y.sum().backward()  # the gradient is softmax
    np.testing.assert_array_equal(z.grad[:2], [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(z.grad[2], [1 / 3] * 3, rtol=0, atol=ATOL_1000)


def test_softmax_at_plus_minus_1000_is_exact(strict_numpy):
    z = leaf(Z[:2])
    s = z.softmax()
    np.testing.assert_array_equal(s.data, [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    (s * Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])).sum().backward()
    np.testing.assert_array_equal(z.grad, np.zeros((2, 3)))  # s * (w - s.w) = 0 at one-hot


def test_the_masked_where_trap_gives_a_nan_gradient_at_zero(strict_numpy):
    """The trap (documented, not a bug): where(x > 0, log(x), 0) has a fine forward value
    at x = 0, but the gradient of the branch not taken is still computed: where sends 0 to
    log, and log's VJP gives 0 / 0 = nan there (0 * inf). The gradient at 0 is nan."""
    x = leaf([0.0, 1.0, 2.0])
    y = where(x > 0, x.log(), 0.0)
    np.testing.assert_array_equal(y.data, [0.0, 0.0, math.log(2.0)])
    y.sum().backward()
    assert np.isnan(x.grad[0])
    np.testing.assert_array_equal(x.grad[1:], [1.0, 0.5])


def test_the_safe_where_form_masks_the_input_and_gives_a_zero_gradient_at_zero(strict_numpy):
    """The fix: mask the input, not the output: log(where(x > 0, x, 1)) is 0 at x = 0 with
    gradient 0, and log(x) elsewhere."""
    x = leaf([0.0, 1.0, 2.0])
    y = where(x > 0, x, 1.0).log()
    np.testing.assert_array_equal(y.data, [0.0, 0.0, math.log(2.0)])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 0.5])


# =============================================================================================
# Anomaly mode
# =============================================================================================


# =============================================================================================
# Weight files
# =============================================================================================


# =============================================================================================
# Threads
# =============================================================================================


# =============================================================================================
# Scale and memory
# =============================================================================================


