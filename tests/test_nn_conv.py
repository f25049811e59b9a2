"""nn.Conv2d, MaxPool2d, AvgPool2d and their functional forms: against PyTorch (values and
gradients, from tests/fixtures/conv.npz, made by tests/fixtures/make_conv.py), against finite
differences, and their errors."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F
from autograd import Tensor, gradcheck

FIXTURE = np.load(Path(__file__).parent / "fixtures" / "conv.npz")
CONFIGS = json.loads(str(FIXTURE["configs"]))
TOL = dict(rtol=1e-12, atol=1e-12)


def leaf(a):
    return Tensor(a, requires_grad=True)


def _kw(kw):
    """JSON made the pairs lists."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}


# ----- against PyTorch -------------------------------------------------------------------------
@pytest.mark.parametrize("i", range(len(CONFIGS["conv"])))
def test_conv2d_values_and_gradients_equal_pytorchs(i):
    _, _, has_bias, kw = CONFIGS["conv"][i]
    f = {k: FIXTURE[f"conv{i}_{k}"] for k in ("x", "w", "y", "u", "gx", "gw")}
    x, w = leaf(f["x"]), leaf(f["w"])
    b = leaf(FIXTURE[f"conv{i}_b"]) if has_bias else None
    y = F.conv2d(x, w, b, **_kw(kw))
    np.testing.assert_allclose(y.data, f["y"], **TOL)
    (y * f["u"]).sum().backward()
    np.testing.assert_allclose(x.grad, f["gx"], **TOL)
    np.testing.assert_allclose(w.grad, f["gw"], **TOL)
    if has_bias:
        np.testing.assert_allclose(b.grad, FIXTURE[f"conv{i}_gb"], **TOL)


@pytest.mark.parametrize("kind, i", [(k, i) for k in ("max", "avg")
                                     for i in range(len(CONFIGS[k]))])
def test_pooling_values_and_gradients_equal_pytorchs(kind, i):
    _, kw = CONFIGS[kind][i]
    fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    x = leaf(FIXTURE[f"{kind}{i}_x"])
    y = fn(x, **_kw(kw))
    np.testing.assert_allclose(y.data, FIXTURE[f"{kind}{i}_y"], **TOL)
    (y * FIXTURE[f"{kind}{i}_u"]).sum().backward()
    np.testing.assert_allclose(x.grad, FIXTURE[f"{kind}{i}_gx"], **TOL)


def _net():
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 4, 3, padding="same", groups=2), nn.AvgPool2d(2))


def test_a_small_cnn_loaded_from_a_torch_state_dict_computes_what_torch_did():
    state = {k[len("net_state."):]: FIXTURE[k] for k in FIXTURE.files
             if k.startswith("net_state.")}
    net = _net()
    nn.from_torch_state_dict(net, state)  # the same layout as torch: nothing transposed
    x = leaf(FIXTURE["net_x"])
    y = net(x)
    np.testing.assert_allclose(y.data, FIXTURE["net_y"], **TOL)
    (y * FIXTURE["net_u"]).sum().backward()
    np.testing.assert_allclose(x.grad, FIXTURE["net_gx"], **TOL)
    for name, p in net.named_parameters():
        np.testing.assert_allclose(p.grad, FIXTURE[f"net_grad.{name}"], **TOL)
    back = nn.to_torch_state_dict(net)
    assert back.keys() == state.keys()
    for k, v in state.items():
        np.testing.assert_array_equal(back[k], v)
    with pytest.raises(ValueError):  # a weight of another shape is refused, nothing loaded
        nn.from_torch_state_dict(net, state | {"0.weight": state["0.weight"].transpose(1, 0,
                                                                                       2, 3)})
    np.testing.assert_array_equal(net[0].weight.data, state["0.weight"])


# ----- against finite differences, to second order ---------------------------------------------
CONV_CASES = [
    ((2, 2, 5, 4), (3, 2, 2, 3), dict(stride=(2, 1), padding=1)),
    ((1, 4, 5, 5), (4, 2, 3, 2), dict(dilation=(2, 1), groups=2, padding=(1, 0))),
    ((3, 4, 4), (2, 3, 3, 3), dict(padding="same")),
]


@pytest.mark.parametrize("xs, ws, kw", CONV_CASES)
def test_conv2d_gradients_match_finite_differences_to_second_order(xs, ws, kw):
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=xs), rng.normal(size=ws), rng.normal(size=ws[0])
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw).tanh(), x, w, b, order=2)


def test_pooling_gradients_match_finite_differences_to_second_order():
    x = np.random.default_rng(1).permutation(2 * 3 * 5 * 4).reshape(2, 3, 5, 4) / 7.0
    assert gradcheck(lambda t: F.max_pool2d(t, 3, 2, 1).tanh(), x, order=2)  # no ties
    assert gradcheck(lambda t: F.max_pool2d(t, (2, 3), 1, dilation=(2, 1)) ** 2, x, order=2)
    assert gradcheck(lambda t: F.avg_pool2d(t, (3, 2), (1, 2), (1, 1)).sin(), x, order=2)


def test_conv2d_hessian_vector_product_is_the_finite_difference_of_its_gradient():
    rng = np.random.default_rng(2)
    x, w0, v = rng.normal(size=(2, 2, 5, 5)), rng.normal(size=(3, 2, 3, 3)), \
        rng.normal(size=(3, 2, 3, 3))
    loss = lambda w: (F.max_pool2d(F.conv2d(x, w, padding=1).tanh(), 2) ** 2).sum()
    hv = ag.hvp(loss, w0, v)
    eps = 1e-6
    fd = (ag.grad(loss)(w0 + eps * v) - ag.grad(loss)(w0 - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv, fd, rtol=1e-6, atol=1e-8)


# ----- layers ------------------------------------------------------------------------------------
def test_conv2d_layer_has_pytorchs_layout_and_default_ranges():
    m = nn.Conv2d(6, 8, (3, 2), groups=2, seed=0)
    assert m.weight.shape == (8, 3, 3, 2) and m.bias.shape == (8,)
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    bound = 1 / math.sqrt(3 * 3 * 2)  # fan_in = in_channels / groups * kh * kw
    big = nn.Conv2d(6, 400, (3, 2), groups=2, seed=0)
    for p in (big.weight.data, big.bias.data):
        assert np.abs(p).max() <= bound and np.abs(p).max() > 0.97 * bound
    rng = np.random.default_rng(0)  # drawn as Linear draws: weight first, then bias
    np.testing.assert_array_equal(m.weight.data, rng.uniform(-bound, bound, (8, 3, 3, 2)))
    np.testing.assert_array_equal(m.bias.data, rng.uniform(-bound, bound, 8))
    np.testing.assert_array_equal(nn.Conv2d(6, 8, (3, 2), groups=2, seed=0).weight.data,
                                  m.weight.data)
    assert nn.Conv2d(1, 2, 3, bias=False).bias is None
    m32 = nn.Conv2d(1, 2, 3, dtype=np.float32, seed=0)
    assert m32.weight.dtype == np.float32
    assert m32(np.ones((1, 1, 4, 4), np.float32)).dtype == np.float32


def test_layers_call_their_functional_forms():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 4, 7, 6))
    m = nn.Conv2d(4, 6, 3, stride=2, padding=(1, 2), dilation=(1, 2), groups=2, seed=1)
    np.testing.assert_array_equal(
        m(x).data, F.conv2d(x, m.weight, m.bias, 2, (1, 2), (1, 2), 2).data)
    np.testing.assert_array_equal(nn.MaxPool2d(3, 2, 1)(x).data, F.max_pool2d(x, 3, 2, 1).data)
    np.testing.assert_array_equal(nn.AvgPool2d(2)(x).data, F.avg_pool2d(x, 2, 2).data)
    assert repr(m) == ("Conv2d(4, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 2), "
                       "dilation=(1, 2), groups=2)")
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1)"
    assert repr(nn.AvgPool2d(3, 1)) == "AvgPool2d(kernel_size=3, stride=1, padding=0)"


def test_unbatched_inputs_give_unbatched_outputs():
    x = np.random.default_rng(4).normal(size=(2, 5, 5))
    m = nn.Conv2d(2, 3, 3, seed=0)
    assert m(x).shape == (3, 3, 3)
    np.testing.assert_array_equal(m(x).data, m(x[None]).data[0])
    assert F.max_pool2d(x, 2).shape == F.avg_pool2d(x, 2).shape == (2, 2, 2)


def test_a_convolution_is_a_few_tape_entries_whatever_its_size():
    x = leaf(np.ones((4, 3, 16, 16)))
    y = F.conv2d(x, leaf(np.ones((8, 3, 3, 3))), leaf(np.zeros(8)), padding=1)
    ops, n = [], y
    while n.op:
        ops.append(n.op)
        n = n.inputs[1] if n.op == "linear" else n.inputs[0]
    assert ops == ["reshape", "linear", "reshape", "windows", "pad"]


def test_the_output_never_aliases_the_input():
    x = Tensor(np.ones((1, 1, 3, 3)))
    y = F.max_pool2d(x, 1)
    y.data[...] = 5.0
    assert np.all(x.data == 1.0)
    z = leaf(np.ones((1, 1, 3, 3)))
    out = F.avg_pool2d(z, 1)
    with ag.no_grad():
        out *= 2.0  # the windows' copy changes, z does not: its gradient is as recorded
    out.sum().backward()
    np.testing.assert_array_equal(z.grad, np.ones((1, 1, 3, 3)))


def test_max_pool_splits_the_gradient_between_tied_maxima():
    """The max op's rule (PyTorch gives all of it to one of them)."""
    x = leaf([[[[1.0, 1.0], [0.0, 1.0]]]])
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_allclose(x.grad, [[[[1 / 3, 1 / 3], [0.0, 1 / 3]]]])


# ----- errors ------------------------------------------------------------------------------------
def test_a_wrong_channel_count_is_a_value_error_naming_the_shapes():
    with pytest.raises(ValueError, match=r"conv2d: the input of shape \(1, 3, 5, 5\) has 3 "
                                         r"channels, but the weight of shape \(4, 2, 3, 3\)"):
        nn.Conv2d(2, 4, 3)(np.ones((1, 3, 5, 5)))
    with pytest.raises(ValueError, match=r"conv2d: .*groups=2 expects 4"):
        F.conv2d(np.ones((1, 3, 5, 5)), np.ones((4, 2, 3, 3)), groups=2)


def test_a_kernel_bigger_than_the_padded_input_is_a_value_error():
    with pytest.raises(ValueError, match=r"conv2d: the kernel of size \(3, 3\) \(dilated: "
                                         r"\(5, 5\)\) is bigger than the padded input of size "
                                         r"\(6, 4\) \(input shape \(1, 1, 4, 2\)"):
        F.conv2d(np.ones((1, 1, 4, 2)), np.ones((1, 1, 3, 3)), padding=1, dilation=2)
    with pytest.raises(ValueError, match=r"max_pool2d: the kernel of size \(3, 3\)"):
        F.max_pool2d(np.ones((1, 1, 2, 2)), 3)
    with pytest.raises(ValueError, match=r"avg_pool2d: the kernel of size \(1, 4\)"):
        nn.AvgPool2d((1, 4))(np.ones((2, 3, 3)))


def test_channels_not_divisible_by_groups_are_a_value_error():
    with pytest.raises(ValueError, match="Conv2d: in_channels=3 and out_channels=4 must both "
                                         "be divisible by groups=2"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="Conv2d: .*groups=2"):
        nn.Conv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match=r"conv2d: 3 output channels \(weight of shape "
                                         r"\(3, 2, 1, 1\)\) are not divisible by groups=2"):
        F.conv2d(np.ones((1, 4, 2, 2)), np.ones((3, 2, 1, 1)), groups=2)


def test_other_bad_arguments_are_clear_errors():
    x = np.ones((1, 1, 4, 4))
    w = np.ones((1, 1, 2, 2))
    with pytest.raises(ValueError, match=r"conv2d: expected a 3-d \(C, H, W\) or 4-d .* got "
                                         r"shape \(4, 4\)"):
        F.conv2d(np.ones((4, 4)), w)
    with pytest.raises(ValueError, match=r"conv2d: weight must be 4-d .* got shape \(2, 2\)"):
        F.conv2d(x, np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"conv2d: bias must have shape \(1,\) .* got \(2,\)"):
        F.conv2d(x, w, np.ones(2))
    with pytest.raises(ValueError, match="conv2d: padding='same' needs stride 1"):
        F.conv2d(x, w, padding="same", stride=2)
    with pytest.raises(ValueError, match="Conv2d: padding='same' needs stride 1"):
        nn.Conv2d(1, 1, 2, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding must be an int, a pair, 'valid' or 'same'"):
        F.conv2d(x, w, padding="full")
    with pytest.raises(ValueError, match=r"conv2d: stride must be at least 1, got \(1, 0\)"):
        F.conv2d(x, w, stride=(1, 0))
    with pytest.raises(ValueError, match="conv2d: padding must be at least 0"):
        F.conv2d(x, w, padding=-1)
    with pytest.raises(TypeError, match="conv2d: dilation must be an int or a pair of ints"):
        F.conv2d(x, w, dilation=1.5)
    with pytest.raises(ValueError, match="conv2d: groups must be a positive int"):
        F.conv2d(x, w, groups=0)
    with pytest.raises(ValueError, match="MaxPool2d: padding 2 must be at most half the kernel"):
        nn.MaxPool2d(3, padding=2)
    with pytest.raises(ValueError, match=r"avg_pool2d: padding \(0, 2\) must be at most half"):
        F.avg_pool2d(x, (2, 3), padding=(0, 2))
    with pytest.raises(ValueError, match=r"max_pool2d: expected .* got shape \(4,\)"):
        F.max_pool2d(np.ones(4), 2)


# ----- the graph's bookkeeping: in-place changes, weight files, integer images -------------------
def test_a_weight_changed_in_place_before_backward_is_caught():
    m = nn.Conv2d(1, 2, 3, seed=0)
    loss = m(np.ones((1, 1, 4, 4))).sum()
    with ag.no_grad():
        m.weight -= 0.1  # as an optimizer step would, between forward and backward
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_a_cnn_saves_and_loads_its_weights(tmp_path):
    net = _net()
    x = np.random.default_rng(5).normal(size=(2, 2, 8, 8))
    net.save(tmp_path / "cnn.npz")
    other = _net()
    other.load(tmp_path / "cnn.npz")
    np.testing.assert_array_equal(other(x).data, net(x).data)


def test_integer_images_are_convolved_and_pooled_as_floats():
    x = np.arange(32).reshape(2, 1, 4, 4)
    m = nn.Conv2d(1, 2, 3, padding=1, seed=0)
    np.testing.assert_allclose(m(x).data, m(x.astype(float)).data, rtol=1e-15)
    np.testing.assert_array_equal(F.max_pool2d(x, 3, 1, 1).data,
                                  F.max_pool2d(x.astype(float), 3, 1, 1).data)
    assert F.max_pool2d(x, 2).dtype == x.dtype  # no float where none came in, as in numpy


def test_avg_pool_can_leave_the_padding_out_of_the_mean():
    x = np.ones((1, 1, 3, 3), np.float32)
    m = nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    assert repr(m) == "AvgPool2d(kernel_size=3, stride=1, padding=1, count_include_pad=False)"
    y = m(x)
    assert y.dtype == np.float32  # the divisors are cast: float32 stays float32
    np.testing.assert_array_equal(y.data, np.ones((1, 1, 3, 3)))  # ones: the mean of ones
    np.testing.assert_allclose(nn.AvgPool2d(3, 1, 1)(x).data[0, 0],
                               [[4 / 9, 6 / 9, 4 / 9], [6 / 9, 1, 6 / 9], [4 / 9, 6 / 9, 4 / 9]],
                               rtol=1e-6)
