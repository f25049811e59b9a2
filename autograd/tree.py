"""Pytrees: nested containers of arrays, numbers and nodes, flattened to a list of leaves and
rebuilt, with JAX's names (``tree_flatten``, ``tree_unflatten``, ``tree_map``,
``tree_leaves``, ``register_pytree_node``) and a small registry of our own.

Containers (nodes of the tree): ``dict`` (leaves in sorted key order, and rebuilt with sorted
keys, as JAX does, so that two dicts with the same keys have one structure whatever order they
were built in), ``collections.OrderedDict`` (insertion order), ``list``, ``tuple``, every
namedtuple, every dataclass instance (its ``init`` fields, in declaration order, rebuilt by
calling the class), ``None`` (a node with no children) and any type given to
``register_pytree_node``. Leaves: numbers, numpy arrays and scalars, ``Value`` and ``Tensor``;
anything else is a TypeError naming where it is (``tree['layer'][2]``).

    leaves, treedef = tree_flatten({"w": W, "b": [b0, b1]})   # [b0, b1, W]
    tree_unflatten(treedef, [2 * x for x in leaves])           # {"b": [...], "w": ...}
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import numpy as np

from .engine import Node
from .value import Value

__all__ = ["PyTreeDef", "register_pytree_node", "tree_flatten", "tree_leaves", "tree_map",
           "tree_unflatten"]

Flatten = Callable[[Any], tuple[Iterable[Any], Hashable]]
Unflatten = Callable[[Hashable, list[Any]], Any]

_LEAF_TYPES = (int, float, np.number, np.bool_, np.ndarray, Node)  # (bool is an int)
_registry: dict[type, tuple[Flatten, Unflatten]] = {}


def register_pytree_node(nodetype: type, flatten_func: Flatten, unflatten_func: Unflatten
                         ) -> None:
    """Make instances of ``nodetype`` containers: ``flatten_func(x)`` returns ``(children,
    aux_data)`` (aux_data hashable, compared between structures), ``unflatten_func(aux_data,
    children)`` rebuilds one. As ``jax.tree_util.register_pytree_node``; a type registers
    once (a second registration is a ValueError)."""
    if not isinstance(nodetype, type):
        raise TypeError(f"register_pytree_node: expected a type, got {nodetype!r}")
    if nodetype in _registry:
        raise ValueError(f"register_pytree_node: {nodetype.__name__} is already registered")
    _registry[nodetype] = (flatten_func, unflatten_func)


def _dict_flatten(d: dict) -> tuple[Iterable[Any], Hashable]:
    try:
        keys = tuple(sorted(d))
    except TypeError:
        raise TypeError(f"tree_flatten: the keys of a dict must be sortable (JAX sorts them), "
                        f"got {list(d)!r}") from None
    return [d[k] for k in keys], keys


def _dict_unflatten(keys: Any, children: list[Any]) -> Any:
    return dict(zip(keys, children))


def _ordered_dict_flatten(d: OrderedDict) -> tuple[Iterable[Any], Hashable]:
    return list(d.values()), tuple(d)


def _ordered_dict_unflatten(keys: Any, children: list[Any]) -> Any:
    return OrderedDict(zip(keys, children))


register_pytree_node(tuple, lambda t: (t, None), lambda _, c: tuple(c))
register_pytree_node(list, lambda x: (x, None), lambda _, c: list(c))
register_pytree_node(dict, _dict_flatten, _dict_unflatten)
register_pytree_node(OrderedDict, _ordered_dict_flatten, _ordered_dict_unflatten)
register_pytree_node(type(None), lambda _: ((), None), lambda _, c: None)


def _namedtuple_flatten(t: Any) -> tuple[Iterable[Any], Any]:
    return t, type(t)


def _namedtuple_unflatten(cls: Any, children: list[Any]) -> Any:
    return cls(*children)


def _dataclass_flatten(x: Any) -> tuple[Iterable[Any], Hashable]:
    names = tuple(f.name for f in dataclasses.fields(x) if f.init)
    return [getattr(x, n) for n in names], (type(x), names)


def _dataclass_unflatten(aux: Any, children: list[Any]) -> Any:
    cls, names = aux
    return cls(**dict(zip(names, children)))


def _handlers(x: Any) -> tuple[Flatten, Unflatten] | None:
    """How to take ``x`` apart and rebuild it, or None for a leaf."""
    found = _registry.get(type(x))
    if found is not None:
        return found
    if isinstance(x, tuple) and hasattr(type(x), "_fields"):
        return _namedtuple_flatten, _namedtuple_unflatten
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return _dataclass_flatten, _dataclass_unflatten
    return None


def _key(unflatten: Unflatten, aux: Any, i: int) -> str:
    """How the path to a node's i-th child reads: ``['w']``, ``[2]`` or ``.name``."""
    if unflatten is _dataclass_unflatten:
        return "." + aux[1][i]
    if unflatten is _namedtuple_unflatten:
        return "." + aux._fields[i]
    if unflatten is _dict_unflatten or unflatten is _ordered_dict_unflatten:
        return f"[{aux[i]!r}]"
    return f"[{i}]"


class _Star:
    def __repr__(self) -> str:
        return "*"


class PyTreeDef:
    """The structure of a pytree without its leaves (``tree_flatten``'s second result):
    compares equal to another of the same structure, prints as JAX's (``PyTreeDef({'b': *,
    'w': *})``), rebuilds a tree with ``tree_unflatten``."""

    __slots__ = ("_nodes", "num_leaves")

    def __init__(self, nodes: tuple, num_leaves: int) -> None:
        # the nodes in pre-order: (unflatten, aux_data, number of children), None for a leaf
        self._nodes = nodes
        self.num_leaves = num_leaves

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PyTreeDef) and self._nodes == other._nodes

    def __hash__(self) -> int:
        return hash(self._nodes)

    def __repr__(self) -> str:
        try:
            return f"PyTreeDef({tree_unflatten(self, [_Star()] * self.num_leaves)!r})"
        except Exception:  # a registered type whose constructor refuses the placeholders
            return f"PyTreeDef(<{self.num_leaves} leaves>)"


def _flatten(tree: Any, is_leaf: Callable[[Any], bool] | None, root: str,
             where: str = "tree_flatten") -> tuple[list[Any], PyTreeDef, list[str]]:
    """Leaves, structure and each leaf's path, walking the tree with an explicit stack
    (a user's tree may be deep; no recursion)."""
    leaves: list[Any] = []
    paths: list[str] = []
    nodes: list[Any] = []
    stack = [(tree, root)]
    while stack:
        x, path = stack.pop()
        chosen = is_leaf is not None and is_leaf(x)
        handlers = None if chosen else _handlers(x)
        if handlers is None:
            if not chosen and not isinstance(x, _LEAF_TYPES):
                raise TypeError(f"{where}: {path} is a {type(x).__name__}, which is neither a "
                                "leaf (a number, an ndarray, a Value or a Tensor) nor a "
                                "container (dict, list, tuple, namedtuple, dataclass, None, or "
                                "a type given to autograd.tree.register_pytree_node)")
            nodes.append(None)
            leaves.append(x)
            paths.append(path)
            continue
        flatten, unflatten = handlers
        children, aux = flatten(x)
        children = list(children)
        nodes.append((unflatten, aux, len(children)))
        stack.extend((c, path + _key(unflatten, aux, i))
                     for i, c in reversed(list(enumerate(children))))
    return leaves, PyTreeDef(tuple(nodes), len(leaves)), paths


def tree_flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None
                 ) -> tuple[list[Any], PyTreeDef]:
    """The leaves of ``tree`` in order (dict keys sorted) and its structure. ``is_leaf(x)``
    returning True stops the walk at ``x`` and makes it a leaf, whatever it is (JAX's
    argument). A leaf of an unsupported type is a TypeError naming its path."""
    leaves, treedef, _ = _flatten(tree, is_leaf, "tree")
    return leaves, treedef


def tree_leaves(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list[Any]:
    """The leaves of ``tree``, in ``tree_flatten``'s order."""
    return _flatten(tree, is_leaf, "tree")[0]


def tree_unflatten(treedef: PyTreeDef, leaves: Iterable[Any]) -> Any:
    """The tree of structure ``treedef`` holding ``leaves`` (in ``tree_flatten``'s order)."""
    if not isinstance(treedef, PyTreeDef):
        raise TypeError(f"tree_unflatten: expected a PyTreeDef, got {type(treedef).__name__}")
    leaves = list(leaves)
    if len(leaves) != treedef.num_leaves:
        raise ValueError(f"tree_unflatten: {treedef} has {treedef.num_leaves} leaves, got "
                         f"{len(leaves)}")
    # the pre-order list read backwards builds each node from its already built children
    built: list[Any] = []
    for node in reversed(treedef._nodes):
        if node is None:
            built.append(leaves.pop())
            continue
        unflatten, aux, n = node
        children = [built.pop() for _ in range(n)]
        built.append(unflatten(aux, children))
    return built[0]


def tree_map(f: Callable[..., Any], tree: Any, *rest: Any,
             is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """A tree of ``tree``'s structure whose leaves are ``f(leaf, *leaves of rest)``; every tree
    in ``rest`` must have the same structure (else ValueError naming both)."""
    leaves, treedef = tree_flatten(tree, is_leaf)
    others = []
    for i, r in enumerate(rest):
        r_leaves, r_def = tree_flatten(r, is_leaf)
        if r_def != treedef:
            raise ValueError(f"tree_map: tree {i + 1} has structure {r_def}, the first "
                             f"{treedef}")
        others.append(r_leaves)
    return tree_unflatten(treedef, [f(*xs) for xs in zip(leaves, *others)])


# ----- how the transforms (grad, jacobian, gradcheck, ...) read their arguments ------------------
_NUMBERS = (int, float, np.number, np.bool_)


def _is_number_list(x: Any) -> bool:
    """A list or tuple of numbers, nested or not: to the transforms an array, as it always was
    (``grad(f)([1.0, 2.0])`` gives f a Tensor), where JAX would see a list of leaves. An empty
    one is an empty container."""
    if type(x) is not list and type(x) is not tuple:
        return False
    stack = [x]
    while stack:
        items = stack.pop()
        if not items:
            return False
        for item in items:
            if type(item) is list or type(item) is tuple:
                stack.append(item)
            elif not isinstance(item, _NUMBERS):
                return False
    return True


def _is_argument_leaf(x: Any) -> bool:
    """Whether a transform takes ``x`` as it always did, as one argument (no tree)."""
    return _handlers(x) is None or _is_number_list(x)


def _arguments(tree: Any, root: str, where: str
               ) -> tuple[list[Any], PyTreeDef, list[str], list[bool]]:
    """A transform's argument as leaves, structure, paths, and which leaves were numbers
    turned into 0-d arrays: in a tree that holds arrays or Tensors, numbers become 0-d
    Tensors, so that ``f`` can combine them with the arrays (a Value and a Tensor never
    mix); their gradients come back as floats."""
    leaves, treedef, paths = _flatten(tree, _is_number_list, root, where)
    for x, path in zip(leaves, paths):
        if isinstance(x, (bool, np.bool_)):
            raise TypeError(f"{where}: cannot differentiate with respect to {path}, a bool")
    arrays = len(leaves) > 1 and any(not isinstance(x, (*_NUMBERS, Value)) for x in leaves)
    promoted = [arrays and isinstance(x, _NUMBERS) for x in leaves]
    leaves = [np.asarray(x, dtype=np.float64) if p else x for x, p in zip(leaves, promoted)]
    return leaves, treedef, paths, promoted
