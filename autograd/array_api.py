"""Array libraries beyond numpy: the raw namespace that forwards and VJPs receive for them.

A ``Tensor`` may hold the array of any library of the Python array API standard (PyTorch,
CuPy, array-api-strict, ...). Its rules then run in the namespace built here from
``array_api_compat.array_namespace`` plus what the standard lacks (scatter-add with repeated
indices, erf, sliding windows, a stable sigmoid and logsumexp), under the same names as
``backend.numpy_ns``. One namespace per library and device, made once and cached.

numpy arrays never come here: ``backend.numpy_ns`` keeps its fast paths. ``array_api_compat``
is needed only when a foreign array is used (the ``backends`` extra).
"""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace
from typing import Any

import numpy as np

from . import backend

_LIBRARIES = ("torch", "cupy", "array_api_strict", "jax", "jaxlib", "dask", "sparse", "ndonnx")
_cache: dict[Any, SimpleNamespace] = {}


def is_foreign(data: Any) -> bool:
    """Whether ``data`` is an array of a library other than numpy (a standard array)."""
    t = type(data)
    if t is np.ndarray or t.__module__ in ("builtins", "numpy"):
        return False
    return hasattr(t, "__array_namespace__") or t.__module__.split(".")[0] in _LIBRARIES


def library(xp: Any) -> str:
    """A namespace's library name: "numpy", "torch", "cupy", "array_api_strict", ..."""
    if isinstance(xp, SimpleNamespace):  # one of ours
        return xp.library
    name = xp.__name__
    return {"array_api_compat.torch": "torch", "array_api_compat.cupy": "cupy",
            "array_api_compat.numpy": "numpy"}.get(name, name.split(".")[0])


def _compat() -> Any:
    try:
        import array_api_compat
    except ImportError:  # pragma: no cover - the backends extra is installed for the tests
        raise ImportError("tapegrad: arrays of libraries other than numpy need array-api-compat"
                          " (pip install array-api-compat)") from None
    return array_api_compat


def device_of(data: Any) -> Any:
    """The device an array lives on, as its library names it."""
    return _compat().device(data)


def namespace_of(data: Any) -> SimpleNamespace:
    """The raw namespace for the foreign array ``data`` (cached per library and device)."""
    compat = _compat()
    dev = compat.device(data)
    key = (type(data), str(dev))
    ns = _cache.get(key)
    if ns is None:
        ns = _cache[key] = make_namespace(compat.array_namespace(data), dev)
    return ns


def namespace_for(name_or_module: Any, device: Any = None) -> SimpleNamespace:
    """The raw namespace of a library given by name ("torch", "cupy", "array_api_strict",
    or "library:device" such as "torch:cuda", "cupy:0") or by its namespace module, on
    ``device`` (the library's default when None)."""
    if isinstance(name_or_module, str):
        import importlib
        name, _, dev = name_or_module.partition(":")
        mod = importlib.import_module(name)
        device = dev or device
    else:
        mod = name_or_module
    if device is None or getattr(mod, "__name__", "").split(".")[-1] == "array_api_strict":
        return namespace_of(mod.zeros(1))
    if getattr(mod, "__name__", "").startswith("cupy"):  # CuPy's devices are contexts
        import cupy  # type: ignore[import-not-found]
        with cupy.cuda.Device(int(getattr(device, "id", device))):
            return namespace_of(cupy.zeros(1))
    return namespace_of(mod.zeros(1, device=device))


def make_namespace(xp: Any, dev: Any) -> SimpleNamespace:
    """The namespace over the arrays of the standard namespace ``xp`` on device ``dev``."""
    lib = library(xp)

    def asarray(v: Any, dtype: Any = None) -> Any:
        return xp.asarray(v, dtype=dtype, device=dev)

    def dtype_of(np_dtype: Any) -> Any:
        return getattr(xp, np.dtype(np_dtype).name)

    def array_like(v: Any, like: Any) -> Any:
        """A Python scalar as a 0-d array of ``like``'s dtype (standard functions want
        arrays; operators take scalars)."""
        if isinstance(v, (bool, int, float)):
            return xp.asarray(v, dtype=like.dtype, device=dev)
        return v

    def floats(b: Any, like: Any) -> Any:
        # masks are 0/1 in the float dtype, as the scalar namespace gives them: the standard
        # has no arithmetic on booleans (numpy does it silently)
        dt = like.dtype if hasattr(like, "dtype") and xp.isdtype(like.dtype, "real floating") \
            else xp.float64
        return xp.astype(b, dt)

    def compare(fn: Any) -> Any:
        def f(x: Any, y: Any) -> Any:
            like = x if hasattr(x, "dtype") else y
            return floats(fn(x, y), like)
        return f

    def where(c: Any, x: Any, y: Any) -> Any:
        like = x if hasattr(x, "dtype") else y if hasattr(y, "dtype") else None
        if like is None:
            like = xp.asarray(0.0, dtype=xp.float64, device=dev)
        if not (hasattr(c, "dtype") and c.dtype == xp.bool):
            c = asarray(c) if not hasattr(c, "dtype") else c
            c = c != 0 if c.dtype != xp.bool else c
        return xp.where(c, array_like(x, like), array_like(y, like))

    def binary(fn: Any) -> Any:
        def f(x: Any, y: Any) -> Any:
            if not hasattr(x, "dtype"):
                x = array_like(x, y)
            elif not hasattr(y, "dtype"):
                y = array_like(y, x)
            return fn(x, y)
        return f

    def pow_(x: Any, y: Any) -> Any:
        if type(y) is float or type(y) is int:
            if y == 2:
                return x * x
            if y == 1:
                return +x
            if y == 0.5:  # numpy's x ** 0.5 is sqrt(x)
                return xp.sqrt(x)
        return binary(xp.pow)(x, y)

    def sigmoid(x: Any) -> Any:
        e = xp.exp(-xp.abs(x))
        return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))

    def reduce_nonempty(fn: Any, name: str) -> Any:
        def reduce(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
            if math.prod(x.shape) == 0:
                raise ValueError(f"{name}: the tensor of shape {tuple(x.shape)} has size 0 "
                                 f"along the reduced axes (no {name}imum)")
            return fn(x, axis=axis, keepdims=keepdims)
        return reduce

    def squeeze(s: Any, axis: Any) -> Any:
        if axis is None:
            return xp.reshape(s, ())
        return xp.squeeze(s, axis=axis)

    def logsumexp(x: Any, axis: Any = -1, keepdims: bool = False) -> Any:
        if math.prod(x.shape):
            m = xp.max(x, axis=axis, keepdims=True)
            m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
        else:
            m = xp.zeros((1,) * x.ndim, dtype=x.dtype, device=dev)
        s = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
        return s if keepdims else squeeze(s, axis)

    def softmax(x: Any, axis: Any) -> Any:
        e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
        return e / xp.sum(e, axis=axis, keepdims=True)

    def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return xp.sum(x, axis=axis, keepdims=keepdims) / backend.count(_Shape(x), axis)

    def broadcast_to(x: Any, shape: tuple) -> Any:
        # a copy: the engine owns every gradient it stores (a view of g could be written)
        return xp.asarray(xp.broadcast_to(array_like(x, x), tuple(shape)), copy=True)

    def untake(g: Any, index: Any, shape: tuple) -> Any:
        out = xp.zeros(tuple(shape), dtype=g.dtype, device=dev)
        parts = index if isinstance(index, tuple) else (index,)
        if all(isinstance(i, backend._BASIC) for i in parts):
            out[index] = g  # basic indexing reaches each element at most once
            return out
        # advanced: the flat positions the index read, then one scatter-add (repeats add up)
        n = math.prod(shape)
        at = xp.reshape(xp.reshape(xp.arange(n, device=dev), tuple(shape))[index], (-1,))
        flat = scatter_add(xp.reshape(out, (-1,)), at, xp.reshape(g, (-1,)))
        return xp.reshape(flat, tuple(shape))

    def pad(x: Any, widths: Any, value: float) -> Any:
        shape = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, widths))
        out = xp.full(shape, value, dtype=x.dtype, device=dev)
        out[tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape, widths))] = x
        return out

    def windows(x: Any, kernel: tuple, stride: tuple, dilation: tuple) -> Any:
        d, lead = len(kernel), x.ndim - len(kernel)
        span = [dl * (k - 1) + 1 for k, dl in zip(kernel, dilation)]
        positions = [(n - s) // st + 1 for n, s, st in zip(x.shape[lead:], span, stride)]
        pieces = []
        for ks in itertools.product(*map(range, kernel)):  # one strided slice per offset
            at = tuple(slice(k * dl, k * dl + st * (p - 1) + 1, st)
                       for k, dl, st, p in zip(ks, dilation, stride, positions))
            pieces.append(x[(Ellipsis,) + at])
        w = xp.reshape(xp.stack(pieces, axis=0), (*kernel, *x.shape[:lead], *positions))
        return xp.permute_dims(w, (*range(d, d + lead), *range(d), *range(d + lead, 2 * d + lead)))

    def unwindows(g: Any, shape: tuple, kernel: tuple, stride: tuple, dilation: tuple) -> Any:
        d = len(kernel)
        out = xp.zeros(tuple(shape), dtype=g.dtype, device=dev)
        positions = g.shape[g.ndim - d:]
        for ks in itertools.product(*map(range, kernel)):
            at = (Ellipsis,) + tuple(slice(k * dl, k * dl + s * (n - 1) + 1, s)
                                     for k, dl, s, n in zip(ks, dilation, stride, positions))
            out[at] = out[at] + g[(Ellipsis,) + ks + (slice(None),) * d]
        return out

    def minus_onehot(p: Any, at: Any) -> Any:
        labels = at[1]
        hot = labels[:, None] == xp.arange(p.shape[1], device=dev)[None, :]
        return p - xp.astype(hot, p.dtype)

    def scatter_add(out: Any, at: Any, values: Any) -> Any:
        return SCATTER_ADD.get(lib, _scatter_add_host)(xp, out, at, values)

    ns = _Namespace(
        name=lib,
        library=lib,
        device=dev,
        xp=xp,
        asarray=asarray,
        dtype_of=dtype_of,
        exp=xp.exp, log=xp.log, log1p=xp.log1p, expm1=xp.expm1, sqrt=xp.sqrt, tanh=xp.tanh,
        sin=xp.sin, cos=xp.cos, abs=xp.abs, sign=xp.sign,
        sigmoid=sigmoid,
        erf=ERF.get(lib, lambda xp_: _erf)(xp),
        relu=lambda x: xp.maximum(x, xp.zeros_like(x)),
        div=lambda x, y: x / y,
        pow=pow_,
        equal=compare(binary(xp.equal)),
        greater=compare(binary(xp.greater)),
        less=compare(binary(xp.less)),
        where=where,
        maximum=binary(xp.maximum),
        minimum=binary(xp.minimum),
        sum=lambda x, axis=None, keepdims=False: xp.sum(x, axis=axis, keepdims=keepdims),
        mean=mean,
        max=reduce_nonempty(xp.max, "max"),
        min=reduce_nonempty(xp.min, "min"),
        reshape=lambda x, shape: xp.reshape(x, tuple(shape)),
        transpose=lambda x, axes: xp.permute_dims(x, tuple(axes)),
        matmul=xp.matmul,
        broadcast_to=broadcast_to,
        concatenate=lambda *xs, axis=0: xp.concat(list(xs), axis=axis),
        stack=lambda *xs, axis=0: xp.stack(list(xs), axis=axis),
        logsumexp=logsumexp,
        cast=lambda x, dtype: xp.astype(x, dtype_of(dtype), copy=True),
        untake=untake,
        softmax=softmax,
        pad=pad,
        windows=windows,
        unwindows=unwindows,
        minus_onehot=minus_onehot,
        arange=lambda n: xp.arange(n, device=dev),
        scatter_add=scatter_add,
    )
    from . import engine, ops
    ops._complete(ns, engine.registry.values())  # every other op, as its own forward
    return ns


class _Namespace(SimpleNamespace):
    """One library's namespace on one device, made once: tensors share it (``_apply`` tells
    libraries apart by identity), so a copy of a tensor or a model keeps it."""

    def __copy__(self) -> _Namespace:
        return self

    def __deepcopy__(self, memo: dict) -> _Namespace:
        return self


class _Shape:
    """Just a shape, for ``backend.count``."""

    def __init__(self, x: Any) -> None:
        self.shape = tuple(x.shape)
        self.size = math.prod(self.shape)


# ----- what the standard lacks, per library ---------------------------------------------------
def _scatter_add_torch(xp: Any, out: Any, at: Any, values: Any) -> Any:
    return out.index_put_((at,), values, accumulate=True)


def _scatter_add_cupy(xp: Any, out: Any, at: Any, values: Any) -> Any:
    import cupyx  # type: ignore[import-not-found]
    cupyx.scatter_add(out, at, values)
    return out


def _scatter_add_host(xp: Any, out: Any, at: Any, values: Any) -> Any:
    # any other CPU library: through host numpy and back (DLPack both ways)
    host = np.from_dlpack(out).copy()
    np.add.at(host, np.from_dlpack(at), np.from_dlpack(values))  # type: ignore[arg-type]
    return xp.asarray(host, device=_compat().device(out))


SCATTER_ADD = {"torch": _scatter_add_torch, "cupy": _scatter_add_cupy}


def _erf_torch(xp: Any) -> Any:
    import torch  # type: ignore[import-not-found]
    return torch.special.erf


def _erf_cupy(xp: Any) -> Any:
    from cupyx.scipy.special import erf  # type: ignore[import-not-found]
    return erf


ERF = {"torch": _erf_torch, "cupy": _erf_cupy}


def _erf(x: Any) -> Any:
    """Cody's rational approximations (backend._erf), written with the standard functions."""
    xp = _compat().array_namespace(x)

    def horner(coefs: tuple, v: Any) -> Any:
        out = coefs[0] + 0 * v
        for c in coefs[1:]:
            out = out * v + c
        return out

    y = xp.abs(x)
    small = xp.minimum(y, xp.asarray(0.46875, dtype=x.dtype)) ** 2
    near = x * horner(backend._ERF_A, small) / horner(backend._ERF_B, small)
    mid = xp.clip(y, 0.46875, 4.0)
    erfc_mid = xp.exp(-mid * mid) * horner(backend._ERF_C, mid) / horner(backend._ERF_D, mid)
    far = xp.maximum(y, xp.asarray(4.0, dtype=x.dtype))
    z = 1.0 / (far * far)
    erfc_far = xp.exp(-far * far) * (backend._SQRT_1_PI - z * horner(backend._ERF_P, z)
                                     / horner(backend._ERF_Q, z)) / far
    erfc = xp.where(y <= 4.0, erfc_mid, erfc_far)
    return xp.where(y <= 0.46875, near, xp.copysign((0.5 - erfc) + 0.5, x))
