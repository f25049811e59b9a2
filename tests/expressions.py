"""Expressions shared by several test modules."""

from autograd import Value


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
