"""The op table on other array libraries: every primitive, first and second order and in
forward mode, against numpy's results (the registry-driven domains of tests/test_ops.py); and
nn: models moved with Module.to, trained with every optimizer, saved and loaded.

array-api-strict runs in the README's test line (it catches numpy-only calls). Other CPU
backends run from their own environments with ``TAPEGRAD_BACKENDS`` (``torch``), as
``benchmarks/check_backends.sh`` does; this file needs no change for them. A new interpreter
of the tape adds one test here that reuses ``DOMAINS`` and ``BACKENDS``, as forward mode did.
"""

import copy
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ops import DOMAINS

import autograd as ag
import nn
from autograd import Tensor, array_api
from autograd.engine import registry
from autograd.testing import arrays

BACKENDS = os.environ.get("TAPEGRAD_BACKENDS", "array_api_strict").split(",")
RTOL = float(os.environ.get("TAPEGRAD_BACKEND_RTOL", "1e-10"))
pytestmark = pytest.mark.parametrize("backend", BACKENDS)


def host(x):
    """A result's values as numpy, whatever holds them."""
    x = x.data if isinstance(x, Tensor) else x
    return x if isinstance(x, np.ndarray) else np.asarray(Tensor(x).to("numpy").data)


def on(backend, x):
    """A float64 numpy array as a leaf Tensor of ``backend``."""
    return Tensor(array_api.namespace_for(backend).asarray(x), requires_grad=True)


def close(got, want, what):
    np.testing.assert_allclose(host(got), host(want), rtol=RTOL, atol=RTOL, err_msg=what)


def first_and_second(f, xs, u, v):
    """f's value, the gradient of sum(f * u) and the gradient of sum(grad * v) (an HVP)."""
    n = len(xs)
    loss = lambda *ts: (f(*ts) * u).sum()  # noqa: E731
    grads = ag.grad(loss, tuple(range(n)))
    hv = ag.grad(lambda *ts: sum((g * w).sum() for g, w in zip(grads(*ts), v)), tuple(range(n)))
    return f(*xs), grads(*xs), hv(*xs)


def test_every_primitive_has_a_backend_domain(backend):
    assert set(DOMAINS) == set(registry)


@pytest.mark.parametrize("name", sorted(DOMAINS))
@settings(max_examples=int(os.environ.get("TAPEGRAD_BACKEND_EXAMPLES", "25")))
@given(data=st.data())
def test_primitive_matches_numpy_to_second_order(backend, name, data):
    f, xs = data.draw(DOMAINS[name])
    shape = np.shape(f(*[Tensor(x) for x in xs]).data)
    u = data.draw(arrays(shape, low=0.5, high=2.0))
    v = [data.draw(arrays(np.shape(x), low=-1.0, high=1.0)) for x in xs]
    want = first_and_second(f, [Tensor(x, requires_grad=True) for x in xs], u, v)
    ns = array_api.namespace_for(backend)
    got = first_and_second(f, [on(backend, x) for x in xs], ns.asarray(u),
                           [ns.asarray(w) for w in v])
    assert got[0]._xp is ns, f"{name} left {backend}"
    close(got[0], want[0], f"{name}: value")
    for i, (a, b) in enumerate(zip(got[1], want[1])):
        close(a, b, f"{name}: gradient of input {i}")
    for i, (a, b) in enumerate(zip(got[2], want[2])):
        close(a, b, f"{name}: second order, input {i}")


# ----- libraries meet: errors, moves, zero-copy exchange ------------------------------------
def test_mixing_libraries_in_one_op_names_the_op_the_libraries_and_the_shapes(backend):
    x = on(backend, np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"mul: cannot mix .*numpy \(3,\).*\(2, 3\)"):
        Tensor(np.ones(3)) * x
    with pytest.raises(TypeError, match=r"matmul: cannot mix"):
        x @ Tensor(np.ones((3, 2)))
    assert (x * np.ones(3))._xp is x._xp  # a host constant is moved to the tensor's library
    with pytest.raises(TypeError, match="cannot mix"):
        Tensor(np.ones(3)) * x.data  # a foreign array beside a numpy tensor is not


def test_to_moves_values_into_a_new_leaf_and_back(backend):
    a = np.arange(6.0).reshape(2, 3)
    x = Tensor(a).to(backend.partition(":")[0])
    assert x._xp is not None and x.shape == (2, 3) and not x.requires_grad
    back = x.to("numpy")
    assert type(back.data) is np.ndarray
    np.testing.assert_array_equal(back.data, a)


def test_from_dlpack_shares_memory_and_the_gradient_stays_in_the_library(backend):
    mine = np.arange(4.0)
    shared = ag.from_dlpack(mine)
    mine[1] = 9.0
    assert shared.data[1] == 9.0  # zero-copy: unseen by version counters (README)
    x = on(backend, np.array([1.0, -2.0, 3.0]))
    (x * x).sum().backward()
    assert x.grad is not None and not isinstance(x.grad, np.ndarray)
    np.testing.assert_array_equal(host(x.grad), [2.0, -4.0, 6.0])


def test_repeated_indices_accumulate_on_every_backend(backend):
    x = on(backend, np.arange(4.0))
    x[[0, 0, 3, 0]].sum().backward()
    np.testing.assert_array_equal(host(x.grad), [3.0, 0.0, 0.0, 1.0])


def test_a_training_step_matches_numpy(backend):
    rng = np.random.default_rng(0)
    data = [rng.standard_normal(s) for s in ((8, 5), (5, 4), (4,), (4, 3), (3,))]
    labels = rng.integers(0, 3, 8)

    def step(arrays):
        x, *params = arrays
        h = ag.linear(x, params[0], params[1]).relu()
        loss = ag.cross_entropy(ag.linear(h, params[2], params[3]), labels).mean()
        loss.backward()
        with ag.no_grad():
            for p in params:
                p -= 0.1 * p.grad
        return loss, params

    want = step([Tensor(data[0])] + [Tensor(a, requires_grad=True) for a in data[1:]])
    got = step([Tensor(on(backend, data[0]).data)] + [on(backend, a) for a in data[1:]])
    close(got[0], want[0], "loss")
    for a, b in zip(got[1], want[1]):
        close(a, b, "updated parameter")


def test_joins_along_a_leading_axis_split_their_gradient_back(backend):
    # the VJPs index g along one axis of several: the standard wants the trailing ellipsis
    a, b = on(backend, np.ones((2, 3))), on(backend, np.ones((1, 3)))
    (ag.concatenate([a, b], axis=0) * 2.0).sum().backward()
    c, d = on(backend, np.ones((2, 3))), on(backend, np.ones((2, 3)))
    (ag.stack([c, d], axis=0) * 3.0).sum().backward()
    np.testing.assert_array_equal(host(a.grad), np.full((2, 3), 2.0))
    np.testing.assert_array_equal(host(d.grad), np.full((2, 3), 3.0))


def test_compile_refuses_another_librarys_tensors_clearly(backend):
    """A program is numpy source: a foreign tensor, as an argument or as state, is a TypeError
    naming its type, not an AttributeError from inside the tracer."""
    x, w = on(backend, np.ones(3)), on(backend, np.ones(3))
    with pytest.raises(TypeError, match=r"trace/compile: a tensor holds a .*only numpy tensors"):
        ag.compile(lambda a: (a * 2.0).sum())(x)
    with pytest.raises(TypeError, match=r"trace/compile: a tensor holds a .*only numpy tensors"):
        ag.compile(lambda a: (a * w).sum())(Tensor(np.ones(3)))


# ----- forward mode on backends: every JVP, and jacfwd, against numpy's --------------------------
@pytest.mark.parametrize("name", sorted(DOMAINS))
@settings(max_examples=int(os.environ.get("TAPEGRAD_BACKEND_EXAMPLES", "25")))
@given(data=st.data())
def test_primitive_jvp_matches_numpy(backend, name, data):
    """``jvp`` of each primitive (its value and J v) on the backend equals numpy's, with
    tangents of the backend's library; and forward over reverse (the JVP of a gradient, an
    HVP) too."""
    f, xs = data.draw(DOMAINS[name])
    shape = np.shape(f(*[Tensor(x) for x in xs]).data)
    u = data.draw(arrays(shape, low=0.5, high=2.0))
    vs = [data.draw(arrays(np.shape(x), low=-1.0, high=1.0)) for x in xs]
    ns = array_api.namespace_for(backend)
    n = len(xs)
    grads = ag.grad(lambda *ts: (f(*ts) * u).sum(), tuple(range(n)))

    def both(args, tangents):
        value, jv = ag.jvp(f, tuple(args), tuple(tangents))
        _, hv = ag.jvp(grads, tuple(args), tuple(tangents))
        return value, jv, hv

    want = both([Tensor(x) for x in xs], [Tensor(v) for v in vs])
    got = both([Tensor(ns.asarray(x)) for x in xs], [Tensor(ns.asarray(v)) for v in vs])
    assert got[1]._xp is ns, f"{name}: the tangent left {backend}"
    close(got[0], want[0], f"{name}: value")
    close(got[1], want[1], f"{name}: J v")
    for i, (a, b) in enumerate(zip(got[2], want[2])):
        close(a, b, f"{name}: forward over reverse, input {i}")


def test_jacfwd_matches_numpy(backend):
    """jacfwd (one forward sweep per input element, seeded in the backend's library) and
    jacrev of a function R^3 -> R^2 and of its gradient (a Hessian, forward over reverse)."""
    a = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    x0 = np.array([0.3, -0.2, 0.9])

    def f(x):
        return (x @ a.T).tanh() * x[:2]  # (a host constant joins the tensor's library)

    def g(x):
        return (f(x) * f(x)).sum()

    for fn in (f, ag.grad(g)):
        for jac in (ag.jacfwd, ag.jacrev):
            want = jac(fn)(Tensor(x0))
            got = jac(fn)(on(backend, x0))
            assert got._xp is not None and got.shape == want.shape
            close(got, want, jac.__name__)
    for jac in (ag.jacfwd, ag.jacrev):  # arguments f does not depend on, one of size 0
        got = jac(lambda x, y, z: f(x), (0, 1, 2))(on(backend, x0), on(backend, np.ones(4)),
                                                   on(backend, np.ones(0)))
        assert got[1]._xp is not None and got[2]._xp is not None
        np.testing.assert_array_equal(host(got[1]), np.zeros((2, 4)))
        assert got[2].shape == (2, 0)
    got = ag.jacrev(lambda x: x[:0] * 2.0)(on(backend, x0))  # an output of size 0
    assert got._xp is not None and got.shape == (0, 3)


def test_a_custom_jvp_returning_a_number_gives_a_tangent_in_the_library(backend):
    """A JVP rule may return a number (a constant tangent): it becomes an array of the
    output's library, shape and dtype, never a numpy array."""
    flat = ag.primitive("backend_flat", lambda xp, x: x * 0.0 + 1.0,
                        lambda xp, g, out, x: (g * 0.0,), jvp=lambda xp, ts, out, x: 0.0)
    x = on(backend, np.array([1.0, 2.0]))
    value, t = ag.jvp(lambda a: flat(a) * 3.0 + a, (x,), (on(backend, np.array([1.0, -1.0])),))
    assert t._xp is x._xp
    np.testing.assert_array_equal(host(t), [1.0, -1.0])
    np.testing.assert_array_equal(host(value), [4.0, 5.0])


# ----- nn on any backend: Module.to, optimizers, state dicts and files --------------------------

OPTIMIZERS = {
    "sgd": lambda ps: nn.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam": lambda ps: nn.Adam(ps, lr=1e-3, weight_decay=0.1),
    "adamw": lambda ps: nn.AdamW(ps, lr=1e-3),
    "rmsprop": lambda ps: nn.RMSprop(ps, lr=1e-3, momentum=0.5, centered=True, weight_decay=0.1),
}


def model():
    """Linear, ReLU, LayerNorm, BatchNorm1d (with its buffers): every parameter gets a
    well-conditioned gradient (no bias right before a normalization)."""
    return nn.Sequential(nn.Linear(5, 6, seed=0), nn.ReLU(), nn.LayerNorm(6),
                         nn.Linear(6, 4, seed=1), nn.ReLU(), nn.BatchNorm1d(4),
                         nn.Linear(4, 3, seed=2))


def batch(backend):
    rng = np.random.default_rng(0)
    x, labels, t = rng.standard_normal((16, 5)), rng.integers(0, 3, 16), \
        rng.standard_normal((16, 3))
    if backend is None:
        return Tensor(x), labels, Tensor(t)
    ns = array_api.namespace_for(backend)
    return Tensor(ns.asarray(x)), labels, Tensor(ns.asarray(t))


def train(m, opt, data, steps=3):
    x, labels, t = data
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        out = m(x)
        loss = nn.CrossEntropyLoss()(out, labels) + nn.MSELoss()(out, t)
        loss.backward()
        opt.step()
        losses.append(loss)
    return losses


def host_state(sd):
    return {k: host(v) for k, v in sd.items()}


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_an_nn_training_run_matches_numpy_with_every_optimizer(backend, opt_name):
    """3 steps of a model moved to the backend (Module.to) equal numpy's: losses, parameters,
    buffers, gradients and the optimizer's state, which stays in the parameters' library."""
    make = OPTIMIZERS[opt_name]
    ref = model()
    ref_opt = make(ref.parameters())
    want = train(ref, ref_opt, batch(None))
    m = model()
    params = list(m.parameters())
    assert m.to(backend) is m
    assert all(a is b for a, b in zip(m.parameters(), params))  # the same objects, in place
    opt = make(m.parameters())
    got = train(m, opt, batch(backend))
    for a, b in zip(got, want):
        close(a, b, f"{opt_name}: loss")
    ns = array_api.namespace_for(backend)
    for (name, a), b in zip(m.state_dict().items(), ref.state_dict().values()):
        assert type(a) is type(ns.asarray(0.0)), f"{name} left {backend}"
        close(a, b, f"{opt_name}: {name}")
    for p, q in zip(m.parameters(), ref.parameters()):
        close(p.grad, q.grad, f"{opt_name}: gradient")
    for state, ref_state, p in zip(opt.state, ref_opt.state, m.parameters()):
        assert state.keys() == ref_state.keys()
        for k, v in state.items():
            if hasattr(v, "shape"):
                assert type(v) is type(p.data), f"{opt_name}: state {k} left {backend}"
                close(v, ref_state[k], f"{opt_name}: state {k}")


def test_module_to_moves_in_place_and_back(backend):
    """Parameters keep their identity, requires_grad and labels; buffers and gradients move;
    a graph recorded before the move refuses to backpropagate; to("numpy") brings back the
    same values bit for bit; dtypes (numpy's or the library's own) cast on the backend."""
    m = model()
    x, labels, _ = batch(None)
    m[0].weight.requires_grad = False  # a frozen parameter moves too
    loss = nn.CrossEntropyLoss()(m(x), labels)
    loss.backward()
    grads = {id(p): p.grad.copy() for p in m.parameters() if p.grad is not None}
    params = list(m.parameters())
    pending = nn.CrossEntropyLoss()(m(x), labels)
    before = m.state_dict()
    ns = array_api.namespace_for(backend)
    dev = getattr(ns.device, "id", ns.device)
    assert m.to(f"{ns.library}:{dev}") is m  # the library:device form of Tensor.to
    assert all(a is b for a, b in zip(m.parameters(), params))
    assert not m[0].weight.requires_grad and m[3].bias.requires_grad
    assert m[3].weight.label == "weight" or m[3].weight.label.endswith("weight")
    for p in params:
        assert p._xp is ns and isinstance(p, nn.Parameter)
        if id(p) in grads:
            assert type(p.grad) is type(p.data)
            np.testing.assert_array_equal(host(p.grad), grads[id(p)])
    assert m[5].running_mean._xp is ns and m[5].num_batches_tracked._xp is ns
    with pytest.raises(RuntimeError, match="modified|changed|version"):
        pending.backward()
    m.to("numpy")
    assert all(a is b and type(a.data) is np.ndarray for a, b in zip(m.parameters(), params))
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    running = m[5].running_mean
    version = params[0]._version[0]
    m.to("numpy")  # already there: nothing changes, the graphs stay valid (PyTorch's no-op)
    assert m[5].running_mean is running and params[0]._version[0] == version
    m.to(backend).to(np.float32)  # a numpy dtype casts on the backend
    assert m[3].weight._xp is not None and m[3].weight.dtype == ns.xp.float32
    assert m[5].num_batches_tracked.dtype == ns.xp.int64  # integer buffers stay integer
    m.to(ns.xp.float64)  # the library's own dtype, as model.to(torch.float64)
    assert m[3].weight.dtype == ns.xp.float64


def test_a_copy_of_a_model_on_a_backend_stays_there_and_trains(backend):
    """copy.deepcopy of a moved model (a snapshot, an EMA) shares the library's namespace:
    its tensors mix with the original's inputs."""
    m = model().to(backend)
    twin = copy.deepcopy(m)
    assert all(a._xp is b._xp for a, b in zip(twin.parameters(), m.parameters()))
    data = batch(backend)
    close(train(twin, nn.SGD(twin.parameters(), lr=0.1), data)[-1],
          train(m, nn.SGD(m.parameters(), lr=0.1), data)[-1], "the copy's loss")


def test_a_failed_move_leaves_the_model_unchanged(backend, monkeypatch):
    """Module.to moves every tensor before it changes any: a failure part way (here the
    fifth tensor) leaves every parameter and buffer where and as it was."""
    import importlib

    tensor = importlib.import_module("autograd.tensor")
    m = model().to(backend)
    before = {k: host(v) for k, v in m.state_dict().items()}
    calls = [0]
    real = tensor._to

    def failing(t, target):
        calls[0] += 1
        if calls[0] == 5:
            raise ValueError("to: no room on the device")
        return real(t, target)

    monkeypatch.setattr(tensor, "_to", failing)
    with pytest.raises(ValueError, match="Module.to: cannot move the model to 'numpy'.*no room"):
        m.to("numpy")
    assert calls[0] == 5
    for k, v in m.state_dict().items():
        assert not isinstance(v, np.ndarray), f"{k} moved"
        np.testing.assert_array_equal(host(v), before[k], err_msg=k)
    with pytest.raises(ValueError, match="Module.to: cannot move the model to 'cuda'"):
        model().to("cuda")  # a device of no library, for a numpy model


def test_optimizer_state_dict_is_host_and_loads_into_the_library(backend):
    """An optimizer's state_dict holds host arrays; loading it puts them in each parameter's
    library, so training resumes exactly (and across libraries)."""
    data = batch(backend)
    m = model().to(backend)
    opt = nn.Adam(m.parameters(), lr=1e-3)
    train(m, opt, data, steps=2)
    sd = opt.state_dict()
    assert all(type(v) is np.ndarray for st in sd["state"].values() for k, v in st.items()
               if k != "step")
    snapshot = {k: host(v) for k, v in m.state_dict().items()}
    want = train(m, opt, data, steps=1)[0]
    m.load_state_dict(snapshot)
    fresh = nn.Adam(m.parameters(), lr=1e-3)
    fresh.load_state_dict(sd)
    assert all(type(v) is type(p.data) for st, p in zip(fresh.state, m.parameters())
               for k, v in st.items() if k != "step")
    close(train(m, fresh, data, steps=1)[0], want, "resumed loss")
    ref = model()  # the same state, on numpy
    ref.load_state_dict(snapshot)
    on_numpy = nn.Adam(ref.parameters(), lr=1e-3)
    on_numpy.load_state_dict(sd)
    close(train(ref, on_numpy, batch(None), steps=1)[0], want, "resumed on numpy")


def test_optimizer_refuses_another_librarys_gradient_or_state(backend):
    """A gradient of another library (numpy's for a backend parameter, or the reverse) is a
    TypeError naming the optimizer, the parameter and both libraries; so is state left in the
    old library by a Module.to after the first step. Nothing changes."""
    m = model().to(backend)
    data = batch(backend)
    opt = nn.SGD(m.parameters(), lr=0.1, momentum=0.9)
    train(m, opt, data, steps=1)
    before = host_state(m.state_dict())
    params = list(m.parameters())
    params[1].grad = np.ones(params[1].shape)
    with pytest.raises(TypeError, match=r"SGD.step: parameter 1 is a \S+ on .* array of shape "
                                        r"\(6,\) but its gradient is a numpy array"):
        opt.step()
    assert host_state(m.state_dict()).keys() == before.keys()
    for k, v in host_state(m.state_dict()).items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    plain = model()
    plain_opt = nn.SGD(plain.parameters(), lr=0.1)
    plain.zero_grad()
    list(plain.parameters())[0].grad = Tensor(np.ones((5, 6))).to(backend).data
    with pytest.raises(TypeError, match=r"SGD.step: parameter 0 is a numpy array .* but its "
                                        r"gradient is a \S+ on"):
        plain_opt.step()
    m.to("numpy")  # after the first step: the momentum buffers are still on the backend
    x, labels, _ = batch(None)
    opt.zero_grad()
    nn.CrossEntropyLoss()(m(x), labels).backward()
    before = m.state_dict()
    with pytest.raises(TypeError, match=r"SGD.step: the state 'momentum_buffer' of parameter 0 "
                                        r"is a \S+ on .* array but the parameter is now a "
                                        r"numpy array"):
        opt.step()
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    opt.load_state_dict(opt.state_dict())  # moves the state to the parameters' library
    opt.step()
    assert all(type(st["momentum_buffer"]) is np.ndarray for st in opt.state)


def test_save_on_a_backend_and_load_on_numpy_and_back(backend, tmp_path):
    """Weight files hold host arrays: a model trained on the backend saves, a numpy model
    loads it, and the reverse; the values land in each model's own library. state_dict holds
    the library's arrays (as PyTorch's holds its device's), and load_state_dict takes them."""
    m = model().to(backend)
    train(m, nn.SGD(m.parameters(), lr=0.1), batch(backend), steps=1)  # BatchNorm's stats move
    path = tmp_path / "w.npz"
    m.save(path)
    on_numpy = model().load(path)
    for (k, a), b in zip(on_numpy.state_dict().items(), m.state_dict().values()):
        assert type(a) is np.ndarray
        np.testing.assert_array_equal(a, host(b), err_msg=k)
    train(on_numpy, nn.SGD(on_numpy.parameters(), lr=0.1), batch(None), steps=1)
    on_numpy.save(path)
    back = model().to(backend)
    params = list(back.parameters())
    assert back.load(path) is back
    assert all(a is b for a, b in zip(back.parameters(), params))
    for (k, a), b in zip(back.state_dict().items(), on_numpy.state_dict().values()):
        assert not isinstance(a, np.ndarray), f"{k} left {backend}"
        np.testing.assert_array_equal(host(a), b, err_msg=k)
    fresh = model()
    fresh.load_state_dict(back.state_dict())  # the backend's arrays into a numpy model
    for (k, a), b in zip(fresh.state_dict().items(), on_numpy.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    bad = back.state_dict()
    bad["3.weight"] = np.ones((4, 6))
    with pytest.raises(ValueError, match=r"shape of '3.weight': given \(4, 6\), model has "
                                         r"\(6, 4\) \(nothing loaded\)"):
        back.load_state_dict(bad)
    np.testing.assert_array_equal(host(back[3].weight), on_numpy[3].weight.data)


def _nn_cases():
    F = nn.functional
    rng = np.random.default_rng(1)
    y01 = (rng.random((6, 4)) > 0.5) * 1.0
    labels = rng.integers(0, 4, 6)
    w = np.array([1.0, 2.0, 3.0, 4.0])
    return {  # name: (input shape, module or None, loss of (output, to_backend))
        "mse": ((6, 4), None, lambda z, on: F.mse_loss(z, on(y01))),
        "l1": ((6, 4), None, lambda z, on: F.l1_loss(z, on(y01))),
        "huber": ((6, 4), None, lambda z, on: F.huber_loss(z, on(y01), delta=0.5)),
        "bce_with_logits": ((6, 4), None,
                            lambda z, on: F.binary_cross_entropy_with_logits(z, on(y01))),
        "bce": ((6, 4), None, lambda z, on: F.binary_cross_entropy(z.sigmoid(), on(y01),
                                                                   weight=w)),
        "cross_entropy": ((6, 4), None, lambda z, on: nn.CrossEntropyLoss()(z, labels)),
        "cross_entropy_options": ((6, 4), None, lambda z, on: nn.CrossEntropyLoss(
            weight=w, ignore_index=2, label_smoothing=0.1)(z, labels)),
        "nll": ((6, 4), None, lambda z, on: F.nll_loss(z.log_softmax(1), labels)),
        "activations": ((6, 4), nn.Sequential(nn.GELU(), nn.LeakyReLU(0.1), nn.Tanh(),
                                              nn.GELU("tanh"), nn.Sigmoid(), nn.Softmax(1)),
                        lambda z, on: (z * on(y01)).sum()),
        "dropout": ((6, 4), nn.Dropout(0.5, seed=0), lambda z, on: (z * on(y01)).sum()),
        "batchnorm_eval": ((6, 4), nn.BatchNorm1d(4).eval(), lambda z, on: (z * on(y01)).sum()),
        "conv_pool": ((2, 3, 7, 7), nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1, seed=0), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1),
            nn.Conv2d(4, 2, 2, stride=2, groups=2, seed=1), nn.Flatten(),
            nn.Linear(8, 3, seed=2)), lambda z, on: (z * z).sum()),
        "avg_pool": ((2, 3, 5, 5), nn.AvgPool2d(3, 2, padding=1, count_include_pad=False),
                     lambda z, on: (z * z).sum()),
    }


@pytest.mark.parametrize("case", sorted(_nn_cases()))
def test_layers_and_losses_match_numpy(backend, case):
    """Each layer and loss on the backend (a module moved with Module.to): the value and the
    gradients of the input and of the parameters equal numpy's."""
    shape, module, loss = _nn_cases()[case]
    x = np.random.default_rng(0).standard_normal(shape)
    ns = array_api.namespace_for(backend)
    results = []
    for target, on in ((None, Tensor), (backend, lambda a: Tensor(ns.asarray(a)))):
        fresh = copy.deepcopy(module)
        if fresh is not None and target is not None:
            fresh.to(target)
        xt = Tensor(on(x).data, requires_grad=True)
        value = loss(xt if fresh is None else fresh(xt), on)
        value.backward()
        params = [] if fresh is None else list(fresh.parameters())
        results.append((value, xt.grad, [p.grad for p in params]))
    (got, got_g, got_ps), (want, want_g, want_ps) = results[1], results[0]
    assert got._xp is ns, f"{case} left {backend}"
    close(got, want, f"{case}: value")
    close(got_g, want_g, f"{case}: gradient of the input")
    for a, b in zip(got_ps, want_ps):
        close(a, b, f"{case}: gradient of a parameter")
