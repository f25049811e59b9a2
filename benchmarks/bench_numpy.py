"""Hand-written numpy: the baseline every ratio is measured against.

Forward and backward are derived by hand; parameters are updated in place.
"""

from __future__ import annotations

import bench_common as C
import numpy as np

NAME = "numpy (hand-written)"


def version() -> str:
    return f"numpy {np.__version__}"


def seed_linreg():
    """The seed article's loop, verbatim except that the gradient carries the factor 2 of the
    MSE (the seed drops it), so that its loss matches the engines'; same number of array ops."""
    x, y, W0, b0 = C.seed_linreg_data()
    lr = C.SEED_LR
    scale = 2.0 / x.shape[0]

    def run():
        W, b = W0, b0
        for _ in range(C.SEED_EPOCHS):
            y_pred = np.dot(x, W) + b
            loss = np.mean((y_pred - y) ** 2)
            dW = np.dot(x.T, (y_pred - y)) * scale
            db = 2 * np.mean(y_pred - y)
            W = W - lr * dW
            b = b - lr * db
        return float(loss)

    return run


def mlp(name: str):
    """One training step: ReLU MLP, softmax cross-entropy (mean over the batch), plain SGD."""
    x, labels, layers, lr = C.mlp_data(name)
    Ws = [W.copy() for W, _ in layers]
    bs = [b.copy() for _, b in layers]
    n = x.shape[0]
    rows = np.arange(n)
    last = len(Ws) - 1

    def step():
        # forward, keeping what backward needs
        inputs, pre = [], []
        a = x
        for i in range(last + 1):
            inputs.append(a)
            z = a @ Ws[i] + bs[i]
            if i < last:
                pre.append(z)
                a = np.maximum(z, 0)
        # stable softmax cross-entropy
        m = z.max(axis=1, keepdims=True)
        e = np.exp(z - m)
        s = e.sum(axis=1, keepdims=True)
        loss = np.mean(np.log(s[:, 0]) + m[:, 0] - z[rows, labels])
        # backward
        dz = e / s
        dz[rows, labels] -= 1.0
        dz *= 1.0 / n
        for i in range(last, -1, -1):
            dW = inputs[i].T @ dz
            db = dz.sum(axis=0)
            if i > 0:
                dz = (dz @ Ws[i].T) * (pre[i - 1] > 0)
            Ws[i] -= lr * dW
            bs[i] -= lr * db
        return loss

    return step, float
