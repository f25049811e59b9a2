"""``checkpoint``: keep a function's inputs instead of its intermediates, and recompute them
during backward (PyTorch's ``torch.utils.checkpoint``, JAX's ``jax.checkpoint``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import engine
from .engine import Op, backprop, enable_grad, no_grad, set_scope, state
from .tensor import Tensor

# functions that capture a piece of global state a recomputation must see as the first run
# did (nn: its Dropout generators, its call context); see ``replay_state``
_replayed: list[Callable[[], Callable[[], Callable[[], None]]]] = []


def replay_state(save: Callable[[], Callable[[], Callable[[], None]]]) -> None:
    """Register state that ``checkpoint`` replays: ``save()``, called before ``f`` first runs,
    returns ``restore``; ``restore()``, called before the recomputation, puts the saved state
    back and returns ``undo``, called after it to put back what it replaced. A library with
    random state of its own (nn's Dropout) registers it once, at import."""
    if not callable(save):
        raise TypeError(f"replay_state: save must be callable, got {type(save).__name__}")
    _replayed.append(save)


def checkpoint(f: Callable[..., Any], *args: Any, preserve_rng_state: bool = True) -> Any:
    """``f(*args)``, keeping for backward only the inputs: ``f`` runs under ``no_grad``, so
    none of its intermediates is kept, and backward runs it again in grad mode and backpropagates
    through that recomputation. The cost: one more forward of ``f`` per backward. The gains:
    the memory of ``f``'s intermediates, from the forward to the backward (``autograd.memory``
    shows how much per module).

    The gradients are those of plain backward, bit for bit (the same operations on the same
    values), also under ``create_graph`` (higher order through the recomputation); one
    exception: an input used both inside ``f`` and after it gets its parts summed in another
    order (``f``'s parts first, as PyTorch's checkpoint does), which may change the last bit
    (an nn layer's input and parameters are used once, inside it). With
    ``preserve_rng_state`` (PyTorch's name and default) randomness is replayed: the random
    state registered with ``replay_state`` (nn's ``Dropout`` generators) is saved before ``f``
    runs and restored for the recomputation, so the same elements are dropped; afterwards it is
    as the forward left it.

    ``f`` returns one Tensor. Its inputs that may get a gradient are the Tensors among
    ``args`` and the parameters of a module ``f`` is (or is a method of, or holds in its
    closure, also in a list); a tensor that requires grad reached any other way is a
    RuntimeError at backward (pass it as an argument). Under ``no_grad``, or when no input
    requires grad, this is just ``f(*args)``.
    """
    if not callable(f):
        raise TypeError(f"checkpoint: f must be callable, got {type(f).__name__}")
    inputs = _inputs(f, args)
    saves = [save() for save in _replayed] if preserve_rng_state else []
    scope = state.scope  # the recomputation records under the same scope (drawings)
    with no_grad():
        out = f(*args)
    if not isinstance(out, Tensor):
        raise TypeError(f"checkpoint: f must return one Tensor, got {type(out).__name__}")
    if not (state.grad_enabled and any(t._rg for t in inputs)):
        return out
    kept = [out.data]

    def forward(xp: Any, *xs: Any) -> Any:
        return kept.pop()  # computed above, without a graph

    def vjp(xp: Any, g: Any, out_: Any, need: tuple, *xs: Any) -> tuple:
        undo = [restore() for restore in saves]
        prev = set_scope(scope)
        start = next(engine._counter)  # every recomputed node is newer
        try:
            with enable_grad():
                again = f(*args)
        finally:
            set_scope(prev)
            for u in reversed(undo):
                u()
        if not isinstance(again, Tensor) or again.shape != out_.shape:
            raise RuntimeError(f"checkpoint: the recomputation of {_name(f)} returned "
                               f"{getattr(again, 'shape', type(again).__name__)}, the first "
                               f"run {out_.shape}: f must compute the same function again")
        if not again._rg:
            return (None,) * len(xs)
        grads = backprop(again, g, create_graph=xp.name == "node", oldest=start)
        known = {id(t) for t in inputs}
        missed = [n for n in grads if n._id < start and id(n) not in known and n._rg
                  and n is not again]
        if missed:
            what = ", ".join(f"{n.label or n.op or 'a tensor'} of shape {np.shape(n.data)}"
                             for n in missed)
            raise RuntimeError(
                f"checkpoint: {_name(f)} reads tensors that require grad but are neither among "
                f"its arguments nor parameters of a module it belongs to ({what}); their "
                "gradients would be lost: pass them to checkpoint as arguments")
        return tuple(grads.get(t) if nd else None for t, nd in zip(inputs, need))

    op = Op("checkpoint", forward, vjp, custom=True, doc=f"checkpoint({_name(f)})")
    return Tensor._apply(op, tuple(inputs))


def _name(f: Any) -> str:
    return getattr(f, "__qualname__", None) or type(f).__name__


def _inputs(f: Any, args: tuple) -> list[Tensor]:
    """The tensors ``checkpoint(f, *args)`` records as inputs: the Tensors among ``args``,
    then every tensor requiring grad that ``f`` reaches as a module, a module's method, or
    through its closure (one level into lists, tuples and dicts), each once."""
    found: dict[int, Tensor] = {}
    for a in args:
        if isinstance(a, Tensor):
            found.setdefault(id(a), a)
    around: list = [f, getattr(f, "__self__", None)]
    for cell in getattr(f, "__closure__", None) or ():
        try:
            around.append(cell.cell_contents)
        except ValueError:  # an empty cell
            continue
    around += [a for a in args if not isinstance(a, Tensor)]
    for obj in around:
        items = (list(obj.values()) if isinstance(obj, dict)
                 else list(obj) if isinstance(obj, (list, tuple)) else [obj])
        for item in items:
            if isinstance(item, Tensor):
                if item._rg:
                    found.setdefault(id(item), item)
            elif callable(getattr(item, "parameters", None)) and not isinstance(item, type):
                for p in item.parameters():
                    if isinstance(p, Tensor) and p._rg:
                        found.setdefault(id(p), p)
    return list(found.values())
