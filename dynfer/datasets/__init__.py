"""Datasets: seeded synthetic generators and checksummed real data from the registry (``datasets/registry.toml``).

* :func:`load` -- any dataset by name (real or synthetic), :func:`list_datasets` -- the names,
  :func:`fetch` -- local, checksum-verified paths of a real dataset's files;
* real data loaders (:mod:`dynfer.datasets.loaders`): read from the local mirror ``settings.data_dir``
  (``DYNFER_DATA_DIR``), else the cache / a download where the licence allows;
* generators: :func:`lotka_volterra_snapshots`, :func:`repressilator_snapshots`, :func:`vortex_snapshots`,
  :func:`ou_snapshots`, :func:`flashing_ratchet_paths`, :func:`alanine_dipeptide_surrogate`,
  :func:`protein_folding`, :func:`ion_channel`, :func:`protein_folding_sde` (the 5-D VAMPnets folding toy, labelled),
  :func:`active_particles` (stationary MIPS / trapped active-particle frames) and :func:`entropy_benchmark` (the
  closed-form entropy-production systems of :mod:`dynfer.datasets.entropy_benchmarks`);
* controlled diffusions under a fixed policy with closed-form values (:mod:`dynfer.datasets.synthetic_control`):
  :func:`ou_discounted`, :func:`bm_terminal`, :func:`gbm_power`, :func:`ergodic_lq`, :func:`mean_variance`.

Examples
--------
>>> import dynfer
>>> adata = dynfer.datasets.load("flashing_ratchet_paths", n_paths=20, n_times=10, seed=1)
>>> adata.n_obs
200
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dynfer._errors import BadInputError
from dynfer.datasets import loaders, synthetic_control
from dynfer.datasets.entropy_benchmarks import entropy_benchmark
from dynfer.datasets.loaders import (
    load_abp_lammps,
    load_ego_facebook,
    load_fim_dfr,
    load_fim_mjp_prior,
    load_gsd_lj,
    load_mmtraj,
    load_mocap35,
    load_p2p_gnutella04,
    load_p2p_gnutella08,
    load_pbmc_timecourse,
    load_wikivote889,
)
from dynfer.datasets.registry import (
    DatasetChecksumError,
    DatasetEntry,
    DatasetNotFoundError,
    fetch,
    get_entry,
    register,
    unregister,
)
from dynfer.datasets.synthetic_control import bm_terminal, ergodic_lq, gbm_power, mean_variance, ou_discounted
from dynfer.datasets.synthetic_folding import protein_folding_sde
from dynfer.datasets.synthetic_ionchannel import ion_channel
from dynfer.datasets.synthetic_jumps import alanine_dipeptide_surrogate, flashing_ratchet_paths, protein_folding
from dynfer.datasets.synthetic_particles import active_particles
from dynfer.datasets.synthetic_snapshots import (
    lotka_volterra_snapshots,
    ou_snapshots,
    repressilator_snapshots,
    vortex_snapshots,
)

__all__ = [
    "DatasetChecksumError",
    "DatasetEntry",
    "DatasetNotFoundError",
    "active_particles",
    "alanine_dipeptide_surrogate",
    "bm_terminal",
    "entropy_benchmark",
    "ergodic_lq",
    "fetch",
    "flashing_ratchet_paths",
    "gbm_power",
    "get_entry",
    "ion_channel",
    "list_datasets",
    "load",
    "load_abp_lammps",
    "load_ego_facebook",
    "load_fim_dfr",
    "load_fim_mjp_prior",
    "load_gsd_lj",
    "load_mmtraj",
    "load_mocap35",
    "load_p2p_gnutella04",
    "load_p2p_gnutella08",
    "load_pbmc_timecourse",
    "load_wikivote889",
    "lotka_volterra_snapshots",
    "mean_variance",
    "ou_discounted",
    "ou_snapshots",
    "protein_folding",
    "protein_folding_sde",
    "register",
    "repressilator_snapshots",
    "synthetic_control",
    "unregister",
    "vortex_snapshots",
]

#: Synthetic generators reachable through :func:`load`.
SYNTHETIC: dict[str, Callable[..., Any]] = {
    "lotka_volterra_snapshots": lotka_volterra_snapshots,
    "repressilator_snapshots": repressilator_snapshots,
    "vortex_snapshots": vortex_snapshots,
    "ou_snapshots": ou_snapshots,
    "flashing_ratchet_paths": flashing_ratchet_paths,
    "alanine_dipeptide_surrogate": alanine_dipeptide_surrogate,
    "protein_folding": protein_folding,
    "protein_folding_sde": protein_folding_sde,
    "ion_channel": ion_channel,
    "active_particles": active_particles,
    "entropy_benchmark": entropy_benchmark,
    "policy_ou_discounted": ou_discounted,
    "policy_bm_terminal": bm_terminal,
    "policy_gbm_power": gbm_power,
    "policy_ergodic_lq": ergodic_lq,
    "policy_mean_variance": mean_variance,
}


def list_datasets(kind: str = "all") -> list[str]:
    """Names accepted by :func:`load`: ``kind="real"`` (registry), ``"synthetic"`` (generators) or ``"all"``."""
    from dynfer.datasets.registry import list_real_datasets

    if kind not in ("all", "real", "synthetic"):
        raise BadInputError(f"kind must be 'all', 'real' or 'synthetic', got {kind!r}")
    real = [n for n in list_real_datasets() if get_entry(n).loader]
    synth = sorted(SYNTHETIC)
    return {"real": real, "synthetic": synth, "all": real + synth}[kind]


def load(name: str, **kwargs: Any) -> Any:
    """Load a dataset by name: a registered real dataset (through its loader) or a synthetic generator.

    Keywords go to the loader or generator, e.g. ``load("mmtraj_benchmarks", system="GoM")``,
    ``load("fim_dfr", V=1, n_paths=300)``, ``load("flashing_ratchet_paths", label_noise=0.01, seed=0)``.

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.
    """
    if name in SYNTHETIC:
        return SYNTHETIC[name](**kwargs)
    from dynfer.datasets.registry import registry

    reg = registry()
    if name not in reg or not reg[name].loader:
        raise BadInputError(f"unknown dataset {name!r}; known datasets: {', '.join(list_datasets())}")
    loader = getattr(loaders, reg[name].loader, None)
    if loader is None:
        raise BadInputError(f"dataset {name!r} has no loader {reg[name].loader!r} in dynfer.datasets.loaders")
    return loader(**kwargs)
