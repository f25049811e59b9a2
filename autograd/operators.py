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

from . import ops  # noqa: F401  (the table: importing it registers every built-in op)
from .engine import Node, Op, registry


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

    def _cmp(self, other: Any) -> Any:
        if isinstance(other, Node):
            if other._kind is not self._kind:
                raise TypeError(f"cannot compare {type(self).__name__} and "
                                f"{type(other).__name__}")
            return other.data
        return self._const(other, "compare")


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
             "from typing import Any, TypeVar", "", "_T = TypeVar(\"_T\")", ""]
    for cls in (Operators, ArrayOperators):
        lines += [f"class {cls.__name__}:"]
        if cls is Operators:
            lines += ["    def __pos__(self: _T) -> _T: ..."]
            lines += ["    def __hash__(self) -> int: ..."]
            lines += [f"    def __{c}__(self, other: Any) -> Any: ..." for c in ("eq", "ne")]
            lines += [f"    def __{c}__(self, other: Any) -> Any: ..." for c in ("lt", "le",
                                                                              "gt", "ge")]
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
