#!/usr/bin/env bash
# Create the peer engines' virtual environments used by benchmarks/run.py.
#
# Each peer lives in its own venv under .peers/ (ignored by git) and is run by the benchmark in
# a subprocess with that venv's python. None of them is a dependency of tapegrad.
#
#   bash benchmarks/setup_peers.sh            # all five peers
#   bash benchmarks/setup_peers.sh torch hips # only some of them
#   bash benchmarks/setup_peers.sh py-spy     # the sampling profiler for run.py --profiler py-spy
#
# Environment: PEERS_DIR (default: <repo>/.peers), PYTHON (default: python3, must be 3.11 for the
# pinned CPU wheel of torch). A peer that fails to install is reported and skipped; the
# benchmark then reports it as "absent".
#
# torch is pinned to 2.13.0: a plain `pip install torch` may pull the multi-GB CUDA build; the
# pin lets pip take the CPU wheel (torch 2.13.0+cpu) from a local wheel folder or from
# PyTorch's CPU index (see TORCH_INDEX below).
set -u

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
peers_dir="${PEERS_DIR:-$root/.peers}"
python="${PYTHON:-python3}"
# Where pip finds the CPU-only wheel when no local wheel folder provides it.
torch_index="${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"

mkdir -p "$peers_dir"

install_peer() {
    local name="$1"
    shift
    local venv="$peers_dir/$name"
    echo "== $name -> $venv"
    if [ ! -x "$venv/bin/python" ]; then
        "$python" -m venv "$venv" || { echo "!! $name: venv creation failed"; return 1; }
    fi
    "$venv/bin/python" -m pip install --quiet "$@" || { echo "!! $name: pip install failed"; return 1; }
    echo "   ok: $("$venv/bin/python" -c 'import sys; print(sys.version.split()[0])')"
}

peers=("$@")
[ ${#peers[@]} -eq 0 ] && peers=(torch mygrad hips micrograd jax)

status=0
for p in "${peers[@]}"; do
    case "$p" in
        torch)
            # the local wheel (+cpu) satisfies the pin; otherwise the CPU index provides it
            install_peer torch "torch==2.13.0" numpy \
                || install_peer torch "torch==2.13.0" numpy --extra-index-url "$torch_index" \
                || status=1 ;;
        mygrad) install_peer mygrad mygrad numpy || status=1 ;;
        hips) install_peer hips autograd numpy || status=1 ;;  # HIPS autograd (imports as autograd)
        micrograd) install_peer micrograd micrograd numpy || status=1 ;;  # numpy: the demo's data
        jax) install_peer jax "jax[cpu]" numpy || status=1 ;;  # jax.jit, CPU, float64 via x64
        py-spy) install_peer py-spy py-spy || status=1 ;;  # a tool, not a peer: not in "all"
        *) echo "unknown peer: $p (torch, mygrad, hips, micrograd, jax, py-spy)"; status=1 ;;
    esac
done
exit $status
