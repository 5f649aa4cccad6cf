"""Ion-channel gating from noisy currents: simulate, idealise with ``pp.idealize``, infer the jump process.

:func:`dynfer.datasets.ion_channel` simulates 1 s single-channel recordings at 5 kHz from the 3-state KcvMT325
gating scheme fitted to Köhs et al.'s (2021) MFPT table (levels 0, 1, 2 pA, white noise sd 0.3 pA);
:func:`dynfer.pp.idealize` turns the currents into states (Gaussian mixture + Baum-Welch + Viterbi), the data model
every MJP method reads. Each recording is cut into paths of 100 samples (20 ms), and contexts of 300 such paths
(six recordings; 1,500 paths in all, FIM's ion-channel target-set size) are fitted one by one. The generating
scheme is the truth: stationary law and MFPTs (s, row i to column j) against it and against the published values
(Köhs et al. 2021; NeuralMJP). A second setting fits the true gating states, so that the idealisation error and
the estimator error can be told apart. Rates are in 1/s, times in s.

Run it with ``dynfer run ion_channel [--quick] [--device DEV] [--seed N] [--out DIR]``; ``--quick`` simulates two
recordings (two contexts of 50 paths).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

NAME = "ion_channel"
DESCRIPTION = "ion-channel currents -> pp.idealize -> MJP rates; stationary law and MFPTs vs the generating scheme"
DATASETS: tuple[str, ...] = ("ion_channel",)

N_TRACES = 30
SEGMENT = 100
PATHS_PER_CONTEXT = 300
REFERENCES = {
    "stationary law": "Köhs et al. (0.180, 0.150, 0.671); NeuralMJP (0.177, 0.095, 0.739)",
    "MFPT (row i to column j)": "Köhs [(0, .068, .054); (.133, 0, .033); (.181, .092, 0)]; NeuralMJP "
                                "[(0, .019, .031); (.083, 0, .014); (.119, .018, 0)]",
}


def _segments(values: np.ndarray, n_traces: int, n_samples: int) -> np.ndarray:
    """``(n_traces * n_samples,)`` rows to ``(n_traces * n_segments, SEGMENT)`` paths (the tail is dropped)."""
    per = n_samples // SEGMENT
    return values.reshape(n_traces, n_samples)[:, : per * SEGMENT].reshape(n_traces * per, SEGMENT)


def run(out_dir: str | Path, *, seed: int, device: str, quick: bool) -> tuple[Path, dict[str, Any]]:
    """Simulate, idealise, fit every method per context, write the report into ``out_dir``.

    Returns
    -------
    tuple
        Path of ``report.html`` and the metrics dictionary.
    """
    import dynfer
    from dynfer.evaluation import JumpContext
    from dynfer.workflows.mjp import MJPSetting, run_mjp_workflow

    n_traces, per_context = (2, 50) if quick else (N_TRACES, PATHS_PER_CONTEXT)
    adata = dynfer.datasets.ion_channel(n_traces=n_traces, seed=seed)
    src = adata.uns["dynfer_source"]
    q_true = np.asarray(src["Q"], dtype=np.float64)
    n_samples = int(round(src["duration"] * src["sampling_rate"]))
    adata.obs["state_true"] = adata.obs["state"].to_numpy()
    dynfer.pp.idealize(adata, 3, seed=seed)
    ideal = adata.obs["state"].to_numpy().astype(np.int64)
    true = adata.obs["state_true"].to_numpy().astype(np.int64)
    accuracy = float((ideal == true).mean())
    t = adata.obs["time"].to_numpy()[:SEGMENT]
    times = t - t[0]
    paths = {"idealised": _segments(ideal, n_traces, n_samples), "true": _segments(true, n_traces, n_samples)}
    n_ctx = len(paths["true"]) // per_context

    def contexts(kind: str) -> list[Any]:
        return [JumpContext(paths[kind][k * per_context:(k + 1) * per_context], times, Q_true=q_true,
                            name=f"{kind} {k}", extra={"seed": seed + k, "initial": src["stationary"]})
                for k in range(n_ctx)]

    head = (f"{n_traces} recordings of 1 s at 5 kHz (noise sd {src['noise_sd']:g} pA), cut into "
            f"{len(paths['true'])} paths of {SEGMENT} samples ({SEGMENT / src['sampling_rate'] * 1e3:g} ms); "
            f"{n_ctx} contexts of {per_context} paths.")
    settings = [
        MJPSetting(name="idealised", title="Ion channel: states from pp.idealize", contexts=contexts("idealised"),
                   description=head + f" pp.idealize (gmm_hmm) recovers {accuracy:.2%} of the true states.",
                   references=REFERENCES),
        MJPSetting(name="true_states", title="Ion channel: the true gating states (no idealisation)",
                   contexts=contexts("true"), description=head + " The same paths with the simulated states.",
                   references=REFERENCES),
    ]
    return run_mjp_workflow(
        out_dir, settings, title="dynfer: ion-channel gating from idealised currents",
        summary="Synthetic KcvMT325-like recordings, idealised with dynfer.pp.idealize, and the gating scheme "
                "inferred per context; stationary law and MFPTs against the generating scheme"
                + (" (quick sizes)." if quick else "."),
        seed=seed, device=device,
        extra_metrics={"quick": quick, "idealisation_accuracy": accuracy, "n_traces": n_traces,
                       "paths_per_context": per_context, "segment_samples": SEGMENT})


if __name__ == "__main__":
    from dynfer.cli import main

    sys.exit(main(["run", NAME, *sys.argv[1:]]))
