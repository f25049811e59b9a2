"""tapegrad compiled: the same programs as bench_tapegrad, each step under ``autograd.compile``
(traced at the first call, the recorded numpy program replayed afterwards). The scalar
workloads have no compiled form yet (``Value`` functions are not traced)."""

from __future__ import annotations

import bench_common as C

import autograd
from autograd import Tensor, no_grad

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


def scalar_mlp():
    raise ImportError("Value functions cannot be compiled yet")
