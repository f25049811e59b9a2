#!/usr/bin/env bash
# The backend suites (tests/test_backends.py) with PyTorch CPU tensors, from the separate torch
# environment: torch never becomes a dependency of tapegrad or of its test line.
#   bash benchmarks/check_backends.sh [python with torch, numpy, array-api-compat, pytest, hypothesis]
set -eu
cd "$(dirname "$0")/.."
py="${1:-/work/main/.peers/torch/bin/python}"
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" TAPEGRAD_BACKENDS=torch \
  "$py" -m pytest -q -p no:cacheprovider tests/test_backends.py
