"""Loss functions, built from Tensor operations (no calculus of their own).

``reduction`` is ``"mean"`` (the default), ``"sum"`` or ``"none"`` (one loss per element or
sample). On an empty batch, ``"mean"`` is nan (a mean over zero elements, silently, as the
engine defines it), ``"sum"`` is 0 and ``"none"`` is empty; parameter gradients are then zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import autograd
from autograd import Tensor, stack, where

from .module import host_dtype
from .serialization import host_array

__all__ = ["mse_loss", "cross_entropy", "binary_cross_entropy_with_logits", "nll_loss",
           "binary_cross_entropy", "l1_loss", "huber_loss"]

_REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: str, what: str) -> str:
    """Return ``reduction`` if it is one of mean, sum, none; ValueError otherwise."""
    if not isinstance(reduction, str):  # e.g. PyTorch's positional weight
        raise TypeError(f"{what}: reduction must be one of {_REDUCTIONS}, got "
                        f"{type(reduction).__name__} (weight and the other options are "
                        "keyword arguments)")
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


def cross_entropy(logits: Any, labels: Any, reduction: str = "mean", *, weight: Any = None,
                  ignore_index: int = -100, label_smoothing: float = 0.0) -> Tensor:
    """``logsumexp(logits[i]) - logits[i, labels[i]]`` per sample, reduced; PyTorch's
    ``cross_entropy`` on class indices.

    ``logits`` has shape ``(N, C)``; ``labels`` are integers in ``[0, C)`` of shape ``(N,)``,
    as a list, ndarray or integer Tensor. Without options it is one fused, stable primitive
    (finite and exact at logits of +-1000; ``autograd.cross_entropy``) whose gradient is
    ``softmax(logits) - onehot(labels)``. The options (keyword arguments: ``reduction`` is
    the third argument, as in this module's other losses) are PyTorch's, with its semantics:

    - ``weight`` (C,): sample i's loss is multiplied by ``weight[labels[i]]``, and ``"mean"``
      divides by the sum of those weights (a weighted mean);
    - ``ignore_index``: samples with that label lose 0 and do not count in the mean (all of
      them ignored: the mean is nan, as PyTorch's);
    - ``label_smoothing`` e in [0, 1]: the target is ``(1 - e) * onehot + e / C``, that is
      ``(1 - e) * nll + e / C * sum_c(-weight[c] * log_softmax[c])``, both terms reduced as
      above (the second also divided by the weights of the labels, as PyTorch does).
    """
    if weight is None and label_smoothing == 0.0 and ignore_index < 0:
        try:  # the fast path: a label equal to ignore_index is out of range there
            per = autograd.cross_entropy(logits, labels)
        except ValueError as e:  # (read from the message: a traced label has no value yet)
            if f"label {ignore_index} is out of range" not in str(e):
                raise
        else:
            return _reduce(per, reduction, "cross_entropy")
    check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}")
    z = logits if isinstance(logits, Tensor) else Tensor(logits)
    if z.ndim != 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, C), got {z.shape}")
    logp = z.log_softmax(axis=1)
    picked, keep, w, wt = _targets(logp, labels, weight, ignore_index, "cross_entropy")
    loss = _nll(picked, keep, wt, reduction)
    if label_smoothing == 0.0:
        return loss
    smooth = -(logp.sum(1) if w is None else (logp * w).sum(1))
    if not keep.all():
        smooth = where(keep, smooth, 0.0)
    if reduction != "none":
        smooth = smooth.sum()
        if reduction == "mean":
            smooth = smooth / _total(keep, wt)
    return loss * (1.0 - label_smoothing) + smooth * (label_smoothing / z.shape[1])


def nll_loss(input: Any, target: Any, reduction: str = "mean", *, weight: Any = None,
             ignore_index: int = -100) -> Tensor:
    """Negative log-likelihood ``-input[i, target[i]]`` of log-probabilities ``input``
    ``(N, C)`` (from ``log_softmax``) against class indices ``target`` ``(N,)``, reduced;
    ``weight`` (C,) and ``ignore_index`` as in ``cross_entropy`` (``"mean"`` divides by the
    sum of the weights of the samples not ignored: nan when all are ignored)."""
    check_reduction(reduction, "nll_loss")
    x = input if isinstance(input, Tensor) else Tensor(input)
    if x.ndim != 2:
        raise ValueError(f"nll_loss: input must have shape (N, C), got {x.shape}")
    picked, keep, _, wt = _targets(x, target, weight, ignore_index, "nll_loss")
    return _nll(picked, keep, wt, reduction)


def _targets(x: Tensor, target: Any, weight: Any, ignore_index: int, what: str
             ) -> tuple[Tensor, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Check class indices and weights for ``x`` of shape (N, C); return ``x[i, target[i]]``
    (column 0 where ignored), the mask of samples not ignored, the weights (C,) and each
    sample's weight (0 where ignored); no weights: None."""
    n, c = x.shape
    t = autograd.class_labels(target, x.shape, what, "input")
    keep = t != ignore_index
    bad = keep & ((t < 0) | (t >= c))
    if bad.any():
        raise ValueError(f"{what}: label {t[bad][0]} is out of range for {c} classes (valid "
                         f"labels are 0 to {c - 1}, and ignore_index {ignore_index})")
    w = None
    if weight is not None:
        if isinstance(weight, Tensor) and weight.requires_grad:
            raise RuntimeError(f"{what}: weight carries no gradient (as in PyTorch); pass "
                               "weight.detach()")
        w = np.array(weight.data if isinstance(weight, Tensor) else weight,
                     dtype=host_dtype(x))
        if w.shape != (c,):
            raise ValueError(f"{what}: weight must have shape {(c,)} for input of shape "
                             f"{x.shape}, got {w.shape}")
    safe = np.where(keep, t, 0).astype(np.intp)
    wt = None if w is None else np.where(keep, w[safe], 0.0).astype(host_dtype(x))
    return x[np.arange(n), safe], keep, w, wt


def _nll(picked: Tensor, keep: np.ndarray, wt: np.ndarray | None, reduction: str) -> Tensor:
    """``-wt[i] * picked[i]``, 0 where ignored (masked: an ignored row may hold -inf), reduced;
    the mean divides by the total weight of the samples kept."""
    loss = picked * (-1.0 if wt is None else -wt)
    if not keep.all():
        loss = where(keep, loss, 0.0)
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / _total(keep, wt)


def _total(keep: np.ndarray, wt: np.ndarray | None) -> float:
    """The weight a mean divides by: of the samples kept (0 when none: the mean is nan)."""
    return float(np.count_nonzero(keep)) if wt is None else float(wt.sum())


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


def binary_cross_entropy(input: Any, target: Any, reduction: str = "mean", *,
                         weight: Any = None) -> Tensor:
    """Binary cross-entropy of probabilities ``input`` in [0, 1] against targets ``y`` in
    [0, 1]: ``-weight * (y * log(p) + (1 - y) * log(1 - p))``, reduced; PyTorch's
    ``binary_cross_entropy``. Shapes must match exactly; ``weight`` broadcasts to them.

    As PyTorch, each log is clamped at -100 (so p = 0 or 1 gives a finite loss, at most 100
    per element) and ``log(1 - p)`` is computed as ``log1p(-p)``. The gradient is that of this
    clamped function: ``-y / p + (1 - y) / (1 - p)`` where the logs are above -100, and no
    contribution from a clamped log (PyTorch's hand-written backward instead divides by
    ``max(p * (1 - p), 1e-12)``: the two agree wherever ``p * (1 - p) > 1e-12`` and neither
    log is clamped). Prefer ``binary_cross_entropy_with_logits`` on logits: it needs no clamp.
    Probabilities or targets outside [0, 1] are a ValueError, as in PyTorch.
    """
    what = "binary_cross_entropy"
    check_reduction(reduction, what)
    p, y = _input_and_target(input, target, what)
    for name, v in (("input", p.data), ("target", y.data if isinstance(y, Tensor) else y)):
        a = host_array(v)  # (checked on the host, whatever the library)
        outside = ~((a >= 0) & (a <= 1))  # (nan too)
        if outside.any():
            raise ValueError(f"{what}: every element of {name} must be in [0, 1], got "
                             f"{a[outside][0]} (input shape {p.shape})")
    loss = (y - 1.0) * _log_clamped(-p, True) - y * _log_clamped(p, False)
    if weight is not None:
        if isinstance(weight, Tensor) and weight.requires_grad:
            raise RuntimeError(f"{what}: weight carries no gradient (as in PyTorch); pass "
                               "weight.detach()")
        w = np.asarray(weight.data if isinstance(weight, Tensor) else weight,
                       dtype=host_dtype(p))
        try:
            fits = np.broadcast_shapes(w.shape, p.shape) == p.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"{what}: weight of shape {w.shape} does not broadcast to the "
                             f"input's shape {p.shape}")
        loss = loss * w
    return _reduce(loss, reduction, what)


def _log_clamped(x: Tensor, one_plus: bool) -> Tensor:
    """``max(log(x), -100)`` (``log1p(x)`` if ``one_plus``), with a zero gradient where
    clamped. The log's input is masked there too, not only its output: at x = 0 its
    derivative is inf, and a zero times inf would be nan (the masked-where trap)."""
    a = host_array(x.data)  # (the mask is made on the host, whatever the library)
    with np.errstate(divide="ignore"):
        ok = (np.log1p(a) if one_plus else np.log(a)) >= -100.0
    if ok.all():
        return x.log1p() if one_plus else x.log()
    safe = where(ok, x, 0.0 if one_plus else 1.0)
    return where(ok, safe.log1p() if one_plus else safe.log(), -100.0)


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Absolute error ``|input - target|``, reduced (its gradient at 0 is 0, as PyTorch's).
    Shapes must match exactly."""
    x, t = _input_and_target(input, target, "l1_loss")
    return _reduce(abs(x - t), reduction, "l1_loss")


def huber_loss(input: Any, target: Any, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Huber loss, as PyTorch's: ``0.5 * d ** 2`` where ``|d| < delta``, else
    ``delta * (|d| - 0.5 * delta)``, with ``d = input - target``; reduced. Its gradient is
    ``d`` clipped to [-delta, delta]. Shapes must match exactly; ``delta`` must be > 0."""
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    x, t = _input_and_target(input, target, "huber_loss")
    d = x - t
    a = abs(d)
    loss = where(a.data < delta, 0.5 * d * d, delta * (a - 0.5 * delta))
    return _reduce(loss, reduction, "huber_loss")

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
            for running, batch in ((running_mean, mean), (running_var, var * (n / (n - 1)))):
                if running is not None:  # (Tensor ops: the arrays may be any library's)
                    old = running.data if isinstance(running, Tensor) else running
                    running[...] = old * (1.0 - momentum) + batch.reshape(-1).data * momentum
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: evaluation (training=False) needs running_mean and "
                             "running_var")
        mean = _per_channel(running_mean, shape).data  # constants: no gradient reaches them
        std = (_per_channel(running_var, shape) + eps).sqrt().data
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
