"""nn/module.py: buffers, dtype casts, requires_grad_, and the one dtype rule of
load_state_dict (issue 15). The rest of Module is tested in test_nn.py."""

import os

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
    with pytest.raises(ValueError, match="Module.to: cannot move the model to 'cpu'"):
        m.to("cpu")  # not a dtype: a library or device, as Tensor.to reads it


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


# ----- hooks ---------------------------------------------------------------------------------
HOOKS = np.load(os.path.join(os.path.dirname(__file__), "fixtures", "hooks.npz"))


def _hooked_model(events, seen):
    """The model of fixtures/make_hooks.py with the same hooks, in tapegrad."""
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    for p, k in zip(model.parameters(), ("w1", "b1", "w2", "b2")):
        p.data = HOOKS[k].copy()

    def module_hooks(name, m):
        m.register_forward_pre_hook(lambda mod, args: events.append(f"pre:{name}"))
        m.register_forward_hook(lambda mod, args, out: events.append(f"fwd:{name}"))

        def bwd(mod, grad_input, grad_output):
            events.append(f"bwd:{name}")
            seen[f"gi:{name}"], seen[f"go:{name}"] = grad_input[0].copy(), grad_output[0].copy()
            return tuple(2.0 * g for g in grad_input) if name == "1" else None

        m.register_full_backward_hook(bwd)

    def post_hook(name):
        def hook(t):
            events.append(f"post:{name}")
            seen[f"post:{name}"] = t.grad.copy()
        return hook

    for name, m in model.named_modules():
        module_hooks(name, m)
    for name, p in model.named_parameters():
        p.register_post_accumulate_grad_hook(post_hook(name))
    return model


def test_hooks_run_in_pytorchs_order_and_see_and_change_what_pytorch_does():
    events, seen = [], {}
    model = _hooked_model(events, seen)
    x = Tensor(HOOKS["x"], requires_grad=True)
    x.register_hook(lambda g: events.append("tensor:x"))
    y = model(x)
    y.register_hook(lambda g: (events.append("tensor:y"), g * 0.5)[1])
    loss = (y ** 2).sum()
    loss.backward()
    torch_events = [str(e) for e in HOOKS["events"]]
    # module hooks and hooks on non-leaves in PyTorch's order; a leaf's hooks run once its
    # gradient is complete, at the end here (PyTorch runs post-accumulate hooks as soon as a
    # parameter's gradient is complete, interleaved): their own order is the same
    assert [e for e in events if not e.startswith("post:")] == \
        [e for e in torch_events if not e.startswith("post:")]
    assert [e for e in events if e.startswith("post:")] == \
        [e for e in torch_events if e.startswith("post:")]
    assert events[-4:] == [e for e in torch_events if e.startswith("post:")]
    np.testing.assert_allclose(loss.item(), HOOKS["loss"], rtol=1e-12)
    for k in ("gi:", "go:", "gi:0", "go:0", "gi:1", "go:1", "gi:2", "go:2", "post:0.weight",
              "post:0.bias", "post:2.weight", "post:2.bias"):
        np.testing.assert_allclose(seen[k], HOOKS[k], rtol=1e-12, atol=1e-15, err_msg=k)
    np.testing.assert_allclose(x.grad, HOOKS["x_grad"], rtol=1e-12)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, HOOKS[f"grad:{name}"], rtol=1e-12, err_msg=name)


def test_forward_hooks_replace_args_and_output_and_handles_remove_them():
    lin = nn.Linear(2, 2, seed=0)
    h1 = lin.register_forward_pre_hook(lambda m, args: args[0] * 0.0)  # a non-tuple: one arg
    h2 = lin.register_forward_hook(lambda m, args, out: out + 1.0)
    x = Tensor(np.ones((1, 2)))
    np.testing.assert_allclose(lin(x).data, lin.bias.data[None] + 1.0)
    h1.remove()
    h1.remove()  # twice is harmless
    with h2:  # a handle is a context manager too: removed at the end of the block
        pass
    np.testing.assert_allclose(lin(x).data, (x.data @ lin.weight.data + lin.bias.data))
    with pytest.raises(TypeError, match="register_forward_hook: hook must be callable"):
        lin.register_forward_hook(3)


class TwoInputs(nn.Module):
    def forward(self, a, k, b):
        return a * b * k, a.sum()


def test_full_backward_hook_gets_one_entry_per_argument_and_its_result_flows_on():
    m, calls = TwoInputs(), []
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    c = Tensor([5.0, 6.0])  # needs no gradient: its grad_input entry is None

    def hook(mod, grad_input, grad_output):
        calls.append((grad_input, grad_output))
        return (grad_input[0] * 10.0, None, None)  # None: a zero gradient for b

    m.register_full_backward_hook(hook)
    out, total = m(a, 2.0, b)
    (out.sum() + a.sum() * 100.0).backward()  # a used outside the module: not in grad_input
    (gi, go), = calls
    np.testing.assert_allclose(gi[0], b.data * 2.0)
    assert gi[1] is None and gi[2] is not None and len(gi) == 3
    np.testing.assert_allclose(go[0], np.ones(2))
    assert go[1] is None  # no gradient reached the second output
    np.testing.assert_allclose(a.grad, b.data * 20.0 + 100.0)
    np.testing.assert_allclose(b.grad, np.zeros(2))
    out2, _ = m(c, 2.0, c)  # nothing requires grad: no hook call, no error
    assert not out2.requires_grad and len(calls) == 1


def test_full_backward_hook_without_inputs_that_require_grad_still_sees_grad_output():
    lin, calls = nn.Linear(2, 1, seed=0), []
    lin.register_full_backward_hook(lambda m, gi, go: calls.append((gi, go)))
    lin(Tensor(np.ones((3, 2)))).sum().backward()
    (gi, go), = calls
    assert gi == (None,) and go[0].shape == (3, 1)


def test_full_backward_hook_results_are_checked():
    lin = nn.Linear(2, 1, seed=0)
    x = Tensor(np.ones((3, 2)), requires_grad=True)
    with lin.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0])):
        with pytest.raises(RuntimeError, match=r"full backward hook of Linear: returned 2 "
                                               r"gradients for 1 inputs"):
            lin(x).sum().backward()
    with lin.register_full_backward_hook(lambda m, gi, go: (np.ones(2),)):
        with pytest.raises(RuntimeError, match=r"shape \(2,\).*shape \(3, 2\)"):
            lin(x).sum().backward()


def test_module_hooks_under_create_graph_get_tensors():
    lin, got = nn.Linear(2, 1, seed=0), []
    lin.register_full_backward_hook(lambda m, gi, go: got.append((gi[0], go[0])))
    x = Tensor(np.ones((1, 2)), requires_grad=True)
    (lin(x) ** 2).sum().backward(create_graph=True)
    gi, go = got[0]
    assert isinstance(gi, Tensor) and isinstance(go, Tensor) and gi.requires_grad
