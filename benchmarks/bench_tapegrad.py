"""tapegrad's programs: ``Tensor`` for the seed loop, ``nn`` for the MLPs (plain ``Tensor`` code
when ``nn`` is absent or incomplete), ``Value`` for the scalar MLP and the deep chain.

The worker puts the repository root on ``sys.path`` before importing this module.
"""

from __future__ import annotations

import bench_common as C
import numpy as np

import autograd
from autograd import Tensor, Value, no_grad

NAME = "tapegrad"
# set by mlp(): how the MLP workloads were run ("nn" or "plain Tensor (...)")
MLP_VIA = ""


def version() -> str:
    return f"tapegrad {autograd.__version__}"


def seed_linreg():
    x0, y0, W0, b0 = C.seed_linreg_data()
    x, y = Tensor(x0), Tensor(y0)
    lr = C.SEED_LR

    def run():
        W = Tensor(W0, requires_grad=True)
        b = Tensor(b0, requires_grad=True)
        for _ in range(C.SEED_EPOCHS):
            y_pred = x @ W + b
            loss = ((y_pred - y) ** 2).mean()
            loss.backward()
            with no_grad():
                W -= lr * W.grad
                b -= lr * b.grad
            W.grad = None
            b.grad = None
        return loss.item()

    return run


# ----- MLPs ------------------------------------------------------------------------------------
def _nn_step(x, labels, layers, lr):
    """The MLP step written with nn, as a user would; raises when nn cannot do it."""
    import nn  # optional: written concurrently, may be absent

    sizes = [layers[0][0].shape[0]] + [W.shape[1] for W, _ in layers]
    model = nn.MLP(sizes, seed=0)
    params = list(model.parameters())
    init = [a for pair in layers for a in pair]
    if [tuple(p.shape) for p in params] != [a.shape for a in init]:
        raise RuntimeError("nn.MLP parameters are not (weight (in, out), bias (out,)) pairs: "
                           f"{[tuple(p.shape) for p in params]}")
    for p, a in zip(params, init):
        p.data = a.copy()  # the same start as every engine
    loss_fn = nn.CrossEntropyLoss()
    opt = nn.SGD(params, lr=lr)
    xt = Tensor(x)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(xt), labels)
        loss.backward()
        opt.step()
        return loss

    return step


def _cross_entropy():
    """Mean cross-entropy for the plain-Tensor MLP: the engine's fused rule when it has one,
    else the composite logsumexp(z) - z[label]."""
    try:
        from autograd import ops
        from autograd.engine import apply

        rule = ops.CROSS_ENTROPY
        return lambda z, labels: apply(rule, z, labels).mean(), "fused cross_entropy op"
    except (ImportError, AttributeError):
        rows = None

        def ce(z, labels):
            nonlocal rows
            if rows is None or len(rows) != len(labels):
                rows = np.arange(len(labels))
            return (z.logsumexp(axis=1) - z[rows, labels]).mean()

        return ce, "composite logsumexp cross-entropy"


def _plain_step(x, labels, layers, lr):
    """The MLP step with plain Tensors (no nn)."""
    params = []
    for W, b in layers:
        params += [Tensor(W, requires_grad=True), Tensor(b, requires_grad=True)]
    ce, how = _cross_entropy()
    xt = Tensor(x)
    last = len(params) // 2 - 1

    def step():
        a = xt
        for i in range(last + 1):
            a = a @ params[2 * i] + params[2 * i + 1]
            if i < last:
                a = a.relu()
        loss = ce(a, labels)
        loss.backward()
        with no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad = None
        return loss

    return step, how


def mlp(name: str, use_nn: bool = True):
    global MLP_VIA
    x, labels, layers, lr = C.mlp_data(name)
    why = "disabled by --no-nn"
    if use_nn:
        try:
            step = _nn_step(x, labels, layers, lr)
            MLP_VIA = "nn (MLP, CrossEntropyLoss, SGD)"
            return step, _item
        except Exception as e:  # nn is optional and may be half-written
            why = f"nn unusable: {type(e).__name__}: {e}"
    step, how = _plain_step(x, labels, layers, lr)
    MLP_VIA = f"plain Tensor, {how} ({why})"
    return step, _item


def _item(loss) -> float:
    return loss.item()


# ----- scalars ---------------------------------------------------------------------------------
class Neuron:
    def __init__(self, nin: int, nonlin: bool = True) -> None:
        self.w = [Value(0.0) for _ in range(nin)]
        self.b = Value(0.0)
        self.nonlin = nonlin

    def __call__(self, x):
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return act.relu() if self.nonlin else act

    def parameters(self):
        return self.w + [self.b]


class Layer:
    def __init__(self, nin: int, nout: int, **kwargs) -> None:
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def __call__(self, x):
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]


class MLP:
    """micrograd's MLP, line for line, on tapegrad's Value."""

    def __init__(self, nin: int, nouts: list[int]) -> None:
        sz = [nin] + nouts
        self.layers = [Layer(sz[i], sz[i + 1], nonlin=i != len(nouts) - 1)
                       for i in range(len(nouts))]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = 0.0


def scalar_mlp():
    """micrograd's demo step (loss(), zero_grad, backward, SGD update) on Value."""
    _, _, init = C.scalar_mlp_data()
    model = MLP(C.SCALAR_SIZES[0], list(C.SCALAR_SIZES[1:]))
    for p, v in zip(model.parameters(), init, strict=True):
        p.data = v
    return C.scalar_mlp_step(Value, model), _data


def _data(v) -> float:
    return float(v.data)


def chain(reps: int):
    """``reps`` repetitions of y = tanh(y * 0.9 + 0.1): 3 * reps nodes after the leaf."""
    x = Value(0.5)
    y = x
    for _ in range(reps):
        y = (y * 0.9 + 0.1).tanh()
    return x, y
