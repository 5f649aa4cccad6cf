"""One loader per registered real dataset: fetch the checksummed files, then read them into dynfer's data model.

Files come from :func:`dynfer.datasets.registry.fetch` (local mirror ``settings.data_dir`` first, then the cache /
download). Format adapters of :mod:`dynfer.io` are imported inside the loaders that need them. Every AnnData result
carries ``uns['dynfer_source']`` with the dataset name, files, source repository, commit, licence and citation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np

from dynfer import _keys as K
from dynfer._errors import BadInputError
from dynfer.datasets.registry import fetch, get_entry
from dynfer.io._model import make_snapshots, make_states

__all__ = [
    "MMTRAJ_SYSTEMS",
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
]

#: ``system`` argument of :func:`load_mmtraj` -> file in ``mmtraj_benchmarks``.
MMTRAJ_SYSTEMS = {
    "lotka_volterra": "LV_data.npz",
    "repressilator_mrna": "Repressilatormrna_data.npz",
    "repressilator_mrna_protein": "Repressilatormrnaprotein_data.npz",
    "gulf_of_mexico": "GoM_data.npz",
}
_MMTRAJ_ALIASES = {"lv": "lotka_volterra", "gom": "gulf_of_mexico", "repressilator": "repressilator_mrna"}
_MMTRAJ_VARS = {
    "lotka_volterra": ["prey", "predator"],
    "repressilator_mrna": ["mrna1", "mrna2", "mrna3"],
    "repressilator_mrna_protein": ["mrna1", "mrna2", "mrna3"],
    "gulf_of_mexico": ["lon_offset", "lat_offset"],
}


def _source(name: str, paths: dict[str, Path], **extra: Any) -> dict[str, Any]:
    entry = get_entry(name)
    return {
        **entry.as_dict(),
        "files": [str(p) for p in paths.values()],
        "sha256": [entry.files[f].sha256 for f in paths],
        **extra,
    }


def _float32_times(values: np.ndarray) -> np.ndarray:
    """float32 times as the decimals they were written from (0.8, not 0.800000011920929)."""
    return np.array([float(str(v)) for v in np.asarray(values).ravel()], dtype=np.float64)


def _stack_snapshots(xs: np.ndarray, times: np.ndarray, var_names: list[str], source: dict) -> ad.AnnData:
    n_t, n, d = xs.shape
    if len(times) != n_t:
        raise BadInputError(f"the file holds {n_t} snapshots but {len(times)} times")
    return make_snapshots(xs.reshape(n_t * n, d), np.repeat(times, n), var_names=var_names, source=source)


# ---------------------------------------------------------------------------------------------------- snapshots
def load_mmtraj(system: str = "lotka_volterra") -> ad.AnnData:
    """Load one system of the multi-marginal trajectory-inference benchmarks (``mmtraj_benchmarks``, MIT).

    Each file holds ``Xs`` float32 ``[11, 200, d]``: 11 time points with 200 particles each, every time point an
    independent draw integrated from 0 (truly unpaired snapshots), and ``dts`` ``[11]``: the observation times
    themselves (0, 1, ..., 10; GoM 0, 0.8, ..., 8), not increments.

    Parameters
    ----------
    system
        ``"lotka_volterra"`` (``"LV"``; d = 2), ``"repressilator_mrna"`` (``"repressilator"``; d = 3),
        ``"repressilator_mrna_protein"`` (d = 3 observed mRNA of a 6-d model) or ``"gulf_of_mexico"`` (``"GoM"``;
        d = 2, degrees relative to (-90.5 E, 25.75 N)).

    Returns
    -------
    AnnData
        2200 rows, ``X`` the state (float32), ``obs['time']`` from ``dts``; ``uns['dynfer_source']`` with the
        provenance and the system name.
    """
    key = _MMTRAJ_ALIASES.get(str(system).lower(), str(system).lower())
    if key not in MMTRAJ_SYSTEMS:
        raise BadInputError(f"system must be one of {sorted(MMTRAJ_SYSTEMS)} (or LV, GoM, repressilator), "
                            f"got {system!r}")
    fname = MMTRAJ_SYSTEMS[key]
    paths = fetch("mmtraj_benchmarks", fname)
    with np.load(paths[fname]) as z:
        xs, times = np.asarray(z["Xs"]), _float32_times(z["dts"])
    return _stack_snapshots(xs, times, _MMTRAJ_VARS[key], _source("mmtraj_benchmarks", paths, system=key))


def load_pbmc_timecourse(*, time: str = "normalized") -> ad.AnnData:
    """Load the PBMC T-cell activation time course (``pbmc_timecourse_nc``, CC BY-NC 4.0: non-commercial only).

    ``Xs`` float64 ``[21, 500, 30]``: 500 cells at each integer hour 0..20 in a 30-d gene-program space (divided by
    ``X_scaling`` = 11.54). Mirror only: the registry has no download URL for it.

    Parameters
    ----------
    time
        ``"normalized"``: ``obs['time']`` = the file's ``dts`` (0, 0.05, ..., 1; hours / 20, the benchmark's time);
        ``"hours"``: hours 0..20. Hours are always in ``obs['time_hours']``.

    Returns
    -------
    AnnData
        10,500 rows x 30; ``uns['pbmc_y0']`` holds the larger first-time cell set ``y0`` ``[4340, 30]``,
        ``uns['dynfer_source']`` the provenance, ``time_scale`` and ``X_scaling``.
    """
    if time not in ("normalized", "hours"):
        raise BadInputError(f"time must be 'normalized' or 'hours', got {time!r}")
    name = "pbmc_timecourse_nc"
    paths = fetch(name)
    (path,) = paths.values()
    with np.load(path) as z:
        xs, dts = np.asarray(z["Xs"]), np.asarray(z["dts"], dtype=np.float64)
        scale, x_scaling, y0 = float(z["time_scale"]), float(z["X_scaling"]), np.asarray(z["y0"])
    hours = dts * scale
    src = _source(name, paths, time_scale=scale, X_scaling=x_scaling, time_unit=time)
    adata = _stack_snapshots(
        xs, dts if time == "normalized" else hours, [f"program{i}" for i in range(xs.shape[2])], src
    )
    adata.obs["time_hours"] = np.repeat(hours, xs.shape[1])
    adata.uns["pbmc_y0"] = y0
    return adata


def load_mocap35(*, split: str = "train", low_dim: bool = False, **kwargs: Any) -> ad.AnnData:
    """Load CMU subject-35 walking (``mocap35``) through :func:`dynfer.io.mocap.read_mocap35`.

    ``split``: ``"train"`` (16 trials), ``"val"`` (3), ``"test"`` (4) or ``"all"``; each trial has 300 frames of 50
    features (``low_dim=True``: the 3-PC whitened projection). Other keywords go to the reader.
    """
    from dynfer.io.mocap import read_mocap35

    paths = fetch("mocap35", "mocap35.mat")
    adata = read_mocap35(paths["mocap35.mat"], split=split, low_dim=low_dim, **kwargs)
    _merge_source(adata, _source("mocap35", paths, split=split, low_dim=low_dim))
    return adata


def _merge_source(adata: ad.AnnData, source: dict[str, Any]) -> None:
    prev = adata.uns.get(K.SOURCE)
    merged = dict(source)
    if isinstance(prev, dict):
        merged["reader"] = prev
    adata.uns[K.SOURCE] = merged


# ---------------------------------------------------------------------------------------------------- jumps
def load_fim_dfr(V: int = 1, *, n_paths: int | None = None) -> ad.AnnData:
    """Load the discrete-flashing-ratchet benchmark of FIM-MJP (``fim_dfr``, MIT), potential ``V`` in {0, 1, 2, 3}.

    ``dfr_V<V>.npz`` holds 10,000 clean paths observed on a regular 100-point grid on [0, 2.5] (states 0..5, start
    from the stationary law). ``V = 1`` is the FIM tutorial dataset.

    Parameters
    ----------
    V
        Potential step (0, 1, 2 or 3).
    n_paths
        Keep the first ``n_paths`` paths (default all 10,000; FIM contexts use 300).

    Returns
    -------
    AnnData
        ``n_paths * 100`` rows: ``obs['state']``, ``obs['time']``, ``obs['trajectory']``; in ``uns``:
        ``rate_matrix`` (6, 6, rows = from), ``adjacency``, ``initial_distribution``, ``V``, ``r``, ``b``,
        ``time_normalization_factor`` and ``dynfer_source``.
    """
    if V not in (0, 1, 2, 3):
        raise BadInputError(f"V must be 0, 1, 2 or 3, got {V!r}")
    fname = f"dfr_V{int(V)}.npz"
    paths = fetch("fim_dfr", fname)
    with np.load(paths[fname]) as z:
        arrays = {k: np.asarray(z[k]) for k in z.files}
    states = arrays["states"]
    total = states.shape[0]
    if n_paths is not None:
        if isinstance(n_paths, bool) or not isinstance(n_paths, int) or not 1 <= n_paths <= total:
            raise BadInputError(f"n_paths must be an int in [1, {total}], got {n_paths!r}")
        states = states[:n_paths]
    n, n_t = states.shape
    times = arrays["times"].astype(np.float64)
    src = _source("fim_dfr", paths, V=int(V), n_paths=int(n))
    adata = make_states(
        states.reshape(-1).astype(np.int64), np.tile(times, n), np.repeat(np.arange(n), n_t), source=src
    )
    adata.uns["rate_matrix"] = arrays["rate_matrix"]
    adata.uns["adjacency"] = arrays["adjacency"]
    adata.uns["initial_distribution"] = arrays["initial_distribution"]
    adata.uns["time_normalization_factor"] = float(arrays["time_normalization_factor"])
    for key in ("V", "r", "b"):
        adata.uns[key] = float(arrays[key])
    adata.uns["n_states"] = int(arrays["rate_matrix"].shape[0])
    return adata


_PRIOR_FILES = {
    (6, "train"): "prior_6st_rand_grid_train.npz",
    (6, "test"): "prior_6st_rand_grid_test.npz",
    (4, "train"): "prior_4st_reg_grid_upscaled_train.npz",
    (4, "test"): "prior_4st_reg_grid_upscaled_test.npz",
}


def load_fim_mjp_prior(n_states: int = 6, split: str = "train") -> dict[str, Any]:
    """Load draws of the FIM-MJP synthetic training prior (``fim_mjp_prior_samples``, MIT). No paths are included.

    There is nothing to observe over time, so the result is a plain dict of numpy arrays (not AnnData), one entry per
    MJP along axis 0:

    * ``rate_matrices`` float32 ``(N, 6, 6)`` (rows = from, rows sum to 0; 4-state sets padded with zeros),
    * ``adjacency`` int8 ``(N, 6, 6)``, ``initial_distributions`` float32 ``(N, 6)``,
    * ``seq_lengths`` int16 ``(N, 300)`` (observed points of each of the 300 paths per MJP),
    * ``time_normalization_factors`` float32 ``(N,)`` (about 10, the horizon),
    * ``n_states`` (4 or 6), ``grid`` (``"random"`` or ``"regular"``) and ``dynfer_source``.

    ``n_states=6`` gives 400 MJPs on random grids per split; ``n_states=4`` 400 (train) / 200 (test) on regular grids.
    Simulate paths with :meth:`dynfer.processes.RateMatrix.simulate` (horizon 10) for in-distribution tests.
    """
    key = (int(n_states), str(split))
    if key not in _PRIOR_FILES:
        raise BadInputError(f"(n_states, split) must be one of {sorted(_PRIOR_FILES)}, got ({n_states!r}, {split!r})")
    fname = _PRIOR_FILES[key]
    paths = fetch("fim_mjp_prior_samples", fname)
    with np.load(paths[fname]) as z:
        out: dict[str, Any] = {k: np.asarray(z[k]) for k in z.files}
    out["n_states"] = key[0]
    out["grid"] = "random" if key[0] == 6 else "regular"
    out[K.SOURCE] = _source("fim_mjp_prior_samples", paths, n_states=key[0], split=key[1])
    return out


# ---------------------------------------------------------------------------------------------------- particles
def load_abp_lammps(n_frames: int | None = None, **kwargs: Any) -> ad.AnnData:
    """Load the 2D active-Brownian-particle LAMMPS dumps (``abp_lammps_amep``, GPL-3.0-or-later; never copy them).

    26 frames (steps 250000..500000, 0.1 time units apart, LAMMPS dt = 1e-5) of N = 4000 particles in a periodic box
    of side 79.266, through :func:`dynfer.io.activematter.read_lammps_dump`. ``n_frames`` keeps the first frames
    (each file is about 420 KB of text). Other keywords go to the reader (default ``dt=1e-5``).
    """
    from dynfer.io.activematter import read_lammps_dump

    names = sorted(get_entry("abp_lammps_amep").files, key=lambda f: int(f.removeprefix("dump").split(".")[0]))
    if n_frames is not None:
        if isinstance(n_frames, bool) or not isinstance(n_frames, int) or not 1 <= n_frames <= len(names):
            raise BadInputError(f"n_frames must be an int in [1, {len(names)}], got {n_frames!r}")
        names = names[:n_frames]
    paths = fetch("abp_lammps_amep", names)
    kwargs.setdefault("dt", 1e-5)
    adata = read_lammps_dump(list(paths.values()), **kwargs)
    _merge_source(adata, _source("abp_lammps_amep", paths, v0=100.0, D_t=1.0, D_r=1.0, gamma_t=1.0))
    return adata


def load_gsd_lj(**kwargs: Any) -> ad.AnnData:
    """Load the HOOMD GSD fixture (``gsd_lj_freud_fixture``, BSD-3): 3D LJ fluid, N = 1000, 4 frames, box L = 10.77.

    A format fixture, not active matter. Keywords go to :func:`dynfer.io.activematter.read_gsd`.
    """
    from dynfer.io.activematter import read_gsd

    paths = fetch("gsd_lj_freud_fixture", "LJsampletraj.gsd")
    adata = read_gsd(paths["LJsampletraj.gsd"], **kwargs)
    _merge_source(adata, _source("gsd_lj_freud_fixture", paths))
    return adata


# ---------------------------------------------------------------------------------------------------- graphs
def _graph(name: str, fname: str, largest_component: bool, **kwargs: Any):
    from dynfer.io import graphs

    paths = fetch(name, fname)
    g = graphs.read_edge_list(paths[fname], **kwargs)
    if largest_component:
        g = graphs.largest_connected_component(g)
    g.graph[K.SOURCE] = _source(name, paths, largest_component=largest_component)
    return g


def load_wikivote889(*, largest_component: bool = False, **kwargs: Any):
    """soc-wiki-Vote (``wikivote889``): undirected networkx graph, 889 nodes, 2914 edges, connected.

    Despite its ``.mtx`` name the file has no MatrixMarket header, so it is read as an edge list with
    :func:`dynfer.io.graphs.read_edge_list`. Unlicensed upstream: local evaluation only.
    """
    return _graph("wikivote889", "soc-wiki-Vote.mtx", largest_component, **kwargs)


def load_ego_facebook(*, largest_component: bool = False, **kwargs: Any):
    """SNAP ego-Facebook (``ego_facebook``): undirected networkx graph, 4039 nodes, 88234 edges, connected."""
    return _graph("ego_facebook", "facebook_combined.txt", largest_component, **kwargs)


def load_p2p_gnutella04(*, largest_component: bool = False, **kwargs: Any):
    """SNAP p2p-Gnutella04 (``p2p_gnutella04``) as an undirected graph: 10876 nodes, 39994 edges, connected."""
    return _graph("p2p_gnutella04", "p2p-Gnutella04.txt", largest_component, **kwargs)


def load_p2p_gnutella08(*, largest_component: bool = True, **kwargs: Any):
    """p2p-Gnutella08, re-indexed copy (``p2p_gnutella08``), undirected: 6301 nodes, 20777 edges, 2 components.

    By default only the largest component (6299 nodes, 20776 edges) is returned, as random walks need it.
    """
    return _graph("p2p_gnutella08", "p2p-Gnutella08.txt", largest_component, **kwargs)
