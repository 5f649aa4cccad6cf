"""Markov jump processes on the six-state alanine-dipeptide surrogate: foundation vs MLE against the generator.

The real ADP trajectories are not staged, so the surrogate of the reference notes (sec. 5) stands in: paths of the
NeuralMJP ADP rate matrix (Seifner & Sánchez 2023, as cited in OpenFIM's ``evaluate_FIMMJP.py``; rates up to 53 per
unit, stationary law (0.298, 0.312, 0.232, 0.097, 0.053, 0.008), slowest time scale 0.691), simulated by
:func:`dynfer.datasets.alanine_dipeptide_surrogate`: 200 paths (FIM's ADP target-set size) x 100 regular points on
[0, 2] per context, from the stationary law. The generator is the truth: rate RMSE, derived quantities and the
Hellinger distance of model paths are all scored against it. The rates span four decades (0.01 to 53), beyond
the ~10^3 ratio where FIM's model card says its model fails.

Run it with ``dynfer run adp_surrogate [--quick] [--device DEV] [--seed N] [--out DIR]``; ``--quick`` fits two
contexts of 100 paths instead of 20 of 200.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

NAME = "adp_surrogate"
DESCRIPTION = "MJP rates of the six-state alanine-dipeptide surrogate (NeuralMJP rates): foundation vs MLE"
DATASETS: tuple[str, ...] = ("alanine_dipeptide_surrogate",)

N_CONTEXTS = 20
N_PATHS = 200


def run(out_dir: str | Path, *, seed: int, device: str, quick: bool) -> tuple[Path, dict[str, Any]]:
    """Simulate the contexts, fit every method, write the report into ``out_dir``.

    Returns
    -------
    tuple
        Path of ``report.html`` and the metrics dictionary.
    """
    import dynfer
    from dynfer.evaluation import JumpContext
    from dynfer.workflows.mjp import MJPSetting, run_mjp_workflow

    n_ctx, n_paths = (2, 100) if quick else (N_CONTEXTS, N_PATHS)
    contexts = []
    for k in range(n_ctx):
        adata = dynfer.datasets.alanine_dipeptide_surrogate(n_paths=n_paths, seed=seed + k, device="cpu")
        src = adata.uns["dynfer_source"]
        n_t = int(src["parameters"]["n_times"])
        contexts.append(JumpContext(adata.obs["state"].to_numpy().reshape(n_paths, n_t),
                                    adata.obs["time"].to_numpy()[:n_t], Q_true=src["rate_matrix"], name=f"ADP {k}",
                                    extra={"initial": src["stationary_distribution"], "seed": seed + k}))
    setting = MJPSetting(
        name="adp", title=f"ADP surrogate: {n_ctx} contexts of {n_paths} paths x 100 points on [0, 2]",
        description="dynfer.datasets.alanine_dipeptide_surrogate (NeuralMJP's ADP rates as the generator), one "
                    "fresh seed per context.",
        contexts=contexts,
        references={"stationary law": "reference computation (0.298, 0.312, 0.232, 0.097, 0.053, 0.008)",
                    "time scales": "reference computation (0.691, 0.068, 0.039, 0.009, 0.009)"})
    return run_mjp_workflow(
        out_dir, [setting], title="dynfer: Markov jump processes on the alanine-dipeptide surrogate",
        summary="Six-state surrogate of alanine-dipeptide kinetics (NeuralMJP rate matrix), every method against "
                "the generator" + (" (quick sizes)." if quick else "."),
        seed=seed, device=device, extra_metrics={"quick": quick, "n_contexts": n_ctx, "n_paths": n_paths})


if __name__ == "__main__":
    from dynfer.cli import main

    sys.exit(main(["run", NAME, *sys.argv[1:]]))
