"""Why tapegrad's mlp_large step on PyTorch CUDA costs 2.05x hand-written PyTorch in float64 but
1.22x in float32 (issue 20, session 6's H200 run): profile both dtypes and print, per dtype,

- the host-device synchronisations one step makes (``torch.cuda.set_sync_debug_mode``), each
  with the tapegrad line that caused it;
- the operators that take the most CPU and GPU time (``torch.profiler``).

    PYTHONPATH=<repo>:/tmp/site python3 benchmarks/gpu_profile.py         # on a GPU machine
    PYTHONPATH=<repo> python benchmarks/gpu_profile.py --cpu-smoke       # tiny, torch on CPU

Writes the report to $OUT/gpu_profile.txt when OUT is set.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import traceback
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "benchmarks")]

import gpu_check  # noqa: E402  (the same steps as the GPU table)


def syncs(torch, step, where: str) -> list[str]:
    """The synchronisations of one step, as 'count  tapegrad file:line code' lines."""
    seen: collections.Counter = collections.Counter()

    def record(message, category, filename, lineno, file=None, line=None):  # at the warning
        if "synchroniz" not in str(message):
            return
        ours = [f for f in traceback.extract_stack()[:-1]
                if f.filename.startswith(ROOT) and "gpu_profile" not in f.filename]
        f = ours[-1] if ours else None
        seen[f"{os.path.relpath(f.filename, ROOT)}:{f.lineno} {f.line}" if f
             else f"{filename}:{lineno}"] += 1

    with warnings.catch_warnings():  # (restores showwarning)
        warnings.simplefilter("always")
        warnings.showwarning = record
        torch.cuda.set_sync_debug_mode("warn")
        try:
            step()
        finally:
            torch.cuda.set_sync_debug_mode(0)
    return [f"{n:4d}  {site}" for site, n in seen.most_common()] or [f"none ({where})"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny sizes, torch on the CPU")
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    import torch
    from torch.profiler import ProfilerActivity, profile

    cuda = torch.cuda.is_available() and not args.cpu_smoke
    spec = "torch:cuda" if cuda else "torch:cpu"
    sizes, batch = (gpu_check.SMOKE if args.cpu_smoke else gpu_check.SIZES)["mlp_large"]
    out = [f"# tapegrad mlp_large {sizes}, batch {batch}, on {spec}, {args.steps} steps"]
    for dtype in (np.float32, np.float64):
        data = gpu_check.init(sizes, batch, dtype)
        for name, step in (("tapegrad", gpu_check.tapegrad_step(spec, data, False)),
                           ("PyTorch by hand", gpu_check.torch_step(spec, data))):
            for _ in range(3):
                step()  # warm: allocator, kernels chosen
            gpu_check.sync(spec)
            out.append(f"\n## {name}, {np.dtype(dtype).name}")
            if cuda:
                out.append("synchronisations in one step:")
                out += syncs(torch, step, spec)
            acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
            with profile(activities=acts) as prof:
                for _ in range(args.steps):
                    step()
                gpu_check.sync(spec)
            key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
            out.append(prof.key_averages().table(sort_by=key, row_limit=15))
            out.append(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))
    text = "\n".join(out)
    print(text)
    if os.environ.get("OUT"):
        with open(os.path.join(os.environ["OUT"], "gpu_profile.txt"), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
