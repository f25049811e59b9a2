"""``Tensor``: an array node holding a numpy array, and the array-level functions."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterable, Sequence
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy import ndarray

from . import array_api, backend, ops
from .backend import numpy_ns, quiet_enter, quiet_exit
from .engine import (
    Hooks,
    Node,
    RemovableHandle,
    _counter,
    _sum,
    anomaly_users,
    apply,
    backward,
    hook_users,
    kind_of,
    last_change,
    record_anomaly,
    state,
)
from .operators import ArrayOperators, Operators, outside_the_tape

Axis = int | Sequence[int] | None
_new = object.__new__


def _const(c: Any, what: str) -> Any:
    """A constant operand of a Tensor op: Python scalars stay Python scalars (so float32 data
    stays float32), numpy scalars become Python scalars, sequences become arrays."""
    if type(c) is np.ndarray and c.dtype.kind in "biuf":
        return c
    if isinstance(c, np.generic) and c.dtype.kind in "biuf":
        return c.item()  # np.float64 is a float subclass, but numpy would keep it float64
    if isinstance(c, (bool, int, float)):
        return c
    if array_api.is_foreign(c):
        raise TypeError(f"{what}: cannot mix a {type(c).__module__.split('.')[0]} array of "
                        f"shape {tuple(c.shape)} with numpy tensors; make it a Tensor and move "
                        "one of them with Tensor.to(...)")
    if isinstance(c, (np.ndarray, list, tuple)):
        arr = np.asarray(c)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{what}: unsupported operand: an array of dtype {arr.dtype}")
        return arr
    raise TypeError(f"{what}: unsupported operand type {type(c).__name__} for Tensor")


def _operands(op: Any, args: tuple) -> tuple[tuple, Any, tuple, bool]:
    """An op's arguments with every constant converted (TypeError for what cannot be one),
    their raw values, their versions now, and whether any requires grad."""
    vals: list = []
    saved: list[int | None] = []
    rg = False
    for a in args:
        if isinstance(a, Tensor):
            vals.append(a.data)
            saved.append(a._version[0])
            rg = rg or a._rg
        elif (t := type(a)) is float or t is int or t is ndarray and a.dtype.kind in "biuf":
            vals.append(a)
            saved.append(None)
        else:  # lists, numpy scalars, mistakes: convert them all, once
            kind_of(args)
            args = tuple(a if isinstance(a, Tensor) else _const(a, op.name) for a in args)
            vals = [a.data if isinstance(a, Tensor) else a for a in args]
            saved = [a._version[0] if isinstance(a, Tensor) else None for a in args]
            rg = any(isinstance(a, Tensor) and a._rg for a in args)
            break
    return args, vals, tuple(saved), rg


def _keep_float(op: Any, vals: Sequence) -> Sequence:
    """Integer and bool arrays beside float ones take the float dtype: they never widen a
    float tensor (PyTorch's rule; numpy would make float32 * int64 float64). Inputs that carry
    no gradient (a mask, labels) and custom ops' inputs are left as they are."""
    if any(array_api.is_foreign(v) for v in vals):  # (a foreign array beside numpy ones)
        raise _mixing(op, vals)
    floats = [v.dtype for v in vals if type(v) is ndarray and v.dtype.kind == "f"]
    if not floats or op.custom:
        return vals
    if op is ops.LINEAR and len(set(floats)) > 1:  # a layer: PyTorch's F.linear refuses too
        x, w = vals[0].dtype, vals[1].dtype
        raise TypeError(f"linear: the input is {x} but the weight is {w} (bias {vals[2].dtype});"
                        f" cast the input (x.astype(np.{w})) or the model (model.to(np.{x}))")
    ft = np.result_type(*floats)
    return tuple(v.astype(ft) if type(v) is ndarray and v.dtype.kind in "biu"
                 and i not in op.nondiff else v for i, v in enumerate(vals))


def _shapes(vals) -> str:
    return " and ".join(str(np.shape(v)) for v in vals if isinstance(v, np.ndarray))


def _index(index: Any) -> Any:
    """Tensors and lists inside an index become arrays."""
    if isinstance(index, tuple):
        return tuple(_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data.copy()  # the tape keeps the index as it is now: later changes to
    if isinstance(index, ndarray):  # the index array cannot change the recorded gradient
        return index.copy()
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _is_int(a: Any) -> bool:
    return isinstance(a, (int, np.integer)) and not isinstance(a, bool)


def _axes(axis: Axis, shape: tuple, what: str, ndim: int | None = None
          ) -> tuple[int, ...] | None:
    """``axis`` (None, an int or a sequence of ints) as sorted axes in ``range(ndim)``, for an
    op on a tensor of ``shape`` (``ndim``: the result's dims where the op adds some).

    Out of range or repeated: a ValueError naming the op, the axis and the shape. A 0-d tensor
    takes axis 0 or -1 and gives ``()``, nothing to reduce, as numpy's sum, max and squeeze do
    and every PyTorch reduction."""
    if axis is None:
        return None
    if ndim is None:
        ndim = len(shape)
    axes = (axis,) if _is_int(axis) else tuple(axis) if isinstance(axis, (tuple, list)) else None
    if axes is None or not all(_is_int(a) for a in axes):
        raise TypeError(f"{what}: axis must be an int or a tuple of ints, got {axis!r}")
    n = max(ndim, 1)
    for a in axes:
        if not -n <= a < n:
            result = f" and a result of {ndim} dims" if ndim != len(shape) else ""
            raise ValueError(f"{what}: axis {a} is out of range for a tensor of shape {shape}"
                             f"{result} (valid axes: {-n} to {n - 1})")
    out = sorted(int(a) % n for a in axes)
    if len(set(out)) != len(out):
        raise ValueError(f"{what}: repeated axis in {axis} for a tensor of shape {shape}")
    return tuple(out) if ndim else ()


def _recorded_inplace(t: Any, name: str, other: Any) -> bool:
    """The checks of ``t op= other``: True when grad mode records it as a new node instead
    (the caller rebinds the name); a RuntimeError for a leaf that requires grad."""
    if isinstance(other, Node):
        kind_of((t, other))
    if not state.grad_enabled:
        return False
    if t._rg and t._op is None:
        raise RuntimeError(
            f"{name}: in-place change of a leaf tensor that requires grad; update it "
            "inside `with autograd.no_grad():` (as optimizers do), or rebind the name")
    return bool(t._rg or (isinstance(other, Tensor) and other._rg))


class Tensor(Operators, ArrayOperators, Node):
    """An array on the tape.

    ``Tensor(data, requires_grad=False, dtype=None, label="")`` copies ``data``. Python floats
    give float64; float32 stays float32 through every op; integer and bool tensors exist but
    cannot require grad.
    """

    # _hooks and _post_hooks are set only by registering a hook, _res only by an op that
    # saves a residual (all three read with getattr): the hot paths never touch them
    __slots__ = ("_args", "_params", "_rg", "_version", "_saved", "_scope", "_hooks",
                 "_post_hooks", "_res")
    _res: Any  # what an op's forward kept for its VJP (Op.saves)
    _ns = backend.numpy_ns
    _xp: Any = None  # a foreign array's namespace (a slot of the classes made for them)
    # a subclass with an _xp slot of its own (nn.Parameter) has the layout of its foreign twin,
    # so an object can switch between the two in place (set_data)
    _movable = False

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "_xp" in cls.__dict__.get("__slots__", ()):
            cls._movable = True

    def __new__(cls, data: Any = None, *args: Any, **kw: Any) -> Any:
        # another library's array: the class made for it (its ops run in its namespace)
        if array_api.is_foreign(data.data if isinstance(data, Tensor) else data):
            return object.__new__(_foreign_class(cls))
        return object.__new__(cls)

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None,
                 label: str = "") -> None:
        if isinstance(data, Node):
            if not isinstance(data, Tensor):
                raise TypeError("Tensor: got a Value; use Tensor(v.data)")
            data = data.data
        if isinstance(self, _Foreign):
            self._init_foreign(data, requires_grad, dtype, label)
            return
        try:
            arr = np.array(data, dtype=dtype, copy=True)
        except (TypeError, ValueError) as e:
            raise TypeError(f"Tensor: cannot make an array of {type(data).__name__}: {e}") \
                from None
        if arr.dtype.kind not in "biuf":
            hint = "; Values cannot go in a Tensor" if isinstance(data, (list, tuple)) and any(
                isinstance(d, Node) for d in data) else ""
            raise TypeError(f"Tensor: unsupported dtype {arr.dtype} (numbers expected{hint})")
        self._init_node(arr, label=label)
        self._params = None
        self._version = [0]
        self._saved = None
        self._scope = None
        self._rg = False
        if self._movable:  # its own _xp slot, empty for numpy
            self._xp = None
        self.requires_grad = requires_grad

    @staticmethod
    def _const(c: Any, what: str) -> Any:
        return _const(c, what)

    def _init_foreign(self, data: Any, requires_grad: bool, dtype: Any, label: str) -> None:
        ns = array_api.namespace_of(data)
        xp = ns.xp
        arr = xp.asarray(data, dtype=None if dtype is None else ns.dtype_of(dtype), copy=True)
        if not xp.isdtype(arr.dtype, ("real floating", "integral", "bool")):
            raise TypeError(f"Tensor: unsupported dtype {arr.dtype} (numbers expected)")
        self._init_node(arr, label=label)
        self._xp = ns
        self._params = None
        self._version = [0]
        self._saved = None
        self._scope = None
        self._rg = False
        self.requires_grad = requires_grad

    def to(self, target: Any) -> Tensor:
        """This tensor's values in another array library or on another device, as a new
        leaf: "numpy", "torch", "cupy", "array_api_strict", a namespace module, a library
        and device ("torch:cuda", "cupy:0"), or a device of the tensor's library ("cuda",
        "cpu"); a numpy dtype casts (``astype``)."""
        return _to(self, target)

    def __dlpack__(self, **kw: Any) -> Any:
        # zero-copy export of the data: writes through it bypass the version counter
        return self.data.__dlpack__(**kw)

    def __dlpack_device__(self) -> Any:
        return self.data.__dlpack_device__()

    @staticmethod
    def _apply(op, args, params=None):
        # the inputs' values, their versions now (checked at backward), and whether any
        # requires grad; spelled out for the hot paths: x @ W, x + b, x * 2.0, x.relu()
        vals: Any
        saved: Any
        x = args[0]
        if len(args) == 2 and isinstance(x, Tensor):
            y = args[1]
            if isinstance(y, Tensor):
                vals, saved, rg = (x.data, y.data), (x._version[0], y._version[0]), x._rg or y._rg
                if vals[0].dtype is not vals[1].dtype:
                    vals = _keep_float(op, vals)
            elif (t := type(y)) is float or t is int or t is ndarray and y.dtype.kind in "biuf":
                vals, saved, rg = (x.data, y), (x._version[0], None), x._rg
                if t is ndarray and y.dtype is not x.data.dtype and not op.nondiff:
                    vals = _keep_float(op, vals)
            else:
                args, vals, saved, rg = _operands(op, args)
        elif len(args) == 1 and isinstance(x, Tensor):
            vals, saved, rg = (x.data,), (x._version[0],), x._rg
        elif len(args) == 3 and isinstance(x, Tensor) and isinstance(w := args[1], Tensor) \
                and isinstance(b := args[2], Tensor):  # x @ w + b (nn.Linear)
            vals = (x.data, w.data, b.data)
            saved, rg = (x._version[0], w._version[0], b._version[0]), x._rg or w._rg or b._rg
            if not (vals[0].dtype is vals[1].dtype is vals[2].dtype):
                vals = _keep_float(op, vals)
        else:
            args, vals, saved, rg = _operands(op, args)
            vals = _keep_float(op, vals)
        token = quiet_enter()
        try:
            if op.saves is not None and rg and state.grad_enabled:  # recorded: keep its residual
                data, res = op.saves(numpy_ns, *vals, **(params or {}))
            elif params:
                data = op.forward(numpy_ns, *vals, **params)
            elif len(vals) == 2:  # a star call costs twice as much
                data = op.forward(numpy_ns, vals[0], vals[1])
            else:
                data = op.forward(numpy_ns, *vals)
        except (TypeError, ValueError) as e:  # numpy's words, with the op and the shapes
            if any(array_api.is_foreign(v) for v in vals):  # CuPy beside numpy (same dtypes)
                raise _mixing(op, vals) from None
            if op.custom and isinstance(e, TypeError):
                raise  # most likely a bug in the user's forward: keep its traceback
            msg = str(e) if str(e).startswith(f"{op.name}:") else f"{op.name}: {e}"
            kind = TypeError if isinstance(e, TypeError) else ValueError
            raise kind(f"{msg} (input shapes {_shapes(vals)})") from None
        finally:
            quiet_exit(token)
        if type(data) is not ndarray:
            data = np.asarray(data)
        out = _new(Tensor)
        out.data = data
        out.grad = None
        out.label = ""
        if data.base is None and not op.custom:
            out._version = [0]
        else:  # a view (or a custom op's input itself) shares the version counter of its base
            out._version = _base_version(data, args)
            if out._version[0]:  # the output's version now, for rules that read it
                saved += (out._version[0],)
        out._id = next(_counter)
        if rg and state.grad_enabled and data.dtype.kind == "f":
            out._op, out._args, out._params, out._rg = op, args, params, True
            out._saved = saved
            out._scope = state.scope
            if op.saves is not None:  # (recorded: so the residual was made above)
                out._res = res
            if anomaly_users[0] and state.anomaly:
                record_anomaly(out)
        else:
            out._op, out._args, out._params, out._rg = None, (), None, False
            out._saved = out._scope = None
        return out

    # ----- attributes --------------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if flag and self.data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require grad, not {self.dtype}")
        if not flag and self._op is not None:
            raise RuntimeError("requires_grad can only be turned off on a leaf; use detach()")
        self._rg = bool(flag)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        """Set ``requires_grad`` in place; returns self."""
        self.requires_grad = flag
        return self

    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: _Size(self.data.size))
    dtype = property(lambda self: self.data.dtype)
    T = property(lambda self: self.transpose())
    mT = property(lambda self: self.transpose(*range(self.ndim - 2), self.ndim - 1,
                                              self.ndim - 2))

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def item(self) -> float | int | bool:
        """The single element as a Python number."""
        if self.size != 1:
            raise ValueError(f"item: the tensor has {self.size} elements (size must be 1)")
        return self.data.item()

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(f"bool: the truth value of a tensor of {self.size} elements is "
                             "ambiguous (size must be 1); use .data.any() or .data.all()")
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def numpy(self) -> np.ndarray:
        """A read-only view of the data."""
        view = self.data.view()
        view.flags.writeable = False
        return view

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        # np.asarray(t): the values, read-only, of a tensor outside the graph; one that
        # requires grad would leave the tape silently (PyTorch refuses it too)
        if self._rg:
            raise TypeError(
                f"np.asarray: this Tensor of shape {self.shape} requires grad, and an array of it "
                "would carry no gradient; use t.detach().numpy() (or t.numpy()) for its values")
        cast = dtype is not None and np.dtype(dtype) != self.dtype
        if cast and copy is False:
            raise ValueError("np.asarray: a copy is needed to change the dtype")
        if copy or cast:
            return self.data.astype(self.dtype if dtype is None else dtype)
        return self.numpy()

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        # numpy's functions on tensors: those tapegrad has record on the tape (np.sum(t) is
        # t.sum()), a few that read only shapes run on the values, any other runs on the values
        # of tensors that do not require grad (TypeError otherwise: never an object array)
        ours = _NUMPY_FUNCTIONS.get(func)
        name = f"numpy.{func.__name__}"
        if ours is None:
            return outside_the_tape(name, args, kwargs, func, value_free=func in _SHAPE_ONLY)
        try:
            inspect.signature(ours).bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{name} on a Tensor: {e} (tapegrad's takes "
                            f"{inspect.signature(ours)})") from None
        return ours(*args, **kwargs)

    # ----- PyTorch's names, where they do not clash with numpy's -----------------------------
    def numel(self) -> int:
        """The number of elements (numpy's ``size``)."""
        return self.data.size

    def tolist(self) -> Any:
        """The values as (nested lists of) Python numbers."""
        return self.data.tolist()

    def clone(self) -> Tensor:
        """A copy on the tape: gradients flow back to this tensor (``t * 1``, PyTorch's
        clone); ``detach()`` gives one outside the graph."""
        return self._apply(ops.CAST, (self,), {"dtype": self.dtype}) if self._rg \
            else Tensor(self.data, label=self.label)

    def unsqueeze(self, dim: int) -> Tensor:
        """A new axis of length one at ``dim`` (numpy's ``expand_dims``)."""
        return self.expand_dims(dim)

    def detach(self) -> Tensor:
        """A new leaf sharing data and version counter, outside the graph."""
        out = Tensor.__new__(Tensor)
        out._init_node(self.data, label=self.label)
        out._params = None
        out._rg, out._saved, out._scope = False, None, None
        out._version = self._version
        return out

    def astype(self, dtype: Any) -> Tensor:
        """A differentiable dtype conversion (to an integer dtype it carries no gradient)."""
        return self._apply(ops.CAST, (self,), {"dtype": np.dtype(dtype)})

    def argmax(self, axis: int | None = None) -> Any:
        """Indices of the maxima (a plain array, or an integer for axis=None)."""
        return np.argmax(self.data, axis=axis)

    def argmin(self, axis: int | None = None) -> Any:
        """Indices of the minima (a plain array, or an integer for axis=None)."""
        return np.argmin(self.data, axis=axis)

    # ----- reductions --------------------------------------------------------------------------
    def sum(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (all axes by default)."""
        axes = None if axis is None else _axes(axis, self.data.shape, "sum")
        return self._apply(ops.SUM, (self,), {"axis": axes, "keepdims": keepdims})

    def mean(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis`` (all axes by default); over zero elements it is nan."""
        axes = None if axis is None else _axes(axis, self.data.shape, "mean")
        return self._apply(ops.MEAN, (self,), {"axis": axes, "keepdims": keepdims})

    def max(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """Largest values (ties share the gradient evenly)."""
        return self._apply(ops.MAX, (self,), {"axis": _axes(axis, self.shape, "max"),
                                                 "keepdims": keepdims})

    def min(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """Smallest values (ties share the gradient evenly)."""
        return self._apply(ops.MIN, (self,), {"axis": _axes(axis, self.shape, "min"),
                                                 "keepdims": keepdims})

    def var(self, axis: Axis = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        """Variance (numpy's ``ddof``: 0 by default; ``ddof >= n`` divides by 0, as numpy)."""
        q, s = self._scaled_var(axis, keepdims, ddof, "var")
        return q * s * s  # (q * s) * s: s * s can overflow where the variance does not

    def std(self, axis: Axis = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        """Standard deviation (numpy's ``ddof``: 0 by default); its gradient at zero variance
        is 0, as in PyTorch."""
        q, s = self._scaled_var(axis, keepdims, ddof, "std")
        # at zero variance the root's input is masked too, not only its output: sqrt'(0) = inf
        # times the variance's zero gradient would be nan, at every order
        zero = q.data == 0
        return where(zero, 0.0, where(zero, 1.0, q).sqrt()) * s

    def _scaled_var(self, axis: Axis, keepdims: bool, ddof: int, what: str
                    ) -> tuple[Tensor, np.ndarray]:
        """The variance as ``q * s * s``, where ``s`` is a constant power of two at the size of
        the largest deviation: the squares then overflow (or underflow) only where the result
        does, and elsewhere every result is the unscaled formula's, bit for bit."""
        axes = _axes(axis, self.shape, what)
        n = backend.count(self.data, axes)
        d = self - self.mean(axes, keepdims=True)
        big = np.max(np.abs(d.data), axis=axes, keepdims=True, initial=0)
        e = np.frexp(big)[1] - 1  # big = m * 2 ** (e + 1) with 0.5 <= m < 1: s = 2 ** e <= big
        s = np.where((big > 0) & np.isfinite(big), np.ldexp(np.ones_like(big), e), 1)
        u = d / s
        q = (u * u).sum(axes, keepdims) * (1.0 / (n - ddof) if n > ddof else math.inf)
        return q, s if keepdims else s.reshape(q.shape)

    def logsumexp(self, axis: Axis = -1, keepdims: bool = False) -> Tensor:
        """log(sum(exp(x))) over ``axis``, computed stably."""
        return self._apply(ops.LOGSUMEXP, (self,), {"axis": _axes(axis, self.shape, "logsumexp"),
                                                    "keepdims": keepdims})

    def log_softmax(self, axis: int = -1) -> Tensor:
        """x - logsumexp(x) over ``axis`` (stable)."""
        return _log_softmax(self, _axes(axis, self.shape, "log_softmax"))

    def softmax(self, axis: int = -1) -> Tensor:
        """exp(log_softmax(x)) over ``axis`` (stable)."""
        return _log_softmax(self, _axes(axis, self.shape, "softmax")).exp()

    # ----- shape -------------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        """A tensor with the same data in a new shape (-1 infers one dimension)."""
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = tuple(shape[0])
        return self._apply(ops.RESHAPE, (self,), {"shape": tuple(int(s) for s in shape)})

    def transpose(self, *axes: Any) -> Tensor:
        """Permute the axes (reverse them when none are given), as numpy does."""
        if len(axes) == 1 and not _is_int(axes[0]):
            axes = tuple(axes[0]) if isinstance(axes[0], (tuple, list, ndarray)) else axes
        if not axes:
            axes = tuple(range(self.ndim - 1, -1, -1))
        if not all(_is_int(a) for a in axes):
            raise TypeError(f"transpose: axes must be ints, got {axes}")
        if any(not -self.ndim <= int(a) < self.ndim for a in axes) or \
                sorted(int(a) % self.ndim for a in axes) != list(range(self.ndim)):
            raise ValueError(f"transpose: axes {axes} do not match shape {self.shape}")
        axes = tuple(int(a) % self.ndim for a in axes)
        return self._apply(ops.TRANSPOSE, (self,), {"axes": axes})

    def squeeze(self, axis: Axis = None) -> Tensor:
        """Remove axes of length one."""
        axes = _axes(axis, self.shape, "squeeze")
        if axes is None:
            axes = tuple(i for i, s in enumerate(self.shape) if s == 1)
        if any(self.shape[a] != 1 for a in axes):
            raise ValueError(f"squeeze: an axis in {axis} of shape {self.shape} is not 1")
        return self.reshape(tuple(s for i, s in enumerate(self.shape) if i not in axes))

    def expand_dims(self, axis: int | Sequence[int]) -> Tensor:
        """Insert an axis of length one at ``axis`` (an int or, as in numpy, a tuple: the
        positions in the result)."""
        if axis is None:
            raise TypeError("expand_dims: axis must be an int or a tuple of ints, got None")
        ndim = self.ndim + (len(axis) if isinstance(axis, (tuple, list)) else 1)
        axes = _axes(axis, self.shape, "expand_dims", ndim) or ()
        sizes = iter(self.shape)
        return self.reshape(tuple(1 if i in axes else next(sizes) for i in range(ndim)))

    def flatten(self) -> Tensor:
        """A 1-d tensor of all elements."""
        return self.reshape(-1)

    def clip(self, low: float | None = None, high: float | None = None) -> Tensor:
        """Values limited to [low, high]; the gradient passes inside and at the bounds."""
        inside = np.ones(self.shape, dtype=bool)
        if low is not None:
            inside &= self.data >= low
        if high is not None:
            inside &= self.data <= high
        return where(inside, self, np.clip(self.data, low, high))

    def __getitem__(self, index: Any) -> Tensor:
        return self._apply(ops.GETITEM, (self,), {"index": _index(index)})

    # ----- in-place changes --------------------------------------------------------------------
    def _inplace(self, name: str, other: Any, ufunc: Any) -> Tensor | None:
        if (state.grad_enabled or isinstance(other, Node)) and _recorded_inplace(self, name,
                                                                                  other):
            return None  # the caller records a new node and rebinds the name
        if type(other) is ndarray and other.dtype.kind in "biuf":  # the usual W -= lr * grad
            o = other
        else:
            o = other.data if isinstance(other, Tensor) else _const(other, name)
        data = self.data
        token = quiet_enter()
        try:
            ufunc(data, o, out=data)
        except ValueError as e:
            raise ValueError(f"{name}: {e} (shapes {data.shape} and {np.shape(o)})") from None
        finally:
            quiet_exit(token)
        self.mark_changed()
        return self

    def mark_changed(self) -> None:
        """Call after writing into ``.data`` yourself, so that graphs that saved this tensor
        refuse to backpropagate (as after ``+=`` or ``t[i] = x``): its version goes up."""
        self._version[0] += 1
        last_change[0] = next(_counter)  # when the last change was: backward checks after it

    def __iadd__(self, other: Any) -> Tensor:
        done = self._inplace("+=", other, np.add)
        return self + other if done is None else done

    def __isub__(self, other: Any) -> Tensor:
        done = self._inplace("-=", other, np.subtract)
        return self - other if done is None else done

    def __imul__(self, other: Any) -> Tensor:
        done = self._inplace("*=", other, np.multiply)
        return self * other if done is None else done

    def __itruediv__(self, other: Any) -> Tensor:
        done = self._inplace("/=", other, np.divide)
        return self / other if done is None else done

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(value, Node):
            kind_of((self, value))
        if state.grad_enabled and (self._rg or (isinstance(value, Tensor) and value._rg)):
            raise RuntimeError(
                "setitem: in grad mode, assigning into a tensor that requires grad (or from "
                "one) is not recorded; build the result with where/concatenate, or assign "
                "inside `with autograd.no_grad():`")
        v = value.data if isinstance(value, Tensor) else _const(value, "setitem")
        self.data[_index(index)] = v
        self.mark_changed()

    # ----- backward ----------------------------------------------------------------------------
    def backward(self, grad: Any = None, *, create_graph: bool = False) -> None:
        """Fill ``.grad`` of every tensor this one depends on.

        ``grad`` (the seed) may be omitted only when this tensor has one element; otherwise it
        must have exactly this tensor's shape.
        """
        if grad is None and self.data.size != 1:
            raise RuntimeError(
                f"backward: this tensor has shape {self.shape}; pass a gradient of that shape "
                "(backward(grad)) or reduce it first (e.g. .sum())")
        backward(self, grad, create_graph)

    def register_hook(self, hook: Callable[[Any], Any]) -> RemovableHandle:
        """Call ``hook(grad)`` when backward reaches this tensor, with its complete gradient
        (an array; a Tensor under ``create_graph``); a result that is not None replaces the
        gradient and flows on (same shape and dtype). On a leaf it runs before the gradient
        is accumulated into ``.grad``. Several hooks run in registration order, each given the
        previous one's result. Returns a handle whose ``remove()`` unregisters it (PyTorch's
        ``Tensor.register_hook``; it also runs in ``autograd.grad``)."""
        if not callable(hook):
            raise TypeError(f"register_hook: hook must be callable, got {type(hook).__name__}")
        if not self._rg:
            raise RuntimeError(f"register_hook: this tensor of shape {self.shape} does not "
                               "require grad, so no gradient will reach a hook on it")
        hooks = getattr(self, "_hooks", None)
        if hooks is None:
            hooks = self._hooks = Hooks()
        return RemovableHandle(hooks, hook, hook_users)

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], Any]
                                           ) -> RemovableHandle:
        """Call ``hook(tensor)`` on this leaf after backward has updated its ``.grad`` (say,
        to step an optimizer per parameter). Its result is ignored. RuntimeError on a tensor
        that is not a leaf. Returns a handle whose ``remove()`` unregisters it."""
        if not callable(hook):
            raise TypeError("register_post_accumulate_grad_hook: hook must be callable, got "
                            f"{type(hook).__name__}")
        if self._op is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: post accumulate grad hooks "
                               f"cannot be registered on a non-leaf tensor ('{self._op.name}' "
                               f"of shape {self.shape}): it has no .grad to accumulate")
        if not self._rg:
            raise RuntimeError(f"register_post_accumulate_grad_hook: this tensor of shape "
                               f"{self.shape} does not require grad, so its .grad never changes")
        hooks = getattr(self, "_post_hooks", None)
        if hooks is None:
            hooks = self._post_hooks = Hooks()
        return RemovableHandle(hooks, hook, hook_users)

    def _make_seed(self, seed: Any) -> np.ndarray:
        data = self.data
        if seed is None:  # np.array is ~4x cheaper than np.ones for the usual 0-d seed
            return np.array(1, data.dtype) if data.ndim == 0 else np.ones(data.shape, data.dtype)
        else:
            seed = seed.data if isinstance(seed, Tensor) else np.asarray(seed)
            if seed.shape != self.shape:
                raise ValueError(f"backward: the gradient has shape {seed.shape} but the "
                                 f"tensor has shape {self.shape}; they must match exactly")
        return seed.astype(self.dtype)  # a copy: the caller's array is never written

    def _fix_grad(self, ga: Any, op: Any, g: Any, xp: Any) -> Any:
        """Sum a rule's gradient back to this tensor's shape, check it, cast it, own it."""
        if isinstance(ga, Node):
            if not isinstance(ga, Tensor):
                raise RuntimeError(f"{op.name}: its VJP returned a Value for a Tensor input")
            ga = _unbroadcast(xp, ga, self.shape, np.shape(_raw(g)), op)
            return ga if ga.dtype == self.dtype else ga.astype(self.dtype)
        data = self.data
        if type(ga) is not ndarray:
            ga = np.asarray(ga)
            owned = True
        else:
            owned = not (ga is g or ga.base is not None)
        if ga.shape != data.shape:
            out_shape = g.shape if type(g) is ndarray else np.shape(_raw(g))
            ga = _unbroadcast(numpy_ns, ga, data.shape, out_shape, op)
            owned = True
        if ga.dtype is not data.dtype and ga.dtype != data.dtype:  # (`is` first: != is slow)
            return ga.astype(data.dtype)
        return ga if owned else ga.copy()

    def _check_saved(self) -> None:
        reads = self._op.reads
        v0 = self._saved[-1] if len(self._saved) > len(self._args) else 0
        if "out" in reads and self._version[0] != v0:
            raise RuntimeError(
                f"{self._op.name}: its output of shape {self.shape} was modified in place "
                f"after it was computed (version {v0} when recorded, now {self._version[0]})")
        for i, (a, v) in enumerate(zip(self._args, self._saved)):
            if v is not None and a._version[0] != v and ("inputs" in reads or i in reads):
                raise RuntimeError(
                    f"{self._op.name}: an input of shape {a.shape} that backward needs was "
                    f"modified in place after the op was recorded (version {v} when recorded, "
                    f"now {a._version[0]}); recompute the forward pass after changing it")

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(", threshold=20)
        extra = ""
        if self.dtype != np.float64:
            extra += f", dtype={self.dtype}"
        if self._op is not None:
            extra += f", op={self._op.name}"
        elif self._rg:
            extra += ", requires_grad=True"
        if self.label:
            extra += f", label={self.label!r}"
        return f"Tensor({body}{extra})"


Tensor._kind = Tensor


def _backprop_arrays(heap: list, grads: dict, oldest: int) -> None:
    """``engine.backprop``'s loop for first-order numpy ``Tensor`` graphs when no hook, anomaly
    mode or observer is active: the same replay (versions checked, gradients summed back to
    shape, cast and owned by ``_fix_grad``), minus the branches for what is not asked: they
    cost the seed's small step 1-3% of its time (A/B, fresh processes)."""
    get = grads.get
    need: Any
    vals: Any
    token = quiet_enter()
    try:
        while heap:
            n = heappop(heap)[1]
            if n._id <= oldest:
                break
            op = n._op
            g = grads[n]
            args = n._args
            if last_change[0] > n._id:
                n._check_saved()
            params = n._params
            if op.saves is not None:  # what its forward kept (the numbers its VJP needs)
                params = {**(params or {}), "res": getattr(n, "_res", None)}
            if len(args) == 2:
                a, b = args
                na, nb = isinstance(a, Node), isinstance(b, Node)
                need = (na and a._rg, nb and b._rg)
                if params:  # (cross-entropy's residual)
                    vjps = op.vjp(numpy_ns, g, n.data, need, a.data if na else a,
                                  b.data if nb else b, **params)
                else:
                    vjps = op.vjp(numpy_ns, g, n.data, need, a.data if na else a,
                                  b.data if nb else b)
            else:
                if len(args) == 1:  # the input of a unary op is a node
                    need, vals = (args[0]._rg,), (args[0].data,)
                else:
                    need = tuple([isinstance(a, Node) and a._rg for a in args])
                    vals = [a.data if isinstance(a, Node) else a for a in args]
                if params:
                    vjps = op.vjp(numpy_ns, g, n.data, need, *vals, **params)
                else:
                    vjps = op.vjp(numpy_ns, g, n.data, need, *vals)
            for a, ga, nd in zip(args, vjps, need):
                if not nd or ga is None:
                    continue
                if type(ga) is ndarray and ga.shape == a.data.shape \
                        and ga.dtype is a.data.dtype:
                    if ga is g or ga.base is not None:  # no two nodes share a gradient array
                        ga = ga.copy()
                else:
                    ga = a._fix_grad(ga, op, g, numpy_ns)
                old = get(a)
                if old is None:
                    grads[a] = ga
                    if a._op is not None:
                        heappush(heap, (-a._id, a))
                else:
                    grads[a] = _sum(old, ga)
    finally:
        quiet_exit(token)


Tensor._fast_backprop = staticmethod(_backprop_arrays)


def _raw(x: Any) -> Any:
    return x.data if isinstance(x, Node) else x


def _base_version(data: ndarray, args: tuple) -> list[int]:
    """The version counter an op's output shares: that of the input tensor whose memory it
    views (PyTorch's model: a change through a view is a change of its base, and the other way
    round), or a fresh one."""
    for a in args:
        if isinstance(a, Tensor) and np.may_share_memory(data, a.data):
            return a._version
    return [0]


def _unbroadcast(xp: Any, ga: Any, shape: tuple, out_shape: tuple, op: Any) -> Any:
    """Sum a gradient of a broadcast shape back to the input's ``shape``. Only axes along
    which the op's output broadcast the input may be summed; anything else is a wrong rule."""
    gs = ga.shape
    if gs == shape:
        return ga
    axes, keepdims = _sum_plan(gs, shape, out_shape)
    if axes is None:
        raise RuntimeError(f"{op.name}: its VJP returned a gradient of shape {gs} for an "
                           f"input of shape {shape} (output shape {out_shape})")
    summed = xp.sum(ga, axes, keepdims)
    return summed if summed.shape == shape else xp.reshape(summed, shape)


@functools.lru_cache(maxsize=4096)  # a pure function of three shapes, asked at every step
def _sum_plan(gs: tuple, shape: tuple, out_shape: tuple) -> tuple:
    """The axes of a gradient of shape ``gs`` to sum for an input of ``shape``, and keepdims;
    (None, None) when they would not all be axes the output (``out_shape``) broadcast."""
    lead = len(gs) - len(shape)
    if gs == out_shape and lead > 0 and gs[lead:] == shape:  # a bias: sum the leading axes
        return tuple(range(lead)), False
    skip = len(gs) - len(out_shape)  # output axes aligned from the right
    ok = lead >= 0
    axes = []
    for j in range(len(gs)) if ok else ():
        s = shape[j - lead] if j >= lead else None
        if s is None or (s == 1 and gs[j] != 1):  # summed: must be an axis of the output
            axes.append(j)
            ok = ok and j >= skip and out_shape[j - skip] == gs[j]
        elif s != gs[j]:
            ok = False
    return (tuple(axes), True) if ok else (None, None)


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None, label: str = "") -> Tensor:
    """Same as ``Tensor(...)``."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, label=label)


def zeros(shape: int | Sequence[int], *, dtype: Any = np.float64,
          requires_grad: bool = False) -> Tensor:
    """A tensor of zeros."""
    return Tensor(np.zeros(shape, dtype=dtype), requires_grad=requires_grad)


def ones(shape: int | Sequence[int], *, dtype: Any = np.float64,
         requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    return Tensor(np.ones(shape, dtype=dtype), requires_grad=requires_grad)


def randn(shape: int | Sequence[int], *, seed: int | None = None, dtype: Any = np.float64,
          requires_grad: bool = False) -> Tensor:
    """Standard normal samples from ``numpy.random.default_rng(seed)``."""
    data = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def _log_softmax(x: Tensor, axes: tuple[int, ...] | None) -> Tensor:
    """x - logsumexp(x) over ``axes`` (already checked)."""
    # shifted by the (constant) maximum first, as PyTorch does: exact for equal large rows
    shifted = x
    if x._xp is not None:  # another library: the same shift in its namespace
        xp = x._xp.xp
        m = xp.max(x.data, axis=axes, keepdims=True)
        shifted = x - xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    elif x.size:  # (an empty tensor has no maximum, and needs no shift)
        m = np.max(x.data, axis=axes, keepdims=True)
        shifted = x - np.where(np.isfinite(m), m, 0.0)
    return shifted - shifted.logsumexp(axes, keepdims=True)


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _tensors_or_const(xs: Iterable[Any], what: str) -> list:
    xs = list(xs)
    if not xs:
        raise ValueError(f"{what}: needs at least one tensor")
    return [x if isinstance(x, Node) else _const(x, what) for x in xs]


def _one_axis(axis: Any, shape: tuple, what: str, ndim: int) -> int:
    if not _is_int(axis):
        raise TypeError(f"{what}: axis must be an int, got {axis!r}")
    axes = _axes(axis, shape, what, ndim)
    assert axes is not None  # an int axis gives one
    return axes[0]


def concatenate(tensors: Iterable[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    xs = _tensors_or_const(tensors, "concatenate")
    shape = np.shape(xs[0].data if isinstance(xs[0], Node) else xs[0])
    if not shape and _is_int(axis):
        raise ValueError("concatenate: zero-dimensional tensors (shape ()) cannot be "
                         "concatenated; use stack")
    ax = _one_axis(axis, shape, "concatenate", len(shape))
    return _as_tensor(apply(ops.CONCATENATE, *xs, axis=ax))


def stack(tensors: Iterable[Any], axis: int = 0) -> Tensor:
    """Join tensors along a new axis."""
    xs = _tensors_or_const(tensors, "stack")
    shape = np.shape(xs[0].data if isinstance(xs[0], Node) else xs[0])
    ax = _one_axis(axis, shape, "stack", len(shape) + 1)
    return _as_tensor(apply(ops.STACK, *xs, axis=ax))


def where(condition: Any, x: Any, y: Any) -> Tensor:
    """Elementwise ``x`` where ``condition`` holds, else ``y``. The condition carries no
    gradient. Beware: the gradient of the branch not taken is still computed, so
    ``where(x > 0, log(x), 0)`` at x = 0 gives 0 * inf = nan; mask the input instead:
    ``log(where(x > 0, x, 1))``."""
    if isinstance(condition, Tensor) and state.tracer is not None:  # a mask traced from values:
        c = condition if condition.dtype == bool else condition.astype(bool)  # recorded, as is
        return _as_tensor(apply(ops.WHERE, c, x, y))  # any op on a traced tensor
    c = condition.data if isinstance(condition, Tensor) else condition
    if array_api.is_foreign(c):  # (the tensors' library: copied there, into its namespace)
        ns = array_api.namespace_of(c)
        return _as_tensor(apply(ops.WHERE, ns.xp.asarray(c != 0 if c.dtype != ns.xp.bool
                                                         else c, copy=True), x, y))
    # a copy: the tape keeps the condition as it is now, whatever happens to the caller's array
    return _as_tensor(apply(ops.WHERE, np.array(c, dtype=bool), x, y))


def maximum(x: Any, y: Any) -> Tensor:
    """Elementwise maximum (ties split the gradient evenly)."""
    return _as_tensor(apply(ops.MAXIMUM, x, y))


def minimum(x: Any, y: Any) -> Tensor:
    """Elementwise minimum (ties split the gradient evenly)."""
    return _as_tensor(apply(ops.MINIMUM, x, y))


def linear(x: Any, w: Any, b: Any = None) -> Tensor:
    """``x @ w + b``, recorded as one ``linear`` node (matmul's rule and add's, one tape entry);
    ``x @ w`` when ``b`` is None. ``w`` has shape ``(in, out)``, so this is the formula written
    by hand: PyTorch's ``F.linear`` takes the transpose, a weight of shape ``(out, in)``."""
    run = x._apply if isinstance(x, Tensor) else Tensor._apply  # (a foreign tensor's own)
    if b is None:
        return run(ops.MATMUL, (x, w))
    return run(ops.LINEAR, (x, w, b))


def _ints(v: Any, n: int, low: int, name: str, what: str, shape: tuple) -> tuple[int, ...]:
    """An int, or a sequence of ``n`` ints, each at least ``low``, as a tuple of ``n``."""
    vs = (v,) * n if _is_int(v) else tuple(v) if isinstance(v, (tuple, list)) else None
    if vs is None or not all(_is_int(i) for i in vs):
        raise TypeError(f"{what}: {name} must be an int or a tuple of ints, got {v!r}")
    if len(vs) != n or any(i < low for i in vs):
        raise ValueError(f"{what}: {name} must be {n} ints of at least {low}, got {v!r} (input "
                         f"shape {shape})")
    return tuple(int(i) for i in vs)


def pad(x: Any, widths: Sequence[tuple[int, int]], value: float = 0.0) -> Tensor:
    """``x`` padded with the constant ``value``: ``widths`` holds one ``(before, after)`` pair
    of non-negative ints per axis (numpy's ``pad_width``, in constant mode). The padding
    carries no gradient; its VJP crops."""
    x = _as_tensor(x)
    ws = tuple(tuple(w) if isinstance(w, (tuple, list)) else w for w in widths)
    if len(ws) != x.ndim or not all(isinstance(w, tuple) and len(w) == 2 for w in ws):
        raise ValueError(f"pad: widths must hold one (before, after) pair per axis of the "
                         f"input of shape {x.shape}, got {widths!r}")
    ws = tuple(_ints(w, 2, 0, "each width", "pad", x.shape) for w in ws)
    return x._apply(ops.PAD, (x,), {"widths": ws, "value": value})


def windows(x: Any, kernel: Sequence[int], stride: int | Sequence[int] = 1,
            dilation: int | Sequence[int] = 1) -> Tensor:
    """The sliding windows of ``kernel`` shape over the last ``len(kernel)`` axes of ``x``,
    every ``stride``-th, with the kernel's taps ``dilation`` apart (im2col), laid out
    ``(..., *kernel, *positions)``: the kernel axes come first, so a convolution is a reshape
    and one matmul. A new array, never a view of ``x``; its VJP adds each window's gradient
    back where it was read (col2im), a primitive whose own VJP is this one."""
    x = _as_tensor(x)
    ks = tuple(kernel) if isinstance(kernel, (tuple, list)) else (kernel,)
    d = len(ks)
    if not 1 <= d <= x.ndim:
        raise ValueError(f"windows: a kernel of {d} axes {ks} for an input of shape {x.shape}")
    k = _ints(ks, d, 1, "kernel", "windows", x.shape)
    st = _ints(stride, d, 1, "stride", "windows", x.shape)
    dil = _ints(dilation, d, 1, "dilation", "windows", x.shape)
    span = tuple(dl * (ki - 1) + 1 for ki, dl in zip(k, dil))
    if any(s > n for s, n in zip(span, x.shape[x.ndim - d:])):
        raise ValueError(f"windows: the kernel {k} (dilated: {span}) is bigger than the last "
                         f"axes of the input of shape {x.shape}")
    return x._apply(ops.WINDOWS, (x,), {"kernel": k, "stride": st, "dilation": dil})


_INTP = np.dtype(np.intp)


def class_labels(labels: Any, shape: tuple[int, ...], what: str = "cross_entropy",
                 noun: str = "logits") -> np.ndarray:
    """Class labels (a list, an ndarray or an integer Tensor) for scores of ``shape`` (N, C),
    as an integer array of shape (N,): TypeError for other dtypes, ValueError for another
    shape. Their range is the caller's to check (a loss may ignore one label value)."""
    if isinstance(labels, Tensor):
        lab = labels.data
    elif isinstance(labels, (list, tuple)) and len(labels) == 0:
        lab = np.zeros(0, dtype=np.intp)  # np.asarray([]) would be float64
    else:
        lab = np.asarray(labels)
    if lab.dtype.kind not in "iu":
        raise TypeError(f"{what}: labels must be integers, got dtype {lab.dtype}")
    if lab.shape != shape[:1]:
        raise ValueError(f"{what}: labels of shape {lab.shape} do not match {noun} of shape "
                         f"{shape}; expected shape {shape[:1]}")
    return lab


def _labels(labels: Any, n: int, c: int) -> np.ndarray:
    """Validate class labels for logits of shape (n, c); return them as an index array."""
    if isinstance(labels, Tensor) and state.tracer is not None:
        return state.tracer.labels(labels, n, c)  # traced: the range is checked at every call
    return _label_range(class_labels(labels, (n, c)), c)


def _label_range(lab: np.ndarray, c: int) -> np.ndarray:
    """Integer labels checked to lie in [0, c), as an index array (a copy)."""
    # one reduction checks both ends: seen as unsigned, a negative label is huge; done in the
    # caller's dtype (cast first, a uint64 of 2**63 would be reported as a negative number),
    # with np.uintp named directly for the usual intp labels (a dtype from a string is slower)
    unsigned = np.uintp if lab.dtype is _INTP else lab.dtype.str.replace("i", "u")
    if lab.size and np.maximum.reduce(lab.view(unsigned)) >= c:
        bad = lab[(lab < 0) | (lab >= c)]
        raise ValueError(f"cross_entropy: label {bad[0]} is out of range for {c} classes "
                         f"(valid labels are 0 to {c - 1})")
    return lab.astype(np.intp)  # a copy: the graph keeps labels the caller cannot change


def cross_entropy(z: Any, labels: Any) -> Tensor:
    """Per-sample cross-entropy ``logsumexp(z[i]) - z[i, labels[i]]``, shape ``(N,)``.

    ``z`` holds logits of shape ``(N, C)``; ``labels`` are integers in ``[0, C)`` of shape
    ``(N,)`` (a list, an ndarray or an integer Tensor): TypeError for other dtypes,
    ValueError for another shape or a label out of range. One fused, stable primitive (finite
    and exact at logits of +-1000); its gradient is ``softmax(z) - onehot(labels)``.
    """
    z = _as_tensor(z)
    if z.ndim != 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, C), got {z.shape}")
    if z._xp is not None:
        return z._apply(ops.CROSS_ENTROPY, (z, _foreign_labels(z, labels)))
    return Tensor._apply(ops.CROSS_ENTROPY, (z, _labels(labels, *z.shape)))


def _foreign_labels(z: Tensor, labels: Any) -> Any:
    """Class labels for a foreign tensor's logits: checked on the host (a copy), kept in the
    logits' library and device."""
    lab = labels.data if isinstance(labels, Tensor) else labels
    _label_range(class_labels(_host(lab) if array_api.is_foreign(lab) else lab, z.shape),
                 z.shape[1])
    xp = z._xp.xp
    return xp.astype(z._xp.asarray(lab) if not array_api.is_foreign(lab) else lab, xp.int64,
                     copy=True)


class _Size(int):
    """``Tensor.size``: numpy's property, the number of elements; called as PyTorch's
    ``size()`` it says so instead of "'int' object is not callable"."""

    def __call__(self, *dim: Any) -> Any:
        raise TypeError("Tensor.size is numpy's property, the number of elements (here "
                        f"{int(self)}), not PyTorch's size() method: use .shape for the shape "
                        "(t.shape[d] for one axis), or .numel()")


def _as(a: Any) -> Tensor:
    return a if isinstance(a, Tensor) else Tensor(a)


# numpy's functions that record on the tape, under numpy's parameter names
_NUMPY_FUNCTIONS: dict[Any, Any] = {
    np.sum: lambda a, axis=None, keepdims=False: _as(a).sum(axis, keepdims),
    np.mean: lambda a, axis=None, keepdims=False: _as(a).mean(axis, keepdims),
    np.max: lambda a, axis=None, keepdims=False: _as(a).max(axis, keepdims),
    np.min: lambda a, axis=None, keepdims=False: _as(a).min(axis, keepdims),
    np.var: lambda a, axis=None, ddof=0, keepdims=False: _as(a).var(axis, keepdims, ddof),
    np.std: lambda a, axis=None, ddof=0, keepdims=False: _as(a).std(axis, keepdims, ddof),
    np.reshape: lambda a, shape: _as(a).reshape(shape),
    np.transpose: lambda a, axes=None: _as(a).transpose(*(() if axes is None else (axes,))),
    np.squeeze: lambda a, axis=None: _as(a).squeeze(axis),
    np.expand_dims: lambda a, axis: _as(a).expand_dims(axis),
    np.clip: lambda a, a_min=None, a_max=None: _as(a).clip(a_min, a_max),
    np.concatenate: lambda arrays, axis=0: concatenate(arrays, axis),
    np.stack: lambda arrays, axis=0: stack(arrays, axis),
    np.where: lambda condition, x, y: where(condition, x, y),
}
_NUMPY_FUNCTIONS[np.amax] = _NUMPY_FUNCTIONS[np.max]
_NUMPY_FUNCTIONS[np.amin] = _NUMPY_FUNCTIONS[np.min]
# numpy's functions that read only shapes and dtypes: they run on any tensor
_SHAPE_ONLY = {np.shape, np.ndim, np.size, np.zeros_like, np.ones_like, np.empty_like,
               np.full_like, np.result_type}


# ----- tensors of other array libraries ----------------------------------------------------------
# A Tensor made from a foreign array (PyTorch, CuPy, array-api-strict, ...) is an instance of a
# subclass made here: its ops run in the namespace of autograd.array_api, chosen once from its
# data and kept in the ``_xp`` slot. numpy tensors never see this code (no work on their path).
_VIEWS = frozenset({"reshape", "transpose", "getitem"})  # outputs that may share their input


def _describe(vals: Sequence) -> str:
    """The libraries, devices and shapes of an op's array operands."""
    out = []
    for v in vals:
        if isinstance(v, ndarray):
            out.append(f"numpy {v.shape}")
        elif array_api.is_foreign(v):
            out.append(f"{array_api.library(array_api._compat().array_namespace(v))} on "
                       f"{array_api.device_of(v)} {tuple(v.shape)}")
    return ", ".join(out)


def _mixing(op: Any, vals: Sequence) -> TypeError:
    """The error for an op (or its name) given arrays of several libraries or devices."""
    return TypeError(f"{getattr(op, 'name', op)}: cannot mix arrays of different libraries or "
                     f"devices in one operation ({_describe(vals)}); move them with "
                     "Tensor.to(...) first")


def _foreign_index(ns: Any, index: Any, shape: tuple) -> Any:
    """An index for a foreign array of ``shape``, as the standard takes it: basic indices end
    with an ellipsis (it does not pad a short one, as numpy does); any index with arrays in
    it (numpy's rules: masks, repeats, arrays beside slices) becomes one integer array per
    axis, the coordinates of the elements numpy's index picks (worked out on the host)."""
    parts = index if isinstance(index, tuple) else (index,)
    parts = tuple(i.data if isinstance(i, Tensor) else i for i in parts)
    if all(isinstance(i, backend._BASIC) for i in parts):
        return parts if any(i is Ellipsis for i in parts) else parts + (Ellipsis,)
    host = tuple(_host(i) if array_api.is_foreign(i) else i for i in parts)
    picked = np.arange(math.prod(shape)).reshape(shape)[host]
    return tuple(ns.asarray(c) for c in np.unravel_index(picked, shape))


if TYPE_CHECKING:  # for mypy, the mixin is a Tensor (it is only ever mixed into one)
    _Base = Tensor
else:
    _Base = object


class _Foreign(_Base):
    """The methods of a Tensor over a foreign array that differ from numpy's."""

    __slots__ = ()
    _xp: Any
    _fast_backprop = None  # (numpy's loop: the general one runs in the array's namespace)

    @staticmethod
    def _apply(op: Any, args: tuple, params: Any = None) -> Tensor:
        ns: Any = None
        vals: list = []
        saved: list = []
        rg = False
        for a in args:
            if isinstance(a, Tensor):
                if a._xp is None or (ns is not None and a._xp is not ns):
                    raise _mixing(op, [_raw(b) for b in args])
                ns = a._xp
                vals.append(a.data)
                saved.append(a._version[0])
                rg = rg or a._rg
            else:
                vals.append(a)
                saved.append(None)
        xp = ns.xp
        for i, v in enumerate(vals):  # constants: numbers stay; host arrays are moved over
            if saved[i] is None and not isinstance(v, (bool, int, float)):
                if isinstance(v, np.generic):
                    vals[i] = v.item()
                elif isinstance(v, (ndarray, list, tuple)):
                    vals[i] = ns.asarray(v)
                elif not array_api.is_foreign(v):
                    raise TypeError(f"{op.name}: unsupported operand type {type(v).__name__}")
                elif array_api.namespace_of(v) is not ns:
                    raise _mixing(op, vals)
        floats = [v.dtype for v in vals if hasattr(v, "dtype") and xp.isdtype(v.dtype,
                                                                            "real floating")]
        if floats and not op.custom:  # integers beside floats take the float dtype (PyTorch)
            ft = xp.result_type(*floats)
            vals = [xp.astype(v, ft) if hasattr(v, "dtype") and i not in op.nondiff
                    and not xp.isdtype(v.dtype, "real floating") else v
                    for i, v in enumerate(vals)]
        if params and "index" in params:
            shape = params.get("shape") or tuple(vals[0].shape)
            params = {**params, "index": _foreign_index(ns, params["index"], shape)}
        args = tuple(a if s is not None else v for a, s, v in zip(args, saved, vals))
        try:
            data = op.forward(ns, *vals, **(params or {}))
        except (TypeError, ValueError, IndexError, RuntimeError) as e:
            if op.custom and isinstance(e, TypeError):
                raise
            msg = str(e) if str(e).startswith(f"{op.name}:") else f"{op.name}: {e}"
            kind = TypeError if isinstance(e, TypeError) else ValueError
            raise kind(f"{msg} (inputs {_describe(vals)})") from None
        if not hasattr(data, "dtype"):
            data = ns.asarray(data)
        out: Any = _new(_foreign_class(Tensor))
        out.data = data
        out.grad = None
        out.label = ""
        out._xp = ns
        if op.name in _VIEWS and isinstance(args[0], Tensor):  # maybe a view: PyTorch's rule
            out._version = args[0]._version
            if out._version[0]:
                saved.append(out._version[0])
        else:
            out._version = [0]
        out._id = next(_counter)
        if rg and state.grad_enabled and xp.isdtype(data.dtype, "real floating"):
            out._op, out._args, out._params, out._rg = op, args, params, True
            out._saved = tuple(saved)
            out._scope = state.scope
        else:
            out._op, out._args, out._params, out._rg = None, (), None, False
            out._saved = out._scope = None
        return out

    _ns = property(lambda self: self._xp)  # (a class attribute of numpy tensors)

    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if flag and not self._xp.xp.isdtype(self.data.dtype, "real floating"):
            raise TypeError(f"only floating-point tensors can require grad, not {self.dtype}")
        if not flag and self._op is not None:
            raise RuntimeError("requires_grad can only be turned off on a leaf; use detach()")
        self._rg = bool(flag)

    shape = property(lambda self: tuple(self.data.shape))
    size = property(lambda self: _Size(math.prod(self.data.shape)))

    def numel(self) -> int:
        """The number of elements."""
        return math.prod(self.data.shape)

    @property
    def device(self) -> Any:
        """The device the data lives on."""
        return self._xp.device

    def item(self) -> float | int | bool:
        """The single element as a Python number."""
        if self.size != 1:
            raise ValueError(f"item: the tensor has {self.size} elements (size must be 1)")
        return _host(self.data).item()

    def tolist(self) -> Any:
        """The values as (nested lists of) Python numbers."""
        return _host(self.data).tolist()

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(f"bool: the truth value of a tensor of {self.size} elements is "
                             "ambiguous (size must be 1)")
        return bool(self.item())

    def numpy(self) -> np.ndarray:
        """The values as a read-only host numpy array (a copy where the data is not on the
        CPU)."""
        view = _host(self.data)
        view.flags.writeable = False
        return view

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if self._rg:
            raise TypeError(f"np.asarray: this Tensor of shape {self.shape} requires grad; use "
                            "t.detach().numpy() for its values")
        arr = _host(self.data)
        return arr.astype(dtype) if dtype is not None else arr.copy() if copy else arr

    def detach(self) -> Tensor:
        """A new leaf sharing data and version counter, outside the graph."""
        out: Any = _new(_foreign_class(Tensor))
        out._init_node(self.data, label=self.label)
        out._params = None
        out._rg, out._saved, out._scope = False, None, None
        out._version = self._version
        out._xp = self._xp
        return out

    def argmax(self, axis: int | None = None) -> Any:
        """Indices of the maxima (an array of this tensor's library)."""
        return self._xp.xp.argmax(self.data, axis=axis)

    def argmin(self, axis: int | None = None) -> Any:
        """Indices of the minima (an array of this tensor's library)."""
        return self._xp.xp.argmin(self.data, axis=axis)

    def clip(self, low: float | None = None, high: float | None = None) -> Tensor:
        """Values limited to [low, high]; the gradient passes inside and at the bounds."""
        xp, d = self._xp.xp, self.data
        inside = xp.ones(d.shape, dtype=xp.bool, device=self._xp.device)
        if low is not None:
            inside = inside & (d >= low)
        if high is not None:
            inside = inside & (d <= high)
        return where(inside, self, xp.clip(d, low, high))

    def _scaled_var(self, axis: Axis, keepdims: bool, ddof: int, what: str) -> tuple:
        # no overflow guard here (numpy's frexp has no standard twin): the plain formula
        axes = _axes(axis, self.shape, what)
        n = math.prod(self.shape) if axes is None else math.prod(self.shape[a] for a in axes)
        d = self - self.mean(axes, keepdims=True)
        q = (d * d).sum(axes, keepdims) * (1.0 / (n - ddof) if n > ddof else math.inf)
        return q, 1.0

    def __getitem__(self, index: Any) -> Tensor:
        return self._apply(ops.GETITEM, (self,), {"index": index})  # (converted in _apply)

    def _inplace(self, name: str, other: Any, ufunc: Any) -> Tensor | None:
        if _recorded_inplace(self, name, other):
            return None
        o = other.data if isinstance(other, Tensor) else other
        if isinstance(o, (ndarray, list)):
            o = self._xp.asarray(o)
        data = self.data
        {"+=": data.__iadd__, "-=": data.__isub__, "*=": data.__imul__,
         "/=": data.__itruediv__}[name](o)  # the library's own in-place operator
        self.mark_changed()
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(value, Node):
            kind_of((self, value))
        if state.grad_enabled and (self._rg or (isinstance(value, Tensor) and value._rg)):
            raise RuntimeError("setitem: in grad mode, assigning into a tensor that requires "
                               "grad (or from one) is not recorded; assign inside "
                               "`with autograd.no_grad():`")
        v = value.data if isinstance(value, Tensor) else value
        if isinstance(v, (ndarray, list)):
            v = self._xp.asarray(v)
        self.data[_foreign_index(self._xp, index, self.shape)] = v
        self.mark_changed()

    def backward(self, grad: Any = None, *, create_graph: bool = False) -> None:
        """Fill ``.grad`` of every tensor this one depends on."""
        if grad is None and self.size != 1:
            raise RuntimeError(f"backward: this tensor has shape {self.shape}; pass a gradient "
                               "of that shape (backward(grad)) or reduce it first")
        backward(self, grad, create_graph)

    def _make_seed(self, seed: Any) -> Any:
        ns, data = self._xp, self.data
        if seed is None:
            return ns.xp.ones(data.shape, dtype=data.dtype, device=ns.device)
        seed = seed.data if isinstance(seed, Tensor) else seed
        seed = ns.asarray(seed) if isinstance(seed, (ndarray, list, float, int)) else seed
        if tuple(seed.shape) != self.shape:
            raise ValueError(f"backward: the gradient has shape {tuple(seed.shape)} but the "
                             f"tensor has shape {self.shape}; they must match exactly")
        return ns.xp.astype(seed, data.dtype, copy=True)

    def _fix_grad(self, ga: Any, op: Any, g: Any, xp: Any) -> Any:
        """Sum a rule's gradient back to this tensor's shape, check it, cast it, own it."""
        ns, data = self._xp, self.data
        gshape = tuple(_raw(g).shape) if hasattr(_raw(g), "shape") else ()
        if isinstance(ga, Node):
            if not isinstance(ga, Tensor):
                raise RuntimeError(f"{op.name}: its VJP returned a Value for a Tensor input")
            ga = _unbroadcast(xp, ga, self.shape, gshape, op)
            return ga if ga.dtype == data.dtype else ga.astype(np.dtype(str(data.dtype)
                                                                       .split(".")[-1]))
        if not hasattr(ga, "shape"):  # a number: the same everywhere
            ga = ns.xp.full(data.shape, ga, dtype=data.dtype, device=ns.device)
        owned = ga is not g
        if tuple(ga.shape) != self.shape:
            ga = _unbroadcast(ns, ga, self.shape, gshape, op)
            owned = True
        if ga.dtype != data.dtype:
            return ns.xp.astype(ga, data.dtype)
        return ga if owned else ns.xp.asarray(ga, copy=True)

    def to(self, target: Any) -> Tensor:
        """This tensor's values in another library or on another device (a new leaf, outside
        the graph): "numpy", "torch", "cupy", "array_api_strict", a namespace module, a
        library and device ("torch:cuda"), or a device of this tensor's library ("cuda",
        "cpu", a device object)."""
        return _to(self, target)

    def __dlpack__(self, **kw: Any) -> Any:
        return self.data.__dlpack__(**kw)

    def __dlpack_device__(self) -> Any:
        return self.data.__dlpack_device__()

    def __repr__(self) -> str:
        body = np.array2string(_host(self.data), separator=", ", prefix="Tensor(",
                               threshold=20)
        extra = f", library={self._xp.library!r}, device={str(self._xp.device)!r}"
        if self._op is not None:
            extra += f", op={self._op.name}"
        elif self._rg:
            extra += ", requires_grad=True"
        return f"Tensor({body}, dtype={self.dtype}{extra})"


def _host(data: Any) -> np.ndarray:
    """A foreign array's values as a host numpy array (zero-copy where DLPack allows)."""
    try:
        return np.from_dlpack(data)
    except (RuntimeError, TypeError, BufferError, ValueError):  # on a GPU: copy it over
        get = getattr(data, "get", None)  # CuPy
        if get is not None:
            return get()
        return data.cpu().numpy() if hasattr(data, "cpu") else np.asarray(data)


_foreign_classes: dict[type, type] = {}


def _foreign_class(cls: type) -> type:
    """The subclass of ``cls`` (Tensor, nn.Parameter, ...) for foreign arrays, made once."""
    if issubclass(cls, _Foreign):
        return cls
    fc = _foreign_classes.get(cls)
    if fc is None:
        slots = () if getattr(cls, "_movable", False) else ("_xp",)  # (set_data)
        fc = type(cls.__name__, (_Foreign, cls), {"__slots__": slots,
                                                  "__module__": cls.__module__,
                                                  "__qualname__": cls.__qualname__})
        _foreign_classes[cls] = fc
        fc._kind = _foreign_class(Tensor) if cls is not Tensor else fc  # type: ignore[attr-defined]
    return fc


def set_data(t: Tensor, data: Any) -> None:
    """Put ``data``, an array of any library, into ``t`` in place (PyTorch's
    ``p.data = new``): ``t`` keeps its identity, requires_grad, label and hooks, and its class
    switches between the numpy class and the library's twin. Only a class with an ``_xp`` slot
    of its own (such as ``nn.Parameter``) can switch; ``Module.to`` moves parameters with
    this. Graphs that saved ``t`` refuse to backpropagate afterwards (its version goes up)."""
    cls = type(t)
    base = cls.__bases__[1] if issubclass(cls, _Foreign) else cls
    if not getattr(base, "_movable", False):
        raise TypeError(f"set_data: a {base.__name__} cannot change library in place (its "
                        "class has no _xp slot); make a new tensor with .to(...)")
    foreign = array_api.is_foreign(data)
    if not foreign and type(data) is not ndarray:
        raise TypeError(f"set_data: expected an array (numpy's or another library's), got "
                        f"{type(data).__name__}")
    t.__class__ = _foreign_class(base) if foreign else base
    t._xp = array_api.namespace_of(data) if foreign else None
    t.data = data
    t.mark_changed()


def _to(t: Tensor, target: Any) -> Tensor:
    """``t.to(target)``: see ``Tensor.to``."""
    if isinstance(target, np.dtype) or (isinstance(target, type) and issubclass(target,
                                                                               np.generic)):
        return t.astype(target)
    ns = t._xp
    if target == "numpy" or target is np:
        return Tensor(_host(t.data) if ns is not None else t.data, label=t.label)
    lib = target if isinstance(target, str) else getattr(target, "__name__", None)
    if isinstance(lib, str) and lib.partition(":")[0].split(".")[-1] in (
            "torch", "cupy", "array_api_strict", "jax.numpy", "numpy"):
        dst = array_api.namespace_for(target)
    elif ns is not None:  # a device of this tensor's library
        dst = array_api.namespace_for(ns.xp, target)
    else:
        raise ValueError(f"to: unknown library or device {target!r} for a numpy tensor "
                         "(use 'torch', 'cupy', 'array_api_strict' or a namespace module)")
    data = t.data
    if dst.library == (ns.library if ns is not None else "numpy"):
        moved = dst.xp.asarray(data, device=dst.device, copy=True) if ns is not None \
            else dst.asarray(data)
    else:
        try:  # across libraries: DLPack, then a copy to the target device
            moved = dst.xp.from_dlpack(data)
            moved = dst.xp.asarray(moved, device=dst.device, copy=True)
        except (RuntimeError, TypeError, BufferError, ValueError, AttributeError):
            moved = dst.asarray(_host(data))
    return Tensor(moved, label=t.label)


def from_dlpack(x: Any) -> Tensor:
    """A Tensor over any DLPack-exporting array (zero-copy where the library allows): its
    data is ``x``'s own memory, so a write to ``x`` changes it, unseen by version counters."""
    if isinstance(x, ndarray) or type(x).__module__ == "numpy":
        arr = np.from_dlpack(x)
    else:
        ns = array_api.namespace_of(x)
        arr = ns.xp.from_dlpack(x)
    out = Tensor.__new__(Tensor, arr)
    Tensor.__init__(out, arr)
    out.data = arr  # no copy: DLPack's promise
    return out
