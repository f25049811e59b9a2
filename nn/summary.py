"""``nn.summary(model, x)``: a table of a model's layers, as torchinfo and Keras print one."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from autograd import Tensor, no_grad

from .module import Module

__all__ = ["summary", "Summary", "SummaryRow"]


class SummaryRow(NamedTuple):
    """One module: its dotted name ("" for the model), class, depth (0 for the model),
    output shape(s) in the summary's forward (None if it was not called), parameter counts
    (its own and its sub-modules', each parameter once) and the 2-norm of their gradients
    (None when none has a ``.grad``)."""

    name: str
    type: str
    depth: int
    output_shape: Any
    params: int
    trainable: int
    grad_norm: float | None


class Summary:
    """What ``summary`` found: ``rows`` (``SummaryRow``), ``total_params``,
    ``trainable_params``, ``non_trainable_params``; ``str()`` (and the repr) is the table."""

    def __init__(self, rows: list[SummaryRow], total: int, trainable: int) -> None:
        self.rows = rows
        self.total_params = total
        self.trainable_params = trainable
        self.non_trainable_params = total - trainable

    def __str__(self) -> str:
        head = ("Layer (type)", "Output shape", "Params", "Trainable", "Grad norm")
        cells = [head]
        for r in self.rows:
            label = f"{r.name} ({r.type})" if r.name else r.type
            cells.append(("  " * r.depth + label, _shape(r.output_shape), f"{r.params:,}",
                          f"{r.trainable:,}",
                          "-" if r.grad_norm is None else f"{r.grad_norm:.4g}"))
        widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
        lines = []
        for i, c in enumerate(cells):
            lines.append("  ".join([c[0].ljust(widths[0]), c[1].ljust(widths[1])]
                                   + [x.rjust(w) for x, w in zip(c[2:], widths[2:])]))
            if i == 0:
                lines.append("=" * len(lines[0]))
        lines.append("=" * len(lines[0]))
        lines += [f"Total params: {self.total_params:,}",
                  f"Trainable params: {self.trainable_params:,}",
                  f"Non-trainable params: {self.non_trainable_params:,}"]
        return "\n".join(lines)

    __repr__ = __str__


def _shape(s: Any) -> str:
    if s is None:
        return "-"
    return ", ".join(map(str, s)) if isinstance(s, list) else str(s)


def _out_shape(out: Any) -> Any:
    """A tuple for one array output, a list of them for several (a tuple or list returned)."""
    if isinstance(out, (tuple, list)):
        return [_out_shape(o) for o in out]
    return tuple(np.shape(out.data if isinstance(out, Tensor) else out))


def summary(model: Module, *inputs: Any, depth: int | None = None) -> Summary:
    """Run ``model(*inputs)`` once and tabulate every module (nested names, indented): the
    shape of its output, its parameters and trainable parameters (its sub-modules' included,
    each parameter counted once) and, where ``.grad`` is set (after a backward), the 2-norm
    of its parameters' gradients. ``depth`` limits the rows to modules that deep (the model
    is depth 0). The forward runs in eval mode under ``no_grad`` and nothing in the model
    changes (BatchNorm's running statistics, ``.grad``, the training flags stay as they were).

        >>> print(nn.summary(model, x))       # or s = nn.summary(...); s.total_params
    """
    if not isinstance(model, Module):
        raise TypeError(f"summary: model must be an nn.Module, not {type(model).__name__}")
    if depth is not None and (type(depth) is not int or depth < 0):
        raise ValueError(f"summary: depth must be a non-negative int or None, not {depth!r}")
    named = list(model.named_modules())
    shapes: dict[int, Any] = {}
    saved = {id(m): (m, m.__dict__.get("forward"), m.__dict__.get("training")) for _, m in named}

    def recording(m: Module, forward: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            out = forward(*args, **kwargs)
            shapes[id(m)] = _out_shape(out)
            return out
        return wrapper

    try:
        for _, m in named:  # an instance attribute shadows the class's forward, briefly
            object.__setattr__(m, "forward", recording(m, m.forward))
            object.__setattr__(m, "training", False)
        with no_grad():
            model(*inputs)
    finally:
        for m, forward, training in saved.values():
            if forward is None:
                m.__dict__.pop("forward", None)
            else:
                object.__setattr__(m, "forward", forward)
            if training is None:
                m.__dict__.pop("training", None)
            else:
                object.__setattr__(m, "training", training)
    rows = []
    for name, m in named:
        d = name.count(".") + 1 if name else 0
        if depth is not None and d > depth:
            continue
        params = list(m.parameters())
        grads = [p.grad for p in params if p.grad is not None]
        norm = None
        if grads:
            norm = float(np.linalg.norm([np.linalg.norm(np.ravel(getattr(g, "data", g)))
                                         for g in grads]))
        rows.append(SummaryRow(name, type(m).__name__, d, shapes.get(id(m)),
                               sum(p.size for p in params),
                               sum(p.size for p in params if p.requires_grad), norm))
    return Summary(rows, rows[0].params if rows else 0, rows[0].trainable if rows else 0)
