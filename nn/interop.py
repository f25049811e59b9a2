"""PyTorch state dicts without importing torch: plain dicts of numpy arrays.

Names are the same on both sides (a ``Sequential`` of ``Linear`` layers gives ``"0.weight"``,
``"0.bias"``, ``"2.weight"``, ...), buffers included (BatchNorm's ``running_mean``,
``running_var`` and ``num_batches_tracked``, an int64 0-d array); only ``Linear`` weights
differ, stored ``(in, out)`` here and ``(out, in)`` by PyTorch, so they are transposed
(``Conv2d`` weights have PyTorch's layout, ``(out, in / groups, kh, kw)``, and are copied as
they are). Save the result with ``torch.save({k: torch.from_numpy(v) for k, v in d.items()},
...)`` on the torch side.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .layers import Linear
from .module import Module


def _linear_weights(module: Module) -> set[int]:
    return {id(m.weight) for m in module.modules() if isinstance(m, Linear)}


def to_torch_state_dict(module: Module) -> dict[str, np.ndarray]:
    """``module``'s ``state_dict()`` (parameters and persistent buffers) as PyTorch names and
    layouts (new, C-contiguous arrays)."""
    weights = _linear_weights(module)
    linear = {name for name, p in module.named_parameters() if id(p) in weights}
    # (np.array, not ascontiguousarray: that makes a 0-d array, such as a counter, 1-d)
    return {name: np.array(v.T, order="C") if name in linear else v
            for name, v in module.state_dict().items()}


def from_torch_state_dict(module: Module, state: dict[str, Any]) -> None:
    """Load a PyTorch-layout dict of arrays (parameters and buffers) into ``module``
    (strictly: names and shapes must match, else ValueError and the module is unchanged;
    values are cast to the module's dtypes by ``load_state_dict``'s rule)."""
    weights = _linear_weights(module)
    linear = {name for name, p in module.named_parameters() if id(p) in weights}
    converted = {}
    for name, v in state.items():
        arr = np.asarray(v)
        if name in linear and arr.ndim != 2:
            raise ValueError(f"from_torch_state_dict: '{name}' is a Linear weight, expected "
                             f"a 2-d (out, in) array, got shape {arr.shape}")
        converted[name] = arr.T if name in linear else arr
    module.load_state_dict(converted, strict=True)
