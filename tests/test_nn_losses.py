"""nn's losses with PyTorch's options: nll_loss, cross_entropy (weight, ignore_index,
label_smoothing), binary_cross_entropy, l1_loss, huber_loss, and their modules.

Values and gradients are compared with PyTorch's on the cases stored in
tests/fixtures/losses.npz (written by tests/fixtures/make_losses.py), and with finite
differences (autograd.gradcheck, second order included).
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest

import autograd
import nn
from autograd import Tensor, gradcheck
from autograd.testing import arrays, check_gradients
from nn import functional as F

FIXTURE = np.load(Path(__file__).parent / "fixtures" / "losses.npz")
CASES = json.loads(str(FIXTURE["cases"]))
INPUTS = {k.split("/", 1)[1]: FIXTURE[k] for k in FIXTURE.files if k.startswith("input/")}
RNG = np.random.default_rng(0)


def call(spec, *xs):
    kw = {k: INPUTS[v[1:]] if isinstance(v, str) and v.startswith("@") else v
          for k, v in spec["kwargs"].items()}
    return getattr(F, spec["fn"])(*xs, **kw)


@pytest.mark.parametrize("name", list(CASES))
def test_each_loss_equals_pytorchs_in_value_and_gradient(name, strict_numpy):
    spec = CASES[name]
    xs = [Tensor(INPUTS[k], requires_grad=i in spec["grad_wrt"]) if INPUTS[k].dtype.kind == "f"
          else INPUTS[k] for i, k in enumerate(spec["inputs"])]
    out = call(spec, *xs)
    expected = FIXTURE[f"{name}/value"]
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-15)
    if not spec["grad_wrt"]:
        return
    out.backward(None if out.ndim == 0 else INPUTS["G6" if out.shape == (6,) else "G34"])
    for i in spec["grad_wrt"]:
        np.testing.assert_allclose(xs[i].grad, FIXTURE[f"{name}/grad{i}"], rtol=1e-12,
                                   atol=1e-14, err_msg=f"{name}: input {i}")


def test_the_fixture_covers_every_option_and_reduction():
    fns = {(s["fn"], s["kwargs"].get("reduction", "mean")) for s in CASES.values()}
    for fn in ("cross_entropy", "nll_loss", "binary_cross_entropy", "l1_loss", "huber_loss"):
        assert {(fn, r) for r in ("mean", "sum", "none")} <= fns
    used = {k for s in CASES.values() for k in s["kwargs"]}
    assert {"weight", "ignore_index", "label_smoothing", "delta"} <= used


# ----- finite differences ----------------------------------------------------------------------
LABELS = np.array([0, -100, 1, 3, 2])
W = np.array([0.5, 2.0, 1.0, 3.0])


@pytest.mark.parametrize("kw", [
    {}, {"weight": W}, {"label_smoothing": 0.2}, {"weight": W, "label_smoothing": 0.3},
    {"ignore_index": 1, "weight": W, "reduction": "sum"}, {"reduction": "none"},
])
def test_cross_entropy_with_options_matches_finite_differences_to_second_order(kw):
    z = RNG.standard_normal((5, 4))
    labels = np.where(LABELS < 0, kw.get("ignore_index", -100), LABELS)
    assert gradcheck(lambda t: F.cross_entropy(t, labels, **kw), z, order=2)


def test_nll_loss_matches_finite_differences():
    check_gradients(lambda t: F.nll_loss(t, LABELS, weight=W), arrays((5, 4)), order=2,
                    max_examples=15)


def test_bce_matches_finite_differences_in_input_and_target():
    probs = arrays((2, 3), low=0.05, high=0.95)
    check_gradients(lambda p, y: F.binary_cross_entropy(p, y, weight=np.array([1.0, 2.0, 0.5])),
                    probs, arrays((2, 3), low=0.05, high=0.95), order=2, max_examples=15)


@pytest.mark.parametrize("loss", [F.l1_loss, F.huber_loss,
                                  lambda x, t: F.huber_loss(x, t, "sum", delta=0.3)])
def test_l1_and_huber_match_finite_differences_away_from_their_kinks(loss):
    x = RNG.standard_normal((3, 4))
    t = x + RNG.choice([-1, 1], (3, 4)) * RNG.uniform(0.05, 2.0, (3, 4))  # |d| away from 0
    t[np.abs(np.abs(x - t) - 1.0) < 0.05] += 0.2  # and from delta = 1
    t[np.abs(np.abs(x - t) - 0.3) < 0.05] += 0.2  # and from delta = 0.3
    assert gradcheck(lambda a, b: loss(a, b), x, t, order=2)


# ----- the fast path and torch's semantics at the edges ----------------------------------------
def ops_of(t):
    return [str(e.op) for e in autograd.tape(t)]


def test_cross_entropy_without_options_is_the_one_fused_primitive():
    z = Tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    assert ops_of(F.cross_entropy(z, [0, 1, 2])) == ["cross_entropy", "mean"]
    assert ops_of(nn.CrossEntropyLoss()(z, [0, 1, 2])) == ["cross_entropy", "mean"]
    assert ops_of(F.cross_entropy(z, [0, 1, 2], reduction="none")) == ["cross_entropy"]
    assert "cross_entropy" not in ops_of(F.cross_entropy(z, [0, 1, 2], label_smoothing=0.1))
    assert "cross_entropy" not in ops_of(F.cross_entropy(z, [0, -100, 2]))


def test_ignore_index_that_is_a_class_is_not_taken_by_the_fast_path():
    z = RNG.standard_normal((4, 3))
    got = F.cross_entropy(z, [0, 1, 2, 1], ignore_index=1).item()
    expected = F.cross_entropy(z[[0, 2]], [0, 2]).item()
    assert got == pytest.approx(expected, rel=1e-14)


def test_an_all_ignored_batch_gives_nan_for_mean_and_zero_gradients(strict_numpy):
    z = Tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    for loss in (F.cross_entropy(z, [-100] * 3), F.nll_loss(z, [-100] * 3),
                 F.cross_entropy(z, [-100] * 3, weight=W, label_smoothing=0.1)):
        assert math.isnan(loss.item())
        z.grad = None
        loss.backward()
        np.testing.assert_array_equal(z.grad, np.zeros((3, 4)))
    assert F.cross_entropy(z, [-100] * 3, reduction="sum").item() == 0.0


def test_an_ignored_row_holding_minus_inf_gives_zero_not_nan(strict_numpy):
    logp = Tensor([[-np.inf, 0.0], [0.0, -np.inf]], requires_grad=True)
    loss = F.nll_loss(logp, [-100, 0], reduction="none")
    np.testing.assert_array_equal(loss.data, [0.0, -0.0])
    loss.sum().backward()
    np.testing.assert_array_equal(logp.grad, [[0.0, 0.0], [-1.0, 0.0]])


def test_bce_clamps_its_logs_at_minus_100_and_stays_finite_at_0_and_1(strict_numpy):
    p = Tensor([0.0, 1.0, 0.0, 1.0, 1e-50, 1e-30], requires_grad=True)
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    loss = F.binary_cross_entropy(p, y, reduction="none")
    np.testing.assert_array_equal(loss.data, [100.0, 100.0, 0.0, 0.0, 100.0, -np.log(1e-30)])
    loss.sum().backward()
    # a clamped log contributes nothing (the derivative of the clamped function), the other
    # term its own derivative: -y / p at p = 1, (1 - y) / (1 - p) at p = 0
    np.testing.assert_allclose(p.grad, [0.0, 0.0, 1.0, -1.0, 0.0, -1e30], rtol=1e-15, atol=0)


def test_bce_is_exact_at_small_probabilities_as_pytorch_log1p():
    loss = F.binary_cross_entropy(Tensor([1e-10]), np.array([0.0]))
    assert loss.item() == 1.00000000005e-10  # log(1 - p) would give 1.000000082790371e-10


def test_float32_losses_stay_float32():
    z = Tensor(RNG.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    p = Tensor(RNG.uniform(0.1, 0.9, (4, 3)).astype(np.float32), requires_grad=True)
    for loss in (F.cross_entropy(z, [0, 1, -100, 2], weight=[1.0, 2.0, 3.0],
                                 label_smoothing=0.1),
                 F.nll_loss(z, [0, 1, 2, 2]), F.binary_cross_entropy(p, np.zeros((4, 3))),
                 F.l1_loss(z, np.zeros((4, 3))), F.huber_loss(z, np.zeros((4, 3)))):
        assert loss.dtype == np.float32
        loss.backward()
    assert z.grad.dtype == np.float32 and p.grad.dtype == np.float32


# ----- modules ---------------------------------------------------------------------------------
@pytest.mark.parametrize("module, function", [
    (nn.NLLLoss(weight=W, ignore_index=2, reduction="sum"),
     lambda x, t: F.nll_loss(x, t, "sum", weight=W, ignore_index=2)),
    (nn.CrossEntropyLoss(weight=Tensor(W), ignore_index=1, label_smoothing=0.2),
     lambda x, t: F.cross_entropy(x, t, weight=W, ignore_index=1, label_smoothing=0.2)),
    (nn.BCELoss(weight=W, reduction="none"),
     lambda x, t: F.binary_cross_entropy(x, t, "none", weight=W)),
    (nn.L1Loss("sum"), lambda x, t: F.l1_loss(x, t, "sum")),
    (nn.HuberLoss("none", delta=0.5), lambda x, t: F.huber_loss(x, t, "none", 0.5)),
])
def test_loss_modules_call_their_functions_with_their_options(module, function):
    x = RNG.uniform(0.1, 0.9, (5, 4))
    t = [0, 1, 2, 3, 1] if isinstance(module, (nn.NLLLoss, nn.CrossEntropyLoss)) \
        else RNG.uniform(0, 1, (5, 4))
    np.testing.assert_array_equal(module(x, t).data, function(x, t).data)


def test_loss_modules_show_their_options():
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"
    assert repr(nn.CrossEntropyLoss(ignore_index=0, label_smoothing=0.1)) == \
        "CrossEntropyLoss(ignore_index=0, label_smoothing=0.1)"


# ----- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("call_, kind, message", [
    (lambda: F.nll_loss(np.zeros((2, 3)), [0, 3]), ValueError,
     "nll_loss: label 3 is out of range for 3 classes"),
    (lambda: F.nll_loss(np.zeros((2, 3)), [0, -1]), ValueError, "label -1 is out of range"),
    (lambda: F.nll_loss(np.zeros((2, 3)), [0.0, 1.0]), TypeError, "must be integers"),
    (lambda: F.nll_loss(np.zeros((2, 3)), [0, 1, 2]), ValueError,
     r"labels of shape \(3,\) do not match input of shape \(2, 3\)"),
    (lambda: F.nll_loss(np.zeros(3), [0]), ValueError, r"shape \(N, C\), got \(3,\)"),
    (lambda: F.nll_loss(np.zeros((2, 3)), [0, 1], weight=[1.0, 2.0]), ValueError,
     r"weight must have shape \(3,\) for input of shape \(2, 3\), got \(2,\)"),
    (lambda: F.nll_loss(np.zeros((2, 3)), [0, 1], reduction="avg"), ValueError, "reduction"),
    (lambda: F.cross_entropy(np.zeros((2, 3)), [-100, 3]), ValueError,
     "cross_entropy: label 3 is out of range"),
    (lambda: F.cross_entropy(np.zeros((2, 3)), [0, 1], label_smoothing=1.5), ValueError,
     "label_smoothing must be in"),
    (lambda: F.cross_entropy(np.zeros((2, 3)), [0, 1], weight=Tensor(W[:3], requires_grad=True)),
     RuntimeError, "weight carries no gradient"),
    (lambda: F.binary_cross_entropy(Tensor([0.5, 1.5]), np.ones(2)), ValueError,
     r"every element of input must be in \[0, 1\], got 1.5"),
    (lambda: F.binary_cross_entropy(Tensor([0.5, np.nan]), np.ones(2)), ValueError,
     "got nan"),
    (lambda: F.binary_cross_entropy(Tensor([0.5, 0.5]), np.array([1.0, -0.5])), ValueError,
     "every element of target must be in"),
    (lambda: F.binary_cross_entropy(Tensor(np.ones((3, 1)) / 2), np.ones(3)), ValueError,
     r"\(3, 1\) and \(3,\)"),
    (lambda: F.binary_cross_entropy(Tensor([0.5, 0.5]), np.ones(2), weight=np.ones(3)),
     ValueError, r"weight of shape \(3,\) does not broadcast"),
    (lambda: F.l1_loss(Tensor(np.zeros((3, 1))), np.zeros(3)), ValueError,
     r"l1_loss: .*\(3, 1\) and \(3,\)"),
    (lambda: F.huber_loss(Tensor(np.zeros(3)), np.zeros((3, 1))), ValueError,
     r"huber_loss: .*\(3,\) and \(3, 1\)"),
    (lambda: F.huber_loss(Tensor(np.zeros(3)), np.zeros(3), delta=0.0), ValueError,
     "delta must be > 0"),
    (lambda: nn.HuberLoss(delta=-1.0), ValueError, "delta must be > 0"),
    (lambda: nn.CrossEntropyLoss("sum"), TypeError, "keyword"),
    (lambda: F.cross_entropy(np.zeros((2, 3)), [0, 1], W[:3]), TypeError,
     "cross_entropy: reduction must be one of .* got ndarray .*keyword"),
    (lambda: nn.NLLLoss(reduction="avg"), ValueError, "NLLLoss: reduction"),
    (lambda: nn.BCELoss(weight=Tensor([1.0], requires_grad=True)), RuntimeError,
     "weight carries no gradient"),
])
def test_bad_loss_arguments_are_clear_errors(call_, kind, message):
    with pytest.raises(kind, match=message):
        call_()


def test_the_new_losses_on_an_empty_batch_follow_the_documented_rule(strict_numpy):
    empty = np.zeros((0, 3))
    for loss in (lambda r: F.nll_loss(empty, [], reduction=r),
                 lambda r: F.cross_entropy(empty, [], label_smoothing=0.1, reduction=r),
                 lambda r: F.binary_cross_entropy(empty, empty, reduction=r),
                 lambda r: F.l1_loss(empty, empty, reduction=r),
                 lambda r: F.huber_loss(empty, empty, reduction=r)):
        assert math.isnan(loss("mean").item())
        assert loss("sum").item() == 0.0
        assert loss("none").size == 0
