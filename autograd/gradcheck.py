"""``gradcheck``: the engine's gradients against central finite differences, in float64."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .engine import Node, backprop, enable_grad, forward_order, graph, no_grad, push_tangents
from .tensor import Tensor
from .tree import _arguments, _is_argument_leaf, tree_unflatten
from .value import Value


class GradcheckError(AssertionError):
    """The analytic gradient disagrees with finite differences (or misbehaves)."""


def _prepare(x: Any, i: int) -> tuple[str, Any]:
    """An input as (kind, float64 raw data)."""
    data = x.data if isinstance(x, Node) else x
    if isinstance(x, Value) or isinstance(data, (int, float, np.integer, np.floating)) and \
            not isinstance(x, Tensor):
        if isinstance(data, np.floating) and data.dtype != np.float64:
            warnings.warn(f"gradcheck: input {i} is {data.dtype}; checking it in float64",
                          UserWarning, stacklevel=3)
        return "value", float(data)
    arr = np.asarray(data)
    if arr.dtype.kind not in "iuf" or arr.dtype.kind != "f" and isinstance(x, Tensor):
        raise TypeError(f"gradcheck: input {i} has dtype {arr.dtype}; floats expected")
    if arr.dtype != np.float64:
        if arr.dtype.kind == "f":
            warnings.warn(f"gradcheck: input {i} is {arr.dtype}; checking it in float64",
                          UserWarning, stacklevel=3)
        arr = arr.astype(np.float64)
    return "tensor", np.array(arr, dtype=np.float64)


def _nodes(kinds: list[str], raws: list[Any]) -> list[Node]:
    return [Value(r) if k == "value" else Tensor(r, requires_grad=True)
            for k, r in zip(kinds, raws)]


def _out_array(out: Any) -> np.ndarray:
    data = out.data if isinstance(out, Node) else out
    return np.asarray(data, dtype=np.float64)


def _vjp(out: Any, nodes: list[Node], seed: Any, create_graph: bool = False) -> list[Any]:
    """Gradients of ``out`` seeded with ``seed`` for each input node (zeros if unreached)."""
    zeros = [0.0 if isinstance(n, Value) else np.zeros(np.shape(n.data)) for n in nodes]
    if not isinstance(out, Node) or not out.requires_grad:
        return zeros
    grads = backprop(out, seed, create_graph=create_graph)
    return [grads.get(n, z) for n, z in zip(nodes, zeros)]


def _seed(out: Any, values: np.ndarray) -> Any:
    if isinstance(out, Tensor):
        return values.reshape(out.shape).astype(out.dtype)
    return float(values.reshape(())) if values.size == 1 else values  # (not a node: unused)


def _fail(msg: str) -> None:
    raise GradcheckError("gradcheck: " + msg)


def _first(mask: np.ndarray) -> tuple[int, ...]:
    """The index of the first True element of ``mask``."""
    mask = np.asarray(mask)
    return tuple(int(t) for t in np.unravel_index(int(np.argmax(mask)), mask.shape))


def _check_unchanged(nodes: list[Node], raws: list[Any], by: str) -> None:
    """The nodes given to ``f`` still hold the values they were made with."""
    for i, (n, r) in enumerate(zip(nodes, raws)):
        now = np.asarray(n.data, dtype=np.float64)
        if now.shape != np.shape(r):
            _fail(f"input {i} was replaced by {by}: shape {np.shape(r)} became {now.shape}")
        changed = ~((now == r) | (np.isnan(now) & np.isnan(r)))
        if np.any(changed):
            idx = _first(changed)
            _fail(f"input {i}, element {idx} was mutated by {by}: "
                  f"{float(np.asarray(r)[idx])!r} became {float(now[idx])!r}")


def gradcheck(f: Callable, *inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, fast: bool | None = None, order: int = 1,
              seed: int = 0) -> bool:
    """Check the gradients of ``f`` at ``inputs`` against central finite differences.

    Inputs are floats, arrays, ``Value``s or ``Tensor``s (checked in float64; float32 is
    up-cast with a UserWarning); the output may have any shape. Small problems (inputs x
    outputs <= 10^4 elements) compare the full Jacobian; larger ones, or ``fast=True``,
    compare deterministic random projections ``u^T J v``. Also checks that a zero upstream
    gradient gives zero, that two backward passes agree, that gradients have the inputs'
    shapes and dtypes, and that neither ``f`` nor its backward pass changes the inputs it is
    given (in place or through ``.data``). Where ``f`` uses custom primitives that declare a
    JVP (``primitive(..., jvp=...)``), forward mode is checked against reverse mode to rounding
    (the transposition identity ``<u, J v> == <J^T u, v>``: the same Jacobian, element by
    element, or by random projections), so a rule that is slightly wrong is caught exactly,
    not within a tolerance. ``order=2`` also checks second derivatives. Returns True or raises
    ``GradcheckError``.

    An input may be a pytree (``autograd.tree``: dicts, lists, tuples, namedtuples,
    dataclasses of the above); each leaf is checked, and named by its path
    (``input 0['w']``).
    """
    if not inputs:
        raise ValueError("gradcheck: no inputs to check")
    if not all(_is_argument_leaf(x) for x in inputs):
        return _gradcheck_trees(f, inputs, dict(eps=eps, atol=atol, rtol=rtol, fast=fast,
                                                order=order, seed=seed))
    prepared = [_prepare(x, i) for i, x in enumerate(inputs)]
    kinds = [k for k, _ in prepared]
    raws = [r for _, r in prepared]
    rng = np.random.default_rng(seed)

    nodes = _nodes(kinds, raws)
    out = f(*nodes)
    _check_unchanged(nodes, raws, "f")
    out0 = _out_array(out)
    n_in = sum(np.size(r) for r in raws)
    use_full = (n_in * out0.size <= 10_000) if fast is None else not fast

    def evaluate(i: int, raw_i: Any) -> np.ndarray:
        args = list(raws)
        args[i] = raw_i
        with no_grad():
            return _out_array(f(*_nodes(kinds, args)))

    _check_protocol(out, nodes, raws, out0, rng)
    try:
        if use_full:
            _check_full(out, nodes, raws, out0, evaluate, eps, atol, rtol)
        else:
            _check_projections(out, nodes, raws, out0, evaluate, eps, atol, rtol, rng)
    except GradcheckError as e:
        if isinstance(out, Node):
            raise
        # a constant is checked as one (zero gradients); anything else left the tape
        raise GradcheckError(f"{e}; f returned {type(out).__name__} {np.shape(out)}, not a "
                             "Tensor or a Value: what it computed left the tape (through .data, "
                             ".item() or numpy on the values?); return the node") from None
    _check_unchanged(nodes, raws, "the backward pass")
    custom = _custom_jvps(out)
    if custom:
        _check_transposition(out, nodes, raws, out0, use_full, rng, custom)

    if order >= 2:
        u = rng.standard_normal(out0.shape)
        ws = [rng.standard_normal(np.shape(r)) for r in raws]

        def first(*xs: Node) -> Any:
            """A random projection of the first derivatives, as a differentiable node."""
            with enable_grad():  # the finite differences evaluate it under no_grad
                o = f(*xs)
                gs = _vjp(o, list(xs), _seed(o, u), create_graph=True)
                total = 0.0
                for g, w in zip(gs, ws):
                    term = g * (w if isinstance(g, Tensor) or np.ndim(g) else float(w))
                    if isinstance(term, Tensor):
                        term = term.sum()
                    elif not isinstance(term, Value):
                        term = float(np.sum(term))  # a constant first derivative
                    total = total + term
                return total

        try:
            gradcheck(first, *raws, eps=eps, atol=atol, rtol=rtol, fast=fast,
                      order=order - 1, seed=seed + 1)
        except GradcheckError as e:
            raise GradcheckError(f"second derivatives: {e}") from None
    return True


def _check_protocol(out: Any, nodes: list[Node], raws: list[Any], out0: np.ndarray,
                    rng: Any) -> None:
    """Inputs unchanged by backward; zero in, zero out; reentrant; gradient shapes and dtypes."""
    u = rng.standard_normal(out0.shape)
    first = _vjp(out, nodes, _seed(out, u))
    _check_unchanged(nodes, raws, "the backward pass")
    second = _vjp(out, nodes, _seed(out, u))
    zero = _vjp(out, nodes, _seed(out, np.zeros(out0.shape)))
    for i, (n, a, b, z) in enumerate(zip(nodes, first, second, zero)):
        if isinstance(n, Tensor):
            a = np.asarray(a)
            if a.shape != n.shape or a.dtype != n.dtype:
                _fail(f"the gradient of input {i} has shape {a.shape} and dtype {a.dtype}, "
                      f"the input {n.shape} and {n.dtype}")
        a, b, z = np.asarray(a), np.asarray(b), np.asarray(z)
        differ = ~((a == b) | (np.isnan(a) & np.isnan(b)))
        if np.any(differ):
            idx = _first(differ)
            _fail(f"input {i}, element {idx}: two backward passes with the same upstream "
                  f"gradient gave different gradients, {float(a[idx])!r} and "
                  f"{float(b[idx])!r} (the backward pass is not reentrant)")
        if np.any(z != 0):
            idx = _first(z != 0)
            _fail(f"input {i}, element {idx}: a zero upstream gradient gave the nonzero "
                  f"gradient {float(z[idx])!r} (does the VJP multiply by g?)")


def _report(i: int, idx: Any, a: float, n: float, diff: np.ndarray, numeric: np.ndarray,
            atol: float, rtol: float, out_index: Any = None) -> None:
    rel = diff / np.maximum(np.abs(numeric), 1e-300)
    where = f"input {i}, element {idx}" + (f" (output element {out_index})"
                                            if out_index is not None else "")
    _fail(f"{where}: analytic {a!r} vs numeric {n!r}; max abs error {diff.max():.3g}, "
          f"max rel error {rel.max():.3g} (atol={atol}, rtol={rtol})")


def _check_full(out, nodes, raws, out0, evaluate, eps, atol, rtol) -> None:
    # analytic: one backward per output element
    analytic = [np.zeros((out0.size,) + np.shape(r)) for r in raws]
    for j in range(out0.size):
        e = np.zeros(out0.size)
        e[j] = 1.0
        for i, g in enumerate(_vjp(out, nodes, _seed(out, e))):
            analytic[i][j] = g
    # numeric: two forward passes per input element
    for i, r in enumerate(raws):
        numeric = np.zeros_like(analytic[i])
        for k in range(np.size(r)):
            idx: tuple = np.unravel_index(k, np.shape(r)) if np.ndim(r) else ()
            plus, minus = np.array(r, dtype=np.float64), np.array(r, dtype=np.float64)
            plus[idx] += eps
            minus[idx] -= eps
            p, m = evaluate(i, plus if np.ndim(r) else float(plus)), \
                evaluate(i, minus if np.ndim(r) else float(minus))
            numeric[(slice(None),) + idx] = ((p - m) / (2 * eps)).reshape(-1)
        diff = np.abs(analytic[i] - numeric)
        bad = ~(diff <= atol + rtol * np.abs(numeric))
        if np.any(bad):
            j, *rest = [int(t) for t in np.unravel_index(int(np.argmax(bad)), bad.shape)]
            idx = tuple(rest)
            out_index = tuple(int(t) for t in np.unravel_index(j, out0.shape)) \
                if out0.ndim else None
            at = (j,) + idx
            _report(i, idx, float(analytic[i][at]), float(numeric[at]), diff,
                    numeric, atol, rtol, out_index)


def _check_projections(out, nodes, raws, out0, evaluate, eps, atol, rtol, rng,
                       count: int = 3) -> None:
    for t in range(count):
        u = rng.standard_normal(out0.shape)
        grads = _vjp(out, nodes, _seed(out, u))
        for i, r in enumerate(raws):
            v = rng.standard_normal(np.shape(r))
            a = float(np.sum(np.asarray(grads[i]) * v))
            plus = np.asarray(r) + eps * v
            minus = np.asarray(r) - eps * v
            if not np.ndim(r):
                plus, minus = float(plus), float(minus)
            n = float(np.sum((evaluate(i, plus) - evaluate(i, minus)) / (2 * eps) * u))
            if not abs(a - n) <= atol + rtol * abs(n):
                _report(i, f"(random projection {t})", a, n, np.array([abs(a - n)]),
                        np.array([n]), atol, rtol)


# ----- pytrees (issue 17 item 4) ------------------------------------------------------------------
def _gradcheck_trees(f: Callable, inputs: tuple, options: dict[str, Any]) -> bool:
    """``gradcheck`` of pytree inputs: the leaves are checked as inputs of their own, and a
    failure names the leaf by its path instead of its position among the leaves."""
    leaves: list[Any] = []
    names: list[str] = []
    defs = []
    for i, x in enumerate(inputs):
        ls, treedef, paths, _ = _arguments(x, f"input {i}", "gradcheck")
        leaves += ls
        names += paths
        defs.append(treedef)
    if not leaves:
        raise ValueError("gradcheck: the inputs hold no leaves to check")

    def flat_f(*xs: Any) -> Any:
        trees, k = [], 0
        for treedef in defs:
            trees.append(tree_unflatten(treedef, xs[k:k + treedef.num_leaves]))
            k += treedef.num_leaves
        return f(*trees)

    try:
        return gradcheck(flat_f, *leaves, **options)
    except GradcheckError as e:
        message = re.sub(r"\binput (\d+)", lambda m: names[int(m.group(1))], str(e))
        raise GradcheckError(message) from None


def _custom_jvps(out: Any) -> list[str]:
    """The custom primitives on ``out``'s tape, when each declares a JVP (else none: forward
    mode cannot run through the tape)."""
    if not isinstance(out, Node) or not out.requires_grad:
        return []
    names = set()
    for n in graph(out):
        if n._op is not None and n._op.custom:
            if n._op.jvp is None:
                return []
            names.add(n._op.name)
    return sorted(names)


def _check_transposition(out: Any, nodes: list[Node], raws: list[Any], out0: np.ndarray,
                         use_full: bool, rng: Any, custom: list[str]) -> None:
    """Forward mode (the JVPs) against reverse mode (the VJPs): both give the same Jacobian,
    up to rounding (no finite differences involved)."""
    order = forward_order(out, nodes)
    rules = ", ".join(f"'{c}'" for c in custom)

    def jv(seeds: dict) -> np.ndarray:
        t = push_tangents(order, seeds).get(out)
        return np.zeros(out0.shape) if t is None else np.asarray(t, dtype=np.float64)

    def unit(r: Any, k: int) -> Any:
        if not np.ndim(r):
            return 1.0
        v = np.zeros(np.shape(r))
        v.reshape(-1)[k] = 1.0
        return v

    if use_full:
        rows = []  # reverse mode: one backward pass per output element
        for j in range(out0.size):
            e = np.zeros(out0.size)
            e[j] = 1.0
            rows.append([np.asarray(g, dtype=np.float64).reshape(-1)
                         for g in _vjp(out, nodes, _seed(out, e))])
        for i, (n, r) in enumerate(zip(nodes, raws)):
            for k in range(np.size(r)):
                fwd = jv({n: unit(r, k)}).reshape(-1)
                rev = np.array([row[i][k] for row in rows])
                scale = max(1.0, float(np.max(np.abs(rev), initial=0.0)))
                bad = ~(np.abs(fwd - rev) <= 1e-9 * np.abs(rev) + 1e-12 * scale)
                if np.any(bad):
                    j = int(np.argmax(bad))
                    idx = tuple(int(t) for t in np.unravel_index(k, np.shape(r)))
                    out_index = tuple(int(t) for t in np.unravel_index(j, out0.shape))
                    _fail(f"input {i}, element {idx} (output element {out_index}): forward mode "
                          f"gives the derivative {float(fwd[j])!r}, reverse mode "
                          f"{float(rev[j])!r}; the JVP and the VJP of the custom primitive(s) "
                          f"{rules} disagree (the transposition identity <u, J v> == "
                          f"<J^T u, v> fails): one of the two rules is wrong")
        return
    for t in range(3):
        u = rng.standard_normal(out0.shape)
        vs = [rng.standard_normal(np.shape(r)) if np.ndim(r) else float(rng.standard_normal())
              for r in raws]
        forward = np.asarray(u * jv(dict(zip(nodes, vs))))
        backward = [np.asarray(g, dtype=np.float64) * v
                    for g, v in zip(_vjp(out, nodes, _seed(out, u)), vs)]
        lhs, rhs = float(np.sum(forward)), float(sum(np.sum(b) for b in backward))
        scale = float(np.sum(np.abs(forward)) + sum(np.sum(np.abs(b)) for b in backward))
        if not abs(lhs - rhs) <= 1e-9 * scale + 1e-300:
            _fail(f"random projection {t}: <u, J v> = {lhs!r} by forward mode but <J^T u, v> = "
                  f"{rhs!r} by reverse mode; the JVP and the VJP of the custom primitive(s) "
                  f"{rules} disagree: one of the two rules is wrong")
