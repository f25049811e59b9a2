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


# ----- issue 15: activations, normalization and embedding, as torch.nn.functional has them ------
# Composites of Tensor operations (erf is the one primitive they needed); the layers call these.
__all__ += ["softmax", "log_softmax", "leaky_relu", "gelu", "layer_norm", "batch_norm",
            "embedding"]

_SQRT_HALF = 0.7071067811865476  # 1 / sqrt(2)
_SQRT_2_OVER_PI = 0.7978845608028654  # sqrt(2 / pi)


def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def softmax(input: Any, dim: int) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim``, computed stably (finite and exact at 1000)."""
    return _tensor(input).softmax(axis=dim)


def log_softmax(input: Any, dim: int) -> Tensor:
    """``x - logsumexp(x)`` along ``dim``, computed stably."""
    return _tensor(input).log_softmax(axis=dim)


def leaky_relu(input: Any, negative_slope: float = 0.01) -> Tensor:
    """``x`` where ``x > 0``, else ``negative_slope * x`` (at 0 the gradient is the slope, as
    in PyTorch)."""
    x = _tensor(input)
    return autograd.where(x.data > 0, x, x * negative_slope)


def gelu(input: Any, approximate: str = "none") -> Tensor:
    """``x * Phi(x)`` with the normal CDF ``Phi(x) = (1 + erf(x / sqrt(2))) / 2``; with
    ``approximate="tanh"``, ``Phi(x) ~ (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))) / 2``."""
    x = _tensor(input)
    if approximate == "none":
        return x * 0.5 * (1.0 + (x * _SQRT_HALF).erf())
    if approximate == "tanh":
        inner = (x + x * x * x * 0.044715) * _SQRT_2_OVER_PI
        return x * 0.5 * (1.0 + inner.tanh())
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def layer_norm(input: Any, normalized_shape: int | tuple[int, ...] | list[int],
               weight: Any = None, bias: Any = None, eps: float = 1e-5) -> Tensor:
    """Normalize over the last ``len(normalized_shape)`` axes with their mean and biased
    variance, ``(x - mean) / sqrt(var + eps)``, then scale by ``weight`` and shift by
    ``bias`` (each of shape ``normalized_shape``, or None)."""
    x = _tensor(input)
    shape = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) \
        else tuple(int(s) for s in normalized_shape)
    k = len(shape)
    if k > x.ndim or x.shape[x.ndim - k:] != shape:
        raise ValueError(f"layer_norm: expected an input of shape (*, {', '.join(map(str, shape))})"
                         f" for normalized_shape {shape}, got {x.shape}")
    axes = tuple(range(x.ndim - k, x.ndim))
    y = (x - x.mean(axes, keepdims=True)) / (x.var(axes, keepdims=True) + eps).sqrt()
    if weight is not None:
        y = y * weight
    return y if bias is None else y + bias


def _channels(x: Tensor, what: str, **per_channel: Any) -> tuple[int, ...]:
    """The axes a batch norm reduces over, after checking the input and the (C,) arrays."""
    if x.ndim not in (2, 3):
        raise ValueError(f"{what}: expected a 2-d (N, C) or 3-d (N, C, L) input, got shape "
                         f"{x.shape}")
    c = x.shape[1]
    for name, v in per_channel.items():
        if v is not None and np.shape(v) != (c,):
            raise ValueError(f"{what}: {name} has shape {np.shape(v)}, but the input of shape "
                             f"{x.shape} has {c} channels: ({c},) expected")
    return (0,) if x.ndim == 2 else (0, 2)


def batch_norm(input: Any, running_mean: Any, running_var: Any, weight: Any = None,
               bias: Any = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Batch normalization of ``(N, C)`` or ``(N, C, L)`` inputs, per channel.

    In training, normalizes with the batch mean and biased variance and, when running
    statistics are given (Tensors or arrays of shape ``(C,)``), updates them in place:
    ``running = (1 - momentum) * running + momentum * batch``, with the unbiased batch
    variance, as PyTorch does. Otherwise normalizes with the running statistics, which are
    constants (no gradient reaches them)."""
    x = _tensor(input)
    axes = _channels(x, "batch_norm", running_mean=running_mean, running_var=running_var,
                     weight=weight, bias=bias)
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    mean: Any
    std: Any
    if training:
        n = x.size // max(x.shape[1], 1)
        if n <= 1:
            raise ValueError("batch_norm: expected more than 1 value per channel when training, "
                             f"got an input of shape {x.shape}")
        mean, var = x.mean(axes, keepdims=True), x.var(axes, keepdims=True)
        std = (var + eps).sqrt()
        with autograd.no_grad():  # (a buffer Tensor's version goes up: graphs that read it see)
            for running, batch in ((running_mean, mean.data),
                                   (running_var, var.data * (n / (n - 1)))):
                if running is not None:
                    old = running.data if isinstance(running, Tensor) else running
                    running[...] = old * (1.0 - momentum) + batch.reshape(-1) * momentum
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: evaluation (training=False) needs running_mean and "
                             "running_var")
        mean = _per_channel(running_mean, shape).data  # constants: no gradient reaches them
        std = np.sqrt(_per_channel(running_var, shape).data + eps)
    y = (x - mean) / std
    if weight is not None:
        y = y * _per_channel(weight, shape)
    return y if bias is None else y + _per_channel(bias, shape)


def _per_channel(v: Any, shape: tuple[int, ...]) -> Tensor:
    """A (C,) Tensor or array, shaped to broadcast along the channel axis."""
    return (v if isinstance(v, Tensor) else Tensor(v)).reshape(shape)


def embedding(input: Any, weight: Any, padding_idx: int | None = None) -> Tensor:
    """The rows of ``weight`` (num_embeddings, embedding_dim) at the integer indices
    ``input`` (any shape): the result has shape ``input.shape + (embedding_dim,)``. Repeated
    indices accumulate their gradients; the row ``padding_idx`` gets none, as in PyTorch."""
    idx = np.asarray(input.data if isinstance(input, Tensor) else input)
    weight = _tensor(weight)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {idx.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-d (num_embeddings, embedding_dim), got "
                         f"shape {weight.shape}")
    n = weight.shape[0]
    bad = (idx < 0) | (idx >= n)
    if bad.any():
        raise ValueError(f"embedding: index {idx[bad].flat[0]} is out of range for "
                         f"{n} embeddings (indices of shape {idx.shape})")
    rows = weight[idx]
    if padding_idx is not None:
        pad = idx == padding_idx
        if pad.any():  # the same values; the detached copy sends no gradient to the row
            rows = autograd.where(~pad[..., None], rows, rows.detach())
    return rows


from .conv import avg_pool2d, conv2d, max_pool2d  # noqa: E402, F401  (re-exported)
