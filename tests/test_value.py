"""Value: the scalar face of the engine."""

import math
import re

import numpy as np
import pytest
from expressions import BAD_OPERANDS, BINARY, leaf, micrograd_readme

from autograd import Tensor, Value, no_grad


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


def test_a_shape_op_on_a_value_is_a_type_error_naming_the_op():
    from autograd import ops
    from autograd.engine import apply

    with pytest.raises(TypeError, match="sum: a Value op takes no parameters"):
        apply(ops.SUM, Value(1.0), axis=None, keepdims=False)


# ----- errors and edge cases: operands, numpy, no_grad, IEEE ---------------------------------
@pytest.mark.parametrize("bad, typename", BAD_OPERANDS + [([1.0], "list")])  # nor a list
def test_unsupported_operands_on_either_side_of_a_value_are_typeerrors_naming_the_type(
        bad, typename):
    for op, name in BINARY:
        with pytest.raises(TypeError) as info:
            op(Value(2.0), bad)
        msg = str(info.value)
        assert re.match(rf"({name}):", msg) and typename in msg and "Value" in msg, msg
    with pytest.raises(TypeError, match=typename):
        Value(bad)


NUMPY_SCALARS = [np.float64(2.0), np.float32(2.0), np.int64(2), np.int8(2), np.uint16(2)]


@pytest.mark.parametrize("s", NUMPY_SCALARS, ids=lambda s: type(s).__name__)
def test_numpy_scalars_on_either_side_of_a_value_combine_like_floats(s, strict_numpy):
    for op, value, grad in [
        (lambda v: v * s, 6.0, 2.0), (lambda v: s * v, 6.0, 2.0),
        (lambda v: v + s, 5.0, 1.0), (lambda v: s + v, 5.0, 1.0),
        (lambda v: v - s, 1.0, 1.0), (lambda v: s - v, -1.0, -1.0),
        (lambda v: v / s, 1.5, 0.5), (lambda v: s / v, 2.0 / 3.0, -2.0 / 9.0),
        (lambda v: v ** s, 9.0, 6.0), (lambda v: s ** v, 8.0, 8.0 * math.log(2.0)),
    ]:
        v = Value(3.0)
        out = op(v)
        assert type(out) is Value and type(out.data) is float
        out.backward()
        assert out.data == pytest.approx(value, rel=1e-15)
        assert v.grad == pytest.approx(grad, rel=1e-15) and type(v.grad) is float


@pytest.mark.parametrize("arr", [np.ones(3), np.array(2.0), np.ones((2, 2), dtype=np.float32)],
                         ids=["1-d", "0-d", "2-d float32"])
def test_a_numpy_array_on_either_side_of_a_value_is_a_typeerror_pointing_to_tensor(arr):
    for op in (lambda v: v + arr, lambda v: arr + v, lambda v: v * arr, lambda v: arr * v,
               lambda v: arr - v, lambda v: arr / v, lambda v: v ** arr, lambda v: arr ** v):
        with pytest.raises(TypeError) as info:
            op(Value(1.0))
        assert "numpy array" in str(info.value) and "Tensor" in str(info.value)
        assert f"shape {arr.shape}" in str(info.value)


def test_mixing_value_and_tensor_is_a_typeerror_naming_both_types():
    for op in (lambda v, t: v + t, lambda v, t: t + v, lambda v, t: v * t, lambda v, t: t - v):
        with pytest.raises(TypeError) as info:
            op(Value(1.0), leaf([1.0]))
        assert "Value" in str(info.value) and "Tensor" in str(info.value)
    with pytest.raises(TypeError, match="Value and Tensor|Tensor and Value"):
        Value(1.0) + Tensor([1.0])
    with pytest.raises(TypeError, match="Tensor"):
        Tensor([1.0]) * Value(2.0)


def test_backward_of_a_value_built_under_no_grad_is_a_runtime_error():
    """DESIGN's error table: backward of a result built under no_grad is a RuntimeError that
    says what to do. For a Value it must not silently seed the result and leave its inputs
    at 0.0 (as if the result were a fresh leaf)."""
    a, b = Value(2.0), Value(3.0)
    with no_grad():
        c = a * b
    with pytest.raises(RuntimeError, match="no_grad"):
        c.backward()
    assert a.grad == 0.0 and b.grad == 0.0


IEEE = [
    # (name, f, x, value, gradient)
    ("log(0)", lambda x: x.log(), 0.0, -math.inf, math.inf),
    ("log(-0.0)", lambda x: x.log(), -0.0, -math.inf, -math.inf),
    ("log(-1)", lambda x: x.log(), -1.0, math.nan, -1.0),
    ("1/0", lambda x: 1.0 / x, 0.0, math.inf, -math.inf),
    ("1/-0.0", lambda x: 1.0 / x, -0.0, -math.inf, -math.inf),
    ("-1/0", lambda x: -1.0 / x, 0.0, -math.inf, math.inf),
    ("x/0", lambda x: x / 0.0, 1.0, math.inf, math.inf),
    ("0/0", lambda x: x / 0.0, 0.0, math.nan, math.inf),
    ("sqrt(0)", lambda x: x.sqrt(), 0.0, 0.0, math.inf),
    ("sqrt(-1)", lambda x: x.sqrt(), -1.0, math.nan, math.nan),
    ("exp(1000)", lambda x: x.exp(), 1000.0, math.inf, math.inf),
    ("0 ** -1", lambda x: x ** -1.0, 0.0, math.inf, -math.inf),
    ("10 ** 400", lambda x: x ** 400.0, 10.0, math.inf, math.inf),
    ("sin(inf)", lambda x: x.sin(), math.inf, math.nan, math.nan),
]


def _same(a, b):
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) ==
                                                 math.copysign(1, b))


@pytest.mark.parametrize("name, f, x, value, grad", IEEE, ids=[c[0] for c in IEEE])
def test_ieee_results_without_exceptions_or_warnings_for_value_and_tensor(
        name, f, x, value, grad, strict_numpy):
    v = Value(x)
    out = f(v)
    out.backward()
    assert type(out.data) is float and type(v.grad) is float
    assert _same(out.data, value) and _same(v.grad, grad), (out.data, v.grad)
    for shape in ((), (2,)):
        t = leaf(np.full(shape, x))
        y = f(t)
        y.backward(np.ones(shape))
        assert all(_same(float(a), value) for a in np.ravel(y.data)), y.data
        assert all(_same(float(a), grad) for a in np.ravel(t.grad)), t.grad

# ----- comparisons, operators, slots and copies ----------------------------------------------


def test_comparisons_are_plain_bools():
    a, b = Value(1.0), Value(2.0)
    assert (a < b) is True and (a >= 2) is False and (b <= 2.0) is True and (b > a) is True
    assert (a == Value(1.0)) is True and (a != b) is True


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



def test_equality_compares_values_and_values_hash_by_identity():
    a, b = Value(2.0), Value(2.0)
    assert a == 2.0 and a == b and not (a != b) and a != 3.0
    assert 2.0 == a and (np.float64(2.0) == a)
    assert len({a, b}) == 2 and {a: 1, b: 2}[b] == 2  # equal values, two nodes
    with pytest.raises(TypeError, match="cannot compare Value and Tensor"):
        a == Tensor([2.0])  # noqa: B015


def test_a_chain_of_200000_values_pickles_and_deepcopies_without_recursion():
    import copy
    import pickle

    x = Value(0.5)
    y = x
    for _ in range(200_000):
        y = y * 1.0
    for copied in (pickle.loads(pickle.dumps(y)), copy.deepcopy(y)):
        copied.backward()
        first = copied
        while first.inputs:
            first = first.inputs[0]
        assert first is not x and first.data == 0.5 and first.grad == 1.0
    assert x.grad == 0.0  # the original graph is untouched
