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

Arguments may be pytrees (``autograd.tree``): nested dicts, lists, tuples, namedtuples and
dataclasses of the above, and the result comes back in their structure, as in JAX (see
``_on_trees`` at the end of this module). A list of plain numbers is still one array.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .engine import Node, backprop, enable_grad, state
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
    return 0.0 if isinstance(node, Value) else np.zeros(node.shape, dtype=node.dtype)


def _as_node(x: Any, like: Any) -> Node:
    """``x`` as a node of ``like``'s kind; a constant (a leaf depending on nothing) if raw."""
    if isinstance(x, Node):
        return x
    if isinstance(like, Value):
        return Value(float(np.asarray(x).reshape(())))
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
    of gradients. The value is a float for plain arguments and a node for node arguments.
    ``f`` returns a one-element node; a plain number is a RuntimeError (see the module)."""
    return _on_trees(_value_and_grad, f, argnums, "value_and_grad")


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
    return _on_trees(_jacobian, f, argnums, "jacobian")


def _jacobian(f: Callable, argnums: Argnums, where: str = "jacobian") -> Callable:
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
    return _on_trees(_hessian, f, argnums, "hessian")


def _hessian(f: Callable, argnums: Argnums, where: str = "hessian") -> Callable:
    return _jacobian(_grad(f, argnums, where), argnums)


def hvp(f: Callable, x: Any, v: Any) -> Any:
    """The Hessian-vector product H(x) @ v of a one-element ``f``, without forming H; ``v`` has
    the shape of ``x``. A node when ``x`` or ``v`` is one (so it nests), else an ndarray (a float
    for a float ``x``)."""
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

    def directional(x: Any) -> Any:
        d = _grad(f, 0, "hvp")(x) * v
        return d.sum() if isinstance(d, Tensor) else d

    return _grad(directional, 0, "hvp")(x)


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
