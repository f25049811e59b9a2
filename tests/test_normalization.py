"""nn/normalization.py: LayerNorm and BatchNorm1d against PyTorch (values, gradients, running
statistics; the fixture written by tests/fixtures/make_nn_layers.py) and finite differences."""

from pathlib import Path

import numpy as np
import pytest

import nn
from autograd import Tensor, gradcheck
from nn import functional as F

FIX = np.load(Path(__file__).parent / "fixtures" / "nn_layers.npz")
TOL = dict(rtol=1e-12, atol=1e-14)


def step(case, layer):
    """One forward/backward of the fixture's case; compares output, gradients, buffers."""
    x = Tensor(FIX[f"{case}/x"], requires_grad=True)
    layer.zero_grad()
    y = layer(x)
    (y * FIX[f"{case}/u"]).sum().backward()
    np.testing.assert_allclose(y.data, FIX[f"{case}/out"], **TOL)
    np.testing.assert_allclose(x.grad, FIX[f"{case}/dx"], **TOL)
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, FIX[f"{case}/grad/{name}"], **TOL, err_msg=name)
    for name, b in layer.named_buffers():
        expected = FIX[f"{case}/buffer/{name}"]
        assert b.dtype == expected.dtype and b.shape == expected.shape, name
        np.testing.assert_allclose(b.data, expected, **TOL, err_msg=name)
    assert sorted(n for n, _ in layer.named_buffers()) == sorted(
        k.rsplit("/", 1)[1] for k in FIX.files if k.startswith(f"{case}/buffer/"))


def load_params(layer, case):
    layer.load_state_dict({n: FIX[f"{case}/param/{n}"] for n, _ in layer.named_parameters()},
                          strict=False)


# ----- LayerNorm -------------------------------------------------------------------------------
@pytest.mark.parametrize("case, make", [
    ("layer_norm", lambda: nn.LayerNorm(4)),
    ("layer_norm_2d", lambda: nn.LayerNorm((3, 4), eps=1e-3)),
    ("layer_norm_no_affine", lambda: nn.LayerNorm(4, elementwise_affine=False)),
    ("layer_norm_no_bias", lambda: nn.LayerNorm([4], bias=False))])
def test_layer_norm_matches_pytorch_on_values_and_gradients(case, make):
    ln = make()
    assert [n for n, _ in ln.named_parameters()] == [
        k.rsplit("/", 1)[1] for k in FIX.files if k.startswith(f"{case}/param/")]
    load_params(ln, case)
    assert ln.eps == FIX[f"{case}/eps"]
    step(case, ln)
    ln.eval()  # the same in evaluation
    step(case, ln)


def test_layer_norm_defaults_names_and_errors():
    ln = nn.LayerNorm(3)
    assert ln.normalized_shape == (3,) and ln.eps == 1e-5 and ln.elementwise_affine
    assert list(ln.state_dict()) == ["weight", "bias"]
    np.testing.assert_array_equal(ln.weight.data, np.ones(3))
    np.testing.assert_array_equal(ln.bias.data, np.zeros(3))
    assert repr(ln) == "LayerNorm((3,), eps=1e-05, elementwise_affine=True)"
    assert nn.LayerNorm(3, dtype=np.float32)(np.ones((2, 3), np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match=r"layer_norm: expected an input of shape \(\*, 3\) for "
                                         r"normalized_shape \(3,\), got \(2, 4\)"):
        ln(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"got \(3,\)"):
        nn.LayerNorm((2, 3))(np.ones(3))


def test_layer_norm_matches_finite_differences_to_second_order():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal(4), rng.standard_normal(4)
    assert gradcheck(lambda x, w, b: F.layer_norm(x, 4, w, b), x, w, b, order=2)
    assert gradcheck(lambda x: F.layer_norm(x, (3, 4), eps=0.0), x, order=2)


def test_layer_norm_of_a_constant_row_is_zero_and_finite(strict_numpy):
    x = Tensor([[5.0, 5.0, 5.0], [1e10, 1e10, 1e10]], requires_grad=True)
    y = nn.LayerNorm(3)(x)
    y.sum().backward()
    np.testing.assert_array_equal(y.data, np.zeros((2, 3)))
    assert np.all(np.isfinite(x.grad))


# ----- BatchNorm1d -----------------------------------------------------------------------------
BATCH_NORMS = {
    "batch_norm_2d": lambda: nn.BatchNorm1d(3),
    "batch_norm_3d": lambda: nn.BatchNorm1d(3),
    "batch_norm_momentum_none": lambda: nn.BatchNorm1d(3, momentum=None),
    "batch_norm_no_affine": lambda: nn.BatchNorm1d(3, eps=1e-3, momentum=0.3, affine=False),
    "batch_norm_untracked": lambda: nn.BatchNorm1d(3, track_running_stats=False),
}


@pytest.mark.parametrize("case", sorted(BATCH_NORMS))
def test_batch_norm_matches_pytorch_in_training_then_evaluation(case):
    """Two training steps (batch statistics, running statistics updated) then one in eval mode
    (running statistics): outputs, gradients and buffers after each step."""
    bn = BATCH_NORMS[case]()
    load_params(bn, f"{case}/0")
    for i, training in enumerate([True, True, False]):
        bn.train(training)
        step(f"{case}/{i}", bn)


def test_batch_norm_defaults_names_and_state_dict_order():
    bn = nn.BatchNorm1d(4)
    assert (bn.eps, bn.momentum, bn.affine, bn.track_running_stats) == (1e-5, 0.1, True, True)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked.shape == ()
    np.testing.assert_array_equal(bn.running_var.data, np.ones(4))
    assert repr(bn) == ("BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, "
                        "track_running_stats=True)")
    untracked = nn.BatchNorm1d(4, affine=False, track_running_stats=False)
    assert untracked.state_dict() == {} and untracked.running_mean is None
    seq = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4))
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias",
                                      "1.running_mean", "1.running_var",
                                      "1.num_batches_tracked"]


def test_batch_norm_in_eval_mode_changes_nothing_and_sends_no_gradient_to_its_statistics():
    bn = nn.BatchNorm1d(2)
    bn(np.array([[1.0, 2.0], [3.0, 5.0]]))
    before = {k: v.copy() for k, v in bn.state_dict().items()}
    bn.eval()
    x = Tensor([[0.5, 1.0]], requires_grad=True)  # one sample is fine in eval mode
    bn(x).sum().backward()
    for k, v in bn.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    assert all(b.grad is None for b in bn.buffers())
    np.testing.assert_allclose(x.grad[0], 1.0 / np.sqrt(bn.running_var.data + 1e-5), rtol=1e-15)


def test_batch_norm_refuses_bad_inputs_and_then_counts_nothing():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match=r"batch_norm: expected a 2-d \(N, C\) or 3-d \(N, C, L\) "
                                         r"input, got shape \(2, 3, 4, 5\)"):
        bn(np.ones((2, 3, 4, 5)))
    with pytest.raises(ValueError, match=r"running_mean has shape \(3,\), but the input of shape "
                                         r"\(2, 4\) has 4 channels"):
        bn(np.ones((2, 4)))
    with pytest.raises(ValueError, match="expected more than 1 value per channel when training, "
                                         r"got an input of shape \(1, 3\)"):
        bn(np.ones((1, 3)))
    assert bn.num_batches_tracked.data == 0
    np.testing.assert_array_equal(bn.running_mean.data, np.zeros(3))
    bn(np.ones((1, 3, 2)))  # two values per channel: accepted
    assert bn.num_batches_tracked.data == 1
    with pytest.raises(ValueError, match="evaluation .* needs running_mean and running_var"):
        F.batch_norm(np.ones((2, 3)), None, None)


def test_batch_norm_matches_finite_differences_in_training_and_evaluation():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((4, 3, 2)), rng.uniform(0.5, 2, 3), rng.standard_normal(3)
    assert gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                     x, w, b, order=2)
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    assert gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b), x[:, :, 0], w, b)


def test_batch_norm_float32_and_to():
    bn = nn.BatchNorm1d(3, dtype=np.float32)
    assert all(t.dtype == np.float32 for t in [*bn.parameters(), bn.running_mean,
                                                bn.running_var])
    assert bn(np.ones((2, 3), np.float32)).dtype == np.float32
    bn.double()
    assert bn.running_var.dtype == np.float64 and bn.num_batches_tracked.dtype == np.int64


def test_batch_norm_running_statistics_survive_save_and_load(tmp_path):
    bn = nn.BatchNorm1d(2)
    for seed in range(3):
        bn(np.random.default_rng(seed).standard_normal((5, 2)))
    bn.save(tmp_path / "bn.npz")
    other = nn.BatchNorm1d(2).load(tmp_path / "bn.npz")
    for (k, v), w in zip(bn.state_dict().items(), other.state_dict().values()):
        np.testing.assert_array_equal(v, w, err_msg=k)
    assert other.num_batches_tracked.data == 3
    other.eval()
    bn.eval()
    np.testing.assert_array_equal(other(np.ones((1, 2))).data, bn(np.ones((1, 2))).data)


# ----- property tests: finite differences over shapes and values -----------------------------
def test_layer_norm_and_batch_norm_gradients_on_any_batch():
    from hypothesis import strategies as st

    from autograd.testing import arrays, check_gradients

    shapes = st.tuples(st.integers(2, 4), st.integers(1, 3), st.integers(1, 3))
    check_gradients(lambda x: F.layer_norm(x, x.shape[-1:]), arrays(shapes), max_examples=25)
    check_gradients(lambda x: F.batch_norm(x, None, None, training=True), arrays(shapes),
                    max_examples=25)
