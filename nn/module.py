"""``Parameter`` and ``Module``: the bookkeeping every layer shares.

A module finds its parameters by walking its attributes in the order they were first assigned
(``vars(self)`` keeps that order), looking inside lists, tuples and dicts, and yielding each
object once. There is no registration step, so forgetting ``super().__init__()`` is harmless.
Buffers (state that is not a parameter, such as BatchNorm's running statistics) are the one
exception: ``register_buffer`` names them, as in PyTorch, since a plain tensor attribute may
just as well be a cache or a constant.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from autograd import (
    BackwardHook,
    RemovableHandle,
    ScopePath,
    Tensor,
    is_grad_enabled,
    no_grad,
    replay_state,
    set_data,
)
from autograd import thread_state as state

from .serialization import castable, foreign_array, host_array


def host_dtype(x: Any) -> np.dtype:
    """The numpy dtype of an array or Tensor of any library (another library's by name:
    torch.float32 is float32)."""
    dt = x.dtype
    return dt if isinstance(dt, np.dtype) else np.dtype(str(dt).split(".")[-1])


def layer_input(x: Any, param: Tensor | None, what: str) -> Tensor:
    """A layer's input as a Tensor for its parameters' dtype. Lists and numbers (no dtype of
    their own) take the parameters' dtype, integer arrays stay integer (they never widen a
    float); a floating input of another dtype is a TypeError, as in PyTorch: a float32 model
    fed float64 would silently compute in float64."""
    if param is None:
        return x if isinstance(x, Tensor) else Tensor(x)
    if not isinstance(x, (Tensor, np.ndarray, np.generic)) and not foreign_array(x):
        return Tensor(x, dtype=host_dtype(param))
    xdt, pdt = host_dtype(x), host_dtype(param)
    if xdt.kind == "f" and xdt != pdt:
        raise TypeError(f"{what}: the input is {xdt} but the layer's parameters are "
                        f"{pdt}; cast the input (x.astype(np.{pdt})) or the model "
                        f"(model.to(np.{xdt}))")
    return x if isinstance(x, Tensor) else Tensor(x)


class Parameter(Tensor):
    """A ``Tensor`` that requires grad (by default) and that ``Module`` collects.

    ``requires_grad=False`` gives a frozen parameter: it still belongs to its module, its
    ``state_dict`` and its weight file, but receives no gradient.
    """

    # its own _xp slot (a plain Tensor's is a class attribute) gives it the layout of its
    # twin for other array libraries, so Module.to can move it in place (autograd.set_data)
    __slots__ = ("_xp",)

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None,
                 label: str = "") -> None:
        super().__init__(data, requires_grad=requires_grad, dtype=dtype, label=label)

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__()[len("Tensor"):]


def _floating_dtype(target: Any) -> np.dtype | None:
    """``Module.to``'s target as a floating numpy dtype (another library's dtype, such as
    torch.float32, by name), or None when it is no dtype (a library or a device)."""
    try:
        dt = np.dtype(target)
    except TypeError:
        name = str(target).split(".")[-1]
        if isinstance(target, str) or not hasattr(np, name):
            return None
        try:
            dt = np.dtype(name)
        except TypeError:
            return None
    if dt.kind != "f":
        raise TypeError(f"Module.to: only floating dtypes are supported, got {dt}")
    return dt


def _cast(a: Any, dtype: np.dtype) -> Any:
    """A copy of an array of any library, cast to ``dtype``."""
    if isinstance(a, np.ndarray):
        return a.astype(dtype)
    with no_grad():
        return Tensor(a).astype(dtype).data


def _same_place(t: Tensor, new: Tensor) -> bool:
    """Whether ``new`` (``t.to(...)``) is in ``t``'s library and on its device."""
    return type(new.data) is type(t.data) and (isinstance(t.data, np.ndarray) or getattr(
        new, "device", None) == getattr(t, "device", None))


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` ignored."""

    missing: list[str]
    unexpected: list[str]


def _flatten(name: str, value: Any) -> Iterator[tuple[str, Any]]:
    """(dotted name, object) for every Parameter and Module inside an attribute value."""
    if isinstance(value, (Parameter, Module)):
        yield name, value
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _flatten(f"{name}.{i}", v)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _flatten(f"{name}.{k}", v)


class _Label(str):
    """A label nn gave a parameter (its name): one the outermost call may refine to the dotted
    name. A label the user sets is a plain ``str``, so it is never rewritten."""

    __slots__ = ()


class _CallContext(threading.local):
    # while an outermost call runs: id(module) -> its dotted path, under the scope the call
    # was made in
    call: dict[int, str] | None = None
    hooked: Module | None = None  # the module whose hooks are running around its call


_ctx = _CallContext()


def _save_call_context() -> Any:
    """For ``autograd.checkpoint``: the call context now, so that modules recomputed during
    backward are named (scopes, labels) as in the forward they replay."""
    saved = _ctx.call

    def restore() -> Any:
        now, _ctx.call = _ctx.call, saved

        def undo() -> None:
            _ctx.call = now
        return undo
    return restore


replay_state(_save_call_context)
# how many module hooks were registered and not removed (an upper bound): while none is, a
# module call does not look for them
_hook_users = [0]


class _Hooks(dict):
    """One kind of a module's hooks, by handle id (a dict a handle can refer to weakly)."""

    __slots__ = ("__weakref__",)


_structure = [0]  # bumped by every attribute assignment on a module: invalidates the cache
moves = [0]  # bumped by every move of a model to another library or device (Module.to)
# root -> (gen, its modules' paths, {(base, its titles): those paths under base})
_paths_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Module:
    """Base class of layers and models: subclass it, assign parameters and sub-modules as
    attributes, and write ``forward``. Calling the module runs ``forward``.

    A module runs inside an ``autograd.scope`` named by its dotted path, so drawings box the
    nodes it creates. Paths are relative to the outermost module called: its children are
    named as in ``named_modules()`` (``"0"``, ``"encoder.0"``), and the outermost module
    itself, whose path would be empty, is named by its class (``"MLP"``). A module called from
    inside another one without being its attribute gets ``"<caller>.<Class>"``. A scope open
    around the outermost call prefixes them all (``"train.0"``). Each path is an
    ``autograd.ScopePath`` titling its names as ``print(model)`` lists them (``"0: Linear"``),
    which ``draw_graph`` shows.

    A parameter assigned with no label gets its attribute name as label, and the outermost
    call refines such a label to the dotted name; a label you set is never rewritten.
    """

    training = True  # a class default, so subclasses need not call super().__init__()

    def __setattr__(self, name: str, value: Any) -> None:
        # a fresh parameter gets its attribute name as label; the outermost call refines it
        if isinstance(value, Parameter) and not value.label:
            value.label = _Label(name)
        buffers = self.__dict__.get("_buffer_names")
        if buffers and name in buffers:
            if isinstance(value, Parameter):  # as in PyTorch: the name becomes a parameter's
                del buffers[name]
            elif value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} to buffer '{name}' of "
                                f"{type(self).__name__} (a Tensor or None expected)")
        _structure[0] += 1
        object.__setattr__(self, name, value)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if _hook_users[0] and self.__dict__.get("_module_hooks"):
            if _ctx.hooked is self:  # the call _call_with_hooks makes: its hooks have run
                _ctx.hooked = None
            else:
                return self._call_with_hooks(args, kwargs)
        # autograd's thread state read and written directly, not through set_scope(): two
        # function calls fewer per module call (0.5% of a small MLP's training step)
        paths = _ctx.call
        prev = state.scope
        if paths is None:  # the outermost call: it names the scopes of the modules inside
            # (its own is named by its class), under the scope it was called in
            _ctx.call = paths = self._call_paths(prev)
            state.scope = paths[id(self)]
            try:
                return self.forward(*args, **kwargs) if kwargs else self.forward(*args)
            finally:
                state.scope = prev
                _ctx.call = None
        path = paths.get(id(self))
        if path is None:  # not an attribute of the outermost module: nest under the caller
            path = ScopePath.nest(prev, type(self).__name__)
        state.scope = path
        try:
            return self.forward(*args, **kwargs) if kwargs else self.forward(*args)
        finally:
            state.scope = prev

    # ----- hooks (PyTorch's) --------------------------------------------------------------------
    def register_forward_pre_hook(self, hook: Any) -> RemovableHandle:
        """Call ``hook(module, args)`` before each ``forward`` (``args``: the positional
        arguments as a tuple); a result that is not None replaces them (a non-tuple is one
        argument). Hooks run in registration order. Returns a handle with ``remove()``."""
        return self._add_hook("pre", hook, "register_forward_pre_hook")

    def register_forward_hook(self, hook: Any) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after each ``forward``; a result that is not
        None replaces the output. Returns a handle with ``remove()``."""
        return self._add_hook("forward", hook, "register_forward_hook")

    def register_full_backward_hook(self, hook: Any) -> RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` during backward, once the gradients
        with respect to this call's positional inputs are computed: ``grad_input`` has one
        entry per positional argument (None for one that is not a tensor requiring grad),
        ``grad_output`` one per output tensor (None where no gradient reached it); both hold
        arrays (Tensors under ``create_graph``). A result that is not None is a tuple like
        ``grad_input`` that replaces it and flows on to the inputs. When no input requires
        grad, it is called with ``grad_input`` all None once ``grad_output`` is known. As in
        PyTorch, each call in grad mode wraps the inputs and outputs that require grad in an
        identity op (a ``reshape``) while such a hook is registered. Returns a handle with
        ``remove()``."""
        return self._add_hook("backward", hook, "register_full_backward_hook")

    def _add_hook(self, kind: str, hook: Any, what: str) -> RemovableHandle:
        if not callable(hook):
            raise TypeError(f"{what}: hook must be callable, got {type(hook).__name__}")
        hooks = self.__dict__.get("_module_hooks")
        if hooks is None:  # not through __setattr__: hooks are not structure
            hooks = {"pre": _Hooks(), "forward": _Hooks(), "backward": _Hooks()}
            object.__setattr__(self, "_module_hooks", hooks)
        return RemovableHandle(hooks[kind], hook, _hook_users)

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        """A call with its hooks, in PyTorch's order: forward pre hooks, the inputs wrapped
        for backward hooks, forward, forward hooks, the outputs wrapped."""
        hooks = self.__dict__["_module_hooks"]
        for fn in list(hooks["pre"].values()):
            new = fn(self, args)
            if new is not None:
                args = new if isinstance(new, tuple) else (new,)
        backward_hooks = hooks["backward"]
        call: BackwardHook | None = None
        if backward_hooks and is_grad_enabled():
            call = BackwardHook(self, backward_hooks, len(args))
            args = call.wrap_inputs(args)
        _ctx.hooked = self
        try:
            out = self(*args, **kwargs)
        finally:
            _ctx.hooked = None
        for fn in list(hooks["forward"].values()):
            new = fn(self, args, out)
            if new is not None:
                out = new
        return out if call is None else call.wrap_outputs(out)

    def _call_paths(self, base: str | None = None) -> dict[int, str]:
        """id(module) -> the dotted path of every sub-module under ``base`` (the scope the
        outermost call is made in), an ``autograd.ScopePath`` titled by names and classes
        (``"encoder: Sequential", "0: Linear"``). Cached until an attribute of any module is
        assigned, for the last bases too (walking the tree, or making paths, on every call is
        slow); a path is immutable, so threads may share it."""
        cached = _paths_cache.get(self)
        if cached is None or cached[0] != _structure[0]:
            cached = _paths_cache[self] = (_structure[0], self._module_paths(), {})
        if base is None:
            return cached[1]
        under: dict[tuple, dict[int, str]] = cached[2]
        key = (base, ScopePath.titles_of(base))  # equal bases may differ in titles
        paths = under.get(key)
        if paths is None:
            if len(under) >= 16:  # bases named per step ("step12") must not pile up
                under.clear()
            paths = under[key] = {k: ScopePath.nest(base, p) for k, p in cached[1].items()}
        return paths

    def _module_paths(self) -> dict[int, str]:
        """``_call_paths`` outside any scope, made anew; names the parameters that have no
        label or nn's."""
        named = list(self.named_modules())
        classes = {name: type(m).__name__ for name, m in named}
        paths: dict[int, str] = {}
        for name, m in named:
            if not name:  # the outermost module: named by its class
                paths[id(m)] = ScopePath(classes[""], [classes[""]])
                continue
            parts = name.split(".")
            prefixes = [".".join(parts[:i + 1]) for i in range(len(parts))]
            # a name that is no module's (the list in `self.layers = [...]`) is its own title
            paths[id(m)] = ScopePath(name, [f"{part}: {classes[pre]}" if pre in classes
                                            else part for part, pre in zip(parts, prefixes)])
        for name, p in self.named_parameters():
            if not p.label or type(p.label) is _Label:
                p.label = _Label(name)
        return paths

    # ----- discovery ---------------------------------------------------------------------------
    def _entries(self) -> Iterator[tuple[str, Any]]:
        """Direct Parameters and Modules with their names, in assignment order."""
        for attr, value in vars(self).items():
            yield from _flatten(attr, value)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct sub-modules with their names, each once."""
        seen: set[int] = set()
        for name, v in self._entries():
            if isinstance(v, Module) and id(v) not in seen:
                seen.add(id(v))
                yield name, v

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module (named ``prefix``, "" by default) and every sub-module, each once."""
        seen = {id(self)}
        stack = [(prefix, self)]
        while stack:  # depth first, children in assignment order
            name, m = stack.pop()
            yield name, m
            kids = []
            for child_name, c in m.named_children():
                if id(c) not in seen:
                    seen.add(id(c))
                    kids.append((f"{name}.{child_name}" if name else child_name, c))
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        """This module and every sub-module, each once."""
        for _, m in self.named_modules():
            yield m

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its stable dotted name (``"0.weight"``), in assignment order,
        each object once (a shared parameter keeps its first name), frozen ones included."""
        return self._named_tensors(buffers=False)  # type: ignore[return-value]

    def _named_tensors(self, buffers: bool) -> Iterator[tuple[str, Tensor]]:
        """Parameters as ``named_parameters`` yields them; with ``buffers``, each module's
        persistent buffers too, right after its parameters and sub-modules (BatchNorm:
        weight, bias, running_mean, running_var, num_batches_tracked, PyTorch's order)."""
        seen: set[int] = set()
        # depth first without recursion (a recursive closure would be a reference cycle);
        # each entry: a module's remaining (name, value) pairs, its prefix, its ancestors and
        # the module itself
        stack = [(iter(list(self._entries())), "", frozenset({id(self)}), self)]
        while stack:
            entries, prefix, ancestors, module = stack[-1]
            for name, v in entries:
                full = prefix + name
                if isinstance(v, Parameter):
                    if id(v) not in seen:
                        seen.add(id(v))
                        yield full, v
                elif id(v) not in ancestors:  # a module that refers back to an ancestor
                    stack.append((iter(list(v._entries())), full + ".", ancestors | {id(v)}, v))
                    break
            else:
                stack.pop()
                for name, b in module._own_buffers(persistent_only=True) if buffers else ():
                    if id(b) not in seen:
                        seen.add(id(b))
                        yield prefix + name, b

    def parameters(self) -> Iterator[Parameter]:
        """Every parameter, in the order of ``named_parameters()``."""
        for _, p in self.named_parameters():
            yield p

    # ----- buffers -----------------------------------------------------------------------------
    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Add state that is not a parameter (BatchNorm's running statistics): an attribute
        ``name`` holding a Tensor (an array is copied into a new one) or None. It gets no
        gradient and is not in ``parameters()``; ``to``/``double``/``float`` cast it if it is
        floating; a persistent one is in ``state_dict()`` and weight files, unless None."""
        if not isinstance(name, str):
            raise TypeError(f"register_buffer: the name must be a str, got {type(name).__name__}")
        if not name.isidentifier():
            raise ValueError(f"register_buffer: {name!r} is not a valid attribute name")
        buffers = self.__dict__.get("_buffer_names")
        if hasattr(self, name) and not (buffers and name in buffers):
            raise ValueError(f"register_buffer: {type(self).__name__} already has an "
                             f"attribute '{name}' that is not a buffer")
        if isinstance(tensor, Parameter):
            raise TypeError(f"register_buffer: '{name}' is a Parameter; assign it as an "
                            "attribute instead (buffers get no gradient)")
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor(tensor)
        if tensor is not None and tensor.requires_grad:
            raise ValueError(f"register_buffer: '{name}' requires grad, and a buffer gets no "
                             "gradient; register tensor.detach(), or make it a Parameter")
        if buffers is None:
            buffers = {}
            object.__setattr__(self, "_buffer_names", buffers)
        buffers[name] = bool(persistent)
        setattr(self, name, tensor)

    def _own_buffers(self, persistent_only: bool = False) -> Iterator[tuple[str, Tensor]]:
        """This module's buffers that are not None, in registration order."""
        for name, persistent in self.__dict__.get("_buffer_names", {}).items():
            b = self.__dict__.get(name)
            if b is not None and (persistent or not persistent_only):
                yield name, b

    def named_buffers(self, prefix: str = "", recurse: bool = True
                      ) -> Iterator[tuple[str, Tensor]]:
        """Every buffer (persistent or not, None skipped) with its dotted name, module by
        module as ``named_modules()`` goes, each object once."""
        seen: set[int] = set()
        for mname, m in self.named_modules(prefix) if recurse else [(prefix, self)]:
            for name, b in m._own_buffers():
                if id(b) not in seen:
                    seen.add(id(b))
                    yield (f"{mname}.{name}" if mname else name), b

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every buffer, in the order of ``named_buffers()``."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ----- dtype and requires_grad ---------------------------------------------------------------
    def to(self, target: Any) -> Module:
        """Cast or move every parameter and buffer, in place, as PyTorch's ``Module.to``;
        returns self.

        A floating dtype (``np.float32``, ``"float64"``) casts the parameters and floating
        buffers (integer buffers such as ``num_batches_tracked`` stay integer). Anything else
        is where the values go, as ``Tensor.to`` reads it: a library (``"torch"``,
        ``"array_api_strict"``, ``"cupy"``, ``"numpy"``), a library and device
        (``"torch:cuda"``), or a device of the model's library (``"cuda"``). Gradients go
        along (cast or moved). The Parameter objects stay the same, so an optimizer made
        before keeps them; its state does not move (PyTorch's rule: move the model before
        the first step, or reload the state with ``opt.load_state_dict(opt.state_dict())``,
        which puts it in each parameter's library). Buffers are replaced by moved tensors.
        Everything is moved before anything changes: a failed move leaves the model as it was.
        """
        dt = _floating_dtype(target)
        if dt is None:
            return self._move(target)
        for t in [*self.parameters(), *self.buffers()]:
            if host_dtype(t).kind == "f" and host_dtype(t) != dt:
                t.data = _cast(t.data, dt)
                if t.grad is not None and not isinstance(t.grad, Tensor):
                    t.grad = _cast(t.grad, dt)
                t.mark_changed()  # a graph that saved the old array must not use the new one
        return self

    def _move(self, target: Any) -> Module:
        """``to(library or device)``: every new array made first, then all put in place;
        tensors already there are left alone (their graphs stay valid), as in PyTorch."""
        params = list(self.parameters())
        owners = [(m, name, b) for m in self.modules() for name, b in m._own_buffers()]
        moved: dict[int, Tensor] = {}  # id(tensor) -> its values at the target
        try:
            for t in [*params, *(b for _, _, b in owners)]:
                if id(t) not in moved:
                    moved[id(t)] = t.to(target)
            params = [p for p in params if not _same_place(p, moved[id(p)])]
            grads = [g if g is None else g.to(target) if isinstance(g, Tensor)
                     else Tensor(g).to(target).data for g in (p.grad for p in params)]
        except (TypeError, ValueError, RuntimeError) as e:  # (the library's own, for a device)
            raise (TypeError if isinstance(e, TypeError) else ValueError)(
                f"Module.to: cannot move the model to {target!r}: {e}") from None
        owners = [o for o in owners if not _same_place(o[2], moved[id(o[2])])]
        if params or owners:
            moves[0] += 1  # optimizers check their state before their next step
        for p, g in zip(params, grads):  # in place: the same objects, as in PyTorch
            set_data(p, moved[id(p)].data)
            p.grad = g
        for m, name, b in owners:
            setattr(m, name, moved[id(b)])
        return self

    def double(self) -> Module:
        """``to(numpy.float64)``."""
        return self.to(np.float64)

    def float(self) -> Module:
        """``to(numpy.float32)``."""
        return self.to(np.float32)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` of every parameter (False freezes the module); returns self."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to None."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        """Put this module and all sub-modules in training mode (or eval when False)."""
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``Dropout`` becomes the identity, ``BatchNorm1d`` uses its running
        statistics."""
        return self.train(False)

    # ----- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Dotted name -> a copy of the array of each parameter and persistent buffer, in its
        library and on its device (as PyTorch's; ``save`` writes host arrays)."""
        return {name: t.data.copy() if isinstance(t.data, np.ndarray) else Tensor(t.data).data
                for name, t in self._named_tensors(buffers=True)}  # (Tensor() copies)

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays into the parameters and persistent buffers by name, in place. Arrays
        (or Tensors) of any library are taken; the values go into each tensor's own library
        and device.

        The dtype rule (``load`` follows it too): values are cast to the model's dtype, as
        PyTorch's ``param.copy_(value)`` does (float64 into a float32 model, or float32 into a
        float64 one); a floating entry takes only floating values and an integer buffer only
        integers, else TypeError. Missing and unexpected names are a ValueError when ``strict``
        (else they are returned); a shape mismatch is always a ValueError. Nothing changes
        unless every check passes.
        """
        params = dict(self._named_tensors(buffers=True))
        missing = [n for n in params if n not in state]
        unexpected = [n for n in state if n not in params]
        problems = []
        if strict and missing:
            problems.append(f"missing names {missing}")
        if strict and unexpected:
            problems.append(f"unexpected names {unexpected}")
        new = {}
        for name, p in params.items():
            if name not in state:
                continue
            v = state[name]
            arr = host_array(v.data if isinstance(v, Tensor) else v)
            pdt = host_dtype(p)
            if not castable(arr.dtype, pdt):
                kind = "floating" if pdt.kind == "f" else "integer"
                raise TypeError(f"load_state_dict: '{name}' has dtype {arr.dtype}; the model's "
                                f"is {pdt}, so {kind} values are expected")
            if arr.shape != p.shape:
                problems.append(f"shape of '{name}': given {arr.shape}, model has {p.shape}")
                continue
            new[name] = arr.astype(pdt)  # a copy, so the caller's array is never shared
        if problems:
            raise ValueError("load_state_dict: " + "; ".join(problems) + " (nothing loaded)")
        with no_grad():  # in place, so the version counter tells pending graphs
            for name, arr in new.items():
                params[name][...] = arr
        return IncompatibleKeys(missing, unexpected)

    def save(self, path: str | bytes | Any) -> None:
        """Write the ``state_dict()`` (parameters and persistent buffers) to exactly ``path``
        (an ``.npz`` with JSON metadata; host arrays, whatever library the model is on),
        through a temporary file in the same directory and an atomic rename. A directory
        that does not exist is an OSError naming it and ``path``."""
        from .serialization import save

        save(self.state_dict(), path)

    def load(self, path: str | bytes | Any) -> Module:
        """Read parameters and buffers written by ``save``; ``nn.LoadError`` when anything is
        wrong (also for a path that is not a regular file, such as a FIFO or /dev/zero, which
        is never read), and then the model is unchanged. Returns the module.

        Values are cast to the model's dtype, by ``load_state_dict``'s rule (a float64 file
        loads into a float32 model and back); a non-floating array for a floating entry, or
        a shape that differs, is refused."""
        from .serialization import load

        expected = {name: (p.shape, host_dtype(p))
                    for name, p in self._named_tensors(buffers=True)}
        self.load_state_dict(load(path, expected))  # checked in full: it writes all or nothing
        return self

    # ----- printing ----------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The part inside the parentheses of this module's line in ``repr``."""
        return ""

    def __repr__(self) -> str:
        return self._repr({id(self)})

    def _repr(self, ancestors: set[int]) -> str:
        kids = list(self.named_children())
        extra = self.extra_repr()
        if not kids:
            return f"{type(self).__name__}({extra})"
        lines = [f"{type(self).__name__}("] + ([f"  {extra}"] if extra else [])
        for name, m in kids:
            body = (f"{type(m).__name__}(...)" if id(m) in ancestors
                    else m._repr(ancestors | {id(m)}))
            lines.append(f"  ({name}): " + body.replace("\n", "\n  "))
        return "\n".join(lines + [")"])


# ----- functional_call (issue 17 item 4) ----------------------------------------------------------
def functional_call(module: Module, params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                    *args: Any, strict: bool = False, **kwargs: Any) -> Any:
    """``module(*args, **kwargs)`` run with the tensors in ``params`` (by ``state_dict``
    names: parameters and buffers) in place of its own, as ``torch.func.functional_call``, so
    that a model's loss is a function of a dict of parameters:
    ``hessian(lambda p: loss(nn.functional_call(model, p, x), y))(params)``.

    ``params`` is a dict, or a tuple of dicts (a name in two of them is a ValueError). A Tensor
    is used as it is (a node: gradients flow to it); an array is copied into a constant Tensor
    of the model's dtype. Names left out use the model's own tensors, unless ``strict`` (then
    they are a ValueError); a name the model does not have, or a shape that differs, is a
    ValueError naming it. A parameter shared by several modules is replaced everywhere (torch's
    ``tie_weights=True``). The model is never changed: its own tensors are back in place when
    the call returns or raises. (A buffer the module updates in place, such as BatchNorm's
    running statistics in training mode, is updated in the tensor given, as in PyTorch.)
    """
    dicts = [params] if isinstance(params, Mapping) else list(params)
    given: dict[str, Any] = {}
    for d in dicts:
        if not isinstance(d, Mapping):
            raise TypeError(f"functional_call: params must be a dict of tensors or a tuple of "
                            f"dicts, got {type(d).__name__}")
        for name, value in d.items():
            if name in given:
                raise ValueError(f"functional_call: '{name}' is given in two dicts")
            given[name] = value
    own: dict[str, Tensor] = dict(module.named_parameters())
    for name, b in module.named_buffers():
        own.setdefault(name, b)
    unknown = [n for n in given if n not in own]
    if unknown:
        raise ValueError(f"functional_call: {type(module).__name__} has no parameter or buffer "
                         f"named {unknown} (its names: {list(own)})")
    missing = [n for n in own if n not in given]
    if strict and missing:
        raise ValueError(f"functional_call: missing names {missing} (strict=True)")
    subs: dict[int, Tensor] = {}
    for name, value in given.items():
        old = own[name]
        if not isinstance(value, Tensor):
            if not isinstance(value, (np.ndarray, np.generic, list, tuple, int, float)):
                raise TypeError(f"functional_call: '{name}' is a {type(value).__name__}; a "
                                "Tensor or an array expected")
            value = Tensor(value, dtype=old.dtype)
        if value.shape != old.shape:
            raise ValueError(f"functional_call: '{name}' has shape {value.shape}, the model's "
                             f"{old.shape}")
        subs[id(old)] = value
    swapped: list[tuple[Module, str, Any]] = []
    try:
        for m in list(module.modules()):
            for attr, value in list(vars(m).items()):
                new = _swapped(value, subs)
                if new is not value:
                    # object.__setattr__: Module.__setattr__ would label the tensor and mark
                    # the module structure changed (dropping the cached scope paths)
                    object.__setattr__(m, attr, new)
                    swapped.append((m, attr, value))
        return module(*args, **kwargs)
    finally:
        for m, attr, value in reversed(swapped):
            object.__setattr__(m, attr, value)


def _swapped(value: Any, subs: dict[int, Tensor]) -> Any:
    """``value`` with each object whose id is in ``subs`` replaced, looking inside lists,
    tuples and dicts as ``_flatten`` does (a new container, in the same order); ``value``
    itself when nothing in it is replaced."""
    new = subs.get(id(value))
    if new is not None:
        return new
    if isinstance(value, (list, tuple)):
        items = [_swapped(v, subs) for v in value]
        if all(a is b for a, b in zip(items, value)):
            return value
        if isinstance(value, list):
            return items
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, dict):
        entries = {k: _swapped(v, subs) for k, v in value.items()}
        return value if all(entries[k] is v for k, v in value.items()) else entries
    return value
