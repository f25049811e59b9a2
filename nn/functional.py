"""Loss functions, built from Tensor operations (no calculus of their own).

``reduction`` is ``"mean"`` (the default), ``"sum"`` or ``"none"`` (one loss per element or
sample). On an empty batch, ``"mean"`` is nan (a mean over zero elements, silently, as the
engine defines it), ``"sum"`` is 0 and ``"none"`` is empty; parameter gradients are then zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import autograd
from autograd import Tensor, stack

__all__ = ["mse_loss", "cross_entropy", "binary_cross_entropy_with_logits"]

_REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: str, what: str) -> str:
    """Return ``reduction`` if it is one of mean, sum, none; ValueError otherwise."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{what}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return reduction


def _reduce(loss: Tensor, reduction: str, what: str) -> Tensor:
    check_reduction(reduction, what)
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def _input_and_target(input: Any, target: Any, what: str) -> tuple[Tensor, Any]:
    """Input as a Tensor; a constant target as an array of the input's dtype (so float32
    stays float32). Shapes must match exactly: no silent (N, 1) vs (N,) broadcasting."""
    x = input if isinstance(input, Tensor) else Tensor(input)
    t = target if isinstance(target, Tensor) else np.asarray(target, dtype=x.dtype)
    if x.shape != t.shape:
        raise ValueError(f"{what}: input and target shapes must match exactly, got "
                         f"{x.shape} and {t.shape}")
    return x, t


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Squared error ``(input - target) ** 2``, reduced. Shapes must match exactly."""
    x, t = _input_and_target(input, target, "mse_loss")
    d = x - t
    return _reduce(d * d, reduction, "mse_loss")


def cross_entropy(logits: Any, labels: Any, reduction: str = "mean") -> Tensor:
    """``logsumexp(logits[i]) - logits[i, labels[i]]`` per sample, reduced.

    ``logits`` has shape ``(N, C)``; ``labels`` are integers in ``[0, C)`` of shape ``(N,)``,
    as a list, ndarray or integer Tensor. One fused, stable primitive (finite and exact at
    logits of +-1000; ``autograd.cross_entropy``); its gradient is
    ``softmax(logits) - onehot(labels)``.
    """
    return _reduce(autograd.cross_entropy(logits, labels), reduction, "cross_entropy")


def binary_cross_entropy_with_logits(logits: Any, target: Any,
                                     reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of ``sigmoid(logits)`` against targets ``y`` in [0, 1]:
    ``log(1 + exp(z)) - z * y``, computed as the logsumexp of ``(-z * y, z - z * y)`` (the same
    number). Shapes must match exactly.

    Built on one smooth primitive: stable (finite and exact at +-1000), no large terms cancel
    (losses below ~1e-16 round to 0: the log is taken of 1 + e), and right at every order.
    Not ``max(z, 0) - z * y + log(1 + exp(-|z|))``: the kinks of max and abs at z = 0 cancel
    at first order only (its second derivative there was 0, not sigmoid'(0) = 1/4).
    """
    z, y = _input_and_target(logits, target, "binary_cross_entropy_with_logits")
    zy = z * y
    loss = stack([-zy, z - zy], axis=-1).logsumexp(-1)
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")

from .conv import avg_pool2d, conv2d, max_pool2d  # noqa: E402, F401  (re-exported)
