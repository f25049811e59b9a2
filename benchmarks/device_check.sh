#!/usr/bin/env bash
# One prepared run on a machine with an NVIDIA GPU (the device tool's H200: python3 with numpy,
# CuPy, torch and JAX, no network). Carry `.whl` (array-api-compat and array-api-strict wheels)
# and `.base` (an older checkout to compare with, and ab.py) from the repository root:
#   bash benchmarks/device_check.sh            (writes its reports under $OUT, or ./device_out)
# 1. the GPU backend check (benchmarks/gpu_check.py) and a profile of mlp_large's step in both
# dtypes (benchmarks/gpu_profile.py), 2. CPU A/B of the eager engine against
# .base/repo, 3. the CPU benchmark suite (numpy, tapegrad, compiled, PyTorch, JAX jit) on a
# quiet machine.
set -u
OUT="${OUT:-device_out}"; mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
{ nproc; python3 -c "import numpy, sys; print(sys.version.split()[0], 'numpy', numpy.__version__)"
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1; } | tee "$OUT/machine.txt"
if [ -f benchmarks/gpu_check.py ]; then
  timeout 260 python3 benchmarks/gpu_check.py --suite-budget 120 --seconds 1.5 2>&1 | tee "$OUT/gpu_log.txt"
fi
if [ -f benchmarks/gpu_profile.py ]; then  # why float64 mlp_large is 2x PyTorch (syncs, top ops)
  timeout 60 python3 benchmarks/gpu_profile.py --steps 10 2>&1 | tail -200 > "$OUT/gpu_profile_log.txt"
fi
if [ -f .base/ab.py ]; then
  timeout 90 python3 .base/ab.py .base/repo "$PWD" 4 2>&1 | tee "$OUT/ab.txt"
fi
mkdir -p /tmp/pe/torch/bin /tmp/pe/jax/bin
for peer in torch jax; do  # (a wrapper, not a link: a venv's python finds its venv by its path)
  rm -f /tmp/pe/$peer/bin/python
  printf '#!/bin/sh\nexec %s "$@"\n' "$(command -v python3)" > /tmp/pe/$peer/bin/python
  chmod +x /tmp/pe/$peer/bin/python
done
JAX_PLATFORMS=cpu CUDA_VISIBLE_DEVICES= timeout 170 python3 benchmarks/run.py \
  --only seed_linreg,mlp_small,mlp_large --engines numpy,tapegrad,compiled,torch,jax \
  --torch /tmp/pe/torch --jax /tmp/pe/jax --repeats 2 --output "$OUT/results_cpu.md" 2>&1 \
  | tail -40 | tee "$OUT/run_log.txt"
