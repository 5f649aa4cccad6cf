"""Markov jump processes on the discrete flashing ratchet (``fim_dfr``, FIM-MJP's DFR benchmark), V = 0..3.

The staged files hold 10,000 clean paths per potential V = 0, 1, 2, 3 on a regular 100-point grid on [0, 2.5]
(states 0-2 potential on, 3-5 off; r = b = 1; 18 links of 30). Protocol of FIM-MJP's tutorial (Berghaus et al.
2024): 33 disjoint contexts of 300 paths x 100 points per V, each fitted on its own; rate RMSE over the 30
off-diagonals per context, mean ± sd over contexts; the 12 structurally absent links scored separately; (V, r, b)
recovered from each fit (reference notes sec. 1). References at V = 1: FIM 0.162 ± 0.021, the plain MLE (reference
computation) 0.092-0.098 ± 0.023.

Then, with the built-in generator (:func:`dynfer.datasets.flashing_ratchet_paths`, V = 1): sparse contexts (20-50
paths x 5-15 uniform random times on [0, 2.5]), the same with 5 % label noise, irregular contexts (300 paths x 10-100
random times) and noisy regular contexts (300 x 100, 5 % label noise); and the context-size study (30 to 10,000
paths of the staged V = 1 file).

Run it with ``dynfer run fim_dfr [--quick] [--device DEV] [--seed N] [--out DIR]``; ``--quick`` keeps V = 1 (two
contexts), one smaller context per generated setting and two context sizes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

NAME = "fim_dfr"
DESCRIPTION = "MJP rates on the flashing ratchet (FIM-MJP DFR, V = 0..3; sparse/irregular/noisy): foundation vs MLE"
DATASETS: tuple[str, ...] = ("fim_dfr", "flashing_ratchet_paths")

N_CONTEXT_PATHS = 300
N_CONTEXTS = 33
SIZES = (30, 100, 300, 1000, 3000, 10000)


def _ratchet_extra(q: np.ndarray) -> dict[str, float]:
    from dynfer.evaluation import ratchet_parameters

    V, r, b = ratchet_parameters(q)
    return {"V": V, "r": r, "b": b}


def staged_settings(Vs: tuple[int, ...], n_contexts: int, seed: int) -> tuple[list[Any], dict[str, Any]]:
    """One setting per V: ``n_contexts`` disjoint 300-path contexts of the staged file; and the files read."""
    import dynfer
    from dynfer.evaluation import JumpContext
    from dynfer.workflows.mjp import MJPSetting

    settings, files = [], {}
    for V in Vs:
        adata = dynfer.datasets.load_fim_dfr(V=V)
        files.update(dynfer.datasets.fetch("fim_dfr", f"dfr_V{V}.npz"))
        n_t = int(adata.obs["trajectory"].value_counts().iloc[0])
        states = adata.obs["state"].to_numpy().reshape(-1, n_t)
        times = adata.obs["time"].to_numpy()[:n_t]
        q, adj, init = adata.uns["rate_matrix"], adata.uns["adjacency"], adata.uns["initial_distribution"]
        contexts = [JumpContext(states[k * N_CONTEXT_PATHS:(k + 1) * N_CONTEXT_PATHS], times, Q_true=q,
                                adjacency=adj, name=f"V{V} paths {k * N_CONTEXT_PATHS}-{(k + 1) * N_CONTEXT_PATHS - 1}",
                                extra={"initial": init, "seed": seed + 1000 * V + k})
                    for k in range(n_contexts)]
        refs = {}
        if V == 1:
            refs = {"rate RMSE, FIM (OpenFIM tutorial, 33 contexts)": "0.162 ± 0.021",
                    "rate RMSE, plain MLE (reference computation)": "0.092-0.098 ± 0.023",
                    "(V, r, b) of FIM's mean matrix over 50 contexts": "(1.13, 0.98, 1.04)"}
        settings.append(MJPSetting(
            name=f"V{V}", title=f"Staged ratchet, V = {V}: {n_contexts} contexts of 300 paths x 100 points",
            description=f"fim_dfr/dfr_V{V}.npz (OpenFIM, MIT): clean paths on the regular grid 0..2.5, states from "
                        "the stationary law. Each context is fitted alone.",
            contexts=contexts, extra_scorer=_ratchet_extra, truth_extra={"V": float(V), "r": 1.0, "b": 1.0},
            references=refs))
    return settings, files


def _ragged(arrays: list[np.ndarray], lengths: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Keep the same uniform random subset of ``lengths[p]`` observations of path ``p`` (in time order) in each array.

    The arrays are ``(P, L)`` (states, clean states, times); past each path's length the rows are padded with its
    last kept value (the padding of :class:`~dynfer.evaluation.JumpContext`).
    """
    P, L = arrays[0].shape
    width = int(lengths.max())
    out = [np.zeros((P, width), a.dtype) for a in arrays]
    for p in range(P):
        keep = np.sort(rng.choice(L, size=int(lengths[p]), replace=False))
        for a, o in zip(arrays, out, strict=True):
            o[p, : len(keep)] = a[p, keep]
            o[p, len(keep):] = a[p, keep[-1]]
    return out


def generator_settings(n_contexts: int, seed: int, *, noise_fitted: bool, device: str | None = None,
                       quick: bool = False) -> list[Any]:
    """Sparse, sparse + noisy, irregular and noisy ratchet contexts (V = 1) from the built-in generator.

    ``quick``: irregular contexts of 50 paths x 10-30 times and noisy ones of 100 x 100 (the sparse ones keep their
    definition).
    """
    import dynfer
    from dynfer.evaluation import JumpContext
    from dynfer.processes import flashing_ratchet
    from dynfer.workflows.mjp import MJPSetting, mjp_methods

    q = flashing_ratchet(1.0, device="cpu").Q.numpy()
    specs = [
        ("sparse", "sparse: 20-50 paths x 5-15 random times", (20, 50), (5, 15), "irregular", 0.0),
        ("sparse_noisy", "sparse + 5 % label noise: 20-50 paths x 5-15 random times", (20, 50), (5, 15),
         "irregular", 0.05),
        ("irregular", "irregular: 300 paths x 10-100 random times", (300, 300), (10, 100), "irregular", 0.0),
        ("noisy", "noisy: 300 paths x 100 regular times, 5 % label noise", (300, 300), (100, 100), "regular", 0.05),
    ]
    if quick:
        specs[2] = ("irregular", "irregular (quick): 50 paths x 10-30 random times", (50, 50), (10, 30),
                    "irregular", 0.0)
        specs[3] = ("noisy", "noisy (quick): 100 paths x 100 regular times, 5 % label noise", (100, 100), (100, 100),
                    "regular", 0.05)
    out = []
    for i, (name, title, (k_lo, k_hi), (l_lo, l_hi), grid, noise) in enumerate(specs):
        rng = np.random.default_rng([seed, 17, i])
        contexts = []
        for k in range(n_contexts):
            n_paths = int(rng.integers(k_lo, k_hi + 1))
            ctx_seed = seed + 100_000 * (i + 1) + k
            adata = dynfer.datasets.flashing_ratchet_paths(n_paths=n_paths, grid=grid, n_times=l_hi,
                                                           label_noise=noise, seed=ctx_seed, device="cpu")
            states = adata.obs["state"].to_numpy().reshape(n_paths, l_hi)
            clean = adata.obs["state_clean"].to_numpy().reshape(n_paths, l_hi)
            times = adata.obs["time"].to_numpy().reshape(n_paths, l_hi)
            lengths = rng.integers(l_lo, l_hi + 1, size=n_paths)
            if l_lo < l_hi:
                states, clean, times = _ragged([states, clean, times], lengths, rng)
            else:
                lengths = None
            contexts.append(JumpContext(states, times, lengths, Q_true=q, n_states=6, name=f"{name} {k}",
                                        extra={"seed": ctx_seed, "label_noise": noise, "clean_states": clean}))
        methods = None
        if noise > 0 and noise_fitted:
            methods = mjp_methods(device=device, mle={"MLE": {}, "MLE (label noise fitted)": {"label_noise": "fit"}})
        out.append(MJPSetting(
            name=name, title=f"Generated ratchet, V = 1, {title}",
            description="dynfer.datasets.flashing_ratchet_paths (V = r = b = 1), t in [0, 2.5], start from the "
                        "stationary law" + (f"; {noise:.0%} of the labels flipped to another state uniformly"
                                            if noise else "") + ". The number of states (6) is given to the fits.",
            contexts=contexts, methods=methods, extra_scorer=_ratchet_extra,
            truth_extra={"V": 1.0, "r": 1.0, "b": 1.0}))
    return out


def size_study(sizes: tuple[int, ...], max_contexts: int, methods: dict[str, Any]) -> dict[str, Any]:
    """Rate RMSE against the number of paths per context (staged V = 1 file, disjoint contexts)."""
    import dynfer
    from dynfer.evaluation import JumpContext, context_table

    adata = dynfer.datasets.load_fim_dfr(V=1)
    n_t = int(adata.obs["trajectory"].value_counts().iloc[0])
    states = adata.obs["state"].to_numpy().reshape(-1, n_t)
    times = adata.obs["time"].to_numpy()[:n_t]
    q = adata.uns["rate_matrix"]
    out: dict[str, Any] = {}
    for size in sizes:
        n_ctx = max(1, min(max_contexts, len(states) // size))
        ctxs = [JumpContext(states[k * size:(k + 1) * size], times, Q_true=q, name=f"{size} paths #{k}")
                for k in range(n_ctx)]
        table = context_table(methods, ctxs)
        out[str(size)] = {m: {"rate_rmse": table.mean_sd(m, "rate_rmse"),
                              "seconds": float(np.mean(table.seconds[m])) if table.seconds[m] else None,
                              "n_contexts": len(table.seconds[m])} for m in methods}
    return out


def run(out_dir: str | Path, *, seed: int, device: str, quick: bool) -> tuple[Path, dict[str, Any]]:
    """Build the settings, fit every method on every context, write the report into ``out_dir``.

    Returns
    -------
    tuple
        Path of ``report.html`` and the metrics dictionary.
    """
    import matplotlib.pyplot as plt

    from dynfer.workflows.mjp import mjp_methods, run_mjp_workflow

    Vs = (1,) if quick else (0, 1, 2, 3)
    n_ctx = 2 if quick else N_CONTEXTS
    methods = mjp_methods(device=device)
    settings, files = staged_settings(Vs, n_ctx, seed)
    settings += generator_settings(1 if quick else N_CONTEXTS, seed, noise_fitted=not quick, device=device,
                                   quick=quick)
    sizes = (30, 300) if quick else SIZES
    study = size_study(sizes, 1 if quick else 10, methods)

    def add_study(report: Any, metrics: dict[str, Any]) -> None:
        report.add_heading("Context size: 30 to 10,000 paths (staged V = 1)")
        rows = [{"paths per context": int(s), **{f"{m} RMSE": (f"{v[m]['rate_rmse'][0]:.3g} ± "
                                                               f"{v[m]['rate_rmse'][1]:.3g}")
                                                 for m in methods},
                 "contexts": v[next(iter(methods))]["n_contexts"]} for s, v in study.items()]
        report.add_table(rows, caption="Rate RMSE (mean ± sd over disjoint contexts) against the context size. "
                         "FIM (OpenFIM tutorial): 30: 0.330, 100: 0.212, 300: 0.162, 1000: 0.230, 5000: 0.723.")
        fig, ax = plt.subplots(figsize=(5, 3.5))
        xs = [int(s) for s in study]
        for m in methods:
            ax.errorbar(xs, [study[s][m]["rate_rmse"][0] for s in study],
                        yerr=[study[s][m]["rate_rmse"][1] for s in study], marker="o", capsize=3, label=m)
        ax.plot([30, 100, 300, 1000, 5000], [0.330, 0.212, 0.162, 0.230, 0.723], "k--", lw=1,
                label="FIM (published)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("paths per context")
        ax.set_ylabel("rate RMSE")
        ax.legend()
        report.add_figure(fig, "dfr_context_size", caption="Rate RMSE against context size (V = 1).")
        plt.close(fig)
        metrics["context_size"] = study

    return run_mjp_workflow(
        out_dir, settings, title="dynfer: Markov jump processes on the discrete flashing ratchet (fim_dfr)",
        summary="FIM-MJP's DFR benchmark (Berghaus et al. 2024): rate RMSE, structural zeros, derived quantities, "
                "histogram distance and calibration per context, for each method side by side"
                + (" (quick sizes)." if quick else "."),
        seed=seed, device=device, methods=methods, inputs=files,
        extra_metrics={"quick": quick, "V": list(Vs), "contexts_per_V": n_ctx}, before_write=add_study)


if __name__ == "__main__":
    from dynfer.cli import main

    sys.exit(main(["run", NAME, *sys.argv[1:]]))
