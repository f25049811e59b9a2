"""One engine's measurements in a fresh interpreter: ``python -I worker.py SPEC_JSON``.

Started by ``run.py`` with the python of the engine's own virtual environment (tapegrad and the
numpy baseline use run.py's own python). Timed workloads ("time" mode) speak a line protocol on
stdin/stdout (READY, then one ``T wall cpu faults`` line per ``sample`` request: wall-clock and
CPU seconds and minor page faults, per call); the other modes print
one line ``RESULT {json}``. Exit status 3 means the engine cannot be imported (absent).

BLAS and OpenMP are pinned to one thread here too, before numpy is imported (run.py already
sets the variables in the environment it passes).
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import array  # noqa: E402 - after the thread variables, on purpose
import gc  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import tracemalloc  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ABSENT = 3


def load(spec: dict):
    """Import the engine's benchmark module (bench_<engine>.py)."""
    engine = spec["engine"]
    sys.path.insert(0, HERE)
    repo = os.path.abspath(spec["repo"])
    if engine in ("tapegrad", "compiled"):
        sys.path.insert(0, repo)
    else:  # a peer must never see tapegrad's `autograd` (HIPS autograd has the same name)
        sys.path[:] = [p for p in sys.path
                       if os.path.abspath(p or os.getcwd()) != repo]
    try:
        mod = importlib.import_module(f"bench_{engine}")
    except ImportError as e:
        print(f"ABSENT {engine}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        sys.exit(ABSENT)
    if engine == "hips":
        import autograd

        where = os.path.abspath(autograd.__file__)
        if where.startswith(repo + os.sep) and ".peers" not in where:
            raise RuntimeError(f"the autograd imported for HIPS is tapegrad's: {where}")
    return mod


def program(mod, spec: dict):
    """(callable timed once per call, function turning its result into a float loss)."""
    w = spec["workload"]
    if w == "seed_linreg":
        return mod.seed_linreg(), float
    if w in ("mlp_small", "mlp_large"):
        if spec["engine"] in ("tapegrad", "compiled"):
            return mod.mlp(w, use_nn=spec.get("use_nn", True))
        return mod.mlp(w)
    if w in ("scalar_mlp", "scalar_mlp_nogc"):
        return mod.scalar_mlp()
    raise ValueError(f"unknown workload {w}")


def check_loss(mod, spec: dict) -> float:
    """The loss after CHECK_STEPS steps from the common start (one full run for seed_linreg)."""
    import bench_common as C

    fn, to_float = program(mod, spec)
    if spec["workload"] == "seed_linreg":
        return to_float(fn())
    gc_was = gc.isenabled()
    gc.disable()  # the check's result does not depend on the GC; keep it cheap for micrograd
    try:
        for _ in range(C.CHECK_STEPS):
            out = fn()
        return to_float(out)
    finally:
        if gc_was:
            gc.enable()


def serve(mod, spec: dict, out) -> None:
    """Timed workloads: set up and warm up, say READY, then time one block of calls per
    ``sample`` line read from stdin (so that run.py can interleave the engines sample by
    sample), until ``quit``. Protocol lines go to ``out``; anything else printed goes to
    stderr."""

    info = {}
    if spec.get("check"):
        info["check"] = check_loss(mod, spec)
        gc.collect()
    fn, _ = program(mod, spec)
    between = None
    if spec["workload"] == "scalar_mlp_nogc":
        # no cyclic collection inside a timed step; the garbage of the previous steps (cycles,
        # in micrograd) is collected between samples, outside the timing
        gc.collect()
        gc.disable()
        between = gc.collect
    if between is not None:
        between()
    t0 = time.perf_counter()
    fn()
    fastest = time.perf_counter() - t0
    calls = 1
    while time.perf_counter() - t0 < spec["warmup"]:
        t1 = time.perf_counter()
        fn()
        fastest = min(fastest, time.perf_counter() - t1)
        calls += 1
    block = max(1, -int(-spec["min_block"] // max(fastest, 1e-9)))
    info.update(block=block, warmup_calls=calls, gc=gc.isenabled(), version=mod.version(),
                python=platform.python_version())
    via = getattr(mod, "MLP_VIA", "")
    if via and spec["workload"].startswith("mlp"):
        info["via"] = via
    _say(out, "READY " + json.dumps(info))
    for line in sys.stdin:
        if line.strip() != "sample":
            break
        if between is not None:
            between()
        f0 = _minflt()
        c1 = time.process_time()
        t1 = time.perf_counter()
        for _ in range(block):
            fn()
        t2 = time.perf_counter()
        c2 = time.process_time()
        _say(out, f"T {(t2 - t1) / block!r} {(c2 - c1) / block!r} {(_minflt() - f0) / block!r}")


def _say(out, line: str) -> None:
    out.write(line + "\n")
    out.flush()


def do_deep_chain(mod, spec: dict) -> dict:
    """Backward time per node of the chain (GC at its defaults, as users run it)."""
    reps = spec["reps"]
    res = {"reps": reps, "nodes": 3 * reps}
    t0 = time.perf_counter()
    try:
        x, y = mod.chain(reps)
        t1 = time.perf_counter()
        res["forward_s"] = t1 - t0
        c1 = time.process_time()
        y.backward()
        c2 = time.process_time()
        t2 = time.perf_counter()
    except RecursionError as e:
        res["error"] = f"RecursionError ({e})"
        return res
    res["backward_s"] = t2 - t1
    res["backward_cpu_s"] = c2 - c1
    res["backward_per_node"] = (t2 - t1) / (3 * reps)
    res["backward_cpu_per_node"] = (c2 - c1) / (3 * reps)
    res["grad"] = float(x.grad)
    res["max_rss_kib"] = _max_rss_kib()
    t3 = time.perf_counter()
    del x, y
    res["free_s"] = time.perf_counter() - t3
    return res


def do_bytes(mod, spec: dict) -> dict:
    """Bytes per node of a chain graph of about ``nodes`` nodes (tracemalloc)."""
    reps = spec["nodes"] // 3
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    x, y = mod.chain(reps)
    built = tracemalloc.get_traced_memory()[0]
    res = {"nodes": 3 * reps, "bytes_per_node": (built - before) / (3 * reps)}
    try:
        y.backward()
        res["bytes_per_node_after_backward"] = \
            (tracemalloc.get_traced_memory()[0] - before) / (3 * reps)
    except RecursionError:
        res["bytes_per_node_after_backward"] = None
    tracemalloc.stop()
    return res


def do_memory(mod, spec: dict) -> dict:
    """Memory over ``steps`` training steps of mlp_small, GC at its defaults.

    Every ``every`` steps: the traced memory as the program runs, then a ``gc.collect()`` and
    the live memory (what is still reachable; the collection also empties CPython's free
    lists, which otherwise fill up over the first ~2000 steps and look like growth). The
    objects each collection finds unreachable are cyclic garbage the program created.
    """
    steps, warm, every = spec["steps"], spec["warm"], spec.get("every", 100)
    fn, to_float = program(mod, dict(spec, workload="mlp_small"))
    tracemalloc.start()
    t0 = time.perf_counter()
    for _ in range(warm):
        out = fn()
    gc.collect()
    marks = [warm] + [i for i in range(warm + 1, steps + 1) if i % every == 0 or i == steps]
    # preallocated, so that recording allocates nothing the trace would count
    live = array.array("q", bytes(8 * len(marks)))
    as_run = array.array("q", bytes(8 * len(marks)))
    live[0] = as_run[0] = tracemalloc.get_traced_memory()[0]
    rss_warm = _rss_kib()
    unreachable = 0
    j = 1
    for i in range(warm + 1, steps + 1):
        out = fn()
        if i == marks[j]:
            as_run[j] = tracemalloc.get_traced_memory()[0]
            unreachable += gc.collect()
            live[j] = tracemalloc.get_traced_memory()[0]
            j += 1
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    live, as_run = list(live), list(as_run)
    slope = statistics.linear_regression(marks, live).slope if len(marks) > 1 else 0.0
    return {"steps": steps, "warm": warm, "every": every, "marks": marks, "live": live,
            "as_run": as_run, "live_growth": live[-1] - live[0],
            "live_slope_bytes_per_step": slope,
            "as_run_max_growth": max(as_run) - live[0],
            "unreachable_per_step": unreachable / (steps - warm), "peak": peak,
            "rss_kib_at_warm": rss_warm, "rss_kib_at_end": _rss_kib(),
            "loss": to_float(out), "seconds": elapsed,
            "via": getattr(mod, "MLP_VIA", "")}


def do_profile(mod, spec: dict) -> dict:
    """cProfile of the workload's timed callable for about ``seconds`` seconds."""
    import cProfile
    import io
    import pstats

    fn, _ = program(mod, spec)
    fn()  # warm-up, outside the profile
    prof = cProfile.Profile()
    calls = 0
    t0 = time.perf_counter()
    prof.enable()
    while time.perf_counter() - t0 < spec["seconds"] or calls == 0:
        fn()
        calls += 1
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats(spec.get("sort", "tottime")).print_stats(spec.get("top", 10))
    return {"calls": calls, "text": out.getvalue(),
            "via": getattr(mod, "MLP_VIA", "")}


def do_loop(mod, spec: dict) -> dict:
    """Run the workload's timed callable for ``seconds`` seconds (for an outside sampling
    profiler such as py-spy)."""
    fn, _ = program(mod, spec)
    fn()  # warm-up
    t0 = time.perf_counter()
    calls = profiled_calls(fn, spec["seconds"])
    return {"calls": calls, "seconds": time.perf_counter() - t0,
            "via": getattr(mod, "MLP_VIA", "")}


def profiled_calls(fn, seconds: float) -> int:
    """The calls a sampling profiler looks at (run.py keeps only stacks through here)."""
    calls = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds or calls == 0:
        fn()
        calls += 1
    return calls


def _minflt() -> int:
    """Minor page faults of this process so far (0 where unknown)."""
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    except ImportError:
        return 0


def _rss_kib() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError):
        return None


def _max_rss_kib() -> int | None:
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except ImportError:
        return None


def main() -> None:
    spec = json.loads(sys.argv[1])
    out = sys.stdout
    sys.stdout = sys.stderr  # only the protocol goes to the real stdout
    mod = load(spec)
    mode = spec.get("mode", "time")
    try:
        if mode == "time":
            serve(mod, spec, out)
            return
        res = {"deep_chain": do_deep_chain, "bytes": do_bytes, "memory": do_memory,
               "profile": do_profile, "loop": do_loop}[mode](mod, spec)
    except Exception:
        traceback.print_exc()
        sys.exit(1)
    res["version"] = mod.version()
    res["python"] = platform.python_version()
    _say(out, "RESULT " + json.dumps(res))


if __name__ == "__main__":
    main()
