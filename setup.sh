#!/usr/bin/env bash
# Set up tapegrad in ./.venv:  bash setup.sh demo|test
#   demo: the package with the demo extra; without Graphviz's `dot` it warns and carries on
#   test: the package with the test extra; without `dot` (or Debian's chromium and
#         chromium-driver, for the explorer's browser tests) it stops with an instruction
set -eu
extra="${1:-demo}"
cd "$(dirname "$0")"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"; else return 1; fi; }

if [ ! -x .venv/bin/python ]; then
  if ! python3 -m venv .venv 2>/dev/null; then
    rm -rf .venv
    # Debian ships venv separately
    as_root apt-get update -qq && as_root apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv .venv
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e ".[$extra]"

if ! command -v dot >/dev/null 2>&1; then
  echo "setup: Graphviz's dot program is missing; trying to install it" >&2
  { command -v apt-get >/dev/null && as_root apt-get update -qq && as_root apt-get install -y -qq graphviz >/dev/null; } \
    || { command -v brew >/dev/null && brew install graphviz; } || true
fi
if ! command -v dot >/dev/null 2>&1; then
  msg="Graphviz's dot program is not installed: apt-get install graphviz (Debian/Ubuntu), brew install graphviz (macOS) or conda install graphviz"
  if [ "$extra" = test ]; then echo "setup: $msg; the drawing tests need it." >&2; exit 1; fi
  echo "setup: warning: $msg; drawings will be written as .dot source." >&2
fi
# the explorer's browser tests drive Debian's chromium through its chromedriver (Selenium never
# downloads a browser of its own)
if [ "$extra" = test ] && { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; }; then
  echo "setup: Debian's chromium and chromium-driver are missing; trying to install them" >&2
  { command -v apt-get >/dev/null && as_root apt-get update -qq && as_root apt-get install -y -qq chromium chromium-driver >/dev/null; } || true
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    echo "setup: /usr/bin/chromium and /usr/bin/chromedriver are not installed: apt-get install chromium chromium-driver (Debian); the explorer's browser tests need them." >&2
    exit 1
  fi
fi
