"""nn.utils.clip_grad_norm_: PyTorch's name and semantics, against its results on the cases in
tests/fixtures/optim.npz (written by tests/fixtures/make_optim.py)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

import nn
from autograd import Tensor
from nn.utils import clip_grad_norm_

FIXTURE = np.load(Path(__file__).parent / "fixtures" / "optim.npz")
CLIPS = json.loads(str(FIXTURE["cases"]))["clips"]


def params_with_grads():
    ps = [nn.Parameter(FIXTURE[f"p0/{i}"]) for i in range(3)]
    for i in (0, 2):
        ps[i].grad = FIXTURE[f"grad/0/{i}"].copy()
    return ps  # parameter 1 has no gradient: it is ignored


@pytest.mark.parametrize("name", list(CLIPS))
def test_clip_grad_norm_equals_pytorchs(name):
    max_norm, norm_type = CLIPS[name]
    ps = params_with_grads()
    held = ps[0].grad
    total = clip_grad_norm_(ps, max_norm, float(norm_type))
    assert isinstance(total, float)
    np.testing.assert_allclose(total, FIXTURE[f"clip/{name}/total"], rtol=1e-12)
    for i in (0, 2):
        np.testing.assert_allclose(ps[i].grad, FIXTURE[f"clip/{name}/grad{i}"], rtol=1e-12)
    assert ps[1].grad is None
    np.testing.assert_array_equal(held, FIXTURE["grad/0/0"])  # a new array, not written


def test_the_clipped_norm_is_max_norm_and_below_it_nothing_changes():
    ps = params_with_grads()
    clip_grad_norm_(ps, 0.5)
    assert math.hypot(*(np.linalg.norm(p.grad) for p in ps if p.grad is not None)) == \
        pytest.approx(0.5, rel=1e-5)
    before = [p.grad for p in ps]
    clip_grad_norm_(ps, 100.0)
    assert all(p.grad is g for p, g in zip(ps, before))


def test_the_old_name_is_the_same_function_and_a_generator_or_one_tensor_works():
    assert nn.clip_grad_norm is clip_grad_norm_ and nn.utils.clip_grad_norm_ is clip_grad_norm_
    p = nn.Parameter([3.0, 4.0])
    p.grad = np.array([3.0, 4.0])
    assert clip_grad_norm_(p, 1.0) == 5.0
    q = nn.Parameter([0.0])
    assert clip_grad_norm_((x for x in [q]), 1.0) == 0.0  # no gradient at all: 0.0


def test_gradients_recorded_with_create_graph_are_clipped_as_tensors():
    x = Tensor([3.0, 4.0], requires_grad=True)
    (x * x).sum().backward(create_graph=True)
    assert isinstance(x.grad, Tensor)
    assert clip_grad_norm_([x], 5.0) == 10.0
    assert isinstance(x.grad, Tensor)
    np.testing.assert_allclose(x.grad.data, [3.0, 4.0], rtol=1e-6)


def test_a_non_finite_norm_makes_nan_gradients_or_raises_when_asked():
    p = nn.Parameter([1.0, 2.0])
    p.grad = np.array([np.inf, 1.0])
    with pytest.warns(RuntimeWarning, match="invalid value"):  # numpy's word for inf * 0
        assert clip_grad_norm_([p], 1.0) == math.inf
    assert np.isnan(p.grad[0]) and p.grad[1] == 0.0  # inf * 0 and 1 * 0, as PyTorch
    p.grad = np.array([np.nan, 1.0])
    with pytest.raises(RuntimeError, match="total norm of order 2.0 of the gradients is nan"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert p.grad[1] == 1.0


def test_non_tensors_are_refused():
    with pytest.raises(TypeError, match="clip_grad_norm_: expected Tensors, got Linear"):
        clip_grad_norm_([nn.Linear(2, 2)], 1.0)
