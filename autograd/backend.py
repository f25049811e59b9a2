"""The raw namespaces that forward functions and first-order VJPs receive as ``xp``.

``scalar`` works on Python floats with IEEE results (``math`` raises where IEEE gives inf or
nan, so the rare exceptional cases fall back to numpy float64), and numpy's answers at the
edges (``x ** 0.5`` is ``sqrt(x)``, the sign of nan is nan). ``numpy_ns`` works on arrays.
Both offer the same names, so that one rule serves ``Value`` and ``Tensor``; ``autograd.ops``
builds the third namespace, over nodes, for higher order.
"""

from __future__ import annotations

import itertools
import math
from contextlib import contextmanager
from functools import partial
from types import SimpleNamespace

import numpy as np
from numpy import ndarray
from numpy.lib.stride_tricks import sliding_window_view

try:  # numpy >= 2: entering np.errstate costs ~1 us, setting its context variable ~0.1 us
    from numpy._core._ufunc_config import _extobj_contextvar as _extobj  # type: ignore[attr-defined]
    from numpy._core.umath import _make_extobj

    _IGNORE = _make_extobj(all="ignore")

    @contextmanager
    def quiet():
        """Silence numpy floating-point warnings: IEEE results (inf, nan) are the answer."""
        token = _extobj.set(_IGNORE)
        try:
            yield
        finally:
            _extobj.reset(token)

    quiet_enter = partial(_extobj.set, _IGNORE)  # C calls: no Python frame on the hot path
    quiet_exit = _extobj.reset

except ImportError:  # pragma: no cover - other numpy layouts

    def quiet():
        """Silence numpy floating-point warnings: IEEE results (inf, nan) are the answer."""
        return np.errstate(all="ignore")

    def quiet_enter():  # type: ignore[misc]
        state = np.errstate(all="ignore")
        state.__enter__()
        return state

    def quiet_exit(token) -> None:
        token.__exit__(None, None, None)


def as_array(x):
    """``x``, with a numpy scalar made a 0-d array. numpy makes scalars of 0-d arrays (a sum
    over all axes, 0-d times 0-d), and one is not a Python float (though np.float64
    subclasses float): taken for one, it picks the scalar namespace, which has no reshape."""
    return np.asarray(x) if isinstance(x, np.generic) else x


def _np_float(fn, *args) -> float:
    with quiet():
        return float(fn(*(np.float64(a) for a in args)))


def _s_exp(x):
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _s_log(x):
    if x > 0:
        return math.log(x)
    return -math.inf if x == 0 else math.nan


def _s_sqrt(x):
    return math.sqrt(x) if x >= 0 else math.nan


def _s_trig(fn):
    def f(x):
        try:
            return fn(x)
        except ValueError:  # sin(inf)
            return math.nan

    return f


def _s_div(x, y):
    try:
        return x / y
    except ZeroDivisionError:
        return _np_float(np.divide, x, y)


def _s_pow(x, y):
    if y == 0.5:  # numpy's x ** 0.5 is sqrt(x): nan at -inf (C's pow gives inf), -0.0 at -0.0
        return _s_sqrt(x)
    try:
        r = x**y
    except (ZeroDivisionError, OverflowError):
        return _np_float(np.power, x, y)
    return r if type(r) is float else _np_float(np.power, x, y)  # complex for (-8) ** (1/3)


def _s_sigmoid(x):
    if x >= 0:
        return 1.0 / (1.0 + _s_exp(-x))
    e = _s_exp(x)
    return e / (1.0 + e)


def _s_sign(x):
    return (x > 0) - (x < 0) + 0.0 if x == x else x  # nan stays nan, as in numpy


def _horner(coefs, x):
    """coefs[0] * x ** (n - 1) + ... + coefs[-1], for arrays."""
    out = coefs[0]
    for c in coefs[1:]:
        out = out * x + c
    return out


# W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23
# (1969), 631-638, with the coefficients of his Netlib SPECFUN routine CALERF: erf on
# |x| <= 0.46875, erfc on (0.46875, 4] and on (4, inf); relative error below 1e-16 or so,
# checked against math.erf in tests/test_backend.py. Highest power first.
_ERF_A = (1.85777706184603153e-1, 3.16112374387056560e00, 1.13864154151050156e02,
          3.77485237685302021e02, 3.20937758913846947e03)
_ERF_B = (1.0, 2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
          2.84423683343917062e03)
_ERF_C = (2.15311535474403846e-8, 5.64188496988670089e-1, 8.88314979438837594e00,
          6.61191906371416295e01, 2.98635138197400131e02, 8.81952221241769090e02,
          1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03)
_ERF_D = (1.0, 1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
          1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
          3.43936767414372164e03, 1.23033935480374942e03)
_ERF_P = (1.63153871373020978e-2, 3.05326634961232344e-1, 3.60344899949804439e-1,
          1.25781726111229246e-1, 1.60837851487422766e-2, 6.58749161529837803e-4)
_ERF_Q = (1.0, 2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1,
          6.05183413124413191e-2, 2.33520497626869185e-3)
_SQRT_1_PI = 5.6418958354775628695e-1


def _erf(x):
    """The error function, elementwise (numpy has none, and scipy is not a dependency).

    Each interval's formula is evaluated on inputs clipped into it, so that no branch that
    np.where discards overflows or divides by zero (no warnings); nan passes through."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    y = np.abs(x)
    small = np.minimum(y, 0.46875) ** 2
    near = x * _horner(_ERF_A, small) / _horner(_ERF_B, small)  # (keeps the sign of -0.0)
    mid = np.clip(y, 0.46875, 4.0)
    erfc_mid = np.exp(-mid * mid) * _horner(_ERF_C, mid) / _horner(_ERF_D, mid)
    far = np.maximum(y, 4.0)
    z = 1.0 / (far * far)
    erfc_far = np.exp(-far * far) * (_SQRT_1_PI - z * _horner(_ERF_P, z) / _horner(_ERF_Q, z)) \
        / far
    erfc = np.where(y <= 4.0, erfc_mid, erfc_far)
    return np.where(y <= 0.46875, near, np.copysign((0.5 - erfc) + 0.5, x))


scalar = SimpleNamespace(
    name="scalar",
    exp=_s_exp,
    log=_s_log,
    log1p=lambda x: _s_log(1.0 + x) if x != x or x <= -1.0 else math.log1p(x),
    expm1=lambda x: _s_exp(x) - 1.0 if x > 700.0 or x != x else math.expm1(x),
    sqrt=_s_sqrt,
    tanh=math.tanh,
    sin=_s_trig(math.sin),
    cos=_s_trig(math.cos),
    sigmoid=_s_sigmoid,
    erf=math.erf,
    relu=lambda x: x if (x > 0 or x != x) else 0.0,
    abs=abs,
    sign=_s_sign,
    div=_s_div,
    pow=_s_pow,
    equal=lambda x, y: float(x == y),
    greater=lambda x, y: float(x > y),
    less=lambda x, y: float(x < y),
    where=lambda c, x, y: x if c else y,
    maximum=lambda x, y: x if x > y or x != x else y,
    minimum=lambda x, y: x if x < y or x != x else y,
)


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _reduce_nonempty(fn, name):
    def reduce(x, axis=None, keepdims=False):
        try:
            return fn(x, axis=axis, keepdims=keepdims)
        except ValueError:  # numpy: "zero-size array to reduction operation ..."
            if x.size:
                raise  # not an empty reduction: numpy's words are better than a wrong guess
            raise ValueError(f"{name}: the tensor of shape {x.shape} has size 0 along the "
                             f"reduced axes (no {name}imum)") from None

    return reduce


def _logsumexp(x, axis=-1, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True) if x.size else np.zeros((1,) * x.ndim, x.dtype)
    m = np.where(np.isfinite(m), m, 0)  # all -inf (or inf) along the axis: shift by nothing
    s = np.log(np.add.reduce(np.exp(x - m), axis=axis, keepdims=True)) + m
    return s if keepdims else np.squeeze(s, axis=axis)


_BASIC = (int, np.integer, slice, type(Ellipsis), type(None))


def _softmax(x, axis):
    """``exp(x - max) / sum`` along ``axis``, in one new array (the same operations as the
    composite, in the same order: the same numbers, two temporaries fewer)."""
    e = np.asarray(x - np.maximum.reduce(x, axis=axis, keepdims=True))  # (0-d: a scalar)
    np.exp(e, out=e)
    e /= np.add.reduce(e, axis=axis, keepdims=True)
    return e


def _untake(g, index, shape):
    out = np.zeros(shape, dtype=g.dtype)
    if all(isinstance(i, _BASIC) for i in (index if isinstance(index, tuple) else (index,))):
        out[index] = g  # basic indexing reaches each element at most once
    else:  # any advanced index (an array, a list, a tuple inside the index) can repeat one
        np.add.at(out, index, g)
    return out


def _pad(x, widths, value):
    out = np.full(tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, widths)), value, x.dtype)
    out[tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape, widths))] = x
    return out


def _windows(x, kernel, stride, dilation):
    """The windows over the last ``len(kernel)`` axes, laid out ``(..., *kernel, *positions)``
    (kernel axes first: a convolution is then a reshape and one matmul, with no transpose).
    A copy, not a view: the output never aliases the input."""
    d, lead = len(kernel), x.ndim - len(kernel)
    span = tuple(dl * (k - 1) + 1 for k, dl in zip(kernel, dilation))
    view = sliding_window_view(x, span, axis=tuple(range(lead, x.ndim)))
    view = view[(Ellipsis,) + tuple(slice(None, None, s) for s in stride)
                + tuple(slice(None, None, dl) for dl in dilation)]
    axes = (*range(lead), *range(x.ndim, x.ndim + d), *range(lead, x.ndim))
    return view.transpose(axes).copy()  # (ascontiguousarray would return a contiguous view)


def _unwindows(g, shape, kernel, stride, dilation):
    """The adjoint of ``_windows`` (col2im): every window's entries added back where they were
    read, one strided add per kernel offset."""
    d = len(kernel)
    out = np.zeros(shape, dtype=g.dtype)
    positions = g.shape[g.ndim - d:]
    for ks in itertools.product(*map(range, kernel)):
        at = tuple(slice(k * dl, k * dl + s * (n - 1) + 1, s)
                   for k, dl, s, n in zip(ks, dilation, stride, positions))
        out[(Ellipsis,) + at] += g[(Ellipsis,) + ks + (slice(None),) * d]
    return out


def onehot(labels, n, dtype):
    """Rows of zeros with a 1 at each label."""
    out = np.zeros((len(labels), n), dtype=dtype)
    out[np.arange(len(labels)), labels] = 1
    return out


def _minus_onehot(p, at):
    """``p - onehot(labels)`` for ``at = (arange(n), labels)``, written into ``p``: it is only
    called on an array that the calling rule has just made (one indexed subtraction instead
    of three array operations)."""
    p[at] -= 1
    return p


def _pow(x, y):
    if type(y) is float or type(y) is int:  # numpy's power is ~3x slower than these
        if y == 2:
            return x * x
        if y == 1:
            return +x
    out = np.power(x, y)
    if type(y) is ndarray and y.ndim:
        # numpy takes x ** 0.5 as sqrt(x) for a single exponent but not elementwise (at -inf:
        # nan, and inf); one answer whatever the exponent's shape, the single exponent's
        half = y == 0.5
        if half.any():
            out = np.where(half, np.sqrt(x), out)
    return out


def count(x, axis) -> int:
    """How many elements a reduction over ``axis`` (None, an int or a tuple) takes together."""
    if axis is None:  # (another library's size may be a method: torch's)
        return x.size if type(x) is ndarray else math.prod(x.shape)
    return x.shape[axis] if isinstance(axis, int) else math.prod(x.shape[a] for a in axis)


def _mean(x, axis=None, keepdims=False):
    if x.dtype.char not in "fdg":  # float16 and integers: numpy sums them in a wider type
        return np.mean(x, axis=axis, keepdims=keepdims)
    # ``/``, not np.divide: the sum over all axes is a numpy scalar, and np.divide of a
    # scalar is over ten times the work of its own division
    return np.add.reduce(x, axis=axis, keepdims=keepdims) / count(x, axis)


def _matmul(x, y):
    if x.ndim == 2 and y.ndim == 2:  # the same product; np.dot's dispatch costs half as much
        return np.dot(x, y)
    return np.matmul(x, y)


def _broadcast_to(x, shape):
    out = np.empty(shape, dtype=x.dtype)  # an owned array: the engine need not copy it
    out[...] = x
    return out


numpy_ns = SimpleNamespace(
    name="numpy",
    exp=np.exp,
    log=np.log,
    log1p=np.log1p,
    expm1=np.expm1,
    sqrt=np.sqrt,
    tanh=np.tanh,
    sin=np.sin,
    cos=np.cos,
    sigmoid=_sigmoid,
    erf=_erf,
    relu=lambda x: np.maximum(x, 0),
    abs=np.abs,
    sign=np.sign,
    div=np.divide,
    pow=_pow,
    equal=np.equal,
    greater=np.greater,
    less=np.less,
    where=np.where,
    maximum=np.maximum,
    minimum=np.minimum,
    sum=lambda x, axis=None, keepdims=False: np.add.reduce(x, axis=axis, keepdims=keepdims),
    mean=_mean,
    max=_reduce_nonempty(np.maximum.reduce, "max"),  # the ufunc's own: np.max is 3 calls more
    min=_reduce_nonempty(np.minimum.reduce, "min"),
    reshape=lambda x, shape: x.reshape(shape),  # the methods: np.reshape is ~5x slower
    transpose=lambda x, axes: x.transpose(axes),
    matmul=_matmul,
    broadcast_to=_broadcast_to,
    concatenate=lambda *xs, axis=0: np.concatenate(xs, axis=axis),
    stack=lambda *xs, axis=0: np.stack(xs, axis=axis),
    logsumexp=_logsumexp,
    cast=lambda x, dtype: x.astype(dtype),
    untake=_untake,
    softmax=_softmax,
    pad=_pad,
    windows=_windows,
    unwindows=_unwindows,
    minus_onehot=_minus_onehot,
    arange=np.arange,
)
