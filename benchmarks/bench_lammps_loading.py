"""Loading the staged ABP LAMMPS dump set: ``read_lammps_dump`` against a plain ``numpy.loadtxt`` loop.

Data: ``abp_lammps_amep`` (26 files, one frame each, 4,000 atoms x 18 columns, about 11 MB), read in place from
``--data-dir`` (default ``../shared/data`` beside the repository root).

* ``read_lammps_dump``: the whole set into one AnnData (wrapped/unwrapped positions, orientations, velocities,
  forces, sorted by id, checks for NaN, truncation, id sets and timesteps);
* ``loadtxt loop``: for each file, ``np.loadtxt(path, skiprows=9)`` of the atoms block and the timestep read from
  line 2, rows sorted by id, then x y / xu yu / mux muy stacked. No validation: the floor a hand-written loader reaches.

Both give the same arrays (checked, exactly). Median of 7 runs after one warm-up.

Usage: ``python benchmarks/bench_lammps_loading.py [--data-dir ../shared/data] [--repeats 7]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median_time, write_results

from dynfer.io.activematter import read_lammps_dump

ROOT = Path(__file__).resolve().parents[1]


def loadtxt_loop(files: list[Path]) -> dict[str, np.ndarray]:
    steps, pos, unw, ori = [], [], [], []
    for path in files:
        with open(path) as handle:
            handle.readline()
            steps.append(int(handle.readline()))
        data = np.loadtxt(path, skiprows=9)
        data = data[np.argsort(data[:, 0], kind="stable")]
        pos.append(data[:, 2:4])  # columns: id type x y z xu yu zu vx vy fx fy mux muy mu radius omegaz mass
        unw.append(data[:, 5:7])
        ori.append(data[:, 12:14])
    order = np.argsort(steps)
    return {"timestep": np.asarray(steps)[order], "positions": np.stack(pos)[order],
            "positions_unwrapped": np.stack(unw)[order], "orientations": np.stack(ori)[order]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    folder = args.data_dir / "abp_lammps_amep"
    files = sorted(folder.glob("dump*.txt"))
    if not files:
        raise SystemExit(f"no dump*.txt files in {folder}")
    n_bytes = sum(p.stat().st_size for p in files)

    adata = read_lammps_dump(files)
    ref = loadtxt_loop(files)
    n_frames, n = adata.n_obs, adata.uns["n_particles"]
    np.testing.assert_array_equal(adata.obs["timestep"].to_numpy(), ref["timestep"])
    for key in ("positions", "positions_unwrapped", "orientations"):
        np.testing.assert_array_equal(adata.obsm[key].reshape(n_frames, n, 2), ref[key])

    t_dynfer = median_time(lambda: read_lammps_dump(files), repeats=args.repeats)
    t_loadtxt = median_time(lambda: loadtxt_loop(files), repeats=args.repeats)
    results = {
        "data": {"folder": "abp_lammps_amep", "files": len(files), "frames": n_frames, "atoms_per_frame": int(n),
                 "columns": 18, "megabytes": round(n_bytes / 1e6, 2)},
        "same_result": True,
        "read_lammps_dump_s": round(t_dynfer, 4),
        "loadtxt_loop_s": round(t_loadtxt, 4),
        "speedup_vs_loadtxt": round(t_loadtxt / t_dynfer, 2),
        "read_lammps_dump_MB_per_s": round(n_bytes / 1e6 / t_dynfer, 1),
        "repeats": args.repeats,
    }
    write_results("lammps_loading", results)


if __name__ == "__main__":
    main()
