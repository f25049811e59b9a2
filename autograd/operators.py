"""Python operators and methods of ``Value`` and ``Tensor``, generated from the op table.

Each op's ``methods`` fact names the methods it gets: on both kinds (``Operators``) when the op
has a scalar form, on ``Tensor`` only (``ArrayOperators``) otherwise. A name ``__r<op>__`` takes
its operands reflected (``2 - t`` is ``sub(2, t)``). ``operators.pyi`` tells type checkers the
same, with results of the operand's own type; a test checks that it matches the table
(``python -m autograd.operators`` writes it anew).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from . import ops  # noqa: F401  (the table: importing it registers every built-in op)
from .engine import Node, Op, apply, registry


class Operators:
    """Operators and elementwise methods shared by ``Value`` and ``Tensor``."""

    __slots__ = ()

    def __pos__(self) -> Any:
        return self

    # comparisons read the data and carry no gradient: elementwise, as in numpy and PyTorch
    # (a Tensor gives a bool array, a Value a bool); nodes stay hashable, by identity
    __hash__ = object.__hash__

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        return self.data == self._cmp(other)

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        return self.data != self._cmp(other)

    def __lt__(self, other: Any) -> Any:
        return self.data < self._cmp(other)

    def __le__(self, other: Any) -> Any:
        return self.data <= self._cmp(other)

    def __gt__(self, other: Any) -> Any:
        return self.data > self._cmp(other)

    def __ge__(self, other: Any) -> Any:
        return self.data >= self._cmp(other)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        # numpy's ufuncs on nodes (also ``ndarray + Tensor``, which numpy turns into np.add):
        # those of the op table record, comparisons compare the values, and any other runs on
        # the values when no input requires grad; never an object array
        if method == "__call__" and not kwargs:
            op = _UFUNC_OPS.get(ufunc)
            if op is not None:
                return apply(op, *inputs)
            if ufunc in _COMPARISONS:
                return ufunc(*[x.data if isinstance(x, Node) else x for x in inputs])
            if ufunc is np.positive and len(inputs) == 1:
                return self
        return outside_the_tape(f"numpy.{ufunc.__name__}" + (
            "" if method == "__call__" else f".{method}"), inputs, kwargs,
            lambda *a, **k: getattr(ufunc, method)(*a, **k))

    def _cmp(self, other: Any) -> Any:
        if isinstance(other, Node):
            if other._kind is not self._kind:
                raise TypeError(f"cannot compare {type(self).__name__} and "
                                f"{type(other).__name__}")
            return other.data
        return self._const(other, "compare")


_COMPARISONS = {np.equal, np.not_equal, np.less, np.less_equal, np.greater, np.greater_equal}
# numpy's ufunc for each op that has one: its ``numpy`` fact names it, else its own name does
_UFUNC_OPS = {f: op for op in registry.values()
              if isinstance(f := getattr(np, op.numpy or op.name, None), np.ufunc)
              and f.nin == len(op.inputs) and not op.params}


def _values(x: Any) -> Any:
    """``x`` with every node replaced by a read-only view of its data (in lists too)."""
    if isinstance(x, Node):
        if not isinstance(x.data, np.ndarray):
            return x.data
        view = x.data.view()
        view.flags.writeable = False
        return view
    if isinstance(x, (list, tuple)):
        return type(x)(_values(v) for v in x)
    return x


def _nodes(x: Any) -> list:
    if isinstance(x, Node):
        return [x]
    if isinstance(x, (list, tuple)):
        return [n for v in x for n in _nodes(v)]
    return []


def outside_the_tape(name: str, args: Any, kwargs: dict, run: Any,
                     value_free: bool = False) -> Any:
    """A numpy function tapegrad does not record: it runs on the values when no node among
    its arguments requires grad (or when only their shapes and dtypes count), else TypeError:
    its result would silently carry no gradient."""
    nodes = _nodes(list(args) + list(kwargs.values()))
    needy = [n for n in nodes if n._rg]
    if needy and not value_free:
        kind = type(needy[0]).__name__
        if "out" in kwargs:
            raise TypeError(f"{name} with out=: the result of a {kind} that requires grad cannot "
                            f"be written into an array in place (a += t): write a = a + t")
        raise TypeError(
            f"{name} is not recorded on the tape, and its {kind} argument requires grad: its "
            f"result would carry no gradient. Use the {kind}'s methods or autograd's functions "
            "(np.exp, np.sum, np.where, ... of the op table do record), or pass t.detach() for "
            "the values only; inside a primitive's rule, use xp.<name> (help(autograd.primitive) "
            "lists them)")
    return run(*_values(args), **{k: _values(v) for k, v in kwargs.items()})


class ArrayOperators:
    """Operators and methods of ``Tensor`` only (ops without a scalar form)."""

    __slots__ = ()


def _method(op: Op, name: str) -> Any:
    if len(op.inputs) == 1:
        def method(self):
            return self._apply(op, (self,))
    elif name.startswith("__r"):
        def method(self, other):
            return self._apply(op, (other, self))
    else:
        def method(self, other):
            return self._apply(op, (self, other))
    method.__name__ = name
    method.__doc__ = f"{op.doc} {op.kinks[0].upper()}{op.kinks[1:]}." if op.kinks else op.doc
    return method


def _owner(op: Op) -> type:
    return Operators if op.scalar else ArrayOperators


for _op in registry.values():
    for _name in _op.methods:
        _m = _method(_op, _name)
        _m.__qualname__ = f"{_owner(_op).__name__}.{_name}"
        setattr(_owner(_op), _name, _m)


def stub() -> str:
    """The text of ``operators.pyi``: every method above, typed for checkers."""
    lines = ["# Written by `python -m autograd.operators` from the op table: do not edit.",
             "from typing import Any, TypeVar", "", "_T = TypeVar(\"_T\")", "",
             "def outside_the_tape(name: str, args: Any, kwargs: dict, run: Any,",
             "                     value_free: bool = ...) -> Any: ...", ""]
    for cls in (Operators, ArrayOperators):
        lines += [f"class {cls.__name__}:"]
        if cls is Operators:
            lines += ["    def __pos__(self: _T) -> _T: ..."]
            lines += ["    def __hash__(self) -> int: ..."]
            lines += [f"    def __{c}__(self, other: Any) -> Any: ..." for c in ("eq", "ne")]
            lines += [f"    def __{c}__(self, other: Any) -> Any: ..." for c in ("lt", "le",
                                                                              "gt", "ge")]
            lines += ["    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, "
                      "**kwargs: Any) -> Any: ..."]
            lines += ["    def _cmp(self, other: Any) -> Any: ..."]
        for op in registry.values():
            if _owner(op) is cls:
                for name in op.methods:
                    other = "" if len(op.inputs) == 1 else ", other: Any"
                    lines.append(f"    def {name}(self: _T{other}) -> _T: ...")
        if lines[-1].endswith(":"):
            lines.append("    ...")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "operators.pyi")
    with open(path, "w") as f:
        f.write(stub())
    sys.stdout.write(f"wrote {path}\n")
