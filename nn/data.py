"""Mini-batches without index juggling."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np


def batches(X: Any, y: Any, batch_size: int, *, shuffle: bool = True,
            seed: int | np.random.Generator | None = None) -> Iterator[tuple[Any, Any]]:
    """Yield ``(X_batch, y_batch)`` pairs of ``batch_size`` rows (the last may be smaller).

    ``X`` and ``y`` are arrays, lists or Tensors with the same number of rows; each batch has
    the type it was given (a list becomes an array; a Tensor gives Tensors, through indexing,
    so gradients flow back to it if it requires grad). With ``shuffle``, the order is a
    permutation from ``numpy.random.default_rng(seed)``: an int seed gives the same order on
    every call, a ``Generator`` a new one each epoch.
    """
    if isinstance(X, list):
        X = np.asarray(X)
    if isinstance(y, list):
        y = np.asarray(y)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batches: batch_size must be a positive integer, got {batch_size!r}")
    n, m = len(X), len(y)
    if n != m:
        raise ValueError(f"batches: X has {n} rows but y has {m}")
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]  # an index array: batches are copies, not views
        yield X[idx], y[idx]
