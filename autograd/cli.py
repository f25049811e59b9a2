"""The ``tapegrad`` command: ``tapegrad demo [--out DIR]``."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from . import Tensor, no_grad


def seed_linear_regression(epochs: int = 1000, lr: float = 0.01) -> tuple[np.ndarray, ...]:
    """The seed article's loop, with autograd deriving dW and db; prints as the seed does."""
    np.random.seed(0)
    x = np.random.rand(100, 1)
    y = 2 * x + 1 + np.random.rand(100, 1)
    W = Tensor(np.random.rand(1, 1), requires_grad=True, label="W")
    b = Tensor(np.random.rand(1, 1), requires_grad=True, label="b")
    for epoch in range(epochs):
        y_pred = Tensor(x) @ W + b
        loss = ((y_pred - y) ** 2).mean()
        W.grad = b.grad = None
        # the seed's hand-written dW, db are the gradient of half the MSE: follow the same path
        (0.5 * loss).backward()
        with no_grad():
            W -= lr * W.grad
            b -= lr * b.grad
        if epoch % 100 == 0:
            print(f"Epoch: {epoch}, Loss: {loss.item()}")
    return x, y, W.data, b.data


def demo(out: str) -> None:
    """Run the demo."""
    print("== The seed's linear regression, gradients by autograd ==")
    _, _, W, b = seed_linear_regression()
    print(f"W = {W.item():.6f}, b = {b.item():.6f}  (data: y = 2x + 1 + U(0, 1))")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tapegrad`` console script."""
    parser = argparse.ArgumentParser(prog="tapegrad")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="train the seed's regression and an MLP, draw and explain")
    d.add_argument("--out", default="tapegrad-demo", help="output folder")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
