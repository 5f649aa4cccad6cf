"""Hold out whole time points: the train / held-out split of multi-marginal trajectory inference benchmarks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from anndata import AnnData

from dynfer import _keys as K
from dynfer._errors import BadInputError
from dynfer.io._model import validate_snapshots

__all__ = ["split_timepoints"]

TRAIN = "train"
HELDOUT = "heldout"


def _heldout_times(distinct: np.ndarray, holdout: Literal["odd"] | Sequence[float]) -> np.ndarray:
    if isinstance(holdout, str):
        if holdout != "odd":
            raise BadInputError(f"holdout must be 'odd' or a list of time points, got {holdout!r}")
        return distinct[1::2]
    try:
        wanted = np.asarray(holdout, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise BadInputError(f"holdout must be 'odd' or a list of numeric time points, got {holdout!r}") from None
    if wanted.size == 0:
        raise BadInputError("holdout is empty; list at least one time point to hold out")
    scale = max(float(np.abs(distinct).max()), 1.0)
    chosen = []
    for t in wanted:
        match = np.flatnonzero(np.isclose(distinct, t, rtol=1e-6, atol=1e-9 * scale))
        if match.size != 1:
            raise BadInputError(
                f"holdout time {t:g} is not one of the time points of the data: {distinct.tolist()}"
            )
        chosen.append(distinct[match[0]])
    return np.unique(np.asarray(chosen))


def split_timepoints(
    adata: AnnData,
    *,
    holdout: Literal["odd"] | Sequence[float] = "odd",
    time_key: str = K.TIME,
    key_added: str = "split",
    copy: bool = False,
) -> AnnData | None:
    r"""Label every cell ``"train"`` or ``"heldout"`` by its time point.

    With ``holdout="odd"`` the distinct observation times are sorted, :math:`t_0 < t_1 < \dots < t_{T-1}`,
    and the odd-indexed ones :math:`t_1, t_3, t_5, \dots` are held out while the even-indexed ones (including
    the first time point) are used for training: the evaluation protocol of multi-marginal Schrödinger bridges
    with iterative reference refinement (Shen et al., 2025), where each held-out sample is compared with the
    model's particles at that time.

    Parameters
    ----------
    adata
        Snapshot data with numeric ``obs[time_key]`` and at least three distinct time points.
    holdout
        ``"odd"``, or the time points to hold out (each must be a time point of the data; matched up to a
        relative tolerance of 1e-6 so that float32-stored times match their decimal values).
    time_key
        Column of ``obs`` with the observation times.
    key_added
        Name of the ``obs`` column written, and of the ``uns`` entry recording the split.
    copy
        Return a labelled copy instead of writing into ``adata``.

    Returns
    -------
    AnnData or None
        The labelled copy when ``copy=True``, else ``None``. Writes ``obs[key_added]`` (categorical with
        categories ``["train", "heldout"]``) and ``uns[key_added]`` with ``holdout``, ``time_key``,
        ``train_times`` and ``heldout_times``.

    Raises
    ------
    ValueError
        If ``obs[time_key]`` is missing or not numeric, there are fewer than three distinct time points, a listed
        time point does not exist, or the split leaves no held-out time point or fewer than two training ones.

    References
    ----------
    Y. Shen, R. Berlinghieri, T. Broderick, "Multi-marginal Schrödinger bridges with iterative reference
    refinement", AISTATS 2025 (PMLR 258:3817-3825), arXiv:2408.06277.
    """
    validate_snapshots(adata, time_key, min_times=3)
    times = adata.obs[time_key].to_numpy(dtype=np.float64)
    distinct = np.unique(times)
    heldout = _heldout_times(distinct, holdout)
    train = np.setdiff1d(distinct, heldout)
    if train.size < 2:
        raise BadInputError(
            f"holdout leaves {train.size} training time point(s); at least two are needed (time points: "
            f"{distinct.tolist()})"
        )
    labels = np.where(np.isin(times, heldout), HELDOUT, TRAIN)
    out = adata.copy() if copy else adata
    out.obs[key_added] = pd.Categorical(labels, categories=[TRAIN, HELDOUT])
    out.uns[key_added] = {
        "holdout": holdout if isinstance(holdout, str) else "list",
        "time_key": time_key,
        "train_times": train,
        "heldout_times": heldout,
    }
    return out if copy else None
