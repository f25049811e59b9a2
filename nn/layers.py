"""Layers: ``Linear``, ``Sequential``, ``MLP``, activations, ``Dropout``, ``Flatten``,
``Identity`` and ``Embedding``."""

from __future__ import annotations

import copy
import math
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from autograd import Tensor, linear, replay_state

from . import functional as F
from .module import Module, Parameter, _flatten, _structure, host_dtype, layer_input

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
        if type(x) is not Tensor or self.bias is None:  # (linear itself refuses other dtypes)
            x = layer_input(x, self.weight, "Linear")
        return linear(x, self.weight, self.bias)

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
        _structure[0] += 1  # module paths and labels are cached until the structure changes
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


_dropouts: weakref.WeakSet = weakref.WeakSet()  # every Dropout alive


def _save_dropout_states() -> Any:
    """For ``autograd.checkpoint``: every Dropout's generator state now, to replay."""
    saved = [(m._rng, m._rng.bit_generator.state) for m in list(_dropouts)]

    def restore() -> Any:
        now = [(rng, rng.bit_generator.state) for rng, _ in saved]
        for rng, st in saved:
            rng.bit_generator.state = st

        def undo() -> None:
            for rng, st in now:
                rng.bit_generator.state = st
        return undo
    return restore


replay_state(_save_dropout_states)


class Dropout(Module):
    """In training mode, zeroes each element with probability ``p`` and scales the rest by
    ``1 / (1 - p)`` (inverted dropout, so eval needs no rescaling); the identity in eval mode.
    Masks come from ``numpy.random.default_rng(seed)``."""

    def __init__(self, p: float = 0.5, *, seed: Seed = None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = float(p)
        self._rng = np.random.default_rng(seed)
        _dropouts.add(self)  # so that autograd.checkpoint replays its masks

    def forward(self, x: Any) -> Tensor:
        x = _tensor(x)
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * 0.0
        keep = self._rng.random(x.shape) >= self.p
        # the scale is cast to x's dtype so that float32 activations stay float32 (a host
        # mask on any library: the same draws, the same results)
        return x * (keep * (1.0 / (1.0 - self.p))).astype(host_dtype(x))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MLP(Sequential):
    """``Linear`` layers of the given ``sizes`` with an activation between them (none after
    the last): ``MLP([2, 16, 1])`` is ``Sequential(Linear(2, 16), ReLU(), Linear(16, 1))`` and
    has the same parameter names; ``activation=None`` gives a linear stack. One generator
    seeded by ``seed`` initialises every layer.

    ``activation`` is a Module class (``nn.Tanh``), a Module instance (``nn.LeakyReLU(0.2)``:
    each position gets its own deep copy), a name (``"relu"``, ``"tanh"``, ``"sigmoid"``,
    ``"gelu"``, ``"leaky_relu"``), a function returning a new Module, or None."""

    def __init__(self, sizes: list[int] | tuple[int, ...],
                 activation: type[Module] | Module | str | Callable[[], Module] | None = ReLU,
                 *, seed: Seed = None, dtype: Any = np.float64) -> None:
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP: needs at least an input and an output size, got {sizes}")
        make = _activation_maker(activation)
        rng = np.random.default_rng(seed)
        layers: list[Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(Linear(a, b, seed=rng, dtype=dtype))
            if i < len(sizes) - 2 and make is not None:
                layers.append(make())
        super().__init__(*layers)


def _activation_maker(activation: Any) -> Callable[[], Module] | None:
    """A function giving a new activation Module for each position of an MLP."""
    if activation is None:
        return None
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(f"MLP: unknown activation {activation!r}; the names are "
                             f"{', '.join(map(repr, ACTIVATIONS))}")
        return ACTIVATIONS[activation]
    if isinstance(activation, Module):
        return lambda: copy.deepcopy(activation)
    if isinstance(activation, type) and issubclass(activation, Module):
        return activation
    if isinstance(activation, type) or not callable(activation):
        raise TypeError(f"MLP: activation must be a Module class, a Module instance, a name "
                        f"({', '.join(map(repr, ACTIVATIONS))}) or None, got {activation!r}")

    def make() -> Module:
        try:
            m = activation()
        except TypeError as e:  # a function that is not a factory (np.tanh)
            raise TypeError(f"MLP: activation {activation!r} is not a Module class, instance or "
                            f"name, and calling it with no arguments failed ({e})") from None
        if not isinstance(m, Module):
            raise TypeError(f"MLP: activation() returned a {type(m).__name__}, not a Module; "
                            "pass a Module class, a Module instance or a name")
        return m

    return make


class Identity(Module):
    """Returns its input unchanged; its arguments are ignored, as in PyTorch."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def forward(self, x: Any) -> Any:
        return x


class Flatten(Module):
    """Merges the axes ``start_dim`` to ``end_dim`` (inclusive; negative counts from the end)
    into one: ``(N, C, H, W)`` becomes ``(N, C * H * W)`` by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        self.start_dim = int(start_dim)
        self.end_dim = int(end_dim)

    def forward(self, x: Any) -> Tensor:
        x = _tensor(x)
        nd = max(x.ndim, 1)  # a 0-d input flattens as a 1-d one would, as in PyTorch
        start = self.start_dim + nd if self.start_dim < 0 else self.start_dim
        end = self.end_dim + nd if self.end_dim < 0 else self.end_dim
        if not (0 <= start < nd and 0 <= end < nd) or start > end:
            raise ValueError(f"Flatten: start_dim={self.start_dim} and end_dim={self.end_dim} "
                             f"do not name axes first to last of an input of shape {x.shape}")
        shape = (1,) if x.ndim == 0 else x.shape
        return x.reshape(shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class LeakyReLU(Module):
    """``x`` where ``x > 0``, else ``negative_slope * x``."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        self.negative_slope = float(negative_slope)

    def forward(self, x: Any) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class GELU(Module):
    """``x * Phi(x)``, ``Phi`` the standard normal CDF (exact, with erf), or its tanh
    approximation with ``approximate="tanh"``."""

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Any) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


def _implicit_dim(what: str, ndim: int) -> int:
    """PyTorch's legacy choice when ``dim`` is None: 0 for 0-, 1- and 3-d inputs, else 1."""
    warnings.warn(f"{what}: implicit dimension choice is deprecated (as in PyTorch); pass dim",
                  UserWarning, stacklevel=4)
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """``exp(x) / sum(exp(x))`` along ``dim``, computed stably."""

    def __init__(self, dim: int | None = None) -> None:
        self.dim = dim

    def forward(self, x: Any) -> Tensor:
        x = _tensor(x)
        return F.softmax(x, _implicit_dim("Softmax", x.ndim) if self.dim is None else self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """``x - logsumexp(x)`` along ``dim``, computed stably."""

    def __init__(self, dim: int | None = None) -> None:
        self.dim = dim

    def forward(self, x: Any) -> Tensor:
        x = _tensor(x)
        dim = _implicit_dim("LogSoftmax", x.ndim) if self.dim is None else self.dim
        return F.log_softmax(x, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Embedding(Module):
    """A lookup table: ``weight`` of shape ``(num_embeddings, embedding_dim)``, drawn from
    N(0, 1) (PyTorch's default) with ``numpy.random.default_rng(seed)``; called with integer
    indices of any shape, it returns their rows. The row ``padding_idx`` starts at zero and
    gets no gradient; repeated indices accumulate theirs."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 *, seed: Seed = None, dtype: Any = np.float64) -> None:
        if num_embeddings < 0 or embedding_dim < 0:
            raise ValueError(f"Embedding: sizes must be >= 0, got ({num_embeddings}, "
                             f"{embedding_dim})")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for "
                                 f"{num_embeddings} embeddings")
            padding_idx = int(padding_idx) % num_embeddings
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        self.padding_idx = padding_idx
        w = np.random.default_rng(seed).standard_normal((num_embeddings, embedding_dim))
        if padding_idx is not None:
            w[padding_idx] = 0.0
        self.weight: Tensor = Parameter(w, dtype=dtype)

    def forward(self, indices: Any) -> Tensor:
        return F.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


# the activations MLP knows by name
ACTIVATIONS: dict[str, type[Module]] = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid,
                                        "gelu": GELU, "leaky_relu": LeakyReLU}
