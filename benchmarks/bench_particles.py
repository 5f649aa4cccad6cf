"""Steps per second of the active-particle simulation: cell lists vs a naive O(N^2) torch step.

Protocol (issue 11, "Active-particle simulation (backend)"): one Euler–Maruyama / exact-OU step of
:class:`dynfer.processes.ActiveParticles` (drift with pair forces, noise, wrapping), one replica, float32, one torch
thread, at N = 256, 1,024 and 4,096 particles, with the neighbour search by cell lists (``method="cells"``, O(N)) and
by the dense all-pairs sum (``method="naive"``, O(N^2) time and memory: skipped where its (N, N, d) tensors would
not fit in a quarter of the free memory). Three settings:

* ``mips_aoup``: the MIPS setting of Boffi & Vanden-Eijnden (PNAS 2024): AOUP, epsilon = 0, A = 0, k = 1, softplus
  beta = 7.5, r = 1, box edge 2w with w = sqrt(N pi r^2 / phi) / 2. The dataset's phi, v0, gamma and dt are not
  published; we time phi = 0.6, v0 = 0.5, gamma = 0.01, dt = 0.05. These are NOT verified to phase-separate: in
  short runs at N = 1,024 (cluster fraction = share of particles with >= 5 neighbours within 2.2; random uniform
  start 0.11 at phi = 0.5, 0.17 at 0.6, 0.25 at 0.7) none of (phi, v0, gamma) = (0.5, 1, 0.1), (0.7, 1, 0.1),
  (0.5, 0.25, 0.1), (0.7, 0.25, 0.1), (0.5, 1, 0.01) up to t = 200, (0.6, 0.3, 0.01), (0.6, 0.5, 0.01) up to
  t = 1,000, (0.5, 0.05, 0.001), (0.7, 0.1, 0.002) up to t = 3,000 or (0.7, 0.1, 5e-4) up to t = 10,000 formed
  visible clusters (fractions 0.02-0.30, homogeneous or crystal-like snapshots): the softplus tail (f(2r) =
  0.09) keeps slow particles apart, fast ones squeeze past. Finding the MIPS region of this model is left open;
  the cost per step depends on it only through the cell occupancy;
* ``trap_aoup``: N = 64 in a harmonic trap, free space: A = 0.05, k = 2.5, gamma = epsilon = 0.1, dt = 1e-3,
  v0 = 0.3, harmonic soft disks r = 1 (the paper's N = 64 setting; only N = 64 is timed);
* ``abp_wca``: ABP like the LAMMPS data of AMEP: WCA epsilon = 10, sigma = 1 (cutoff 1.122), v0 = 100,
  D_t = D_r = 1, phi = 0.5 (radius 0.5), dt = 1e-5.

Timings start from the random initial state (uniform positions; a jittered lattice for WCA), so cell occupancies are
those of a homogeneous fluid, not of a coarsened MIPS state (denser clusters cost somewhat more per step).

Run: python benchmarks/bench_particles.py [--quick] [--device cuda]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import sync, write_results

import dynfer
from dynfer._validation import available_memory
from dynfer.processes import ActiveParticles
from dynfer.processes.particles.interactions import DENSE_UP_TO
from dynfer.processes.particles.simulate import _step, initial_state

MIPS = {"kind": "aoup", "v0": 0.5, "gamma": 0.01, "epsilon": 0.0, "interaction_strength": 1.0, "force": "softplus",
        "force_params": {"radius": 1.0, "beta": 7.5}, "phi": 0.6, "radius": 1.0, "dt": 0.05}
"""The MIPS-type setting we time (the paper's values are unpublished; not verified to cluster, see above)."""
TRAP = {"kind": "aoup", "box": None, "trap": 0.05, "interaction_strength": 2.5, "gamma": 0.1, "epsilon": 0.1,
        "v0": 0.3, "force": "harmonic", "force_params": {"radius": 1.0}, "dt": 1e-3}
ABP = {"kind": "abp", "v0": 100.0, "rotational_diffusion": 1.0, "epsilon": 1.0, "force": "wca",
       "force_params": {"epsilon": 10.0, "sigma": 1.0, "cutoff": 1.122}, "phi": 0.5, "radius": 0.5, "dt": 1e-5}


def make_model(setting: dict[str, Any], n: int) -> tuple[ActiveParticles, float]:
    """The model of ``setting`` for ``n`` particles (box from the packing fraction) and its dt."""
    params = dict(setting)
    dt = params.pop("dt")
    phi, radius = params.pop("phi", None), params.pop("radius", None)
    if phi is not None:
        edge = math.sqrt(n * math.pi * radius**2 / phi)
        params["box"] = (edge, edge)
    return ActiveParticles(**params), dt


def steps_per_second(model: ActiveParticles, dt: float, n: int, method: str, device: str, budget_s: float) -> float:
    """Steps per second of :func:`_step` with the ``method`` neighbour search, timed for about ``budget_s``."""
    gen = torch.Generator(device=device).manual_seed(0)
    state = initial_state(model, n, 1, generator=gen, dtype=torch.float32)
    box = model.box_tensor(state)
    for _ in range(2):  # warm-up
        state, _ = _step(model, state, dt, gen, box, True, method)
    sync(device)
    steps, start = 0, time.perf_counter()
    while True:
        state, _ = _step(model, state, dt, gen, box, True, method)
        steps += 1
        if steps % 5 == 0 or method == "naive":
            sync(device)
            if time.perf_counter() - start > budget_s and steps >= 3:
                break
    sync(device)
    return steps / (time.perf_counter() - start)


def naive_fits(n: int, d: int, device: str) -> bool:
    """Whether the dense (N, N, d) float32 tensors of the naive step (about 8 of them) fit in 1/4 of free memory."""
    free = available_memory(device)
    return free is None or 8 * n * n * (d + 1) * 4 < free / 4


def run(quick: bool, device: str) -> dict[str, Any]:
    sizes = [256, 1024] if quick else [256, 1024, 4096]
    budget = 0.5 if quick else 2.0
    results: dict[str, Any] = {"sizes": sizes, "load_average_before": list(os.getloadavg()),
                               "settings": {"mips_aoup": MIPS, "trap_aoup": TRAP, "abp_wca": ABP}, "timings": {}}
    for name, setting, ns in (("mips_aoup", MIPS, sizes), ("trap_aoup", TRAP, [64]), ("abp_wca", ABP, sizes)):
        rows = []
        for n in ns:
            model, dt = make_model(setting, n)
            row: dict[str, Any] = {"n_particles": n, "box": model.box, "dt": dt,
                                   "auto_uses": "naive" if n <= DENSE_UP_TO else "cells"}
            row["cells_steps_per_s"] = steps_per_second(model, dt, n, "cells", device, budget)
            if naive_fits(n, model.dim, device):
                row["naive_steps_per_s"] = steps_per_second(model, dt, n, "naive", device, budget)
                row["speedup"] = row["cells_steps_per_s"] / row["naive_steps_per_s"]
            else:
                row["naive_steps_per_s"] = None
                row["naive_skipped"] = "the dense (N, N, d) tensors would exceed a quarter of the free memory"
            print(name, row, flush=True)
            rows.append(row)
        entry: dict[str, Any] = {"rows": rows}
        if len(rows) > 1:  # cost growth: slope of log(seconds per step) against log N
            logn = np.log([r["n_particles"] for r in rows])
            for method in ("cells", "naive"):
                rates = [r.get(f"{method}_steps_per_s") for r in rows]
                if all(rate is not None for rate in rates):
                    entry[f"{method}_cost_exponent"] = float(np.polyfit(logn, -np.log(rates), 1)[0])
        results["timings"][name] = entry
    results["load_average_after"] = list(os.getloadavg())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="N = 256 and 1,024 only, shorter timings")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with dynfer.settings.override(progress=False, device=args.device, dtype="float32"):
        results = run(args.quick, args.device)
    results["protocol"] = ("one simulation step (drift with pair forces, noise, wrap), 1 replica, float32, "
                           "1 torch thread; steps/s over about 2 s per entry (0.5 s with --quick)")
    write_results("particles" + ("_quick" if args.quick else ""), results)


if __name__ == "__main__":
    main()
