"""``LayerNorm`` and ``BatchNorm1d``, as PyTorch's: the same arguments, defaults, parameter and
buffer names, and train/eval behaviour; built on ``nn.functional``'s composites."""

from __future__ import annotations

from typing import Any

import numpy as np

from autograd import Tensor

from . import functional as F
from .module import Module, Parameter, layer_input


class LayerNorm(Module):
    """Normalizes over the last ``len(normalized_shape)`` axes with their mean and biased
    variance: ``(x - mean) / sqrt(var + eps) * weight + bias``, ``weight`` starting at ones
    and ``bias`` at zeros (None when ``elementwise_affine`` or ``bias`` is False). The same
    in training and evaluation."""

    def __init__(self, normalized_shape: int | tuple[int, ...] | list[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, *,
                 dtype: Any = np.float64) -> None:
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) \
            else normalized_shape
        self.normalized_shape = tuple(int(s) for s in shape)
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.weight: Parameter | None = None
        self.bias: Parameter | None = None
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape), dtype=dtype)
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape), dtype=dtype)

    def forward(self, x: Any) -> Any:
        x = layer_input(x, self.weight, "LayerNorm")
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class BatchNorm1d(Module):
    """Batch normalization of ``(N, C)`` or ``(N, C, L)`` inputs, per channel.

    In training mode it normalizes with the batch mean and biased variance, and (with
    ``track_running_stats``) updates the buffers ``running_mean`` and ``running_var`` (with
    the unbiased variance) by ``momentum`` (None: a cumulative average) and counts
    ``num_batches_tracked`` (int64); in eval mode it uses the running statistics. ``weight``
    starts at ones and ``bias`` at zeros (None without ``affine``). State dict keys, in
    PyTorch's order: weight, bias, running_mean, running_var, num_batches_tracked."""

    running_mean: Tensor | None  # buffers (register_buffer)
    running_var: Tensor | None
    num_batches_tracked: Tensor | None

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, *,
                 dtype: Any = np.float64) -> None:
        if num_features <= 0:
            raise ValueError(f"BatchNorm1d: num_features must be > 0, got {num_features}")
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        self.weight: Parameter | None = None
        self.bias: Parameter | None = None
        if affine:
            self.weight = Parameter(np.ones(num_features), dtype=dtype)
            self.bias = Parameter(np.zeros(num_features), dtype=dtype)
        track = track_running_stats
        self.register_buffer("running_mean", np.zeros(num_features, dtype) if track else None)
        self.register_buffer("running_var", np.ones(num_features, dtype) if track else None)
        self.register_buffer("num_batches_tracked",
                             np.array(0, dtype=np.int64) if track else None)

    def forward(self, x: Any) -> Any:
        x = layer_input(x, self.weight if self.weight is not None else self.running_mean,
                        "BatchNorm1d")
        rm, rv, count = self.running_mean, self.running_var, self.num_batches_tracked
        update = count if self.training else None  # the counter to advance, if any
        factor = 0.0 if self.momentum is None else self.momentum
        if update is not None and self.momentum is None:  # a cumulative moving average
            factor = 1.0 / (int(update.data) + 1)
        if self.training and not self.track_running_stats:  # (buffers assigned by hand)
            rm = rv = None
        training = self.training or (rm is None and rv is None)
        y = F.batch_norm(x, rm, rv, self.weight, self.bias, training, factor, self.eps)
        if update is not None:  # counted once the batch was accepted
            update[...] = update.data + 1
        return y

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")
