"""detect_anomaly's reports: the masked-where trap diagnosed, forward nans caught at their op."""

import gc
import os
import sys

import numpy as np
import pytest

import autograd
from autograd import Tensor, Value, anomaly, detect_anomaly, engine, where

HERE = os.path.abspath(__file__)


def next_line():
    """The line number after the caller's current line (where the op under test is built)."""
    return sys._getframe(1).f_lineno + 1


# ----- NaNs explained: the masked-where trap -----
TRAPS = {  # the op that blows up at 0, written as a user would, and how the fix calls it
    "log": (lambda x: x.log(), "safe.log()"),  # (each op is created on its line here)
    "sqrt": (lambda x: x.sqrt(), "safe.sqrt()"),
    "pow": (lambda x: x ** 0.5, "safe ** 0.5"),
}


@pytest.mark.parametrize("name", TRAPS)
def test_the_masked_where_trap_names_both_ops_both_lines_and_the_fix(name):
    f, fixed = TRAPS[name]
    x = Tensor([0.0, 1.0, 4.0], requires_grad=True)
    op_line = f.__code__.co_firstlineno
    with detect_anomaly():
        y = f(x)
        where_line = next_line()
        z = where(x > 0, y, 0.0)
        with pytest.raises(FloatingPointError) as info:
            z.sum().backward()
    msg = str(info.value)
    assert f"the backward of '{name}' produced a non-finite gradient" in msg
    assert f"'{name}' was created at {HERE}:{op_line}\n        \"{name}\": (lambda x:" in msg
    assert f"masked-where trap. The zero comes from the 'where' created at {HERE}:{where_line}" \
        "\n        z = where(x > 0, y, 0.0)" in msg
    assert "exactly 0 at 1 element(s) (the first at index (0,)), where its input x is 0" in msg
    assert f"safe = where(cond, x, 1.0)\n    out = where(cond, {fixed}, 0.0)" in msg
    # and the fix it shows works: a finite gradient, the same where x > 0
    x.grad = None
    safe = where(x > 0, x, 1.0)
    where(x > 0, f(safe), 0.0).sum().backward()
    assert np.isfinite(x.grad).all() and x.grad[0] == 0.0


def test_the_trap_through_the_second_branch_and_an_elementwise_op_between():
    """The zero reaches log through `* 2.0`: the search follows the zero up to the where,
    and the fix keeps the branch order."""
    x = Tensor([1.0, 0.0], requires_grad=True, label="dist")
    with detect_anomaly():
        where_line = next_line()
        z = where(x <= 0, -1.0, x.log() * 2.0)
        with pytest.raises(FloatingPointError) as info:
            z.sum().backward()
    msg = str(info.value)
    assert f"'where' created at {HERE}:{where_line}" in msg
    assert "index (1,)), where its input dist is 0" in msg
    assert "safe = where(cond, 1.0, dist)\n    out = where(cond, -1.0, safe.log())" in msg


def test_a_zero_sent_by_another_op_is_named_without_calling_it_the_where_trap():
    x = Value(0.0)
    with detect_anomaly():
        relu_line = next_line()
        y = x.log().relu()
        with pytest.raises(FloatingPointError) as info:
            y.backward()
    msg = str(info.value)
    assert "'log' was created at" in msg
    assert f"The zero comes from 'relu', created at {HERE}:{relu_line}" in msg
    assert "where(mask, x, 1.0)" in msg and "masked-where trap" not in msg


def test_a_where_that_takes_the_branch_is_not_blamed_for_a_zero_sent_after_it():
    x = Tensor([0.0, 1.0], requires_grad=True)
    with detect_anomaly():
        y = where(x >= 0, x.log(), 1.0)  # takes log's branch at 0: not the trap's where
        mul_line = next_line()
        z = (y * 0.0).sum()
        with pytest.raises(FloatingPointError) as info:
            z.backward()
    msg = str(info.value)
    assert f"The zero comes from 'mul', created at {HERE}:{mul_line}" in msg
    assert "masked-where trap" not in msg


def test_a_truly_infinite_gradient_is_not_called_a_trap():
    """sqrt at 0 with a nonzero upstream gradient: the derivative is infinite, no zero."""
    x = Tensor([0.0, 4.0], requires_grad=True)
    with detect_anomaly():
        with pytest.raises(FloatingPointError) as info:
            (x.sqrt() * 3.0).sum().backward()
    msg = str(info.value)
    assert "trap" not in msg and "exactly 0" not in msg
    assert "at index (0,) the gradient that reached it is 3 and its input 0 is 0" in msg


def test_the_trap_is_diagnosed_under_create_graph_too():
    x = Tensor([0.0, 2.0], requires_grad=True)
    with detect_anomaly():
        z = where(x > 0, x.sqrt(), 0.0).sum()
        with pytest.raises(FloatingPointError, match="masked-where trap"):
            z.backward(create_graph=True)


# ----- NaNs explained: forward nans and infs caught at their op -----
def test_forward_true_stops_at_the_op_that_made_a_nan_with_its_inputs_statistics():
    x = Tensor([3.0, -1.0, 0.5, 2.0], requires_grad=True, label="x")
    with detect_anomaly(forward=True):
        h = x * 2.0  # finite: recorded, nothing said
        with pytest.raises(FloatingPointError) as err:
            line = next_line()
            (h - 1.0).log()
    msg = str(err.value)
    assert msg.startswith("detect_anomaly(forward=True): 'log' produced 1 nan and 1 inf "
                          "(of 4 values; the first at index (1,): nan)")
    assert f"created at {HERE}:{line}" in msg
    # the input of log is h - 1 = [5, -3, 0, 3]: min, max, mean, no nan or inf, and the value
    assert "input 0: (4,) float64: min -3, max 5, mean 1.25, 0 nan, 0 inf; at that index -3" \
        in msg


def test_forward_checks_are_off_by_default_and_restored_when_blocks_nest():
    x = Tensor([0.0, 1.0], requires_grad=True)
    with detect_anomaly():
        y = x.log()  # -inf, legitimately (a where may mask it): no error
    assert np.isneginf(y.data[0])
    with detect_anomaly(forward=True):
        with detect_anomaly():
            x.log()  # the inner block does not check the forward
        with pytest.raises(FloatingPointError, match="'log' produced 0 nan and 1 inf"):
            x.log()
    assert not engine.state.anomaly and not engine.state.anomaly_forward
    with pytest.raises(TypeError, match="forward must be a bool"):
        detect_anomaly(forward="yes")  # type: ignore[arg-type]


def test_forward_check_says_when_a_nan_came_in_from_outside_the_graph():
    data = np.array([1.0, np.nan, 2.0])
    w = Tensor([2.0], requires_grad=True, label="w")
    with detect_anomaly(forward=True):
        with pytest.raises(FloatingPointError) as err:
            w * data
    msg = str(err.value)
    assert "'mul' produced 1 nan" in msg
    assert "input 0 w: (1,) float64: min 2, max 2, mean 2, 0 nan, 0 inf" in msg
    assert "input 1 a constant: (3,) float64: min 1, max 2, mean 1.5, 1 nan, 0 inf" in msg
    assert "came from outside the recorded graph" in msg


def test_forward_check_on_a_value():
    with detect_anomaly(forward=True):
        with pytest.raises(FloatingPointError, match="'div' produced 0 nan and 1 inf"):
            Value(1.0) / 0.0


def test_statistics_of_an_array_without_finite_entries_and_of_integers():
    assert anomaly.stats(np.array([np.nan, np.inf])) == "(2,) float64: no finite entry, " \
        "1 nan, 1 inf"
    assert anomaly.stats(np.arange(3)) == f"(3,) {np.arange(3).dtype}"


# ----- NaNs explained: nothing of it runs when detect_anomaly is off -----
def test_with_detect_anomaly_off_no_anomaly_code_runs_in_forward_or_backward():
    """A structure test, not a timing: every Python function called while recording ops
    and running backward (the trap itself included) is listed, and none is anomaly mode's."""
    anomaly_code = {f.__code__ for f in (engine.record_anomaly, engine._check_finite,
                                         engine._creation_site, engine._fingerprint,
                                         engine._check_fingerprints)}
    anomaly_code |= {f.__code__ for f in vars(anomaly).values()
                     if callable(f) and getattr(f, "__module__", "") == anomaly.__name__
                     and hasattr(f, "__code__")}
    gc.collect()  # nodes earlier tests recorded in anomaly mode are checked while they live
    assert len(engine.fingerprints) == 0
    called = set()

    def profile(frame, event, arg):
        if event == "call":
            called.add(frame.f_code)

    x = Tensor([0.0, 1.0, 4.0], requires_grad=True)
    v = Value(0.0)
    sys.setprofile(profile)
    try:
        z = where(x > 0, x.log(), 0.0).sum() + (x ** 0.5).sum()
        z.backward()
        w = v.log() * 0.0
        w.backward()
    finally:
        sys.setprofile(None)
    assert np.isnan(x.grad[0]) and np.isnan(v.grad)  # IEEE, silently, as documented
    assert called and not called & anomaly_code, [c.co_name for c in called & anomaly_code]
    # and in anomaly mode the same code does run (the check can fail)
    sys.setprofile(profile)
    try:
        with detect_anomaly():
            with pytest.raises(FloatingPointError):
                where(x > 0, x.log(), 0.0).sum().backward()
    finally:
        sys.setprofile(None)
    assert called & anomaly_code
    assert autograd.detect_anomaly is detect_anomaly
