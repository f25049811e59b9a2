"""micrograd (PyPI ``micrograd``): its demo's training step, as its notebook runs it.

Runs in micrograd's own virtual environment (numpy is installed there for the demo's data).
"""

from __future__ import annotations

import bench_common as C
from micrograd.engine import Value
from micrograd.nn import MLP

NAME = "micrograd"


def version() -> str:
    from importlib.metadata import version as v

    return f"micrograd {v('micrograd')}"


def scalar_mlp():
    """The demo notebook's loss() and training step; X rows are numpy float64 values and y an
    int array, as the demo gets them from sklearn."""
    _, _, init = C.scalar_mlp_data()
    model = MLP(C.SCALAR_SIZES[0], list(C.SCALAR_SIZES[1:]))
    for p, v in zip(model.parameters(), init, strict=True):
        p.data = v
    return C.scalar_mlp_step(Value, model), _data


def _data(v) -> float:
    return float(v.data)


def chain(reps: int):
    """The deep chain; micrograd 0.1.0 has no tanh, so relu stands in (same node count)."""
    x = Value(0.5)
    y = x
    for _ in range(reps):
        y = (y * 0.9 + 0.1).relu()
    return x, y
