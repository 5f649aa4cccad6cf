"""Entropy production of real active-Brownian-particle frames (LAMMPS dumps of AMEP), with the drift of their model.

The staged dumps (``abp_lammps_amep``: N = 4,000 ABPs with WCA repulsion, Pe = 100, phase separated and still
coarsening) are read by :func:`dynfer.io.read_lammps_dump` and treated as configuration samples of the known
model: dx = [v0 (cos θ, sin θ) + F_WCA] dt + √(2 D_t) dW, dθ = √(2 D_r) dB with v0 = 100, D_t = D_r = 1, WCA
ε = 10, σ = 1 cut at 1.122 (:class:`dynfer.processes.particles.ActiveParticles`, ``kind="abp"``). The drift
is first checked against the forces LAMMPS wrote (``fx fy`` = WCA + v0 μ). Then :func:`dynfer.tl.entropy_production`
gives, on the same frames, the score-free identity (exact for the total with the known drift), the Gaussian
plug-in and, without ``--quick``, a local-transformer score with its per-particle decomposition and spatial map.
The frames are too coarse in time (2.26 diameters per frame) for NEEP or TUR, which are therefore not run.

Run it with ``dynfer run abp_lammps [--quick] [--device DEV] [--seed N] [--out DIR]`` after pointing
``DYNFER_DATA_DIR`` at the data mirror; ``--quick`` reads 4 frames and uses the Gaussian score only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

NAME = "abp_lammps"
DESCRIPTION = "entropy production of real ABP frames (LAMMPS, N = 4000, Pe = 100) with the drift of their model"
DATASETS: tuple[str, ...] = ("abp_lammps_amep",)

MODEL = {"kind": "abp", "v0": 100.0, "rotational_diffusion": 1.0, "epsilon": 1.0, "interaction_strength": 1.0,
         "force": "wca", "force_params": {"epsilon": 10.0, "sigma": 1.0, "cutoff": 1.122}}


def run(out_dir: str | Path, *, seed: int, device: str, quick: bool) -> tuple[Path, dict[str, Any]]:
    """Read the dumps, check the drift, estimate every rate, write the report into ``out_dir``.

    Returns
    -------
    tuple
        Path of ``report.html`` and the metrics dictionary.
    """
    import torch

    import dynfer
    from dynfer.report import Report
    from dynfer.tl._entropy_production import particle_states
    from dynfer.workflows.entropy import report_entropy

    adata = dynfer.datasets.load("abp_lammps_amep", n_frames=4 if quick else None)
    box = tuple(float(v) for v in np.asarray(adata.uns["box"]).reshape(-1))
    model = dynfer.processes.ActiveParticles(box=box, **MODEL)
    x, _ = particle_states(adata, model)
    with torch.no_grad():
        drift = model(torch.as_tensor(x, dtype=torch.float64))[..., :2].numpy()
    forces = np.asarray(adata.obsm["forces"]).reshape(drift.shape)
    err = np.abs(drift - forces)
    check = {"max abs difference": float(err.max()), "rms force": float(np.sqrt((forces ** 2).mean())),
             "relative rms difference": float(np.sqrt((err ** 2).mean() / (forces ** 2).mean()))}
    report = Report(title="dynfer: entropy production of active Brownian particles (LAMMPS frames)",
                    summary=f"{adata.n_obs} frames of N = {adata.uns['n_particles']} ABPs (AMEP's LAMMPS run) with "
                            f"the drift of their model. Seed {seed}." + (" Quick: Gaussian score only." if quick
                                                                           else ""))
    report.add_heading("The drift against the forces LAMMPS wrote")
    report.add_table([check], caption="b_x = v0 (cos θ, sin θ) + F_WCA from dynfer's model, against fx fy of the "
                     "dumps (printed with 6 significant digits)")
    metrics: dict[str, Any] = {"quick": quick, "n_frames": int(adata.n_obs), "drift_check": check}
    model_kind = "gaussian" if quick else "transformer"
    # the WCA drift is steep at overlaps: learn the score itself (shift=False), not a correction of D^-1 b
    dynfer.tl.entropy_production(adata, drift=model, model=model_kind, k_neighbors=12, n_steps=300, batch_size=1,
                                 shift=False, seed=seed, device=device)
    entry = adata.uns["entropy_production"]
    n = int(adata.uns["n_particles"])
    metrics["rates"] = report_entropy(
        report, title="Entropy production rate (all particles, per unit time)",
        description=("Translational and rotational noise are both present (D_t = D_r = 1), so the total rate is "
                     "finite; the score-free identity needs no score and is exact in expectation for stationary "
                     f"samples (these frames are still coarsening: an approximation). Per particle: divide by {n}."),
        entry=entry, adata=adata, figure="abp_entropy_map", bins=32)
    metrics["per_particle"] = {"score": float(entry["rate"]) / n,
                               "score_free": float(entry["baselines"]["score_free"]["rate"]) / n}
    return report.write(out_dir, metrics=metrics, seed=seed, device=str(device), overwrite=True,
                        timings={"fit seconds": float(entry["fit_seconds"])}), metrics


if __name__ == "__main__":
    from dynfer.cli import main

    sys.exit(main(["run", NAME, *sys.argv[1:]]))
