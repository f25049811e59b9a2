"""nn: modules, layers, losses, optimizers, mini-batches, training and PyTorch interop.

Save/load lives in test_nn_io.py. Gradients are checked against a local central-difference
helper, so these tests do not depend on autograd.gradcheck.
"""

import contextlib
import itertools
import math
import warnings

import numpy as np
import pytest
from expressions import ATOL_1000, LOG3, Z, leaf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd
import nn
from autograd import Tensor, current_scope, no_grad
from nn import functional as F


def numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar function f at the float64 array x."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        hi = f(x)
        x[i] = old - eps
        lo = f(x)
        x[i] = old
        g[i] = (hi - lo) / (2 * eps)
    return g


def assert_grad_matches(loss_of, x0, atol=1e-6, rtol=1e-5):
    """The engine's gradient of loss_of (Tensor -> scalar Tensor) at x0 equals the numeric one."""
    t = Tensor(x0, requires_grad=True)
    loss_of(t).backward()
    expected = numeric_grad(lambda a: loss_of(Tensor(a)).item(), x0)
    np.testing.assert_allclose(t.grad, expected, atol=atol, rtol=rtol)


def params_bytes(module):
    return {n: p.data.tobytes() for n, p in module.named_parameters()}


# ----- Parameter and Module ------------------------------------------------------------------
def test_parameter_is_a_tensor_that_requires_grad():
    p = nn.Parameter([1.0, 2.0])
    assert isinstance(p, Tensor) and p.requires_grad and p.dtype == np.float64
    assert repr(p).startswith("Parameter(")
    assert not nn.Parameter([1.0], requires_grad=False).requires_grad
    with pytest.raises(TypeError):
        nn.Parameter([1, 2])  # integers cannot require grad
    y = (p * 2).sum()
    y.backward()
    np.testing.assert_array_equal(p.grad, [2.0, 2.0])


class Nested(nn.Module):
    def __init__(self):
        self.scale = nn.Parameter(1.0)
        self.blocks = [nn.Linear(2, 3, seed=0), [nn.Linear(3, 3, seed=1)]]
        self.heads = {"a": nn.Linear(3, 1, seed=2), "b": (nn.Parameter([0.5, 0.5]),)}
        self.not_a_param = Tensor([1.0], requires_grad=True)  # plain tensors are not collected
        self.note = "text"

    def forward(self, x):
        for b in (self.blocks[0], self.blocks[1][0]):
            x = b(x).tanh()
        return self.heads["a"](x) * self.scale


def test_parameters_are_found_in_nested_lists_dicts_and_tuples_in_assignment_order():
    names = [n for n, _ in Nested().named_parameters()]
    assert names == ["scale", "blocks.0.weight", "blocks.0.bias", "blocks.1.0.weight",
                     "blocks.1.0.bias", "heads.a.weight", "heads.a.bias", "heads.b.0"]
    m = Nested()
    assert [id(p) for p in m.parameters()] == [id(p) for _, p in m.named_parameters()]
    assert [n for n, _ in m.named_modules()] == ["", "blocks.0", "blocks.1.0", "heads.a"]
    assert len(list(m.modules())) == 4


def test_names_are_unique_stable_and_match_the_state_dict():
    m = Nested()
    first = [n for n, _ in m.named_parameters()]
    m(np.ones((4, 2)))
    assert [n for n, _ in m.named_parameters()] == first
    assert list(m.state_dict()) == first
    assert len(set(first)) == len(first)


def test_shared_parameters_and_modules_are_counted_once():
    a = nn.Linear(3, 3, seed=0)
    b = nn.Linear(3, 3, seed=1)
    b.weight = a.weight  # tied weights
    seq = nn.Sequential(a, nn.ReLU(), b, a)  # and a module used twice
    names = [n for n, _ in seq.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.bias"]
    assert len(list(seq.parameters())) == 3
    x = np.ones((2, 3))
    out = seq(x).sum()
    out.backward()
    # gradients from all three uses accumulate in one: compare with finite differences
    w0 = a.weight.data.copy()

    def loss_at(w):
        a.weight.data = w
        with autograd.no_grad():
            return seq(x).sum().item()

    numeric = np.zeros_like(w0)
    for i in np.ndindex(w0.shape):
        e = np.zeros_like(w0)
        e[i] = 1e-6
        numeric[i] = (loss_at(w0 + e) - loss_at(w0 - e)) / 2e-6
    a.weight.data = w0
    np.testing.assert_allclose(a.weight.grad, numeric, rtol=1e-6, atol=1e-8)


def test_a_frozen_parameter_still_belongs_to_the_module():
    m = nn.Linear(2, 2, seed=0)
    m.bias.requires_grad = False
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    assert set(m.state_dict()) == {"weight", "bias"}
    m(np.ones((1, 2))).sum().backward()
    assert m.weight.grad is not None and m.bias.grad is None


def test_a_module_referring_to_its_parent_does_not_loop():
    parent = nn.Sequential(nn.Linear(1, 1, seed=0))
    parent[0].owner = parent
    assert [n for n, _ in parent.named_parameters()] == ["0.weight", "0.bias"]
    assert [n for n, _ in parent.named_modules()] == ["", "0"]
    assert "Sequential(...)" in repr(parent)


def test_repr_prints_the_module_tree():
    m = nn.MLP([2, 4, 1], activation=nn.Tanh)
    assert repr(m) == (
        "MLP(\n"
        "  (0): Linear(in_features=2, out_features=4, bias=True)\n"
        "  (1): Tanh()\n"
        "  (2): Linear(in_features=4, out_features=1, bias=True)\n"
        ")")

    class Net(nn.Module):
        def __init__(self):
            self.encoder = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.25))

    assert repr(Net()) == (
        "Net(\n"
        "  (encoder): Sequential(\n"
        "    (0): Linear(in_features=2, out_features=2, bias=True)\n"
        "    (1): Dropout(p=0.25)\n"
        "  )\n"
        ")")


def test_zero_grad_train_and_eval():
    m = nn.MLP([2, 3, 1], seed=0)
    m(np.ones((2, 2))).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    assert m.eval() is m and not any(x.training for x in m.modules())
    assert m.train() is m and all(x.training for x in m.modules())


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match="Module does not define forward"):
        nn.Module()(1.0)


def test_state_dict_is_a_copy_and_round_trips():
    m = nn.MLP([3, 4, 2], seed=0)
    sd = m.state_dict()
    sd["0.weight"][...] = 7.0  # editing the copy leaves the model alone
    assert not np.any(m[0].weight.data == 7.0)
    other = nn.MLP([3, 4, 2], seed=1)
    v = other[0].weight._version[0]
    assert other.load_state_dict(m.state_dict()) == ([], [])
    assert params_bytes(other) == params_bytes(m)
    assert other[0].weight._version[0] > v  # written in place: pending graphs will notice


@pytest.mark.parametrize("change, message", [
    (lambda sd: sd.pop("0.bias"), r"missing names \['0.bias'\]"),
    (lambda sd: sd.update(extra=np.zeros(1)), r"unexpected names \['extra'\]"),
    (lambda sd: sd.update({"2.weight": np.zeros((2, 4))}), r"shape of '2.weight': given "
                                                          r"\(2, 4\), model has \(4, 2\)"),
])
def test_load_state_dict_refuses_and_changes_nothing(change, message):
    m = nn.MLP([3, 4, 2], seed=0)
    before = params_bytes(m)
    sd = {k: v + 1.0 for k, v in m.state_dict().items()}
    change(sd)
    with pytest.raises(ValueError, match=message):
        m.load_state_dict(sd)
    assert params_bytes(m) == before


def test_load_state_dict_not_strict_reports_what_it_skipped():
    m = nn.Linear(2, 2, seed=0)
    res = m.load_state_dict({"weight": np.ones((2, 2)), "junk": np.ones(3)}, strict=False)
    assert res.missing == ["bias"] and res.unexpected == ["junk"]
    np.testing.assert_array_equal(m.weight.data, np.ones((2, 2)))


def test_nodes_record_the_dotted_path_of_the_module_that_made_them():
    class Net(nn.Module):
        def __init__(self):
            self.encoder = nn.Sequential(nn.Linear(2, 3, seed=0), nn.Tanh())
            self.head = nn.Linear(3, 1, seed=1)

        def forward(self, x):
            return self.head(self.encoder(x)) * 2.0

    net = Net()
    out = net(np.ones((4, 2)))
    assert out._scope == "Net"  # the outermost module is named by its class
    head = out.inputs[0]
    assert head.op == "linear" and head._scope == "head"
    tanh = head.inputs[0]
    assert tanh.op == "tanh" and tanh._scope == "encoder.1"
    assert tanh.inputs[0]._scope == "encoder.0"
    assert current_scope() is None  # restored after the call
    assert net.encoder[0].weight.label == "encoder.0.weight"
    assert net.head.bias.label == "head.bias"
    # called alone, a child is the outermost module
    assert net.head(np.ones((1, 3)))._scope == "Linear"
    assert net.head.weight.label == "weight"


def test_module_path_is_restored_when_forward_raises():
    m = nn.Linear(2, 2)
    with pytest.raises(ValueError):
        m(np.ones((3, 5)))
    assert current_scope() is None
    assert m(np.ones((1, 2)))._scope == "Linear"


def test_a_module_called_inside_another_without_being_its_attribute_nests_under_it():
    class Net(nn.Module):
        def __init__(self):
            self.body = nn.Linear(2, 2, seed=0)

        def forward(self, x):
            return nn.Sigmoid()(self.body(x))

    out = Net()(np.ones((1, 2)))
    assert out._scope == "Net.Sigmoid"


def test_module_paths_join_the_scopes_open_around_and_inside_a_call():
    class Block(nn.Module):
        def __init__(self):
            self.proj = nn.Linear(2, 2, seed=0)

        def forward(self, x):
            with autograd.scope("gate"):  # a user's scope inside a module: under its path
                g = self.proj(x).sigmoid()
            return x * g

    class Net(nn.Module):
        def __init__(self):
            self.block = Block()

        def forward(self, x):
            return self.block(x).sum()

    net = Net()
    with autograd.scope("train"):  # around the outermost call: prefixes every path
        out = net(Tensor(np.ones((1, 2)), requires_grad=True))
        assert current_scope() == "train"
    mul = out.inputs[0]
    sigmoid = mul.inputs[1]
    assert (out._scope, mul._scope, sigmoid._scope) == ("train.Net", "train.block",
                                                       "train.block.gate")
    # a child called inside a user's scope keeps its name in the outermost module
    assert sigmoid.inputs[0]._scope == "train.block.proj"
    assert current_scope() is None
    assert net(np.ones((1, 2))).inputs[0]._scope == "block"  # and without one, as before


def test_a_label_the_user_set_is_never_rewritten_and_nns_own_are_refined():
    given = nn.Parameter(np.ones((2, 2)), label="W1")
    lin = nn.Linear(2, 2, seed=0)
    lin.weight = given
    lin.bias.label = "b1"  # set after nn labelled it "bias"
    free = nn.Linear(2, 2, seed=1)
    model = nn.Sequential(lin, nn.ReLU(), free)
    assert free.weight.label == "weight"  # nn's: the attribute name
    model(np.ones((1, 2)))
    assert (given.label, lin.bias.label) == ("W1", "b1")
    assert (free.weight.label, free.bias.label) == ("2.weight", "2.bias")
    free.weight.label = "2.weight"  # the user's now, even with nn's text: never rewritten
    free(np.ones((1, 2)))  # called alone, free's own labels would be refined to its names
    assert (free.weight.label, free.bias.label) == ("2.weight", "bias")
    assert [p.label for p in model.parameters()] == ["W1", "b1", "2.weight", "bias"]


# ----- layers --------------------------------------------------------------------------------
def test_linear_computes_x_at_weight_plus_bias_with_pytorch_init_ranges():
    lin = nn.Linear(16, 5, seed=0)
    assert lin.weight.shape == (16, 5) and lin.bias.shape == (5,)
    bound = 1 / math.sqrt(16)
    for p in (lin.weight, lin.bias):
        assert p.requires_grad and np.all(np.abs(p.data) <= bound)
    assert np.abs(lin.weight.data).max() > 0.8 * bound  # uniform over the range, not smaller
    x = np.random.default_rng(1).standard_normal((3, 16))
    np.testing.assert_allclose(lin(x).data, x @ lin.weight.data + lin.bias.data, rtol=1e-15)
    again = nn.Linear(16, 5, seed=0)
    assert params_bytes(again) == params_bytes(lin)
    assert [n for n, _ in nn.Linear(2, 2, bias=False).named_parameters()] == ["weight"]


# (weight, bias, input) requires grad; bias None: a Linear without one
FREEZES = [(w, b, x) for w in (True, False) for b in (True, False, None) for x in (True, False)]


@pytest.mark.parametrize("weight, bias, inp", FREEZES)
def test_linear_gives_a_gradient_exactly_to_what_requires_one_whatever_is_frozen(
        weight, bias, inp):
    """As in PyTorch: weight, bias and input each get their gradient (x^T g, the sum of g over
    the batch, g W^T) when they require one, and None when not, for any batch shape (none, one,
    two, empty), in float64 and float32, first order and with create_graph; with nothing
    requiring grad, backward is the RuntimeError PyTorch gives too."""
    rng = np.random.default_rng(0)
    for lead, dtype, create_graph in itertools.product([(), (4,), (2, 3), (0,)],
                                                       [np.float64, np.float32], [False, True]):
        lin = nn.Linear(3, 2, bias=bias is not None, seed=0, dtype=dtype)
        lin.weight.requires_grad = weight
        if bias is not None:
            lin.bias.requires_grad = bias
        xd = rng.standard_normal(lead + (3,)).astype(dtype)
        x = Tensor(xd, requires_grad=inp)
        y = lin(x)
        assert y.requires_grad is (weight or bool(bias) or inp)
        g = rng.standard_normal(y.shape).astype(dtype)
        if not y.requires_grad:
            with pytest.raises(RuntimeError, match="does not require grad"):
                y.backward(g)
            continue
        y.backward(g, create_graph=create_graph)
        expected = {"input": g @ lin.weight.data.T,
                    "weight": xd.reshape(-1, 3).T @ g.reshape(-1, 2),
                    "bias": g.reshape(-1, 2).sum(0)}
        tol = 1e-5 if dtype == np.float32 else 1e-13
        for name, t, wanted in [("input", x, inp), ("weight", lin.weight, weight),
                                ("bias", lin.bias, bias)]:
            if t is None:
                continue
            if not wanted:
                assert t.grad is None, name
                continue
            assert isinstance(t.grad, Tensor if create_graph else np.ndarray), name
            got = t.grad.data if create_graph else t.grad
            assert got.shape == t.shape and got.dtype == dtype, name
            np.testing.assert_allclose(got, expected[name], rtol=tol, atol=tol, err_msg=name)


@pytest.mark.parametrize("frozen", ["weight", "bias"])
def test_a_linear_layer_with_a_frozen_parameter_trains_the_other_as_pytorch_sgd_does(frozen):
    """The optimizer holds both parameters (model.parameters()), as in PyTorch: the frozen one
    gets no gradient and is skipped, bit for bit; the other follows SGD with momentum exactly."""
    rng = np.random.default_rng(1)
    x, target = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    lin = nn.Linear(3, 2, seed=0)
    getattr(lin, frozen).requires_grad = False
    opt = nn.SGD(lin.parameters(), lr=0.1, momentum=0.9)
    w, b = lin.weight.data.copy(), lin.bias.data.copy()
    frozen_bytes = getattr(lin, frozen).data.tobytes()
    buf = None
    for _ in range(5):
        opt.zero_grad()
        F.mse_loss(lin(x), target).backward()
        opt.step()
        d = 2 * (x @ w + b - target) / target.size  # the hand-written PyTorch step
        g = d.sum(0) if frozen == "weight" else x.T @ d
        buf = g if buf is None else 0.9 * buf + g
        if frozen == "weight":
            b = b - 0.1 * buf
        else:
            w = w - 0.1 * buf
    assert getattr(lin, frozen).data.tobytes() == frozen_bytes
    assert getattr(lin, frozen).grad is None
    np.testing.assert_allclose(lin.weight.data, w, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(lin.bias.data, b, rtol=1e-13, atol=1e-15)


def test_a_gradient_penalty_through_a_linear_layer_with_a_frozen_weight():
    """Second order: the gradient of |d loss / d x|^2 reaches the trainable bias (finite
    differences agree) and never the frozen weight."""
    rng = np.random.default_rng(2)
    xd = rng.standard_normal((4, 3))
    lin = nn.Linear(3, 2, seed=0)
    lin.weight.requires_grad = False
    w = lin.weight.data

    def penalty(b):  # by hand: d/dx sum(tanh(x W + b)) = (1 - tanh^2) W^T
        gx = (1 - np.tanh(xd @ w + b) ** 2) @ w.T
        return (gx * gx).sum()

    x = Tensor(xd, requires_grad=True)
    lin(x).tanh().sum().backward(create_graph=True)
    gx, x.grad, lin.bias.grad = x.grad, None, None
    (gx * gx).sum().backward()
    assert lin.weight.grad is None
    np.testing.assert_allclose(lin.bias.grad, numeric_grad(penalty, lin.bias.data), rtol=1e-6,
                               atol=1e-8)


def test_sequential_is_indexable_iterable_and_named_like_pytorch():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and list(seq) == layers and seq[-1] is layers[2]
    assert isinstance(seq[:2], nn.Sequential) and list(seq[:2]) == layers[:2]
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight",
                                                      "2.bias"]
    with pytest.raises(TypeError, match="expected Modules"):
        nn.Sequential(lambda x: x)
    seq.extra = nn.Parameter([1.0])  # assigned later: found after the numbered children
    assert [n for n, _ in seq.named_parameters()][-1] == "extra"


def test_mlp_structure_seed_and_activation():
    m = nn.MLP([2, 8, 8, 3], seed=0)
    assert [type(x).__name__ for x in m] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert params_bytes(nn.MLP([2, 8, 8, 3], seed=0)) == params_bytes(m)
    assert params_bytes(nn.MLP([2, 8, 8, 3], seed=1)) != params_bytes(m)
    assert [type(x).__name__ for x in nn.MLP([2, 3, 1], activation=None)] == ["Linear"] * 2
    assert m(np.ones((5, 2))).shape == (5, 3)
    with pytest.raises(ValueError):
        nn.MLP([3])


def test_activations():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(nn.ReLU()(x).data, [0.0, 0.0, 3.0])
    np.testing.assert_allclose(nn.Tanh()(x).data, np.tanh(x))
    np.testing.assert_allclose(nn.Sigmoid()(x).data, 1 / (1 + np.exp(-x)))


def test_dropout_scales_survivors_in_training_and_is_the_identity_in_eval():
    x = Tensor(np.ones((200, 50)), requires_grad=True)
    d = nn.Dropout(0.3, seed=0)
    y = d(x)
    kept = y.data != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y.data[kept], 1 / 0.7)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.where(kept, 1 / 0.7, 0.0))
    np.testing.assert_array_equal(nn.Dropout(0.3, seed=0)(x).data, y.data)  # seeded
    assert d.eval()(x) is x
    assert nn.Dropout(0.0)(x) is x
    np.testing.assert_array_equal(nn.Dropout(1.0)(x).data, 0.0)
    assert nn.Dropout(0.5, seed=0)(np.ones(4, np.float32)).dtype == np.float32
    with pytest.raises(ValueError):
        nn.Dropout(1.5)


# ----- losses --------------------------------------------------------------------------------
def test_mse_loss_values_and_reductions():
    x, t = np.array([[1.0, 2.0], [3.0, 5.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])
    sq = (x - t) ** 2
    assert F.mse_loss(Tensor(x), t).item() == sq.mean()
    assert nn.MSELoss(reduction="sum")(Tensor(x), t).item() == sq.sum()
    np.testing.assert_array_equal(F.mse_loss(Tensor(x), t, reduction="none").data, sq)


def test_unknown_reduction_is_refused():
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.CrossEntropyLoss(reduction="avg")
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.mse_loss(Tensor([1.0]), [1.0], reduction="max")


def test_cross_entropy_matches_numpy_for_every_label_form_and_reduction():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 4))
    y = np.array([0, 3, 1, 1, 2])
    per = np.log(np.exp(z).sum(1)) - z[np.arange(5), y]
    for labels in (y, list(y), Tensor(y), y.astype(np.uint8)):
        np.testing.assert_allclose(F.cross_entropy(Tensor(z), labels).item(), per.mean())
    np.testing.assert_allclose(nn.CrossEntropyLoss(reduction="sum")(Tensor(z), y).item(),
                               per.sum())
    np.testing.assert_allclose(F.cross_entropy(Tensor(z), y, "none").data, per)


@pytest.mark.parametrize("labels, shown", [
    (np.array([0, 2**63], dtype=np.uint64), "9223372036854775808"),  # once shown as negative
    (np.array([2**64 - 1, 0], dtype=np.uint64), "18446744073709551615"),
    (Tensor(np.array([1, 2**63 + 1], dtype=np.uint64)), "9223372036854775809"),
    (np.array([2**32 + 1, 0], dtype=np.int64), "4294967297"),
    (np.array([-128, 0], dtype=np.int8), "-128"),
    (np.array([255, 0], dtype=np.uint8), "255"),
    (np.array([0, 1, 2, 3], dtype=np.uint16)[::2] + np.uint16(3), "3"),
    (np.array([0, 5, 1, 2], dtype=np.int32)[1::2], "5"),  # a strided view
    (np.array([1, -2], dtype=">i8"), "-2"),  # not the machine's byte order
    (np.array([2**63, 1], dtype=">u8"), "9223372036854775808"),
])
def test_an_out_of_range_label_of_any_integer_dtype_is_reported_as_given(labels, shown):
    with pytest.raises(ValueError, match=rf"^cross_entropy: label {shown} is out of range for "
                                         r"3 classes \(valid labels are 0 to 2\)$"):
        F.cross_entropy(Tensor(np.zeros((2, 3))), labels)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32,
                                   np.int64, np.uint64])
def test_labels_of_every_integer_dtype_in_range_are_accepted(dtype):
    z = np.array([[0.0, 1.0, 2.0], [2.0, 0.0, 1.0]])
    per = np.log(np.exp(z).sum(1)) - z[[0, 1], [2, 0]]
    for order in "<>":
        labels = np.array([2, 0], dtype=np.dtype(dtype).newbyteorder(order))
        got = F.cross_entropy(Tensor(z), labels, reduction="none")
        np.testing.assert_allclose(got.data, per, rtol=1e-15)


def test_cross_entropy_needs_two_dimensional_logits():
    with pytest.raises(ValueError, match=r"\(N, C\), got \(3,\)"):
        F.cross_entropy(Tensor(np.zeros(3)), [0, 1, 2])


def test_bce_with_logits_at_plus_minus_1000_and_at_zero_is_exact():
    z = Tensor([1000.0, 1000.0, -1000.0, -1000.0, 0.0, 0.0], requires_grad=True)
    y = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = F.binary_cross_entropy_with_logits(z, y, reduction="none")
        loss.sum().backward()
    np.testing.assert_array_equal(loss.data[:4], [0.0, 1000.0, 1000.0, 0.0])
    np.testing.assert_allclose(loss.data[4:], math.log(2), rtol=1e-15)
    # sigmoid(z) - y, including at z = 0 where relu'(0) = abs'(0) = 0 would give -y
    np.testing.assert_array_equal(z.grad, [0.0, 1.0, -1.0, 0.0, -0.5, 0.5])


def bce_derivatives(z, y):
    """The first three derivatives of BCE-with-logits in one logit z, target y (nested grad)."""
    def loss(t):
        return F.binary_cross_entropy_with_logits(t, np.full(t.shape, y), "sum")

    d1 = autograd.grad(loss)
    d2 = autograd.grad(lambda t: d1(t).sum())
    d3 = autograd.grad(lambda t: d2(t).sum())
    return [float(d(np.array([z]))[0]) for d in (d1, d2, d3)]


def sigmoid_derivatives(z, y):
    """sigmoid(z) - y, sigmoid'(z) and sigmoid''(z), written without overflow or
    cancellation (sigmoid(-z) - sigmoid(z) = -tanh(z / 2))."""
    e = math.exp(-abs(z))
    s, t = (1 / (1 + e), e / (1 + e)) if z >= 0 else (e / (1 + e), 1 / (1 + e))  # s + t = 1
    return [s - y, s * t, -s * t * math.tanh(z / 2)]


def test_bce_with_logits_differentiates_three_times_at_zero():
    """At z = 0 the kinks of max(z, 0) and |z| used to cancel at first order only: the second
    derivative was 0 (PyTorch: 0.25) but 0.25 at z = +-1e-9."""
    for y in (0.0, 1.0, 0.3):
        for z in (0.0, 1e-9, -1e-9):
            np.testing.assert_allclose(bce_derivatives(z, y), sigmoid_derivatives(z, y),
                                       rtol=1e-12, atol=1e-16)  # (one ulp of 0.25 cancels)
        assert bce_derivatives(0.0, y)[:2] == [0.5 - y, 0.25]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for z in (1000.0, -1000.0):  # finite, and exact
            for y in (0.0, 1.0, 0.3):
                assert bce_derivatives(z, y) == [float(z > 0) - y, 0.0, 0.0]


@settings(max_examples=50)
@given(st.floats(-40, 40), st.floats(0, 1))
def test_bce_with_logits_derivatives_are_the_sigmoids_everywhere(z, y):
    np.testing.assert_allclose(bce_derivatives(z, y), sigmoid_derivatives(z, y), rtol=1e-12,
                               atol=1e-16)


finite = st.floats(-5, 5, allow_nan=False)


@settings(max_examples=25)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 5)), elements=finite),
       st.data())
def test_cross_entropy_gradient_matches_finite_differences(z, data):
    n, c = z.shape
    y = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    assert_grad_matches(lambda t: F.cross_entropy(t, y), z)
    assert_grad_matches(lambda t: F.cross_entropy(t, y, "sum"), z)


@settings(max_examples=25)
@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=4), elements=finite),
       st.data())
def test_bce_and_mse_gradients_match_finite_differences(z, data):
    y = data.draw(hnp.arrays(np.float64, z.shape, elements=st.floats(0, 1)))
    assert_grad_matches(lambda t: F.binary_cross_entropy_with_logits(t, y), z)
    assert_grad_matches(lambda t: F.mse_loss(t, y, "sum"), z)
    # and with respect to the target
    assert_grad_matches(lambda t: F.mse_loss(Tensor(z), t), y)
    assert_grad_matches(lambda t: F.binary_cross_entropy_with_logits(Tensor(z), t), y)


@pytest.mark.parametrize("loss", [
    lambda t: F.cross_entropy(t, [0, 2, 3]),
    lambda t: F.binary_cross_entropy_with_logits(t, np.full((3, 4), 0.3)),
    lambda t: F.mse_loss(t, np.ones((3, 4)), "sum"),
])
def test_losses_differentiate_twice(loss):
    """A Hessian-vector product through each loss (backward with create_graph) matches
    central differences of the gradient."""
    rng = np.random.default_rng(0)
    z0, v = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    z = Tensor(z0, requires_grad=True)
    loss(z).backward(create_graph=True)
    g = z.grad
    z.grad = None
    (g * v).sum().backward()

    def grad_at(a):
        t = Tensor(a, requires_grad=True)
        loss(t).backward()
        return t.grad

    numeric = (grad_at(z0 + 1e-5 * v) - grad_at(z0 - 1e-5 * v)) / 2e-5
    hv = z.grad.data if isinstance(z.grad, Tensor) else z.grad
    np.testing.assert_allclose(hv, numeric, atol=1e-7)


# ----- errors and edge cases: losses, Linear, optimizers -------------------------------------
@pytest.mark.parametrize("loss, name", [
    (lambda x, t: F.mse_loss(x, t), "mse_loss"),
    (lambda x, t: nn.MSELoss()(x, t), "mse_loss"),
    (lambda x, t: F.binary_cross_entropy_with_logits(x, t), "binary_cross_entropy_with_logits"),
    (lambda x, t: nn.BCEWithLogitsLoss(reduction="sum")(x, t),
     "binary_cross_entropy_with_logits"),
])
def test_a_loss_on_n1_versus_n_is_refused_not_broadcast_to_n_by_n(loss, name):
    """(N, 1) against (N,) would silently broadcast to (N, N); both orders are refused."""
    with pytest.raises(ValueError) as info:
        loss(leaf(np.zeros((3, 1))), np.zeros(3))
    assert name in str(info.value) and "(3, 1) and (3,)" in str(info.value)
    with pytest.raises(ValueError) as info:
        loss(leaf(np.zeros(3)), Tensor(np.zeros((3, 1))))
    assert name in str(info.value) and "(3,) and (3, 1)" in str(info.value)


def test_a_batch_with_the_wrong_number_of_features_through_linear_names_linear_and_shapes():
    lin = nn.Linear(3, 2, seed=0)
    with pytest.raises(ValueError) as info:
        lin(np.ones((4, 5)))
    assert str(info.value).startswith("linear:") and "(4, 5) and (3, 2)" in str(info.value)


@pytest.mark.parametrize("labels, kind, message", [
    (np.array([0.0, 1.0]), TypeError, "dtype float64"),
    (Tensor([0.0, 1.0]), TypeError, "dtype float64"),
    (np.array([True, False]), TypeError, "dtype bool"),
    (np.array([[0], [1]]), ValueError, r"shape \(2, 1\)"),
    ([0, 1, 2], ValueError, r"shape \(3,\)"),
    ([0, 3], ValueError, "label 3 is out of range for 3 classes"),
    ([-1, 0], ValueError, "label -1 is out of range"),  # numpy would silently index the last class
])
def test_cross_entropy_labels_of_the_wrong_dtype_shape_or_range_are_refused(
        labels, kind, message):
    z = leaf(np.zeros((2, 3)))
    with pytest.raises(kind, match=message) as info:
        F.cross_entropy(z, labels)
    assert str(info.value).startswith("cross_entropy:")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_zero_size_batch_through_linear_works(dtype, strict_numpy):
    lin = nn.Linear(3, 2, seed=0, dtype=dtype)
    assert lin.weight.dtype == dtype and lin(np.ones((4, 3), dtype)).dtype == dtype
    y = lin(np.zeros((0, 3), dtype=dtype))
    assert y.shape == (0, 2) and y.dtype == dtype
    y.sum().backward()
    np.testing.assert_array_equal(lin.weight.grad, np.zeros((3, 2), dtype=dtype))
    np.testing.assert_array_equal(lin.bias.grad, np.zeros(2, dtype=dtype))
    assert lin.weight.grad.dtype == dtype and lin.bias.grad.dtype == dtype


LOSSES = [
    ("MSELoss", nn.MSELoss, np.zeros((0, 2))),
    ("BCEWithLogitsLoss", nn.BCEWithLogitsLoss, np.zeros((0, 2))),
    ("CrossEntropyLoss", nn.CrossEntropyLoss, []),
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name, loss_cls, target", LOSSES, ids=[x[0] for x in LOSSES])
def test_each_loss_on_a_zero_size_batch_has_one_documented_behaviour(
        name, loss_cls, target, reduction, strict_numpy):
    """nn/functional.py documents it: on an empty batch "mean" is nan (a mean over zero
    elements, silently, as PyTorch), "sum" is 0 and "none" is empty; the parameters'
    gradients are zero (finite), so an optimizer step on an empty batch changes nothing."""
    lin = nn.Linear(3, 2, seed=0)
    before = lin.state_dict()
    out = lin(np.zeros((0, 3)))
    loss = loss_cls(reduction=reduction)(out, target)
    if reduction == "mean":
        assert loss.shape == () and math.isnan(loss.item())
        loss.backward()
    elif reduction == "sum":
        assert loss.shape == () and loss.item() == 0.0
        loss.backward()
    else:
        assert loss.shape == ((0,) if name == "CrossEntropyLoss" else (0, 2))
        loss.backward(np.zeros(loss.shape))
    np.testing.assert_array_equal(lin.weight.grad, np.zeros((3, 2)))
    np.testing.assert_array_equal(lin.bias.grad, np.zeros(2))
    nn.SGD(lin.parameters(), lr=0.1).step()
    for k, v in lin.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_a_linear_layer_reads_its_input_and_weight_at_backward_but_not_its_bias():
    lin = nn.Linear(2, 3, seed=0)
    x = leaf([[1.0, 2.0]])
    y = lin(x).sum()
    with no_grad():
        lin.bias += 1.0  # the bias gradient does not depend on the bias: nothing stale
    y.backward()
    np.testing.assert_array_equal(lin.bias.grad, [1.0, 1.0, 1.0])
    np.testing.assert_allclose(lin.weight.grad, [[1.0] * 3, [2.0] * 3])
    y = lin(x).sum()
    with no_grad():
        lin.weight *= 2.0
    with pytest.raises(RuntimeError, match=r"linear: an input of shape \(2, 3\) .*version 0 "
                                           r"when recorded, now 1"):
        y.backward()


@pytest.mark.parametrize("opt_cls, versions", [
    (lambda ps: nn.SGD(ps, lr=0.1), (1, 2)),
    (lambda ps: nn.SGD(ps, lr=0.1, momentum=0.9), (1, 2)),
    (lambda ps: nn.Adam(ps, lr=0.1), (1, 2)),
    (lambda ps: nn.AdamW(ps, lr=0.1), (1, 2)),  # decay and update: one change per step
], ids=["SGD", "SGD momentum", "Adam", "AdamW"])
def test_forward_then_optimizer_step_then_backward_is_detected(opt_cls, versions):
    """The classic mistake: step() between the forward pass and backward()."""
    model = nn.Linear(2, 1, seed=0)
    opt = opt_cls(model.parameters())
    x = np.array([[1.0, 2.0], [3.0, -1.0]])
    model(x).sum().backward()
    opt.step()  # a correct step: versions become versions[0]
    loss = (model(x) ** 2).mean()  # recorded at versions[0]
    opt.step()  # stale gradients, and the parameters change under the pending graph
    with pytest.raises(RuntimeError) as info:
        loss.backward()
    msg = str(info.value)
    # y = x @ W + b is one linear node: its backward reads W, so the error is about W
    assert msg.startswith("linear:") and "(2, 1)" in msg
    assert f"version {versions[0]} when recorded, now {versions[1]}" in msg


def test_load_state_dict_between_forward_and_backward_is_detected():
    model = nn.Linear(2, 1, seed=0)
    loss = model(np.ones((3, 2))).sum()
    model.load_state_dict(nn.Linear(2, 1, seed=1).state_dict())
    with pytest.raises(RuntimeError, match="version 0 when recorded, now 1"):
        loss.backward()


def test_cross_entropy_at_logits_of_plus_minus_1000_is_exact(strict_numpy):
    z = leaf(Z)
    loss = F.cross_entropy(z, [0, 1, 2], reduction="none")
    np.testing.assert_array_equal(loss.data[:2], [0.0, 2000.0])
    np.testing.assert_allclose(loss.data[2], LOG3, rtol=0, atol=ATOL_1000)
    loss.backward(np.ones(3))
    np.testing.assert_array_equal(z.grad[:2], [[0.0, 0.0, 0.0], [0.0, -1.0, 1.0]])
    np.testing.assert_allclose(z.grad[2], [1 / 3, 1 / 3, -2 / 3], rtol=0, atol=ATOL_1000)


def test_library_losses_have_finite_gradients_at_extreme_logits(strict_numpy):
    """nn's losses avoid the masked-where trap: no branch computes log or exp of an extreme
    value whose gradient is then masked; at +-1e300 everything stays finite and exact."""
    z = leaf([[1e300, -1e300, 0.0]])
    loss = F.cross_entropy(z, [1])
    loss.backward()
    assert loss.item() == 2e300
    np.testing.assert_array_equal(z.grad, [[1.0, -1.0, 0.0]])
    z = leaf([1e300, -1e300, 1e300, -1e300])
    loss = F.binary_cross_entropy_with_logits(z, np.array([1.0, 0.0, 0.0, 1.0]), "sum")
    loss.backward()
    assert loss.item() == 2e300
    np.testing.assert_array_equal(z.grad, [0.0, 0.0, 1.0, -1.0])


# ----- optimizers ----------------------------------------------------------------------------
GRADS = [np.array([0.5, -1.0, 2.0]), np.array([-0.3, 0.2, 1.0]), np.array([1.5, 0.0, -0.7])]
P0 = np.array([1.0, -2.0, 0.5])


def run_steps(opt_cls, **kw):
    p = nn.Parameter(P0)
    opt = opt_cls([p], **kw)
    for g in GRADS:
        p.grad = g.copy()
        opt.step()
    return p.data


def sgd_by_hand(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    p, buf = P0.copy(), None
    for g in GRADS:
        g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def adam_by_hand(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    p, m, v = P0.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(GRADS, start=1):
        if decoupled:
            p = p - lr * weight_decay * p
        else:
            g = g + weight_decay * p
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


@pytest.mark.parametrize("kw", [
    {"lr": 0.1},
    {"lr": 0.1, "momentum": 0.9},
    {"lr": 0.1, "momentum": 0.9, "dampening": 0.3},
    {"lr": 0.05, "momentum": 0.8, "nesterov": True},
    {"lr": 0.1, "weight_decay": 0.01},
    {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.05},
    {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.05, "nesterov": True},
])
def test_sgd_three_steps_equal_the_published_formula(kw):
    np.testing.assert_allclose(run_steps(nn.SGD, **kw), sgd_by_hand(**kw), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kw", [
    {"lr": 0.01},
    {"lr": 0.1, "betas": (0.8, 0.99), "eps": 1e-6},
    {"lr": 0.01, "weight_decay": 0.1},
])
def test_adam_three_steps_equal_the_published_formula(kw):
    np.testing.assert_allclose(run_steps(nn.Adam, **kw), adam_by_hand(**kw), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kw", [{"lr": 0.01}, {"lr": 0.1, "weight_decay": 0.5},
                                {"lr": 0.1, "betas": (0.5, 0.9), "weight_decay": 0.0}])
def test_adamw_three_steps_equal_the_published_formula(kw):
    expected = adam_by_hand(**{"weight_decay": 1e-2, **kw}, decoupled=True)
    np.testing.assert_allclose(run_steps(nn.AdamW, **kw), expected, rtol=0, atol=1e-12)


def test_step_skips_parameters_without_grad_and_bumps_versions():
    a, b = nn.Parameter([1.0]), nn.Parameter([2.0])
    opt = nn.SGD([a, b], lr=0.5)
    a.grad = np.array([1.0])
    va, vb = a._version[0], b._version[0]
    opt.step()
    assert a.data[0] == 0.5 and b.data[0] == 2.0
    assert a._version[0] > va and b._version[0] == vb
    opt.zero_grad()
    assert a.grad is None


@pytest.mark.parametrize("make", [lambda ps: nn.SGD(ps, lr=0.5, momentum=0.9),
                                  lambda ps: nn.Adam(ps), lambda ps: nn.AdamW(ps)])
def test_a_wrong_shaped_gradient_raises_before_any_parameter_changes(make):
    a, b = nn.Parameter([1.0, 2.0]), nn.Parameter([[3.0, 4.0]])
    opt = make([a, b])
    a.grad, b.grad = np.ones(2), np.ones(2)  # b's gradient lost its leading axis
    with pytest.raises(ValueError, match=r"step: parameter 1 of shape \(1, 2\) has a gradient "
                                         r"of shape \(2,\)"):
        opt.step()
    np.testing.assert_array_equal(a.data, [1.0, 2.0])  # not half a step
    assert a._version[0] == 0 and opt.state_dict()["state"] == {}


def test_an_overflow_in_a_step_is_reported_as_numpy_reports_it():
    p = nn.Parameter([1e308])
    p.grad = np.array([1e308])
    with pytest.warns(RuntimeWarning, match="overflow"):
        nn.SGD([p], lr=10.0).step()
    p = nn.Parameter([1e308])
    p.grad = np.array([1e308])
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        nn.SGD([p], lr=10.0).step()


@pytest.mark.parametrize("make", [
    lambda ps: nn.SGD(ps, lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.01),
    lambda ps: nn.Adam(ps, lr=0.01, weight_decay=0.1),
    lambda ps: nn.AdamW(ps, lr=0.01),
])
def test_optimizer_state_dict_round_trip_resumes_identically(make):
    model = nn.MLP([3, 4, 2], seed=0)
    opt = make(model.parameters())
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 3)), rng.integers(0, 2, 8)

    def train(model, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            nn.CrossEntropyLoss()(model(x), y).backward()
            opt.step()

    train(model, opt, 2)
    saved_model, saved_opt = model.state_dict(), opt.state_dict()
    train(model, opt, 3)

    model2 = nn.MLP([3, 4, 2], seed=5)
    model2.load_state_dict(saved_model)
    opt2 = make(model2.parameters())
    opt2.load_state_dict(saved_opt)
    train(model2, opt2, 3)
    assert params_bytes(model2) == params_bytes(model)
    assert saved_opt["param_groups"][0]["params"] == [0, 1, 2, 3]


def test_optimizer_state_dict_is_a_copy():
    p = nn.Parameter([1.0, 2.0])
    opt = nn.SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.array([1.0, 1.0])
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["momentum_buffer"][...] = 99.0
    assert not np.any(opt.state[0]["momentum_buffer"] == 99.0)


def test_optimizer_arguments_are_checked():
    with pytest.raises(TypeError, match="single Tensor"):
        nn.SGD(nn.Parameter([1.0]), lr=0.1)
    with pytest.raises(TypeError, match="model.parameters"):
        nn.Adam(nn.Linear(1, 1))
    with pytest.raises(ValueError, match="empty"):
        nn.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        p = nn.Parameter([1.0])
        nn.SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="nesterov"):
        nn.SGD([nn.Parameter([1.0])], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="lr"):
        nn.Adam([nn.Parameter([1.0])], lr=-1.0)
    with pytest.raises(ValueError, match="betas"):
        nn.AdamW([nn.Parameter([1.0])], betas=(0.9, 1.0))
    opt = nn.SGD((p for p in nn.Linear(2, 2).parameters()), lr=0.1)  # a generator is fine
    assert len(opt.params) == 2


def test_clip_grad_norm_scales_to_max_norm_and_returns_the_total():
    a, b, c = nn.Parameter([0.0, 0.0]), nn.Parameter([0.0]), nn.Parameter([0.0])
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([4.0])
    assert nn.clip_grad_norm([a, b, c], max_norm=1.0) == 5.0
    np.testing.assert_allclose(np.concatenate([a.grad, b.grad]), [0.6, 0.0, 0.8], rtol=1e-5)
    assert c.grad is None
    before = a.grad.copy()
    assert nn.clip_grad_norm([a, b], max_norm=10.0) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_array_equal(a.grad, before)  # below the limit: untouched


def test_a_float32_model_trains_in_float32():
    m = nn.MLP([2, 8, 2], seed=0, dtype=np.float32)
    opt = nn.AdamW(m.parameters(), lr=0.01)
    x = np.ones((4, 2), np.float32)
    losses = [lambda: nn.CrossEntropyLoss()(m(x), [0, 1, 0, 1]),
              lambda: nn.BCEWithLogitsLoss()(m(x), np.zeros((4, 2))),
              lambda: nn.MSELoss()(m(x), np.zeros((4, 2)))]
    for make in losses:
        loss = make()
        assert loss.dtype == np.float32
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all(p.dtype == np.float32 and p.grad.dtype == np.float32 for p in m.parameters())
    assert all(s["exp_avg"].dtype == np.float32 for s in opt.state)


# ----- mini-batches and training -------------------------------------------------------------
def test_batches_cover_every_row_once_in_a_seeded_order():
    X, y = np.arange(20).reshape(10, 2), np.arange(10)
    got = list(nn.batches(X, y, 4, seed=0))
    assert [len(yb) for _, yb in got] == [4, 4, 2]
    rows = np.concatenate([yb for _, yb in got])
    assert sorted(rows) == list(range(10)) and list(rows) != list(range(10))
    for xb, yb in got:
        np.testing.assert_array_equal(xb, X[yb])
    again = np.concatenate([yb for _, yb in nn.batches(X, y, 4, seed=0)])
    np.testing.assert_array_equal(again, rows)
    in_order = [yb for _, yb in nn.batches(X, y, 3, shuffle=False)]
    assert [list(b) for b in in_order] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]


def test_batches_keep_the_input_types():
    X = Tensor(np.ones((5, 2)), requires_grad=True)
    xb, yb = next(nn.batches(X, [0, 1, 0, 1, 1], 2, seed=0))
    assert isinstance(xb, Tensor) and isinstance(yb, np.ndarray)
    xb.sum().backward()
    assert X.grad.sum() == 4.0  # the batch's rows, through indexing
    with pytest.raises(ValueError, match="5 rows but y has 4"):
        list(nn.batches(X, np.zeros(4), 2))
    with pytest.raises(ValueError, match="positive integer"):
        list(nn.batches(X, np.zeros(5), 0))


def two_moons(n, seed):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, np.pi, n)
    upper = np.stack([np.cos(t), np.sin(t)], 1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
    X = np.concatenate([upper, lower]) + rng.normal(0, 0.1, (2 * n, 2))
    return X, np.repeat([0, 1], n)


def test_an_mlp_learns_two_moons():
    X, y = two_moons(100, seed=0)
    model = nn.MLP([2, 16, 16, 2], seed=0)
    opt = nn.Adam(model.parameters(), lr=0.03)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(150):
        for xb, yb in nn.batches(X, y, 100, seed=1):
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
    with no_grad():
        accuracy = (model(X).argmax(1) == y).mean()
    assert accuracy >= 0.97


def test_an_mlp_learns_xor_with_bce_and_sgd():
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    model = nn.MLP([2, 8, 1], activation=nn.Tanh, seed=3)
    opt = nn.SGD(model.parameters(), lr=0.5, momentum=0.9)
    for _ in range(300):
        opt.zero_grad()
        nn.BCEWithLogitsLoss()(model(X), y).backward()
        opt.step()
    assert np.array_equal(model(X).data > 0, y > 0.5)


# ----- PyTorch interop -----------------------------------------------------------------------
def test_to_torch_state_dict_uses_pytorch_names_and_layouts():
    model = nn.Sequential(nn.Linear(3, 4, seed=0), nn.ReLU(), nn.Linear(4, 2, seed=1))
    sd = nn.to_torch_state_dict(model)
    assert {k: v.shape for k, v in sd.items()} == {
        "0.weight": (4, 3), "0.bias": (4,), "2.weight": (2, 4), "2.bias": (2,)}
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    # PyTorch's formula, y = x W^T + b, on the converted arrays gives the same outputs
    x = np.random.default_rng(0).standard_normal((5, 3))
    h = np.maximum(x @ sd["0.weight"].T + sd["0.bias"], 0)
    np.testing.assert_allclose(model(x).data, h @ sd["2.weight"].T + sd["2.bias"], rtol=1e-14)
    sd["0.weight"][...] = 0  # a copy
    assert not np.all(model[0].weight.data == 0)


def test_torch_state_dict_round_trip_is_the_identity():
    model = nn.MLP([3, 5, 2], seed=0)
    sd = nn.to_torch_state_dict(model)
    other = nn.MLP([3, 5, 2], seed=1)
    nn.from_torch_state_dict(other, sd)
    assert params_bytes(other) == params_bytes(model)
    again = nn.to_torch_state_dict(other)
    assert all(np.array_equal(again[k], sd[k]) for k in sd)


def test_from_torch_state_dict_refuses_wrong_shapes_and_changes_nothing():
    model = nn.MLP([3, 5, 2], seed=0)
    before = params_bytes(model)
    sd = nn.to_torch_state_dict(model)
    sd["0.weight"] = sd["0.weight"].T  # an (in, out) array where PyTorch has (out, in)
    sd["0.bias"] = sd["0.bias"] + 1
    with pytest.raises(ValueError, match="0.weight"):
        nn.from_torch_state_dict(model, sd)
    assert params_bytes(model) == before


def test_nn_uses_only_the_public_api_of_autograd():
    """nn is a client of autograd like any other: it imports names in autograd.__all__ only,
    no submodule (engine, ops), and touches no private attribute of autograd's nodes."""
    import ast
    from pathlib import Path

    from autograd.engine import Node

    private = {a for cls in (Tensor, autograd.Value, Node) for k in cls.__mro__
               for a in [*vars(k), *getattr(k, "__slots__", ())]
               if a.startswith("_") and not a.endswith("__")}
    assert {"_apply", "_version", "_scope", "_saved"} <= private
    public = set(autograd.__all__)
    found = []
    for path in sorted(Path(nn.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            where = f"{path.name}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module.startswith("autograd."):
                    found.append(f"{where} imports {node.module}")
                elif node.module == "autograd":
                    found += [f"{where} imports {a.name}" for a in node.names
                              if a.name not in public]
            elif isinstance(node, ast.Import):
                found += [f"{where} imports {a.name}" for a in node.names
                          if a.name.startswith("autograd.")]
            elif isinstance(node, ast.Attribute):
                if node.attr in private:
                    found.append(f"{where} uses .{node.attr}")
                elif isinstance(node.value, ast.Name) and node.value.id == "autograd" \
                        and node.attr not in public:
                    found.append(f"{where} uses autograd.{node.attr}")
    assert found == []


# ----- module scope titles (issue 15: boxes titled `0: Linear` without model=) ----------------
def test_module_paths_are_titled_by_name_and_class_as_print_lists_them():
    class Block(nn.Module):
        def __init__(self):
            self.layers = [nn.Linear(2, 2, seed=0)]  # a plain list: its name is no module's

        def forward(self, x):
            with autograd.scope("gate"):
                g = self.layers[0](x).sigmoid()
            return nn.Tanh()(x * g)  # not an attribute: named by its class

    class Net(nn.Module):
        def __init__(self):
            self.encoder = nn.Sequential(nn.Linear(2, 2, seed=1), Block())

        def forward(self, x):
            return self.encoder(x).sum()

    net = Net()
    for base in (None, "train"):
        with autograd.scope(base) if base else contextlib.nullcontext():
            out = net(np.ones((1, 2)))
        above = ("train",) if base else ()
        tanh = out.inputs[0]
        mul = tanh.inputs[0]
        sigmoid = mul.inputs[1]
        linear = sigmoid.inputs[0]
        first = mul.inputs[0]
        assert out._scope.titles == above + ("Net",)
        assert first._scope.titles == above + ("encoder: Sequential", "0: Linear")
        assert tanh._scope.titles == above + ("encoder: Sequential", "1: Block", "Tanh")
        assert mul._scope.titles == above + ("encoder: Sequential", "1: Block")
        assert sigmoid._scope.titles == above + ("encoder: Sequential", "1: Block", "gate")
        assert linear._scope == ".".join(above + ("encoder.1.layers.0",))
        assert linear._scope.titles == above + ("encoder: Sequential", "1: Block", "layers",
                                                "0: Linear")


def test_titled_paths_are_made_once_and_again_when_the_model_changes():
    class Net(nn.Module):
        def __init__(self):
            self.body = nn.Linear(2, 2, seed=0)
            self.act = nn.Tanh()

        def forward(self, x):
            return self.act(self.body(x))

    net = Net()
    a, b = net(np.ones((1, 2))), net(np.ones((1, 2)))
    assert a._scope is b._scope  # cached: a module call makes no path
    assert a._scope.titles == ("act: Tanh",)
    net.act = nn.Sigmoid()
    assert net(np.ones((1, 2)))._scope.titles == ("act: Sigmoid",)
    with autograd.scope("train"):  # under a scope: made once per scope too
        a, b = net(np.ones((1, 2))), net(np.ones((1, 2)))
    assert a._scope is b._scope and a._scope.titles == ("train", "act: Sigmoid")
    # an equal scope path with other titles (another model's) is another scope
    prev = autograd.set_scope(autograd.ScopePath("train", ["train: Trainer"]))
    try:
        assert net(np.ones((1, 2)))._scope.titles == ("train: Trainer", "act: Sigmoid")
    finally:
        autograd.set_scope(prev)
    for i in range(40):  # many scopes: each call still gets its own, right, path
        with autograd.scope(f"step{i}"):
            assert net(np.ones((1, 2)))._scope.titles == (f"step{i}", "act: Sigmoid")
    from nn.module import _paths_cache

    assert len(_paths_cache[net][2]) <= 16  # and their paths do not pile up


# ----- functional_call (issue 17 item 4) ----------------------------------------------------------
from pathlib import Path  # noqa: E402

FC = np.load(Path(__file__).parent / "fixtures" / "functional_call.npz")


def _fc_model():
    """PyTorch's MLP of the fixture, in our layout (Linear weights (in, out))."""
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    params = {name: FC[f"param/{name}"].T.copy() if name.endswith("weight")
              else FC[f"param/{name}"] for name in model.state_dict()}
    return model, params


def _fc_loss(model, x, y):
    return lambda p: F.mse_loss(nn.functional_call(model, p, Tensor(x)), Tensor(y))


def test_functional_call_hessian_of_a_models_loss_matches_pytorch_and_finite_differences():
    model, params = _fc_model()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    loss = _fc_loss(model, FC["x"], FC["y"])
    H = autograd.hessian(loss)(params)
    assert list(H) == sorted(params) and all(list(row) == sorted(params) for row in H.values())
    for a in params:
        for b in params:
            want = FC[f"hessian/{a}/{b}"]  # PyTorch's, weights (out, in): to our layout
            if a.endswith("weight"):
                want = np.swapaxes(want, 0, 1)
            if b.endswith("weight"):
                want = np.swapaxes(want, -1, -2)
            np.testing.assert_allclose(H[a][b], want, rtol=1e-10, atol=1e-13)
    # and against central differences of the gradient, one parameter element at a time
    g = autograd.grad(loss)
    for a in params:
        for idx in np.ndindex(params[a].shape):
            row = {}
            for step in (1e-5, -1e-5):
                moved = {k: v.copy() for k, v in params.items()}
                moved[a][idx] += step
                for k, v in g(moved).items():
                    row[k] = row.get(k, 0.0) + np.sign(step) * v / 2e-5
            for b in params:
                np.testing.assert_allclose(H[a][b][idx], row[b], rtol=1e-5, atol=1e-8)
    for k, v in model.state_dict().items():  # the model is unchanged
        np.testing.assert_array_equal(v, before[k])


def test_functional_call_grad_of_a_params_dict_is_the_backward_grad_and_pytorchs():
    model, params = _fc_model()
    model.load_state_dict(params)
    value, g = autograd.value_and_grad(_fc_loss(model, FC["x"], FC["y"]))(params)
    F.mse_loss(model(Tensor(FC["x"])), Tensor(FC["y"])).backward()
    assert value == pytest.approx(float(FC["loss"]), rel=1e-13)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(g[name], p.grad, rtol=1e-13, atol=1e-16)
        want = FC[f"grad/{name}"].T if name.endswith("weight") else FC[f"grad/{name}"]
        np.testing.assert_allclose(g[name], want, rtol=1e-12, atol=1e-15)
    # the model's own Parameters as the dict: gradients come back as nodes with those values
    g_nodes = autograd.grad(_fc_loss(model, FC["x"], FC["y"]))(dict(model.named_parameters()))
    for name, p in model.named_parameters():
        np.testing.assert_allclose(g_nodes[name].data, p.grad, rtol=1e-13, atol=1e-16)


def test_functional_call_runs_with_the_given_tensors_and_restores_the_model():
    model = nn.Sequential(nn.Linear(2, 3, seed=0), nn.ReLU(), nn.Linear(3, 1, seed=1))
    own = list(model.parameters())
    x = np.array([[1.0, -2.0], [0.5, 0.25]])
    w0 = np.arange(6.0).reshape(2, 3) / 10
    out = nn.functional_call(model, {"0.weight": w0}, x)  # the others: the model's own
    want = np.maximum(x @ w0 + model[0].bias.data, 0) @ model[2].weight.data + model[2].bias.data
    np.testing.assert_allclose(out.data, want, rtol=1e-15)
    assert list(model.parameters()) == own and all(type(p) is nn.Parameter for p in own)
    assert model[0].weight is own[0] and not np.array_equal(model[0].weight.data, w0)
    np.testing.assert_allclose(model(Tensor(x)).data, nn.functional_call(model, {}, x).data)
    with pytest.raises(ValueError, match=r"linear: .*\(2, 5\) and \(2, 3\)"):  # inside forward
        nn.functional_call(model, {"0.weight": w0}, np.ones((2, 5)))
    assert model[0].weight is own[0] and list(model.parameters()) == own  # restored anyway


def test_functional_call_passes_keyword_arguments_and_replaces_buffers():
    bn = nn.BatchNorm1d(2).eval()
    x = np.array([[1.0, 2.0], [3.0, 5.0]])
    mean, var = np.array([1.0, -1.0]), np.array([4.0, 0.25])
    out = nn.functional_call(bn, {"running_mean": mean, "running_var": var}, x)
    np.testing.assert_allclose(out.data, (x - mean) / np.sqrt(var + bn.eps), rtol=1e-14)
    np.testing.assert_array_equal(bn.running_mean.data, [0.0, 0.0])

    class Scale(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(2))

        def forward(self, x, *, power=1):
            return x * self.w ** power

    s = Scale()
    out = nn.functional_call(s, ({"w": np.array([2.0, 3.0])},), Tensor([1.0, 1.0]), power=2)
    np.testing.assert_array_equal(out.data, [4.0, 9.0])


def test_functional_call_replaces_a_shared_parameter_everywhere_and_in_containers():
    class Tied(nn.Module):
        def __init__(self):
            self.a = nn.Linear(2, 2, bias=False, seed=0)
            self.b = nn.Linear(2, 2, bias=False, seed=1)
            self.b.weight = self.a.weight  # tied
            self.extra = {"z": [nn.Parameter(np.ones(2))], "k": 3}
            self.chain = {"y": nn.Parameter(np.ones((2, 3))), "x": nn.Parameter(np.ones(3))}

        def forward(self, x):
            for w in self.chain.values():  # in the dict's order, which must be kept
                x = x @ w if w.ndim == 2 else x + w  # (3,) + (3,): y first
            return self.b(self.a(x[:2])) * self.extra["z"][0]

    m = Tied()
    assert [n for n, _ in m.named_parameters()] == ["a.weight", "extra.z.0", "chain.y",
                                                     "chain.x"]
    w, z = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([2.0, -1.0])
    y = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    out = nn.functional_call(m, {"a.weight": w, "extra.z.0": z, "chain.y": y,
                                 "chain.x": np.array([0.0, 0.0, 7.0])}, Tensor([1.0, 3.0]))
    np.testing.assert_array_equal(out.data, [1.0 * 2.0, 3.0 * -1.0])  # swapped twice: identity
    assert m.b.weight is m.a.weight and type(m.extra["z"][0]) is nn.Parameter
    assert list(m.extra) == ["z", "k"]


def test_functional_call_refuses_unknown_names_missing_names_when_strict_and_wrong_shapes():
    model = nn.Linear(2, 3, seed=0)
    with pytest.raises(ValueError, match=r"Linear has no parameter or buffer named "
                                         r"\['weights'\]"):
        nn.functional_call(model, {"weights": np.ones((2, 3))}, np.ones(2))
    with pytest.raises(ValueError, match=r"missing names \['bias'\] \(strict=True\)"):
        nn.functional_call(model, {"weight": np.ones((2, 3))}, np.ones(2), strict=True)
    with pytest.raises(ValueError, match=r"'weight' has shape \(3, 2\), the model's \(2, 3\)"):
        nn.functional_call(model, {"weight": np.ones((3, 2))}, np.ones(2))
    with pytest.raises(ValueError, match="'bias' is given in two dicts"):
        nn.functional_call(model, ({"bias": np.ones(3)}, {"bias": np.ones(3)}), np.ones(2))
    with pytest.raises(TypeError, match="'bias' is a str; a Tensor or an array expected"):
        nn.functional_call(model, {"bias": "zeros"}, np.ones(2))
    with pytest.raises(TypeError, match="a dict of tensors"):
        nn.functional_call(model, [np.ones(3)], np.ones(2))
