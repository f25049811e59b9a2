"""Value: the scalar face of the engine."""

import math
import warnings

import numpy as np
import pytest
from expressions import micrograd_readme

from autograd import Tensor, Value


def test_micrograd_readme_numbers():
    a, b, g = micrograd_readme()
    g.backward()
    assert f"{g.data:.4f}" == "24.7041"
    assert f"{a.grad:.4f}" == "138.8338"
    assert f"{b.grad:.4f}" == "645.5773"


def test_reuse_accumulates():
    a = Value(3.0)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad == 4.0
    assert b.grad == 2.0


def test_second_backward_adds_one_copy_to_leaves_only():
    a = Value(3.0)
    b = a * a
    c = b * 2.0
    c.backward()
    assert (a.grad, b.grad) == (12.0, 2.0)
    c.backward()
    assert a.grad == 24.0  # leaves accumulate
    assert b.grad == 2.0  # intermediates are reset, never double counted


def test_hand_computed_chain():
    x = Value(0.5)
    y = (x * x).sin() + x.exp() / x
    y.backward()
    expected = 2 * 0.5 * math.cos(0.25) + (math.exp(0.5) * 0.5 - math.exp(0.5)) / 0.25
    assert x.grad == pytest.approx(expected, rel=1e-14)


def test_kinks():
    for f in (lambda v: v.relu(), lambda v: abs(v)):
        x = Value(0.0)
        f(x).backward()
        assert x.grad == 0.0


@pytest.mark.parametrize("expr, expected", [
    (lambda: Value(0.0).log(), -math.inf),
    (lambda: 1 / Value(0.0), math.inf),
    (lambda: -1 / Value(0.0), -math.inf),
    (lambda: Value(-1.0).sqrt(), math.nan),
    (lambda: Value(1000.0).exp(), math.inf),
    (lambda: Value(-8.0) ** (1 / 3), math.nan),
    (lambda: Value(-1.0).log(), math.nan),
    (lambda: Value(0.0) ** -1.0, math.inf),
    (lambda: Value(10.0) ** 400.0, math.inf),
    (lambda: Value(math.inf).sin(), math.nan),
    (lambda: Value(0.0) / 0.0, math.nan),
])
def test_ieee_results_without_exceptions_or_warnings(expr, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v = expr()
    assert isinstance(v.data, float)
    t_expected = expected
    if math.isnan(t_expected):
        assert math.isnan(v.data)
    else:
        assert v.data == t_expected


def test_ieee_like_a_0d_float64_tensor():
    for f in (lambda x: x.log(), lambda x: 1 / x, lambda x: x.sqrt(), lambda x: x.exp()):
        for x in (0.0, -1.0, 2.5, 800.0):
            v, t = f(Value(x)).data, float(f(Tensor(x)).data)
            assert (math.isnan(v) and math.isnan(t)) or v == pytest.approx(t, rel=4e-16)


def test_pow_and_abs_at_ieee_edges_are_numpys_as_for_tensors():
    """One rule, one answer (the registry-wide check is in test_ops): x ** 0.5 is sqrt(x), as
    numpy computes it (C's pow gives inf at -inf), and a nan's gradient through abs is nan."""
    for x in (-math.inf, -0.0):
        v, t = (Value(x) ** 0.5).data, float((Tensor(x) ** 0.5).data)
        assert str(v) == str(t) == {-math.inf: "nan", 0.0: "-0.0"}[x]  # np.sqrt(x)
    every = (Tensor([-math.inf, -0.0, 4.0]) ** Tensor([0.5, 0.5, 0.5])).data  # not shape-bound
    assert str(every.tolist()) == "[nan, -0.0, 2.0]"
    x, t = Value(math.nan), Tensor(math.nan, requires_grad=True)
    abs(x).backward()
    abs(t).backward()
    assert math.isnan(x.grad) and math.isnan(t.grad)


def test_sqrt_gradient_at_zero_is_inf_silently():
    x = Value(0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x.sqrt().backward()
    assert x.grad == math.inf


def test_numpy_scalars_combine_like_floats():
    v = Value(2.0)
    for s in (np.float64(3.0), np.float32(3.0), np.int64(3)):
        for r in (v * s, s * v, v + s, s - v, s / v, v ** s):
            assert isinstance(r, Value)
            assert type(r.data) is float
    assert (np.float64(3.0) * v).data == 6.0


def test_numpy_array_with_value_is_a_type_error_pointing_to_tensor():
    with pytest.raises(TypeError, match="Tensor"):
        Value(1.0) * np.ones(3)
    with pytest.raises(TypeError, match="Tensor"):
        np.ones(3) * Value(1.0)


@pytest.mark.parametrize("bad", ["a", None, object(), [1.0], 1j])
def test_unsupported_operands_are_type_errors_naming_the_type(bad):
    with pytest.raises(TypeError, match=type(bad).__name__):
        Value(1.0) + bad
    with pytest.raises(TypeError, match=type(bad).__name__):
        bad * Value(1.0)
    with pytest.raises(TypeError):
        Value(bad)


def test_a_shape_op_on_a_value_is_a_type_error_naming_the_op():
    from autograd import ops
    from autograd.engine import apply

    with pytest.raises(TypeError, match="sum: a Value op takes no parameters"):
        apply(ops.SUM, Value(1.0), axis=None, keepdims=False)


def test_mixing_value_and_tensor_is_a_type_error_with_a_hint():
    with pytest.raises(TypeError, match="Value and Tensor|Tensor and Value"):
        Value(1.0) + Tensor([1.0])
    with pytest.raises(TypeError, match="Tensor"):
        Tensor([1.0]) * Value(2.0)


def test_comparisons_are_plain_bools_and_equality_is_identity():
    a, b = Value(1.0), Value(2.0)
    assert (a < b) is True and (a >= 2) is False and (b <= 2.0) is True and (b > a) is True
    assert a != Value(1.0)
    assert len({a, b, a}) == 2


def test_exponent_may_be_a_value():
    x, y = Value(2.0), Value(3.0)
    z = x**y
    z.backward()
    assert z.data == 8.0
    assert x.grad == pytest.approx(12.0)
    assert y.grad == pytest.approx(8.0 * math.log(2.0))


def test_augmented_assignment_makes_a_new_node():
    a = Value(1.0)
    b = a
    b += 1
    assert a.data == 1.0 and b.data == 2.0 and b is not a


def test_value_has_slots_and_weakref():
    v = Value(1.0)
    assert not hasattr(v, "__dict__")
    import weakref
    assert weakref.ref(v)() is v


def test_float_and_repr():
    v = Value(2.5, label="w")
    assert float(v) == 2.5
    assert "2.5" in repr(v) and "w" in repr(v)


def test_a_copied_or_unpickled_value_keeps_its_history():
    import copy
    import pickle

    from autograd import no_grad

    a, b = Value(2.0), Value(3.0)
    y = copy.deepcopy((a * b).exp())  # a one-input node over a two-input one
    assert len(y.inputs) == 1 and len(y.inputs[0].inputs) == 2
    y.backward()
    leaves = y.inputs[0].inputs
    assert [p.grad for p in leaves] == [3.0 * math.exp(6.0), 2.0 * math.exp(6.0)]
    with no_grad():
        z = a * b
    for copied in (copy.deepcopy(z), pickle.loads(pickle.dumps(z))):
        assert copied.data == 6.0 and copied.inputs == ()
        with pytest.raises(RuntimeError, match="no_grad"):
            copied.backward()

