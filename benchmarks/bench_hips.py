"""HIPS autograd: the same programs, functional style (``value_and_grad`` of a loss function).

HIPS autograd imports as ``autograd``, like tapegrad: this module runs only in HIPS's own
virtual environment, from outside the repository, with the repository off ``sys.path`` (the
worker checks that the ``autograd`` it got is HIPS's).
"""

from __future__ import annotations

import autograd.numpy as anp
import bench_common as C
import numpy as np

from autograd import value_and_grad

NAME = "HIPS autograd"


def version() -> str:
    from importlib.metadata import version as v

    return f"autograd (HIPS) {v('autograd')}"


def seed_linreg():
    x, y, W0, b0 = C.seed_linreg_data()
    lr = C.SEED_LR

    def mse(params):
        W, b = params
        y_pred = anp.dot(x, W) + b
        return anp.mean((y_pred - y) ** 2)

    loss_and_grad = value_and_grad(mse)

    def run():
        W, b = W0, b0
        for _ in range(C.SEED_EPOCHS):
            loss, (dW, db) = loss_and_grad((W, b))
            W = W - lr * dW
            b = b - lr * db
        return float(loss)

    return run


def mlp(name: str):
    x, labels, layers, lr = C.mlp_data(name)
    params = [a.copy() for pair in layers for a in pair]
    rows = np.arange(x.shape[0])
    last = len(layers) - 1

    def loss(params):
        a = x
        for i in range(last + 1):
            a = anp.dot(a, params[2 * i]) + params[2 * i + 1]
            if i < last:
                a = anp.maximum(a, 0.0)
        m = anp.max(a, axis=1, keepdims=True)
        lse = anp.log(anp.sum(anp.exp(a - m), axis=1)) + m[:, 0]
        return anp.mean(lse - a[rows, labels])

    loss_and_grad = value_and_grad(loss)

    def step():
        value, grads = loss_and_grad(params)
        for p, g in zip(params, grads):
            p -= lr * g
        return value

    return step, float
