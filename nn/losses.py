"""Losses as modules: thin wrappers over ``nn.functional`` that remember their options."""

from __future__ import annotations

from typing import Any

import numpy as np

from autograd import Tensor

from . import functional as F
from .module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = F.check_reduction(reduction, type(self).__name__)

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


def _weight(weight: Any, what: str) -> np.ndarray | None:
    """A copy of the weights: constants, they carry no gradient (as in PyTorch)."""
    if weight is None:
        return None
    if isinstance(weight, Tensor):
        if weight.requires_grad:
            raise RuntimeError(f"{what}: weight carries no gradient (as in PyTorch); pass "
                               "weight.detach()")
        weight = weight.data
    try:
        return np.array(weight, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{what}: weight must be an array of numbers, got {weight!r} (the "
                        "other options are keyword arguments)") from None


class MSELoss(_Loss):
    """Mean squared error; ``input`` and ``target`` must have exactly the same shape."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.mse_loss(input, target, self.reduction)


class CrossEntropyLoss(_Loss):
    """Cross-entropy of logits ``(N, C)`` against integer labels ``(N,)``, with PyTorch's
    options (``nn.functional.cross_entropy`` says what each does)."""

    def __init__(self, weight: Any = None, *, ignore_index: int = -100,
                 reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got "
                             f"{label_smoothing}")
        self.weight, self.ignore_index = _weight(weight, "CrossEntropyLoss"), ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, logits: Any, labels: Any) -> Tensor:
        return F.cross_entropy(logits, labels, self.reduction, weight=self.weight,
                               ignore_index=self.ignore_index,
                               label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        extra = [super().extra_repr(), "" if self.weight is None else "weight=...",
                 "" if self.ignore_index == -100 else f"ignore_index={self.ignore_index}",
                 f"label_smoothing={self.label_smoothing}" if self.label_smoothing else ""]
        return ", ".join(e for e in extra if e)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities ``(N, C)`` against integer labels
    ``(N,)``, with ``weight`` and ``ignore_index`` as in PyTorch."""

    def __init__(self, weight: Any = None, *, ignore_index: int = -100,
                 reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.weight, self.ignore_index = _weight(weight, "NLLLoss"), ignore_index

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.nll_loss(input, target, self.reduction, weight=self.weight,
                          ignore_index=self.ignore_index)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities in [0, 1] (logs clamped at -100, as in PyTorch);
    shapes must match exactly. ``BCEWithLogitsLoss`` on logits is the stable choice."""

    def __init__(self, weight: Any = None, *, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.weight = _weight(weight, "BCELoss")

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy(input, target, self.reduction, weight=self.weight)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits (the stable form); shapes must match exactly."""

    def forward(self, logits: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, target, self.reduction)


class L1Loss(_Loss):
    """Mean absolute error; ``input`` and ``target`` must have exactly the same shape."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.l1_loss(input, target, self.reduction)


class HuberLoss(_Loss):
    """Huber loss with threshold ``delta`` (quadratic inside, linear outside), as PyTorch's;
    shapes must match exactly."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        if not delta > 0:
            raise ValueError(f"HuberLoss: delta must be > 0, got {delta}")
        self.delta = delta

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.huber_loss(input, target, self.reduction, self.delta)
