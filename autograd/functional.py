"""Gradients as functions: ``grad``, ``value_and_grad``, ``jacobian``, ``hessian``, ``hvp``.

All of them run on the one tape and never touch a ``.grad`` field. A float argument becomes a
``Value``, a list or array a float64 ``Tensor``; a node is used as is, and then the gradient is
a node too (recorded with ``create_graph``), which is what lets ``grad`` nest. Called inside
another transform's ``f``, a gradient that depends on the outer variable comes back as a node
even for a float argument, so ``grad(lambda x: grad(lambda y: x * y)(2.0))(3.0)`` is 1.0.
They are function transforms: ``f`` always runs in grad mode, even inside ``no_grad``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .engine import Node, backprop, enable_grad, state
from .tensor import Tensor
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


def _zero_like(node: Node) -> Any:
    return 0.0 if isinstance(node, Value) else np.zeros(node.shape, dtype=node.dtype)


def _as_node(x: Any, like: Node) -> Node:
    """``x`` as a node of ``like``'s kind; a constant (a leaf depending on nothing) if raw."""
    if isinstance(x, Node):
        return x
    if isinstance(like, Value):
        return Value(float(np.asarray(x).reshape(())))
    return Tensor(np.asarray(x, dtype=like.dtype))


def _grads(out: Any, wrt: list[Node], seed: Any, nested: bool) -> list[Any]:
    """Gradients of ``out`` (seeded with ``seed``) for the nodes in ``wrt``."""
    if not isinstance(out, Node) or not out.requires_grad:
        return [_zero_like(w) for w in wrt]  # out does not depend on the arguments
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


def _prepare(f: Callable, argnums: Argnums, args: tuple, where: str):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    args = list(args)
    wrt, nested = [], []
    for i in nums:
        if not -len(args) <= i < len(args):
            raise ValueError(f"{where}: argnums {i} is out of range for {len(args)} arguments")
        node, was_node = _lift(args[i], where)
        args[i] = node
        wrt.append(node)
        nested.append(was_node)
    return nums, args, wrt, nested


def _scalar_output(out: Any, where: str) -> Any:
    if isinstance(out, Tensor) and out.size != 1:
        raise ValueError(f"{where}: f must return one element, got shape {out.shape}; use "
                         "autograd.jacobian for vector outputs")
    if not isinstance(out, (Node, float, int, np.floating, np.integer)) or isinstance(out, bool):
        if not (isinstance(out, np.ndarray) and out.size == 1):
            raise TypeError(f"{where}: f must return a Value, a Tensor or a number, not "
                            f"{type(out).__name__}")
    return out


def _connected(x: Any) -> bool:
    return isinstance(x, Node) and x.requires_grad


def _seed_for(out: Any) -> Any:
    return np.ones(out.shape, dtype=out.dtype) if isinstance(out, Tensor) else 1.0


def _plain(g: Any, was_node: bool, arg: Node) -> Any:
    """The gradient in the argument's kind: a node for a node (even when it is a constant)."""
    if was_node:
        return _as_node(g, arg)
    if isinstance(g, Node):
        g = g.data
    return float(g) if isinstance(arg, Value) else np.asarray(g, dtype=np.float64)


def value_and_grad(f: Callable, argnums: Argnums = 0) -> Callable:
    """A function returning ``(f(*args), gradient)``; ``argnums`` as a tuple gives a tuple
    of gradients. The value is a float for plain arguments and a node for node arguments."""

    def vg(*args: Any) -> tuple[Any, Any]:
        nums, lifted, wrt, nested = _prepare(f, argnums, args, "value_and_grad")
        # inside another transform's f, a gradient may depend on the outer variable (which f
        # closes over): record it, and hand back a node wherever that is the case
        outer = state.transform_depth > 0
        any_node = any(nested)
        state.transform_depth += 1
        try:
            with enable_grad():
                out = _scalar_output(f(*lifted), "value_and_grad")
                gs = _grads(out, wrt, _seed_for(out), any_node or outer)
        finally:
            state.transform_depth -= 1
        gs = [_plain(g, n or (outer and _connected(g)), w) for g, n, w in zip(gs, nested, wrt)]
        if any_node or (outer and _connected(out)):
            value = _as_node(out, wrt[0])
        else:
            value = out.data if isinstance(out, Node) else out
            value = float(np.asarray(value).reshape(()))
        return value, (gs[0] if isinstance(argnums, int) else tuple(gs))

    return vg


def grad(f: Callable, argnums: Argnums = 0) -> Callable:
    """The gradient of a one-element function, as a function (nests: ``grad(grad(f))``)."""
    vg = value_and_grad(f, argnums)

    def g(*args: Any) -> Any:
        return vg(*args)[1]

    return g


def jacobian(f: Callable, argnums: int = 0) -> Callable:
    """A function giving the Jacobian as an ndarray of shape ``out.shape + in.shape``
    (one backward pass per output element)."""

    def jac(*args: Any) -> np.ndarray:
        _, lifted, (x,), _ = _prepare(f, argnums, args, "jacobian")
        with enable_grad():
            out = f(*lifted)
        out_shape = np.shape(out.data if isinstance(out, Node) else out)
        in_shape = x.shape if isinstance(x, Tensor) else ()
        rows = []
        for i in range(int(np.prod(out_shape))):
            if isinstance(out, Tensor):
                seed = np.zeros(out.size, dtype=out.dtype)
                seed[i] = 1.0
                seed = seed.reshape(out_shape)
            else:
                seed = 1.0
            with enable_grad():
                (g,) = _grads(out, [x], seed, False)
            rows.append(np.asarray(g.data if isinstance(g, Node) else g, dtype=np.float64))
        if not rows:
            return np.zeros(out_shape + in_shape)
        return np.stack(rows).reshape(out_shape + in_shape)

    return jac


def hessian(f: Callable, argnums: int = 0) -> Callable:
    """A function giving the Hessian of a one-element function as an ndarray."""
    return jacobian(grad(f, argnums), argnums)


def hvp(f: Callable, x: Any, v: Any) -> Any:
    """The Hessian-vector product H(x) @ v of a one-element ``f``, without forming H."""
    v = np.asarray(v, dtype=np.float64) if not isinstance(v, (int, float)) else float(v)

    def directional(x: Any) -> Any:
        d = grad(f)(x) * v
        return d.sum() if isinstance(d, Tensor) else d

    return grad(directional)(x)
