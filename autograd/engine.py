"""The tape: nodes, grad mode, recording an op, and the one backward pass.

A node is the output of one tape entry: it keeps the op, the inputs it read (nodes, or plain
constants stored in place) and a creation number. Reverse creation order is a valid reverse
topological order, so backward needs no recursion and no global list of entries.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
import os
import sys
import threading
import weakref
import zlib
from collections.abc import Callable, Sequence
from heapq import heappop, heappush
from types import FrameType
from typing import Any

import numpy as np
from numpy import ndarray

from . import array_api, backend

_counter = itertools.count()  # creation numbers: later nodes never feed earlier ones
# the creation number at the last in-place change of any tensor: a node created after it
# cannot have seen a saved input change, so backward checks versions only when this is newer
last_change = [-1]
# where each node recorded in anomaly mode was created, and fingerprints of the values its
# rule reads (side tables: most nodes have none)
class WeakIdTable:
    """A table from nodes to values that keeps an entry while its node lives, keyed by
    identity: nodes compare elementwise, so a WeakKeyDictionary (which compares keys with ==)
    cannot hold them."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref, Any]] = {}

    def __setitem__(self, key: Any, value: Any) -> None:
        k, entries = id(key), self._entries

        def forget(_: Any) -> None:
            entries.pop(k, None)

        entries[k] = (weakref.ref(key, forget), value)

    def get(self, key: Any, default: Any = None) -> Any:
        entry = self._entries.get(id(key))
        return default if entry is None or entry[0]() is not key else entry[1]

    def __contains__(self, key: Any) -> bool:
        entry = self._entries.get(id(key))
        return entry is not None and entry[0]() is key

    def __len__(self) -> int:
        return len(self._entries)


traces = WeakIdTable()
fingerprints = WeakIdTable()
# how many detect_anomaly blocks are open in any thread: while none is, recording an op need
# not read the thread-local flag (a plain list read is several times cheaper)
anomaly_users = [0, False]  # (and whether one ever was: only then can fingerprints exist)
_anomaly_lock = threading.Lock()
# how many tensor hooks were registered and not removed (an upper bound: a hook whose tensor
# died is not subtracted): while none is, backward never looks for them
hook_users = [0]


class _State(threading.local):
    """This thread's recording state, public as ``autograd.thread_state``: read it (``.scope``,
    ``.grad_enabled``) rather than write it; ``nn.Module.__call__`` swaps ``.scope`` directly,
    on the hot path, as ``set_scope`` would (and restores it in a ``finally``)."""

    def __init__(self) -> None:
        self.saved_modes: list[bool] = []  # what no_grad/enable_grad restore, per thread
        self.saved_anomaly: list[tuple[bool, bool]] = []  # what detect_anomaly restores
        self.scopes: list[str | None] = []  # the paths that open scopes will restore

    grad_enabled = True
    anomaly = False
    anomaly_forward = False  # detect_anomaly(forward=True): check each recorded op's output
    transform_depth = 0  # how many grad/value_and_grad calls are evaluating their f
    scope: str | None = None  # the current scope path, which new tensors record
    tracer: Any = None  # the autograd.trace recording in this thread, if one is


state = _State()


class no_grad:
    """Context manager and decorator: operations inside record nothing (thread-local).

    As a decorator, with or without parentheses (``@no_grad()`` or ``@no_grad``). On a
    generator function, as in PyTorch, the mode holds while the generator runs and the
    caller's mode is back at each ``yield``."""

    _mode = False
    _wrapped: Callable | None = None  # the function, when used as ``@no_grad`` (no parentheses)

    def __init__(self, fn: Callable | None = None) -> None:
        # an __init__, not a __new__ returning the wrapper: `with no_grad():` runs in every
        # training step, and a Python __new__ costs it twice as much
        if fn is not None:
            self._wrapped = self.__call__(fn)
            functools.update_wrapper(self, fn)

    def __enter__(self) -> None:
        state.saved_modes.append(state.grad_enabled)  # thread-local: instances can be shared
        state.grad_enabled = self._mode

    def __exit__(self, *exc: object) -> None:
        state.grad_enabled = state.saved_modes.pop()

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        # @no_grad on a method: bound as the function it wraps would be
        return self if self._wrapped is None else self._wrapped.__get__(obj, owner)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._wrapped is not None:  # @no_grad on a function: this call is the function's
            return self._wrapped(*args, **kwargs)
        fn = args[0] if len(args) == 1 and not kwargs else None
        if not callable(fn):
            what = type(args[0]).__name__ if len(args) == 1 else f"{len(args)} arguments"
            raise TypeError(f"{type(self).__name__}: can decorate a function, not {what}")
        if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
            raise TypeError(f"{type(self).__name__}: cannot decorate the async function "
                            f"{getattr(fn, '__name__', fn)} (its body runs later, elsewhere); "
                            f"use `with {type(self).__name__}():` inside it")
        mode = type(self)
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def generator(*args: Any, **kwargs: Any) -> Any:
                # every resume runs under the mode, every yield hands back the caller's:
                # a plain `with` around the loop would leak the mode into the caller
                gen = fn(*args, **kwargs)
                try:
                    with mode():
                        item = gen.send(None)
                    while True:
                        try:
                            sent = yield item
                        except GeneratorExit:
                            with mode():
                                gen.close()
                            raise
                        except BaseException as e:  # gen.throw(): into the generator
                            with mode():
                                item = gen.throw(e)
                        else:
                            with mode():
                                item = gen.send(sent)
                except StopIteration as stop:
                    return stop.value

            return generator

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with mode():
                return fn(*args, **kwargs)

        return wrapper


class enable_grad(no_grad):
    """Context manager and decorator: operations inside record, even within ``no_grad``."""

    _mode = True


def is_grad_enabled() -> bool:
    """Whether operations in this thread are recorded."""
    return state.grad_enabled


class ScopePath(str):
    """A scope path that carries a title for each of its dotted names, for drawings:
    ``ScopePath("encoder.0", ("encoder: Sequential", "0: Linear"))`` is the string
    ``"encoder.0"`` (it compares, hashes and prints as one) and ``draw_graph`` titles the boxes
    of ``encoder`` and ``encoder.0`` by ``titles``. ``nn`` makes one per module, once, and sets
    it as the scope of the module's calls: the titles travel with the path that tensors
    record, so two models whose paths coincide (``"0"``) each keep their own."""

    __slots__ = ("titles",)
    titles: tuple[str, ...]

    def __new__(cls, path: str, titles: Sequence[str]) -> ScopePath:
        titles = tuple(titles)
        if not isinstance(path, str) or not all(isinstance(t, str) for t in titles):
            raise TypeError(f"ScopePath: path and titles must be str, got {path!r}, {titles!r}")
        if len(titles) != path.count(".") + 1:
            raise ValueError(f"ScopePath: {path!r} has {path.count('.') + 1} names but "
                             f"{len(titles)} titles {titles}")
        self = super().__new__(cls, path)
        self.titles = titles
        return self

    def __reduce__(self) -> tuple:
        return ScopePath, (str(self), self.titles)

    @staticmethod
    def nest(outer: str | None, inner: str) -> str:
        """The path ``outer.inner`` (``inner`` when ``outer`` is None), a ``ScopePath`` with
        the titles of both when either has titles (a plain path's names are its titles)."""
        if outer is None:
            return inner
        if type(outer) is not ScopePath and type(inner) is not ScopePath:
            return f"{outer}.{inner}"
        return ScopePath(f"{outer}.{inner}",
                         ScopePath.titles_of(outer) + ScopePath.titles_of(inner))

    @staticmethod
    def titles_of(path: str) -> tuple[str, ...]:
        """The title of each dotted name of a scope path: a ``ScopePath``'s ``titles``, or
        the names themselves (``"encoder.0"`` -> ``("encoder", "0")``)."""
        return path.titles if isinstance(path, ScopePath) else tuple(path.split("."))


class scope:
    """Context manager: every tensor an op records inside remembers the path of the open scopes,
    joined with "." (``with scope("encoder"): with scope("attn"):`` gives ``"encoder.attn"``),
    as JAX's name stack does; ``draw_graph`` boxes the ops of each path. Thread-local. Under a
    ``ScopePath`` (inside an nn module) the path is one too, its own name its title.

    ``absolute=True`` makes the path ``name`` itself, ignoring the enclosing scopes (as nn
    names a module by its path in the outermost module called). Only ``Tensor`` nodes record
    it: recording it on ``Value`` too would cost every scalar op about a tenth more.
    """

    __slots__ = ("name", "absolute")

    def __init__(self, name: str, *, absolute: bool = False) -> None:
        if type(name) is not str:
            raise TypeError(f"scope: name must be a str, got {type(name).__name__}")
        if not name:
            raise ValueError("scope: name must not be empty")
        self.name = name
        self.absolute = absolute

    def __enter__(self) -> None:
        prev = state.scope  # thread-local, and nothing kept here: instances can be shared
        state.scopes.append(prev)
        if self.absolute or prev is None:
            state.scope = self.name
        else:  # keeps the titles of a ScopePath (nn's)
            state.scope = (f"{prev}.{self.name}" if type(prev) is str
                           else ScopePath.nest(prev, self.name))

    def __exit__(self, *exc: object) -> None:
        state.scope = state.scopes.pop()


def set_scope(path: str | None) -> str | None:
    """Make ``path`` the current scope path (None: no scope) and return the previous one, to
    be restored with ``set_scope(previous)``: ``scope`` for code that opens one per call on a
    hot path (``nn.Module.__call__`` does), without a context manager's two method calls."""
    prev = state.scope
    state.scope = path
    return prev


def current_scope() -> str | None:
    """The path of the scopes open in this thread (``"encoder.attn"``), or None outside any."""
    return state.scope


class Op:
    """One primitive and every fact about it, declared once (``defop``); the rest of autograd
    (methods, namespaces, ``tape``, ``explain``, drawings) and the test tables read them here.

    ``forward(xp, *inputs, **params)`` computes the output from raw inputs; parameters are the
    forward's arguments that have defaults (``axis=None``), inputs the ones that do not.
    ``vjp(xp, g, out, need, *inputs, **params)`` returns one gradient per input (None where
    ``need`` says no one asks for it). The engine calls it with raw values and the raw
    namespace for a first-order backward, and with nodes and the differentiable namespace
    for higher order, so the same lines record their own derivative.
    ``saves(xp, *inputs, **params)``, where an op has it, returns ``(out, residual)``: the
    forward's output and values computed on the way that its VJP would compute again (PyTorch's
    saved tensors, JAX's residuals). A recorded numpy ``Tensor`` op keeps them, and a
    first-order backward passes them to the VJP as ``res=``; everywhere else (higher order,
    whose rules differentiate their own recomputation; other libraries; ``autograd.trace``)
    the VJP gets ``res=None`` and recomputes. Both give the same numbers.
    ``jvp(xp, tangents, out, *inputs, **params)`` returns the output's tangent (forward mode),
    ``tangents`` holding one per input (None for constants and inputs that carry none). Only
    the ops that are neither linear nor elementwise write one: a linear op's JVP is its forward
    run on the tangents (HIPS autograd's ``def_linear``), and an elementwise op's Jacobian is
    diagonal, so its JVP is its VJP applied to each input's tangent; either way the calculus
    is written once.

    The facts, besides the inputs and parameters read off the forward's signature:
    ``symbol`` (drawings and explain), ``doc`` (the method's docstring), ``kinks`` (its
    non-differentiable points and the choice made there), ``methods`` (names it gets on
    ``Value`` and ``Tensor``, or on ``Tensor`` only unless ``scalar``; a name ``__r...__``
    takes its operands reflected),
    ``scalar`` (it has a ``Value`` form), ``elementwise``, ``linear`` (in its differentiable
    inputs), ``commutative``, ``numpy`` (the name of numpy's ufunc for it where it is not the
    op's own: ``np.subtract(a, t)`` records ``sub``), ``nondiff`` (positions of inputs that
    carry no gradient: masks, labels), ``reads`` (what its VJP reads: "inputs", "out", or
    input positions; changing those in place before backward is an error, and a
    registry-driven test checks that the declaration is not too narrow), ``code`` (how
    ``autograd.trace`` prints it as numpy: a template such as ``"{0} @ {1}"``, or a function
    of the printed inputs, the parameters and the inputs' (shape, dtype) returning one;
    without it the op prints as ``xp.<name>(...)``).
    """

    __slots__ = ("name", "forward", "vjp", "jvp", "symbol", "doc", "kinks", "custom", "reads",
                 "nondiff", "methods", "scalar", "elementwise", "linear", "commutative", "inputs",
                 "variadic", "params", "numpy", "code", "saves")

    def __init__(self, name: str, forward: Callable, vjp: Callable, symbol: str | None = None,
                 doc: str = "", kinks: str = "", custom: bool = False,
                 reads: tuple = ("inputs", "out"),
                 nondiff: tuple = (), methods: tuple = (), scalar: bool = False,
                 elementwise: bool = False, linear: bool = False,
                 commutative: bool = False, numpy: str = "",
                 code: Any = None, jvp: Callable | None = None,
                 saves: Callable | None = None) -> None:
        self.name = name
        self.saves = saves
        self.code = code
        self.forward = forward
        self.vjp = vjp
        self.symbol = symbol or name
        self.doc = doc
        self.kinks = kinks
        self.custom = custom
        self.reads = reads
        self.nondiff = nondiff
        self.methods = methods
        self.scalar = scalar
        self.elementwise = elementwise
        self.linear = linear
        self.commutative = commutative
        self.numpy = numpy
        # read off the forward's signature: inputs are positional (or *inputs), parameters
        # keyword-only (``*, axis=None``); a namespace function takes both positionally
        sig = list(inspect.signature(forward).parameters.values())[1:]  # after xp
        self.inputs = tuple(p.name for p in sig if p.kind is p.POSITIONAL_OR_KEYWORD)
        self.variadic = any(p.kind is p.VAR_POSITIONAL for p in sig)
        self.params = {p.name: p.default for p in sig if p.kind is p.KEYWORD_ONLY}
        if jvp is None and not custom:
            jvp = _linear_jvp(self) if linear else _elementwise_jvp(self) if elementwise \
                else None
        self.jvp = jvp  # None: this op has no forward mode (a custom one declared none)

    def __repr__(self) -> str:
        return f"Op({self.name!r})"

    def __reduce__(self) -> Any:
        # an op is its facts, declared once: copies and pickles name the registered one
        if registry.get(self.name) is not self:
            raise TypeError(f"cannot pickle a graph recorded with the custom primitive "
                            f"'{self.name}' (its functions are not picklable); pickle the "
                            "values, or the node's detach()")
        return (_registered, (self.name,))

    def __deepcopy__(self, memo: dict) -> Op:
        return self


def _zero_tangent(x: Any, out: Any) -> Any:
    """The tangent of an input that carries none, for a linear op's forward: zeros of the
    input's shape in the output's dtype (0.0 for a Value)."""
    o = out.data if isinstance(out, Node) else out
    if type(o) is float:
        return 0.0
    shape = np.shape(x.data if isinstance(x, Node) else x)
    if array_api.is_foreign(o):  # in the output's library and on its device
        ns = array_api.namespace_of(o)
        z = ns.xp.zeros(shape, dtype=o.dtype, device=ns.device)
        # beside tangents that are nodes, a constant node: unlike numpy's, another library's
        # array does not defer to a node's operators
        return out._kind(z) if isinstance(out, Node) else z
    return np.zeros(shape, dtype=o.dtype)


def _linear_jvp(op: Op) -> Callable:
    """A linear op's JVP: its own forward, run on the tangents (inputs that carry no gradient,
    such as where's condition, keep their values)."""
    forward, nondiff = op.forward, op.nondiff  # (not op: an op would refer to itself)

    def jvp(xp: Any, tangents: Sequence, out: Any, *inputs: Any, **params: Any) -> Any:
        args = [x if i in nondiff else _zero_tangent(x, out) if t is None else t
                for i, (t, x) in enumerate(zip(tangents, inputs))]
        return forward(xp, *args, **params)

    return jvp


def _elementwise_jvp(op: Op) -> Callable:
    """An elementwise op's JVP from its VJP: its Jacobian is diagonal (after broadcasting), so
    the VJP of each input, fed that input's tangent as ``g``, is that input's term of J v."""
    vjp, nondiff = op.vjp, op.nondiff  # (not op: an op would refer to itself)

    def jvp(xp: Any, tangents: Sequence, out: Any, *inputs: Any, **params: Any) -> Any:
        total = None
        for i, t in enumerate(tangents):
            if t is None or i in nondiff:
                continue
            need = tuple(j == i for j in range(len(inputs)))
            term = vjp(xp, t, out, need, *inputs, **params)[i]
            total = term if total is None else total + term
        return total

    return jvp


def _registered(name: str) -> Op:
    return registry[name]


registry: dict[str, Op] = {}
# the differentiable namespace that higher-order rules receive as ``xp``: built from the
# registry by ``autograd.ops`` and set there (ops imports the engine, never the other way)
node_ns: Any = None


def defop(name: str, forward: Callable, vjp: Callable, **facts: Any) -> Op:
    """Register a built-in primitive with its facts (see ``Op``)."""
    if name in registry:
        raise ValueError(f"defop: an op named {name!r} is already registered")
    op = registry[name] = Op(name, forward, vjp, **facts)
    return op


class Node:
    """What the engine needs of a kind of node (``Value``, ``Tensor``), and their common state.

    This base class is the engine's contract (minitorch's ``Variable`` protocol, made a base so
    that the hot paths can test ``isinstance(x, Node)``): a kind keeps its inputs (``_args``)
    and its op's parameters (``_params``) as it likes (Tensor in slots; Value in two slots for
    its inputs, and its ops take no parameters), names its raw namespace (``_ns``), and
    implements the four methods below. It may offer its own first-order backward loop
    (``_fast_backprop``), which ``backprop`` uses when nothing else is asked of the pass.
    """

    __slots__ = ("data", "grad", "label", "_op", "_id", "__weakref__")
    data: Any
    grad: Any
    label: str
    _op: Any  # the Op that produced this node, None for a leaf
    _id: int  # creation number
    _args: Any  # the inputs: nodes and constants
    _params: dict | None
    _kind: Any  # Value or Tensor (the class), also for their subclasses
    requires_grad = True
    _rg = True  # requires_grad, read on hot paths without a property call
    _saved: Any = None  # versions of the inputs when recorded (Tensor only)
    _scope: str | None = None  # the scope path it was recorded in (Tensor only)
    _scalar = False
    _grad0: Any = None  # what an intermediate's grad is reset to before a backward
    _ns: Any = None  # the raw namespace of this kind of node
    _fast_backprop: Any = None  # a kind's own first-order backward loop, if it has one

    @staticmethod
    def _apply(op: Op, args: tuple, params: dict | None = None) -> Any:
        """Run ``op`` on these nodes and constants, and record it when a gradient may flow."""
        raise NotImplementedError

    def _make_seed(self, seed: Any) -> Any:
        """The gradient backward starts from (``seed`` checked, or ones)."""
        raise NotImplementedError

    def _fix_grad(self, ga: Any, op: Op, g: Any, xp: Any) -> Any:
        """A rule's gradient for this input made right: summed back to this node's shape,
        checked, cast to its dtype, owned."""
        raise NotImplementedError

    def _check_saved(self) -> None:
        """Raise if a value this node's rule reads was changed in place since it ran."""
        raise NotImplementedError

    def _init_node(self, data: Any, label: str = "") -> None:
        """Make this a leaf holding ``data``."""
        self.data = data
        self.grad = self._grad0
        self.label = label
        self._op = None
        self._args = ()
        self._id = next(_counter)

    def __reduce_ex__(self, protocol: Any) -> Any:
        # copy, deepcopy and pickle: the graph as a flat list, oldest first, each node's
        # inputs as positions in it (the default recurses once per node: a chain of 10^5
        # values overflowed the stack). Leaves stay objects, shared with whatever else is
        # copied in the same call; inner nodes belong to this copy.
        nodes = graph(self)[::-1] if self._op is not None else [self]
        at = {id(n): i for i, n in enumerate(nodes)}
        records: list = []
        for n in nodes:
            if n._op is None and n is not self:
                records.append(n)
                continue
            state = {k: getattr(n, k) for k in _slots(type(n)) if hasattr(n, k)}
            state["_args"] = _link(n._args, at)
            records.append((type(n), state))
        return (_rebuild, (records,))

    @property
    def op(self) -> str:
        """Name of the op that produced this node ('' for a leaf)."""
        return self._op.name if self._op is not None else ""

    @property
    def inputs(self) -> tuple:
        """The nodes and constants this node was computed from (empty for a leaf)."""
        return self._args if self._op is not None else ()

    @property
    def is_leaf(self) -> bool:
        """Whether no op produced this node."""
        return self._op is None


class _At(int):
    """A node's input in a pickled graph: its position in the flat list."""


def _slots(cls: type) -> list[str]:
    names = [k for c in cls.__mro__ for k in getattr(c, "__slots__", ())]
    return [k for k in names if k not in ("__weakref__", "_args", "_x", "_y", "_hooks",
                                          "_post_hooks")]  # a copy has no hooks


def _link(args: Any, at: dict[int, int]) -> Any:
    if args is None:  # (a Value computed under no_grad)
        return None
    return tuple(_At(at[id(a)]) if isinstance(a, Node) and id(a) in at else a for a in args)


def _rebuild(records: list) -> Node:
    """The graph of a pickled node, rebuilt oldest first (new creation numbers, same order)."""
    nodes: list[Node] = []
    for r in records:
        if isinstance(r, Node):
            nodes.append(r)
            continue
        cls, state = r
        n = object.__new__(cls)
        args = state.pop("_args")
        for k, v in state.items():
            object.__setattr__(n, k, v)
        n._args = None if args is None else tuple(
            nodes[a] if type(a) is _At else a for a in args)
        n._id = next(_counter)
        nodes.append(n)
    return nodes[-1]


def kind_of(args: Any) -> Any:
    """The node class (Value or Tensor) of an op's arguments; TypeError when they mix."""
    kind = None
    for a in args:
        if isinstance(a, Node):
            k = a._kind
            if kind is None:
                kind = k
            elif k is not kind:
                if hasattr(k, "_xp") and hasattr(kind, "_xp"):  # two Tensors: libraries
                    from .tensor import _mixing
                    raise _mixing("operation", [b.data if isinstance(b, Node) else b
                                                for b in args])
                raise TypeError(
                    f"cannot combine {kind.__name__} and {k.__name__} in one operation: a Value "
                    "is a scalar node and a Tensor an array node; use Tensor(v.data) or t.item()"
                )
    return kind


def apply(op: Op, *args: Any, **params: Any) -> Any:
    """Run ``op`` on nodes and constants; record it on the tape when a gradient may flow.

    With no node among the arguments, the raw result is returned (this is what lets a VJP
    mix nodes with constant masks in higher order).
    """
    kind = kind_of(args)
    if kind is None:
        if any(isinstance(a, (ndarray, np.generic)) for a in args):  # no numpy scalar in or out
            out = op.forward(backend.numpy_ns, *map(backend.as_array, args), **params)
            return backend.as_array(out)
        for a in args:  # another library's arrays: its namespace
            if array_api.is_foreign(a):
                return op.forward(array_api.namespace_of(a), *args, **params)
        return op.forward(backend.scalar, *args, **params)
    return kind._apply(op, args, params or None)


def record_anomaly(out: Node) -> None:
    """In anomaly mode: where ``out`` was created, and a fingerprint of every value its rule
    will read, so that backward can name a change that no version counter sees (a numpy array
    captured as a constant and changed afterwards, a write through ``.data``)."""
    traces[out] = _creation_site()
    fingerprints[out] = [_fingerprint(v) for v in _read_values(out)]
    if state.anomaly_forward:
        from .anomaly import check_forward  # (imported when asked for: it imports the engine)
        check_forward(out)


def _read_values(n: Node) -> list:
    """The raw values ``n``'s rule reads (None where it reads nothing), inputs then output."""
    reads = n._op.reads
    vals = [(a.data if isinstance(a, Node) else a)
            if "inputs" in reads or i in reads else None for i, a in enumerate(n._args)]
    return vals + [n.data if "out" in reads else None]


def _fingerprint(v: Any) -> Any:
    if v is None:
        return None
    return zlib.crc32(np.ascontiguousarray(v).data) if isinstance(v, np.ndarray) \
        else repr(v)


def _check_fingerprints(n: Node) -> None:
    old = fingerprints.get(n)
    if old is None:
        return
    for i, (v, fp) in enumerate(zip(_read_values(n), old)):
        if _fingerprint(v) != fp:
            what = "the output" if i == len(old) - 1 else f"input {i}"
            raise RuntimeError(
                f"detect_anomaly: {what} of '{n._op.name}' (created at {traces.get(n)}) changed "
                f"after it was recorded, without an in-place operation (a numpy array used as a "
                f"constant and changed afterwards, or a write through .data); its backward "
                f"would be wrong: recompute the forward pass after changing it")


# packages whose frames _creation_site skips: library code, never where a user made a node
_hidden_packages = [__name__.rpartition(".")[0]]  # autograd itself


def hide_frames(package: str) -> None:
    """Skip the frames of ``package`` and its submodules (by module name) when
    ``detect_anomaly`` reports where a node was created, as autograd's own are skipped: for a
    library built on autograd (nn calls this at import), so the report names its user's line."""
    if type(package) is not str:
        raise TypeError(f"hide_frames: package must be a str, got {type(package).__name__}")
    if not package:
        raise ValueError("hide_frames: package must not be empty")
    if package not in _hidden_packages:
        _hidden_packages.append(package)


def _hidden(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in _hidden_packages)


def _creation_site() -> str:
    """The first stack frame outside the hidden packages: where the user created a node."""
    f: FrameType | None = sys._getframe(2)
    while f is not None:
        if not _hidden(f.f_globals.get("__name__", "")):
            return f"{os.path.abspath(f.f_code.co_filename)}:{f.f_lineno}"
        f = f.f_back
    return "<unknown>"


def graph(root: Node, oldest: int = -1) -> list[Node]:
    """Every node that requires grad and leads to ``root``, newest first (iterative).

    Nodes created before ``oldest`` are not followed: they cannot depend on anything newer.
    """
    seen = {root}
    stack = [root]
    nodes = []
    while stack:
        n = stack.pop()
        nodes.append(n)
        if n._op is not None:
            for a in n._args:
                if isinstance(a, Node) and a._rg and a not in seen and a._id > oldest:
                    seen.add(a)
                    stack.append(a)
    nodes.sort(key=_creation, reverse=True)
    return nodes


def _creation(n: Node) -> int:
    return n._id


def backprop(root: Node, seed: Any, create_graph: bool = False, oldest: int = -1,
             observe: Callable[[Node, Any, list], None] | None = None) -> dict[Node, Any]:
    """Replay the tape behind ``root`` in reverse from the gradient ``seed``.

    Nodes are taken newest first from a heap keyed by creation number: every consumer of a
    node is newer than it, so all of a node's gradient has arrived when it is taken. Nodes
    created before ``oldest`` are not expanded. Returns the gradient of every node reached, as
    a dict; writes no ``.grad`` field. With ``create_graph`` the gradients are nodes.
    ``observe(node, g, sent)``, if given, is called after each step with the gradient that
    arrived at the node and, per input that got one in the order of the inputs, ``(input,
    gradient sent, the input's total before, after)``: ``explain`` narrates this one pass.
    """
    if not root._rg:
        raise RuntimeError(
            "backward: this result does not require grad (it was computed under no_grad or "
            "only from constants); create its inputs with requires_grad=True and compute it "
            "in grad mode"
        )
    if create_graph and root._ns is not backend.numpy_ns and root._ns is not backend.scalar \
            and not isinstance(seed, Node):  # another library's arrays refuse a node on their
        seed = root._kind(seed)  # right (numpy's defer to it): the seed is one, a constant
    grads = {root: seed}
    heap = [(-root._id, root)] if root._op is not None else []
    xp = node_ns if create_graph else root._ns
    anomaly = bool(anomaly_users[0]) and state.anomaly
    recorded_in_anomaly_mode = anomaly_users[1] and len(fingerprints) > 0  # in any mode
    hooked = hook_users[0] > 0
    fast = root._fast_backprop  # a kind's own first-order loop (Value's: floats need less)
    if fast is not None and not (create_graph or anomaly or recorded_in_anomaly_mode
                                 or observe or hooked):
        fast(heap, grads, oldest)
        return grads
    if create_graph:  # the rules' own operations are recorded, also inside no_grad (built-in
        prev = state.grad_enabled  # rules in a first-order pass see raw values: no nodes)
        state.grad_enabled = True
    token = backend.quiet_enter()
    try:
        get = grads.get
        while heap:
            n = heappop(heap)[1]
            if n._id <= oldest:
                break  # everything left is older: it cannot lead to what was asked for
            op = n._op
            g = grads[n]
            if hooked and getattr(n, "_hooks", None):  # its gradient is complete here
                g = grads[n] = run_hooks(n, g, grads, create_graph)
            args = n._args
            if last_change[0] > n._id:
                n._check_saved()
            if recorded_in_anomaly_mode:
                _check_fingerprints(n)
            params = n._params
            if op.saves is not None and not create_graph:  # what its forward kept, if it did
                params = {**(params or {}), "res": getattr(n, "_res", None)}
            need: Any
            if len(args) == 2 and not params:  # most ops: no lists, and no star call (2x)
                a, b = args
                na, nb = isinstance(a, Node), isinstance(b, Node)
                need = (na and a._rg, nb and b._rg)
                if create_graph:
                    vjps = op.vjp(xp, g, n, need, a, b)
                else:
                    vjps = op.vjp(xp, g, n.data, need, a.data if na else a, b.data if nb else b)
            else:
                if len(args) == 1:  # the input of a unary op is a node
                    need = (args[0]._rg,)
                    vals = args if create_graph else (args[0].data,)
                else:
                    need = tuple([isinstance(a, Node) and a._rg for a in args])
                    vals = args if create_graph else [a.data if isinstance(a, Node) else a
                                                      for a in args]
                out = n if create_graph else n.data
                if params:
                    vjps = op.vjp(xp, g, out, need, *vals, **params)
                else:
                    vjps = op.vjp(xp, g, out, need, *vals)
            sent: list | None = [] if observe is not None else None
            for a, ga, nd in zip(args, vjps, need):
                if not nd or ga is None:
                    continue
                if a._scalar:
                    if type(ga) is not float:
                        ga = a._fix_grad(ga, op, g, xp)
                elif type(ga) is ndarray and ga.shape == a.data.shape \
                        and ga.dtype is a.data.dtype:
                    if ga is g or ga.base is not None:  # no two nodes share a gradient array
                        ga = ga.copy()
                else:
                    ga = a._fix_grad(ga, op, g, xp)  # un-broadcast, check, cast, own
                if anomaly:
                    _check_finite(ga, n, a, g, grads)
                old = get(a)
                if old is None:
                    grads[a] = ga
                    if a._op is not None:
                        heappush(heap, (-a._id, a))
                else:
                    grads[a] = _sum(old, ga)
                if sent is not None:
                    sent.append((a, ga, old, grads[a]))
            if sent is not None:
                observe(n, g, sent)  # type: ignore[misc]  # (sent exists only then)
        if hooked:  # a leaf's gradient is complete only now: its hooks run before any use
            for n in sorted([n for n in grads if n._op is None and getattr(n, "_hooks", None)],
                            key=_creation, reverse=True):
                grads[n] = run_hooks(n, grads[n], grads, create_graph)
    finally:
        backend.quiet_exit(token)
        if create_graph:
            state.grad_enabled = prev
    return grads


def forward_order(root: Node, inputs: Sequence[Node]) -> list[Node]:
    """The recorded nodes between ``inputs`` and ``root`` in creation order (a valid
    topological order, iterative): what a forward-mode sweep visits, found once and replayed
    for any number of tangents (``linearize``)."""
    oldest = min(w._id for w in inputs) - 1 if inputs else -1
    nodes = graph(root, oldest)
    nodes.reverse()
    return [n for n in nodes if n._op is not None and n._id > oldest]


class NoJVPError(RuntimeError):
    """Forward mode reached a custom primitive that declares no JVP rule."""


def push_tangents(order: Sequence[Node], seeds: dict[Node, Any], nested: bool = False,
                  observe: Callable[[Node, list, Any], None] | None = None) -> dict[Node, Any]:
    """Forward mode: replay the tape ``order`` (from ``forward_order``) from the tangents
    ``seeds`` of some of its inputs, one JVP per op whose inputs carry a tangent. Returns the
    tangent of every node reached (the seeds included). With ``nested`` the rules run on nodes
    in the differentiable namespace, so the tangents are nodes and differentiate again (as
    backprop's ``create_graph``); else on raw values. ``observe(node, tangents in, tangent
    out)``, if given, is called after each step (``explain(mode="forward")``).

    The eager ops pay nothing for it: the tape they record anyway is the program replayed."""
    tangents = dict(seeds)
    get = tangents.get
    if nested:
        for w, t in seeds.items():  # (another library's array does not defer to a node)
            if array_api.is_foreign(t):
                tangents[w] = w._kind(t)
        prev = state.grad_enabled
        state.grad_enabled = True
    token = backend.quiet_enter()
    try:
        for n in order:
            args = n._args
            ts = [get(a) if isinstance(a, Node) else None for a in args]
            if n in seeds or all(t is None for t in ts):
                continue
            op = n._op
            if op.jvp is None:
                raise NoJVPError(
                    f"forward mode (jvp, jacfwd, hessian, hvp) reached the custom primitive "
                    f"'{op.name}', which has no JVP rule: declare it with primitive('{op.name}',"
                    f" forward, vjp, jvp=...), jvp(xp, tangents, out, *inputs) returning the "
                    f"output's tangent; or use a reverse-mode transform (jacrev, grad)")
            if last_change[0] > n._id:
                n._check_saved()
            if nested:
                t = op.jvp(node_ns, ts, n, *args, **(n._params or {}))
            else:
                vals = [a.data if isinstance(a, Node) else a for a in args]
                t = op.jvp(n._ns, ts, n.data, *vals, **(n._params or {}))
            t = _fix_tangent(t, n, nested)
            tangents[n] = t
            if observe is not None:
                observe(n, ts, t)
    finally:
        backend.quiet_exit(token)
        if nested:
            state.grad_enabled = prev
    return tangents


def _fix_tangent(t: Any, n: Node, nested: bool = False) -> Any:
    """A rule's tangent made the output's: a float for a Value, an array (or a Tensor) of the
    output's shape and dtype for a Tensor; a broadcastable one is broadcast (a term of an
    elementwise op may have an input's shape); anything else is a wrong rule. With
    ``nested``, another library's raw tangent becomes a constant node."""
    data = n.data
    if type(t) is float if n._scalar else (type(t) is ndarray and t.shape == data.shape
                                             and t.dtype is data.dtype):
        return t  # (the usual case, first: this runs once per op of each sweep)
    name = n._op.name
    if n._scalar:
        if isinstance(t, Node):
            if t._scalar:
                return t
        elif not isinstance(t, (np.ndarray, np.generic)) or np.size(t) == 1:
            return _float_tangent(t, name)
        raise RuntimeError(f"{name}: its JVP returned {type(t).__name__} "
                           f"{getattr(t, 'shape', '')} for a Value output (a float expected)")
    if isinstance(t, Node):
        if t._scalar:
            raise RuntimeError(f"{name}: its JVP returned a Value for a Tensor output")
        if t.data.shape != data.shape:
            _check_broadcast(t.data.shape, data.shape, name)
            t = node_ns.broadcast_to(t, data.shape)
        return t if t.data.dtype == data.dtype else t.astype(data.dtype)
    if array_api.is_foreign(data):  # another library's: broadcast and cast in its namespace
        ns = n._ns
        if not hasattr(t, "shape") or not array_api.is_foreign(t):  # a number, a host array
            t = ns.asarray(t, dtype=data.dtype)
        if tuple(t.shape) != tuple(data.shape):
            _check_broadcast(tuple(t.shape), tuple(data.shape), name)
            t = ns.broadcast_to(t, tuple(data.shape))
        t = t if t.dtype == data.dtype else ns.xp.astype(t, data.dtype)
        return n._kind(t) if nested else t  # (a node beside nodes: see push_tangents)
    t = np.asarray(t)
    if t.shape != data.shape:
        _check_broadcast(t.shape, data.shape, name)
        t = backend.numpy_ns.broadcast_to(t, data.shape)
    return t if t.dtype == data.dtype else t.astype(data.dtype)


def _check_broadcast(shape: tuple, out_shape: tuple, name: str) -> None:
    try:
        ok = np.broadcast_shapes(shape, out_shape) == out_shape
    except ValueError:
        ok = False
    if not ok:
        raise RuntimeError(f"{name}: its JVP returned a tangent of shape {shape} for an output "
                           f"of shape {out_shape}")


def _float_tangent(t: Any, name: str) -> float:
    try:
        return float(np.asarray(t).reshape(()))
    except (TypeError, ValueError):
        raise RuntimeError(f"{name}: its JVP returned {type(t).__name__} for a Value output "
                           "(a float expected)") from None


def backward(root: Node, seed: Any, create_graph: bool = False) -> None:
    """Backpropagate from ``root`` and store the gradients in ``.grad``.

    Leaves accumulate across calls; intermediates are overwritten (reset first), so a second
    backward over the same graph adds exactly one more copy to each leaf.
    """
    grads = backprop(root, root._make_seed(seed), create_graph)
    if create_graph:  # a constant gradient (e.g. of abs) is still a node, as promised
        grads = {n: g if isinstance(g, Node) else n._kind(g) for n, g in grads.items()}
    for n, g in grads.items():
        if n._op is None:
            old = n.grad
            # a Value's grad starts at 0.0: adding it would put a useless node in create_graph
            if not (old is None or (type(old) is float and old == 0.0)):
                g = _sum(old, g)
        n.grad = g
    if hook_users[0]:  # PyTorch's post-accumulate-grad hooks: once each leaf's .grad is final
        for n in sorted(grads, key=_creation, reverse=True):
            post = getattr(n, "_post_hooks", None) if n._op is None else None
            for fn in list(post.values()) if post else ():
                fn(n)


class Hooks(dict):
    """The hooks registered on one node or module, by handle id, in registration order (a dict
    a handle can refer to weakly: a handle never keeps a graph alive)."""

    __slots__ = ("__weakref__",)


_handle_ids = itertools.count()


class RemovableHandle:
    """What registering a hook returns: ``remove()`` unregisters it (twice is harmless), and
    as a context manager the hook is registered for the ``with`` block only (PyTorch's
    ``RemovableHandle``)."""

    __slots__ = ("_hooks", "id", "_counter")

    def __init__(self, hooks: Hooks, fn: Callable, counter: list[int] | None = None) -> None:
        self.id = next(_handle_ids)
        hooks[self.id] = fn
        self._hooks = weakref.ref(hooks)
        self._counter = counter
        if counter is not None:
            counter[0] += 1

    def remove(self) -> None:
        """Unregister the hook."""
        hooks = self._hooks()
        if hooks is not None and hooks.pop(self.id, None) is not None \
                and self._counter is not None:
            self._counter[0] -= 1

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class GradsHook:
    """An engine-side hook that reads and replaces the gradients of other nodes too (nn's full
    backward hooks): called as ``hook(node, g, grads)`` with the pass's table of gradients,
    it returns the node's gradient."""

    __slots__ = ()

    def __call__(self, n: Node, g: Any, grads: dict) -> Any:
        raise NotImplementedError


def run_hooks(n: Node, g: Any, grads: dict, create_graph: bool) -> Any:
    """``n``'s gradient after its hooks (``register_hook``), each given the previous one's;
    then the engine-side ones (``GradsHook``), as PyTorch runs a tensor's hooks before the
    module hooks of its node."""
    hooks = list(n._hooks.values())  # type: ignore[attr-defined]
    for fn in hooks:
        if isinstance(fn, GradsHook):
            continue
        if create_graph and not isinstance(g, Node):  # a hook under create_graph gets a node
            g = n._kind(g)
        new = fn(g)
        if new is not None and new is not g:
            g = hook_result(n, new, create_graph, getattr(fn, "__name__", repr(fn)))
    for fn in hooks:
        if isinstance(fn, GradsHook):
            g = fn(n, g, grads)
    return g


def hook_result(n: Node, new: Any, create_graph: bool, name: str) -> Any:
    """A gradient a hook returned for ``n``, checked: the shape and dtype of ``n``, an array
    of its own (a node under create_graph)."""
    if create_graph:
        new = new if isinstance(new, Node) else n._kind(new)
        data = new.data
    else:
        data = new = np.array(new.data if isinstance(new, Node) else new, copy=True)
    shape, dtype = np.shape(n.data), getattr(n.data, "dtype", None)
    if np.shape(data) != shape or getattr(data, "dtype", None) != dtype:
        raise RuntimeError(f"hook {name}: returned a gradient of shape {np.shape(data)} and "
                           f"dtype {getattr(data, 'dtype', type(data).__name__)} for a tensor "
                           f"of shape {shape} and dtype {dtype}; return one like the gradient "
                           "it was given")
    return new


def _sum(x: Any, y: Any) -> Any:
    """x + y for two gradients; numpy gives a scalar for two 0-d arrays, a Tensor's gradient
    stays an array."""
    s = x + y
    return np.asarray(s) if isinstance(s, np.generic) else s


def _check_finite(ga: Any, n: Node, a: Node, g: Any, grads: dict) -> None:
    data = ga.data if isinstance(ga, Node) else ga
    ok = math.isfinite(data) if isinstance(data, float) else bool(np.all(np.isfinite(data)))
    if not ok:  # the report reads the graph and what backward has computed so far
        from .anomaly import nonfinite_gradient
        raise FloatingPointError(nonfinite_gradient(n, a, g, grads))


class detect_anomaly:
    """Context manager: record where each node is created and stop the backward pass at the
    first op whose VJP yields a non-finite gradient (FloatingPointError naming the op and the
    source line). When that gradient is a zero upstream gradient times an infinite local
    derivative (``where(x > 0, x.log(), 0.0)`` at x = 0: the masked-``where`` trap), the
    message also names the op that sent the zero (the ``where``, with its line) and shows the
    double-``where`` fix. ``forward=True`` also stops at the first recorded op whose output
    holds a nan or inf, with the statistics of its inputs (off by default: a masked ``log(0)``
    is a legitimate -inf). Slower; for debugging. Off, it costs nothing."""

    def __init__(self, forward: bool = False) -> None:
        if type(forward) is not bool:
            raise TypeError(f"detect_anomaly: forward must be a bool, got "
                            f"{type(forward).__name__}")
        self.forward = forward

    def __enter__(self) -> detect_anomaly:
        # thread-local: instances can be shared
        state.saved_anomaly.append((state.anomaly, state.anomaly_forward))
        state.anomaly = True
        state.anomaly_forward = self.forward
        with _anomaly_lock:
            anomaly_users[0] += 1
            anomaly_users[1] = True
        return self

    def __exit__(self, *exc: object) -> None:
        state.anomaly, state.anomaly_forward = state.saved_anomaly.pop()
        with _anomaly_lock:
            anomaly_users[0] -= 1


def _float_grad(d: Any, name: str) -> float:
    """A custom rule's gradient for a Value input, as a float."""
    if type(d) is float:
        return d
    if isinstance(d, (int, float, np.integer, np.floating)) and not isinstance(d, bool) or \
            isinstance(d, np.ndarray) and d.size == 1 and d.dtype.kind in "iuf":
        return float(d)
    raise RuntimeError(f"{name}: its VJP returned {type(d).__name__} "
                       f"{getattr(d, 'shape', '')} for a Value input (a float expected)")


def primitive(name: str, forward: Callable, vjp: Callable, jvp: Callable | None = None
              ) -> Callable:
    """Define a differentiable primitive of your own, through the same table as the built-ins.

    ``forward(xp, *inputs, **params)`` computes one output (an array or a float, not a
    tuple); ``vjp(xp, g, out, *inputs, **params)`` returns one gradient per input (None where
    none is needed). Parameters are keyword-only constants with defaults, given by name at the
    call. Written with operators and ``xp``, a rule is differentiable again. The result works
    on floats, arrays, ``Value``s and ``Tensor``s.

        >>> cube = primitive("cube", lambda xp, x: x * x * x,
        ...                  lambda xp, g, out, x: (g * 3.0 * x * x,))
        >>> scale = primitive("scale", lambda xp, x, *, k=2.0: x * k,
        ...                   lambda xp, g, out, x, *, k: (g * k,))   # scale(t, k=3.0)

    ``jvp(xp, tangents, out, *inputs, **params)``, if given, returns the output's tangent for
    forward mode (``jvp``, ``jacfwd``, ``linearize``); ``tangents`` holds one per input, None
    for constants and inputs that carry none. Without it forward mode through this op is a
    RuntimeError. ``gradcheck`` checks the two rules against each other exactly
    (``<u, J v> == <J^T u, v>``), naming the input and element where they disagree:

        >>> cube = primitive("cube", lambda xp, x: x * x * x,
        ...                  lambda xp, g, out, x: (g * 3.0 * x * x,),
        ...                  jvp=lambda xp, ts, out, x: ts[0] * 3.0 * x * x)

    ``xp`` is the namespace the rule runs in: floats (Value), numpy arrays (Tensor) or, for
    higher order, nodes, whose calls are recorded. Use it, not numpy (``np.exp`` of a node
    records too, but numpy functions outside the op table raise on nodes). It has every op
    of the table, for floats and arrays: add sub mul div neg pow exp expm1 log log1p sqrt
    square tanh sigmoid relu abs sin cos softplus erf maximum minimum where; for arrays only:
    sum mean max min logsumexp softmax reshape transpose broadcast_to cast getitem untake
    concatenate stack matmul linear cross_entropy pad windows unwindows minus_onehot; and,
    with no gradient, sign equal greater less (masks) and arange. Reductions and shape ops
    take their parameters positionally too: ``xp.sum(x, axis, keepdims)``.
    """
    sig = inspect.signature(forward)
    names = [p.name for p in list(sig.parameters.values())[1:]
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    @functools.wraps(forward)  # (the op reads its inputs and parameters off the signature)
    def checked_forward(xp, *inputs, **params):
        out = forward(xp, *inputs, **params)
        if isinstance(out, (tuple, list)):
            raise TypeError(f"{name}: its forward returned a {type(out).__name__} of "
                            f"{len(out)}; a primitive has one output (an array or a float): "
                            "define one primitive per output")
        return out

    def rule(xp, g, out, need, *inputs, **params):
        if xp.name == "node":  # higher order: what the rule computes is recorded
            grads = vjp(xp, g, out, *inputs, **params)
        else:  # first order: nothing it computes (say, with a captured tensor) is recorded
            with no_grad():
                grads = vjp(xp, g, out, *inputs, **params)
        grads = tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)
        if len(grads) != len(inputs):  # checked here, for every caller: zip would drop some
            raise RuntimeError(f"{name}: its VJP returned {len(grads)} gradients for "
                               f"{len(inputs)} inputs; return one per input (None for an "
                               "input that gets none)")
        if xp.name == "scalar":  # Value's backward trusts a rule to give floats
            return tuple(None if d is None else _float_grad(d, name) for d in grads)
        if xp.name == "numpy":  # ... and Tensor's, to give arrays no one else holds
            return tuple(d.copy() if type(d) is np.ndarray else d for d in grads)
        return grads

    def tangent_rule(xp, tangents, out, *inputs, **params):
        if xp.name == "node":
            t = jvp(xp, tangents, out, *inputs, **params)  # type: ignore[misc]
        else:
            with no_grad():
                t = jvp(xp, tangents, out, *inputs, **params)  # type: ignore[misc]
        if t is None or isinstance(t, (tuple, list)):
            raise RuntimeError(f"{name}: its JVP returned {type(t).__name__}; return the "
                               "output's tangent (one array or float, zero if none)")
        return t

    tangent = tangent_rule if jvp is not None else None
    op = Op(name, checked_forward, rule, custom=True, jvp=tangent)
    specialised: dict[Any, Op] = {}

    def fn(*inputs: Any, **params: Any) -> Any:
        if not params:
            return apply(op, *inputs)
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise TypeError(f"{name}: unknown parameter(s) {unknown}; its forward takes "
                            f"{str(sig).replace('(xp, ', '(')}")
        # the parameters bound into an op of their own: a Value op takes none
        key: Any = tuple(sorted(params.items()))
        try:
            bound = specialised.get(key)
        except TypeError:  # an unhashable parameter (an array): not kept
            key, bound = None, None
        if bound is None:
            bound = Op(name, functools.partial(checked_forward, **params),
                       functools.partial(rule, **params), custom=True,
                       jvp=None if tangent is None else functools.partial(tangent, **params))
            if key is not None and len(specialised) < 64:
                specialised[key] = bound
        return apply(bound, *inputs)

    fn.__name__ = fn.__qualname__ = name
    fn.op = op  # type: ignore[attr-defined]
    return fn
