"""What ``detect_anomaly`` says when it stops: the reports of a non-finite gradient (with the
masked-``where`` trap diagnosed) and of a non-finite forward value (``forward=True``).

Nothing here runs unless anomaly mode found something (or, for the forward check, was asked
to look): the engine imports this module only then, so the normal path pays nothing for it.
"""

from __future__ import annotations

import linecache
from typing import Any

import numpy as np

from . import backend
from .engine import Node, traces

_SAFE = 1.0  # a harmless input for the ops that blow up at 0: log, sqrt, **, /


def stats(v: Any) -> str:
    """min, max and mean of ``v``'s finite entries, and how many are nan and inf."""
    a = np.asarray(v.data if isinstance(v, Node) else v)
    if a.dtype.kind not in "biuf":
        return f"{type(v).__name__}"
    shape = f"{tuple(a.shape)} {a.dtype}"
    if a.dtype.kind != "f":
        return shape
    finite = a[np.isfinite(a)]
    n_nan, n_inf = int(np.isnan(a).sum()), int(np.isinf(a).sum())
    if finite.size:
        with backend.quiet():
            mmm = (f"min {finite.min():.4g}, max {finite.max():.4g}, "
                   f"mean {finite.mean():.4g}")
    else:
        mmm = "no finite entry"
    return f"{shape}: {mmm}, {n_nan} nan, {n_inf} inf"


def _source(site: str | None) -> str:
    """``file:line`` and the text of that line (when the file can be read)."""
    if not site or ":" not in site:
        return "<created outside detect_anomaly>"
    path, _, line = site.rpartition(":")
    text = linecache.getline(path, int(line)).strip() if line.isdigit() else ""
    return f"{site}\n        {text}" if text else site


def _raw(v: Any) -> Any:
    return v.data if isinstance(v, Node) else v


def _name(v: Any, default: str) -> str:
    return v.label if isinstance(v, Node) and v.label and v.label.isidentifier() else default


def _first(mask: np.ndarray) -> tuple:
    return tuple(int(i) for i in np.argwhere(mask)[0]) if mask.ndim else ()


def _rerun(n: Node, g: Any) -> tuple:
    """``n``'s rule run again on raw values: each input's gradient before it is summed back to
    the input's shape, so it lines up with ``g`` element for element."""
    args = n._args
    need = tuple(isinstance(a, Node) and a._rg for a in args)
    vals = [_raw(a) for a in args]
    with backend.quiet():
        return n._op.vjp(n._ns, _raw(g), n.data, need, *vals, **(n._params or {}))


def _consumers(n: Node, grads: dict) -> list[Node]:
    """The nodes backward has already taken that read ``n`` (every one of them, by now)."""
    return [m for m in grads if m._op is not None and m._id > n._id
            and any(a is n for a in m._args)]


def _zeroed_by(n: Node, mask: np.ndarray, grads: dict) -> tuple[Node, int] | None:
    """The op that sent ``n`` the zero gradient at ``mask``: a ``where`` that does not take
    the branch ``n`` flows into there (through elementwise ops whose gradient is zero there
    too), or else the first consumer that sent a zero; with the position it read ``n``'s
    path at. Breadth first, iterative, a few dozen nodes at most."""
    frontier, seen, other = [(n, mask)], {id(n)}, None
    while frontier and len(seen) < 64:
        p, m_p = frontier.pop(0)
        for m in _consumers(p, grads):
            j = next(i for i, a in enumerate(m._args) if a is p)
            if m._op.name == "where" and j in (1, 2):
                cond = np.asarray(_raw(m._args[0]), dtype=bool)
                hidden = np.broadcast_to(~cond if j == 1 else cond, np.shape(m.data))
                if hidden.shape != m_p.shape or hidden[m_p].all():
                    return m, j
            gm = np.asarray(_raw(grads[m]))
            if m._op.elementwise and gm.shape == m_p.shape and id(m) not in seen \
                    and not gm[m_p].any():
                seen.add(id(m))
                frontier.append((m, m_p))  # its own gradient was zero there: look further
            elif other is None:
                other = (m, j)
    return other


def _call(n: Node, k: int, safe: str) -> str:
    """How the user would write ``n``'s op with input ``k`` replaced by ``safe``."""
    op, names = n._op, []
    for i, a in enumerate(n._args):
        names.append(safe if i == k else _name(a, "xyz"[i] if i < 3 else f"a{i}")
                     if isinstance(a, Node) else _const(a))
    if op.symbol in ("+", "-", "*", "/", "**") and len(names) == 2:
        return f"{names[0]} {op.symbol} {names[1]}"
    if len(names) == 1 and op.name in op.methods:
        return f"{names[0]}.{op.name}()"
    return f"{op.name}({', '.join(names)})"


def nonfinite_gradient(n: Node, a: Node, g: Any, grads: dict) -> str:
    """The message of the FloatingPointError raised when the backward of ``n`` gave its input
    ``a`` a non-finite gradient from the upstream gradient ``g``; ``grads`` holds what
    backward has computed so far."""
    name = n._op.name
    head = (f"detect_anomaly: the backward of '{name}' produced a non-finite gradient (nan or "
            f"inf); that '{name}' was created at {_source(traces.get(n))}")
    try:
        rerun = _rerun(n, g)
    except Exception:  # a rule that fails on raw values (a custom one): no diagnosis
        return head
    gz = np.asarray(_raw(g))
    for k, (arg, raw) in enumerate(zip(n._args, rerun)):
        if arg is not a or raw is None:
            continue
        raw = np.asarray(_raw(raw))
        if raw.shape != gz.shape and gz.ndim:
            continue
        bad = ~np.isfinite(raw)
        trap = bad & (gz == 0)
        if not trap.any():
            if not bad.any():
                continue
            at = _first(bad)
            return (f"{head}\nat index {at} the gradient that reached it is "
                    f"{np.broadcast_to(gz, bad.shape)[at]:.4g} and its input {k} is "
                    f"{np.broadcast_to(np.asarray(_raw(arg)), bad.shape)[at]:.4g}: its "
                    f"derivative is infinite there (input {k}: {stats(arg)})")
        return head + "\n" + _trap(n, k, trap, grads)
    return head


def _const(c: Any) -> str:
    return f"{c!r}" if isinstance(c, (int, float)) else "c"


def _trap(n: Node, k: int, trap: np.ndarray, grads: dict) -> str:
    """A zero gradient times an infinite derivative explained: who sent the zero (the
    masked-where trap when a ``where`` did), and the fix."""
    name, x = n._op.name, _name(n._args[k], "x")
    at = _first(trap)
    xv = np.broadcast_to(np.asarray(_raw(n._args[k])), trap.shape)[at]
    where_at = f" (the first at index {at})" if at else ""
    lines = [f"The gradient that reached '{name}' is exactly 0 at {int(trap.sum())} "
             f"element(s){where_at}, where its input {x} is {xv:.4g} and '{name}' has an "
             f"infinite derivative: 0 * inf = nan."]
    found = _zeroed_by(n, trap, grads)
    if found is None:
        return lines[0]
    m, j = found
    if m._op.name != "where":
        lines.append(f"The zero comes from '{m._op.name}', created at "
                     f"{_source(traces.get(m))}\nwhich sends 0 back there: the value of "
                     f"'{name}' does not matter, but backward still multiplies that 0 by the "
                     f"infinite derivative. Fix: compute '{name}' at a harmless input where its "
                     f"result is not used, e.g. {_call(n, k, 'safe')} with "
                     f"safe = where(mask, {x}, {_SAFE}).")
        return "\n".join(lines)
    other = m._args[3 - j]
    kept = _name(other, "y" if j == 1 else "x") if isinstance(other, Node) else _const(other)
    lines.append(f"This is the masked-where trap. The zero comes from the 'where' created at "
                 f"{_source(traces.get(m))}\nwhose condition takes its other branch there: "
                 f"where discards the value of the branch not taken, but backward still "
                 f"differentiates that branch (with a gradient of 0).")
    safe = (f"where(cond, {x}, {_SAFE})" if j == 1 else f"where(cond, {_SAFE}, {x})")
    fixed = (f"where(cond, {_call(n, k, 'safe')}, {kept})" if j == 1
             else f"where(cond, {kept}, {_call(n, k, 'safe')})")
    lines.append(f"Fix: the double where. Mask the input of '{name}' too, so that the branch "
                 f"not taken is computed at a harmless value ({_SAFE}):\n"
                 f"    safe = {safe}\n    out = {fixed}\n"
                 f"with cond the condition of that 'where'.")
    return "\n".join(lines)


def check_forward(out: Node) -> None:
    """Raise FloatingPointError if ``out`` (just recorded) holds a nan or inf; the message
    names the op, where it was created and its inputs' statistics."""
    data = out.data
    if isinstance(data, float):
        if data - data == 0.0:  # finite
            return
    elif np.isfinite(data).all():
        return
    a = np.asarray(data)
    bad = ~np.isfinite(a)
    at = _first(bad)
    name = out._op.name
    lines = [f"detect_anomaly(forward=True): '{name}' produced {int(np.isnan(a).sum())} nan "
             f"and {int(np.isinf(a).sum())} inf (of {a.size} values; the first at index {at}: "
             f"{a[at]}), created at {_source(traces.get(out))}"]
    came_in = False
    for i, arg in enumerate(out._args):
        raw = _raw(arg)
        if not isinstance(raw, (float, int, np.ndarray, np.generic)):
            continue
        value = ""
        r = np.asarray(raw)
        if r.shape and r.dtype.kind in "biuf":
            try:
                value = f"; at that index {np.broadcast_to(r, a.shape)[at]:.4g}"
            except ValueError:  # (a reduction or a shape op: no element lines up)
                pass
        came_in |= r.dtype.kind == "f" and not np.isfinite(r).all()
        what = _name(arg, "") if isinstance(arg, Node) else "a constant"
        lines.append(f"  input {i}{' ' + what if what else ''}: {stats(raw)}{value}")
    if came_in:
        lines.append("an input already holds nan or inf: it came from outside the recorded "
                     "graph (data, a leaf, or a node made outside detect_anomaly)")
    raise FloatingPointError("\n".join(lines))
