"""Hypothesis strategies for property-testing gradients, and ``check_gradients``.

    from autograd.testing import arrays, check_gradients
    check_gradients(lambda x: (x * x).sum(), arrays((3, 2)))

Needs hypothesis (``pip install 'tapegrad[test]'``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as e:  # pragma: no cover - exercised only without hypothesis
    raise ImportError("autograd.testing needs hypothesis: install the `test` extra "
                      "(pip install 'tapegrad[test]')") from e

import numpy as np

from .gradcheck import gradcheck

Shape = tuple[int, ...]


def array_shapes(*, min_dims: int = 0, max_dims: int = 3, min_side: int = 1,
                 max_side: int = 4) -> st.SearchStrategy[Shape]:
    """Array shapes (0-d included by default), small enough for full-Jacobian checks."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def broadcastable_shapes(n: int, *, min_dims: int = 0, max_dims: int = 3, min_side: int = 1,
                         max_side: int = 4) -> st.SearchStrategy[tuple[Shape, ...]]:
    """Tuples of ``n`` shapes that broadcast together (numpy's rules)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=n, min_dims=min_dims, max_dims=max_dims, min_side=min_side,
        max_side=max_side).map(lambda b: b.input_shapes)


@st.composite
def matmul_shapes(draw: Any, *, max_side: int = 4, max_batch_dims: int = 2
                  ) -> tuple[Shape, Shape]:
    """Pairs of shapes valid for ``@``: 1-d, 2-d and batched (with broadcast batches)."""
    side = st.integers(1, max_side)
    m, k, n = draw(side), draw(side), draw(side)
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=max_batch_dims,
                                                   max_side=3)).input_shapes
    a = draw(st.sampled_from([(k,), batch[0] + (m, k)]))
    b = draw(st.sampled_from([(k,), batch[1] + (k, n)]))
    return a, b


def valid_axes(ndim: int) -> st.SearchStrategy[Any]:
    """``axis`` arguments valid for an array of ``ndim`` dims: None, an int or a tuple."""
    if ndim == 0:
        return st.none()
    one = st.integers(-ndim, ndim - 1)
    many = st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(
        tuple)
    return st.one_of(st.none(), one, many)


def arrays(shape: int | Shape | st.SearchStrategy[Shape], *, low: float = -3.0, high: float = 3.0,
           away_from: Sequence[float] = (), margin: float = 1e-3
           ) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays of ``shape`` (a tuple, an int, or a strategy of shapes) with values in
    [low, high], each at least ``margin`` away from every point in ``away_from`` (kinks and
    singular points, where finite differences mean nothing)."""
    if isinstance(shape, st.SearchStrategy):
        return shape.flatmap(lambda s: arrays(s, low=low, high=high, away_from=away_from,
                                              margin=margin))
    points = tuple(float(p) for p in away_from)

    def far(x: float) -> bool:
        return all(abs(x - p) >= margin for p in points)

    elements = st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)
    if points:
        elements = elements.filter(far)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return hnp.arrays(np.float64, shape, elements=elements)


def check_gradients(f: Callable, *strategies: st.SearchStrategy, **options: Any) -> None:
    """Property-test ``gradcheck(f, *inputs)`` over inputs drawn from ``strategies``.

    Keyword options go to ``gradcheck`` (eps, atol, rtol, order, fast) or to hypothesis's
    ``settings`` (max_examples, deadline, derandomize, ...). A failure is shrunk to a minimal
    example and re-raised as ``GradcheckError``. A strategy may draw pytrees (such as
    ``st.fixed_dictionaries({"w": arrays((2, 3)), "b": arrays(3)})``), which ``gradcheck``
    checks leaf by leaf, naming a failing leaf by its path (``input 0['b']``).
    """
    check_keys = {"eps", "atol", "rtol", "order", "fast", "seed"}
    setting_keys = set(inspect.signature(settings).parameters) - {"parent"}
    unknown = sorted(set(options) - check_keys - setting_keys)
    if unknown:
        raise TypeError(f"check_gradients: unknown option(s) {unknown}: gradcheck takes "
                        f"{sorted(check_keys)} (a tolerance is atol= and rtol=), hypothesis's "
                        "settings take max_examples, deadline, derandomize, ...")
    check = {k: v for k, v in options.items() if k in check_keys}
    # one failure, shrunk and re-raised as itself (not an ExceptionGroup of distinct failures)
    hyp: dict[str, Any] = {"max_examples": 50, "deadline": None, "report_multiple_bugs": False}
    hyp.update({k: v for k, v in options.items() if k not in check_keys})

    @settings(**hyp)
    @given(st.tuples(*strategies))  # @given takes no strategies for *args: draw one tuple
    def property_test(inputs: tuple) -> None:
        gradcheck(f, *inputs, **check)

    property_test()
