"""The tape as code: ``trace`` runs a function once and records everything it computes (the
forward pass, the backward pass its ``backward``/``grad`` calls run, the in-place updates and
an optimizer's ``step``) as a plain numpy program; ``compile`` caches one per signature.

One mechanism: while a trace is open in a thread, the entry points of the engine (``Tensor``'s
and ``Value``'s op application, in-place operators, ``backward``, ``detach``, the comparisons,
``.data`` and ``.grad``) are swapped for recording versions (so eager code pays nothing for
this module), and every primitive appends ``(op, parameters, input slots, output slot)`` to
the program. The backward pass is recorded
as ``create_graph`` records it: the op table's VJPs run on nodes. Each op prints itself with
its ``code`` fact, so the printed program is the program that runs (``Program.source``).
The swap is process-wide while a trace is open: other threads then take the entry points'
plain paths (their own ``state.tracer`` is None), with the same results, a little slower.

Python numbers and numpy arrays that ``f`` reads from outside are constants of the program
(their values when traced, as in ``jax.jit``): pass them as arguments, or hold them in a
Tensor, to have them read at every call.

A ``Value`` function becomes a straight-line float program. Inside it ``v.data`` of a traced
Value is a stand-in Value (its arithmetic is recorded) and ``v.data = ...`` is a recorded
write, so micrograd's ``p.data -= lr * p.grad`` replays; ``float()``, ``bool()`` and
comparisons of a traced Value raise (a Value has no ``where`` for a mask to feed).

Never a silently baked value: a value computed from a traced input is either recorded or read
by Python, and a read raises ``TraceError`` naming the user's line: ``.data``, ``item()``,
``float()``, ``bool()`` (a Python branch), ``numpy()``, ``np.asarray``, a ``.grad`` computed
before the trace. Tensors that existed before the trace (parameters, captured tensors) are the
program's state: read afresh at every call, so they count as traced too. Comparisons become
recorded ops, so masks (``where(x > 0, ...)``) are part of the program.
"""

from __future__ import annotations

import builtins
import functools
import inspect
import keyword
import re
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy import ndarray

from . import backend, engine, functional, ops
from . import value as value_module
from .engine import Node, Op, state
from .tensor import Tensor
from .value import Value

tensor_module = sys.modules[Tensor.__module__]  # (autograd.tensor is also a function's name)

__all__ = ["trace", "compile", "Program", "TraceError", "records_step"]

_DATA = Node.__dict__["data"]  # the slots themselves: this module reads values unguarded
_GRAD = Node.__dict__["grad"]
_ID = Node.__dict__["_id"]
_new = object.__new__
RETRACE_WARNING = 4  # compile warns when one function has been traced more than this often


class TraceError(RuntimeError):
    """A traced function read a value that is only known when the program runs."""


def _user_line() -> str:
    """The first frame outside autograd, nn and this module: the user's line."""
    f = sys._getframe(1)
    while f is not None:
        name = f.f_globals.get("__name__", "")
        if not engine._hidden(name):
            return f"{f.f_code.co_filename}:{f.f_lineno}"
        f = f.f_back  # type: ignore[assignment]
    return "<unknown>"


def _read_error(obj: Any, what: str) -> TraceError:
    desc = f"a tensor of shape {_DATA.__get__(obj).shape}" if isinstance(obj, Tensor) else "a Value"
    return TraceError(
        f"{what} of {desc} inside a traced function (autograd.trace/compile), at "
        f"{_user_line()}: its value is only known when the program runs, so reading it here "
        "would bake this call's number into every later call. Keep the computation in tensor "
        "operations (comparisons and where are recorded), return the tensor and read it "
        "outside, or call the function without compile")


# ----- a trace in progress ---------------------------------------------------------------------
class _Var:
    """One value of the program: an input, a state tensor, an old .grad, or an op's output.
    ``scalar``: a Value's float (printed as float Python), not an array."""

    __slots__ = ("kind", "obj", "shape", "dtype", "index", "scalar")

    def __init__(self, kind: str, obj: Any, shape: tuple, dtype: Any, index: int,
                 scalar: bool = False) -> None:
        self.kind, self.obj, self.shape, self.dtype, self.index = kind, obj, shape, dtype, index
        self.scalar = scalar


_F64 = np.dtype(np.float64)


class _Tracer:
    def __init__(self) -> None:
        self.start = next(engine._counter)  # nodes older than this are state, read live
        self.vars: list[_Var] = []
        self.var_of: dict[int, int] = {}  # id(tensor) -> var index (the tensors are kept)
        self.keep: list[Any] = []
        self.instrs: list[tuple] = []
        self.consts: list[Any] = []
        self.const_names: dict[int, str] = {}  # const index -> label of the tensor it came from
        self.cells: list[Any] = []  # state tensors and Values, in order of first use
        self.cell_vars: list[int] = []  # their vars (a Value's var_of moves when written)
        self.data_set: dict[int, Value] = {}  # Values whose .data f assigned
        self.grad_in: dict[int, int] = {}  # id(tensor) -> var of its .grad read at entry
        self.guards: dict[int, tuple[Any, bool]] = {}  # id -> (tensor, .grad was None)
        self.value_guards: dict[int, tuple[Any, bool]] = {}  # id -> (Value, .grad was 0.0)
        self.grad_set: dict[int, Any] = {}  # tensors whose .grad f assigned
        self.written: dict[int, Tensor] = {}  # state tensors changed in place
        self.grad_of: dict[int, Node] = {}  # var of a gradient -> the node it is for (names)
        self.reads_ok = 0  # > 0 while library code known to read only what it records runs

    # which tensors carry traced values
    def is_live(self, obj: Any) -> bool:
        if id(obj) in self.var_of:
            return True
        try:
            return _ID.__get__(obj) < self.start  # state: it existed before the trace
        except AttributeError:  # a node being built
            return False

    def var(self, kind: str, obj: Any, shape: tuple, dtype: Any, scalar: bool = False) -> int:
        v = len(self.vars)
        self.vars.append(_Var(kind, obj, shape, dtype, v, scalar))
        if obj is not None:
            self.var_of[id(obj)] = v
            self.keep.append(obj)
        return v

    def alias(self, obj: Any, v: int) -> None:
        self.var_of[id(obj)] = v
        self.keep.append(obj)

    def var_of_tensor(self, t: Any) -> int:
        """The var of a live tensor (or Value), registering a state one at its first use."""
        v = self.var_of.get(id(t))
        if v is None:
            if isinstance(t, Value):
                v = self.var("cell", t, (), _F64, scalar=True)
            else:
                data = _DATA.__get__(t)
                _numpy_only(data)
                v = self.var("cell", t, data.shape, data.dtype)
            self.cells.append(t)
            self.cell_vars.append(v)
        return v

    # Values: a straight-line float program
    def ref_value(self, a: Any, what: str) -> tuple:
        """A Value op's argument: a var, or a float literal (a Value made in f from
        constants, or a number converted as eager converts it)."""
        if isinstance(a, Node):
            if self.is_live(a):
                return ("v", self.var_of_tensor(a))
            return ("k", _DATA.__get__(a))
        return ("k", a if type(a) is float else value_module._scalar(a, what))

    def stand_in(self, v: Value) -> Value:
        """A leaf Value standing for a traced Value's float: ``v.data`` inside a trace, and
        the gradients a first-order backward hands out. Arithmetic on it is recorded; Python
        reading its number (float, bool, comparisons) raises TraceError."""
        out = _leaf_value(_DATA.__get__(v))
        self.alias(out, self.var_of_tensor(v))
        return out

    def write_value(self, target: Value, value: Any) -> None:
        """``target.data = value``: the program assigns it at every call (``p.data -= lr *
        p.grad`` under no_grad, micrograd's update); later reads see the new value."""
        if isinstance(value, Node) and self.is_live(value):
            if not isinstance(value, Value):
                raise TypeError(f"Value.data: cannot assign a {type(value).__name__}")
            v = self.var_of_tensor(value)
            f = _DATA.__get__(value)
        else:
            f = _DATA.__get__(value) if isinstance(value, Value) else \
                value_module._scalar(value, "Value.data")
            holder = _leaf_value(f)
            v = self.var("op", holder, (), _F64, scalar=True)
            self.instrs.append(("op", _FLOAT, {}, [("k", f)], v, [None]))
        self.alias(target, v)
        self.data_set[id(target)] = target
        _DATA.__set__(target, f)

    def const(self, value: Any, name: str = "") -> tuple:
        self.consts.append(value)
        if name:
            self.const_names[len(self.consts) - 1] = name
        return ("c", len(self.consts) - 1)

    def ref(self, a: Any, what: str) -> tuple:
        """An op's argument as the program sees it: a var, a literal or a constant."""
        if isinstance(a, Tensor):
            if self.is_live(a):
                return ("v", self.var_of_tensor(a))
            return self.const(_DATA.__get__(a), str(a.label))  # made in f from constants
        if isinstance(a, Node):
            raise _read_error(a, "using a Value that existed before the trace")
        if type(a) is float or type(a) is int or type(a) is bool:
            return ("k", a)
        c = tensor_module._const(a, what)
        return ("k", c) if isinstance(c, (bool, int, float)) else self.const(c)

    def read_grad(self, t: Tensor) -> Any:
        """``t.grad`` for the library (backward's sum, an optimizer): None, a traced tensor, or
        a tensor standing for the gradient ``t`` held when the program was called."""
        g = _GRAD.__get__(t)
        if g is None or isinstance(g, Node) and id(g) in self.var_of:
            if id(t) not in self.grad_set:
                self.guards.setdefault(id(t), (t, g is None))
            return g
        if not self.is_live(t) or not isinstance(g, ndarray):
            return g
        self.guards.setdefault(id(t), (t, False))
        v = self.grad_in.get(id(t))
        if v is None:
            holder = _new(Tensor)
            holder._init_node(g)
            holder._params, holder._rg, holder._saved, holder._scope = None, False, None, None
            holder._version = [0]
            v = self.grad_in[id(t)] = self.var("gradin", holder, g.shape, g.dtype)
            self.vars[v].obj = (holder, t)
            return holder
        return self.vars[v].obj[0]

    def read_value_grad(self, v: Value) -> Any:
        """A Value's ``.grad`` from before the trace: 0.0 (eager's backward skips adding it:
        the program assumes 0.0 again, a guard), or else an input read at every call."""
        g = _GRAD.__get__(v)
        if type(g) is not float:
            raise TraceError(f"reading .grad of a Value, at {_user_line()}: it holds a "
                             f"{type(g).__name__} from before the trace (create_graph?); "
                             "set it inside the traced function (p.grad = 0.0)")
        self.value_guards.setdefault(id(v), (v, g == 0.0))
        if g == 0.0:
            return g
        w = self.grad_in.get(id(v))
        if w is None:
            holder = _leaf_value(g)
            w = self.grad_in[id(v)] = self.var("gradin", holder, (), _F64, scalar=True)
            self.vars[w].obj = (holder, v)
            self.var_of[id(holder)] = w
            return holder
        return self.vars[w].obj[0]

    def labels(self, labels: Tensor, n: int, c: int) -> Any:
        """Class labels for cross_entropy: a traced tensor's range is checked by the program
        at every call (a recorded op), its dtype and shape now."""
        data = _DATA.__get__(labels)
        if not self.is_live(labels):
            return tensor_module._labels(data, n, c)
        tensor_module._labels(np.zeros(data.shape, data.dtype), n, max(c, 1))  # their errors
        return _run_op(self, _LABELS, (labels,), {"classes": c},
                       [("v", self.var_of_tensor(labels))])

    def detached(self, t: Tensor, copy: bool) -> Tensor:
        """A leaf holding a traced tensor's value (the gradient eager backward stores)."""
        if copy:
            src = self.var_of[id(t)]
            out = _run_op(self, _COPY, (t,), {"dtype": None}, [("v", src)])
            return out
        self.reads_ok += 1
        try:
            out = _orig["detach"](t)
        finally:
            self.reads_ok -= 1
        self.alias(out, self.var_of[id(t)])
        return out


# ----- the recording versions of the engine's entry points ---------------------------------------
_orig: dict[str, Any] = {}
_COPY = Op("copy", lambda xp, x, *, dtype=None: np.array(x, dtype=dtype, copy=True),
           ops._no_vjp, reads=(), code=lambda p, a: "np.array({0})" if p["dtype"] is None
           else f"np.array({{0}}, dtype={ops._lit(np.dtype(p['dtype']))})")


_LABELS = Op("check_labels", lambda xp, labels, *, classes: tensor_module._label_range(
    labels, classes), ops._no_vjp, reads=(), nondiff=(0,), code="check_labels({0}, {classes})")
_HELPERS = {"check_labels": tensor_module._label_range}  # what ops print as a plain call
# the cross-entropy from the parts of the softmax its backward computes: a program that runs
# both shares them (the fused forward's own operations, in its order: the same bits)
_CE_PARTS = Op("cross_entropy", lambda xp, zs, total, labels: xp.log(xp.reshape(
    total, (len(labels),))) - zs[xp.arange(len(labels)), labels], ops._no_vjp, reads=(),
    nondiff=(0, 1, 2), code="np.log({1}[:, 0]) - {0}[np.arange(len({1})), {2}]")
# a float written into a Value's .data (a literal of the program)
_FLOAT = Op("float", lambda xp, x: x, ops._no_vjp, reads=(), code="{0}")
# the masks of Values' VJPs (relu's, abs's, pow's): floats 0.0 and 1.0, as backend.scalar's
_SCALAR_MASKS = {
    "greater": Op("greater", lambda xp, x, y: xp.greater(x, y), ops._no_vjp, reads=(),
                  nondiff=(0, 1)),
    "less": Op("less", lambda xp, x, y: xp.less(x, y), ops._no_vjp, reads=(), nondiff=(0, 1)),
    "equal": Op("equal", lambda xp, x, y: xp.equal(x, y), ops._no_vjp, reads=(),
                nondiff=(0, 1)),
    "sign": Op("sign", lambda xp, x: xp.sign(x), ops._no_vjp, reads=(), nondiff=(0,))}


def _run_op(tr: _Tracer, op: Op, args: tuple, params: dict | None, refs: list) -> Tensor:
    """Run ``op`` eagerly (its value and its node, as without a trace) and record it."""
    vals = [_DATA.__get__(a) if isinstance(a, Tensor) else r[1] if r[0] == "k"
            else tr.consts[r[1]] for a, r in zip(args, refs)]
    kept = tensor_module._keep_float(op, vals)
    casts = [k.dtype if k is not v else None for k, v in zip(kept, vals)]
    tr.reads_ok += 1
    try:
        if op is _COPY:
            out = _orig["detach"](args[0])  # a leaf: Tensor(x) copies and starts a new graph
            out.data = np.array(_DATA.__get__(args[0]), dtype=(params or {})["dtype"])
        else:
            out = _orig["_apply"](op, args, params)
    finally:
        tr.reads_ok -= 1
    data = _DATA.__get__(out)
    v = tr.var("op", out, data.shape, data.dtype)
    tr.instrs.append(("op", op, params or {}, refs, v, casts))
    return out


def _traced_apply(op: Op, args: tuple, params: dict | None = None) -> Any:
    tr = state.tracer
    if tr is None or not any(isinstance(a, Node) and tr.is_live(a) for a in args):
        return _orig["_apply"](op, args, params)  # constants in, a constant out
    refs = [tr.ref(a, op.name) for a in args]
    return _run_op(tr, op, args, params, refs)


def _traced_value_apply(op: Op, args: tuple, params: dict | None = None) -> Any:
    tr = state.tracer
    if tr is None or not any(isinstance(a, Node) and tr.is_live(a) for a in args):
        return _orig["value_apply"](op, args, params)
    refs = [tr.ref_value(a, op.name) for a in args]
    tr.reads_ok += 1
    try:
        out = _orig["value_apply"](op, args, params)
    finally:
        tr.reads_ok -= 1
    v = tr.var("op", out, (), _F64, scalar=True)
    tr.instrs.append(("op", op, params or {}, refs, v, [None] * len(refs)))
    return out


def _traced_init(self: Tensor, data: Any, requires_grad: bool = False, dtype: Any = None,
                 label: str = "") -> None:
    tr = state.tracer
    if tr is None or not (isinstance(data, Tensor) and tr.is_live(data)):
        return _orig["__init__"](self, data, requires_grad, dtype, label)
    tr.reads_ok += 1
    try:
        _orig["__init__"](self, data, requires_grad, dtype, label)
    finally:
        tr.reads_ok -= 1
    v = tr.var("op", self, _DATA.__get__(self).shape, _DATA.__get__(self).dtype)
    tr.instrs.append(("op", _COPY, {"dtype": None if dtype is None else np.dtype(dtype)},
                      [("v", tr.var_of_tensor(data))], v, [None]))
    return None


def _traced_detach(self: Tensor) -> Tensor:
    tr = state.tracer
    if tr is None or not tr.is_live(self):
        return _orig["detach"](self)
    tr.reads_ok += 1
    try:
        out = _orig["detach"](self)
    finally:
        tr.reads_ok -= 1
    tr.alias(out, tr.var_of_tensor(self))  # the same array: no line of the program
    return out


def _traced_inplace(self: Tensor, name: str, other: Any, ufunc: Any) -> Tensor | None:
    tr = state.tracer
    other_live = isinstance(other, Node) and tr is not None and tr.is_live(other)
    if tr is None or not (tr.is_live(self) or other_live):
        return _orig["_inplace"](self, name, other, ufunc)
    if not tr.is_live(self):
        raise TraceError(f"{name}: writes a traced value into a tensor made inside the traced "
                         f"function from constants, at {_user_line()}; compute a new tensor "
                         "instead (x = x + y)")
    target = tr.var_of_tensor(self)
    ref = tr.ref(other, name)
    tr.reads_ok += 1
    try:
        done = _orig["_inplace"](self, name, other, ufunc)
    finally:
        tr.reads_ok -= 1
    if done is not None:  # (None: grad mode, the caller records x + y and rebinds the name)
        tr.instrs.append(("inplace", name, target, ref))  # (name: "+=", "-=", "*=", "/=")
        if tr.vars[target].kind in ("cell", "arg"):
            tr.written[id(self)] = self
    return done


def _traced_backward(self: Tensor, grad: Any = None, *, create_graph: bool = False) -> None:
    tr = state.tracer
    if tr is None or not tr.is_live(self):
        return _orig["backward"](self, grad, create_graph=create_graph)
    if grad is None and self.size != 1:
        raise RuntimeError(
            f"backward: this tensor has shape {self.shape}; pass a gradient of that shape "
            "(backward(grad)) or reduce it first (e.g. .sum())")
    if isinstance(grad, Tensor) and tr.is_live(grad):  # a traced seed stays a traced value
        if grad.shape != self.shape:
            raise ValueError(f"backward: the gradient has shape {grad.shape} but the tensor "
                             f"has shape {self.shape}; they must match exactly")
        seed: Any = grad if grad.dtype == self.dtype else grad.astype(self.dtype)
    else:
        seed = self._make_seed(grad)
    grads = engine.backprop(self, seed, create_graph)  # (the recording backprop below)
    if create_graph:
        grads = {n: g if isinstance(g, Node) else n._kind(g) for n, g in grads.items()}
    for n, g in grads.items():  # as engine.backward: leaves accumulate, through read_grad
        if n._op is None:
            old = tr.read_grad(n)
            if old is not None:
                g = engine._sum(old, g)
        n.grad = g
    return None


def _traced_backprop(root: Node, seed: Any, create_graph: bool = False, oldest: int = -1,
                     observe: Callable | None = None) -> dict:
    tr = state.tracer
    if tr is None or observe is not None or not tr.is_live(root):
        return _orig["backprop"](root, seed, create_graph, oldest, observe)
    # recorded as create_graph records it; a first-order pass hands out leaves, as eager's
    # arrays are: nothing later in f can backpropagate into them
    grads = _orig["backprop"](root, seed, True, oldest)
    for n, g in grads.items():  # names for the program: the gradient of y_pred is dy_pred
        if isinstance(g, Node) and id(g) in tr.var_of and n.label:
            tr.grad_of.setdefault(tr.var_of[id(g)], n)
    if not create_graph:
        seen: set[int] = set()
        for n, g in grads.items():
            if isinstance(g, Tensor) and tr.is_live(g):
                v = tr.var_of_tensor(g)
                grads[n] = tr.detached(g, copy=v in seen or g is seed)
                seen.add(v)
            elif isinstance(g, Tensor):
                grads[n] = _DATA.__get__(g)
            elif isinstance(g, Value):  # (floats never alias: no copies)
                grads[n] = tr.stand_in(g) if tr.is_live(g) else _DATA.__get__(g)
    return grads


_DUNDER = {">": "__gt__", ">=": "__ge__", "<": "__lt__", "<=": "__le__", "==": "__eq__",
           "!=": "__ne__"}


def _comparison(symbol: str) -> Callable:
    op = ops.COMPARISONS[symbol]
    orig = getattr(Tensor, _DUNDER[symbol])

    def compare(self: Tensor, other: Any) -> Any:
        tr = state.tracer
        if tr is None or not (tr.is_live(self) or isinstance(other, Node) and tr.is_live(other)):
            return orig(self, other)
        self._cmp(other) if not isinstance(other, Node) else None  # its type errors
        if isinstance(other, Node) and not isinstance(other, Tensor):
            raise TypeError(f"cannot compare {type(self).__name__} and {type(other).__name__}")
        return Tensor._apply(op, (self, other))

    return compare


def _value_comparison(symbol: str) -> Callable:
    orig = getattr(Value, _DUNDER[symbol])

    def compare(self: Value, other: Any) -> Any:
        tr = state.tracer
        if tr is not None and (tr.is_live(self) or isinstance(other, Node)
                               and tr.is_live(other)):
            raise _read_error(self, f"comparing ({symbol})")  # Value has no where to feed
        return orig(self, other)

    return compare


def _value_read(name: str, what: str) -> Callable:
    orig = getattr(Value, name)

    def read(self: Value) -> Any:
        tr = state.tracer
        if tr is not None and not tr.reads_ok and tr.is_live(self):
            raise _read_error(self, what)
        return orig(self)

    return read


def _traced_value_repr(self: Value) -> str:
    tr = state.tracer
    if tr is None or not tr.is_live(self):
        return _orig["value_repr"](self)
    return "Value(<traced>)"


def _node_mask(name: str, op: Op) -> Callable:
    orig = getattr(ops.node_ns, name)
    scalar_op = _SCALAR_MASKS[name]

    def mask(*xs: Any) -> Any:
        tr = state.tracer
        if tr is None:
            return orig(*xs)
        if any(isinstance(x, Tensor) and tr.is_live(x) for x in xs):
            return Tensor._apply(op, xs)
        if any(isinstance(x, Value) and tr.is_live(x) for x in xs):
            return Value._apply(scalar_op, xs)
        return orig(*xs)

    return mask


def _node_minus_onehot(p: Any, at: tuple) -> Any:
    tr = state.tracer
    labels = at[1]
    if tr is None or not (isinstance(labels, Tensor) and tr.is_live(labels)):
        return _orig["minus_onehot"](p, at)
    # traced labels: the one-hot rows are a recorded comparison (p - 1 where it holds)
    hit = Tensor._apply(ops.COMPARISONS["=="], (labels.reshape(-1, 1), np.arange(p.shape[1])))
    return p - hit


def _node_where(c: Any, x: Any, y: Any) -> Any:
    tr = state.tracer
    if tr is not None and isinstance(c, Node) and tr.is_live(c):
        return engine.apply(ops.WHERE, c, x, y)  # a traced mask stays an input, not a value
    return _orig["where"](c, x, y)


# reading .data: allowed in the library functions that read only shapes and dtypes, or values
# they record; anywhere else a traced value is being read by Python
def _allowed_codes() -> set:
    fns = [engine.backprop, Tensor._fix_grad, Tensor._make_seed, Tensor._check_saved,
           Tensor.sum, Tensor.mean, tensor_module._raw, ops._broadcast_to,
           tensor_module.concatenate, tensor_module.stack,  # (the first input's shape)
           Tensor.__dict__["requires_grad"].fset]
    props = [Tensor.shape.fget, Tensor.ndim.fget, Tensor.size.fget, Tensor.dtype.fget]
    return {f.__code__ for f in fns + props}


_ALLOWED: set = set()


def _get_data(self: Node) -> Any:
    v = _DATA.__get__(self)
    tr = state.tracer
    if tr is not None and not tr.reads_ok and tr.is_live(self) \
            and sys._getframe(1).f_code not in _ALLOWED:
        if isinstance(self, Value):  # a traced float: arithmetic on it is recorded
            return tr.stand_in(self)
        raise _read_error(self, f"reading the value ({sys._getframe(1).f_code.co_name})")
    return v


def _set_data(self: Node, value: Any) -> None:
    tr = state.tracer
    if tr is not None and not tr.reads_ok and isinstance(self, Value) and \
            (tr.is_live(self) or isinstance(value, Node) and tr.is_live(value)):
        return tr.write_value(self, value)
    if tr is not None and not tr.reads_ok and tr.is_live(self):
        raise TraceError(f"assigning .data of a traced tensor, at {_user_line()}: the program "
                         "would not repeat it; change it with an in-place operator under "
                         "no_grad (w -= lr * g), which is recorded")
    _DATA.__set__(self, value)


def _get_grad(self: Node) -> Any:
    g = _GRAD.__get__(self)
    tr = state.tracer
    if tr is None or tr.reads_ok or g is None and not tr.is_live(self):
        return g
    if isinstance(self, Value):
        if id(self) in tr.grad_set or _ID.__get__(self) >= tr.start:
            return g  # set in f, or a Value of f's own
        return tr.read_value_grad(self)
    if g is None or isinstance(g, Node) and tr.is_live(g):
        if id(self) not in tr.grad_set:  # a branch on `.grad is None` is guarded
            tr.guards.setdefault(id(self), (self, g is None))
        return g
    if tr.is_live(self):
        raise TraceError(
            f"reading .grad of a tensor of shape {_DATA.__get__(self).shape}, at "
            f"{_user_line()}: it holds a gradient computed before the trace, which the "
            "program would bake in; clear it inside the traced function before backward "
            "(opt.zero_grad(), p.grad = None)")
    return g


def _set_grad(self: Node, value: Any) -> None:
    tr = state.tracer
    if tr is not None and tr.is_live(self):
        tr.grad_set[id(self)] = self
    _GRAD.__set__(self, value)


def _traced_repr(self: Tensor) -> str:
    tr = state.tracer
    if tr is None or not tr.is_live(self):
        return _orig["__repr__"](self)
    return f"Tensor(<traced>, shape={self.shape}, dtype={self.dtype})"


def _no_array(self: Tensor, *args: Any, **kwargs: Any) -> Any:
    tr = state.tracer
    if tr is not None and tr.is_live(self):
        raise _read_error(self, "converting to a numpy array (np.asarray)")
    return _orig["__array__"](self, *args, **kwargs)


_lock = threading.Lock()
_open = [0]  # traces open in any thread: the entry points are swapped while one is


def _swap_in() -> None:
    with _lock:
        _open[0] += 1
        if _open[0] > 1:
            return
        if not _orig:
            _orig.update(_apply=Tensor._apply, __init__=Tensor.__init__, detach=Tensor.detach,
                         _inplace=Tensor._inplace, backward=Tensor.backward,
                         backprop=engine.backprop, __repr__=Tensor.__repr__,
                         __array__=Tensor.__dict__.get("__array__"),
                         where=ops.node_ns.where, minus_onehot=ops.node_ns.minus_onehot,
                         value_apply=Value._apply, value_float=Value.__float__,
                         value_bool=Value.__bool__, value_repr=Value.__repr__,
                         **{f"node_{n}": getattr(ops.node_ns, n)
                            for n in ("greater", "less", "equal", "sign")})
            _ALLOWED.update(_allowed_codes())
        Tensor._apply = staticmethod(_traced_apply)  # type: ignore[method-assign]
        Tensor.__init__ = _traced_init  # type: ignore[method-assign]
        Tensor.detach = _traced_detach  # type: ignore[method-assign]
        Tensor._inplace = _traced_inplace  # type: ignore[method-assign]
        Tensor.backward = _traced_backward  # type: ignore[method-assign]
        Tensor.__repr__ = _traced_repr  # type: ignore[method-assign]
        Tensor.__array__ = _no_array  # type: ignore[method-assign]
        for sym, name in _DUNDER.items():
            setattr(Tensor, name, _comparison(sym))
            setattr(Value, name, _value_comparison(sym))
        Value._apply = staticmethod(_traced_value_apply)  # type: ignore[method-assign]
        Value.__float__ = _value_read("__float__", "float()")  # type: ignore[method-assign]
        Value.__bool__ = _value_read("__bool__", "bool() (a Python branch)")  # type: ignore[method-assign]
        Value.__repr__ = _traced_value_repr  # type: ignore[method-assign]
        engine.backprop = functional.backprop = _traced_backprop
        ops.node_ns.where = _node_where
        ops.node_ns.minus_onehot = _node_minus_onehot
        ops.node_ns.greater = _node_mask("greater", ops.COMPARISONS[">"])
        ops.node_ns.less = _node_mask("less", ops.COMPARISONS["<"])
        ops.node_ns.equal = _node_mask("equal", ops.COMPARISONS["=="])
        ops.node_ns.sign = _node_mask("sign", ops.SIGN)
        for name, get, put in (("data", _get_data, _set_data), ("grad", _get_grad, _set_grad)):
            setattr(Node, name, property(get, put))  # the slot's descriptor, wrapped


def _swap_out() -> None:
    with _lock:
        _open[0] -= 1
        if _open[0]:
            return
        for name, slot in (("data", _DATA), ("grad", _GRAD)):
            setattr(Node, name, slot)
        Tensor._apply = staticmethod(_orig["_apply"])  # type: ignore[method-assign]
        for name in ("__init__", "detach", "_inplace", "backward", "__repr__"):
            setattr(Tensor, name, _orig[name])
        Tensor.__array__ = _orig["__array__"]  # type: ignore[method-assign]
        for name in _DUNDER.values():
            delattr(Tensor, name)  # back to Operators' own
            delattr(Value, name)
        Value._apply = staticmethod(_orig["value_apply"])  # type: ignore[method-assign]
        Value.__float__ = _orig["value_float"]  # type: ignore[method-assign]
        Value.__bool__ = _orig["value_bool"]  # type: ignore[method-assign]
        Value.__repr__ = _orig["value_repr"]  # type: ignore[method-assign]
        engine.backprop = functional.backprop = _orig["backprop"]
        ops.node_ns.where = _orig["where"]
        ops.node_ns.minus_onehot = _orig["minus_onehot"]
        for n in ("greater", "less", "equal", "sign"):
            setattr(ops.node_ns, n, _orig[f"node_{n}"])


# ----- an optimizer's step -----------------------------------------------------------------------
class _StepCall:
    """One optimizer step as a line of the program: sets each parameter's ``.grad`` to the
    program's gradient and runs the optimizer's own ``step`` (its state read afresh)."""

    def __init__(self, opt: Any, method: Callable, params: list[Tensor]) -> None:
        self.opt, self.method, self.params = opt, method, params
        # an object may offer the update alone, from checked arrays (nn's optimizers do)
        self.arrays = getattr(opt, "_step_arrays", None)

    def __call__(self, *grads: Any) -> None:
        if self.arrays is not None:
            return self.arrays(grads)
        for p, g in zip(self.params, grads):
            _GRAD.__set__(p, g)
        self.method(self.opt)


def records_step(method: Callable) -> Callable:
    """Decorator for ``Optimizer.step``: under ``autograd.trace`` the step becomes one line of
    the program, which runs this very method at every call (bit for bit the eager update,
    with the optimizer's state and hyperparameters read afresh: schedules work). The object
    lists its tensors in ``params``; if it also has ``_step_arrays(grads)`` (the update from
    one gradient array per parameter, None to skip one), the program calls that instead,
    with its gradients: no ``.grad`` stored and checked again on the way."""

    @functools.wraps(method)
    def step(self: Any, *args: Any, **kwargs: Any) -> Any:
        tr = state.tracer
        if tr is None:
            return method(self, *args, **kwargs)
        if args or kwargs:
            raise TraceError(f"{type(self).__name__}.step: arguments cannot be traced")
        params = list(self.params)
        grads = [tr.read_grad(p) for p in params]
        refs = [None if g is None else tr.ref(g, "step") for g in grads]
        targets = [tr.var_of_tensor(p) for p in params]
        tr.reads_ok += 1
        try:
            for p, g in zip(params, grads):
                _GRAD.__set__(p, None if g is None else _DATA.__get__(g))
            method(self)
        finally:
            for p, g in zip(params, grads):
                _GRAD.__set__(p, g)
            tr.reads_ok -= 1
        tr.instrs.append(("call", _StepCall(self, method, params), targets, refs))
        for p in params:
            tr.written[id(p)] = p
        return None

    return step


# ----- arguments: structure, shapes and dtypes --------------------------------------------------
def _numpy_only(data: Any) -> None:
    if type(data) is not ndarray:  # the program is numpy source: another library's arrays
        raise TypeError(  # would be copied to the host, or fail inside numpy
            f"trace/compile: a tensor holds a {type(data).__module__}.{type(data).__name__}; "
            "programs are numpy code, so only numpy tensors are traced (run the function "
            "without autograd.compile: it runs eagerly in that array's library)")


def _flatten(x: Any, leaves: list, key: list) -> None:
    if isinstance(x, Tensor):
        _numpy_only(x.data)
        leaves.append(x)
        key.append(("T", x.shape, x.dtype.str, x.requires_grad))
    elif isinstance(x, ndarray):
        leaves.append(x)
        key.append(("A", x.shape, x.dtype.str))
    elif isinstance(x, (tuple, list)):
        key.append((type(x), len(x)))
        for item in x:
            _flatten(item, leaves, key)
    elif isinstance(x, dict):
        key.append((dict, tuple(x)))
        for item in x.values():
            _flatten(item, leaves, key)
    elif x is None or isinstance(x, (bool, int, float, complex, str, bytes, np.generic)):
        key.append(("S", type(x), x))  # a Python value is part of the signature
    elif isinstance(x, Value):
        leaves.append(x)
        key.append(("V", "Value"))
    else:
        key.append(("O", id(x)))  # an object (a model, an optimizer): by identity


def _rebuild(x: Any, leaves: Any) -> Any:
    """``x`` with its array leaves replaced, in order, from the iterator ``leaves``."""
    if isinstance(x, (Tensor, ndarray, Value)):
        return next(leaves)
    if isinstance(x, (tuple, list)):
        items = [_rebuild(i, leaves) for i in x]
        return type(x)(items) if type(x) in (tuple, list) else type(x)(*items)
    if isinstance(x, dict):
        return {k: _rebuild(v, leaves) for k, v in x.items()}
    return x


def _out_leaves(x: Any, out: list) -> None:
    if isinstance(x, Node):
        out.append(x)
    elif isinstance(x, (tuple, list)):
        for i in x:
            _out_leaves(i, out)
    elif isinstance(x, dict):
        for i in x.values():
            _out_leaves(i, out)


_OUT = type("_Out", (), {"__slots__": (), "__repr__": lambda self: "<output>"})()  # a result


def _out_rebuild(x: Any, leaves: Any) -> Any:
    if isinstance(x, Node) or x is _OUT:
        return next(leaves)
    if isinstance(x, (tuple, list)):
        items = [_out_rebuild(i, leaves) for i in x]
        return type(x)(items) if type(x) in (tuple, list) else type(x)(*items)
    if isinstance(x, dict):
        return {k: _out_rebuild(v, leaves) for k, v in x.items()}
    return x


def _leaf_tensor(data: ndarray, label: str = "") -> Tensor:
    t = _new(Tensor)
    t._init_node(data, label=label)
    t._params, t._rg, t._saved, t._scope = None, False, None, None
    t._version = [0]
    return t


def _leaf_value(data: float, label: str = "") -> Value:
    v = _new(Value)
    v._init_node(data, label=label)
    return v


# ----- tracing ---------------------------------------------------------------------------------
def trace(f: Callable, *example_args: Any) -> Program:
    """Run ``f(*example_args)`` once, recording everything it computes, and return the
    ``Program``: callable on new arguments of the same structure, shapes and dtypes.

    Tensor and array arguments are traced (an array reaches ``f`` as a Tensor); Python
    values and other objects are part of the signature. Tensors that existed before the call
    (parameters, captured tensors) are the program's state, read at every call. The call
    has the effects an eager call has (gradients stored, parameters updated). A read of a
    traced value by Python raises ``TraceError`` (see the module).
    """
    if not callable(f):
        raise TypeError(f"trace: f must be callable, got {type(f).__name__}")
    return _trace(f, example_args)


def _trace(f: Callable, example_args: tuple, names: list[str] | None = None,
           inline_constants: bool = False) -> Program:
    if state.tracer is not None:
        raise TraceError("trace: a trace is already open in this thread (call the function "
                         "itself inside a traced function: it is recorded inline)")
    leaves: list = []
    key: list = []
    _flatten(example_args, leaves, key)
    tr = _Tracer()
    inputs: list[Any] = []
    for leaf in leaves:
        if isinstance(leaf, Value):
            tr.var("arg", leaf, (), _F64, scalar=True)
            inputs.append(leaf)
            continue
        if isinstance(leaf, Tensor):
            t = leaf
            data = _DATA.__get__(t)
        else:
            t = Tensor(leaf)
            data = _DATA.__get__(t)
        tr.var("arg", t, data.shape, data.dtype)
        inputs.append(t)
    args = _rebuild(example_args, iter(inputs))
    _swap_in()
    state.tracer = tr
    try:
        result = f(*args)
        outs: list = []
        _out_leaves(result, outs)
        out_refs = []
        for o in outs:
            if tr.is_live(o):
                out_refs.append(("v", tr.var_of_tensor(o)))
            elif isinstance(o, Value):
                out_refs.append(("k", _DATA.__get__(o)))
            else:
                out_refs.append(tr.const(_DATA.__get__(o)))
        labels = [str(o.label) for o in outs]
    finally:
        state.tracer = None
        _swap_out()
    return Program(f, tr, tuple(key), leaves, inputs, result, out_refs, labels,
                   names or _arg_names(f, example_args), inline_constants)


# ----- the program -----------------------------------------------------------------------------
BUFFER_BYTES = 1024  # intermediates from this size are written into kept arrays (out=)
# ops that never return a view of an input: an array read only by them cannot escape
_NO_VIEW = {"add", "sub", "mul", "div", "neg", "pow", "exp", "log", "log1p", "expm1", "square",
            "sqrt", "tanh", "sigmoid", "relu", "abs", "sin", "cos", "softplus", "erf",
            "maximum", "minimum", "where", "sum", "mean", "max", "min", "logsumexp",
            "matmul", "linear", "cross_entropy", "cast", "greater", "greater_equal", "less",
            "less_equal", "equal", "not_equal", "sign", "pad", "windows", "unwindows",
            "untake", "concatenate", "stack", "copy"}
_VIEWS = {"reshape", "transpose", "getitem"}  # may return a view of their input


def _ufunc(name: str, extra: str = "") -> Callable:
    return lambda a, out: f"np.{name}({', '.join(a)}{extra}, out={out})"


# how an op writes into a given array: numpy's ufunc (the op's own kernel) with out=, the same
# numbers as a new array; x @ w + b as the product into the array, then the bias added in place
_UFUNC_FORMS: dict[str, Callable] = {
    "add": _ufunc("add"), "sub": _ufunc("subtract"), "mul": _ufunc("multiply"),
    "div": _ufunc("divide"), "neg": _ufunc("negative"), "exp": _ufunc("exp"),
    "log": _ufunc("log"), "sqrt": _ufunc("sqrt"), "tanh": _ufunc("tanh"), "sin": _ufunc("sin"),
    "cos": _ufunc("cos"), "abs": _ufunc("abs"), "maximum": _ufunc("maximum"),
    "minimum": _ufunc("minimum"), "relu": _ufunc("maximum", ", 0"),
    "matmul": _ufunc("matmul"),
    "linear": lambda a, out: f"np.add(np.matmul({a[0]}, {a[1]}, out={out}), {a[2]}, out={out})",
    **{op.name: _ufunc(op.name) for op in ops.COMPARISONS.values()}}
# a 2-d product runs as np.dot, as eager's numpy namespace runs it (backend.matmul): the same
# bits, at half the dispatch cost of @ on small arrays. explain keeps the @ of the op table.
_DOT_FORMS = {"matmul": "np.dot({0}, {1})", "linear": "np.dot({0}, {1}) + {2}"}
_PREC = {"==": 6, "!=": 6, ">": 6, ">=": 6, "<": 6, "<=": 6, "+": 11, "-": 11, "*": 12, "/": 12,
         "@": 12}
_ATOM = 100
_BINARY = re.compile(r"^\{(\d)\} (==|!=|>=|<=|>|<|\+|-|\*|/|@) \{(\d)\}$")


def _template_prec(t: str) -> int:
    """The precedence of an expression printed from template ``t``: its loosest operator at
    the top level (outside brackets), ``_ATOM`` for a name, call or attribute."""
    depth, best = 0, _ATOM
    for i, ch in enumerate(t):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif depth == 0 and ch == " ":
            tok = t[i + 1:].split(" ", 1)[0]
            if tok in _PREC:
                best = min(best, _PREC[tok])
    if best == _ATOM and t.startswith(("-", "+")):
        return 13
    return best


def _ident(name: str) -> str:
    name = re.sub(r"\W", "_", name)
    if not name or name[0].isdigit():
        name = "_" + name
    if keyword.iskeyword(name) or name in ("np", "xp"):
        name += "_"
    return name


def _literal(v: Any) -> str:
    if isinstance(v, float):
        if v != v:
            return "np.nan"
        if v in (np.inf, -np.inf):
            return "np.inf" if v > 0 else "-np.inf"
    return repr(v)


class Program:
    """A traced function as a numpy program: ``source`` is what runs; calling the program runs
    it on new arguments (same structure, shapes and dtypes as the trace, else ValueError) and
    applies the effects the traced call had (``.grad`` stored, state updated in place).

    Results are tensors without history (as ``jax.jit`` returns arrays): the backward pass,
    if ``f`` ran one, is already in the program."""

    def __init__(self, f: Callable, tr: _Tracer, key: tuple, leaves: list, inputs: list,
                 result: Any, out_refs: list, labels: list, arg_names: list[str],
                 inline_constants: bool = False) -> None:
        self.name = _ident(getattr(f, "__name__", "program"))
        if self.name == "_lambda_":
            self.name = "program"
        self._key = key
        self._arg_names = arg_names
        self._inline_constants = inline_constants  # (explain: np.zeros(shape), not c0)
        self._template = result
        self._from_arrays = [not isinstance(x, Node) for x in leaves]
        self._tr_vars = tr.vars
        self._consts = tr.consts
        self._cells = tr.cells
        nargs = len(inputs)
        # the objects a call's effects land on: argument tensors (by position), then state
        arg_pos = {id(t): i for i, t in enumerate(inputs)}  # an argument's guard: by position
        self._guards = [(arg_pos.get(id(t), t), was_none) for t, was_none in tr.guards.values()
                        if id(t) not in arg_pos or not self._from_arrays[arg_pos[id(t)]]]
        self._value_guards = [(arg_pos.get(id(v), v), was_zero)
                              for v, was_zero in tr.value_guards.values()]
        self._cell_meta = [(c, _DATA.__get__(c).shape, _DATA.__get__(c).dtype)
                           for c in tr.cells if isinstance(c, Tensor)]  # (a Value's: float)
        self._grad_in = [tr.vars[v].obj[1] for v in tr.grad_in.values()]
        self._grad_in_vars = list(tr.grad_in.values())
        # effects: the final .grad of argument and state tensors that f assigned
        effects: list[tuple[Any, bool, Any]] = []
        arg_ids = {id(t): i for i, t in enumerate(inputs) if not self._from_arrays[i]}
        for obj in tr.grad_set.values():
            if id(obj) in arg_ids or isinstance(obj, Node) and _ID.__get__(obj) < tr.start:
                # (a tensor older than the trace: state, also one no op of f read)
                g = _GRAD.__get__(obj)
                if g is None:
                    effects.append((obj, id(obj) in arg_ids, None))
                elif isinstance(g, Node) and tr.is_live(g):
                    effects.append((obj, id(obj) in arg_ids, ("v", tr.var_of[id(g)])))
                elif isinstance(obj, Value):
                    effects.append((obj, id(obj) in arg_ids, ("k", _DATA.__get__(g) if
                                                               isinstance(g, Node) else g)))
                else:
                    effects.append((obj, id(obj) in arg_ids,
                                    tr.const(np.asarray(_DATA.__get__(g) if isinstance(g, Node)
                                                        else g))))
        self._effects = [(arg_ids[id(o)] if is_arg else o, is_arg, ref)
                         for o, is_arg, ref in effects]
        self._written = list(tr.written.values())
        self._written_args = [arg_ids[id(t)] for t in self._written if id(t) in arg_ids]
        self._written = [t for t in self._written if id(t) not in arg_ids]
        # Values whose .data f assigned: the program returns their new floats
        self._data_refs = [("v", tr.var_of[id(t)]) for t in tr.data_set.values()]
        self._data_set: list[Any] = [arg_ids.get(id(t), t) for t in tr.data_set.values()]
        self._data_args = [id(t) in arg_ids for t in tr.data_set.values()]
        self._out_refs = out_refs
        self._labels = labels
        self._out_objs = [tr.vars[r[1]] if r[0] == "v" else None for r in out_refs]
        self.constants: dict[str, Any] = {}
        self._scalar_templates = {}
        self._local = threading.local()
        self.source = self._generate(tr, nargs, inputs)
        self._effect_copies = [c and not isinstance(o, Value) for c, (o, _, _) in
                               zip(self._copies(tr), effects)]  # (floats are never shared)
        self._out_scalar = [var is not None and var.scalar or r[0] == "k"
                            for r, var in zip(out_refs, self._out_objs)]
        first = self._out_objs[0] if len(out_refs) == 1 else None
        self._single = isinstance(result, Tensor) and first is not None and first.kind == "op"
        self._compile()
        # the example call's results, as a call of the program gives them
        self._finish_trace_call(tr, inputs)
        # what the trace computed is not the program's: let it go (a Value step's graph is
        # some 10^5 objects, which the cyclic GC would otherwise walk for as long as it lives)
        self._tr_vars = []
        self._template = _out_rebuild(result, iter([_OUT] * len(out_refs)))

    # ----- printing ----------------------------------------------------------------------------
    def _generate(self, tr: _Tracer, nargs: int, inputs: list) -> str:
        vars_ = tr.vars
        instrs = list(tr.instrs)
        alias: dict[int, int] = {}

        def res(v: int) -> int:
            while v in alias:
                v = alias[v]
            return v

        # simple algebra: x * 1, 1 * x, x + 0, 0 + x, x - 0, x / 1 are x when nothing changes
        # (same shape and dtype) and nothing writes into either in place
        inplace_targets = {i[2] for i in instrs if i[0] == "inplace"}
        folded = []
        for ins in instrs:
            if ins[0] == "op" and ins[1].name in ("mul", "add", "sub", "div") \
                    and not any(ins[5]) and not (vars_[ins[4]].scalar and ins[1].name in
                                                 ("add", "sub")):  # (-0.0 + 0 is 0.0)
                op, _, refs, out, _ = ins[1], ins[2], ins[3], ins[4], ins[5]
                unit = 1 if op.name in ("mul", "div") else 0
                for pos in (0, 1) if op.name in ("mul", "add") else (0,):
                    mine = refs[pos]
                    if mine[0] == "v" and self._is_unit(tr, ins, 1 - pos, unit) \
                            and vars_[mine[1]].shape == vars_[out].shape \
                            and vars_[mine[1]].dtype == vars_[out].dtype \
                            and mine[1] not in inplace_targets and out not in inplace_targets:
                        alias[out] = mine[1]
                        break
                else:
                    folded.append(ins)
                    continue
                continue
            folded.append(ins)
        instrs = _share_softmax(folded, inplace_targets)
        self._alias = alias

        # names: arguments, state, old gradients, then what users named (labels, gradients)
        sig_names = self._arg_names
        names: dict[int, str] = {}
        taken: set[str] = set()

        def give(v: int, name: str) -> None:
            name = _ident(name)
            base, k = name, 2
            while name in taken:
                name, k = f"{base}_{k}", k + 1
            taken.add(name)
            names[v] = name

        for ins in instrs:  # the float kernels a Value program calls by name
            if ins[0] == "op" and vars_[ins[4]].scalar:
                taken.add(self._scalar_template(ins[1]).split("(", 1)[0])
        for v, var in enumerate(vars_):
            if var.kind == "arg":
                give(v, sig_names[v])
        for t, v in zip(tr.cells, tr.cell_vars):
            give(v, str(t.label) or "p")
        for v in tr.grad_in.values():
            give(v, names[tr.var_of[id(vars_[v].obj[1])]] + "_grad")
        objname = {}
        for v, var in enumerate(vars_):
            if var.kind in ("arg", "cell"):
                objname[id(var.obj)] = names[v]
        for obj, _, ref in self._effects_named(tr):
            if ref is not None and ref[0] == "v":
                v = res(ref[1])
                if v not in names and vars_[v].kind == "op":
                    give(v, "d" + objname.get(id(obj), "x"))
        for ins in instrs:
            if ins[0] == "op":
                v = ins[4]
                label = str(vars_[v].obj.label) if vars_[v].obj is not None else ""
                if v not in names and label:
                    give(v, label)
        for v, n in tr.grad_of.items():  # the gradient of a labelled value: d<label>
            v = res(v)
            label = str(n.label) if isinstance(n, Tensor) else ""
            if v not in names and label and vars_[v].kind == "op":
                give(v, "d" + label)
        for k, r in enumerate(self._out_refs):  # what f returns, unlabelled: out, out1, ...
            if r[0] == "v" and res(r[1]) not in names and vars_[res(r[1])].kind == "op":
                give(res(r[1]), "out" if len(self._out_refs) == 1 else f"out{k}")

        # dead code: keep what the outputs, the effects and the in-place updates need
        need: set[int] = set()
        for r in self._out_refs:
            if r[0] == "v":
                need.add(res(r[1]))
        for _, _, ref in self._effects:
            if ref is not None and ref[0] == "v":
                need.add(res(ref[1]))
        need.update(res(r[1]) for r in self._data_refs)
        live = []
        for ins in reversed(instrs):
            if ins[0] == "op":
                if ins[4] not in need:
                    continue
                need.update(res(r[1]) for r in ins[3] if r[0] == "v")
            elif ins[0] == "inplace":
                need.add(res(ins[2]))
                if ins[3][0] == "v":
                    need.add(res(ins[3][1]))
            else:
                need.update(res(t) for t in ins[2])
                need.update(res(r[1]) for r in ins[3] if r is not None and r[0] == "v")
            live.append(ins)
        instrs = live[::-1]

        # uses, for inlining single-use temporaries into their consumer's expression
        uses: dict[int, int] = {}
        for ins in instrs:
            for r in self._refs_of(ins):
                if r[0] == "v":
                    count = 2 if ins[0] == "op" and self._twice(ins, r) else 1
                    uses[res(r[1])] = uses.get(res(r[1]), 0) + count
        pinned = set(names)
        for r in self._out_refs:
            if r[0] == "v":
                pinned.add(res(r[1]))
        for _, _, ref in self._effects:
            if ref is not None and ref[0] == "v":
                pinned.add(res(ref[1]))
        pinned.update(res(r[1]) for r in self._data_refs)
        escape = {res(r[1]) for r in self._out_refs + self._data_refs if r[0] == "v"}
        escape.update(res(r[1]) for _, _, r in self._effects if r is not None and r[0] == "v")
        buffered = self._share_buffers(instrs, res, self._bufferable(instrs, res, escape),
                                       uses, pinned)

        lines: list[str] = []
        pending: dict[int, tuple[str, int]] = {}  # inlinable var -> (expression, precedence)
        counter = [0]
        used_xp = [False]

        def const_name(j: int) -> str:
            c = tr.consts[j]
            if self._inline_constants and isinstance(c, ndarray) and c.size \
                    and (c == c.flat[0]).all() and c.dtype == np.float64:
                v = float(c.flat[0])
                return f"np.zeros({c.shape})" if v == 0 else f"np.ones({c.shape})" if v == 1 \
                    else f"np.full({c.shape}, {_literal(v)})"
            for name, value in self.constants.items():
                if value is tr.consts[j]:
                    return name
            name = tr.const_names.get(j) or f"c{len(self.constants)}"
            name = _ident(name)
            base, k = name, 2
            while name in taken or name in self.constants:
                name, k = f"{base}_{k}", k + 1
            self.constants[name] = tr.consts[j]
            return name

        def operand(r: tuple, ins: tuple, pos: int) -> tuple[str, int]:
            if r[0] == "k":
                return _literal(r[1]), _ATOM
            if r[0] == "c":
                c = tr.consts[r[1]]
                s = self._scalar_form(tr, ins, pos, c)
                if s is not None:
                    return s, _ATOM
                return const_name(r[1]), _ATOM
            v = res(r[1])
            if v in pending:
                return pending.pop(v)
            return names[v], _ATOM

        def name_of(v: int) -> str:
            if v not in names:
                while f"t{counter[0]}" in taken:
                    counter[0] += 1
                give(v, f"t{counter[0]}")
            return names[v]

        for ins in instrs:
            if ins[0] == "op":
                _, op, params, refs, out, casts = ins
                template = self._scalar_template(op) if vars_[out].scalar else \
                    self._template_of(op, params, refs)
                if template.startswith("xp."):
                    used_xp[0] = True
                args, raw = [], []
                for pos, (r, cast) in enumerate(zip(refs, casts)):
                    expr, prec = operand(r, ins, pos)
                    if cast is not None and not self._promotes(ins, pos, cast):
                        expr, prec = f"{_paren(expr, prec, _ATOM)}.astype({ops._lit(cast)})", \
                            _ATOM
                    args.append(_place(template, pos, expr, prec))
                    raw.append(expr)
                kw = {k: ops._lit(v) for k, v in params.items() if k != "index"}
                if "{index}" in template:
                    kw["index"] = self._index(params["index"], const_name, tr)
                    if "[{index}]" not in template:  # an argument: a tuple of slices
                        kw["index"] = f"np.s_[{kw['index']}]"
                for helper in _HELPERS:
                    if template.startswith(helper + "("):
                        self.constants[helper] = _HELPERS[helper]
                expr = template.format(*args, **kw)
                prec = _template_prec(template)
                if out in buffered:  # into this program's own array, kept across calls
                    expr, prec = _UFUNC_FORMS[op.name](raw, f"_b{buffered[out]}"), _ATOM
                if uses.get(out, 0) == 1 and out not in pinned:
                    pending[out] = (expr, prec)
                else:
                    lines.append(f"{name_of(out)} = {expr}")
            elif ins[0] == "inplace":
                _, sym, target, r = ins
                expr, _ = operand(r, ins, 1)  # evaluated here, where the trace ran it
                self._flush(pending, lines, name_of)
                lines.append(f"{names[res(target)]} {sym} {expr}")
            else:
                _, call, targets, refs = ins
                self._flush(pending, lines, name_of)
                cname = _ident(type(call.opt).__name__.lower())
                if cname not in self.constants:
                    self.constants[cname] = call
                args = [operand(r, ins, i)[0] if r is not None else "None"
                        for i, r in enumerate(refs)]
                what = ", ".join(names[res(t)] for t in targets)
                lines.append(f"{cname}({', '.join(args)})  # {type(call.opt).__name__}.step(): "
                             f"updates {what} in place")
        self._flush(pending, lines, name_of)

        def out_expr(r: tuple | None) -> str:
            if r is None:
                return "None"
            if r[0] == "k":
                return _literal(r[1])
            if r[0] == "c":
                return const_name(r[1])
            return names[res(r[1])]

        outs = [out_expr(r) for r in self._out_refs]
        self.body, self.output_names = lines, outs
        grads = [out_expr(ref) for _, _, ref in self._effects]
        params = [names[v] for v, var in enumerate(vars_) if var.kind == "arg"]
        params += [names[v] for v in tr.cell_vars]
        params += [names[v] for v in tr.grad_in.values()]
        params += [f"_b{i}" for i in range(len(self._buf_specs))]
        self._params_order = params
        head = [f"def {self.name}({', '.join(params)}):"]
        if used_xp[0]:
            self.constants["xp"] = backend.numpy_ns
        datas = [out_expr(r) for r in self._data_refs]  # Values' new .data, if f set any
        body = lines + [f"return ({', '.join(outs)}{',' if len(outs) == 1 else ''}), "
                        f"({', '.join(grads)}{',' if len(grads) == 1 else ''})"
                        + (f", ({', '.join(datas)},)" if datas else "")]
        return "\n".join(head + ["    " + line for line in body]) + "\n"

    def _copies(self, tr: _Tracer) -> list[bool]:
        """Per effect, whether its gradient must be copied to be owned, as eager's is: when
        its array is also another effect's or a result, a view, or not the program's own."""
        def res(v: int) -> int:
            while v in self._alias:
                v = self._alias[v]
            return v

        seen: dict[int, int] = {}
        refs = [r for _, _, r in self._effects] + list(self._out_refs)
        for r in refs:
            if r is not None and r[0] == "v":
                seen[res(r[1])] = seen.get(res(r[1]), 0) + 1
        copies = []
        for _, _, r in self._effects:
            if r is None or r[0] != "v":
                copies.append(True)
                continue
            var = tr.vars[res(r[1])]
            obj = var.obj[0] if isinstance(var.obj, tuple) else var.obj
            data = _DATA.__get__(obj) if obj is not None else None
            copies.append(seen[var.index] > 1 or var.kind != "op" or data is None
                          or getattr(data, "base", None) is not None)
        return copies

    def _effects_named(self, tr: _Tracer) -> list:
        out = []
        for o, is_arg, ref in self._effects:
            obj = self._tr_vars[o].obj if is_arg else o
            out.append((obj, is_arg, ref))
        return out

    def _promotes(self, ins: tuple, pos: int, cast: Any) -> bool:
        """Whether numpy's own promotion does input ``pos``'s cast in a binary ufunc: the
        other input has the target dtype and wins (a bool or int mask times a float array:
        the same numbers, without the extra array)."""
        op, refs = ins[1], ins[3]
        if op.name not in ("add", "sub", "mul", "div", "maximum", "minimum") or len(refs) != 2:
            return False
        other, mine = self._aval(refs[1 - pos]), self._aval(refs[pos])
        return isinstance(other, tuple) and other[1] == cast and len(other[0]) >= len(mine[0]) \
            and np.result_type(mine[1], cast) == cast and ins[5][1 - pos] is None

    @staticmethod
    def _refs_of(ins: tuple) -> list:
        if ins[0] == "op":
            return list(ins[3])
        if ins[0] == "inplace":
            return [("v", ins[2]), ins[3]]
        return [("v", t) for t in ins[2]] + [r for r in ins[3] if r is not None]

    def _twice(self, ins: tuple, r: tuple) -> bool:
        """Whether the op's printed form uses this input more than once (x * x)."""
        template = self._scalar_template(ins[1]) if self._tr_vars[ins[4]].scalar else \
            self._template_of(ins[1], ins[2], ins[3])
        pos = ins[3].index(r)
        return template.count(f"{{{pos}}}") > 1

    def _bufferable(self, instrs: list, res: Callable, escape: set) -> set:
        """The vars whose arrays the program may keep and overwrite at its next call (numpy's
        ``out=``): an elementwise op's or a product's result of at least ``BUFFER_BYTES``
        (numpy reuses smaller blocks itself) that does not escape: not a result, a
        gradient stored or an optimizer's input, and read only by ops that never return
        a view of an input, or by views that are themselves read only so (``t1.T @ g``)."""
        ok: dict[int, bool] = {}
        for ins in reversed(instrs):  # (a view's readers come after it)
            if ins[0] == "op":
                name, out = ins[1].name, ins[4]
                safe = not ins[1].custom and (name in _NO_VIEW or name in _VIEWS and
                                              ok.get(out, True) and out not in escape)
                for r in ins[3]:
                    if r[0] == "v":
                        ok[res(r[1])] = ok.get(res(r[1]), True) and safe
            elif ins[0] == "call":
                for r in ins[3]:
                    if r is not None and r[0] == "v":
                        ok[res(r[1])] = False
        out = set()
        for ins in instrs:
            if ins[0] != "op" or ins[1].name not in _UFUNC_FORMS or ins[1].custom:
                continue
            v = ins[4]
            var = self._tr_vars[v]
            if var.scalar or not var.shape or v in escape or not ok.get(v, True) or \
                    int(np.prod(var.shape)) * var.dtype.itemsize < BUFFER_BYTES:
                continue
            out.add(v)
        return out

    def _share_buffers(self, instrs: list, res: Callable, buffered: set, uses: dict,
                       pinned: set) -> dict[int, int]:
        """Which kept array each buffered var is written into: one array serves several
        vars whose lifetimes do not overlap (as few arrays as a step needs at once, as
        malloc's reuse of freed blocks gives: a small working set stays in cache). A var
        lives from the line that computes it (an inlined one: its consumer's line) to the
        last line that reads it or a view of it."""
        at: dict[int, float] = {}  # var -> the line (instruction index) that computes it
        waiting: dict[int, list[int]] = {}  # inlined vars -> the vars their expression holds
        for i, ins in enumerate(instrs):
            if ins[0] == "op":
                out = ins[4]
                tree = [out] + [w for r in ins[3] if r[0] == "v"
                                for w in waiting.pop(res(r[1]), ())]
                if uses.get(out, 0) == 1 and out not in pinned:
                    waiting[out] = tree
                else:
                    at.update((w, i) for w in tree)
            else:  # pending expressions are printed before an in-place update or a step
                at.update((w, i - 0.5) for tree in waiting.values() for w in tree)
                waiting.clear()
        at.update((w, len(instrs)) for tree in waiting.values() for w in tree)
        end: dict[int, float] = {}
        for i, ins in reversed(list(enumerate(instrs))):
            line = at.get(ins[4], i) if ins[0] == "op" else i
            for r in self._refs_of(ins):
                if r[0] == "v":
                    v = res(r[1])
                    end[v] = max(end.get(v, line), line)
            if ins[0] == "op" and ins[1].name in _VIEWS and ins[3][0][0] == "v":
                v = res(ins[3][0][1])  # a view keeps its base alive
                end[v] = max(end.get(v, -1), end.get(ins[4], -1))
        self._buf_specs: list[tuple] = []
        last_end: list[float] = []
        which: dict[int, int] = {}
        for v in sorted(buffered, key=lambda v: at[v]):
            spec = (self._tr_vars[v].shape, self._tr_vars[v].dtype)
            free = [k for k, s in enumerate(self._buf_specs)
                    if s == spec and last_end[k] < at[v]]
            if free:
                k = free[0]
            else:
                k = len(self._buf_specs)
                self._buf_specs.append(spec)
                last_end.append(0.0)
            which[v] = k
            last_end[k] = max(end.get(v, at[v]), at[v])
        return which

    @staticmethod
    def _flush(pending: dict, lines: list, name_of: Callable) -> None:
        # an in-place update or a step may change what a pending expression reads: print
        # every pending expression before it (in order) so it runs where it ran in the trace
        for v, (expr, _) in list(pending.items()):
            lines.append(f"{name_of(v)} = {expr}")
        pending.clear()

    def _template_of(self, op: Op, params: dict, refs: list) -> str:
        if op.name in _DOT_FORMS and not self._inline_constants \
                and all(len(self._aval(r)[0]) == 2 for r in refs[:2]):
            return _DOT_FORMS[op.name]
        code = op.code
        if callable(code):
            avals = [self._aval(r) for r in refs]
            return code(params, avals)
        if code is not None:
            return code
        args = ", ".join(f"{{{i}}}" for i in range(len(refs)))
        if op.custom:  # a primitive of the user's: its own forward, on the numpy namespace
            name = _ident(op.name) + "_forward"
            self.constants[name] = functools.partial(op.forward, backend.numpy_ns)
            return f"{name}({args})"
        kw = "".join(f", {k}={ops._lit(v)}" for k, v in params.items() if k != "index")
        if "index" in params:
            kw += ", index={index}"
        return f"xp.{op.name}({args}{kw})"

    def _scalar_template(self, op: Op) -> str:
        t = self._scalar_templates.get(op)
        if t is None:
            t = self._scalar_templates[op] = self._scalar_template_of(op)
        return t

    _scalar_templates: dict

    def _scalar_template_of(self, op: Op) -> str:
        """How a Value op prints: Python's own operators where they are the forward (+ - *
        on floats), else a call of the kernel the forward runs (backend.scalar's IEEE-safe
        ``exp``, ``div``, ``relu``, ...: math's raise where IEEE gives inf or nan), so that
        the program computes bit for bit what eager computes."""
        if op.name in ("add", "sub", "mul", "neg", "float"):
            return op.code
        args = ", ".join(f"{{{i}}}" for i in range(len(op.inputs)))
        if op.custom:
            name = _ident(op.name) + "_forward"
            self.constants[name] = functools.partial(op.forward, backend.scalar)
        else:
            name = op.name
            self.constants[name] = getattr(backend.scalar, name)
        return f"{name}({args})"

    def _aval(self, r: tuple) -> Any:
        if r[0] == "k":
            return r[1]
        if r[0] == "c":
            c = self._consts[r[1]]
            return (np.shape(c), np.asarray(c).dtype)
        var = self._tr_vars[r[1]]
        return (var.shape, var.dtype)

    def _is_unit(self, tr: _Tracer, ins: tuple, pos: int, unit: float) -> bool:
        """Whether input ``pos`` of ``ins`` is the number ``unit`` (a literal, or a uniform
        constant that prints as one)."""
        r = ins[3][pos]
        if r[0] == "k":
            return type(r[1]) in (int, float) and r[1] == unit
        if r[0] == "c":
            s = self._scalar_form(tr, ins, pos, tr.consts[r[1]])
            return s is not None and float(s) == unit
        return False

    def _scalar_form(self, tr: _Tracer, ins: tuple, pos: int, c: Any) -> str | None:
        """A uniform constant array printed as a number where numpy gives the same result
        from the number: same dtype, and the other operand alone has the output's shape."""
        if ins[0] != "op":
            return None
        op, refs, out = ins[1], ins[3], ins[4]
        if op.name not in ("add", "sub", "mul", "div") or not isinstance(c, ndarray) \
                or c.dtype.kind != "f" or c.size == 0 or any(ins[5]):
            return None
        other = refs[1 - pos]
        if other[0] != "v":
            return None
        ov, outv = self._tr_vars[other[1]], self._tr_vars[out]
        if not (ov.shape == outv.shape and ov.dtype == outv.dtype == c.dtype):
            return None
        flat = c.reshape(-1)
        first = flat[0]
        if not (flat == first).all():
            return None
        return _literal(float(first))

    @staticmethod
    def _index(index: Any, const_name: Callable, tr: _Tracer) -> str:
        def one(i: Any) -> str:
            if isinstance(i, slice):
                parts = ["" if x is None else repr(x) for x in (i.start, i.stop, i.step)]
                return ":".join(parts[:2]) + (f":{parts[2]}" if i.step is not None else "")
            if i is None:
                return "None"
            if i is Ellipsis:
                return "..."
            if isinstance(i, ndarray):
                return const_name(tr.const(i)[1])
            if isinstance(i, (int, np.integer)):
                return repr(int(i))
            return const_name(tr.const(i)[1])

        if isinstance(index, tuple):
            return ", ".join(one(i) for i in index) + ("," if len(index) == 1 else "") \
                if index else "()"
        return one(index)

    def _compile(self) -> None:
        # numpy arrays f read from outside are constants, as in jax.jit: their values when
        # traced (a copy; a Tensor is state instead, read at every call)
        for name, c in self.constants.items():
            if isinstance(c, ndarray) and c.flags.writeable:
                self.constants[name] = c = c.copy()
                c.flags.writeable = False
        ns: dict[str, Any] = {"np": np, **self.constants}
        exec(builtins.compile(self.source, f"<autograd.trace {self.name}>", "exec"), ns)  # noqa: S102
        self._fn = ns[self.name]

    # ----- running -----------------------------------------------------------------------------
    def _finish_trace_call(self, tr: _Tracer, inputs: list) -> None:
        """Leave the traced call's effects as an eager call leaves them: arrays in .grad."""
        for obj, is_arg, _ in self._effects:
            target = inputs[obj] if is_arg else obj
            g = _GRAD.__get__(target)
            if isinstance(g, Tensor):
                _GRAD.__set__(target, _DATA.__get__(g).copy())
            elif isinstance(g, Value):
                _GRAD.__set__(target, _DATA.__get__(g))
        vals = []
        for r in self._out_refs:
            if r[0] == "v":
                obj = self._tr_vars[r[1]].obj
                vals.append(_DATA.__get__(obj[0] if isinstance(obj, tuple) else obj))
            else:
                vals.append(tr.consts[r[1]])
        self.example_output = self._outputs(vals, inputs)

    def _outputs(self, vals: list, args: list) -> Any:
        out = []
        for val, label, var, scalar in zip(vals, self._labels, self._out_objs,
                                           self._out_scalar):
            if var is not None and var.kind == "cell":
                out.append(var.obj)  # f returned a state tensor: the tensor itself
            elif var is not None and var.kind == "arg" and not self._from_arrays[var.index]:
                out.append(args[var.index])
            elif scalar:
                out.append(_leaf_value(val, label))
            else:  # (a constant result is copied: each call hands out its own, as eager)
                out.append(_leaf_tensor(np.asarray(val) if var is not None else np.array(val),
                                        label))
        return _out_rebuild(self._template, iter(out))

    def __call__(self, *args: Any) -> Any:
        leaves: list = []
        key: list = []
        _flatten(args, leaves, key)
        if tuple(key) != self._key:
            raise ValueError(f"{self.name}: called with arguments of another structure, shape "
                             f"or dtype than traced ({_describe(key)} vs {_describe(self._key)});"
                             " trace it again, or use autograd.compile, which does")
        self._check_guards(leaves)
        return self._run(leaves)

    def _check_guards(self, leaves: list) -> None:
        for t, shape, dtype in self._cell_meta:
            d = t.data
            if d.shape != shape or d.dtype is not dtype and d.dtype != dtype:
                raise RuntimeError(f"{self.name}: a state tensor changed shape or dtype since "
                                   f"the trace ({shape} {dtype} -> {d.shape} {d.dtype})")
        for t, was_none in self._guards:
            if ((leaves[t] if type(t) is int else t).grad is None) != was_none:
                raise RuntimeError(
                    f"{self.name}: a tensor's .grad was {'None' if was_none else 'set'} when "
                    f"traced and is {'set' if was_none else 'None'} now; the program would "
                    "compute something else than f (call zero_grad consistently, or retrace)")
        for v, was_zero in self._value_guards:
            if ((leaves[v] if type(v) is int else v).grad == 0.0) != was_zero:
                raise RuntimeError(
                    f"{self.name}: a Value's .grad was {'0.0' if was_zero else 'nonzero'} when "
                    f"traced and is {'nonzero' if was_zero else '0.0'} now; the program would "
                    "compute something else than f (zero the gradients consistently, or "
                    "retrace)")

    def _guards_hold(self, leaves: list) -> bool:
        try:
            self._check_guards(leaves)
        except RuntimeError:
            return False
        return True

    def _run(self, leaves: list) -> Any:
        # (outside a trace .data and .grad are the plain slots again: the fast reads)
        vals = [x.data if isinstance(x, Node) else np.array(x)  # a copy, as Tensor(x)
                for x in leaves] if leaves else []
        vals += [t.data for t in self._cells]
        if self._grad_in:
            vals += [t.grad for t in self._grad_in]
        if self._buf_specs:  # (per thread: two threads may run one program at once)
            bufs = self._local.__dict__.get("bufs")
            if bufs is None:
                bufs = self._local.bufs = [np.empty(s, d) for s, d in self._buf_specs]
            vals += bufs
        token = backend.quiet_enter()
        try:
            outs, grads, *datas = self._fn(*vals)
        finally:
            backend.quiet_exit(token)
        if datas:  # Values' .data that f assigned (micrograd's update)
            for v, is_arg, d in zip(self._data_set, self._data_args, datas[0]):
                (leaves[v] if is_arg else v).data = d
        for (obj, is_arg, _), copy, g in zip(self._effects, self._effect_copies, grads):
            target: Any = leaves[obj] if is_arg else obj
            # an array the program made for this gradient alone is owned already
            target.grad = None if g is None else np.array(g) if copy else g
        if self._written or self._written_args:
            change = next(engine._counter)  # as mark_changed, once for all of them
            for t in self._written:
                t._version[0] += 1
            for i in self._written_args:
                if isinstance(leaves[i], Tensor):
                    leaves[i]._version[0] += 1
            engine.last_change[0] = change
        if self._single:  # f returned one tensor the program computed
            out = _new(Tensor)
            out.data = outs[0] if type(outs[0]) is ndarray else np.asarray(outs[0])
            out.grad, out.label, out._op, out._args = None, self._labels[0], None, ()
            out._id = next(engine._counter)
            out._params, out._rg, out._saved, out._scope = None, False, None, None
            out._version = [0]
            return out
        return self._outputs(list(outs), leaves)

    verified = False  # compile: traced twice, the same program both times

    def _same(self, other: Program) -> bool:
        """Whether two traces of one function gave the same program: the same source, state
        tensors and constants (compile's check that f is a function of what it traces)."""
        if self.source != other.source or len(self._cells) != len(other._cells) or \
                any(a is not b for a, b in zip(self._cells, other._cells)) or \
                self.constants.keys() != other.constants.keys():
            return False
        for name, a in self.constants.items():
            b = other.constants[name]
            if isinstance(a, ndarray):
                if not (isinstance(b, ndarray) and a.dtype == b.dtype and a.shape == b.shape
                        and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")):
                    return False
            elif isinstance(a, _StepCall):
                if not (isinstance(b, _StepCall) and a.opt is b.opt and a.method is b.method
                        and all(p is q for p, q in zip(a.params, b.params))):
                    return False
            elif a is not b and not (type(a) is type(b) and a == b):
                return False
        return True

    def __repr__(self) -> str:
        return f"Program({self.name}: {self.source.count(chr(10)) - 2} lines)"


def _share_softmax(instrs: list, written: set) -> list:
    """Cross-entropy's forward and its VJP both shift the logits by their row maximum,
    exponentiate and sum: where a program does both, compute the parts once, before the
    forward (they read only the logits), and take the forward from them (``_CE_PARTS``)."""
    def find(op: Op, refs: list, rows: bool = False) -> int | None:
        for k, ins in enumerate(instrs):  # (rows: a reduction over axis 1, dims kept)
            if ins[0] == "op" and ins[1] is op and ins[3] == refs and (ins[2] == {} if not rows
                    else ins[2]["axis"] in (1, -1, (1,), (-1,)) and ins[2]["keepdims"]):
                return k
        return None

    for k, ins in enumerate(instrs):
        if ins[0] != "op" or ins[1] is not ops.CROSS_ENTROPY or ins[3][0][0] != "v" \
                or any(ins[5]):
            continue
        z = ins[3][0]
        at = [find(ops.MAX, [z], rows=True)]
        if at[0] is not None:
            at.append(find(ops.SUB, [z, ("v", instrs[at[0]][4])]))
        if at[-1] is not None:
            at.append(find(ops.EXP, [("v", instrs[at[-1]][4])]))
        if at[-1] is not None:
            at.append(find(ops.SUM, [("v", instrs[at[-1]][4])], rows=True))
        found = [j for j in at if j is not None]
        if len(found) < 4 or min(found) < k or z[1] in written \
                or any(any(instrs[j][5]) or instrs[j][4] in written for j in found):
            continue
        parts = [instrs[j] for j in found]  # (ordered: each reads the one before)
        zs, total = parts[1][4], parts[3][4]
        fused: tuple = ("op", _CE_PARTS, {}, [("v", zs), ("v", total), ins[3][1]], ins[4],
                 [None, None, None])
        rest = [x for j, x in enumerate(instrs) if j not in found]
        rest[k:k + 1] = parts + [fused]
        return _share_softmax(rest, written)  # (another cross-entropy, if any: at most a few)
    return instrs


def _paren(expr: str, prec: int, need: int) -> str:
    return f"({expr})" if prec < need else expr


def _place(template: str, pos: int, expr: str, prec: int) -> str:
    """``expr`` as it must be written at placeholder ``pos`` of ``template``."""
    if prec >= _ATOM:
        return expr
    m = _BINARY.match(template)
    if m:
        p = _PREC[m.group(2)]
        if int(m.group(1)) == pos and int(m.group(3)) != pos:
            return _paren(expr, prec, p + (1 if p == 6 else 0))  # left operand
        return _paren(expr, prec, p + 1)  # right operand: a - (b - c)
    i = template.index(f"{{{pos}}}")
    before, after = template[:i].rstrip(), template[i + 3:].lstrip()
    if before.endswith(("(", ",")) and after.startswith((")", ",")):
        return expr  # a call's argument
    return f"({expr})"


def _arg_names(f: Callable, args: tuple) -> list[str]:
    """A name per array leaf of the arguments: the parameter's, numbered inside containers."""
    try:
        params = [p.name for p in inspect.signature(f).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = []
    for i, a in enumerate(args):
        base = params[i] if i < len(params) else f"x{i}"
        leaves: list = []
        _flatten(a, leaves, [])
        names += [base] if len(leaves) == 1 and leaves[0] is a else \
            [f"{base}_{j}" for j in range(len(leaves))]
    return names


def _describe(key: Any) -> str:
    return ", ".join(f"{k[1]} {np.dtype(k[2])}" if k[0] in ("T", "A") else "Value"
                     if k[0] == "V" else repr(k[-1]) for k in key)


# ----- compile ---------------------------------------------------------------------------------
def compile(f: Callable) -> Callable:  # noqa: A001  (autograd.compile, as jax.jit)
    """Decorator: trace ``f`` at the first call for each signature (the structure, shapes and
    dtypes of the arguments, and their Python values) and replay the cached ``Program``
    afterwards. It retraces when the signature changes, or when the state the program
    assumed changed (a ``.grad`` that was None is set); it warns when one function has been
    traced more than a few times. Inside a trace, the function is recorded inline.

    The second call of a signature is traced again and compared with the first program: a
    function that reads Python state changing between calls (a random generator, as
    ``nn.Dropout``'s; a counter; a global rebound to a new tensor) gives another program, and
    would be replayed with the first call's values. Then ``compile`` warns and runs ``f``
    eagerly for that signature: slower, never wrong. Replays start at the third call."""
    if not callable(f):
        raise TypeError(f"compile: f must be callable, got {type(f).__name__}")
    cache: dict[tuple, list[Program]] = {}
    eager: set[tuple] = set()  # signatures whose programs changed between calls
    count = [0]

    @functools.wraps(f)
    def compiled(*args: Any) -> Any:
        if state.tracer is not None:
            return f(*args)
        leaves: list = []
        key: list = []
        _flatten(args, leaves, key)
        k = tuple(key)
        if k in eager:
            return f(*args)
        progs = cache.setdefault(k, [])
        for prog in progs:
            if prog._guards_hold(leaves):
                if prog.verified:
                    return prog._run(leaves)
                again = trace(f, *args)  # (this call, run for real while traced)
                if again._same(prog):
                    prog.verified = True
                else:
                    eager.add(k)
                    del cache[k]
                    warnings.warn(
                        f"compile: {getattr(f, '__name__', f)} computed another program at "
                        "its second call (it reads Python state that changes between calls: "
                        "a random generator, a counter, a global rebound to a new tensor); "
                        "replaying the first would repeat that call's values, so it runs "
                        "eagerly for these arguments. Pass such values as arguments, or "
                        "keep them in tensors changed in place", RuntimeWarning, stacklevel=2)
                return again.example_output
        count[0] += 1
        if count[0] > RETRACE_WARNING:
            warnings.warn(f"compile: {getattr(f, '__name__', f)} has been traced {count[0]} "
                          "times (new shapes, dtypes or Python values each call?); every "
                          "trace costs a full eager call and more", RuntimeWarning,
                          stacklevel=2)
        prog = trace(f, *args)
        progs.append(prog)
        return prog.example_output

    compiled.programs = cache  # type: ignore[attr-defined]
    return compiled


# ----- explain: a VJP as the formula it computes ----------------------------------------------
def vjp_formulas(node: Node, names: list[str], out_name: str) -> tuple[list[str], list]:
    """What ``node``'s VJP computes for each input, printed by the program printer: the lines
    it needs first (``t0 = ...``) and, per input, ``d<name> = <expression>`` (None where no
    gradient flows). ``names`` are the inputs' names, ``g`` the gradient arriving at
    ``node`` (named ``out_name``)."""
    op, args, params = node._op, node._args, node._params or {}
    pos = [i for i, a in enumerate(args) if isinstance(a, Node)]
    need = tuple(isinstance(a, Node) and a.requires_grad for a in args)
    ids = [f"_n{i}_" for i in range(len(args))]

    def f(g: Tensor, out: Tensor, *xs: Tensor) -> tuple:
        ins = list(args)
        for i, x in zip(pos, xs):
            ins[i] = x
        with backend.quiet():
            grads = op.vjp(ops.node_ns, g, out, need, *ins, **params)
        res = []
        for i, ga in enumerate(grads):
            if need[i] and ga is not None:
                ga = ga if isinstance(ga, Tensor) else Tensor(ga)
                if not any(ga is x for x in (g, out, *xs)):
                    ga.label = f"_d{i}_"  # its line is the formula
                res.append(ga)
        return tuple(res)

    data = [_DATA.__get__(node)] + [_DATA.__get__(args[i]) for i in pos]
    prog = _trace(f, (np.ones_like(data[0]), *data), ["g", "_out_", *(ids[i] for i in pos)],
                  inline_constants=True)
    subs = {"_out_": out_name, **{ids[i]: names[i] for i in range(len(args))}}

    def named(text: str) -> str:
        return re.sub(r"\b_(?:n\d+|out)_\b", lambda m: subs[m.group(0)], text)

    lines = {line.split(" = ", 1)[0]: line.split(" = ", 1)[1] for line in prog.body}
    exprs = iter(zip(prog.output_names, prog._out_objs))
    formulas: list = []
    for i in range(len(args)):
        if need[i]:
            out, var = next(exprs)
            text = f"d{names[i]} = {named(lines.pop(out, out))}"
            shape = _DATA.__get__(args[i]).shape
            if var is not None and var.shape != shape:  # the engine's un-broadcasting
                text += f", summed back to shape {shape}"
            formulas.append(text)
        else:
            formulas.append(None)
    return [named(f"{k} = {v}") for k, v in lines.items()], formulas
