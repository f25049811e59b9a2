"""Expressions, inputs and helpers shared by several test modules."""

import math

import numpy as np

from autograd import Tensor, Value


def leaf(x, dtype=None):
    return Tensor(x, requires_grad=True, dtype=dtype)


# Operands that no op takes, with the type name its error must show, and the binary operators
# on either side of a Value or a Tensor, with the op name the error must start with.
BAD_OPERANDS = [("x", "str"), (None, "NoneType"), (object(), "object"), (1 + 2j, "complex")]
BINARY = [
    (lambda a, b: a + b, "add"), (lambda a, b: b + a, "add"),
    (lambda a, b: a - b, "sub"), (lambda a, b: b - a, "sub"),
    (lambda a, b: a * b, "mul"), (lambda a, b: b * a, "mul"),
    (lambda a, b: a / b, "div"), (lambda a, b: b / a, "div"),
    (lambda a, b: a ** b, "pow"), (lambda a, b: b ** a, "pow"),
]

# Logits of +-1000: one row per case (one logit dominates; a tie below the top; all equal).
Z = np.array([[1000.0, -1000.0, 0.0],
              [-1000.0, -1000.0, 1000.0],
              [-1000.0, -1000.0, -1000.0]])
LOG3 = math.log(3.0)
# Exact where one logit dominates; for the row of three equal -1000s, exact up to the rounding
# of values of magnitude 1000 (x - logsumexp(x) is formed at that magnitude): a few ulp of 1000.
ATOL_1000 = 4 * 1000 * np.finfo(np.float64).eps


def micrograd_readme(labels: bool = False):
    """The expression of micrograd's README (a.grad = 138.8338, b.grad = 645.5773)."""
    a = Value(-4.0, label="a" if labels else "")
    b = Value(2.0, label="b" if labels else "")
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    return a, b, g


# Reductions to 0-d (or to one element), which crashed in create_graph (issue 13): f, and the
# diagonal of its second derivative (the rest is 0)
def every_axis(x):
    return tuple(range(x.ndim))  # (0,) for 1-d: mean(0), which crashed


TO_0D = [
    (lambda x: (x**3).mean(every_axis(x)), lambda x: 6.0 * x / x.size),
    (lambda x: (x**3).mean(), lambda x: 6.0 * x / x.size),
    (lambda x: (x**3).sum(every_axis(x)), lambda x: 6.0 * x),
    (lambda x: (x**3).max(), lambda x: 6.0 * x * (x == x.max())),
    (lambda x: (x**3).min(every_axis(x)), lambda x: 6.0 * x * (x == x.min())),
]
