"""The ``tapegrad`` command: ``tapegrad demo [--out DIR]`` (the parts are in ``demo.py``) and
``tapegrad --version``."""

from __future__ import annotations

import argparse
import sys


def version() -> str:
    """The installed distribution's version, or the package's own where it is not installed
    (run from a checkout)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("tapegrad")
    except PackageNotFoundError:
        from autograd import __version__
        return __version__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tapegrad`` console script (and of ``python -m tapegrad``)."""
    parser = argparse.ArgumentParser(prog="tapegrad")
    parser.add_argument("--version", action="version", version=f"tapegrad {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="train the seed's regression, a digits MLP and a "
                                    "digits CNN, draw, explain and check gradients")
    d.add_argument("--out", default="tapegrad-demo",
                   help="folder for the drawings, plots and text (default: ./tapegrad-demo)")
    d.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)  # tests: fewer epochs
    args = parser.parse_args(argv)
    if args.command == "demo":
        try:
            from .demo import run_demo
            run_demo(args.out, quick=args.quick)
        except ImportError as e:
            print(f"tapegrad demo: {e}; install the demo extra: "
                  "pip install 'tapegrad[demo]'", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
