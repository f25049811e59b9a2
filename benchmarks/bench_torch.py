"""PyTorch (CPU, float64): the same programs as a PyTorch user writes them."""

from __future__ import annotations

import bench_common as C
import numpy as np
import torch

NAME = "PyTorch"

torch.set_num_threads(1)
torch.set_num_interop_threads(1)


def version() -> str:
    return f"torch {torch.__version__}"


def seed_linreg():
    x0, y0, W0, b0 = C.seed_linreg_data()
    x, y = torch.from_numpy(x0), torch.from_numpy(y0)
    lr = C.SEED_LR

    def run():
        W = torch.tensor(W0, requires_grad=True)
        b = torch.tensor(b0, requires_grad=True)
        for _ in range(C.SEED_EPOCHS):
            y_pred = x @ W + b
            loss = ((y_pred - y) ** 2).mean()
            loss.backward()
            with torch.no_grad():
                W -= lr * W.grad
                b -= lr * b.grad
            W.grad = None
            b.grad = None
        return loss.item()

    return run


def mlp(name: str):
    x0, labels0, layers, lr = C.mlp_data(name)
    mods = []
    for i, (W, b) in enumerate(layers):
        lin = torch.nn.Linear(W.shape[0], W.shape[1], dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))  # stored (out, in)
            lin.bias.copy_(torch.from_numpy(b))
        mods.append(lin)
        if i < len(layers) - 1:
            mods.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*mods)
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    x, labels = torch.from_numpy(x0), torch.from_numpy(labels0)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), labels)
        loss.backward()
        opt.step()
        return loss

    return step, _item


def _item(loss) -> float:
    return loss.item()
