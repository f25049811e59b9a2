"""The op table: every differentiable primitive, forward and VJP side by side, defined once.

Each VJP receives ``xp`` (a namespace), the upstream gradient ``g``, the op's output ``out``,
``need`` (one bool per input: does anyone want that gradient?) and the inputs. It uses Python
operators only for ``+ - *`` (and indexing), and ``xp`` for everything else, so the same line
runs on floats, on arrays, and on nodes when a higher-order gradient is being recorded.
Broadcasting is undone by the engine, not here: a rule may return a gradient of the output's
(broadcast) shape.

Non-differentiable points, decided once (each such op declares them in its ``kinks`` fact, and
``tests/test_ops.py`` checks its first three derivatives there, for Value and Tensor):
relu'(0) = 0; abs'(0) = 0; sqrt'(0) = inf; d(x ** 0)/dx = 0 (at x = 0 too); d(x ** y)/dy at
x == 0 is 0; at ties, max/min over an axis and maximum/minimum split the gradient evenly
between the tied entries; where sends the gradient to the branch taken and exactly 0 to the
other; clip (a composite) passes the gradient at its bounds; comparisons and argmax carry no
gradient. Higher derivatives there are those of the rule as written: finite (a constant mask
differentiates to 0, so relu''(0) = 0 and d2(x ** 2)/dx2 = 2 at 0), or the IEEE value of the
limit from the right where the rule has a pole (sqrt''(0) = -inf, as (x ** -1)' = -inf at +0).

A rule that hides a branch which can be inf or nan with ``where`` also masks that branch's
*input* (``where(c, 0, f(where(c, 1, x)))``), never its output alone, and does not read the
op's output inside it: at higher order the hidden branch is differentiated as well, and the
zero it receives times an infinite local derivative is nan (the masked-``where`` trap).

Forward mode: each op's JVP (``jvp(xp, tangents, out, *inputs, **params)``, one tangent per
input, None where an input carries none) returns the output's tangent. Linear ops get theirs
from their forward and elementwise ops from their VJP (see ``engine.Op``); the others declare
one here, beside the VJP, sharing its local derivative (a helper both call), so the two agree
exactly at the kinks above. ``tests/test_ops.py`` checks ``<u, J v> == <J^T u, v>`` for every op.

``reads`` says which saved values a VJP reads ("inputs", "out", or the positions of some inputs;
"inputs" and "out" by default): changing one of those in place before backward is an error,
changing anything else is not.
"""

from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import Any

import numpy as np

from . import array_api, backend, engine
from .engine import Node, apply, defop


def _kshape(shape, axis, keepdims):
    """The shape of a reduction of ``shape`` over ``axis`` with keepdims=True."""
    if keepdims:
        return None
    if axis is None:
        return (1,) * len(shape)
    return tuple(1 if i in axis else s for i, s in enumerate(shape))


def _spread(xp, g, x, axis, keepdims):
    """Broadcast a reduction's gradient back over the reduced axes."""
    if keepdims or axis is None:  # g already broadcasts: kept axes, or a 0-d total
        return xp.broadcast_to(g, x.shape)
    return xp.broadcast_to(xp.reshape(g, _kshape(x.shape, axis, keepdims)), x.shape)


def _terms(*terms):
    """The sum of a JVP's terms, leaving out those of inputs without a tangent (None)."""
    total = None
    for t in terms:
        if t is not None:
            total = t if total is None else total + t
    return total


def _seq(n):
    """``{0}, {1}, ...`` for n inputs (a tuple of one gets its comma)."""
    return ", ".join(f"{{{i}}}" for i in range(n)) + ("," if n == 1 else "")


def _lit(v):
    """A parameter as numpy source: dtypes as ``np.float32``, the rest as Python literals."""
    return f"np.{v}" if isinstance(v, np.dtype) else repr(v)


def _reduce_code(method):
    """The code fact of a reduction: ``{0}.sum()``, ``{0}.max(axis=(1,), keepdims=True)``."""
    def code(params, avals):
        axis, keepdims = params.get("axis"), params.get("keepdims")
        kw = ([] if axis is None else [f"axis={_lit(axis)}"]) + (["keepdims=True"] * keepdims)
        return f"{{0}}.{method}({', '.join(kw)})"

    return code


def _mean_code(params, avals):
    shape, dtype = avals[0]
    if dtype.char not in "fdg":  # numpy_ns.mean: np.mean for float16 and integers
        return f"np.mean({{0}}, axis={_lit(params['axis'])}, keepdims={params['keepdims']})"
    n = backend.count(np.empty(shape, dtype=bool), params["axis"])
    return _reduce_code("sum")(params, avals) + f" / {n}"  # as numpy_ns.mean computes it


def _pow_code(params, avals):
    y = avals[1]
    if type(y) is float or type(y) is int:  # numpy_ns.pow's special cases, as it runs them
        return "{0} * {0}" if y == 2 else "+{0}" if y == 1 else "np.power({0}, {1})"
    return "xp.pow({0}, {1})"


def _transpose_code(params, avals):
    axes = params["axes"]
    return "{0}.T" if axes == (1, 0) else f"{{0}}.transpose({_lit(axes)})"


# ----- elementwise arithmetic: Value and Tensor ------------------------------------------------
SCALAR = {"scalar": True, "elementwise": True}  # the facts of every op that Value has too

ADD = defop("add", lambda xp, x, y: x + y,
            lambda xp, g, out, need, x, y: (g, g),
            symbol="+", methods=("__add__", "__radd__"), reads=(), **SCALAR, linear=True,
            commutative=True, doc="x + y.", code="{0} + {1}")
# a primitive, not x + (-y): one tape entry, and a constant y is never negated
SUB = defop("sub", lambda xp, x, y: x - y,
            lambda xp, g, out, need, x, y: (g, -g if need[1] else None),
            symbol="-", methods=("__sub__", "__rsub__"), reads=(), **SCALAR, linear=True,
            numpy="subtract", doc="x - y.", code="{0} - {1}")
MUL = defop("mul", lambda xp, x, y: x * y,
            lambda xp, g, out, need, x, y: (g * y if need[0] else None,
                                            g * x if need[1] else None),
            symbol="*", methods=("__mul__", "__rmul__"), reads=("inputs",), **SCALAR,
            commutative=True, numpy="multiply", doc="x * y.", code="{0} * {1}")
DIV = defop("div", lambda xp, x, y: xp.div(x, y),
            lambda xp, g, out, need, x, y: (xp.div(g, y) if need[0] else None,
                                            -xp.div(g * out, y) if need[1] else None),
            symbol="/", methods=("__truediv__", "__rtruediv__"), **SCALAR, numpy="divide",
            doc="x / y (IEEE: 1/0 = inf).", code="{0} / {1}")
NEG = defop("neg", lambda xp, x: -x, lambda xp, g, out, need, x: (-g,),
            symbol="neg", methods=("__neg__",), reads=(), **SCALAR, linear=True,
            numpy="negative", doc="-x.", code="-{0}")


def _pow_dx(xp, g, x, y):
    """y * x ** (y - 1), and 0 where y == 0: x ** 0 is constant, also at x = 0 (where the
    formula gives 0 * inf = nan)."""
    if (type(y) is float or type(y) is int) and y != 0:  # a constant exponent: no mask needed
        return g * (x + x) if y == 2 else g * y * xp.pow(x, y - 1)  # (x + x: no scalar)
    # the masked branch is fed x = 1, not only hidden: at higher order it is differentiated
    # too, and 0 * inf would be nan (the where trap)
    zero = xp.equal(y, 0)
    return xp.where(zero, 0.0, g * y * xp.pow(xp.where(zero, 1.0, x), y - 1))


def _pow_dy(xp, g, x, y):
    """x ** y * log(x), and 0 where x == 0. Computed from x = 1 there, and not from the
    output (inf at x = 0 for y < 0): a zero times inf, at any order, would be nan."""
    safe = xp.where(xp.equal(x, 0), 1.0, x)
    return g * xp.pow(safe, y) * xp.log(safe)


POW = defop("pow", lambda xp, x, y: xp.pow(x, y),
            lambda xp, g, out, need, x, y: (_pow_dx(xp, g, x, y) if need[0] else None,
                                            _pow_dy(xp, g, x, y) if need[1] else None),
            symbol="**", methods=("__pow__", "__rpow__"), reads=("inputs",), **SCALAR,
            doc="x ** y (IEEE: a negative base to a fractional power is nan; x ** 0.5 is "
                "sqrt(x), as numpy computes it).", code=_pow_code,
            kinks="non-differentiable at x = 0: d(x ** 0)/dx = 0 there too, and d(x ** y)/dy "
                  "= 0 there")

# ----- elementwise functions: Value and Tensor -------------------------------------------------
EXP = defop("exp", lambda xp, x: xp.exp(x), lambda xp, g, out, need, x: (g * out,),
            methods=("exp",), reads=("out",), **SCALAR, doc="e ** x.", code="np.exp({0})")
LOG = defop("log", lambda xp, x: xp.log(x), lambda xp, g, out, need, x: (xp.div(g, x),),
            methods=("log",), reads=("inputs",), **SCALAR, code="np.log({0})",
            doc="Natural logarithm (log 0 = -inf, log of a negative = nan).")
# log(1 + x) without forming 1 + x, which rounds away x's digits below 1e-16: the
# cross-entropy of probabilities needs log(1 - p) exact at small p, as PyTorch computes it
LOG1P = defop("log1p", lambda xp, x: xp.log1p(x),
              lambda xp, g, out, need, x: (xp.div(g, 1.0 + x),),
              methods=("log1p",), reads=("inputs",), **SCALAR,
              doc="log(1 + x), exact for small x (log1p(-1) = -inf, below -1 nan).")
# e ** x - 1 without the cancellation at small x (the inverse of log1p)
EXPM1 = defop("expm1", lambda xp, x: xp.expm1(x), lambda xp, g, out, need, x: (g * (out + 1.0),),
              methods=("expm1",), reads=("out",), **SCALAR, doc="e ** x - 1, exact for small x.")
SQUARE = defop("square", lambda xp, x: x * x, lambda xp, g, out, need, x: (g * 2.0 * x,),
               methods=("square",), reads=("inputs",), **SCALAR, doc="x * x.")
SQRT = defop("sqrt", lambda xp, x: xp.sqrt(x),
             lambda xp, g, out, need, x: (xp.div(g * 0.5, out),),
             methods=("sqrt",), reads=("out",), **SCALAR, code="np.sqrt({0})",
             doc="Square root (of a negative: nan).",
             kinks="non-differentiable at 0: sqrt'(0) = inf, sqrt''(0) = -inf (from the right)")
TANH = defop("tanh", lambda xp, x: xp.tanh(x),
             lambda xp, g, out, need, x: (g * (1.0 - out * out),),
             methods=("tanh",), reads=("out",), **SCALAR, doc="Hyperbolic tangent.",
             code="np.tanh({0})")
SIGMOID = defop("sigmoid", lambda xp, x: xp.sigmoid(x),
                lambda xp, g, out, need, x: (g * out * (1.0 - out),),
                methods=("sigmoid",), reads=("out",), **SCALAR,
                doc="1 / (1 + e ** -x), computed without overflow.")
RELU = defop("relu", lambda xp, x: xp.relu(x),
             lambda xp, g, out, need, x: (g * xp.greater(x, 0),),
             methods=("relu",), reads=("inputs",), **SCALAR, doc="max(x, 0).",
             code="np.maximum({0}, 0)",
             kinks="non-differentiable at 0: relu'(0) = 0")
ABS = defop("abs", lambda xp, x: xp.abs(x),
            lambda xp, g, out, need, x: (g * xp.sign(x),),
            methods=("__abs__", "abs"), reads=("inputs",), **SCALAR, doc="|x|.",
            code="np.abs({0})",
            kinks="non-differentiable at 0: abs'(0) = 0")
SIN = defop("sin", lambda xp, x: xp.sin(x), lambda xp, g, out, need, x: (g * xp.cos(x),),
            methods=("sin",), reads=("inputs",), **SCALAR, doc="Sine.", code="np.sin({0})")
# log(1 + e ** x) without overflow: max(x, 0) + log1p(e ** -|x|); its derivative is sigmoid
SOFTPLUS = defop("softplus", lambda xp, x: xp.maximum(x, 0.0) + xp.log1p(xp.exp(-xp.abs(x))),
                 lambda xp, g, out, need, x: (g * xp.sigmoid(x),),
                 methods=("softplus",), reads=("inputs",), **SCALAR,
                 doc="log(1 + e ** x), computed without overflow (finite at +-1000).",
                 code="np.maximum({0}, 0.0) + np.log1p(np.exp(-np.abs({0})))")
# erf' = 2 / sqrt(pi) * e ** -x^2; exact GELU needs it (numpy has no erf: backend.py has Cody's)
ERF = defop("erf", lambda xp, x: xp.erf(x),
            lambda xp, g, out, need, x: (g * xp.exp(-(x * x)) * 1.1283791670955126,),
            methods=("erf",), reads=("inputs",), **SCALAR,
            doc="The error function, 2 / sqrt(pi) times the integral of e ** -t^2 from 0 to x.")
COS = defop("cos", lambda xp, x: xp.cos(x), lambda xp, g, out, need, x: (-(g * xp.sin(x)),),
            methods=("cos",), reads=("inputs",), **SCALAR, doc="Cosine.", code="np.cos({0})")

# ----- elementwise, Tensor only ----------------------------------------------------------------
def _split(xp, mask, g, need):
    """Send g to x where mask is 1, to y where 0, half to each where 0.5 (ties)."""
    return (g * mask if need[0] else None, g * (1.0 - mask) if need[1] else None)


MAXIMUM = defop("maximum", lambda xp, x, y: xp.maximum(x, y),
                lambda xp, g, out, need, x, y: _split(
                    xp, xp.greater(x, y) + 0.5 * xp.equal(x, y), g, need),
                kinks="non-differentiable at ties: they split the gradient evenly",
                reads=("inputs",), elementwise=True, commutative=True,
                code="np.maximum({0}, {1})")
MINIMUM = defop("minimum", lambda xp, x, y: xp.minimum(x, y),
                lambda xp, g, out, need, x, y: _split(
                    xp, xp.less(x, y) + 0.5 * xp.equal(x, y), g, need),
                kinks="non-differentiable at ties: they split the gradient evenly",
                reads=("inputs",), elementwise=True, commutative=True,
                code="np.minimum({0}, {1})")
WHERE = defop("where", lambda xp, c, x, y: xp.where(c, x, y),
              lambda xp, g, out, need, c, x, y: (
                  None,
                  xp.where(c, g, 0.0) if need[1] else None,
                  xp.where(c, 0.0, g) if need[2] else None), reads=(), nondiff=(0,),
              elementwise=True, linear=True, code="np.where({0}, {1}, {2})",
              kinks="non-differentiable where the condition switches: each branch gets the "
                    "gradient where it is taken and exactly 0 elsewhere")

# ----- reductions ------------------------------------------------------------------------------
SUM = defop("sum", lambda xp, x, *, axis=None, keepdims=False: xp.sum(x, axis, keepdims),
            lambda xp, g, out, need, x, axis, keepdims: (_spread(xp, g, x, axis, keepdims),),
            reads=(), linear=True, code=_reduce_code("sum"))  # only shapes: never changed


# sum's rule scaled by 1/count: one tape entry for every loss's mean (over zero elements: nan)
MEAN = defop("mean", lambda xp, x, *, axis=None, keepdims=False: xp.mean(x, axis, keepdims),
             lambda xp, g, out, need, x, axis, keepdims: (
                 _spread(xp, g * (1.0 / max(backend.count(x, axis), 1)), x, axis, keepdims),),
             reads=(), linear=True, code=_mean_code)  # times 1/n: n can be beyond float16's


def _extreme_share(xp, out, x, axis, keepdims):
    """Each element's share of max's (min's) derivative: 1 at the extreme, split at ties."""
    ks = _kshape(x.shape, axis, keepdims)
    mask = xp.equal(x, out if ks is None else xp.reshape(out, ks))  # constant: no gradient
    return xp.div(mask, xp.sum(mask, axis, True))  # ties split evenly


def _extreme_vjp(xp, g, out, need, x, axis, keepdims):
    return (_spread(xp, g, x, axis, keepdims) * _extreme_share(xp, out, x, axis, keepdims),)


def _extreme_jvp(xp, ts, out, x, axis, keepdims):
    return xp.sum(ts[0] * _extreme_share(xp, out, x, axis, keepdims), axis, keepdims)


MAX = defop("max", lambda xp, x, *, axis=None, keepdims=False: xp.max(x, axis, keepdims),
            _extreme_vjp, jvp=_extreme_jvp, doc="Empty input is a ValueError.",
            code=_reduce_code("max"),
            kinks="non-differentiable at ties: they split the gradient evenly")
MIN = defop("min", lambda xp, x, *, axis=None, keepdims=False: xp.min(x, axis, keepdims),
            _extreme_vjp, jvp=_extreme_jvp, doc="Empty input is a ValueError.",
            code=_reduce_code("min"),
            kinks="non-differentiable at ties: they split the gradient evenly")


def _logsumexp_local(xp, x, axis):
    # the softmax from x shifted by its maximum, as the forward computes, not exp(x - out): out
    # rounds to x's precision (float32 [1e8, 1e8] gave [1, 1], not [0.5, 0.5])
    return xp.softmax(x, axis) if x.size else x  # (an empty x has no maximum)


def _logsumexp_vjp(xp, g, out, need, x, axis, keepdims):
    return (_spread(xp, g, x, axis, keepdims) * _logsumexp_local(xp, x, axis),)


def _logsumexp_jvp(xp, ts, out, x, axis, keepdims):
    return xp.sum(ts[0] * _logsumexp_local(xp, x, axis), axis, keepdims)


LOGSUMEXP = defop("logsumexp",
                  lambda xp, x, *, axis=-1, keepdims=False: xp.logsumexp(x, axis, keepdims),
                  _logsumexp_vjp, jvp=_logsumexp_jvp, reads=(0,),
                  doc="computed stably (shifted by the maximum), its gradient too; finite at 1e4")

# ----- shape -----------------------------------------------------------------------------------
RESHAPE = defop("reshape", lambda xp, x, *, shape: xp.reshape(x, shape),
                lambda xp, g, out, need, x, shape: (xp.reshape(g, x.shape),), reads=(),
                linear=True, code=lambda p, a: f"{{0}}.reshape({_lit(p['shape'])})")
TRANSPOSE = defop("transpose", lambda xp, x, *, axes: xp.transpose(x, axes),
                  lambda xp, g, out, need, x, axes: (
                      xp.transpose(g, tuple(int(i) for i in np.argsort(axes))),),
                  reads=(), linear=True, code=_transpose_code)
CAST = defop("cast", lambda xp, x, *, dtype: xp.cast(x, dtype),
             lambda xp, g, out, need, x, dtype: (g,),  # the engine casts back to x's dtype
             reads=(), elementwise=True, linear=True,
             code=lambda p, a: f"{{0}}.astype({_lit(p['dtype'])})")
GETITEM = defop("getitem", lambda xp, x, *, index: x[index],
                lambda xp, g, out, need, x, index: (xp.untake(g, index, x.shape),),
                doc="repeated integer indices accumulate", reads=(), linear=True,
                code="{0}[{index}]")
# scatter-add into zeros: getitem's VJP, a primitive so that getitem differentiates again
UNTAKE = defop("untake", lambda xp, g, *, index, shape: xp.untake(g, index, shape),
               lambda xp, g, out, need, x, index, shape: (g[index],), reads=(), linear=True)


# constant padding: its VJP crops (getitem, whose VJP, untake, pads with zeros again)
PAD = defop("pad", lambda xp, x, *, widths, value=0.0: xp.pad(x, widths, value),
            lambda xp, g, out, need, x, widths, value: (
                g[tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape, widths))],),
            jvp=lambda xp, ts, out, x, widths, value: xp.pad(ts[0], widths, 0.0),  # affine
            reads=(), doc="x padded with ``value`` by ``widths``, one (before, after) pair of "
                          "non-negative ints per axis; the padding carries no gradient")
# im2col and col2im: each one's VJP is the other, so both differentiate at any order
WINDOWS = defop("windows",
                lambda xp, x, *, kernel, stride, dilation: xp.windows(x, kernel, stride,
                                                                      dilation),
                lambda xp, g, out, need, x, kernel, stride, dilation: (
                    xp.unwindows(g, x.shape, kernel, stride, dilation),),
                reads=(), linear=True,
                doc="the sliding windows over the last len(kernel) axes, every stride-th, "
                    "with dilated kernels, laid out (..., *kernel, *positions); a copy")
UNWINDOWS = defop("unwindows",
                  lambda xp, g, *, shape, kernel, stride, dilation: xp.unwindows(
                      g, shape, kernel, stride, dilation),
                  lambda xp, g, out, need, x, shape, kernel, stride, dilation: (
                      xp.windows(g, kernel, stride, dilation),),
                  reads=(), linear=True,
                  doc="windows' adjoint: the windows added back into zeros of ``shape``")


def _concatenate_vjp(xp, g, out, need, *xs, axis):
    grads, start = [], 0
    for x, nd in zip(xs, need):
        stop = start + x.shape[axis]
        # (the ellipsis: the standard does not pad a short multi-axis index, as numpy does)
        grads.append(g[(slice(None),) * axis + (slice(start, stop), ...)] if nd else None)
        start = stop
    return tuple(grads)


CONCATENATE = defop("concatenate", lambda xp, *xs, axis: xp.concatenate(*xs, axis=axis),
                    _concatenate_vjp, reads=(), linear=True,
                    code=lambda p, a: f"np.concatenate(({_seq(len(a))}), axis={p['axis']})")
STACK = defop("stack", lambda xp, *xs, axis: xp.stack(*xs, axis=axis),
              lambda xp, g, out, need, *xs, axis: tuple(
                  g[(slice(None),) * axis + (i, ...)] if nd else None
                  for i, nd in enumerate(need)),
              reads=(), linear=True,
              code=lambda p, a: f"np.stack(({_seq(len(a))}), axis={p['axis']})")


def _matmul_vjp(xp, g, out, need, x, y):
    if x.ndim == 1 and y.ndim == 1:
        return (g * y if need[0] else None, g * x if need[1] else None)
    # numpy's 1-d rules: a 1-d x is a row (1, k), a 1-d y a column (k, 1)
    x1, y1 = x.ndim == 1, y.ndim == 1
    if x1:
        g = xp.reshape(g, g.shape[:-1] + (1,) + g.shape[-1:])
        x = xp.reshape(x, (1,) + x.shape)
    if y1:
        g = xp.reshape(g, g.shape + (1,))
        y = xp.reshape(y, y.shape + (1,))
    dx = dy = None
    if need[0]:
        dx = xp.matmul(g, y.mT)
        dx = xp.reshape(dx, dx.shape[:-2] + dx.shape[-1:]) if x1 else dx
    if need[1]:
        dy = xp.matmul(x.mT, g)
        dy = xp.reshape(dy, dy.shape[:-1]) if y1 else dy
    return (dx, dy)  # batch dimensions are summed away by the engine


def _matmul_jvp(xp, ts, out, x, y):
    tx, ty = ts[0], ts[1]  # bilinear: the product rule, each term a product itself
    return _terms(None if tx is None else xp.matmul(tx, y),
                  None if ty is None else xp.matmul(x, ty))


MATMUL = defop("matmul", lambda xp, x, y: xp.matmul(x, y), _matmul_vjp, jvp=_matmul_jvp,
               symbol="@", methods=("__matmul__", "__rmatmul__"), reads=("inputs",),
               doc="Matrix product, as numpy's (batched, and 1-d as numpy defines it).",
               code="{0} @ {1}")  # (numpy_ns runs np.dot on 2-d: the same bits, tested)
# x @ w + b as one node, for nn.Linear: its rule is matmul's rule and add's (the same functions),
# so a layer costs one tape entry, and its bias gradient is summed, never a copy of another's
LINEAR = defop("linear", lambda xp, x, w, b: xp.matmul(x, w) + b,
               lambda xp, g, out, need, x, w, b: _matmul_vjp(xp, g, out, need, x, w)
               + (g if need[2] else None,),
               jvp=lambda xp, ts, out, x, w, b: _terms(_matmul_jvp(xp, ts, out, x, w), ts[2]),
               reads=(0, 1), code="{0} @ {1} + {2}")  # the bias only passes g on

# ----- fused, for stability --------------------------------------------------------------------
# Per-sample cross-entropy of logits z (N, C) and integer labels (N,): logsumexp(z) - z[label],
# from logits shifted by their row maximum (stable at +-1000, exact where a row's logits are
# equal). Its VJP is softmax(z) - onehot(label), written with primitives, so it differentiates
# again. The softmax is the forward's exp(z - max) over its row sums: kept by the forward
# (``saves``) for a first-order backward, computed again otherwise (the same numbers).
# Recovered from the output, as exp(z - (out + z[label])), it is wrong at large logits
# (out + z[label] rounds to z's precision: float32 logits [1e8, 1e8] gave [0, 1]), and
# computed again it costs two row reductions, 3-5% of mlp_small's step.
def _cross_entropy_saving(xp, z, labels):
    """The loss, and what the VJP needs of it: exp(z - max) and its row sums."""
    e = xp.exp(zs := z - xp.max(z, 1, True))
    total = xp.sum(e, 1, False)
    # (shape[0], not len(): the standard's arrays need not have a len)
    return xp.log(total) - zs[xp.arange(labels.shape[0]), labels], (e, total)


def _cross_entropy(xp, z, labels):
    return _cross_entropy_saving(xp, z, labels)[0]


def _cross_entropy_local(xp, z, labels, res=None):
    """d out_n / d z_n: softmax(z_n) - onehot(label_n), the softmax from the forward's parts
    where it kept them (first order), else computed again from z as the forward does."""
    n = labels.shape[0]
    p = xp.softmax(z, 1) if res is None else res[0] / xp.reshape(res[1], (n, 1))
    return xp.minus_onehot(p, (xp.arange(n), labels))


def _cross_entropy_vjp(xp, g, out, need, z, labels, res=None):
    return (xp.reshape(g, (labels.shape[0], 1)) * _cross_entropy_local(xp, z, labels, res),
            None)


def _cross_entropy_jvp(xp, ts, out, z, labels):
    return xp.sum(ts[0] * _cross_entropy_local(xp, z, labels), 1, False)


CROSS_ENTROPY = defop("cross_entropy", _cross_entropy, _cross_entropy_vjp,
                      jvp=_cross_entropy_jvp, saves=_cross_entropy_saving,
                      doc="stable at logits of +-1000; labels carry no gradient", nondiff=(1,))


# ----- comparisons and sign: no gradient, so outside the registry (nothing to differentiate or
# gradcheck); eager code compares raw values, and autograd.trace records them with these ops, so
# a mask computed from a traced value is part of the program, never a constant baked into it
def _no_vjp(xp, g, out, need, *xs):
    return (None,) * len(xs)


def _comparison(name, ufunc, symbol):
    return engine.Op(name, lambda xp, x, y: ufunc(x, y), _no_vjp, symbol=symbol, reads=(),
                     nondiff=(0, 1), elementwise=True, code=f"{{0}} {symbol} {{1}}")


COMPARISONS = {op.symbol: op for op in (
    _comparison("greater", np.greater, ">"), _comparison("greater_equal", np.greater_equal, ">="),
    _comparison("less", np.less, "<"), _comparison("less_equal", np.less_equal, "<="),
    _comparison("equal", np.equal, "=="), _comparison("not_equal", np.not_equal, "!="))}
SIGN = engine.Op("sign", lambda xp, x: xp.sign(x), _no_vjp, reads=(), nondiff=(0,),
                 elementwise=True, code="np.sign({0})")


# ----- the namespaces: every op under its name, in the raw ones and over nodes -----------------
def _raw(x):
    return x.data if isinstance(x, Node) else x


def _ns_of(*xs):
    numpy = any(isinstance(x, (np.ndarray, np.generic)) for x in xs)  # (see backend.as_array)
    if numpy:
        return backend.numpy_ns
    for x in xs:
        if array_api.is_foreign(x):
            return array_api.namespace_of(x)
    return backend.scalar


def _const(name):
    """A non-differentiable function (comparisons, sign): applied to the values, no node."""

    def f(*xs):
        raw = [_raw(x) for x in xs]
        return backend.as_array(getattr(_ns_of(*raw), name)(*raw))

    return f


def _call(op, run):
    """A namespace function for ``op``: inputs positionally, then its parameters positionally
    or by name (``xp.sum(x, axis, True)``), missing ones at their defaults."""
    n, names = len(op.inputs), tuple(op.params)
    defaults = {k: v for k, v in op.params.items() if v is not inspect.Parameter.empty}

    def f(*args, **kw):
        inputs, extra = (args, ()) if op.variadic else (args[:n], args[n:])
        params = {**defaults, **dict(zip(names, extra)), **kw}
        return run(inputs, params)

    f.__name__ = op.name
    f.__doc__ = op.doc
    return f


def _node_function(op):
    def run(inputs, params):
        if op.nondiff:  # masks and labels are values, never nodes
            inputs = [_raw(x) if i in op.nondiff else x for i, x in enumerate(inputs)]
        return apply(op, *inputs, **params)

    return _call(op, run)


def _softmax(x: Any, axis: Any) -> Any:
    e = node_ns.exp(x - node_ns.max(x, axis, True))
    return node_ns.div(e, node_ns.sum(e, axis, True))


def _broadcast_to(x: Any, shape: tuple) -> Any:
    if not isinstance(x, Node):
        return _ns_of(x).broadcast_to(x, shape) if array_api.is_foreign(x) \
            else np.broadcast_to(x, shape)
    if tuple(x.data.shape) == tuple(shape):
        return x
    ns = getattr(x, "_xp", None)
    zeros = np.zeros(shape, dtype=x.data.dtype) if ns is None else \
        ns.xp.zeros(tuple(shape), dtype=x.data.dtype, device=ns.device)
    # add's VJP sums back over the broadcast axes
    return apply(ADD, x, zeros)


def _minus_onehot(p: Any, at: Any) -> Any:
    ns = getattr(p, "_xp", None)
    if ns is None:
        return p - backend.onehot(at[1], p.shape[1], p.dtype)
    zeros = ns.xp.zeros(tuple(p.shape), dtype=p.data.dtype, device=ns.device)
    return p + ns.minus_onehot(zeros, at)  # (0 - onehot, in the logits' library)


# over nodes: one function per op, recording it; and the few non-differentiable helpers
node_ns = SimpleNamespace(
    name="node",
    **{op.name: _node_function(op) for op in engine.registry.values()},
    broadcast_to=_broadcast_to,
    softmax=_softmax,
    sign=_const("sign"), equal=_const("equal"), greater=_const("greater"), less=_const("less"),
    minus_onehot=_minus_onehot,
    arange=np.arange,
)
engine.node_ns = node_ns  # what higher-order rules receive as xp


def _complete(ns, ops):
    """Give a raw namespace every op it has no kernel for, as the op's own forward: so
    ``xp.<op name>`` exists in every namespace, and a new op needs no backend entry."""
    for op in ops:
        if not hasattr(ns, op.name):
            f = _call(op, lambda inputs, params, op=op: op.forward(ns, *inputs, **params))
            f.from_forward = True  # (a forward that calls xp.<its own name> needs a kernel)
            setattr(ns, op.name, f)


_complete(backend.numpy_ns, engine.registry.values())
_complete(backend.scalar, [op for op in engine.registry.values() if op.scalar])
