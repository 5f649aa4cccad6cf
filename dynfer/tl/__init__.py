"""Tools on AnnData, scanpy style: thin faces over the array-level estimators.

* :func:`schrodinger_bridge` — multi-marginal Schrödinger bridge with iterative reference refinement; also writes
  the learned drift at every cell (``obsm[f"{key}_drift"]``, for scvelo / CellRank plots) and a row-stochastic
  cell-cell transition matrix (``obsp[f"{key}_transitions"]``, for ``cellrank.kernels.PrecomputedKernel``);
* :func:`interpolate` — particles of a fitted bridge at any time (or one), named as the fitted representation;
* :func:`entropy_production` — entropy production rate, probability-flow velocity and local production from a
  learned score (samples or particle frames with a known drift);
* :func:`mjp` — rate matrix of a Markov jump process from state paths (maximum likelihood or the foundation model);
* :func:`policy_evaluation` — the value function of a fixed policy from trajectories of a controlled diffusion
  (martingale loss, TD(λ), LSTD, GTD, and MSTDE as the negative example); :func:`policy_value` evaluates the
  stored model, :func:`policy_dt_convergence` refits on coarser grids (the Δt-convergence curve);
* :func:`srrw_optimize` — SA-SRRW: a token on a graph of agents holding data shards minimises their loss, steered
  by a self-repellent random walk (arrays in, a dict out: its data are not cells);
* :func:`load_estimator` / :func:`store_estimator` — the fitted estimator stored in ``uns[key]`` (every face stores
  its model this way and loads it back, never refitting); :class:`InputsChangedError` when the data changed since.
"""

from dynfer.tl._entropy_production import entropy_production
from dynfer.tl._mjp import mjp
from dynfer.tl._policy_evaluation import policy_dt_convergence, policy_evaluation, policy_value
from dynfer.tl._schrodinger_bridge import interpolate, schrodinger_bridge
from dynfer.tl._srrw_optimize import srrw_optimize
from dynfer.tl._store import InputsChangedError, load_estimator, store_estimator

__all__ = ["InputsChangedError", "entropy_production", "interpolate", "load_estimator", "mjp", "policy_dt_convergence",
           "policy_evaluation", "policy_value", "schrodinger_bridge", "srrw_optimize", "store_estimator"]
