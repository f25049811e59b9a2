"""Losses as modules: thin wrappers over ``nn.functional`` that remember ``reduction``."""

from __future__ import annotations

from typing import Any

from autograd import Tensor

from . import functional as F
from .module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = F.check_reduction(reduction, type(self).__name__)

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Mean squared error; ``input`` and ``target`` must have exactly the same shape."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.mse_loss(input, target, self.reduction)


class CrossEntropyLoss(_Loss):
    """Cross-entropy of logits ``(N, C)`` against integer labels ``(N,)``."""

    def forward(self, logits: Any, labels: Any) -> Tensor:
        return F.cross_entropy(logits, labels, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits (the stable form); shapes must match exactly."""

    def forward(self, logits: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, target, self.reduction)
