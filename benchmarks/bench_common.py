"""Data and initial parameters shared by every engine's benchmark program.

Imported inside the worker subprocesses only (after the BLAS thread variables are set). It needs
numpy and the standard library, nothing else, so that every peer's virtual environment can run
it. Every engine starts from the same arrays, so their losses can be compared (the "check").
"""

from __future__ import annotations

import math

import numpy as np

# ----- workload definitions --------------------------------------------------------------------
SEED_EPOCHS = 1000
SEED_LR = 0.01

MLP = {  # name: (layer sizes, batch size, learning rate)
    "mlp_small": ((64, 128, 10), 64, 0.01),
    "mlp_large": ((784, 512, 512, 10), 256, 0.01),
}
CHECK_STEPS = 3  # training steps run from the initial parameters for the cross-engine check

SCALAR_SIZES = (2, 16, 16, 1)
SCALAR_POINTS = 100
SCALAR_ALPHA = 1e-4


def seed_linreg_data():
    """The seed article's data and initial parameters (its exact random stream)."""
    np.random.seed(0)
    x = np.random.rand(100, 1)
    y = 2 * x + 1 + np.random.rand(100, 1)
    W = np.random.rand(1, 1)
    b = np.random.rand(1, 1)
    return x, y, W, b


def mlp_data(name: str):
    """Inputs, integer labels and He-initialised (weight (in, out), bias (out,)) pairs."""
    sizes, batch, lr = MLP[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, sizes[0]))
    labels = rng.integers(0, sizes[-1], batch)
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W = rng.standard_normal((n_in, n_out)) * math.sqrt(2.0 / n_in)
        b = rng.uniform(-0.1, 0.1, n_out)
        layers.append((W, b))
    return x, labels, layers, lr


def make_moons(n: int = SCALAR_POINTS, noise: float = 0.1, seed: int = 1):
    """Two interleaving half circles, as sklearn.datasets.make_moons (without shuffling)."""
    rng = np.random.default_rng(seed)
    n_out = n // 2
    n_in = n - n_out
    t_out = np.linspace(0, math.pi, n_out)
    t_in = np.linspace(0, math.pi, n_in)
    outer = np.stack([np.cos(t_out), np.sin(t_out)], axis=1)
    inner = np.stack([1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5], axis=1)
    X = np.concatenate([outer, inner]) + rng.normal(scale=noise, size=(n, 2))
    y = np.concatenate([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])
    return X, y


def scalar_mlp_data():
    """micrograd's demo inputs: X a float64 array, y in {-1, 1} (an int array, as the demo has
    it), and the initial parameters in micrograd's order (per neuron: its weights, then its
    bias) as Python floats: weights uniform(-1, 1), biases 0."""
    X, y = make_moons()
    y = y * 2 - 1
    rng = np.random.default_rng(1337)
    params = []
    for n_in, n_out in zip(SCALAR_SIZES[:-1], SCALAR_SIZES[1:]):
        for _ in range(n_out):
            params.extend(rng.uniform(-1, 1, n_in).tolist())
            params.append(0.0)
    return X, y, params


def scalar_lr(k: int) -> float:
    """The demo's learning-rate schedule."""
    return 1.0 - 0.9 * (k % 100) / 100


def scalar_mlp_step(Value, model):
    """micrograd's demo notebook step (its loss(), zero_grad, backward, SGD update), written
    once for every scalar engine: ``Value`` is the engine's scalar class and ``model`` a
    micrograd-style MLP of it already holding ``scalar_mlp_data()``'s initial parameters."""
    X, y, _ = scalar_mlp_data()
    alpha = SCALAR_ALPHA
    k = 0

    def loss():
        inputs = [list(map(Value, xrow)) for xrow in X]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = alpha * sum(p * p for p in model.parameters())
        total_loss = data_loss + reg_loss
        accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(y, scores)]
        return total_loss, sum(accuracy) / len(accuracy)

    def step():
        nonlocal k
        total_loss, acc = loss()
        model.zero_grad()
        total_loss.backward()
        learning_rate = scalar_lr(k)
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        k += 1
        return total_loss

    return step

