"""The ``dynfer`` command line.

* ``dynfer list`` -- the workflows (name, description, datasets) and the datasets (name, kind, where they would
  come from, licence);
* ``dynfer run <workflow> [--quick] [--device DEV] [--seed N] [--out DIR] [--overwrite]`` -- run a workflow and
  write its report folder (``dynfer run quickstart`` is the main job);
* ``dynfer demo [options]`` -- the same as ``dynfer run backend_demo [options]``.

Exit status: 0 on success, 2 for a usage error (unknown workflow, non-empty output folder, unavailable device or
dataset), with the reason on standard error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import dynfer

__all__ = ["main"]


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="dynfer-report", help="report folder (default: dynfer-report)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: settings.device)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes: seconds instead of minutes")
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty report folder")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dynfer", description="Infer the dynamics of stochastic systems.")
    parser.add_argument("--version", action="version", version=f"dynfer {dynfer.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the workflows and the datasets")
    run = sub.add_parser("run", help="run a workflow and write its report (see `dynfer list`)")
    run.add_argument("workflow", help="workflow name, e.g. quickstart")
    _add_run_options(run)
    demo = sub.add_parser("demo", help="run the built-in backend demo (same as `dynfer run backend_demo`)")
    _add_run_options(demo)
    return parser


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """Left-aligned columns; the last column is not padded."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)] + [row[-1]]
        lines.append("  " + "  ".join(cells).rstrip())
    return "\n".join(lines)


def _list() -> str:
    from dynfer.datasets import list_datasets
    from dynfer.datasets.registry import get_entry
    from dynfer.workflows import dataset_status, list_workflows

    workflows = list_workflows()
    wf_rows = [(w.name, ", ".join(w.datasets) or "-", w.description) for w in workflows]
    ds_rows = []
    for name in list_datasets():
        status = dataset_status(name)
        if status == "built-in":
            ds_rows.append((name, "synthetic", "built-in", "-"))
        else:
            entry = get_entry(name)
            available = {"mirror": "yes (mirror)", "cache": "yes (cache)", "download": "no (downloadable)"}
            ds_rows.append((name, entry.kind or "-", available.get(status, "no"), entry.licence or "-"))
    mirror = dynfer.settings.data_dir
    return "\n".join(
        [
            "Workflows (run one with: dynfer run <name> [--quick] [--device DEV] [--seed N] [--out DIR]):",
            _table(wf_rows, ("name", "datasets", "description")),
            "",
            f"Datasets (local mirror DYNFER_DATA_DIR: {mirror if mirror is not None else 'not set'}):",
            _table(ds_rows, ("name", "kind", "available", "licence")),
        ]
    )


def _json_default(value: object) -> object:
    return value.tolist() if hasattr(value, "tolist") else str(value)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dynfer`` command.

    Parameters
    ----------
    argv
        Command-line arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 2 for a usage error (message on standard error).
    """
    args = _parser().parse_args(argv)
    from dynfer.workflows import WorkflowError, run_workflow

    if args.command == "list":
        try:
            print(_list())
        except WorkflowError as err:
            print(f"dynfer list: error: {err}", file=sys.stderr)
            return 2
        return 0
    name = "backend_demo" if args.command == "demo" else args.workflow
    try:
        path, metrics = run_workflow(
            name, args.out, seed=args.seed, device=args.device, quick=args.quick, overwrite=args.overwrite
        )
    except WorkflowError as err:
        where = "demo" if args.command == "demo" else f"run {name}"
        print(f"dynfer {where}: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(metrics, indent=2, sort_keys=True, default=_json_default))
    print(f"report written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
