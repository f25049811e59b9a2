"""``Value``: a scalar node holding a Python float."""

from __future__ import annotations

from heapq import heappop, heappush
from typing import Any

import numpy as np

from . import backend
from .backend import scalar
from .engine import (
    Node,
    _counter,
    anomaly_users,
    backward,
    kind_of,
    record_anomaly,
    state,
)
from .operators import Operators


class _Many:
    """``Value._y`` when an op has other than two inputs (``Value._x`` is then their tuple, or
    None under no_grad): one object, also after copying or unpickling a Value."""

    __slots__ = ()

    def __reduce__(self) -> str:
        return "MANY"  # copy and pickle hand back the module's own MANY

    def __repr__(self) -> str:
        return "MANY"


MANY = _Many()


_NUMBER = (int, float, np.integer, np.floating)
_new = object.__new__


def _scalar(c: Any, what: str) -> float:
    if type(c) is float:
        return c
    if isinstance(c, _NUMBER):
        return float(c)
    if isinstance(c, np.ndarray):
        raise TypeError(f"{what}: a Value cannot take a numpy array (shape {c.shape}); use "
                        "autograd.Tensor for arrays")
    raise TypeError(f"{what}: unsupported operand type {type(c).__name__} for Value "
                    "(int, float or a numpy real scalar expected)")


def _slow_forward(op, args, params):
    """Forward for any other arguments: subclasses, ints, numpy scalars, mistakes."""
    if params:
        raise TypeError(f"{op.name}: a Value op takes no parameters (got {sorted(params)}); "
                        "use Tensor for reductions and shape operations")
    kind_of(args)
    args = tuple(a if isinstance(a, Value) else _scalar(a, op.name) for a in args)
    vals = [a.data if isinstance(a, Value) else a for a in args]
    return args, op.forward(scalar, *vals)


class Value(Operators, Node):
    """A scalar on the tape: ``.data`` is a float, ``.grad`` a float (0.0 until reached).

    Arithmetic is IEEE float64: ``log(0) = -inf``, ``1/0 = inf``, ``sqrt(-1) = nan``; it never
    raises and never gives a complex number.
    """

    # the inputs of a two-input op (nearly all) in two slots, not a tuple: in graphs of 10^5
    # scalars, one tracked object per node instead of two halves the cyclic GC's work
    __slots__ = ("_x", "_y")
    _grad0 = 0.0
    _ns = backend.scalar
    _scalar = True
    _params = None  # scalar ops take no parameters

    @property
    def _args(self) -> tuple | None:
        y = self._y
        return self._x if y is MANY else (self._x, y)

    @_args.setter
    def _args(self, args: tuple | None) -> None:
        if args is not None and len(args) == 2:
            self._x, self._y = args
        else:
            self._x, self._y = args, MANY

    def __init__(self, data: float, label: str = "") -> None:
        self._init_node(_scalar(data, "Value"), label=label)

    @staticmethod
    def _const(c: Any, what: str) -> float:
        return _scalar(c, what)

    @staticmethod
    def _apply(op, args, params=None):
        if len(args) == 2 and not params:  # the hot path: x * y, x + 1.0 ...
            x, y = args
            tx, ty = type(x), type(y)
            if (tx is Value or tx is float) and (ty is Value or ty is float):
                data = op.forward(scalar, x.data if tx is Value else x,
                                  y.data if ty is Value else y)
            else:
                (x, y), data = _slow_forward(op, args, params)
        elif len(args) == 1 and type(args[0]) is Value and not params:
            data = op.forward(scalar, args[0].data)
            x, y = args, MANY
        else:
            args, data = _slow_forward(op, args, params)
            x, y = args if len(args) == 2 else (args, MANY)
        if type(data) is not float:
            data = _scalar(data, op.name)
        out = _new(Value)
        out.data = data
        out.grad = 0.0
        out.label = ""
        out._id = next(_counter)
        if state.grad_enabled:
            out._op, out._x, out._y = op, x, y
            if anomaly_users[0] and state.anomaly:
                record_anomaly(out)
        else:  # _args None marks "computed under no_grad": such a Value has no history
            out._op, out._x, out._y = None, None, MANY
        return out

    def backward(self, *, create_graph: bool = False) -> None:
        """Fill ``.grad`` of every value this one depends on (seed: 1.0)."""
        if self._args is None:
            raise RuntimeError("backward: this Value was computed under no_grad, so it has no "
                               "history; compute it in grad mode")
        backward(self, 1.0, create_graph)

    def _make_seed(self, seed: float) -> float:
        return 1.0

    def _fix_grad(self, ga, op, g, xp):
        if isinstance(ga, Value):
            return ga
        try:
            return _scalar(ga if not isinstance(ga, np.ndarray) or ga.shape else ga.item(),
                           op.name)
        except TypeError:
            raise RuntimeError(f"{op.name}: its VJP returned {type(ga).__name__} "
                               f"{getattr(ga, 'shape', '')} for a Value input") from None

    def _check_saved(self) -> None:
        pass  # a Value never changes in place

    def __float__(self) -> float:
        return self.data

    def __bool__(self) -> bool:
        return self.data != 0

    def __repr__(self) -> str:
        label = f", label={self.label!r}" if self.label else ""
        g = f"{self.grad:.6g}" if type(self.grad) is float else repr(self.grad)
        return f"Value(data={self.data:.6g}, grad={g}{label})"


Value._kind = Value


def _backprop_floats(heap: list, grads: dict, oldest: int) -> None:
    """``engine.backprop``'s loop for first-order ``Value`` graphs: the same replay, minus what
    floats never need (versions, casting, un-broadcasting, ownership), because scalar graphs are
    big and slow. Every rule returns one float (or None) per input: built-in rules by
    construction, custom ones because ``primitive``'s wrapper checks them.

    Two-input ops (nearly every scalar node) are unrolled: a tuple and a ``zip`` per node cost
    ~20% of this loop."""
    get = grads.get
    xp = backend.scalar
    while heap:
        n = heappop(heap)[1]
        if n._id <= oldest:
            break
        op = n._op
        y = n._y
        if y is not MANY:
            x = n._x
            nx, ny = isinstance(x, Node), isinstance(y, Node)  # every Value needs its gradient
            gx, gy = op.vjp(xp, grads[n], n.data, (nx, ny), x.data if nx else x,
                            y.data if ny else y)
            if nx and gx is not None:
                old = get(x)
                if old is None:
                    grads[x] = gx
                    if x._op is not None:
                        heappush(heap, (-x._id, x))
                else:
                    grads[x] = old + gx
            if ny and gy is not None:
                old = get(y)
                if old is None:
                    grads[y] = gy
                    if y._op is not None:
                        heappush(heap, (-y._id, y))
                else:
                    grads[y] = old + gy
            continue
        args = n._x if y is MANY else (n._x, y)
        if len(args) == 1:  # a unary op's input is always a Value
            vjps = op.vjp(xp, grads[n], n.data, _ONE, args[0].data)
        else:
            need = [isinstance(a, Node) for a in args]
            vjps = op.vjp(xp, grads[n], n.data, need, *[a.data if nd else a
                                                        for a, nd in zip(args, need)])
        for a, ga in zip(args, vjps):
            if ga is None or not isinstance(a, Node):
                continue  # constants get no gradient
            old = get(a)
            if old is None:
                grads[a] = ga
                if a._op is not None:
                    heappush(heap, (-a._id, a))
            else:
                grads[a] = old + ga


_ONE = (True,)


Value._fast_backprop = staticmethod(_backprop_floats)
