"""Derivatives as functions: reverse mode (``grad``, ``value_and_grad``, ``vjp``, ``jacrev``),
forward mode (``jvp``, ``linearize``, ``jacfwd``) and both (``jacobian``, ``hessian``, ``hvp``),
with JAX's names and conventions.

Forward mode is a forward replay of the tape: ``f`` runs once, recording as for reverse mode,
and the recorded ops are walked in creation order from the arguments to the result, pushing
tangents through each op's JVP (``engine.push_tangents``). So the eager engine pays nothing for
it, ``linearize`` is free (record once, push many tangents), and it works on ``Value`` and
``Tensor`` alike; when the tangents are nodes (a nested transform) the replay records, so it
differentiates again (``jacfwd(jacrev(f))``, ``grad`` of a function that calls ``jvp``).

All of them run on the one tape and never touch a ``.grad`` field. A float argument becomes a
``Value``, a list or array a float64 ``Tensor``; a node is used as is, and then the result is a
node too (recorded with ``create_graph``), which is what lets the transforms nest, to any depth
and in any combination: ``jacobian(jacobian(f))``, ``grad`` of a function that uses
``hessian``, ``hvp`` inside ``grad``. Called inside another transform's ``f``, a result comes
back as a node even for a float argument (it may depend on the outer variable), so
``grad(lambda x: grad(lambda y: x * y)(2.0))(3.0)`` is 1.0; one that does not is a constant
node, whose derivative is zero (a plain number there would be refused as having left the tape).
They are function transforms: ``f`` always runs in grad mode, even inside ``no_grad``.

``f`` must return a node (a ``Value`` or a ``Tensor``). A plain number or array has left the
tape (``.item()``, ``float()``, arithmetic on ``.data``): its derivative would be a silent
zero, so it is a RuntimeError, as in PyTorch. A node that does not depend on an argument (a
constant such as ``Tensor(1.0)``, the derivative of a linear function) has derivative zero for
it, as an unused argument has in JAX.

Arguments may be pytrees (``autograd.tree``): nested dicts, lists, tuples, namedtuples and
dataclasses of the above, and the result comes back in their structure, as in JAX (see
``_on_trees`` at the end of this module). A list of plain numbers is still one array.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .engine import Node, NoJVPError, backprop, enable_grad, forward_order, push_tangents, state
from .tensor import Tensor, stack
from .tree import (
    PyTreeDef,
    _arguments,
    _flatten,
    _handlers,
    _is_argument_leaf,
    tree_unflatten,
)
from .value import Value

Argnums = int | Sequence[int]


def _lift(x: Any, where: str) -> tuple[Node, bool]:
    """The node to differentiate with respect to, and whether it came in as a node."""
    if isinstance(x, Value):
        return x, True
    if isinstance(x, Tensor):
        if x.requires_grad:
            return x, True
        leaf = x.detach()
        leaf.requires_grad = True
        return leaf, True
    if isinstance(x, (bool, int, float, np.integer, np.floating)) and not isinstance(x, bool):
        return Value(float(x)), False
    if isinstance(x, (list, tuple, np.ndarray)):
        return Tensor(np.asarray(x, dtype=np.float64), requires_grad=True), False
    raise TypeError(f"{where}: cannot differentiate with respect to {type(x).__name__} "
                    "(a float, list, ndarray, Value or Tensor expected)")


def _zero_like(node: Any) -> Any:
    if isinstance(node, Tensor) and node._xp is not None:  # another library's zeros
        return node._xp.xp.zeros(node.shape, dtype=node.dtype, device=node._xp.device)
    return 0.0 if isinstance(node, Value) else np.zeros(node.shape, dtype=node.dtype)


def _as_node(x: Any, like: Any) -> Node:
    """``x`` as a node of ``like``'s kind; a constant (a leaf depending on nothing) if raw."""
    if isinstance(x, Node):
        return x
    if isinstance(like, Value):
        return Value(float(np.asarray(x).reshape(())))
    if like._xp is not None:
        return Tensor(x)  # (already in like's library: a rule's gradient, or _zero_like's)
    return Tensor(np.asarray(x, dtype=like.dtype))


def _grads(out: Node, wrt: list[Node], seed: Any, nested: bool) -> list[Any]:
    """Gradients of ``out`` (seeded with ``seed``) for the nodes in ``wrt``."""
    if not out.requires_grad:
        return [_zero_like(w) for w in wrt]  # a constant: it depends on no argument
    oldest = min(w._id for w in wrt) - 1
    grads = backprop(out, seed, create_graph=nested, oldest=oldest)
    result = []
    for w in wrt:
        g = grads.get(w)
        if g is None:
            g = _zero_like(w)
        elif isinstance(g, np.ndarray) and g is seed:
            g = g.copy()
        result.append(g)
    return result


def _prepare(f: Callable, argnums: Argnums, args: tuple, where: str
             ) -> tuple[tuple[int, ...], list, list[Node], list[bool]]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    lifted = list(args)
    wrt, nested = [], []
    for i in nums:
        if not -len(args) <= i < len(args):
            raise ValueError(f"{where}: argnums {i} is out of range for {len(args)} arguments")
        node, was_node = _lift(args[i], where)
        lifted[i] = node
        wrt.append(node)
        nested.append(was_node)
    return nums, lifted, wrt, nested


def _output(out: Any, where: str) -> Node:
    """``f``'s result, which must be a node: a plain number or array has left the tape."""
    if isinstance(out, Node):
        return out
    if isinstance(out, (float, int, np.number, np.ndarray)) and not isinstance(out, bool):
        raise RuntimeError(
            f"{where}: f returned a {type(out).__name__}, not a Value or a Tensor: it is not "
            "connected to its arguments (did you call .item() or float(), or compute with "
            ".data?), and its derivative would be a silent zero. A constant f returns a node, "
            "such as Value(c) or Tensor(c)")
    raise TypeError(f"{where}: f must return a Value or a Tensor, not {type(out).__name__}")


def _scalar_output(out: Any, where: str) -> Node:
    out = _output(out, where)
    if isinstance(out, Tensor) and out.size != 1:
        raise ValueError(f"{where}: f must return one element, got shape {out.shape}; use "
                         "autograd.jacobian for vector outputs")
    return out


def _connected(x: Any) -> bool:
    return isinstance(x, Node) and x.requires_grad


def _seed_for(out: Any) -> Any:
    if isinstance(out, Tensor) and out._xp is not None:
        return out._make_seed(None)
    return np.ones(out.shape, dtype=out.dtype) if isinstance(out, Tensor) else 1.0


def _plain(g: Any, was_node: bool, arg: Node) -> Any:
    """The gradient in the argument's kind: a node for a node (even when it is a constant)."""
    if was_node:
        return _as_node(g, arg)
    if isinstance(g, Node):
        g = g.data
    if isinstance(arg, Tensor) and arg._xp is not None:
        return g
    return float(g) if isinstance(arg, Value) else np.asarray(g, dtype=np.float64)


def value_and_grad(f: Callable, argnums: Argnums = 0) -> Callable:
    """A function returning ``(f(*args), gradient)``; ``argnums`` as a tuple gives a tuple
    of gradients. The value is a float for plain arguments and a node for node arguments.
    ``f`` returns a one-element node; a plain number is a RuntimeError (see the module)."""
    return _on_trees(_value_and_grad, f, argnums, "value_and_grad")


def _value_and_grad(f: Callable, argnums: Argnums, where: str) -> Callable:
    """``value_and_grad``, naming ``where`` (the transform the user called) in its errors."""

    def vg(*args: Any) -> tuple[Any, Any]:
        nums, lifted, wrt, nested = _prepare(f, argnums, args, where)
        # inside another transform's f, a gradient may depend on the outer variable (which f
        # closes over): record it, and hand back a node (a constant one where it does not)
        outer = state.transform_depth > 0
        any_node = any(nested)
        state.transform_depth += 1
        try:
            with enable_grad():
                out = _scalar_output(f(*lifted), where)
                gs = _grads(out, wrt, _seed_for(out), any_node or outer)
        finally:
            state.transform_depth -= 1
        gs = [_plain(g, n or outer, w) for g, n, w in zip(gs, nested, wrt)]
        value: Any
        if any_node or outer:
            value = out
        else:
            value = float(np.asarray(out.data).reshape(()))
        return value, (gs[0] if isinstance(argnums, int) else tuple(gs))

    return vg


def grad(f: Callable, argnums: Argnums = 0) -> Callable:
    """The gradient of a one-element function, as a function (nests: ``grad(grad(f))``).
    ``f`` returns a one-element node; a plain number is a RuntimeError (see the module)."""
    return _on_trees(_grad, f, argnums, "grad")


def _grad(f: Callable, argnums: Argnums, where: str) -> Callable:
    vg = _value_and_grad(f, argnums, where)

    def g(*args: Any) -> Any:
        return vg(*args)[1]

    return g


def _shape(x: Node) -> tuple:
    return x.shape if isinstance(x, Tensor) else ()


def _raw(x: Any) -> Any:
    return x.data if isinstance(x, Node) else x


def _basis(like: Tensor, k: int) -> Any:
    """The k-th one-hot array of ``like``'s shape and dtype, in its library."""
    ns = like._xp
    if ns is None:
        seed = np.zeros(like.size, dtype=like.dtype)
        seed[k] = 1.0
        return seed.reshape(like.shape)
    seed = ns.xp.zeros(like.size, dtype=like.dtype, device=ns.device)
    seed[k] = 1.0
    return ns.xp.reshape(seed, like.shape)


def _library_of(*nodes: Node) -> Any:
    """The namespace of the first node that holds another library's array (None: numpy)."""
    return next((n._xp for n in nodes if isinstance(n, Tensor) and n._xp is not None), None)


def _rows(out: Node, wrt: list[Node], nested: bool) -> list[list[Any]]:
    """For each node in ``wrt``, the gradients of the elements of ``out`` (one backward pass
    per element)."""
    rows: list[list[Any]] = [[] for _ in wrt]
    size = out.size if isinstance(out, Tensor) else 1
    for i in range(size):
        seed: Any
        if isinstance(out, Tensor):
            seed = _basis(out, i)
        else:
            seed = 1.0
        for r, g in zip(rows, _grads(out, wrt, seed, nested)):
            r.append(g)
    return rows


def _assemble(rows: list[Any], out: Node, w: Node, as_node: bool) -> Any:
    """One Jacobian from its rows: an ndarray of shape ``out.shape + w.shape``, or else a node
    of it, built with stack and reshape so that it differentiates again (a Value when ``out``
    and ``w`` are Values)."""
    shape = _shape(out) + _shape(w)
    if not as_node:
        if not rows:
            return np.zeros(shape)
        return np.stack([np.asarray(_raw(g), dtype=np.float64) for g in rows]).reshape(shape)
    if isinstance(w, Value) and isinstance(out, Value):
        return _as_node(rows[0], w)
    ns = _library_of(out, w)
    if ns is not None:  # another library's rows, as nodes (its arrays do not defer to them)
        if not rows:
            return Tensor(ns.xp.zeros(shape, dtype=_raw(w).dtype, device=ns.device))
        return stack([_as_node(g, w) for g in rows]).reshape(shape)
    dtype = w.dtype if isinstance(w, Tensor) else np.float64
    if not rows:
        return Tensor(np.zeros(shape, dtype=dtype))
    rows = [g if isinstance(g, Tensor) else np.asarray(g, dtype=dtype) for g in rows]
    return stack(rows).reshape(shape)


def _columns(out: Node, wrt: list[Node], nested: bool) -> list[list[Any]]:
    """For each node in ``wrt``, the tangents of ``out`` along each of its elements (one
    forward sweep per input element, over the tape found once)."""
    order = forward_order(out, wrt)
    cols: list[list[Any]] = [[] for _ in wrt]
    for c, w in zip(cols, wrt):
        for k in range(w.size if isinstance(w, Tensor) else 1):
            seed: Any = 1.0
            if isinstance(w, Tensor):
                seed = _basis(w, k)
            t = push_tangents(order, {w: seed}, nested).get(out)
            c.append(_zero_like(out) if t is None else t)
    return cols


def _assemble_columns(cols: list[Any], out: Node, w: Node, as_node: bool) -> Any:
    """One Jacobian from its columns (``out``'s tangents along each element of ``w``), as
    ``_assemble`` does from rows: shape ``out.shape + w.shape``."""
    shape = _shape(out) + _shape(w)
    if not as_node:
        if not cols:
            return np.zeros(shape)
        return np.stack([np.asarray(_raw(c), dtype=np.float64) for c in cols],
                        axis=-1).reshape(shape)
    if isinstance(w, Value) and isinstance(out, Value):
        return _as_node(cols[0], w)
    ns = _library_of(out, w)
    if ns is not None:  # another library's columns, as nodes (as _assemble's rows)
        if not cols:
            return Tensor(ns.xp.zeros(shape, dtype=_raw(out).dtype, device=ns.device))
        return stack([_as_node(c, out) for c in cols], axis=len(_shape(out))).reshape(shape)
    dtype = out.dtype if isinstance(out, Tensor) else np.float64
    if not cols:
        return Tensor(np.zeros(shape, dtype=dtype))
    cols = [c if isinstance(c, Tensor) else np.asarray(_raw(c), dtype=dtype) for c in cols]
    return stack(cols, axis=len(_shape(out))).reshape(shape)


def _size(x: Node) -> int:
    return x.size if isinstance(x, Tensor) else 1


def _jacobian(f: Callable, argnums: Argnums, where: str, mode: str, fallback: bool
              ) -> Callable:
    """The Jacobian transform: ``mode`` "rev" (rows, one backward pass per output element),
    "fwd" (columns, one forward sweep per input element) or "auto" (the fewer passes). With
    ``fallback``, a tape holding a custom primitive without a JVP is differentiated in reverse
    mode instead of raising."""

    def jac(*args: Any) -> Any:
        _, lifted, wrt, was_node = _prepare(f, argnums, args, where)
        outer = state.transform_depth > 0  # (as in value_and_grad)
        nested = any(was_node) or outer
        state.transform_depth += 1
        try:
            with enable_grad():
                out = f(*lifted)
                outs = [_output(o, where) for o in (out if isinstance(out, tuple) else (out,))]
                blocks = []
                for o in outs:
                    m = mode
                    if m == "auto":
                        m = "fwd" if sum(map(_size, wrt)) < _size(o) else "rev"
                    block: Any = None
                    if m == "fwd":
                        try:
                            cols = _columns(o, wrt, nested)
                            block = tuple(
                                _assemble_columns(c, o, w, n or outer)
                                for c, w, n in zip(cols, wrt, was_node))
                        except NoJVPError:
                            if not fallback:
                                raise
                    if block is None:
                        rows = _rows(o, wrt, nested)
                        block = tuple(_assemble(r, o, w, n or outer)
                                      for r, w, n in zip(rows, wrt, was_node))
                    blocks.append(block[0] if isinstance(argnums, int) else block)
        finally:
            state.transform_depth -= 1
        return tuple(blocks) if isinstance(out, tuple) else blocks[0]

    return jac


def jacobian(f: Callable, argnums: Argnums = 0) -> Callable:
    """A function giving the Jacobian of ``f``, of shape ``out.shape + in.shape``. It picks
    the cheaper mode from the shapes, per output: forward mode (``jacfwd``: one forward sweep
    per input element) when the arguments have fewer elements than the output, reverse mode
    (``jacrev``: one backward pass per output element) otherwise, and reverse mode where the
    tape holds a custom primitive without a JVP. ``argnums`` as a tuple gives a tuple of
    Jacobians, one per argument, and an ``f`` returning a tuple of nodes a tuple of those, one
    per output (as in JAX). The Jacobian is an ndarray for plain arguments and a node for node
    arguments (also inside another transform's ``f``), so ``jacobian(jacobian(f))`` is the
    second derivative. ``f`` returns nodes (see the module).
    """
    return _on_trees(lambda g, a, w: _jacobian(g, a, w, "auto", True), f, argnums, "jacobian")


def jacrev(f: Callable, argnums: Argnums = 0) -> Callable:
    """``jacobian`` in reverse mode: one backward pass per output element, so it suits
    functions with fewer outputs than inputs (R^1000 -> R^10). Conventions as ``jacobian``."""
    return _on_trees(lambda g, a, w: _jacobian(g, a, w, "rev", False), f, argnums, "jacrev",
                     "jacobian")


def jacfwd(f: Callable, argnums: Argnums = 0) -> Callable:
    """``jacobian`` in forward mode: one forward sweep of the tangents per input element (the
    tape is recorded once), so it suits functions with fewer inputs than outputs (R^10 ->
    R^1000). Conventions as ``jacobian``; a custom primitive without a JVP is a RuntimeError."""
    return _on_trees(lambda g, a, w: _jacobian(g, a, w, "fwd", False), f, argnums, "jacfwd",
                     "jacobian")


def hessian(f: Callable, argnums: Argnums = 0) -> Callable:
    """A function giving the Hessian of a one-element ``f``, forward-over-reverse
    (``jacfwd(jacrev(f))``, as JAX computes it: one forward sweep per input element through
    the recorded gradient; reverse-over-reverse where the tape holds a custom primitive
    without a JVP). Shape ``in.shape + in.shape``. ``argnums`` as a tuple gives a tuple of
    tuples of blocks, ``H[i][j]`` for the i-th and j-th arguments (as in JAX). An ndarray for
    plain arguments, a node for node arguments: it nests like ``jacobian``."""
    return _on_trees(lambda g, a, w: _jacobian(_grad(g, a, w), a, w, "fwd", True), f, argnums,
                     "hessian")


def hvp(f: Callable, x: Any, v: Any) -> Any:
    """The Hessian-vector product H(x) @ v of a one-element ``f``, without forming H,
    forward-over-reverse: the tangent of ``grad(f)`` at ``x`` along ``v`` (one gradient and
    one forward sweep). ``v`` has the shape of ``x``. A node when ``x`` or ``v`` is one (so it
    nests), else an ndarray (a float for a float ``x``)."""
    if not (_is_argument_leaf(x) and _is_argument_leaf(v)):
        return _tree_hvp(f, x, v)
    node, was_node = _lift(x, "hvp")
    if not isinstance(v, Node):
        v = np.asarray(v, dtype=np.float64)
    v_shape = _shape(v) if isinstance(v, Node) else v.shape
    if v_shape != _shape(node):
        raise ValueError(f"hvp: v has shape {v_shape}, x has shape {_shape(node)}; "
                         "they must be the same")
    if isinstance(node, Value) and not isinstance(v, Node):
        v = float(v)
    if isinstance(v, Node) and not was_node:
        x = node  # the product depends on v: record it
    try:
        return _jvp(_grad(f, 0, "hvp"), (x,), (v,), "hvp")[1]
    except NoJVPError:  # a custom primitive without a JVP: reverse-over-reverse
        def directional(x: Any) -> Any:
            d = _grad(f, 0, "hvp")(x) * v
            return d.sum() if isinstance(d, Tensor) else d

        return _grad(directional, 0, "hvp")(x)


# ----- forward mode, and vjp -------------------------------------------------------------------
def _tangent_seed(t: Any, node: Node, what: str, where: str) -> Any:
    """A tangent (or cotangent) for ``node``: of its shape, in its dtype (a float for a
    Value); a node is kept (the result then depends on it). ``what`` names both in errors
    (``"tangent 0", "primal 0"``)."""
    name, of = (s.strip() for s in what.split(","))
    if isinstance(t, Node):
        if t._kind is not node._kind:
            raise TypeError(f"{where}: {name} is a {type(t).__name__} but {of} is a "
                            f"{type(node).__name__}")
        if _shape(t) != _shape(node):
            raise ValueError(f"{where}: {name} has shape {_shape(t)} but {of} has shape "
                             f"{_shape(node)}; they must be the same")
        return t
    if not isinstance(t, (int, float, np.integer, np.floating, np.ndarray, list, tuple)) or \
            isinstance(t, bool):
        raise TypeError(f"{where}: {name} is a {type(t).__name__} (a float, list, ndarray, "
                        "Value or Tensor expected)")
    arr = np.asarray(t, dtype=node.dtype if isinstance(node, Tensor) else np.float64)
    if arr.shape != _shape(node):
        raise ValueError(f"{where}: {name} has shape {arr.shape} but {of} has shape "
                         f"{_shape(node)}; they must be the same")
    return float(arr) if isinstance(node, Value) else arr


def _result(x: Any, as_node: bool, like: Node) -> Any:
    """A value or tangent handed back: a node when ``as_node``, else a float for a Value and an
    ndarray for a Tensor."""
    if as_node:
        return _as_node(x, like)
    x = _raw(x)
    return float(x) if isinstance(like, Value) else np.array(x, dtype=like.data.dtype)


def _outputs(out: Any, where: str) -> list[Node]:
    return [_output(o, where) for o in (out if isinstance(out, tuple) else (out,))]


def _call_recorded(f: Callable, args: Sequence) -> Any:
    """``f(*args)`` in grad mode, counted as a transform's ``f`` (see ``value_and_grad``)."""
    state.transform_depth += 1
    try:
        with enable_grad():
            return f(*args)
    finally:
        state.transform_depth -= 1


def _linearized(f: Callable, primals: Sequence, where: str
                ) -> tuple[Any, list[Node], list[Node], list[Node], bool, bool]:
    """Run ``f`` once at ``primals``, recording: what it returned, its output nodes, the
    argument nodes, the tape from them to the outputs (one sweep serves them all), whether an
    argument is a node and whether this runs inside another transform's ``f``."""
    if not isinstance(primals, (tuple, list)):
        raise TypeError(f"{where}: primals must be a tuple of arguments, got "
                        f"{type(primals).__name__}")
    _, lifted, wrt, was_node = _prepare(f, tuple(range(len(primals))), tuple(primals), where)
    at: dict[int, int] = {}
    for i, w in enumerate(wrt):  # one node cannot carry two tangents: one would be lost
        j = at.setdefault(id(w), i)
        if j != i:
            raise ValueError(f"{where}: primals {j} and {i} are the same node, which can carry "
                             "one tangent only; pass a copy (x.clone()) as one of them")
    outer = state.transform_depth > 0
    out = _call_recorded(f, lifted)
    outs = _outputs(out, where)
    order = forward_order(outs[0], wrt)
    if len(outs) > 1:  # the union of the outputs' tapes, in creation order
        nodes = {id(n): n for o in outs for n in forward_order(o, wrt)}
        order = sorted(nodes.values(), key=lambda n: n._id)
    return out, outs, wrt, order, any(was_node), outer


def _push(outs: list[Node], wrt: list[Node], order: list[Node], tangents: Sequence,
          any_node: bool, outer: bool, where: str) -> list[Any]:
    """The tangents of ``outs`` along ``tangents`` (one per node of ``wrt``), in one sweep of
    ``order``: nodes when an argument or a tangent is one, or inside another transform's
    ``f``; else floats and arrays."""
    if not isinstance(tangents, (tuple, list)) or len(tangents) != len(wrt):
        n = len(tangents) if isinstance(tangents, (tuple, list)) else type(tangents).__name__
        raise ValueError(f"{where}: {len(wrt)} primals but tangents {n}; pass one tangent per "
                         "primal, in a tuple")
    seeds = {w: _tangent_seed(t, w, f"tangent {i}, primal {i}", where)
             for i, (w, t) in enumerate(zip(wrt, tangents))}
    as_node = any_node or any(isinstance(t, Node) for t in seeds.values())
    got = push_tangents(order, seeds, as_node or outer)
    return [_result(_zero_like(o) if got.get(o) is None else got[o], as_node or outer, o)
            for o in outs]


def _jvp(f: Callable, primals: Sequence, tangents: Sequence, where: str) -> tuple[Any, Any]:
    out, outs, wrt, order, any_node, outer = _linearized(f, primals, where)
    ts = _push(outs, wrt, order, tangents, any_node, outer, where)
    as_node = any_node or any(isinstance(t, Node) for t in tangents)
    values = [_result(o, as_node or outer, o) for o in outs]
    if isinstance(out, tuple):
        return tuple(values), tuple(ts)
    return values[0], ts[0]


def jvp(f: Callable, primals: Sequence, tangents: Sequence) -> tuple[Any, Any]:
    """Forward mode: ``(f(*primals), J v)``, the output and its directional derivative along
    ``tangents`` (one per primal, of its shape), in one recording of ``f`` and one forward
    sweep of the tangents (JAX's ``jvp``, ``torch.func.jvp``). Floats and arrays give a float
    or an ndarray, nodes give nodes (so it nests, and ``grad`` of a function that calls ``jvp``
    works); an ``f`` returning a tuple of nodes gives tuples. ``f`` returns nodes (see the
    module). Primals, tangents and outputs may be pytrees: each tangent has its primal's
    structure, and the output's tangent comes back in the output's."""
    if _all_leaves(primals) and _all_leaves(tangents):
        return _jvp(f, primals, tangents, "jvp")
    flat_f, leaves, defs, out_def = _tree_function(f, primals, "jvp")
    out, ts = _jvp(flat_f, leaves, _tree_tangents(tangents, defs, "jvp"), "jvp")
    return tree_unflatten(out_def[0], list(out)), tree_unflatten(out_def[0], list(ts))


def linearize(f: Callable, *primals: Any) -> tuple[Any, Callable]:
    """``(f(*primals), jvp_fn)``: ``f`` is recorded once, and ``jvp_fn(*tangents)`` pushes
    tangents (one per primal) through that recording, so each J v costs one forward sweep and
    no new run of ``f`` (JAX's ``linearize``). Results as ``jvp``'s (pytrees too)."""
    if not _all_leaves(primals):
        flat_f, leaves, defs, out_def = _tree_function(f, primals, "linearize")
        value, flat_jvp = linearize(flat_f, *leaves)
        return tree_unflatten(out_def[0], list(value)), lambda *tangents: tree_unflatten(
            out_def[0], list(flat_jvp(*_tree_tangents(tangents, defs, "linearize"))))
    out, outs, wrt, order, any_node, outer = _linearized(f, primals, "linearize")
    values = [_result(o, any_node or outer, o) for o in outs]

    def jvp_fn(*tangents: Any) -> Any:
        ts = _push(outs, wrt, order, tangents, any_node, outer, "linearize")
        return tuple(ts) if isinstance(out, tuple) else ts[0]

    return (tuple(values) if isinstance(out, tuple) else values[0]), jvp_fn


def vjp(f: Callable, *primals: Any) -> tuple[Any, Callable]:
    """Reverse mode: ``(f(*primals), vjp_fn)``, where ``vjp_fn(u)`` gives ``u^T J``, a tuple
    with one gradient per primal (JAX's ``vjp``, ``torch.func.vjp``). ``u`` has the output's
    shape (a tuple of those for an ``f`` returning a tuple). ``f`` is recorded once; each call
    is one backward pass. Results as ``jvp``'s; with pytrees, ``u`` has the output's structure
    and each gradient its primal's."""
    if not _all_leaves(primals):
        flat_f, leaves, defs, out_def = _tree_function(f, primals, "vjp")
        value, flat_vjp = vjp(flat_f, *leaves)

        def tree_vjp(cotangent: Any) -> tuple[Any, ...]:
            us, udef = _flatten(cotangent, _is_plain, "the cotangent", "vjp")[:2]
            if udef != out_def[0]:
                raise ValueError(f"vjp: the cotangent has the structure {udef}, the output "
                                 f"{out_def[0]}; they must be the same")
            gs, k, trees = flat_vjp(tuple(us)), 0, []
            for treedef in defs:
                trees.append(tree_unflatten(treedef, list(gs[k:k + treedef.num_leaves])))
                k += treedef.num_leaves
            return tuple(trees)

        return tree_unflatten(out_def[0], list(value)), tree_vjp
    _, lifted, wrt, was_node = _prepare(f, tuple(range(len(primals))), primals, "vjp")
    outer = state.transform_depth > 0
    out = _call_recorded(f, lifted)
    outs = _outputs(out, "vjp")
    any_node = any(was_node)
    values = [_result(o, any_node or outer, o) for o in outs]

    def vjp_fn(cotangent: Any) -> tuple[Any, ...]:
        us = cotangent if isinstance(out, tuple) else (cotangent,)
        if len(us) != len(outs):
            raise ValueError(f"vjp: f has {len(outs)} outputs but {len(us)} cotangents")
        seeds = [_tangent_seed(u, o, f"the cotangent, output {k}" if len(outs) > 1 else
                               "the cotangent, the output", "vjp")
                 for k, (o, u) in enumerate(zip(outs, us))]
        by_node = any(isinstance(u, Node) for u in seeds)  # the result depends on u: record
        total: list[Any] = [None] * len(wrt)
        for o, u in zip(outs, seeds):
            gs = _grads(o, wrt, u, any_node or outer or by_node)
            total = [g if t is None else t + g for t, g in zip(total, gs)]
        return tuple(_result(g, n or ((outer or by_node) and _connected(g)), w)
                     for g, n, w in zip(total, was_node, wrt))

    return (tuple(values) if isinstance(out, tuple) else values[0]), vjp_fn


# ----- pytrees (issue 17 item 4): the transforms take and return nested containers ------------
def _on_trees(flat: Callable[..., Callable], f: Callable, argnums: Argnums, where: str,
              kind: str | None = None) -> Callable:
    """The transform ``flat(f, argnums, where)``, written for leaf arguments, made to take
    pytrees (``autograd.tree``): the trees at ``argnums`` are flattened into one leaf argument
    each, ``flat`` differentiates with respect to all of them (``argnums`` a tuple), and the
    result is rebuilt in the arguments' structure, as JAX does. ``kind`` (``where``, the
    transform's name for errors, by default) says how the result reads: ``grad`` (a gradient
    per argument), ``value_and_grad``, ``jacobian`` (``f``'s output structure outside, the
    arguments' inside; ``f``'s output is flattened into a tuple of outputs) or ``hessian``
    (the arguments' structure twice). Arguments that are all leaves take ``flat`` itself,
    unchanged (except for ``jacobian``, whose output may be a tree)."""
    kind = kind or where

    def run(*args: Any) -> Any:
        n = len(args)
        nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
        for i in nums:
            if not -n <= i < n:
                raise ValueError(f"{where}: argnums {i} is out of range for {n} arguments")
        if kind != "jacobian" and all(_is_argument_leaf(args[i]) for i in nums):
            return flat(f, argnums, where)(*args)
        nums = tuple(i % n for i in nums)
        leaves: list[Any] = []
        defs: list[PyTreeDef] = []
        promoted: list[bool] = []
        for i in nums:
            try:
                ls, treedef, _, ps = _arguments(args[i], f"args[{i}]", where)
            except TypeError:  # again, to name the argument as f does (inspect is slow)
                _arguments(args[i], _arg_name(f, i), where)
                raise
            leaves += ls
            defs.append(treedef)
            promoted += ps
        if not leaves:
            raise ValueError(f"{where}: the arguments to differentiate (argnums {argnums}) hold "
                             "no leaves")
        out_def: list[PyTreeDef] = []

        def flat_f(*xs: Any) -> Any:
            full, k = list(args), 0
            for i, treedef in zip(nums, defs):
                full[i] = tree_unflatten(treedef, xs[k:k + treedef.num_leaves])
                k += treedef.num_leaves
            out = f(*full)
            if kind != "jacobian":
                return out
            # a non-container is one output, which ``flat`` checks as it always did
            outs, treedef, _ = _flatten(out, _is_plain, "the output", where)
            if not outs:
                raise TypeError(f"{where}: f must return a Value or a Tensor, or a pytree of "
                                f"them, not {out!r}")
            out_def[:] = [treedef]
            return tuple(outs)

        def regroup(gs: Sequence[Any], floats: bool = False) -> Any:
            """Leaf results, one per leaf argument, as the arguments' trees."""
            if floats:
                gs = [float(g) if p and isinstance(g, np.ndarray) else g
                      for g, p in zip(gs, promoted)]
            trees, k = [], 0
            for treedef in defs:
                trees.append(tree_unflatten(treedef, gs[k:k + treedef.num_leaves]))
                k += treedef.num_leaves
            return trees[0] if isinstance(argnums, int) else tuple(trees)

        result = flat(flat_f, tuple(range(len(leaves))), where)(*leaves)
        if kind == "grad":
            return regroup(result, floats=True)
        if kind == "value_and_grad":
            return result[0], regroup(result[1], floats=True)
        if kind == "hessian":
            return regroup([regroup(row) for row in result])
        return tree_unflatten(out_def[0], [regroup(block) for block in result])

    return run


def _is_plain(x: Any) -> bool:
    return _handlers(x) is None


def _arg_name(f: Callable, i: int) -> str:
    """How errors call argument ``i`` of ``f``: its parameter's name where it has one."""
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        params = []
    if i < len(params) and params[i].kind in (params[i].POSITIONAL_ONLY,
                                              params[i].POSITIONAL_OR_KEYWORD):
        return params[i].name
    return f"args[{i}]"


def _tree_hvp(f: Callable, x: Any, v: Any) -> Any:
    """``hvp`` for pytrees ``x`` and ``v`` of one structure: the gradient of the directional
    derivative ``<grad f(x), v>``, summed over the leaves, as ``hvp`` takes it for one array."""
    xs, xdef, paths, promoted = _arguments(x, "x", "hvp")
    vs, vdef, _, _ = _arguments(v, "v", "hvp")
    if vdef != xdef:
        raise ValueError(f"hvp: v has the structure {vdef}, x has {xdef}; they must be the same")
    for k, (xi, vi, path) in enumerate(zip(xs, vs, paths)):
        x_shape = _shape(xi) if isinstance(xi, Node) else np.shape(xi)
        if not isinstance(vi, Node):
            vs[k] = vi = (float(vi) if isinstance(xi, (Value, float, int, np.number))
                          else np.asarray(vi, dtype=np.float64))
        v_shape = _shape(vi) if isinstance(vi, Node) else np.shape(vi)
        if v_shape != x_shape:
            raise ValueError(f"hvp: v{path[1:]} has shape {v_shape}, {path} has shape "
                             f"{x_shape}; they must be the same")
    if any(isinstance(vi, Node) for vi in vs):  # every leaf of the product depends on v:
        xs = [xi if isinstance(xi, Node) else _lift(xi, "hvp")[0] for xi in xs]  # record it
    if not xs:
        return tree_unflatten(xdef, [])
    nums = tuple(range(len(xs)))

    def leaf_f(*leaves: Any) -> Any:
        return f(tree_unflatten(xdef, leaves))

    def directional(*leaves: Any) -> Any:
        total = None
        for g, vi in zip(_grad(leaf_f, nums, "hvp")(*leaves), vs):
            d = g * vi
            d = d.sum() if isinstance(d, Tensor) else d
            total = d if total is None else total + d
        return total

    hv = _grad(directional, nums, "hvp")(*xs)
    return tree_unflatten(xdef, [float(h) if p and isinstance(h, np.ndarray) else h
                                 for h, p in zip(hv, promoted)])


def _all_leaves(xs: Any) -> bool:
    return isinstance(xs, (tuple, list)) and all(_is_argument_leaf(x) for x in xs)


def _tree_function(f: Callable, primals: Sequence, where: str
                   ) -> tuple[Callable, list[Any], list[PyTreeDef], list[PyTreeDef]]:
    """``f`` of pytree primals as a function of their leaves that returns its outputs' leaves
    as a tuple; the output's structure is recorded in the returned list when it runs (the
    forward-mode transforms and ``vjp`` differentiate it, then rebuild the trees)."""
    if not isinstance(primals, (tuple, list)):
        raise TypeError(f"{where}: primals must be a tuple of arguments, got "
                        f"{type(primals).__name__}")
    leaves: list[Any] = []
    defs: list[PyTreeDef] = []
    for i, x in enumerate(primals):
        ls, treedef, _, _ = _arguments(x, f"primals[{i}]", where)
        leaves += ls
        defs.append(treedef)
    out_def: list[PyTreeDef] = []

    def flat_f(*xs: Any) -> tuple:
        trees, k = [], 0
        for treedef in defs:
            trees.append(tree_unflatten(treedef, list(xs[k:k + treedef.num_leaves])))
            k += treedef.num_leaves
        outs, treedef, _ = _flatten(f(*trees), _is_plain, "the output", where)
        out_def[:] = [treedef]
        return tuple(outs)

    return flat_f, leaves, defs, out_def


def _tree_tangents(tangents: Any, defs: list[PyTreeDef], where: str) -> list[Any]:
    """The tangents' leaves, each tangent of its primal's structure."""
    if not isinstance(tangents, (tuple, list)) or len(tangents) != len(defs):
        raise ValueError(f"{where}: {len(defs)} primals but tangents {tangents!r}; pass one "
                         "tangent per primal, in a tuple")
    leaves: list[Any] = []
    for i, (t, treedef) in enumerate(zip(tangents, defs)):
        ls, tdef, _, _ = _arguments(t, f"tangents[{i}]", where)
        if tdef != treedef:
            raise ValueError(f"{where}: tangent {i} has the structure {tdef}, its primal "
                             f"{treedef}; they must be the same")
        leaves += ls
    return leaves
