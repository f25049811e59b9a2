"""nn/module.py: buffers, dtype casts, requires_grad_, and the one dtype rule of
load_state_dict (issue 15). The rest of Module is tested in test_nn.py."""

import numpy as np
import pytest

import nn
from autograd import Tensor


class Stats(nn.Module):
    """A layer with a parameter, a sub-module and buffers of each kind."""

    def __init__(self):
        self.scale = nn.Parameter(np.ones(3))
        self.inner = nn.Linear(3, 2, seed=0)
        self.register_buffer("mean", np.zeros(3))
        self.register_buffer("count", np.array(0, dtype=np.int64))
        self.register_buffer("cache", np.arange(3.0), persistent=False)
        self.register_buffer("absent", None)

    def forward(self, x):
        return self.inner(x * self.scale - self.mean)


# ----- buffers -------------------------------------------------------------------------------
def test_buffers_are_named_listed_and_saved_but_are_not_parameters():
    m = nn.Sequential(Stats())
    assert [n for n, _ in m.named_parameters()] == ["0.scale", "0.inner.weight", "0.inner.bias"]
    assert [n for n, _ in m.named_buffers()] == ["0.mean", "0.count", "0.cache"]
    assert [b.dtype for b in m.buffers()] == [np.float64, np.int64, np.float64]
    assert all(isinstance(b, Tensor) and not b.requires_grad for b in m.buffers())
    assert not any(isinstance(b, nn.Parameter) for b in m.buffers())
    # persistent buffers follow their module's parameters and sub-modules; None is skipped
    assert list(m.state_dict()) == ["0.scale", "0.inner.weight", "0.inner.bias", "0.mean",
                                    "0.count"]
    assert m.state_dict()["0.count"].dtype == np.int64
    assert [n for n, _ in m[0].named_buffers(prefix="s", recurse=False)] == ["s.mean", "s.count",
                                                                             "s.cache"]


def test_a_buffer_gets_no_gradient_and_zero_grad_ignores_it():
    m = Stats()
    m(np.ones((2, 3))).sum().backward()
    assert m.scale.grad is not None and m.mean.grad is None


def test_buffers_load_and_a_failed_load_changes_nothing():
    m, other = Stats(), Stats()
    other.mean[...] = 5.0  # (buffers need no no_grad: they never require grad)
    other.count[...] = 7
    m.load_state_dict(other.state_dict())
    np.testing.assert_array_equal(m.mean.data, [5.0, 5.0, 5.0])
    assert m.count.data == 7 and m.count.dtype == np.int64
    sd = dict(other.state_dict(), count=np.array(9))
    sd["mean"] = np.zeros(4)
    with pytest.raises(ValueError, match=r"shape of 'mean': given \(4,\), model has \(3,\)"):
        m.load_state_dict(sd)
    assert m.count.data == 7
    sd = other.state_dict()
    del sd["count"]
    with pytest.raises(ValueError, match=r"missing names \['count'\]"):
        m.load_state_dict(sd)
    with pytest.raises(ValueError, match=r"unexpected names \['cache'\]"):
        m.load_state_dict(dict(other.state_dict(), cache=np.zeros(3)))


def test_save_and_load_carry_persistent_buffers(tmp_path):
    m, other = Stats(), Stats()
    other.mean[...] = 2.5
    other.count[...] = 3
    other.save(tmp_path / "s.npz")
    m.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(m.mean.data, [2.5] * 3)
    assert m.count.data == 3 and m.count.dtype == np.int64


def test_register_buffer_and_assignment_are_checked():
    m = Stats()
    with pytest.raises(TypeError, match="cannot assign list to buffer 'mean' of Stats"):
        m.mean = [1.0, 2.0]
    m.mean = Tensor([1.0, 2.0, 3.0])  # a Tensor replaces it and stays a buffer
    assert "mean" in dict(m.named_buffers())
    m.mean = None
    assert "mean" not in m.state_dict()
    with pytest.raises(TypeError, match="the name must be a str"):
        m.register_buffer(1, None)
    with pytest.raises(ValueError, match="'a.b' is not a valid attribute name"):
        m.register_buffer("a.b", None)
    with pytest.raises(ValueError, match="already has an attribute 'scale'"):
        m.register_buffer("scale", np.zeros(3))
    for name in ("training", "forward"):  # nor may a buffer hide a method or class default
        with pytest.raises(ValueError, match=f"already has an attribute '{name}'"):
            m.register_buffer(name, None)
    with pytest.raises(TypeError, match="'p' is a Parameter"):
        m.register_buffer("p", nn.Parameter(np.zeros(2)))
    with pytest.raises(ValueError, match="'q' requires grad"):
        m.register_buffer("q", Tensor(np.zeros(2), requires_grad=True))
    with pytest.raises(TypeError, match="unsupported dtype"):
        m.register_buffer("s", np.array(["a"]))
    m.register_buffer("mean", np.zeros(3))  # registering again replaces the buffer
    assert m.mean.shape == (3,)


# ----- to, double, float, requires_grad_ ----------------------------------------------------
def test_to_casts_parameters_and_floating_buffers_in_place_keeping_the_objects():
    m = Stats()
    params = list(m.parameters())
    opt = nn.SGD(m.parameters(), lr=0.1)
    m(np.ones((2, 3))).sum().backward()
    versions = [p._version[0] for p in params]
    assert m.float() is m
    assert list(m.parameters()) == params and all(p.dtype == np.float32 for p in params)
    assert all(p.grad.dtype == np.float32 for p in params)
    assert [p._version[0] for p in params] > versions  # pending graphs see the change
    assert m.mean.dtype == np.float32 and m.cache.dtype == np.float32
    assert m.count.dtype == np.int64  # integer buffers stay integer
    opt.step()  # the optimizer's references are the model's
    y = m(np.ones((2, 3), np.float32))
    assert y.dtype == np.float32
    assert m.double() is m and all(p.dtype == np.float64 for p in m.parameters())
    assert m.to(np.float32) is m and m.inner.weight.dtype == np.float32
    assert m.count.dtype == np.int64
    with pytest.raises(TypeError, match="only floating dtypes are supported, got int32"):
        m.to(np.int32)
    with pytest.raises(TypeError, match="expected a floating dtype, got 'cpu'"):
        m.to("cpu")


def test_requires_grad_freezes_and_unfreezes_every_parameter():
    m = Stats()
    assert m.requires_grad_(False) is m
    assert not any(p.requires_grad for p in m.parameters())
    assert m.requires_grad_() is m and all(p.requires_grad for p in m.parameters())


# ----- the dtype rule of load_state_dict (and load, in test_nn_io.py) -------------------------
@pytest.mark.parametrize("model_dtype, given_dtype", [(np.float32, np.float64),
                                                      (np.float64, np.float32),
                                                      (np.float64, np.float16)])
def test_load_state_dict_casts_floating_values_to_the_models_dtype(model_dtype, given_dtype):
    m = nn.MLP([3, 4, 2], seed=0, dtype=model_dtype)
    src = nn.MLP([3, 4, 2], seed=1, dtype=given_dtype)
    m.load_state_dict(src.state_dict())
    for (name, p), q in zip(m.named_parameters(), src.parameters()):
        assert p.dtype == model_dtype, name
        np.testing.assert_array_equal(p.data, q.data.astype(model_dtype))


@pytest.mark.parametrize("bad", [np.int64, np.int32, np.bool_, np.complex128])
def test_load_state_dict_refuses_a_non_floating_value_and_changes_nothing(bad):
    m = nn.Linear(2, 2, seed=0)
    before = m.weight.data.copy()
    with pytest.raises(TypeError, match=r"'weight' has dtype \w+; the model's is float64, so "
                                        r"floating values are expected"):
        m.load_state_dict({"weight": np.ones((2, 2), dtype=bad), "bias": np.ones(2)})
    np.testing.assert_array_equal(m.weight.data, before)


def test_an_integer_buffer_takes_integers_only():
    m = Stats()
    sd = m.state_dict()
    m.load_state_dict(dict(sd, count=np.array(4, np.int32)))
    assert m.count.data == 4 and m.count.dtype == np.int64
    with pytest.raises(TypeError, match="'count' has dtype float64; the model's is int64, so "
                                        "integer values are expected"):
        m.load_state_dict(dict(sd, count=np.array(4.0)))
