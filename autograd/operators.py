"""Python operators and elementwise methods shared by ``Value`` and ``Tensor``."""

from __future__ import annotations

from typing import Any

from .engine import Node
from .ops import ABS, ADD, COS, DIV, EXP, LOG, MUL, NEG, POW, RELU, SIGMOID, SIN, SQRT, SUB, TANH


class Operators:
    __slots__ = ()

    def __add__(self, other: Any) -> Any:
        return self._apply(ADD, (self, other))

    def __radd__(self, other: Any) -> Any:
        return self._apply(ADD, (other, self))

    def __sub__(self, other: Any) -> Any:
        return self._apply(SUB, (self, other))

    def __rsub__(self, other: Any) -> Any:
        return self._apply(SUB, (other, self))

    def __mul__(self, other: Any) -> Any:
        return self._apply(MUL, (self, other))

    def __rmul__(self, other: Any) -> Any:
        return self._apply(MUL, (other, self))

    def __truediv__(self, other: Any) -> Any:
        return self._apply(DIV, (self, other))

    def __rtruediv__(self, other: Any) -> Any:
        return self._apply(DIV, (other, self))

    def __pow__(self, other: Any) -> Any:
        return self._apply(POW, (self, other))

    def __rpow__(self, other: Any) -> Any:
        return self._apply(POW, (other, self))

    def __neg__(self) -> Any:
        return self._apply(NEG, (self,))

    def __pos__(self) -> Any:
        return self

    def __abs__(self) -> Any:
        return self._apply(ABS, (self,))

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
        return self._apply(EXP, (self,))

    def log(self) -> Any:
        """Natural logarithm (log 0 = -inf, log of a negative = nan)."""
        return self._apply(LOG, (self,))

    def sqrt(self) -> Any:
        """Square root (of a negative: nan)."""
        return self._apply(SQRT, (self,))

    def tanh(self) -> Any:
        """Hyperbolic tangent."""
        return self._apply(TANH, (self,))

    def sigmoid(self) -> Any:
        """1 / (1 + e ** -x), computed without overflow."""
        return self._apply(SIGMOID, (self,))

    def relu(self) -> Any:
        """max(x, 0); its derivative at 0 is 0."""
        return self._apply(RELU, (self,))

    def sin(self) -> Any:
        """Sine."""
        return self._apply(SIN, (self,))

    def cos(self) -> Any:
        """Cosine."""
        return self._apply(COS, (self,))

    def abs(self) -> Any:
        """|x|; its derivative at 0 is 0."""
        return self._apply(ABS, (self,))
