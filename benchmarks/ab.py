"""The eager engine of two checkouts, side by side: is B slower than A on a workload?

    python benchmarks/ab.py OLD_CHECKOUT NEW_CHECKOUT [--workloads mlp_small,...] [--pairs N]
    python benchmarks/ab.py OLD_CHECKOUT NEW_CHECKOUT --instructions   # needs valgrind

Timing: two long-lived worker processes, one per checkout, run blocks of steps in turn (A B,
B A, ...), CPU time per step; each pair's ratio B/A cancels the noise that drifts slower than a
pair (on a shared 2-core machine, most of it). Reported: the median of the pair ratios and
their quartiles, and B/A of each side's fastest block. Run it once with the same checkout on
both sides to see the noise floor.

Instructions (``--instructions``): callgrind's count of one step, as the difference between
runs of 2k and k steps (imports and set-up cancel); deterministic, so it settles differences
of 1% that timing on a noisy machine cannot, but it weighs a Python bytecode and a numpy
inner-loop instruction alike.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

SETUP = {"seed_linreg": "run = B.seed_linreg()",  # one call: 1000 epochs
         "mlp_small": 'run = B.mlp("mlp_small")[0]',
         "scalar_mlp": "run = B.scalar_mlp()[0]"}
STEPS = {"seed_linreg": 1, "mlp_small": 40, "scalar_mlp": 1}  # per block: tens of ms
PAIRS = {"seed_linreg": 60, "mlp_small": 300, "scalar_mlp": 30}
HEAD = """import os, sys, time
os.environ["OPENBLAS_NUM_THREADS"] = "1"
sys.path[:0] = [sys.argv[1], os.path.join(sys.argv[1], "benchmarks")]
import bench_tapegrad as B
{setup}
run()
"""
WORKER = HEAD + """for line in sys.stdin:
    n = int(line)
    t = time.process_time()
    for _ in range(n):
        run()
    print((time.process_time() - t) / n, flush=True)
"""
COUNTED = HEAD + """for _ in range(int(sys.argv[2])):
    run()
"""
ENV = {**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1"}


def timing(a: str, b: str, work: str, pairs: int) -> str:
    prog = WORKER.format(setup=SETUP[work])
    ws = [subprocess.Popen([sys.executable, "-c", prog, repo], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True, env=ENV) for repo in (a, b)]
    per: list[list[float]] = [[], []]
    try:
        for i in range(pairs):
            for j in ((0, 1) if i % 2 == 0 else (1, 0)):
                ws[j].stdin.write(f"{STEPS[work]}\n")  # type: ignore[union-attr]
                ws[j].stdin.flush()  # type: ignore[union-attr]
                line = ws[j].stdout.readline()  # type: ignore[union-attr]
                if not line:
                    raise RuntimeError(f"the worker for {(a, b)[j]} stopped")
                per[j].append(float(line))
    finally:
        for w in ws:
            w.stdin.close()  # type: ignore[union-attr]
            w.wait()
    ta, tb = per
    r = sorted(y / x for x, y in zip(ta, tb))
    q1, q3 = r[len(r) // 4], r[(3 * len(r)) // 4]
    return (f"{work}: B/A median of {pairs} pairs {statistics.median(r):.3f} (quartiles "
            f"{q1:.3f}-{q3:.3f}); fastest blocks A {min(ta) * 1e6:.1f} us, B "
            f"{min(tb) * 1e6:.1f} us, B/A {min(tb) / min(ta):.3f}")


def instructions(repo: str, work: str, k: int) -> float:
    """Instructions of one step (callgrind)."""
    counts = []
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(COUNTED.format(setup=SETUP[work]))
    try:
        for n in (k, 2 * k):
            out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                                  sys.executable, f.name, repo, str(n)], capture_output=True,
                                 text=True, env=ENV)
            m = re.search(r"Collected : (\d+)", out.stderr)
            if m is None:
                raise RuntimeError(f"callgrind failed on {repo}:\n{out.stderr[-2000:]}")
            counts.append(int(m.group(1)))
    finally:
        os.unlink(f.name)
    return (counts[1] - counts[0]) / k


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--workloads", default="seed_linreg,mlp_small,scalar_mlp")
    ap.add_argument("--pairs", type=int, default=0, help="block pairs (default: per workload)")
    ap.add_argument("--instructions", action="store_true", help="count instructions instead")
    args = ap.parse_args()
    for work in args.workloads.split(","):
        if args.instructions:
            if shutil.which("valgrind") is None:
                sys.exit("--instructions needs valgrind (apt-get install -y valgrind)")
            k = {"mlp_small": 50}.get(work, 1)
            ia, ib = (instructions(r, work, k) for r in (args.a, args.b))
            print(f"{work}: instructions per call of run() A {ia:,.0f}, B {ib:,.0f}, "
                  f"B/A {ib / ia:.4f}", flush=True)
        else:
            print(timing(args.a, args.b, work, args.pairs or PAIRS[work]), flush=True)


if __name__ == "__main__":
    main()
