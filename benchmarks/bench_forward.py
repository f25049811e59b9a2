"""Forward mode (issue 17): what the tangent sweep costs against the forward pass and reverse
mode, on the workloads the issue names.

    python benchmarks/bench_forward.py            # prints a markdown table (results.md quotes it)
    python benchmarks/bench_forward.py --quick    # fewer repeats

One BLAS thread, as run.py; each time is the median of several blocks of calls (wall clock).
- jvp of the mlp_small forward (loss of bench_common's 64-128-10 MLP, batch 64, along a random
  direction in all its parameters) against that forward alone: recorded (grad mode, as before
  a backward) and under no_grad; the goal is jvp <= 3x the forward;
- linearize then 10 tangents against 10 jvp calls (the same 10 directions);
- jacfwd against jacrev on tanh(A x): R^10 -> R^1000 and R^1000 -> R^10;
- the Hessian of a 112-parameter MLP loss (4-12-4, tanh, batch 32, MSE), forward-over-reverse
  (``hessian``) against reverse-over-reverse (``jacrev(grad(loss))``).
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
import numpy as np  # noqa: E402

from autograd import (  # noqa: E402
    Tensor,
    cross_entropy,
    grad,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    linear,
    linearize,
    no_grad,  # noqa: E402
)

QUICK = "--quick" in sys.argv
REPEATS = 3 if QUICK else 7
MIN_BLOCK = 0.05 if QUICK else 0.2


def timed(fn) -> float:
    """Median seconds per call over REPEATS blocks of at least MIN_BLOCK seconds."""
    fn()
    n, t = 1, 0.0
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        t = time.perf_counter() - start
        if t >= MIN_BLOCK:
            break
        n *= 2
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - start) / n)
    return statistics.median(times)


def mlp_small():
    x, labels, layers, _ = C.mlp_data("mlp_small")
    xt = Tensor(x)
    params = [a for pair in layers for a in pair]

    def loss(*ps):
        h = xt
        for i in range(0, len(ps), 2):
            h = linear(h, ps[i], ps[i + 1])  # one node per layer, as nn.Linear records
            if i + 2 < len(ps):
                h = h.relu()
        return cross_entropy(h, labels).mean()

    rng = np.random.default_rng(1)
    directions = [[rng.standard_normal(p.shape) for p in params] for _ in range(10)]
    return loss, params, directions


def small_mlp_loss():
    """A 4-12-4 tanh MLP's MSE on 32 points, as a function of its 112 parameters in one vector."""
    rng = np.random.default_rng(0)
    x, y = Tensor(rng.standard_normal((32, 4))), Tensor(rng.standard_normal((32, 4)))
    shapes = [(4, 12), (12,), (12, 4), (4,)]

    def loss(p):
        ws, at = [], 0
        for s in shapes:
            n = int(np.prod(s))
            ws.append(p[at:at + n].reshape(s))
            at += n
        h = (x @ ws[0] + ws[1]).tanh()
        return ((h @ ws[2] + ws[3] - y) ** 2).mean()

    return loss, rng.standard_normal(sum(int(np.prod(s)) for s in shapes)) * 0.5


def main() -> None:
    rows = []
    loss, params, dirs = mlp_small()
    leaves = [Tensor(p, requires_grad=True) for p in params]
    recorded = timed(lambda: loss(*leaves))
    with no_grad():
        plain = timed(lambda: loss(*[Tensor(p) for p in params]))
    one = timed(lambda: jvp(loss, tuple(params), tuple(dirs[0])))
    rows.append(("mlp_small: forward, recorded (grad mode)", recorded, ""))
    rows.append(("mlp_small: forward, no_grad", plain, ""))
    rows.append(("mlp_small: jvp (record + tangent sweep)", one,
                 f"{one / recorded:.2f}x recorded, {one / plain:.2f}x no_grad (goal <= 3x)"))

    def ten_jvps():
        for d in dirs:
            jvp(loss, tuple(params), tuple(d))

    def lin_ten():
        _, push = linearize(loss, *params)
        for d in dirs:
            push(*d)

    t_jvps, t_lin = timed(ten_jvps), timed(lin_ten)
    rows.append(("mlp_small: 10 jvp calls", t_jvps, ""))
    rows.append(("mlp_small: linearize + 10 tangents", t_lin,
                 f"{t_jvps / t_lin:.2f}x faster than 10 jvp calls"))

    rng = np.random.default_rng(2)
    for n, m in ((10, 1000), (1000, 10)):
        a = Tensor(rng.standard_normal((m, n)) / np.sqrt(n))
        def f(x, a=a):
            return (a @ x).tanh()

        x0 = rng.standard_normal(n)
        tf = timed(lambda f=f, x0=x0: jacfwd(f)(x0))
        tr = timed(lambda f=f, x0=x0: jacrev(f)(x0))
        np.testing.assert_allclose(jacfwd(f)(x0), jacrev(f)(x0), rtol=1e-12, atol=1e-12)
        winner = "jacfwd" if tf < tr else "jacrev"
        rows.append((f"jacfwd, tanh(A x): R^{n} -> R^{m}", tf, ""))
        rows.append((f"jacrev, tanh(A x): R^{n} -> R^{m}", tr,
                     f"{winner} {max(tf, tr) / min(tf, tr):.1f}x faster"))

    loss2, p0 = small_mlp_loss()
    t_fr = timed(lambda: hessian(loss2)(p0))
    t_rr = timed(lambda: jacrev(grad(loss2))(p0))
    np.testing.assert_allclose(hessian(loss2)(p0), jacrev(grad(loss2))(p0), rtol=1e-10,
                               atol=1e-12)
    rows.append((f"hessian, {p0.size}-parameter MLP loss, forward-over-reverse", t_fr, ""))
    rows.append((f"hessian, {p0.size}-parameter MLP loss, reverse-over-reverse", t_rr,
                 f"forward-over-reverse {t_rr / t_fr:.2f}x faster"))

    print("| workload | time | ratio |")
    print("|---|---|---|")
    for name, t, note in rows:
        print(f"| {name} | {t * 1e3:.3f} ms | {note} |")


if __name__ == "__main__":
    main()
