"""Convolution and pooling: ``Conv2d``, ``MaxPool2d``, ``AvgPool2d`` and their functional
forms, as PyTorch's (NCHW, or CHW unbatched; weights ``(out, in / groups, kh, kw)``).

All three are built from Tensor operations on two primitives of the op table, ``pad`` and
``windows`` (im2col: every window of the padded input, kernel axes before positions), so they
have no calculus of their own: a convolution is windows, a reshape and one matmul, max pooling
the maximum over each window, average pooling its mean. Only ``ceil_mode=False`` and zero
padding (-inf for max pooling) exist. Max pooling splits the gradient evenly between tied
maxima (the ``max`` op's rule), where PyTorch gives all of it to one of them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autograd import Tensor, linear, pad, windows

from .module import Module, Parameter, host_dtype, layer_input

Pair = int | tuple[int, int]
Seed = int | np.random.Generator | None


def _pair(v: Any, name: str, what: str, low: int) -> tuple[int, int]:
    """An int or a pair of ints, each at least ``low``, as a pair."""
    pair = (v, v) if isinstance(v, (int, np.integer)) else v
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2
            and all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in pair)):
        raise TypeError(f"{what}: {name} must be an int or a pair of ints, got {v!r}")
    if any(p < low for p in pair):
        raise ValueError(f"{what}: {name} must be at least {low}, got {v!r}")
    return int(pair[0]), int(pair[1])


def _batched(x: Any, what: str) -> tuple[Tensor, bool]:
    """``x`` as a 4-d tensor, and whether it came unbatched (3-d, as PyTorch allows)."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"{what}: expected a 3-d (C, H, W) or 4-d (N, C, H, W) input, got "
                         f"shape {x.shape}")
    return (x.reshape((1,) + x.shape), True) if x.ndim == 3 else (x, False)


def _windows(x: Tensor, kernel: tuple[int, int], stride: tuple[int, int],
             padding: tuple[tuple[int, int], tuple[int, int]], dilation: tuple[int, int],
             value: float, what: str) -> Tensor:
    """The windows of the padded 4-d ``x``, shape ``(N, C, kh, kw, Ho, Wo)``; ValueError when
    the dilated kernel is bigger than the padded input."""
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], padding))
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(s > n for s, n in zip(span, padded)):
        raise ValueError(f"{what}: the kernel of size {kernel} (dilated: {span}) is bigger "
                         f"than the padded input of size {padded} (input shape {x.shape}, "
                         f"padding {padding})")
    if any(lo or hi for lo, hi in padding):
        x = pad(x, ((0, 0), (0, 0)) + padding, value)
    return windows(x, kernel, stride, dilation)


def _same(kernel: tuple[int, int], dilation: tuple[int, int]
          ) -> tuple[tuple[int, int], tuple[int, int]]:
    """PyTorch's padding='same': a total of ``dilation * (kernel - 1)``, the odd one after."""
    th, tw = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
    return (th // 2, th - th // 2), (tw // 2, tw - tw // 2)


def conv2d(input: Any, weight: Any, bias: Any = None, stride: Pair = 1,
           padding: Pair | str = 0, dilation: Pair = 1, groups: int = 1) -> Tensor:
    """2-d cross-correlation, as ``torch.nn.functional.conv2d``: ``input`` ``(N, C, H, W)``
    (or ``(C, H, W)``), ``weight`` ``(out, C / groups, kh, kw)``, ``bias`` ``(out,)`` or None.
    ``padding`` is zeros on each side: an int, a pair, ``"valid"`` (none) or ``"same"``
    (stride 1 only; an odd total puts the extra row and column after)."""
    what = "conv2d"
    x, unbatched = _batched(input, what)
    w = weight if isinstance(weight, Tensor) else Tensor(weight)
    if w.ndim != 4:
        raise ValueError(f"{what}: weight must be 4-d (out_channels, in_channels / groups, "
                         f"kh, kw), got shape {w.shape}")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{what}: groups must be a positive int, got {groups!r}")
    n, c = x.shape[:2]
    out_c, in_c, kh, kw = w.shape
    if in_c * groups != c:
        raise ValueError(f"{what}: the input of shape {x.shape} has {c} channels, but the "
                         f"weight of shape {w.shape} with groups={groups} expects "
                         f"{in_c * groups}")
    if out_c % groups:
        raise ValueError(f"{what}: {out_c} output channels (weight of shape {w.shape}) are "
                         f"not divisible by groups={groups}")
    if bias is not None:
        bias = bias if isinstance(bias, Tensor) else Tensor(bias)
        if bias.shape != (out_c,):
            raise ValueError(f"{what}: bias must have shape ({out_c},) for a weight of shape "
                             f"{w.shape}, got {bias.shape}")
    kernel = (kh, kw)
    st = _pair(stride, "stride", what, 1)
    dil = _pair(dilation, "dilation", what, 1)
    if padding == "same":
        if st != (1, 1):
            raise ValueError(f"{what}: padding='same' needs stride 1, got stride {stride!r}")
        pad = _same(kernel, dil)
    elif padding == "valid":
        pad = ((0, 0), (0, 0))
    elif isinstance(padding, str):
        raise ValueError(f"{what}: padding must be an int, a pair, 'valid' or 'same', got "
                         f"{padding!r}")
    else:
        ph, pw = _pair(padding, "padding", what, 0)
        pad = ((ph, ph), (pw, pw))
    cols = _windows(x, kernel, st, pad, dil, 0.0, what)  # (N, C, kh, kw, Ho, Wo)
    ho, wo = cols.shape[4:]
    k = in_c * kh * kw
    cols = cols.reshape(n, groups, k, ho * wo)  # the windows of each group's channels
    wg = w.reshape(groups, out_c // groups, k)
    out = linear(wg, cols, None if bias is None else bias.reshape(groups, out_c // groups, 1))
    out = out.reshape(n, out_c, ho, wo)
    return out.reshape(out.shape[1:]) if unbatched else out


def _pool_args(kernel_size: Pair, stride: Pair | None, padding: Pair, dilation: Pair,
               what: str) -> tuple[tuple[int, int], ...]:
    kernel = _pair(kernel_size, "kernel_size", what, 1)
    st = kernel if stride is None else _pair(stride, "stride", what, 1)
    pad = _pair(padding, "padding", what, 0)
    dil = _pair(dilation, "dilation", what, 1)
    if any(p > k // 2 for p, k in zip(pad, kernel)):  # PyTorch's rule: no all-padding window
        raise ValueError(f"{what}: padding {padding!r} must be at most half the kernel size "
                         f"{kernel_size!r}")
    return kernel, st, pad, dil


def max_pool2d(input: Any, kernel_size: Pair, stride: Pair | None = None, padding: Pair = 0,
               dilation: Pair = 1) -> Tensor:
    """The maximum of each window, as ``torch.nn.functional.max_pool2d`` (``stride`` defaults
    to ``kernel_size``; padding is -inf, at most half the kernel). Tied maxima share the
    gradient evenly."""
    x, unbatched = _batched(input, "max_pool2d")
    kernel, st, (ph, pw), dil = _pool_args(kernel_size, stride, padding, dilation, "max_pool2d")
    dt = host_dtype(x)
    low = -np.inf if dt.kind == "f" else np.iinfo(dt).min
    cols = _windows(x, kernel, st, ((ph, ph), (pw, pw)), dil, low, "max_pool2d")
    out = cols.max(axis=(2, 3))
    return out.reshape(out.shape[1:]) if unbatched else out


def avg_pool2d(input: Any, kernel_size: Pair, stride: Pair | None = None, padding: Pair = 0,
               count_include_pad: bool = True) -> Tensor:
    """The mean of each window, as ``torch.nn.functional.avg_pool2d`` (``stride`` defaults to
    ``kernel_size``; zero padding, at most half the kernel, counted in the mean unless
    ``count_include_pad=False``, which divides by the input pixels in each window)."""
    x, unbatched = _batched(input, "avg_pool2d")
    kernel, st, (ph, pw), dil = _pool_args(kernel_size, stride, padding, 1, "avg_pool2d")
    pad2 = ((ph, ph), (pw, pw))
    cols = _windows(x, kernel, st, pad2, dil, 0.0, "avg_pool2d")
    if count_include_pad or not (ph or pw):
        out = cols.mean(axis=(2, 3))
    else:  # a constant: how many input pixels each window holds
        counts = _windows(Tensor(np.ones((1, 1) + x.shape[2:])), kernel, st, pad2, dil, 0.0,
                          "avg_pool2d").data.sum(axis=(2, 3))
        out = cols.sum(axis=(2, 3)) * (1.0 / counts).astype(host_dtype(x))
    return out.reshape(out.shape[1:]) if unbatched else out


class Conv2d(Module):
    """2-d convolution (cross-correlation) over ``(N, C, H, W)`` or ``(C, H, W)`` inputs, as
    ``torch.nn.Conv2d`` with zero padding (see ``conv2d``).

    ``weight`` has PyTorch's shape ``(out_channels, in_channels / groups, kh, kw)``; weight and
    bias are drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), ``fan_in = in_channels / groups *
    kh * kw`` (PyTorch's default ranges), with ``numpy.random.default_rng(seed)`` (weight
    first, then bias).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Pair,
                 stride: Pair = 1, padding: Pair | str = 0, dilation: Pair = 1,
                 groups: int = 1, bias: bool = True, *, seed: Seed = None,
                 dtype: Any = np.float64) -> None:
        what = "Conv2d"
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"{what}: channels must be >= 1, got ({in_channels}, "
                             f"{out_channels})")
        if not isinstance(groups, (int, np.integer)) or groups < 1:
            raise ValueError(f"{what}: groups must be a positive int, got {groups!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{what}: in_channels={in_channels} and out_channels="
                             f"{out_channels} must both be divisible by groups={groups}")
        if isinstance(padding, str) and padding not in ("valid", "same"):
            raise ValueError(f"{what}: padding must be an int, a pair, 'valid' or 'same', "
                             f"got {padding!r}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _pair(kernel_size, "kernel_size", what, 1)
        self.stride = _pair(stride, "stride", what, 1)
        self.padding = padding if isinstance(padding, str) else _pair(padding, "padding",
                                                                      what, 0)
        if padding == "same" and self.stride != (1, 1):
            raise ValueError(f"{what}: padding='same' needs stride 1, got stride {stride!r}")
        self.dilation = _pair(dilation, "dilation", what, 1)
        self.groups = int(groups)
        fan_in = in_channels // groups * self.kernel_size[0] * self.kernel_size[1]
        bound = 1.0 / math.sqrt(fan_in)
        rng = np.random.default_rng(seed)
        shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight: Tensor = Parameter(rng.uniform(-bound, bound, shape), dtype=dtype)
        self.bias: Tensor | None = None
        if bias:
            self.bias = Parameter(rng.uniform(-bound, bound, (out_channels,)), dtype=dtype)

    def forward(self, x: Any) -> Tensor:
        return conv2d(layer_input(x, self.weight, "Conv2d"), self.weight, self.bias, self.stride,
                      self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding!r}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + (", bias=False" if self.bias is None else "")


class MaxPool2d(Module):
    """The maximum over each ``kernel_size`` window, as ``torch.nn.MaxPool2d`` (see
    ``max_pool2d``); ``stride`` defaults to ``kernel_size``."""

    def __init__(self, kernel_size: Pair, stride: Pair | None = None, padding: Pair = 0,
                 dilation: Pair = 1) -> None:
        _pool_args(kernel_size, stride, padding, dilation, "MaxPool2d")  # fail here, not later
        self.kernel_size, self.padding, self.dilation = kernel_size, padding, dilation
        self.stride = kernel_size if stride is None else stride

    def forward(self, x: Any) -> Tensor:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}")


class AvgPool2d(Module):
    """The mean over each ``kernel_size`` window, as ``torch.nn.AvgPool2d`` (see
    ``avg_pool2d``); ``stride`` defaults to ``kernel_size``."""

    def __init__(self, kernel_size: Pair, stride: Pair | None = None, padding: Pair = 0,
                 count_include_pad: bool = True) -> None:
        _pool_args(kernel_size, stride, padding, 1, "AvgPool2d")
        self.kernel_size, self.padding = kernel_size, padding
        self.stride = kernel_size if stride is None else stride
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x: Any) -> Tensor:
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding,
                          self.count_include_pad)

    def extra_repr(self) -> str:
        s = f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
        return s if self.count_include_pad else s + ", count_include_pad=False"
