"""The ``dynfer`` command line: ``dynfer demo`` runs the built-in backend demo and writes its report."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import dynfer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dynfer", description="Infer the dynamics of stochastic systems.")
    parser.add_argument("--version", action="version", version=f"dynfer {dynfer.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the built-in backend demo and write a report")
    demo.add_argument("--out", default="dynfer-report", help="report folder (default: dynfer-report)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: settings.device)")
    demo.add_argument("--quick", action="store_true", help="smaller sample sizes (seconds)")
    demo.add_argument("--overwrite", action="store_true", help="write into a non-empty report folder")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dynfer`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from dynfer.demo import run_demo

        try:
            path, metrics = run_demo(args.out, seed=args.seed, device=args.device, quick=args.quick,
                                     overwrite=args.overwrite)
        except ValueError as err:
            print(f"dynfer demo: error: {err}", file=sys.stderr)
            return 2
        print(json.dumps(metrics, indent=2))
        print(f"report written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
