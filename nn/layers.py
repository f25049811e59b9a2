"""Layers: ``Linear``, ``Sequential``, ``MLP``, activations and ``Dropout``."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from autograd import Tensor, linear

from .module import Module, Parameter, _flatten

Seed = int | np.random.Generator | None


def _tensor(x: Any) -> Tensor:
    """Layers accept arrays and lists too; they become constant tensors."""
    return x if isinstance(x, Tensor) else Tensor(x)


class Linear(Module):
    """``y = x @ weight + bias``, with ``weight`` of shape ``(in_features, out_features)``;
    recorded as one ``linear`` node (matmul's rule and add's, one tape entry).

    Both are drawn from U(-1/sqrt(in_features), 1/sqrt(in_features)), PyTorch's default
    ranges, using ``numpy.random.default_rng(seed)`` (weight first, then bias). PyTorch stores
    the weight transposed, ``(out, in)``; ``nn.to_torch_state_dict`` converts.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 seed: Seed = None, dtype: Any = np.float64) -> None:
        if in_features < 0 or out_features < 0:
            raise ValueError(f"Linear: sizes must be >= 0, got ({in_features}, {out_features})")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        rng = np.random.default_rng(seed)
        bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
        self.weight: Tensor = Parameter(
            rng.uniform(-bound, bound, (in_features, out_features)), dtype=dtype)
        self.bias: Tensor | None = None
        if bias:
            self.bias = Parameter(rng.uniform(-bound, bound, (out_features,)), dtype=dtype)

    def forward(self, x: Any) -> Tensor:
        return linear(_tensor(x), self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Sequential(Module):
    """Runs its modules in order. Children are named ``"0"``, ``"1"``, ... as in PyTorch, so
    parameter names are ``"0.weight"``, ``"0.bias"``, ``"2.weight"``, ..."""

    def __init__(self, *modules: Module) -> None:
        for m in modules:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: expected Modules, got {type(m).__name__}")
        self._layers = list(modules)

    def _entries(self) -> Iterator[tuple[str, Any]]:
        for i, m in enumerate(self._layers):
            yield str(i), m
        for attr, value in vars(self).items():  # anything assigned later, as on any module
            if attr != "_layers":
                yield from _flatten(attr, value)

    def forward(self, x: Any) -> Any:
        for m in self._layers:
            x = m(x)
        return x

    def append(self, module: Module) -> Sequential:
        """Add a module at the end; returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential: expected a Module, got {type(module).__name__}")
        self._layers.append(module)
        return self

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return Sequential(*self._layers[i])
        return self._layers[i]

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._layers)


class ReLU(Module):
    """max(x, 0) elementwise (derivative 0 at 0)."""

    def forward(self, x: Any) -> Tensor:
        return _tensor(x).relu()


class Tanh(Module):
    """tanh(x) elementwise."""

    def forward(self, x: Any) -> Tensor:
        return _tensor(x).tanh()


class Sigmoid(Module):
    """1 / (1 + exp(-x)) elementwise, without overflow."""

    def forward(self, x: Any) -> Tensor:
        return _tensor(x).sigmoid()


class Dropout(Module):
    """In training mode, zeroes each element with probability ``p`` and scales the rest by
    ``1 / (1 - p)`` (inverted dropout, so eval needs no rescaling); the identity in eval mode.
    Masks come from ``numpy.random.default_rng(seed)``."""

    def __init__(self, p: float = 0.5, *, seed: Seed = None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = float(p)
        self._rng = np.random.default_rng(seed)

    def forward(self, x: Any) -> Tensor:
        x = _tensor(x)
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * 0.0
        keep = self._rng.random(x.shape) >= self.p
        # the scale is cast to x's dtype so that float32 activations stay float32
        return x * (keep * (1.0 / (1.0 - self.p))).astype(x.dtype)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MLP(Sequential):
    """``Linear`` layers of the given ``sizes`` with ``activation()`` between them (none after
    the last): ``MLP([2, 16, 1])`` is ``Sequential(Linear(2, 16), ReLU(), Linear(16, 1))`` and
    has the same parameter names; ``activation=None`` gives a linear stack. One generator
    seeded by ``seed`` initialises every layer."""

    def __init__(self, sizes: list[int] | tuple[int, ...],
                 activation: Callable[[], Module] | None = ReLU, *, seed: Seed = None,
                 dtype: Any = np.float64) -> None:
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP: needs at least an input and an output size, got {sizes}")
        rng = np.random.default_rng(seed)
        layers: list[Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(Linear(a, b, seed=rng, dtype=dtype))
            if i < len(sizes) - 2 and activation is not None:
                layers.append(activation())
        super().__init__(*layers)
