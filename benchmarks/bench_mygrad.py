"""MyGrad: the same programs with mygrad tensors (gradients are cleared by MyGrad itself when a
tensor enters a new operation; parameters are updated through ``.data``, as its docs do)."""

from __future__ import annotations

import bench_common as C
import mygrad as mg
from mygrad.nnet.activations import relu
from mygrad.nnet.losses import softmax_crossentropy

NAME = "MyGrad"


def version() -> str:
    return f"mygrad {mg.__version__}"


def seed_linreg():
    x, y, W0, b0 = C.seed_linreg_data()
    lr = C.SEED_LR

    def run():
        W = mg.tensor(W0)
        b = mg.tensor(b0)
        for _ in range(C.SEED_EPOCHS):
            y_pred = mg.matmul(x, W) + b
            loss = mg.mean((y_pred - y) ** 2)
            loss.backward()
            W.data -= lr * W.grad
            b.data -= lr * b.grad
        return loss.item()

    return run


def mlp(name: str):
    x, labels, layers, lr = C.mlp_data(name)
    params = []
    for W, b in layers:
        params += [mg.tensor(W), mg.tensor(b)]
    last = len(layers) - 1

    def step():
        a = x
        for i in range(last + 1):
            a = mg.matmul(a, params[2 * i]) + params[2 * i + 1]
            if i < last:
                a = relu(a)
        loss = softmax_crossentropy(a, labels)
        loss.backward()
        for p in params:
            p.data -= lr * p.grad
        return loss

    return step, _item


def _item(loss) -> float:
    return loss.item()
