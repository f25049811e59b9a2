"""What ``autograd.compile`` costs up front: the trace time of each tensor workload's step, the
replay and eager times per step, and how many steps repay the trace.

    python benchmarks/trace_cost.py          # prints a markdown table (run.py's results.md
                                             # quotes it)

One BLAS thread, as run.py; each time is the median of several runs (the trace: of fresh
traces of fresh copies of the step).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]

import bench_common as C  # noqa: E402
import bench_tapegrad  # noqa: E402

import autograd  # noqa: E402
from autograd import Tensor, no_grad  # noqa: E402


def seed_step():
    x0, y0, W0, b0 = C.seed_linreg_data()
    x, y = Tensor(x0), Tensor(y0)
    W = Tensor(W0, requires_grad=True)
    b = Tensor(b0, requires_grad=True)

    def step():
        nonlocal W, b
        loss = ((x @ W + b - y) ** 2).mean()
        loss.backward()
        with no_grad():
            W -= C.SEED_LR * W.grad
            b -= C.SEED_LR * b.grad
        W.grad = None
        b.grad = None
        return loss

    return step


def make(workload: str):
    if workload == "seed_linreg (one epoch)":
        return seed_step()
    return bench_tapegrad.mlp(workload)[0]


def per_call(fn, seconds: float = 0.3) -> float:
    fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return (time.perf_counter() - t0) / n


def main() -> None:
    print("| step | trace | replay (compiled) | eager | steps that repay the trace |")
    print("|---|---|---|---|---|")
    for w in ("seed_linreg (one epoch)", "mlp_small", "mlp_large"):
        traces = []
        for _ in range(5):
            step = autograd.compile(make(w))
            t0 = time.perf_counter()
            step()  # the first call traces
            traces.append(time.perf_counter() - t0)
        trace = statistics.median(traces)
        replay = statistics.median(per_call(step) for _ in range(3))
        eager_step = make(w)
        eager = statistics.median(per_call(eager_step) for _ in range(3))
        saved = eager - replay
        repay = f"{trace / saved:.0f}" if saved > 0 else "never (no faster)"
        print(f"| {w} | {trace * 1e3:.2f} ms | {replay * 1e6:.0f} us | {eager * 1e6:.0f} us "
              f"| {repay} |")


if __name__ == "__main__":
    main()
