"""Optimizers following PyTorch's published update rules, with PyTorch's parameter groups.

``step()`` works on the raw arrays and writes each parameter's array in place, then marks the
parameter changed (``mark_changed``, as ``p -= update`` under ``no_grad`` would): a graph
recorded before the step and backpropagated after it raises instead of using stale values.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

import numpy as np

from autograd import Tensor, records_step

from . import module as _module
from .module import Module, host_dtype
from .serialization import foreign_array, host_array
from .utils import clip_grad_norm_

clip_grad_norm = clip_grad_norm_  # the name before nn.utils existed; the same function


def _grad_array(p: Tensor) -> np.ndarray | None:
    """The gradient as an array (after ``backward(create_graph=True)`` it is a Tensor)."""
    g = p.grad
    return g.data if isinstance(g, Tensor) else g


def _xp(w: Any) -> Any:
    """The array functions for a parameter's array: numpy's own for numpy (its fast path),
    the standard namespace of its library (array-api-compat's) for any other."""
    if type(w) is np.ndarray:
        return np
    import array_api_compat  # (installed wherever another library's arrays are used)
    return array_api_compat.array_namespace(w)


def _device(x: Any) -> Any:
    import array_api_compat
    return array_api_compat.device(x)


def _library(x: Any) -> str:
    """An array's library and device, for messages."""
    if isinstance(x, np.ndarray):
        return "numpy"
    if foreign_array(x):
        return f"{type(x).__module__.split('.')[0]} on {_device(x)}"
    return type(x).__name__


def _not_a_module(m: Module, what: str) -> NoReturn:
    raise TypeError(f"{what}: params must be an iterable of Tensors, got a module "
                    f"({type(m).__name__}); pass model.parameters()")


def _group_params(params: Any, what: str) -> list[Tensor]:
    """The parameters of one group, checked: floating-point Tensors, each once."""
    if isinstance(params, Module):
        _not_a_module(params, what)
    if isinstance(params, (set, frozenset)):  # PyTorch's rule: the state is kept by position
        raise TypeError(f"{what}: params must be an ordered collection (a list), not a set: "
                        "the order of a set changes between runs")
    if not isinstance(params, Iterable):
        hint = "; pass model.parameters()" if hasattr(params, "parameters") else ""
        raise TypeError(f"{what}: params must be an iterable of Tensors, got "
                        f"{type(params).__name__}{hint}")
    out = list(params)
    for p in out:
        if isinstance(p, Module):
            _not_a_module(p, what)
        if not isinstance(p, Tensor):
            raise TypeError(f"{what}: expected Tensors, got {type(p).__name__}")
        if host_dtype(p).kind != "f":
            raise TypeError(f"{what}: parameters must be floating point, got {p.dtype}")
    if len({id(p) for p in out}) != len(out):
        raise ValueError(f"{what}: a parameter appears more than once")
    return out


class Optimizer:
    """Base class: parameter groups, each with its own options, and per-parameter state.

    ``Optimizer(params, defaults)``: ``params`` is an iterable of Tensors (one group), or of
    dicts ``{"params": [...], <option>: value, ...}`` (one group each; options a group does not
    give are taken from ``defaults``; extra keys are kept, as in PyTorch). The options live in
    ``opt.param_groups[i]`` and are read at every step: ``opt.param_groups[0]["lr"] = 0.01``
    between steps is a schedule (``nn.lr_scheduler`` does exactly that).

    ``opt.state`` is a list of one dict per parameter, in the order of ``opt.params`` (all the
    groups' parameters, group after group): the indices of ``state_dict()``.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any] | None = None) -> None:
        what = type(self).__name__
        self.defaults: dict[str, Any] = dict(defaults or {})
        self.param_groups: list[dict[str, Any]] = []
        self.state: list[dict[str, Any]] = []
        self._moves = _module.moves[0]  # Module.to calls seen (step checks the state after one)
        if isinstance(params, Tensor):  # a Tensor is iterable (over rows): refuse the mix-up
            raise TypeError(f"{what}: params must be an iterable of Tensors (e.g. "
                            "model.parameters()), got a single Tensor; wrap it in a list")
        if isinstance(params, (Module, set, frozenset)) or not isinstance(params, Iterable):
            _group_params(params, what)  # raises the TypeError that says what to pass
        groups = list(params)
        if not groups:  # often a generator consumed by an earlier optimizer
            raise ValueError(f"{what}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    @property
    def params(self) -> list[Tensor]:
        """Every parameter, group after group (the order of ``state`` and ``state_dict``)."""
        return [p for group in self.param_groups for p in group["params"]]

    def __setattr__(self, name: str, value: Any) -> None:
        # options used to be attributes (opt.lr = ...): that would now be silently ignored
        if name in self.__dict__.get("defaults", ()):
            raise AttributeError(
                f"{type(self).__name__}: {name!r} is an option of each parameter group; set "
                f"opt.param_groups[i][{name!r}] (for every i to change them all)")
        object.__setattr__(self, name, value)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (missing ones from ``defaults``),
        e.g. layers unfrozen while fine-tuning. A parameter already in a group is a
        ValueError."""
        what = f"{type(self).__name__}.add_param_group"
        if not isinstance(param_group, dict):
            raise TypeError(f"{what}: a parameter group must be a dict, got "
                            f"{type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{what}: a parameter group needs a 'params' entry")
        params = param_group["params"]
        group = {**self.defaults, **param_group}
        # (a single Tensor is one parameter here, as in PyTorch: the dict says what it is)
        group["params"] = _group_params([params] if isinstance(params, Tensor) else params, what)
        self._check_group(group)
        seen = {id(p) for p in self.params}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError(f"{what}: some parameters appear in more than one parameter group")
        self.param_groups.append(group)
        self.state.extend({} for _ in group["params"])

    def _check_group(self, group: dict[str, Any]) -> None:
        """Raise ValueError for an option out of range (each optimizer checks its own)."""

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to None."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    @records_step  # under autograd.trace/compile: one line of the program, this very method
    def step(self) -> None:
        """Update every parameter that has a gradient; skip those whose grad is None.

        Every gradient is checked before any parameter changes, so a bad one (wrong shape)
        raises and leaves the whole model as it was."""
        if self._moves != _module.moves[0]:  # a model was moved since the last step
            self._check_state_libraries()
        grads: list[Any] = []
        ndarray = np.ndarray
        for group in self.param_groups:
            for p in group["params"]:
                g: Any = p.grad
                w = p.data
                if type(g) is not ndarray or type(w) is not ndarray:
                    if g is None:
                        grads.append(None)
                        continue
                    g = _grad_array(p)  # a Tensor after backward(create_graph=True)
                    if type(g) is not type(w) or (type(w) is not ndarray and
                                                  _device(g) != _device(w)):
                        raise TypeError(
                            f"{type(self).__name__}.step: parameter {self._index(p)} is a "
                            f"{_library(w)} array of shape {tuple(w.shape)} but its gradient "
                            f"is a {_library(g)} array of shape {np.shape(g)}; they must be "
                            "in the same library and on the same device")
                if g.shape != w.shape:
                    raise ValueError(
                        f"{type(self).__name__}.step: parameter {self._index(p)} of shape "
                        f"{tuple(w.shape)} has a gradient of shape {tuple(g.shape)}; they "
                        "must match")
                grads.append(g)
        self._step_arrays(grads)

    def _index(self, p: Tensor) -> int:
        return [id(q) for q in self.params].index(id(p))

    def _check_state_libraries(self) -> None:
        """After a ``Module.to``: every state array must be in its parameter's library and on
        its device (else TypeError, before anything changes)."""
        for i, (p, st) in enumerate(zip(self.params, self.state)):
            for k, v in st.items():
                if hasattr(v, "shape") and (type(v) is not type(p.data) or _library(v)
                                            != _library(p.data)):
                    raise TypeError(
                        f"{type(self).__name__}.step: the state '{k}' of parameter {i} is a "
                        f"{_library(v)} array but the parameter is now a {_library(p.data)} "
                        "array (the model was moved after the first step); move the model "
                        "before making the optimizer, or move the state with "
                        "opt.load_state_dict(opt.state_dict())")
        self._moves = _module.moves[0]

    def _step_arrays(self, grads: Sequence[np.ndarray | None]) -> None:
        """The update itself, from one checked gradient array per parameter (None: skip it).
        A compiled program calls it directly (``records_step``), with the gradients it
        computed: the same arithmetic as ``step``, without storing and re-checking ``.grad``."""
        if len(grads) != len(self.state):  # (one state per parameter, of every group)
            raise RuntimeError(f"{type(self).__name__}.step: {len(grads)} gradients for "
                               f"{len(self.params)} parameters (a parameter group was added "
                               "after the step was traced: compile the function again)")
        states = iter(self.state)  # one per parameter, group after group
        at = iter(grads)
        for group in self.param_groups:
            for p, st in zip(group["params"], states):
                g = next(at)
                if g is not None:
                    self._update(p.data, g, st, group)  # in place, on the raw array ...
                    p.mark_changed()  # ... so the version check sees it, as for p -= ...

    def _update(self, w: np.ndarray, g: np.ndarray, st: dict[str, Any],
                group: dict[str, Any]) -> None:
        """Write one parameter's new value into ``w`` in place, with its group's options."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """A deep copy of the state and the groups' options, laid out as PyTorch's is:
        ``{"state": {index: {...}}, "param_groups": [{options, "params": [indices]}]}``,
        parameters numbered group after group. Arrays are host (numpy) arrays, whatever the
        parameters' library: ``load_state_dict`` puts them back in each parameter's."""
        groups, start = [], 0
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = list(range(start, start + len(group["params"])))
            start += len(group["params"])
            groups.append(packed)
        return {"state": {i: _host_state(st) for i, st in enumerate(self.state) if st},
                "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (copied): the state and every group's options
        (the parameters stay this optimizer's), so training resumes exactly. The groups must
        have the same sizes; all is checked before anything changes."""
        what = f"{type(self).__name__}.load_state_dict"
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(f"{what}: the state has {len(saved)} parameter groups, this "
                             f"optimizer has {len(self.param_groups)}")
        index: dict[int, int] = {}  # saved parameter index -> position in self.params
        for k, (group, sg) in enumerate(zip(self.param_groups, saved)):
            if len(sg["params"]) != len(group["params"]):
                raise ValueError(f"{what}: parameter group {k} has {len(sg['params'])} "
                                 f"parameters in the state, {len(group['params'])} here")
            index.update((int(j), len(index)) for j in sg["params"])
        params = self.params
        new_state: list[dict[str, Any]] = [{} for _ in params]
        for j, st in state_dict["state"].items():
            if int(j) not in index:
                raise ValueError(f"{what}: parameter index {j} is in no parameter group")
            i = index[int(j)]
            host: dict[str, Any] = _host_state(st)
            for name, v in host.items():
                if isinstance(v, np.ndarray) and v.ndim and v.shape != params[i].shape:
                    raise ValueError(f"{what}: '{name}' of parameter {i} has shape {v.shape}, "
                                     f"the parameter has {params[i].shape}")
            w = params[i].data
            new_state[i] = host if type(w) is np.ndarray else {  # in the parameter's library
                name: _xp(w).asarray(v, device=_device(w))
                if isinstance(v, np.ndarray) else v for name, v in host.items()}
        groups = [{**copy.deepcopy({k: v for k, v in sg.items() if k != "params"}),
                   "params": group["params"]} for group, sg in zip(self.param_groups, saved)]
        for group in groups:
            self._check_group(group)
        self.state, self.param_groups = new_state, groups

    def __repr__(self) -> str:
        groups = "; ".join(
            f"group {i}: {len(g['params'])} parameters, "
            + ", ".join(f"{k}={v!r}" for k, v in g.items() if k != "params")
            for i, g in enumerate(self.param_groups))
        return f"{type(self).__name__}({groups})"


def _host_state(st: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of one parameter's state, its arrays on the host (numpy)."""
    return {k: host_array(v) if foreign_array(v) else copy.deepcopy(v)
            for k, v in st.items()}


def _check(cond: bool, what: str, msg: str) -> None:
    if not cond:
        raise ValueError(f"{what}: {msg}")


def _check_nonnegative(group: dict[str, Any], what: str, *names: str) -> None:
    for k in names:
        _check(group[k] >= 0, what, f"{k} must be >= 0, got {group[k]}")


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and
    L2 weight decay, as ``torch.optim.SGD`` defines them::

        g = grad + weight_decay * p
        buf = g (first step), then buf = momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf          (when momentum != 0)
        p = p - lr * g
    """

    def __init__(self, params: Iterable[Any], lr: float, *, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov})

    def _check_group(self, group: dict[str, Any]) -> None:
        _check_nonnegative(group, "SGD", "lr", "momentum", "weight_decay")
        _check(not group["nesterov"] or (group["momentum"] > 0 and group["dampening"] == 0),
               "SGD", "nesterov needs momentum > 0 and dampening = 0")

    def _update(self, w: np.ndarray, g: np.ndarray, st: dict[str, Any],
                group: dict[str, Any]) -> None:
        if group["weight_decay"]:
            g = g + group["weight_decay"] * w
        momentum = group["momentum"]
        if momentum:
            buf = st.get("momentum_buffer")
            if buf is None:
                # no dampening on the first step
                buf = st["momentum_buffer"] = _xp(w).asarray(g, copy=True)
            else:
                buf *= momentum
                buf += (1.0 - group["dampening"]) * g
            g = g + momentum * buf if group["nesterov"] else buf
        w -= group["lr"] * g


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` defines it (weight decay is L2, added to the gradient)::

        g = grad + weight_decay * p
        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
        p = p - lr * (m / (1 - beta1 ** t)) / (sqrt(v / (1 - beta2 ** t)) + eps)
    """

    _decoupled = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, *,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps,
                                  "weight_decay": weight_decay})

    def _check_group(self, group: dict[str, Any]) -> None:
        name, betas = type(self).__name__, group["betas"]
        _check_nonnegative(group, name, "lr", "eps", "weight_decay")
        _check(len(betas) == 2 and all(0.0 <= b < 1.0 for b in betas), name,
               f"betas must be two numbers in [0, 1), got {betas}")

    def _update(self, w: np.ndarray, g: np.ndarray, st: dict[str, Any],
                group: dict[str, Any]) -> None:
        b1, b2 = group["betas"]
        lr, weight_decay = group["lr"], group["weight_decay"]
        if weight_decay:
            if self._decoupled:
                w *= 1.0 - lr * weight_decay  # AdamW: shrink p itself
            else:
                g = g + weight_decay * w  # Adam: L2 through the gradient
        if not st:
            st["step"] = 0
            st["exp_avg"] = _xp(w).zeros_like(w)
            st["exp_avg_sq"] = _xp(w).zeros_like(w)
        st["step"] += 1
        t, m, v = st["step"], st["exp_avg"], st["exp_avg_sq"]
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * (g * g)
        m_hat = m / (1.0 - b1**t)
        v_hat = v / (1.0 - b2**t)
        sqrt = np.sqrt if type(w) is np.ndarray else _xp(w).sqrt
        w -= lr * m_hat / (sqrt(v_hat) + group["eps"])


class AdamW(Adam):
    """Adam with decoupled weight decay, as ``torch.optim.AdamW`` defines it: before the Adam
    step, ``p = p - lr * weight_decay * p``; the gradient is left alone."""

    _decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, *,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay)


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop`` defines it (eps is added outside the root)::

        g = grad + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        avg = sqrt(v - a * a) + eps, with a = alpha * a + (1 - alpha) * g   (centered)
              sqrt(v) + eps                                                 (otherwise)
        buf = momentum * buf + g / avg;  p = p - lr * buf     (momentum > 0)
        p = p - lr * g / avg                                  (otherwise)
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False) -> None:
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps,
                                  "weight_decay": weight_decay, "momentum": momentum,
                                  "centered": centered})

    def _check_group(self, group: dict[str, Any]) -> None:
        _check_nonnegative(group, "RMSprop", "lr", "alpha", "eps", "weight_decay", "momentum")

    def _update(self, w: np.ndarray, g: np.ndarray, st: dict[str, Any],
                group: dict[str, Any]) -> None:
        alpha, momentum = group["alpha"], group["momentum"]
        if group["weight_decay"]:
            g = g + group["weight_decay"] * w
        if not st:
            st["step"] = 0
            st["square_avg"] = _xp(w).zeros_like(w)
        st["step"] += 1
        v = st["square_avg"]
        v *= alpha
        v += (1.0 - alpha) * (g * g)
        sqrt = np.sqrt if type(w) is np.ndarray else _xp(w).sqrt
        if group["centered"]:
            a = st.get("grad_avg")
            if a is None:
                a = st["grad_avg"] = _xp(w).zeros_like(w)
            a += (1.0 - alpha) * (g - a)  # torch's lerp towards g
            avg = sqrt(v - a * a)
        else:
            avg = sqrt(v)
        avg += group["eps"]
        if momentum > 0:
            buf = st.get("momentum_buffer")
            if buf is None:
                buf = st["momentum_buffer"] = _xp(w).zeros_like(w)
            buf *= momentum
            buf += g / avg
            w -= group["lr"] * buf
        else:
            w -= group["lr"] * (g / avg)
