"""tapegrad on a GPU (issue 20): the backend property suites on CuPy and PyTorch CUDA against
numpy, then ms per training step of two MLPs against hand-written CuPy and PyTorch CUDA.

    PYTHONPATH=<repo>:/tmp/site python3 benchmarks/gpu_check.py            # on a GPU machine
    PYTHONPATH=<repo> python benchmarks/gpu_check.py --cpu-smoke          # tiny, on CPU

Needs numpy, pytest, hypothesis, array-api-compat (carried as a wheel; see the README's
Backends section) and CuPy and/or PyTorch; installs nothing. Without a GPU it runs on the CPU
namespaces it finds (torch on the CPU, array-api-strict). Prints a markdown table and writes it
to $OUT/gpu.md when OUT is set. About 5 minutes in all on an H200.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
import traceback

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SIZES = {"mlp_large": ((784, 512, 512, 10), 256), "wide": ((4096, 4096, 4096, 10), 1024)}
SMOKE = {"mlp_large": ((12, 8, 8, 3), 4), "wide": ((16, 16, 16, 3), 8)}
LR = 0.01


# ----- which libraries and devices ---------------------------------------------------------------
def backends(cpu_smoke: bool) -> list[str]:
    """Backend specs "library:device" for the suites and the benchmarks."""
    found = []
    try:
        import cupy  # type: ignore[import-not-found]
        if cupy.cuda.runtime.getDeviceCount() > 0 and not cpu_smoke:
            found.append("cupy:0")
    except Exception:  # no CuPy, or no GPU for it
        pass
    try:
        import torch
        if torch.cuda.is_available() and not cpu_smoke:
            found.append("torch:cuda")
        elif cpu_smoke or not found:
            found.append("torch:cpu")
    except Exception:
        pass
    if cpu_smoke and not found:
        found.append("array_api_strict:cpu")
    return found


def namespace(spec: str):
    from autograd import array_api
    return array_api.namespace_for(spec)


def sync(spec: str) -> None:
    if spec.startswith("cupy"):
        import cupy  # type: ignore[import-not-found]
        cupy.cuda.Device().synchronize()
    elif spec == "torch:cuda":
        import torch
        torch.cuda.synchronize()


# ----- (1) the property suites -----------------------------------------------------------------
def run_suites(specs: list[str], budget_s: float, examples: int) -> list[tuple[str, str]]:
    rows = []
    for spec in specs:
        env = dict(os.environ, TAPEGRAD_BACKENDS=spec, TAPEGRAD_BACKEND_EXAMPLES=str(examples),
                   PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
        t0 = time.perf_counter()
        try:
            suite = os.path.join(ROOT, "tests", "test_backends.py")
            r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p",
                                "no:cacheprovider", suite],
                               env=env, cwd=ROOT, capture_output=True, text=True,
                               timeout=budget_s / len(specs))
            tail = (r.stdout.strip().splitlines() or ["(no output)"])[-1]
            if r.returncode:
                print(r.stdout[-4000:], r.stderr[-2000:], sep="\n")
            verdict = ("pass: " if r.returncode == 0 else "FAIL: ") + tail
        except subprocess.TimeoutExpired:
            verdict = f"timed out after {budget_s / len(specs):.0f} s"
        rows.append((spec, f"{verdict} ({time.perf_counter() - t0:.0f} s)"))
        print(f"suite {spec}: {rows[-1][1]}", flush=True)
    return rows


# ----- (2) training steps ----------------------------------------------------------------------
def init(sizes: tuple, batch: int, dtype) -> tuple:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    labels = rng.integers(0, sizes[-1], batch)
    layers = [((rng.standard_normal((a, b)) * math.sqrt(2.0 / a)).astype(dtype),
               rng.uniform(-0.1, 0.1, b).astype(dtype)) for a, b in zip(sizes[:-1], sizes[1:])]
    return x, labels, layers


def tapegrad_step(spec: str, data: tuple, compiled: bool):
    import autograd
    from autograd import Tensor, no_grad

    ns = namespace(spec)
    x, labels, layers = data
    xt = Tensor(ns.asarray(x))
    lab = ns.asarray(labels)
    params = [Tensor(ns.asarray(a), requires_grad=True) for wb in layers for a in wb]

    def step(xt, lab):
        h = xt
        for i in range(0, len(params), 2):
            h = autograd.linear(h, params[i], params[i + 1])
            if i + 2 < len(params):
                h = h.relu()
        loss = autograd.cross_entropy(h, lab).mean()
        loss.backward()
        with no_grad():
            for p in params:
                p -= LR * p.grad
                p.grad = None
        return loss

    run = autograd.compile(step) if compiled else step
    return lambda: run(xt, lab)


def cupy_step(data: tuple):
    import cupy as cp  # type: ignore[import-not-found]

    x, labels, layers = data
    x, n = cp.asarray(x), x.shape[0]
    lab = cp.asarray(labels)
    ps = [[cp.asarray(w), cp.asarray(b)] for w, b in layers]

    def step():
        hs = [x]
        for i, (w, b) in enumerate(ps):
            z = hs[-1] @ w + b
            hs.append(cp.maximum(z, 0) if i + 1 < len(ps) else z)
        z = hs[-1]
        e = cp.exp(z - z.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        zs = z - z.max(axis=1, keepdims=True)
        loss = (cp.log(e.sum(axis=1)) - zs[cp.arange(n), lab]).mean()
        p[cp.arange(n), lab] -= 1
        g = p / n
        for i in range(len(ps) - 1, -1, -1):
            w, b = ps[i]
            gw, gb = hs[i].T @ g, g.sum(axis=0)
            if i:
                g = (g @ w.T) * (hs[i] > 0)
            w -= LR * gw
            b -= LR * gb
        return loss

    return step


def torch_step(spec: str, data: tuple):
    import torch

    dev = spec.partition(":")[2] or "cpu"
    x, labels, layers = data
    x, lab = torch.as_tensor(x, device=dev), torch.as_tensor(labels, device=dev)
    ps = [torch.as_tensor(a, device=dev).requires_grad_() for wb in layers for a in wb]

    def step():
        h = x
        for i in range(0, len(ps), 2):
            h = h @ ps[i] + ps[i + 1]
            if i + 2 < len(ps):
                h = torch.relu(h)
        loss = torch.nn.functional.cross_entropy(h, lab)
        loss.backward()
        with torch.no_grad():
            for p in ps:
                p -= LR * p.grad
                p.grad = None
        return loss

    return step


def time_step(spec: str, step, seconds: float, min_steps: int = 5) -> float:
    """Median ms per step, each step synchronised."""
    for _ in range(3):  # warm up: kernels compiled, memory pools filled, programs traced
        step()
    sync(spec)
    times: list[float] = []
    t_end = time.perf_counter() + seconds
    while len(times) < min_steps or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        step()
        sync(spec)
        times.append(time.perf_counter() - t0)
        if len(times) >= 1000:
            break
    return statistics.median(times) * 1e3


def check_loss(step) -> str:
    """The loss of the third step from the initial parameters: every row of one workload and
    dtype must agree (tapegrad with the hand-written steps)."""
    for _ in range(3):
        loss = step()
    return f"{float(loss.item() if hasattr(loss, 'item') else loss):.10g}"


def benchmark(specs: list[str], sizes: dict, seconds: float) -> list[tuple]:
    rows = []
    for name, (layer_sizes, batch) in sizes.items():
        for dtype in (np.float32, np.float64):
            data = init(layer_sizes, batch, dtype)
            for spec in specs:
                lib = spec.partition(":")[0]
                cases = [("tapegrad", lambda s=spec, d=data: tapegrad_step(s, d, False)),
                         ("tapegrad compiled", lambda s=spec, d=data: tapegrad_step(s, d, True))]
                if lib == "cupy":
                    cases.append(("hand-written CuPy", lambda d=data: cupy_step(d)))
                if lib == "torch":
                    cases.append(("hand-written PyTorch", lambda s=spec, d=data: torch_step(s, d)))
                for what, make in cases:
                    try:
                        loss = check_loss(make())
                        ms = f"{time_step(spec, make(), seconds):.3f}"
                    except Exception as e:  # reported, not fatal: the other rows still count
                        traceback.print_exc(limit=3)
                        loss, ms = "", f"error: {type(e).__name__}: {str(e)[:80]}"
                    rows.append((name, np.dtype(dtype).name, spec, what, ms, loss))
                    print("| " + " | ".join(rows[-1]) + " |", flush=True)
    return rows


def table(suites: list, rows: list) -> str:
    lines = ["| backend | property suites (first and second order, vs numpy) |", "|---|---|"]
    lines += [f"| {s} | {v} |" for s, v in suites]
    lines += ["", "| workload | dtype | backend | step | ms per step (median) | loss, step 3 |",
              "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny sizes, CPU namespaces")
    ap.add_argument("--suite-budget", type=float, default=None, help="seconds for the suites")
    ap.add_argument("--seconds", type=float, default=None, help="seconds timed per case")
    args = ap.parse_args()
    specs = backends(args.cpu_smoke)
    print("backends:", specs or "none found", flush=True)
    smoke = args.cpu_smoke
    suites = run_suites(specs, args.suite_budget or (240 if smoke else 150), 3 if smoke else 10)
    rows = benchmark(specs, SMOKE if smoke else SIZES, args.seconds or (0.2 if smoke else 2.0))
    md = table(suites, rows)
    print(md)
    if os.environ.get("OUT"):
        with open(os.path.join(os.environ["OUT"], "gpu.md"), "w") as f:
            f.write(md)


if __name__ == "__main__":
    main()
