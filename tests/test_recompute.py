"""autograd/recompute.py: checkpoint, and nn.checkpoint_sequential (issue 18 item 2)."""

import gc
import tracemalloc

import numpy as np
import pytest

import autograd
import nn
from autograd import Tensor, checkpoint


def _model(dtype, p=0.3):
    return nn.Sequential(nn.Linear(4, 16, seed=0, dtype=dtype), nn.Tanh(),
                         nn.Dropout(p, seed=5), nn.Linear(16, 16, seed=1, dtype=dtype),
                         nn.ReLU(), nn.Linear(16, 2, seed=2, dtype=dtype))


def _grads(run, dtype, create_graph=False):
    """The gradients of a loss of ``run(model, x)`` wrt x and every parameter."""
    m = _model(dtype)
    x = Tensor(np.random.default_rng(0).standard_normal((5, 4)), dtype=dtype,
               requires_grad=True)
    y = run(m, x)
    loss = (y * y).sum()
    loss.backward(create_graph=create_graph)
    return loss, x, m


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("run", [
    lambda m, x: checkpoint(m, x),
    lambda m, x: checkpoint(lambda t: m(t) * 2.0, x) * 0.5,  # a closure over the module
    lambda m, x: nn.checkpoint_sequential(m, 3, x),
    lambda m, x: nn.checkpoint_sequential(m, 6, x),
], ids=["module", "closure", "sequential3", "sequential6"])
def test_checkpoint_gives_plain_backwards_gradients_bit_for_bit(dtype, run):
    plain_loss, px, pm = _grads(lambda m, x: m(x), dtype)
    loss, x, m = _grads(run, dtype)
    assert loss.item() == plain_loss.item()
    assert x.grad.dtype == dtype and np.array_equal(x.grad, px.grad)
    for p, q in zip(m.parameters(), pm.parameters()):
        assert np.array_equal(p.grad, q.grad), p.label


def test_dropout_is_replayed_with_the_same_random_state_and_then_left_as_forward_left_it():
    m = nn.Sequential(nn.Linear(3, 50, seed=0), nn.Dropout(0.5, seed=1))
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    y = checkpoint(m, x)
    after_forward = m[1]._rng.bit_generator.state
    y.sum().backward()
    assert m[1]._rng.bit_generator.state == after_forward
    kept = y.data != 0
    np.testing.assert_array_equal(x.grad, (kept * 2.0) @ m[0].weight.data.T)
    x.grad = None
    m2 = nn.Sequential(nn.Linear(3, 50, seed=0), nn.Dropout(0.5, seed=1))
    checkpoint(m2, x, preserve_rng_state=False).sum().backward()  # not replayed: new masks
    assert not np.array_equal(x.grad, (kept * 2.0) @ m[0].weight.data.T)


def test_checkpoint_under_create_graph_gives_the_same_second_order_gradients():
    def second(run):
        w = Tensor(np.linspace(-1.0, 1.0, 6).reshape(3, 2), requires_grad=True)
        x = Tensor(np.linspace(0.5, 2.0, 6).reshape(2, 3), requires_grad=True)
        y = run(lambda a, b: (a @ b).tanh().sum(), x, w)
        y.backward(create_graph=True)
        gx = x.grad
        x.grad = w.grad = None
        (gx * gx).sum().backward()
        return gx.data, x.grad, w.grad

    plain = second(lambda f, *a: f(*a))
    ck = second(lambda f, *a: checkpoint(f, *a))
    for a, b in zip(plain, ck):
        assert np.array_equal(a, b)
    x = Tensor([0.3, -0.7], requires_grad=True)
    hvp = autograd.hessian(lambda t: checkpoint(lambda u: (u.sin() * u).sum(), t))(x)
    np.testing.assert_array_equal(hvp.data if isinstance(hvp, Tensor) else hvp,
                                  autograd.hessian(lambda t: (t.sin() * t).sum())(x).data)


def test_checkpoint_keeps_less_memory_than_plain_recording():
    def kept(run):
        m = nn.Sequential(*[nn.Linear(200, 200, seed=i) for i in range(6)])
        x = Tensor(np.ones((100, 200)), requires_grad=True)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        y = run(m, x)
        size = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        del y
        return size

    plain = kept(lambda m, x: m(x))
    ck = kept(lambda m, x: checkpoint(m, x))
    assert plain > 5 * 100 * 200 * 8 and ck < 1.5 * 100 * 200 * 8  # six activations vs one


def test_checkpoint_errors_and_passthroughs():
    with pytest.raises(TypeError, match="checkpoint: f must be callable, got int"):
        checkpoint(3, Tensor(1.0))
    with pytest.raises(TypeError, match="checkpoint: f must return one Tensor, got tuple"):
        checkpoint(lambda t: (t, t), Tensor(1.0, requires_grad=True))
    hidden = Tensor([2.0], requires_grad=True)
    outside = [hidden]

    def sneaky(t):
        return t * outside[0]  # reaches `hidden` through a list in a global: not found

    y = checkpoint(lambda t: sneaky(t), Tensor([1.0], requires_grad=True))
    with pytest.raises(RuntimeError, match=r"reads tensors that require grad but are neither "
                                           r"among its arguments.*shape \(1,\)"):
        y.sum().backward()
    x = Tensor([1.0, 2.0])
    assert not checkpoint(lambda t: t * 2.0, x).requires_grad  # nothing requires grad
    with autograd.no_grad():
        assert checkpoint(lambda t: t * 2.0, Tensor([1.0], requires_grad=True)).op == ""
    with pytest.raises(ValueError, match="segments must be an int >= 1"):
        nn.checkpoint_sequential(nn.Sequential(nn.Tanh()), 0, x)


class Deep(nn.Module):
    def __init__(self):
        self.blocks = nn.Sequential(nn.Linear(3, 3, seed=0), nn.Tanh(), nn.Linear(3, 1, seed=1))

    def forward(self, x):
        return nn.checkpoint_sequential(self.blocks, 2, x)


def test_modules_recomputed_in_backward_keep_their_names():
    m = Deep()
    m(Tensor(np.ones((2, 3)), requires_grad=True)).sum().backward()
    assert [p.label for p in m.parameters()] == ["blocks.0.weight", "blocks.0.bias",
                                                 "blocks.2.weight", "blocks.2.bias"]


def test_an_input_used_inside_and_after_f_gets_its_parts_summed_in_another_order():
    rng = np.random.default_rng(1)
    f = lambda t: (t.sin() * t.exp() + t * 0.3).tanh()  # noqa: E731
    for _ in range(20):
        x0 = rng.standard_normal(7)
        grads = []
        for run in (f, lambda t: checkpoint(f, t)):
            x = Tensor(x0, requires_grad=True)
            (run(x) * x.cos() + x * x).sum().backward()
            grads.append(x.grad)
        np.testing.assert_allclose(grads[1], grads[0], rtol=4e-16, atol=4e-16)
