"""``BackwardHook``: the gradients with respect to one call's inputs and outputs, for module
hooks (``nn.Module.register_full_backward_hook``), built on tensor hooks."""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from .engine import GradsHook, Hooks, Node, RemovableHandle, hook_result, hook_users
from .tensor import Tensor


def _identity(t: Tensor) -> Tensor:
    """A new node holding ``t``'s values, for a hook of its own (no calculus: a reshape)."""
    return t.reshape(t.shape)


class BackwardHook:
    """One call's full backward hooks (PyTorch's ``torch.utils.hooks.BackwardHook``, which
    ``nn.Module.register_full_backward_hook`` uses): ``wrap_inputs(args)`` before the call,
    ``wrap_outputs(output)`` after it, and ``hook(module, grad_input, grad_output)`` is called
    for each of ``hooks`` (a dict, in its order) during backward, its result (not None)
    replacing ``grad_input``. The inputs that require grad pass through
    identity nodes before forward, the outputs after it: the gradient at those nodes is this
    call's own. Every consumer of an input's identity node is newer than the newest one, so
    when backward reaches the newest all of ``grad_input`` is complete; likewise for the
    outputs. It refers to those nodes weakly: a hook on a node must not keep it alive."""

    __slots__ = ("module", "hooks", "n_inputs", "inputs", "n_outputs", "outputs",
                 "grad_output")

    def __init__(self, module: Any, hooks: dict, n_inputs: int) -> None:
        self.module, self.hooks, self.n_inputs = module, hooks, n_inputs
        self.inputs: list[tuple[int, weakref.ref]] = []
        self.outputs: list[tuple[int, weakref.ref]] = []
        self.n_outputs = 0
        self.grad_output: tuple | None = None

    def wrap_inputs(self, args: tuple) -> tuple:
        """The arguments, each Tensor that requires grad passed through an identity node."""
        new = list(args)
        for i, a in enumerate(args):
            if isinstance(a, Tensor) and a.requires_grad:
                new[i] = _identity(a)
                self.inputs.append((i, weakref.ref(new[i])))
        return tuple(new)

    def wrap_outputs(self, out: Any) -> Any:
        """The output (a Tensor or a tuple), each Tensor that requires grad passed through an
        identity node that calls the hooks when backward reaches it."""
        outs = list(out) if isinstance(out, tuple) else [out]
        self.n_outputs = len(outs)
        for i, o in enumerate(outs):
            if isinstance(o, Tensor) and o.requires_grad:
                outs[i] = _identity(o)
                self.outputs.append((i, weakref.ref(outs[i])))
        if not self.outputs:  # no gradient will come back through this call
            return out
        # on each wrapped node: the newest that a gradient reaches calls the hooks
        output_stage = _OutputStage(self)
        for i, _ in self.outputs:
            _add_grads_hook(outs[i], output_stage)
        input_stage = _InputStage(self)
        for _, ref in self.inputs:
            x = ref()
            if x is not None:
                _add_grads_hook(x, input_stage)
        return tuple(outs) if isinstance(out, tuple) else outs[0]

    @staticmethod
    def first_reached(wrapped: list[tuple[int, weakref.ref]], n: Node, grads: dict) -> bool:
        """Whether ``n`` is the newest of the wrapped nodes that got a gradient in this pass:
        the first of them backward reaches."""
        for _, ref in reversed(wrapped):
            x = ref()
            if x is not None and x in grads:
                return x is n
        return False

    def grads_of(self, wrapped: list[tuple[int, weakref.ref]], n: Node, g: Any, grads: dict,
                 size: int) -> list:
        """One entry per position: the gradient at its wrapped node (``g`` at ``n``)."""
        out: list = [None] * size
        for i, ref in wrapped:
            x = ref()
            out[i] = g if x is n else None if x is None else grads.get(x)
        return out


def _add_grads_hook(node: Any, hook: GradsHook) -> None:
    hooks = getattr(node, "_hooks", None)
    if hooks is None:
        hooks = node._hooks = Hooks()
    RemovableHandle(hooks, hook, hook_users)  # (never removed: it dies with its node)


class _Stage(GradsHook):
    """A stage of one module call's backward hook, held by a node of that call."""

    __slots__ = ("call",)

    def __init__(self, call: BackwardHook) -> None:
        self.call = call


class _OutputStage(_Stage):
    __slots__ = ()

    def __call__(self, n: Node, g: Any, grads: dict) -> Any:
        call = self.call
        if not call.first_reached(call.outputs, n, grads):
            return g
        grad_output = tuple(call.grads_of(call.outputs, n, g, grads, call.n_outputs))
        if call.inputs:  # the input stage calls the hooks
            call.grad_output = grad_output
        else:
            for fn in list(call.hooks.values()):
                fn(call.module, (None,) * call.n_inputs, grad_output)
        return g


class _InputStage(_Stage):
    __slots__ = ()

    def __call__(self, n: Node, g: Any, grads: dict) -> Any:
        call = self.call
        if not call.first_reached(call.inputs, n, grads):
            return g
        before = call.grads_of(call.inputs, n, g, grads, call.n_inputs)
        grad_input = tuple(before)
        # (kept until now; under create_graph it is a graph that may lead back here)
        grad_output, call.grad_output = call.grad_output, None
        for fn in list(call.hooks.values()):
            new = fn(call.module, grad_input, grad_output)
            if new is None:
                continue
            new = tuple(new) if isinstance(new, (tuple, list)) else (new,)
            if len(new) != call.n_inputs:
                raise RuntimeError(
                    f"full backward hook of {type(call.module).__name__}: returned "
                    f"{len(new)} gradients for {call.n_inputs} inputs (grad_input has one "
                    "per positional argument)")
            grad_input = new
        for i, ref in call.inputs:
            x, gi = ref(), grad_input[i]
            if x is None or gi is before[i]:
                continue
            if before[i] is None:
                raise RuntimeError(
                    f"full backward hook of {type(call.module).__name__}: returned a "
                    f"gradient for input {i}, which forward did not use")
            if gi is None:  # PyTorch: None is a zero gradient
                gi = np.zeros_like(x.data)
            gi = hook_result(x, gi, isinstance(g, Node),
                             f"of {type(call.module).__name__} (input {i})")
            if x is n:
                g = gi
            else:
                grads[x] = gi
        return g
