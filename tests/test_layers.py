"""nn/layers.py's layers of issue 15 (Flatten, Identity, LeakyReLU, GELU, Softmax, LogSoftmax,
Embedding) and MLP's activations: values and gradients against PyTorch's (the fixture written
by tests/fixtures/make_nn_layers.py) and against finite differences. The older layers are
tested in test_nn.py."""

import copy
import warnings
from pathlib import Path

import numpy as np
import pytest

import nn
from autograd import Tensor, gradcheck
from nn import functional as F

FIX = np.load(Path(__file__).parent / "fixtures" / "nn_layers.npz")
# (atol: where tanh-GELU's 1 + tanh(z) cancels, at x ~ -6, both libraries keep few digits of a
# derivative of ~1e-9; each differs from the other there by an ulp of tanh's, ~1e-15)
TOL = dict(rtol=1e-12, atol=1e-14)


def against_torch(case, layer):
    """layer's output and input gradient for the fixture's x and upstream u, vs PyTorch's."""
    x = Tensor(FIX[f"{case}/x"], requires_grad=True)
    y = layer(x)
    (y * FIX[f"{case}/u"]).sum().backward()
    np.testing.assert_allclose(y.data, FIX[f"{case}/out"], **TOL)
    np.testing.assert_allclose(x.grad, FIX[f"{case}/dx"], **TOL)
    assert y.dtype == np.float64
    return y, x


# ----- activations, Flatten, Identity against PyTorch ------------------------------------------
@pytest.mark.parametrize("case, layer", [
    ("leaky_relu", nn.LeakyReLU()), ("leaky_relu_0.2", nn.LeakyReLU(0.2)),
    ("gelu", nn.GELU()), ("gelu_tanh", nn.GELU(approximate="tanh")),
    *[(f"softmax_{d}", nn.Softmax(dim=d)) for d in (0, 1, -1)],
    *[(f"log_softmax_{d}", nn.LogSoftmax(dim=d)) for d in (0, 1, -1)],
    ("flatten", nn.Flatten()), ("flatten_1_2", nn.Flatten(1, 2)), ("flatten_0", nn.Flatten(0)),
])
def test_layer_matches_pytorch_on_values_and_gradients(case, layer):
    against_torch(case, layer)


def test_leaky_relu_gradient_at_zero_is_the_slope_as_in_pytorch():
    x = Tensor([0.0, -0.0, 2.0, -2.0], requires_grad=True)
    nn.LeakyReLU(0.2)(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.2, 0.2, 1.0, 0.2])


def test_softmax_of_logits_of_1000_is_finite_and_exact(strict_numpy):
    x = Tensor([[1000.0, 1000.0, -1000.0, 0.0]], requires_grad=True)
    y = nn.Softmax(dim=1)(x)
    np.testing.assert_array_equal(y.data, [[0.5, 0.5, 0.0, 0.0]])
    (y * np.array([1.0, 0.0, 0.0, 0.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.25, -0.25, 0.0, 0.0]])
    np.testing.assert_array_equal(nn.LogSoftmax(dim=1)(x).data,
                                  [[-np.log(2), -np.log(2), -2000.0 - np.log(2),
                                    -1000.0 - np.log(2)]])


def test_gelu_is_finite_at_plus_minus_1000(strict_numpy):
    for approximate in ("none", "tanh"):
        x = Tensor([1000.0, -1000.0], requires_grad=True)
        y = nn.GELU(approximate)(x)
        y.sum().backward()
        np.testing.assert_array_equal(y.data, [1000.0, 0.0])
        np.testing.assert_array_equal(x.grad, [1.0, 0.0])


@pytest.mark.parametrize("f", [
    lambda x: F.leaky_relu(x, 0.3), lambda x: F.gelu(x), lambda x: F.gelu(x, "tanh"),
    lambda x: F.softmax(x, 0), lambda x: F.log_softmax(x, 1), lambda x: nn.Flatten(0)(x)])
def test_activations_match_finite_differences_to_second_order(f):
    x = np.random.default_rng(0).uniform(-3, 3, (3, 4))
    x[np.abs(x) < 0.05] = 0.5  # away from leaky_relu's kink
    assert gradcheck(f, x, order=2)


def test_activations_keep_float32():
    x = np.ones((2, 3), np.float32)
    for layer in (nn.LeakyReLU(), nn.GELU(), nn.GELU("tanh"), nn.Softmax(1), nn.LogSoftmax(1),
                  nn.Flatten(0)):
        assert layer(x).dtype == np.float32, layer


def test_softmax_without_dim_warns_and_takes_pytorchs_implicit_dim():
    x = np.arange(24.0).reshape(2, 3, 4)
    for layer, f in ((nn.Softmax(), F.softmax), (nn.LogSoftmax(), F.log_softmax)):
        with pytest.warns(UserWarning, match="implicit dimension choice"):
            np.testing.assert_array_equal(layer(x).data, f(x, 0).data)  # 3-d: 0
        with pytest.warns(UserWarning):
            np.testing.assert_array_equal(layer(x[0]).data, f(x[0], 1).data)  # 2-d: 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.Softmax(dim=0)(x)


def test_flatten_and_identity():
    x = Tensor(np.zeros((2, 3, 0, 5)))
    assert nn.Flatten()(x).shape == (2, 0)
    assert nn.Flatten(0, -2)(x).shape == (0, 5)
    assert nn.Flatten(0)(Tensor(3.0)).shape == (1,)
    for start, end in ((4, -1), (1, 0), (-5, -1)):
        with pytest.raises(ValueError, match=rf"Flatten: start_dim={start} and end_dim={end} do "
                                             r"not name axes .* of shape \(2, 3, 0, 5\)"):
            nn.Flatten(start, end)(x)
    ident = nn.Identity(54, unused="argument")
    obj = object()
    assert ident(obj) is obj and ident(x) is x and list(ident.parameters()) == []
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    assert repr(nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    assert repr(nn.GELU("tanh")) == "GELU(approximate='tanh')"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"


def test_gelu_refuses_an_unknown_approximation():
    with pytest.raises(ValueError, match="GELU: approximate must be 'none' or 'tanh', got 'erf'"):
        nn.GELU("erf")
    with pytest.raises(ValueError, match="gelu: approximate must be"):
        F.gelu(np.ones(2), "fast")


# ----- Embedding -------------------------------------------------------------------------------
@pytest.mark.parametrize("case, padding_idx", [("embedding", None), ("embedding_pad", 1)])
def test_embedding_matches_pytorch_on_values_and_gradients(case, padding_idx):
    e = nn.Embedding(6, 3, padding_idx=padding_idx)
    assert [n for n, _ in e.named_parameters()] == ["weight"]
    e.load_state_dict({"weight": FIX[f"{case}/param/weight"]})
    y = e(FIX[f"{case}/idx"])
    (y * FIX[f"{case}/u"]).sum().backward()
    np.testing.assert_allclose(y.data, FIX[f"{case}/out"], **TOL)
    np.testing.assert_allclose(e.weight.grad, FIX[f"{case}/grad/weight"], **TOL)


def test_embedding_gradient_accumulates_and_skips_the_padding_row():
    e = nn.Embedding(4, 2, padding_idx=1, seed=0)
    np.testing.assert_array_equal(e.weight.data[1], [0.0, 0.0])  # starts at zero
    with_pad = e.weight.data.copy()
    with_pad[1] = 7.0  # a padding row set by hand is still looked up as it is
    e.load_state_dict({"weight": with_pad})
    y = e(Tensor(np.array([[0, 1, 0], [3, 1, 0]])))
    np.testing.assert_array_equal(y.data[0, 1], [7.0, 7.0])
    y.sum().backward()
    np.testing.assert_array_equal(e.weight.grad, [[3, 3], [0, 0], [0, 0], [1, 1]])
    w = np.random.default_rng(1).standard_normal((4, 2))
    idx = np.array([2, 1, 2, 0])
    # (not through a padding row: its output depends on it, but by design it gets no gradient)
    assert gradcheck(lambda w: F.embedding(idx, w), w, order=2)
    assert gradcheck(lambda w: F.embedding(idx, w, padding_idx=3), w, order=2)
    np.testing.assert_array_equal(F.embedding(idx, w).data, w[idx])  # an array weight too


def test_embedding_checks_its_indices_and_arguments():
    e = nn.Embedding(5, 2, seed=0)
    with pytest.raises(TypeError, match="embedding: indices must be integers, got dtype float64"):
        e(np.array([1.0]))
    for bad in (5, -1):
        with pytest.raises(ValueError, match=rf"embedding: index {bad} is out of range for 5 "):
            e(np.array([[0, bad]]))
    with pytest.raises(ValueError, match="padding_idx 5 is out of range for 5 embeddings"):
        nn.Embedding(5, 2, padding_idx=5)
    assert nn.Embedding(5, 2, padding_idx=-1).padding_idx == 4  # as PyTorch normalizes it
    assert e(np.zeros((2, 0), np.int64)).shape == (2, 0, 2)
    assert repr(nn.Embedding(5, 2, padding_idx=0)) == "Embedding(5, 2, padding_idx=0)"
    a, b = nn.Embedding(5, 2, seed=3), nn.Embedding(5, 2, seed=3, dtype=np.float32)
    assert b.weight.dtype == np.float32
    np.testing.assert_array_equal(a.weight.data.astype(np.float32), b.weight.data)


# ----- MLP's activation argument --------------------------------------------------------------
@pytest.mark.parametrize("activation, kind", [
    (nn.Tanh, nn.Tanh), ("tanh", nn.Tanh), ("relu", nn.ReLU), ("sigmoid", nn.Sigmoid),
    ("gelu", nn.GELU), ("leaky_relu", nn.LeakyReLU), (nn.LeakyReLU(0.2), nn.LeakyReLU),
    (lambda: nn.GELU("tanh"), nn.GELU)])
def test_mlp_takes_an_activation_class_instance_name_or_factory(activation, kind):
    m = nn.MLP([2, 3, 3, 1], activation, seed=0)
    acts = [m[1], m[3]]
    assert all(type(a) is kind for a in acts) and acts[0] is not acts[1]
    assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias",
                                                    "4.weight", "4.bias"]
    if isinstance(activation, nn.Module):  # copies, each its own; the instance is not used
        assert activation not in acts and acts[0].negative_slope == 0.2
    same = nn.MLP([2, 3, 3, 1], activation=None, seed=0)
    np.testing.assert_array_equal(m[0].weight.data, same[0].weight.data)


def test_mlp_refuses_an_unknown_activation_clearly():
    with pytest.raises(ValueError, match="MLP: unknown activation 'swish'; the names are 'relu', "
                                         "'tanh', 'sigmoid', 'gelu', 'leaky_relu'"):
        nn.MLP([2, 1], "swish")
    for bad in (3, int, np.tanh):
        with pytest.raises(TypeError, match="MLP: activation"):
            nn.MLP([2, 3, 1], bad)
    assert copy.deepcopy(nn.MLP([2, 3, 1], "gelu"))[1].approximate == "none"


# ----- property tests: finite differences over shapes and values -----------------------------
def test_gelu_and_leaky_relu_gradients_on_any_shape():
    from autograd.testing import array_shapes, arrays, check_gradients

    check_gradients(lambda x: F.gelu(x), arrays(array_shapes()), max_examples=25, order=2)
    check_gradients(lambda x: F.gelu(x, "tanh"), arrays(array_shapes()), max_examples=25)
    check_gradients(lambda x: F.leaky_relu(x, 0.1),
                    arrays(array_shapes(), away_from=(0,), margin=1e-2), max_examples=25)


# ----- the input's dtype ---------------------------------------------------------------------
def test_a_layer_refuses_a_floating_input_of_another_dtype_as_pytorch_does():
    model = nn.MLP([3, 4, 2], seed=0).float()
    x64 = np.ones((2, 3))
    with pytest.raises(TypeError, match=r"Linear: the input is float64 but the layer's "
                                        r"parameters are float32; .*model\.to\(np\.float64\)"):
        model(x64)  # an array
    with pytest.raises(TypeError, match=r"linear: the input is float64 but the weight is float32"
                                        r".*model\.to\(np\.float64\)"):
        model(Tensor(x64))
    with pytest.raises(TypeError, match=r"Linear: the input is float32 .* float64"):
        nn.Linear(3, 2, bias=False)(Tensor(x64.astype(np.float32)))
    assert model(x64.astype(np.float32)).dtype == np.float32
    assert model([[1.0, 2.0, 3.0]]).dtype == np.float32  # a list has no dtype: the layer's
    assert model(np.ones((1, 3), dtype=np.int64)).dtype == np.float32  # integers never widen
    conv = nn.Conv2d(1, 1, 3, seed=0).float()
    with pytest.raises(TypeError, match="Conv2d: the input is float64"):
        conv(np.ones((1, 1, 4, 4)))
    with pytest.raises(TypeError, match="LayerNorm: the input is float64"):
        nn.LayerNorm(3).float()(np.ones((2, 3)))
