"""tapegrad compiled: the same programs as bench_tapegrad, each step under ``autograd.compile``
(traced at the first call, the recorded numpy program replayed afterwards; a ``Value`` step
becomes a straight-line float program)."""

from __future__ import annotations

import bench_common as C

import autograd
from autograd import Tensor, Value, no_grad

NAME = "tapegrad compiled"
MLP_VIA = ""


def version() -> str:
    return f"tapegrad {autograd.__version__} (autograd.compile)"


def seed_linreg():
    x0, y0, W0, b0 = C.seed_linreg_data()
    x, y = Tensor(x0), Tensor(y0)
    lr = C.SEED_LR
    W = Tensor(W0, requires_grad=True, label="W")
    b = Tensor(b0, requires_grad=True, label="b")

    @autograd.compile
    def step():
        nonlocal W, b  # (W -= ... rebinds the name, to the same tensor)
        y_pred = x @ W + b
        loss = ((y_pred - y) ** 2).mean()
        loss.backward()
        with no_grad():
            W -= lr * W.grad
            b -= lr * b.grad
        W.grad = None
        b.grad = None
        return loss

    def run():
        with no_grad():  # every run starts from the same parameters, in place
            W.data[...] = W0
            b.data[...] = b0
        for _ in range(C.SEED_EPOCHS):
            loss = step()
        return loss.item()

    return run


def mlp(name: str, use_nn: bool = True):
    global MLP_VIA
    import bench_tapegrad

    step, to_float = bench_tapegrad.mlp(name, use_nn)
    MLP_VIA = bench_tapegrad.MLP_VIA + ", under autograd.compile"
    return autograd.compile(step), to_float


def scalar_step():
    """micrograd's demo step, written for ``autograd.compile`` as a user would: the
    learning rate of the schedule is an argument (a Value: a Python float would be a
    constant of the program), the update reads its float as eager code does (``lr.data``),
    and the demo's accuracy, which the step discards, is left out (it compares scores in
    Python, which a trace refuses: TraceError). Returns (the step, not compiled yet, the
    model's parameters, their initial values)."""
    import bench_tapegrad as B

    X, y, init = C.scalar_mlp_data()
    model = B.MLP(C.SCALAR_SIZES[0], list(C.SCALAR_SIZES[1:]))
    params = model.parameters()
    for p, v in zip(params, init, strict=True):
        p.data = v
    alpha = C.SCALAR_ALPHA

    def step(lr):
        inputs = [list(map(Value, xrow)) for xrow in X]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = alpha * sum(p * p for p in model.parameters())
        total_loss = data_loss + reg_loss
        model.zero_grad()
        total_loss.backward()
        for p in model.parameters():
            p.data -= lr.data * p.grad
        return total_loss

    return step, params, init


def scalar_mlp():
    """The demo step under ``autograd.compile``, with the schedule's learning rate."""
    fn, params, init = scalar_step()
    step = autograd.compile(fn)
    k = 0

    def run():
        nonlocal k
        loss = step(Value(C.scalar_lr(k)))
        k += 1
        return loss

    for _ in range(2):  # compile's two traces, here rather than in the timed calls
        run()
    for p, v in zip(params, init, strict=True):  # then the common start again
        p.data = v
    k = 0
    return run, _data


def _data(v) -> float:
    return float(v.data)
