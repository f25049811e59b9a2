"""tapegrad's benchmark suite: one command, every engine measured in the same run.

    python benchmarks/run.py                 # full run (about 3-5 min on 2 cores), writes
                                             # benchmarks/results.md
    python benchmarks/run.py --quick         # fewer repeats and a smaller chain (prints only)
    python benchmarks/run.py --only mlp_small,scalar_mlp --repeats 3
    python benchmarks/run.py --engines numpy,tapegrad   # skip the peers
    python benchmarks/run.py --profile seed_linreg,mlp_small,scalar_mlp   # cProfile, top 10

Every engine runs in its own subprocess (``worker.py``) with OMP/OPENBLAS/MKL_NUM_THREADS=1 set
before numpy is imported. In each of ``--repeats`` rounds, fresh processes for all the engines of
a workload are set up and warmed up one at a time, then timed in alternation, one block of calls
each per sweep, in a rotating order. A ratio is the median, over every sweep of every round, of
(engine time / hand-written numpy time in the same sweep); times are medians too. Peers run
from their own virtual environments (see setup_peers.sh), from a directory outside the
repository and with ``python -I``, so HIPS autograd never meets tapegrad's ``autograd``. A peer
whose environment is missing or cannot import is reported as absent.

This file uses the standard library only; it never imports numpy or an engine itself.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORKER = os.path.join(HERE, "worker.py")

ENGINES = ["numpy", "tapegrad", "compiled", "torch", "mygrad", "hips", "micrograd", "jax"]
PEERS = ["torch", "mygrad", "hips", "micrograd", "jax"]
TITLES = {"numpy": "numpy", "tapegrad": "tapegrad", "compiled": "tapegrad compiled",
          "torch": "PyTorch", "mygrad": "MyGrad", "hips": "HIPS", "micrograd": "micrograd",
          "jax": "JAX jit"}
TENSOR_WORKLOADS = ["seed_linreg", "mlp_small", "mlp_large"]
SCALAR_WORKLOADS = ["scalar_mlp", "scalar_mlp_nogc"]
WORKLOADS = TENSOR_WORKLOADS + SCALAR_WORKLOADS + ["deep_chain", "memory"]
RUNS_ON = {w: ["numpy", "tapegrad", "compiled", "torch", "mygrad", "hips", "jax"]
           for w in TENSOR_WORKLOADS}
RUNS_ON.update({w: ["tapegrad", "compiled", "micrograd"] for w in SCALAR_WORKLOADS})
RUNS_ON.update({"deep_chain": ["tapegrad", "micrograd"], "memory": ["tapegrad", "numpy"]})
LABELS = {
    "seed_linreg": "seed_linreg: 1000 epochs, 100x1 data, MSE",
    "mlp_small": "mlp_small: 1 step, 64-128-10, batch 64",
    "mlp_large": "mlp_large: 1 step, 784-512-512-10, batch 256",
    "scalar_mlp": "scalar_mlp: micrograd demo step, GC on",
    "scalar_mlp_nogc": "scalar_mlp, GC off in both (stretch)",
}
GOALS = {"seed_linreg": 2.5, "mlp_small": 1.6, "mlp_large": 1.15}
COMPILED_GOALS = {"seed_linreg": 1.15, "mlp_small": 1.05, "mlp_large": 1.0}  # issue 16
GOAL_SPEEDUP = 8.0  # scalar_mlp, GC on: tapegrad at least this many times faster
COMPILED_SPEEDUP = 30.0  # scalar_mlp, GC on: tapegrad compiled (issue 16)
GOAL_US_PER_NODE = 2.0
GOAL_BYTES_PER_NODE = 300.0
FLAT_BYTES = 16 * 1024  # memory: drift over the measured steps counted as flat

FULL = dict(repeats=5, samples=7, min_block=0.05, warmup=0.2, scalar_samples=3,
            chain_reps=10**6, bytes_nodes=10**5, micro_chain_reps=1000, mem_steps=1000,
            mem_warm=10)
QUICK = dict(FULL, repeats=2, samples=3, min_block=0.02, warmup=0.05, scalar_samples=2,
             chain_reps=10**5)


# ----- running workers -------------------------------------------------------------------------
# glibc: keep freed memory in the heap (no trimming, no mmap for big arrays), so that large
# temporaries are not returned to the OS and page-faulted in again at every step
NO_TRIM = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(2**30)}


def child_env(no_trim: bool = False) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")}
    if no_trim:
        env.update(NO_TRIM)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[var] = "1"
    return env


def peer_python(path: str) -> str:
    """A venv directory or a python executable -> the python executable (absolute: workers
    run from a temporary directory)."""
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(path):
        for sub in ("bin/python", "bin/python3", "Scripts/python.exe"):
            exe = os.path.join(path, sub)
            if os.path.exists(exe):
                return exe
        return os.path.join(path, "bin", "python")
    return path


class Runner:
    def __init__(self, pythons: dict, cwd: str, timeout: float, no_trim: bool,
                 clock: str) -> None:
        self.clock = clock
        self.pythons = pythons
        self.cwd = cwd
        self.timeout = timeout
        self.env = child_env(no_trim)

    def run(self, engine: str, spec: dict) -> dict:
        """Run one worker; returns its result, or {"status": "absent"|"error", ...}."""
        exe = self.pythons[engine]
        if not os.path.exists(exe):
            return {"status": "absent", "why": f"no python at {exe}"}
        spec = dict(spec, engine=engine, repo=REPO)
        try:
            proc = subprocess.run([exe, "-I", WORKER, json.dumps(spec)], cwd=self.cwd,
                                  env=self.env, capture_output=True, text=True,
                                  timeout=self.timeout)
        except subprocess.TimeoutExpired:
            return {"status": "error", "why": f"timed out after {self.timeout:.0f} s"}
        except OSError as e:
            return {"status": "absent", "why": f"cannot run {exe}: {e}"}
        out = proc.stdout
        if proc.returncode == 3:
            return {"status": "absent", "why": (out.strip() or proc.stderr.strip())[-300:]}
        for line in reversed(out.splitlines()):
            if line.startswith("RESULT "):
                res = json.loads(line[len("RESULT "):])
                res["status"] = "ok"
                return res
        tail = (proc.stderr.strip() or out.strip()).splitlines()[-6:]
        return {"status": "error", "why": f"exit {proc.returncode}: " + " | ".join(tail)}


    def start(self, engine: str, spec: dict) -> Server:
        return Server(self, engine, spec)


class Server:
    """A worker in "time" mode: set up and warmed up once, then timed sample by sample."""

    def __init__(self, runner: Runner, engine: str, spec: dict) -> None:
        self.engine = engine
        self.timeout = runner.timeout
        self.proc = None
        self.info: dict = {}
        self.clock = runner.clock
        self.times: list = []  # on the chosen clock
        self.other: list = []  # on the other clock
        self.faults: list = []
        exe = runner.pythons[engine]
        if not os.path.exists(exe):
            self.info = {"status": "absent", "why": f"no python at {exe}"}
            return
        self.err = tempfile.TemporaryFile(mode="w+")
        spec = dict(spec, engine=engine, repo=REPO)
        try:
            self.proc = subprocess.Popen([exe, "-I", WORKER, json.dumps(spec)], cwd=runner.cwd,
                                         env=runner.env, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self.err, text=True,
                                         bufsize=1)
        except OSError as e:
            self.info = {"status": "absent", "why": f"cannot run {exe}: {e}"}
            return
        line = self._read()
        if line is not None and line.startswith("READY "):
            self.info = json.loads(line[len("READY "):])
            self.info["status"] = "ok"
        else:
            self._fail()

    @property
    def ok(self) -> bool:
        return self.info.get("status") == "ok"

    def _read(self) -> str | None:
        ready, _, _ = select.select([self.proc.stdout], [], [], self.timeout)
        if not ready:
            self.info = {"status": "error", "why": f"no answer within {self.timeout:.0f} s"}
            self.proc.kill()
            return None
        line = self.proc.stdout.readline()
        return line.strip() if line else None

    def _fail(self) -> None:
        if self.info.get("status") == "error":
            return
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.err.seek(0)
        tail = self.err.read().strip().splitlines()
        if rc == 3:
            self.info = {"status": "absent", "why": " ".join(tail[-1:])[-300:]}
        else:
            self.info = {"status": "error", "why": f"exit {rc}: " + " | ".join(tail[-6:])}

    def sample(self) -> float | None:
        """Time one block of calls; the per-call time, or None (and status error)."""
        if not self.ok:
            return None
        try:
            self.proc.stdin.write("sample\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self._fail()
            return None
        line = self._read()
        if line is None or not line.startswith("T "):
            self._fail()
            return None
        wall, cpu, faults = (float(x) for x in line[2:].split())
        t = cpu if self.clock == "cpu" else wall
        self.times.append(t)
        self.other.append(wall if self.clock == "cpu" else cpu)
        self.faults.append(faults)
        return t

    def close(self) -> dict:
        """Stop the worker; its result: the READY info plus the sample times and median."""
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    self.proc.stdin.write("quit\n")
                    self.proc.stdin.close()
                except (BrokenPipeError, OSError):
                    pass
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.err.close()
        res = dict(self.info)
        if self.times:
            res["samples"] = self.times
            res["faults"] = self.faults
            res["other_clock"] = self.other
            res["time"] = statistics.median(self.times)
            if res.get("status") != "ok":  # failed midway: keep what was measured
                res["status"] = "ok"
        return res


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----- the benchmark ---------------------------------------------------------------------------
def measure_all(runner: Runner, workloads: list, engines: list, cfg: dict, use_nn: bool) -> dict:
    """results[workload][engine] = list of per-round worker results (timed workloads), or one
    result (deep_chain, memory)."""
    results: dict = {w: {} for w in workloads}
    timed = [w for w in workloads if w in TENSOR_WORKLOADS + SCALAR_WORKLOADS]
    for r in range(cfg["repeats"]):
        for w in timed:
            engs = [e for e in RUNS_ON[w] if e in engines]
            scalar = w in SCALAR_WORKLOADS
            spec = {"mode": "time", "workload": w, "check": r == 0, "use_nn": use_nn,
                    "min_block": 0.0 if scalar else cfg["min_block"],
                    "warmup": 0.0 if scalar else cfg["warmup"]}
            # set up and warm up one engine at a time, then interleave them sample by sample,
            # in a rotating order; each round starts fresh processes
            servers = {e: runner.start(e, spec) for e in engs}
            live = [e for e in engs if servers[e].ok]
            for k in range(cfg["scalar_samples"] if scalar else cfg["samples"]):
                j = (r + k) % len(live) if live else 0
                for e in live[j:] + live[:j]:
                    servers[e].sample()
            for e in engs:
                res = servers[e].close()
                results[w].setdefault(e, []).append(res)
                log(f"round {r + 1}/{cfg['repeats']}  {w:<16} {e:<10} " + brief(res))
    if "deep_chain" in workloads:
        out = results["deep_chain"]
        for e, reps in (("tapegrad", cfg["chain_reps"]), ("micrograd", cfg["micro_chain_reps"])):
            if e in engines:
                out[e] = runner.run(e, {"mode": "deep_chain", "reps": reps})
                log(f"deep_chain       {e:<10} {brief(out[e])}")
                out[e + "_bytes"] = runner.run(e, {"mode": "bytes", "nodes": cfg["bytes_nodes"]})
                log(f"deep_chain bytes {e:<10} {brief(out[e + '_bytes'])}")
    if "memory" in workloads:
        for e in RUNS_ON["memory"]:
            if e in engines:
                res = runner.run(e, {"mode": "memory", "steps": cfg["mem_steps"],
                                     "warm": cfg["mem_warm"], "use_nn": use_nn})
                results["memory"][e] = res
                log(f"memory           {e:<10} {brief(res)}")
    return results


def brief(res: dict) -> str:
    if res.get("status") != "ok":
        return f"{res.get('status')}: {res.get('why', '')}"[:200]
    if "time" in res:
        return fmt_time(res["time"])
    keys = ("backward_per_node", "bytes_per_node", "error", "live_growth",
            "unreachable_per_step")
    return ", ".join(f"{k}={res[k]:.4g}" if isinstance(res[k], float) else f"{k}={res[k]}"
                     for k in keys if k in res)


# ----- summarising -----------------------------------------------------------------------------
def fmt_time(t: float) -> str:
    if t < 1e-3:
        return f"{t * 1e6:.3g} us"
    if t < 1:
        return f"{t * 1e3:.3g} ms"
    return f"{t:.3g} s"


def fmt_ratio(x: float) -> str:
    return f"{x:.3g}x" if x < 100 else f"{x:.0f}x"


def summarize(results: dict, engines: list) -> dict:
    """Medians and ratios. summary[w][e] = {"time", "ratio", "ratios", "status", "why"}."""
    summary: dict = {}
    for w, per in results.items():
        if w not in TENSOR_WORKLOADS + SCALAR_WORKLOADS:
            continue
        ref = "numpy" if w in TENSOR_WORKLOADS else "micrograd"
        summary[w] = {}
        for e, runs in per.items():
            good = [t for r in runs if r.get("status") == "ok" for t in r.get("samples", [])]
            s: dict = {"status": "ok" if good else runs[0].get("status", "error"),
                       "why": next((r.get("why") for r in runs if r.get("status") != "ok"), None)}
            if good:
                s["time"] = statistics.median(good)
                s["min"], s["max"] = min(good), max(good)
                # pair each sample with the reference's sample of the same sweep
                ratios, round_ratios = [], []
                for run, ref_run in zip(runs, per.get(ref, [])):
                    a, b = run.get("samples") or [], ref_run.get("samples") or []
                    pairs = [x / y for x, y in zip(a, b)]
                    ratios += pairs
                    if pairs:
                        round_ratios.append(statistics.median(pairs))
                if ratios:
                    s["ratio"] = statistics.median(ratios)
                    s["ratios"] = round_ratios
                faults = [f for r in runs if r.get("status") == "ok" for f in r.get("faults", [])]
                s["faults"] = statistics.median(faults) if faults else None
                s["version"] = next(r["version"] for r in runs if r.get("status") == "ok")
                s["via"] = next((r["via"] for r in runs if r.get("via")), None)
                s["check"] = next((r["check"] for r in runs if "check" in r), None)
            summary[w][e] = s
    return summary


def check_notes(summary: dict) -> list:
    """Do the engines compute the same losses from the same start?"""
    notes = []
    for w, per in summary.items():
        ref = "numpy" if w in TENSOR_WORKLOADS else "micrograd"
        rc = per.get(ref, {}).get("check")
        if rc is None:
            continue
        worst, bad = 0.0, []
        for e, s in per.items():
            c = s.get("check")
            if e == ref or c is None:
                continue
            rel = abs(c - rc) / max(abs(rc), 1e-300)
            worst = max(worst, rel)
            if rel > 1e-8:
                bad.append(f"{TITLES[e]} {c:.12g}")
        what = "final loss" if w == "seed_linreg" else "loss after 3 steps"
        if bad:
            notes.append(f"{w}: {what} DIFFERS from {TITLES[ref]}'s {rc:.12g}: "
                         + ", ".join(bad))
        elif len(per) > 1:
            notes.append(f"{w}: every engine's {what} agrees with {TITLES[ref]}'s "
                         f"({rc:.10g}; largest relative difference {worst:.1e})")
    return notes


def cell(s: dict | None, ratio: bool = True) -> str:
    if s is None:
        return "not run"
    if s["status"] != "ok":
        return s["status"]
    if ratio and "ratio" in s:
        return fmt_ratio(s["ratio"])
    return fmt_time(s["time"])


def goal_text(goal: str, met: bool | None) -> str:
    if met is None:
        return goal
    return f"{goal}: {'met' if met else '**not met**'}"


def table(results: dict, summary: dict, engines: list, clock: str) -> list:
    head = ["workload", "numpy (abs time)", "tapegrad (ratio)", "goal", "tapegrad compiled",
            "compiled goal", "JAX jit", "PyTorch", "MyGrad", "HIPS", "micrograd"]
    rows = []
    for w in TENSOR_WORKLOADS:
        if w not in summary:
            continue
        per = summary[w]
        tg = per.get("tapegrad")
        met = tg["ratio"] <= GOALS[w] if tg and "ratio" in tg else None
        tcell = cell(tg)
        if met is not None and f"{tg['ratio']:.3g}" == f"{GOALS[w]:.3g}":
            tcell = f"{tg['ratio']:.4f}x"  # close to the goal: enough digits to see the side
        tc = per.get("compiled")
        cmet = tc["ratio"] <= COMPILED_GOALS[w] if tc and "ratio" in tc else None
        ccell = cell(tc)
        if tc and tc.get("ratios"):  # the spread over rounds: the machine is noisy
            ccell += f" ({min(tc['ratios']):.2f}-{max(tc['ratios']):.2f})"
        jc = cell(per.get("jax"))
        if per.get("jax", {}).get("ratios"):
            jc += f" ({min(per['jax']['ratios']):.2f}-{max(per['jax']['ratios']):.2f})"
        rows.append([LABELS[w], cell(per.get("numpy"), ratio=False), tcell,
                     goal_text(f"<= {GOALS[w]}x", met), ccell,
                     goal_text(f"<= {COMPILED_GOALS[w]}x", cmet), jc, cell(per.get("torch")),
                     cell(per.get("mygrad")), cell(per.get("hips")), "—"])
    for w in SCALAR_WORKLOADS:
        if w not in summary:
            continue
        per = summary[w]
        tg, mg = per.get("tapegrad"), per.get("micrograd")
        if tg and tg["status"] == "ok" and "ratio" in tg:
            speed = 1.0 / tg["ratio"]  # tapegrad's ratio is its time / micrograd's
            how = f"{speed:.3g}x faster" if speed >= 1 else f"{1 / speed:.3g}x slower"
            tcell = f"{fmt_time(tg['time'])}/step: {how} than micrograd"
        else:
            speed, tcell = None, cell(tg, ratio=False)
        if w == "scalar_mlp":
            goal = goal_text(f">= {GOAL_SPEEDUP:g}x faster than micrograd",
                             None if speed is None else speed >= GOAL_SPEEDUP)
        else:
            goal = goal_text("no slower than micrograd", None if speed is None else speed >= 1)
        tc = per.get("compiled")
        ccell, cgoal = "—", "—"
        if tc and tc["status"] == "ok" and "ratio" in tc:
            cspeed = 1.0 / tc["ratio"]
            ccell = f"{fmt_time(tc['time'])}/step: {cspeed:.3g}x faster than micrograd"
            if tc.get("ratios"):  # the spread over rounds, as speeds
                ccell += f" ({1 / max(tc['ratios']):.3g}-{1 / min(tc['ratios']):.3g}x)"
            if w == "scalar_mlp":
                cgoal = goal_text(f">= {COMPILED_SPEEDUP:g}x faster than micrograd",
                                  cspeed >= COMPILED_SPEEDUP)
        elif tc:
            ccell = cell(tc, ratio=False)
        mcell = cell(mg, ratio=False) + ("/step" if mg and mg["status"] == "ok" else "")
        rows.append([LABELS[w], "—", tcell, goal, ccell, cgoal, "—", "—", "—", "—", mcell])
    if "deep_chain" in results:
        rows += chain_rows(results["deep_chain"], clock)
    if "memory" in results and "tapegrad" in results["memory"]:
        rows.append(memory_row(results["memory"]["tapegrad"]))
    # rows written before the compiled and JAX columns: those cells are empty
    rows = [r[:4] + ["—"] * (len(head) - len(r)) + r[4:] for r in rows]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def chain_rows(dc: dict, clock: str) -> list:
    rows = []
    tg, mg = dc.get("tapegrad"), dc.get("micrograd")
    nodes = tg.get("nodes") if tg else None
    label = f"deep_chain: backward, {nodes:,} Value nodes" if nodes else "deep_chain: backward"
    if tg is None:
        tcell, met = "not run", None
    elif tg.get("status") != "ok":
        tcell, met = tg.get("status", "error"), False
    elif "error" in tg:
        tcell, met = tg["error"], False
    else:
        per = tg["backward_cpu_per_node" if clock == "cpu" else "backward_per_node"]
        tcell = (f"{per * 1e6:.3g} us/node (backward {tg['backward_cpu_s']:.3g} s CPU, "
                 f"{tg['backward_s']:.3g} s wall; forward {tg['forward_s']:.3g} s wall)")
        met = per * 1e6 <= GOAL_US_PER_NODE
    if mg is None:
        mcell = "not run"
    elif mg.get("status") != "ok":
        mcell = mg.get("status", "error")
    elif "error" in mg:
        mcell = f"RecursionError at {mg['nodes']:,} nodes"
    else:
        mcell = f"{mg['backward_per_node'] * 1e6:.3g} us/node ({mg['nodes']:,} nodes)"
    rows.append([label, "—", tcell, goal_text(f"works, <= {GOAL_US_PER_NODE:g} us/node", met),
                 "—", "—", "—", mcell])
    tb, mb = dc.get("tapegrad_bytes"), dc.get("micrograd_bytes")

    def bcell(b):
        if b is None:
            return "not run"
        if b.get("status") != "ok":
            return b.get("status", "error")
        return f"{b['bytes_per_node']:.0f} B/node"

    met = tb["bytes_per_node"] <= GOAL_BYTES_PER_NODE if tb and tb.get("status") == "ok" \
        else None
    n = tb.get("nodes") if tb else None
    rows.append([f"deep_chain: memory, {n:,}-node Value graph" if n else "deep_chain: memory",
                 "—", bcell(tb), goal_text(f"<= {GOAL_BYTES_PER_NODE:g} B/node", met),
                 "—", "—", "—", bcell(mb)])
    return rows


def memory_row(m: dict) -> list:
    label = "memory: 1000 steps of mlp_small, live after warm-up"
    if m.get("status") != "ok":
        return [label, "—", m.get("status", "error"), "flat", "—", "—", "—", "—"]
    label = f"memory: {m['steps']} steps of mlp_small, live after step {m['warm']}"
    growth = m["live_growth"]
    met = growth < FLAT_BYTES
    text = (f"{'flat' if met else 'grows'}: live {growth / 1024:+.1f} KiB from step "
            f"{m['warm']} to {m['steps']} ({m['live_slope_bytes_per_step']:.1f} B/step); "
            f"cyclic garbage {m['unreachable_per_step']:.3g} objects/step")
    return [label, "—", text, goal_text("flat", met), "—", "—", "—", "—"]


def details(results: dict, summary: dict) -> list:
    """Absolute medians with the spread over rounds, per-round ratios, and the ratio of the
    fastest samples (noise from other processes only ever adds time, so on a busy machine
    this is the steadier estimate of what each engine costs)."""
    lines = ["| workload | engine | median | min - max over samples | ratio, median per round "
             "| ratio of the fastest samples | page faults per call |",
             "|---|---|---|---|---|---|---|"]
    for w, per in summary.items():
        ref = per.get("numpy" if w in TENSOR_WORKLOADS else "micrograd", {})
        for e in ENGINES:
            s = per.get(e)
            if s is None:
                continue
            if s["status"] != "ok":
                lines.append(f"| {w} | {TITLES[e]} | {s['status']} | | | | |")
                continue
            rr = " ".join(f"{x:.3g}" for x in s.get("ratios", []))
            best = f"{s['min'] / ref['min']:.3g}" if ref.get("status") == "ok" else ""
            faults = "" if s.get("faults") is None else f"{s['faults']:.0f}"
            lines.append(f"| {w} | {TITLES[e]} | {fmt_time(s['time'])} | "
                         f"{fmt_time(s['min'])} - {fmt_time(s['max'])} | {rr} | {best} | "
                         f"{faults} |")
    return lines


def notes(results: dict, summary: dict, cfg: dict, engines: list) -> list:
    out = []
    versions = {}
    for per in summary.values():
        for e, s in per.items():
            if s.get("version"):
                versions[e] = s["version"]
    for key, r in list(results.get("deep_chain", {}).items()) + \
            list(results.get("memory", {}).items()):
        if isinstance(r, dict) and r.get("version"):
            versions.setdefault(key.split("_")[0], r["version"])
    if versions:
        out.append("Versions: " + ", ".join(versions[e] for e in ENGINES if e in versions)
                   + ".")
    absent = sorted({TITLES[e] + f" ({s.get('why')})" for per in summary.values()
                     for e, s in per.items() if s["status"] == "absent"})
    if absent:
        out.append("Absent: " + "; ".join(absent) + ".")
    errors = sorted({f"{w}/{TITLES[e]}: {s.get('why')}" for w, per in summary.items()
                     for e, s in per.items() if s["status"] == "error"})
    errors += [f"{w}/{k}: {r.get('why')}" for w in ("deep_chain", "memory")
               for k, r in results.get(w, {}).items()
               if isinstance(r, dict) and r.get("status") == "error"]
    if errors:
        out.append("Errors: " + "; ".join(errors) + ".")
    via = next((s.get("via") for w in ("mlp_small", "mlp_large")
                for s in [summary.get(w, {}).get("tapegrad", {})] if s.get("via")), None)
    if via is None:
        via = results.get("memory", {}).get("tapegrad", {}).get("via")
    if via:
        out.append(f"tapegrad's MLP workloads ran with {via}.")
    out += check_notes(summary)
    dc = results.get("deep_chain", {})
    tg = dc.get("tapegrad", {})
    if tg.get("status") == "ok" and "backward_s" in tg:
        out.append(f"deep_chain: {tg['reps']:,} repetitions of y = tanh(y * 0.9 + 0.1) "
                   f"({tg['nodes']:,} nodes), GC at its defaults; peak RSS "
                   f"{(tg.get('max_rss_kib') or 0) / 1024:.0f} MiB; freeing the graph took "
                   f"{tg['free_s']:.2f} s.")
    tb = dc.get("tapegrad_bytes", {})
    if tb.get("status") == "ok":
        after = tb.get("bytes_per_node_after_backward")
        out.append(f"Bytes per node: tracemalloc over building a {tb['nodes']:,}-node chain "
                   f"graph; {after:.0f} B/node once backward has stored the gradients."
                   if after else "")
    mem = results.get("memory", {})
    if mem.get("tapegrad", {}).get("status") == "ok":
        m = mem["tapegrad"]
        ref = mem.get("numpy", {})
        ref_text = (f" (hand-written numpy: {ref['live_growth'] / 1024:+.1f} KiB live, up to "
                    f"{ref['as_run_max_growth'] / 1024:.0f} KiB as run)"
                    if ref.get("status") == "ok" else "")
        out.append(f"memory: live = traced by tracemalloc right after a gc.collect() every "
                   f"{m['every']} steps; as the program runs, without those collections, the "
                   f"traced memory was up to {m['as_run_max_growth'] / 1024:.0f} KiB above the "
                   "start (CPython's free lists filling up, plus any cyclic garbage)"
                   + ref_text + ".")
    mg = dc.get("micrograd", {})
    if mg.get("status") == "ok":
        out.append("micrograd 0.1.0 has no tanh: its chain uses relu (same node count); its "
                   "recursive topological sort fails at Python's recursion limit.")
    return [n for n in out if n]


def revision() -> str:
    """The tapegrad commit measured, and whether autograd/ or nn/ had uncommitted changes."""
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "autograd",
                                "nn"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown revision"
    if not head:
        return "unknown revision"
    return f"commit {head}" + (" with uncommitted changes in autograd/ or nn/" if dirty.strip()
                               else "")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def report(results, summary, cfg, engines, args, elapsed) -> str:
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    mode = "quick" if args.quick else "full"
    lines = [
        "# tapegrad benchmark results",
        "",
        f"Measured {when} on {machine()}; tapegrad at {revision()}; one BLAS thread; "
        f"{mode} run "
        f"(`{' '.join(['python', 'benchmarks/run.py'] + sys.argv[1:])}`), {cfg['repeats']} "
        f"interleaved rounds, {elapsed / 60:.1f} min.",
        "",
        "Ratios are times relative to hand-written numpy (lower is faster): the median, over "
        f"{cfg['samples']} interleaved sweeps in each round, of engine time / numpy time "
        "measured side by side in the same sweep. Times are "
        + ("CPU time of the worker process (`--clock cpu`: time during which another process "
           "held the core is not counted)" if args.clock == "cpu" else "wall-clock times")
        + ". The numpy column is numpy's own absolute "
        "time per run (seed_linreg) or per step. scalar_mlp compares with micrograd "
        f"({cfg['scalar_samples']} sweeps a round; the numpy column does not apply).",
        "",
    ]
    load = getattr(args, "loadavg", None)
    if load:
        lines += [f"Load average (1 min) at the start and end of the run: {load[0]:.2f} and "
                  f"{load[1]:.2f} on {os.cpu_count()} cores"
                  + ("; other processes competed for the CPU, so single numbers are noisy "
                     "(the ratios pair samples taken side by side)."
                     if max(load) > 1.5 else "."), ""]
    if args.malloc_no_trim:
        lines += ["Run with --malloc-no-trim: glibc's heap trimming and mmap of big blocks were "
                  "turned off in every worker (" + ", ".join(f"{k}={v}" for k, v in
                                                            NO_TRIM.items()) + ").", ""]
    lines += table(results, summary, engines, args.clock)
    lines += ["", "Notes:", ""]
    lines += [f"- {n}" for n in notes(results, summary, cfg, engines)]
    lines += ["", "## Absolute times", "",
              "The goals are judged on the medians above. The last column divides each "
              "engine's fastest sample by the reference's fastest (numpy's, or micrograd's for "
              "scalar_mlp): noise from other processes only ever adds time, so on a busy "
              "machine it is the steadier of the two estimates.", ""]
    lines += details(results, summary)
    lines.append("")
    return "\n".join(lines)


# ----- profiles --------------------------------------------------------------------------------
def profiles(runner: Runner, workloads: list, args) -> None:
    """Where tapegrad spends its time: cProfile (deterministic, inflates tiny functions) or
    py-spy (sampling, no overhead in the measured process)."""
    spy = None
    if args.profiler == "py-spy":
        spy = args.py_spy or shutil.which("py-spy") or os.path.join(REPO, ".peers", "py-spy",
                                                                        "bin", "py-spy")
        if not os.path.exists(spy):
            raise SystemExit("py-spy not found: bash benchmarks/setup_peers.sh py-spy, or "
                             "pass --py-spy PATH")
    for w in workloads:
        if w not in TENSOR_WORKLOADS + SCALAR_WORKLOADS:
            log(f"--profile: {w} is not a timed workload")
            continue
        spec = {"workload": w, "seconds": args.profile_seconds, "top": args.profile_top,
                "sort": args.profile_sort, "use_nn": not args.no_nn,
                "lines": args.profile_lines}
        if spy:
            res = pyspy_profile(runner, spy, spec, args.profile_top)
        else:
            res = runner.run("tapegrad", dict(spec, mode="profile"))
        print(f"## tapegrad profile ({args.profiler}): {w}"
              + (f" ({res['via']})" if res.get("via") else ""))
        if res.get("status") != "ok":
            print(f"{res.get('status')}: {res.get('why')}\n")
            continue
        print(f"{res['calls']} calls of the timed step\n")
        print(res["text"].rstrip() + "\n")


def pyspy_profile(runner: Runner, spy: str, spec: dict, top: int) -> dict:
    """Run the worker's loop under ``py-spy record -f raw`` and rank functions by self time."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.txt")
        spec = dict(spec, mode="loop", engine="tapegrad", repo=REPO)
        per = [] if spec.get("lines") else ["--function"]
        cmd = [spy, "record", *per, "-r", "1000", "-f", "raw", "-o", raw, "--",
               runner.pythons["tapegrad"], "-I", WORKER, json.dumps(spec)]
        proc = subprocess.run(cmd, cwd=runner.cwd, env=runner.env, capture_output=True,
                              text=True, timeout=runner.timeout)
        res = next((json.loads(line[len("RESULT "):]) for line in proc.stdout.splitlines()
                    if line.startswith("RESULT ")), None)
        if res is None or not os.path.exists(raw):
            tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-6:]
            return {"status": "error", "why": f"exit {proc.returncode}: " + " | ".join(tail)}
        own: dict = {}
        total_in: dict = {}
        total = 0
        with open(raw) as f:
            for line in f:
                stack, _, count = line.rstrip().rpartition(" ")
                if not stack or not count.isdigit():
                    continue
                n = int(count)
                frames = stack.split(";")
                if not any(fr.startswith("profiled_calls ") for fr in frames):
                    continue  # start-up and set-up, not the timed step
                total += n
                own[frames[-1]] = own.get(frames[-1], 0) + n
                for fr in set(frames):
                    total_in[fr] = total_in.get(fr, 0) + n
    lines = [f"{total} samples at 1 kHz; self = in the function itself, total = with callees",
             "", f"{'self %':>7} {'total %':>8}  function (file:"
             + ("line)" if spec.get("lines") else "first line)")]
    for fr, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"{100 * n / total:7.1f} {100 * total_in[fr] / total:8.1f}  {fr}")
    res.update(status="ok", text="\n".join(lines))
    return res


# ----- command line ----------------------------------------------------------------------------
def parse(argv=None):
    p = argparse.ArgumentParser(
        description="tapegrad vs hand-written numpy and the peer engines (issue 7).")
    p.add_argument("--quick", action="store_true",
                   help="2 rounds, fewer samples, a 3*10^5-node chain; prints only unless "
                        "--output is given")
    p.add_argument("--repeats", type=int, help="interleaved rounds (full: 5, quick: 2)")
    p.add_argument("--only", help="comma-separated workloads: " + ", ".join(WORKLOADS)
                   + " (scalar_mlp includes scalar_mlp_nogc)")
    p.add_argument("--engines", help="comma-separated engines to run: " + ", ".join(ENGINES)
                   + " (numpy is always run for the timed array workloads)")
    for peer in PEERS:
        p.add_argument(f"--{peer}", metavar="VENV", default=os.path.join(REPO, ".peers", peer),
                       help=f"{peer}'s virtual environment or python (default: .peers/{peer})")
    p.add_argument("--chain-reps", type=int, help="deep_chain repetitions (3 nodes each; "
                                                  "full: 10^6, quick: 10^5)")
    p.add_argument("--no-nn", action="store_true",
                   help="run tapegrad's MLPs with plain Tensor code even if nn exists")
    p.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                   help="time samples by the worker's CPU time (default: immune to other "
                        "processes taking the core) or by the wall clock")
    p.add_argument("--malloc-no-trim", action="store_true",
                   help="run every worker with glibc's MALLOC_MMAP_THRESHOLD_ and "
                        "MALLOC_TRIM_THRESHOLD_ raised, so that big temporaries are reused "
                        "instead of being page-faulted in again at every step (not as users run)")
    p.add_argument("--output", help="write the markdown report here (full run default: "
                                    "benchmarks/results.md)")
    p.add_argument("--no-write", action="store_true", help="print only, write nothing")
    p.add_argument("--json", help="also dump the raw results as JSON here")
    p.add_argument("--timeout", type=float, default=600, help="seconds per worker process")
    p.add_argument("--profile", help="instead of benchmarking, cProfile tapegrad on these "
                                     "comma-separated workloads and print the top functions")
    p.add_argument("--profile-top", type=int, default=10)
    p.add_argument("--profile-seconds", type=float, default=3.0)
    p.add_argument("--profile-sort", default="tottime", help="cProfile: pstats sort key "
                                                              "(tottime, cumulative, ...)")
    p.add_argument("--profiler", choices=["cprofile", "py-spy"], default="cprofile")
    p.add_argument("--profile-lines", action="store_true",
                   help="py-spy: rank source lines instead of functions")
    p.add_argument("--py-spy", help="the py-spy executable (default: on PATH, else "
                                    ".peers/py-spy/bin/py-spy)")
    return p.parse_args(argv)


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


def main(argv=None) -> int:
    args = parse(argv)
    cfg = dict(QUICK if args.quick else FULL)
    if args.repeats:
        cfg["repeats"] = args.repeats
    if args.chain_reps:
        cfg["chain_reps"] = args.chain_reps
    pythons = {"numpy": sys.executable, "tapegrad": sys.executable,
               "compiled": sys.executable}
    pythons.update({peer: peer_python(getattr(args, peer)) for peer in PEERS})
    with tempfile.TemporaryDirectory(prefix="tapegrad-bench-") as cwd:
        runner = Runner(pythons, cwd, args.timeout, no_trim=args.malloc_no_trim,
                        clock=args.clock)
        if args.profile:
            profiles(runner, [w.strip() for w in args.profile.split(",") if w.strip()], args)
            return 0
        workloads = WORKLOADS
        if args.only:
            asked = [w.strip() for w in args.only.split(",") if w.strip()]
            unknown = [w for w in asked if w not in WORKLOADS]
            if unknown:
                raise SystemExit(f"unknown workloads: {', '.join(unknown)}")
            if "scalar_mlp" in asked:
                asked.append("scalar_mlp_nogc")
            workloads = [w for w in WORKLOADS if w in asked]
        engines = ENGINES
        if args.engines:
            engines = [e.strip() for e in args.engines.split(",") if e.strip()]
            unknown = [e for e in engines if e not in ENGINES]
            if unknown:
                raise SystemExit(f"unknown engines: {', '.join(unknown)}")
            engines = list(dict.fromkeys(["numpy"] + engines))
        log(f"tapegrad benchmarks: {', '.join(workloads)}; engines {', '.join(engines)}; "
            f"{cfg['repeats']} rounds")
        for peer in PEERS:
            if peer in engines and not os.path.exists(pythons[peer]):
                log(f"  {peer}: absent (no {pythons[peer]}; see benchmarks/setup_peers.sh)")
        t0 = time.perf_counter()
        load0 = _loadavg()
        results = measure_all(runner, workloads, engines, cfg, use_nn=not args.no_nn)
        elapsed = time.perf_counter() - t0
        args.loadavg = (load0, _loadavg()) if load0 is not None else None
    summary = summarize(results, engines)
    text = report(results, summary, cfg, engines, args, elapsed)
    print(text)
    out = args.output or (None if args.quick else os.path.join(HERE, "results.md"))
    if out and not args.no_write:
        with open(out, "w") as f:
            f.write(text)
        log(f"wrote {out}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": cfg, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
