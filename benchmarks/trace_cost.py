"""What ``autograd.compile`` costs up front: the time of the two traced calls of each
workload's step (compile traces the first call, and the second again to check that the program
is the same), the replay and eager times per step, and how many replayed steps repay the
traced calls' extra cost over eager ones.

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
import bench_compiled  # noqa: E402
import bench_tapegrad  # noqa: E402

import autograd  # noqa: E402
from autograd import Tensor, Value, no_grad  # noqa: E402


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


def make(workload: str, compiled: bool = False):
    if workload == "scalar_mlp":
        if not compiled:
            return bench_tapegrad.scalar_mlp()[0]
        step = autograd.compile(bench_compiled.scalar_step()[0])  # (lr: an argument)
        return lambda: step(Value(C.scalar_lr(0)))
    step = seed_step() if workload == "seed_linreg (one epoch)" else \
        bench_tapegrad.mlp(workload)[0]
    return autograd.compile(step) if compiled else step


def per_call(fn, seconds: float = 0.3) -> float:
    fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return (time.perf_counter() - t0) / n


def main() -> None:
    print("| step | 1st call (trace) | 2nd call (trace, compare) | replay (compiled) | eager "
          "| replayed steps that repay the two traces |")
    print("|---|---|---|---|---|---|")
    for w in ("seed_linreg (one epoch)", "mlp_small", "mlp_large", "scalar_mlp"):
        firsts, seconds = [], []
        for _ in range(1 if w == "scalar_mlp" else 5):  # (a scalar trace takes seconds)
            step = make(w, compiled=True)
            for times in (firsts, seconds):
                t0 = time.perf_counter()
                step()
                times.append(time.perf_counter() - t0)
        first, second = statistics.median(firsts), statistics.median(seconds)
        replay = statistics.median(per_call(step) for _ in range(3))
        eager_step = make(w)
        eager = statistics.median(per_call(eager_step) for _ in range(3))
        saved, extra = eager - replay, first + second - 2 * eager
        repay = f"{max(extra, 0.0) / saved:.0f}" if saved > 0 else "never (no faster)"
        print(f"| {w} | {first * 1e3:.2f} ms | {second * 1e3:.2f} ms | {replay * 1e6:.0f} us "
              f"| {eager * 1e6:.0f} us | {repay} |")


if __name__ == "__main__":
    main()
