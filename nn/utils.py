"""Training utilities, as in ``torch.nn.utils``: gradient clipping."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from autograd import Tensor

__all__ = ["clip_grad_norm_"]


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False) -> float:
    """Scale all gradients together so that their global ``norm_type``-norm is at most
    ``max_norm``, as ``torch.nn.utils.clip_grad_norm_``: the norm of the gradients' norms
    (``inf``: the largest absolute entry), and every gradient times
    ``min(max_norm / (norm + 1e-6), 1)``. Parameters without a gradient are ignored.

    Returns the total norm before clipping, a float (0.0 when no parameter has a gradient).
    A nan or inf norm makes the gradients nan, as in PyTorch, or, with
    ``error_if_nonfinite=True``, raises RuntimeError and changes nothing. The scaled
    gradients are new arrays: an array the caller holds is never written.
    """
    ps = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for p in ps:
        if not isinstance(p, Tensor):
            raise TypeError(f"clip_grad_norm_: expected Tensors, got {type(p).__name__}")
    ps = [p for p in ps if p.grad is not None]
    if not ps:
        return 0.0
    p_norm = float(norm_type)
    grads = [np.ravel(p.grad.data if isinstance(p.grad, Tensor) else p.grad) for p in ps]
    norms = np.array([np.linalg.norm(g, p_norm) if g.size else 0.0 for g in grads])
    total = float(np.linalg.norm(norms, p_norm))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                           f"gradients is {total}; set error_if_nonfinite=False to scale "
                           "them anyway (they become nan)")
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:  # (nan too: the gradients become nan, as PyTorch makes them)
        for p in ps:
            p.grad = p.grad * coef  # a new array: never write into one the caller may hold
    return total
