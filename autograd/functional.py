"""Gradients as functions: ``grad``, ``value_and_grad``, ``jacobian``, ``hessian``, ``hvp``.

All of them run on the one tape and never touch a ``.grad`` field. A float argument becomes a
``Value``, a list or array a float64 ``Tensor``; a node is used as is, and then the result is a
node too (recorded with ``create_graph``), which is what lets the transforms nest, to any depth
and in any combination: ``jacobian(jacobian(f))``, ``grad`` of a function that uses
``hessian``, ``hvp`` inside ``grad``. Called inside another transform's ``f``, a result that
depends on the outer variable comes back as a node even for a float argument, so
``grad(lambda x: grad(lambda y: x * y)(2.0))(3.0)`` is 1.0.
They are function transforms: ``f`` always runs in grad mode, even inside ``no_grad``.

``f`` must return a node (a ``Value`` or a ``Tensor``). A plain number or array has left the
tape (``.item()``, ``float()``, arithmetic on ``.data``): its derivative would be a silent
zero, so it is a RuntimeError, as in PyTorch. A node that does not depend on an argument (a
constant such as ``Tensor(1.0)``, the derivative of a linear function) has derivative zero for
it, as an unused argument has in JAX.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .engine import Node, backprop, enable_grad, state
from .tensor import Tensor, stack
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
    return _value_and_grad(f, argnums, "value_and_grad")


def _value_and_grad(f: Callable, argnums: Argnums, where: str) -> Callable:
    """``value_and_grad``, naming ``where`` (the transform the user called) in its errors."""

    def vg(*args: Any) -> tuple[Any, Any]:
        nums, lifted, wrt, nested = _prepare(f, argnums, args, where)
        # inside another transform's f, a gradient may depend on the outer variable (which f
        # closes over): record it, and hand back a node wherever that is the case
        outer = state.transform_depth > 0
        any_node = any(nested)
        state.transform_depth += 1
        try:
            with enable_grad():
                out = _scalar_output(f(*lifted), where)
                gs = _grads(out, wrt, _seed_for(out), any_node or outer)
        finally:
            state.transform_depth -= 1
        gs = [_plain(g, n or (outer and _connected(g)), w) for g, n, w in zip(gs, nested, wrt)]
        value: Any
        if any_node or (outer and _connected(out)):
            value = out
        else:
            value = float(np.asarray(out.data).reshape(()))
        return value, (gs[0] if isinstance(argnums, int) else tuple(gs))

    return vg


def grad(f: Callable, argnums: Argnums = 0) -> Callable:
    """The gradient of a one-element function, as a function (nests: ``grad(grad(f))``).
    ``f`` returns a one-element node; a plain number is a RuntimeError (see the module)."""
    return _grad(f, argnums, "grad")


def _grad(f: Callable, argnums: Argnums, where: str) -> Callable:
    vg = _value_and_grad(f, argnums, where)

    def g(*args: Any) -> Any:
        return vg(*args)[1]

    return g


def _shape(x: Node) -> tuple:
    return x.shape if isinstance(x, Tensor) else ()


def _raw(x: Any) -> Any:
    return x.data if isinstance(x, Node) else x


def _rows(out: Node, wrt: list[Node], nested: bool) -> list[list[Any]]:
    """For each node in ``wrt``, the gradients of the elements of ``out`` (one backward pass
    per element)."""
    rows: list[list[Any]] = [[] for _ in wrt]
    size = out.size if isinstance(out, Tensor) else 1
    for i in range(size):
        seed: Any
        if isinstance(out, Tensor):
            seed = np.zeros(size, dtype=out.dtype)
            seed[i] = 1.0
            seed = seed.reshape(out.shape)
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
    dtype = w.dtype if isinstance(w, Tensor) else np.float64
    if not rows:
        return Tensor(np.zeros(shape, dtype=dtype))
    rows = [g if isinstance(g, Tensor) else np.asarray(g, dtype=dtype) for g in rows]
    return stack(rows).reshape(shape)


def jacobian(f: Callable, argnums: Argnums = 0) -> Callable:
    """A function giving the Jacobian of ``f``, of shape ``out.shape + in.shape`` (one
    backward pass per output element). ``argnums`` as a tuple gives a tuple of Jacobians, one
    per argument, and an ``f`` returning a tuple of nodes a tuple of those, one per output (as
    in JAX). The Jacobian is an ndarray for plain arguments and a node for node arguments
    (also inside another transform's ``f``, where it depends on the outer variable), so
    ``jacobian(jacobian(f))`` is the second derivative. ``f`` returns nodes (see the module).
    """

    def jac(*args: Any) -> Any:
        _, lifted, wrt, was_node = _prepare(f, argnums, args, "jacobian")
        outer = state.transform_depth > 0  # (as in value_and_grad)
        state.transform_depth += 1
        try:
            with enable_grad():
                out = f(*lifted)
                outs = [_output(o, "jacobian") for o in (out if isinstance(out, tuple)
                                                           else (out,))]
                blocks = []
                for o in outs:
                    rows = _rows(o, wrt, any(was_node) or outer)
                    block = tuple(_assemble(r, o, w, n or (outer and any(map(_connected, r))))
                                  for r, w, n in zip(rows, wrt, was_node))
                    blocks.append(block[0] if isinstance(argnums, int) else block)
        finally:
            state.transform_depth -= 1
        return tuple(blocks) if isinstance(out, tuple) else blocks[0]

    return jac


def hessian(f: Callable, argnums: Argnums = 0) -> Callable:
    """A function giving the Hessian of a one-element ``f``: the Jacobian of its gradient, of
    shape ``in.shape + in.shape``. ``argnums`` as a tuple gives a tuple of tuples of blocks,
    ``H[i][j]`` for the i-th and j-th arguments (as in JAX). An ndarray for plain arguments, a
    node for node arguments: it nests like ``jacobian``."""
    return jacobian(_grad(f, argnums, "hessian"), argnums)


def hvp(f: Callable, x: Any, v: Any) -> Any:
    """The Hessian-vector product H(x) @ v of a one-element ``f``, without forming H; ``v`` has
    the shape of ``x``. A node when ``x`` or ``v`` is one (so it nests), else an ndarray (a float
    for a float ``x``)."""
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

    def directional(x: Any) -> Any:
        d = _grad(f, 0, "hvp")(x) * v
        return d.sum() if isinstance(d, Tensor) else d

    return _grad(directional, 0, "hvp")(x)
