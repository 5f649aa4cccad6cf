"""Two-state protein folding from a simulated 5-D SDE: label the states, infer the jump process, check 0.73/0.27.

:func:`dynfer.datasets.protein_folding_sde` simulates the VAMPnets folding toy (Mardt et al. 2018: overdamped
Langevin in the radial potential U = -2.5 s^2 for s < 0, 0.5 (s - 2) s^2 for s >= 0, s = |x| - 3, kT = 1, Euler-
Maruyama at dt = 0.1) and labels each observation folded (|x| < 3, state 0) or unfolded (state 1). The paths start
after a burn-in of 100 time units and are observed every time unit (10 steps), 100 times: 2,000 paths (FIM's
folding target-set size), cut into 10 contexts of 200. Each method fits a 2-state generator per context; the
stationary law is compared with Mardt et al.'s (0.73, 0.27) and with the label fraction of the simulated data.

The labels of an SDE are not exactly Markov: recrossings of the sharp boundary |x| = 3 make fitted rates fall with
the observation interval (see :mod:`dynfer.datasets.synthetic_folding`). A second setting therefore refits the same
paths thinned to every 10th observation (interval 10, 10 points per path); the stationary law should not move much,
the rates should. There is no true rate matrix, so no rate RMSE or calibration; the Hellinger distance compares the
observed histograms with paths of each fitted model at the same times.

Run it with ``dynfer run protein_folding [--quick] [--device DEV] [--seed N] [--out DIR]``; ``--quick`` simulates
2 contexts of 100 paths x 50 observations.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

NAME = "protein_folding"
DESCRIPTION = "two-state folding: 5-D SDE (VAMPnets toy) labelled by radius, rates inferred; stationary vs 0.73/0.27"
DATASETS: tuple[str, ...] = ("protein_folding_sde",)

N_CONTEXTS = 10
N_PATHS = 200
N_TIMES = 100
THIN = 10


def _rates(q: np.ndarray) -> dict[str, float]:
    return {"rate folded to unfolded": float(q[0, 1]), "rate unfolded to folded": float(q[1, 0])}


def run(out_dir: str | Path, *, seed: int, device: str, quick: bool) -> tuple[Path, dict[str, Any]]:
    """Simulate and label the SDE, fit every method per context, write the report into ``out_dir``.

    Returns
    -------
    tuple
        Path of ``report.html`` and the metrics dictionary.
    """
    import dynfer
    from dynfer.evaluation import JumpContext
    from dynfer.workflows.mjp import MJPSetting, run_mjp_workflow

    n_ctx, n_paths, n_times = (2, 100, 50) if quick else (N_CONTEXTS, N_PATHS, N_TIMES)
    adata = dynfer.datasets.protein_folding_sde(n_paths=n_ctx * n_paths, n_times=n_times, seed=seed, device=device)
    states = adata.obs["state"].to_numpy().reshape(n_ctx * n_paths, n_times)
    times = adata.obs["time"].to_numpy()[:n_times]
    folded = float((states == 0).mean())
    per_path = (states == 0).mean(axis=1)
    se = float(per_path.std(ddof=1) / np.sqrt(len(per_path)))
    refs = {"stationary law": "Mardt et al. (0.73, 0.27); NeuralMJP (0.74, 0.26); simulated labels "
                              f"({folded:.3f} ± {se:.3f}, {1 - folded:.3f})",
            "rate folded to unfolded": "NeuralMJP 0.028 ('low' to 'high')",
            "rate unfolded to folded": "NeuralMJP 0.085"}

    def contexts(thin: int) -> list[Any]:
        return [JumpContext(states[k * n_paths:(k + 1) * n_paths, ::thin], times[::thin], n_states=2,
                            name=f"paths {k * n_paths}-{(k + 1) * n_paths - 1}", extra={"seed": seed + k})
                for k in range(n_ctx)]

    common = {"extra_scorer": _rates, "show_extra": tuple(_rates(np.zeros((2, 2)))), "references": refs}
    settings = [
        MJPSetting(name="interval_1", title=f"Folding, observed every time unit: {n_ctx} contexts of {n_paths} "
                   f"paths x {n_times} points", contexts=contexts(1), description=(
                       "protein_folding_sde (dt = 0.1, stride 10): labels 0 = folded (|x| < 3), 1 = unfolded. "
                       f"Label fraction folded over all paths {folded:.4f} ± {se:.4f} (s.e. from independent "
                       "paths)."), **common),
        MJPSetting(name=f"interval_{THIN}", title=f"Folding, the same paths thinned to every {THIN}th observation",
                   contexts=contexts(THIN), description=(
                       f"Observation interval {THIN} time units, {len(times[::THIN])} points per path: slower "
                       "recrossings are averaged out, so the fitted rates drop (the labels are not Markov at "
                       "short lags)."), **common),
    ]
    return run_mjp_workflow(
        out_dir, settings, title="dynfer: two-state protein folding from a simulated 5-D SDE",
        summary="The VAMPnets folding toy simulated with dynfer's SDE backend, labelled by radius, and a two-state "
                "jump process inferred per context; stationary law against Mardt et al.'s 0.73/0.27"
                + (" (quick sizes)." if quick else "."),
        seed=seed, device=device,
        extra_metrics={"quick": quick, "label_fraction_folded": folded, "label_fraction_se": se,
                       "reference_stationary": [0.73, 0.27], "n_contexts": n_ctx, "n_paths": n_paths,
                       "n_times": n_times})


if __name__ == "__main__":
    from dynfer.cli import main

    sys.exit(main(["run", NAME, *sys.argv[1:]]))
