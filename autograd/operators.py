"""Python operators and elementwise methods shared by ``Value`` and ``Tensor``.

Subtraction is a composite (``x + (-y)``); a constant operand is negated in place, so
``x - 1`` is one node.
"""

from __future__ import annotations

from typing import Any

from . import ops
from .engine import Node, apply


class Operators:
    __slots__ = ()

    def __add__(self, other: Any) -> Any:
        return apply(ops.ADD, self, other)

    def __radd__(self, other: Any) -> Any:
        return apply(ops.ADD, other, self)

    def __sub__(self, other: Any) -> Any:
        if isinstance(other, Node):
            return apply(ops.ADD, self, apply(ops.NEG, other))
        return apply(ops.ADD, self, -self._const(other, "sub"))

    def __rsub__(self, other: Any) -> Any:
        return apply(ops.ADD, apply(ops.NEG, self), other)

    def __mul__(self, other: Any) -> Any:
        return apply(ops.MUL, self, other)

    def __rmul__(self, other: Any) -> Any:
        return apply(ops.MUL, other, self)

    def __truediv__(self, other: Any) -> Any:
        return apply(ops.DIV, self, other)

    def __rtruediv__(self, other: Any) -> Any:
        return apply(ops.DIV, other, self)

    def __pow__(self, other: Any) -> Any:
        return apply(ops.POW, self, other)

    def __rpow__(self, other: Any) -> Any:
        return apply(ops.POW, other, self)

    def __neg__(self) -> Any:
        return apply(ops.NEG, self)

    def __pos__(self) -> Any:
        return self

    def __abs__(self) -> Any:
        return apply(ops.ABS, self)

    # comparisons read the data and carry no gradient; == and != stay identity (hashable nodes)
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

    def exp(self) -> Any:
        """e ** x."""
        return apply(ops.EXP, self)

    def log(self) -> Any:
        """Natural logarithm (log 0 = -inf, log of a negative = nan)."""
        return apply(ops.LOG, self)

    def sqrt(self) -> Any:
        """Square root (of a negative: nan)."""
        return apply(ops.SQRT, self)

    def tanh(self) -> Any:
        """Hyperbolic tangent."""
        return apply(ops.TANH, self)

    def sigmoid(self) -> Any:
        """1 / (1 + e ** -x), computed without overflow."""
        return apply(ops.SIGMOID, self)

    def relu(self) -> Any:
        """max(x, 0); its derivative at 0 is 0."""
        return apply(ops.RELU, self)

    def sin(self) -> Any:
        """Sine."""
        return apply(ops.SIN, self)

    def cos(self) -> Any:
        """Cosine."""
        return apply(ops.COS, self)

    def abs(self) -> Any:
        """|x|; its derivative at 0 is 0."""
        return apply(ops.ABS, self)
