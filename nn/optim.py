"""Optimizers following PyTorch's published update rules, and gradient clipping.

``step()`` works on the raw arrays and writes each parameter's array in place, then marks the
parameter changed (``mark_changed``, as ``p -= update`` under ``no_grad`` would): a graph
recorded before the step and backpropagated after it raises instead of using stale values.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from autograd import Tensor, records_step


def _grad_array(p: Tensor) -> np.ndarray | None:
    """The gradient as an array (after ``backward(create_graph=True)`` it is a Tensor)."""
    g = p.grad
    return g.data if isinstance(g, Tensor) else g


def _param_list(params: Any, what: str) -> list[Tensor]:
    if isinstance(params, Tensor):  # a Tensor is iterable (over rows): refuse the mix-up
        raise TypeError(f"{what}: params must be an iterable of Tensors (e.g. "
                        "model.parameters()), got a single Tensor; wrap it in a list")
    if not isinstance(params, Iterable):
        hint = "; pass model.parameters()" if hasattr(params, "parameters") else ""
        raise TypeError(f"{what}: params must be an iterable of Tensors, got "
                        f"{type(params).__name__}{hint}")
    out = list(params)
    if not out:  # often a generator consumed by an earlier optimizer
        raise ValueError(f"{what}: got an empty parameter list")
    for p in out:
        if not isinstance(p, Tensor):
            raise TypeError(f"{what}: expected Tensors, got {type(p).__name__}")
        if p.dtype.kind != "f":
            raise TypeError(f"{what}: parameters must be floating point, got {p.dtype}")
    if len({id(p) for p in out}) != len(out):
        raise ValueError(f"{what}: a parameter appears more than once")
    return out


class Optimizer:
    """Base class: a list of parameters, their per-parameter state, and hyperparameters.

    Hyperparameters are plain attributes (``opt.lr = 0.01`` between steps is a schedule).
    """

    _hyper: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Tensor]) -> None:
        self.params = _param_list(params, type(self).__name__)
        self.state: list[dict[str, Any]] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to None."""
        for p in self.params:
            p.grad = None

    @records_step  # under autograd.trace/compile: one line of the program, this very method
    def step(self) -> None:
        """Update every parameter that has a gradient; skip those whose grad is None.

        Every gradient is checked before any parameter changes, so a bad one (wrong shape)
        raises and leaves the whole model as it was."""
        todo = []
        for i, (p, st) in enumerate(zip(self.params, self.state)):
            g = p.grad
            if type(g) is not np.ndarray:
                if g is None:
                    continue
                g = _grad_array(p)  # a Tensor after backward(create_graph=True)
            if not isinstance(g, np.ndarray) or g.shape != p.data.shape:
                raise ValueError(
                    f"{type(self).__name__}.step: parameter {i} of shape {p.data.shape} has a "
                    f"gradient of shape {np.shape(g)}; they must match")
            todo.append((p, g, st))
        for p, g, st in todo:
            self._update(p.data, g, st)  # in place, on the raw array ...
            p.mark_changed()  # ... so the version check sees it, as for p -= ...

    def _update(self, w: np.ndarray, g: np.ndarray, st: dict[str, Any]) -> None:
        """Write one parameter's new value into ``w`` in place."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """A deep copy of the state and hyperparameters, laid out as PyTorch's is:
        ``{"state": {index: {...}}, "param_groups": [{hyperparameters, "params": [...]}]}``."""
        group = {k: getattr(self, k) for k in self._hyper}
        group["params"] = list(range(len(self.params)))
        return {"state": {i: copy.deepcopy(st) for i, st in enumerate(self.state) if st},
                "param_groups": [group]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (copied), so training resumes exactly."""
        what = f"{type(self).__name__}.load_state_dict"
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError(f"{what}: the state is for a different number of parameters")
        new_state: list[dict[str, Any]] = [{} for _ in self.params]
        for i, st in state_dict["state"].items():
            i = int(i)
            if not 0 <= i < len(self.params):
                raise ValueError(f"{what}: parameter index {i} out of range")
            for k, v in st.items():
                if isinstance(v, np.ndarray) and v.shape != self.params[i].shape:
                    raise ValueError(f"{what}: '{k}' of parameter {i} has shape {v.shape}, "
                                     f"the parameter has {self.params[i].shape}")
            new_state[i] = copy.deepcopy(st)
        self.state = new_state
        for k in self._hyper:
            setattr(self, k, groups[0][k])

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._hyper)
        return f"{type(self).__name__}({len(self.params)} parameters, {hyper})"


def _check(cond: bool, what: str, msg: str) -> None:
    if not cond:
        raise ValueError(f"{what}: {msg}")


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and
    L2 weight decay, as ``torch.optim.SGD`` defines them::

        g = grad + weight_decay * p
        buf = g (first step), then buf = momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf          (when momentum != 0)
        p = p - lr * g
    """

    _hyper = ("lr", "momentum", "dampening", "weight_decay", "nesterov")

    def __init__(self, params: Iterable[Tensor], lr: float, *, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False) -> None:
        _check(lr >= 0, "SGD", f"lr must be >= 0, got {lr}")
        _check(momentum >= 0, "SGD", f"momentum must be >= 0, got {momentum}")
        _check(weight_decay >= 0, "SGD", f"weight_decay must be >= 0, got {weight_decay}")
        _check(not nesterov or (momentum > 0 and dampening == 0), "SGD",
               "nesterov needs momentum > 0 and dampening = 0")
        super().__init__(params)
        self.lr, self.momentum, self.dampening = lr, momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov

    def _update(self, w: np.ndarray, g: np.ndarray, st: dict[str, Any]) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * w
        if self.momentum:
            buf = st.get("momentum_buffer")
            if buf is None:
                buf = st["momentum_buffer"] = g.copy()  # no dampening on the first step
            else:
                buf *= self.momentum
                buf += (1.0 - self.dampening) * g
            g = g + self.momentum * buf if self.nesterov else buf
        w -= self.lr * g


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` defines it (weight decay is L2, added to the gradient)::

        g = grad + weight_decay * p
        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
        p = p - lr * (m / (1 - beta1 ** t)) / (sqrt(v / (1 - beta2 ** t)) + eps)
    """

    _hyper = ("lr", "betas", "eps", "weight_decay")
    _decoupled = False

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, *,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        name = type(self).__name__
        _check(lr >= 0, name, f"lr must be >= 0, got {lr}")
        _check(all(0.0 <= b < 1.0 for b in betas) and len(betas) == 2, name,
               f"betas must be two numbers in [0, 1), got {betas}")
        _check(eps >= 0, name, f"eps must be >= 0, got {eps}")
        _check(weight_decay >= 0, name, f"weight_decay must be >= 0, got {weight_decay}")
        super().__init__(params)
        self.lr, self.betas, self.eps = lr, tuple(betas), eps
        self.weight_decay = weight_decay

    def _update(self, w: np.ndarray, g: np.ndarray, st: dict[str, Any]) -> None:
        b1, b2 = self.betas
        if self.weight_decay:
            if self._decoupled:
                w *= 1.0 - self.lr * self.weight_decay  # AdamW: shrink p itself
            else:
                g = g + self.weight_decay * w  # Adam: L2 through the gradient
        if not st:
            st["step"] = 0
            st["exp_avg"] = np.zeros_like(w)
            st["exp_avg_sq"] = np.zeros_like(w)
        st["step"] += 1
        t, m, v = st["step"], st["exp_avg"], st["exp_avg_sq"]
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * (g * g)
        m_hat = m / (1.0 - b1**t)
        v_hat = v / (1.0 - b2**t)
        w -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class AdamW(Adam):
    """Adam with decoupled weight decay, as ``torch.optim.AdamW`` defines it: before the Adam
    step, ``p = p - lr * weight_decay * p``; the gradient is left alone."""

    _decoupled = True

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, *,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay)


def clip_grad_norm(params: Iterable[Tensor] | Tensor, max_norm: float) -> float:
    """Scale all gradients together so that their global 2-norm is at most ``max_norm``
    (as ``torch.nn.utils.clip_grad_norm_``: by ``max_norm / (norm + 1e-6)`` when above).
    Parameters without a gradient are ignored. Returns the norm before clipping."""
    ps = [params] if isinstance(params, Tensor) else list(params)
    ps = [p for p in ps if p.grad is not None]
    grads: list[Any] = [_grad_array(p) for p in ps]
    norms = [float(np.linalg.norm(np.ravel(g))) for g in grads]
    total = math.hypot(*norms) if norms else 0.0
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for p in ps:
            p.grad = p.grad * coef  # a new array: never write into one the caller may hold
    return total
