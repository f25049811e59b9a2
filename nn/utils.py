"""Training utilities, as in ``torch.nn.utils``: gradient clipping."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from autograd import Tensor, checkpoint

__all__ = ["clip_grad_norm_", "checkpoint_sequential"]


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


def checkpoint_sequential(functions: Any, segments: int, input: Any, *,
                          preserve_rng_state: bool = True) -> Any:
    """Run a ``Sequential`` (or a list of modules) in ``segments`` runs of consecutive
    modules, each but the last under ``autograd.checkpoint`` (PyTorch's
    ``torch.utils.checkpoint.checkpoint_sequential``): backward keeps only each segment's
    input and recomputes the rest, one more forward in all. Gradients are those of
    ``functions(input)``, bit for bit."""
    modules = list(functions)
    if not isinstance(segments, int) or isinstance(segments, bool) or segments < 1:
        raise ValueError(f"checkpoint_sequential: segments must be an int >= 1, got {segments!r}")
    if segments > max(len(modules), 1):
        raise ValueError(f"checkpoint_sequential: {segments} segments for {len(modules)} "
                         "modules (at most one segment per module)")
    size = len(modules) // segments
    end = 0
    for start in range(0, size * (segments - 1), size):
        end = start + size
        input = checkpoint(_run(modules[start:end]), input,
                           preserve_rng_state=preserve_rng_state)
    return _run(modules[end:])(input)


def _run(modules: list) -> Any:
    def run(x: Any) -> Any:  # (checkpoint finds the modules' parameters in this closure)
        for m in modules:
            x = m(x)
        return x
    return run
