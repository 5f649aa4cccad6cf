r"""``MartingalePolicyEvaluation``: policy evaluation in continuous time and space (Jia & Zhou, JMLR 2022).

Data are trajectories of a controlled diffusion :math:`dX_s = b\,ds + \sigma\,dW_s` under a fixed policy
(:class:`~.data.PolicyData`); the target is the value function

.. math:: J(t, x) = E\Big[\int_t^T e^{-\beta(s-t)}r(s, X_s)\,ds + e^{-\beta(T-t)}h(X_T)\,\Big|\,X_t = x\Big]

(finite horizon), its infinite-horizon discounted version (:math:`\beta > 0`), or the ergodic relative value with
the average reward :math:`V` ([paper] Jia & Zhou 2022, Sec. 2). :math:`J^\theta` is the value function iff
:math:`M^\theta_t = e^{-\beta t}J^\theta(t, X_t) + \int_0^t e^{-\beta s}r_s\,ds` is a martingale ([paper] Thm. 1),
and every method here is one way of imposing that on the data (see :mod:`dynfer.estimators.policy`).

References
----------
Jia, Y. & Zhou, X. Y. (2022). Policy evaluation and temporal-difference learning in continuous time and space: a
martingale approach. *JMLR* 23(154), 1-55. arXiv:2108.06655.
Jia, Y. & Zhou, X. Y. (2022). Policy gradient and actor-critic learning in continuous time and space: theory and
algorithms. *JMLR* 23(275), 1-50 (Sec. 3.1, the test functions and step sizes).
Sutton, R. S. et al. (2009). Fast gradient-descent methods for temporal-difference learning with linear function
approximation. *ICML* (GTD2, TDC).
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from dynfer._errors import BadInputError
from dynfer._validation import check_int, check_positive, progress
from dynfer.estimators._base import Estimator
from dynfer.estimators.policy.data import StepTable, as_policy_data
from dynfer.estimators.policy.doubling import doubled_iteration
from dynfer.estimators.policy.features import (
    CallableFeatures,
    LinearValue,
    MLPValue,
    ModuleValue,
    PolynomialFeatures,
    RBFFeatures,
)
from dynfer.estimators.policy.gtd import VARIANTS, GTDStats, gtd_step
from dynfer.estimators.policy.lstd import lstd, test_functions, trace_weight
from dynfer.estimators.policy.martingale import WEIGHTS, martingale_closed_form, martingale_loss, martingale_terms
from dynfer.estimators.policy.mstde import mstde_closed_form, mstde_loss
from dynfer.estimators.policy.schedules import check_schedule, step_size
from dynfer.estimators.policy.td import LinearStats, forward_view
from dynfer.estimators.policy.td_errors import StepTensors, linear_terms, td_errors

__all__ = ["MartingalePolicyEvaluation", "PolicyConvergenceWarning"]

METHODS = ("martingale", "td", "lstd", "gtd", "mstde")
SETTINGS = ("auto", "finite", "discounted", "ergodic")
FEATURE_NAMES = ("polynomial", "rbf", "mlp")
SOLVERS = ("auto", "closed_form", "gradient")
OPTIMIZERS = ("auto", "sgd", "adam")
LINEAR_EPOCHS = 2000  # caps of the epoch-by-epoch loop (mini-batches or a decaying schedule), which stops at tol
TDC_EPOCHS = 10000  # TDC's theta step carries a Delta t factor against GTD2's (see .gtd): slower to converge
DOUBLING_EPOCHS = 2**24  # cap of the full-batch constant-step iteration, run in blocks of 2^m epochs (.doubling)
GRADIENT_EPOCHS = 300
GRADIENT_LR = 1e-2


class PolicyConvergenceWarning(UserWarning):
    """An iterative policy-evaluation method reached ``n_epochs`` before its MOC residual fell below ``tol``."""


def _norm(matrix: torch.Tensor, what: str) -> float:
    """The spectral norm of a moment matrix, refused when zero or not finite (no automatic step size then)."""
    value = float(torch.linalg.matrix_norm(matrix, ord=2)) if bool(torch.isfinite(matrix).all()) else math.nan
    if not math.isfinite(value) or value <= 0.0:
        raise BadInputError("features", f"a degenerate {what} matrix on these data (norm {value!r})",
                            "features that vary along the trajectories (or pass learning_rate=)")
    return value


class MartingalePolicyEvaluation(Estimator):
    r"""Value function of a fixed policy from trajectories, by the martingale approach of Jia & Zhou (2022).

    Parameters
    ----------
    method
        * ``"martingale"``: the martingale loss ([paper] :math:`\mathrm{ML}(\theta)`, :mod:`.martingale`), in
          closed form for linear features, else by gradient Monte Carlo;
        * ``"td"``: TD(0) (``lam=0``) or TD(:math:`\lambda`) by stochastic approximation (:mod:`.td`);
        * ``"lstd"``: LSTD / LSTD(:math:`\lambda`) in closed form (linear features, :mod:`.lstd`);
        * ``"gtd"``: GTD (:math:`A = I`), GTD2 or TDC (``variant``; linear features, :mod:`.gtd`);
        * ``"mstde"``: the naive mean-square TD error, the documented failure mode (:mod:`.mstde`).
    features
        ``"polynomial"`` (monomials of :math:`x` up to ``degree``, times :math:`(T-t)^j` up to ``time_degree``),
        ``"rbf"`` (``n_centers`` Gaussian bumps and the constant), ``"mlp"`` (a network of width ``hidden``), a
        callable ``phi(t, x) -> (n, p)`` on torch tensors (linear in its output; AnnData cannot store it: pass it
        again when loading), or a ``torch.nn.Module`` value ``value(t, x) -> (n,)`` (its trained weights are
        stored; the module itself is passed again when loading, as for the bridges' references).
    degree
        Largest total degree of the polynomial features.
    time_degree
        Largest power of :math:`T - t` in the polynomial and RBF features (``"auto"``: 1 for a finite horizon, else
        0; must be 0 unless the horizon is finite).
    n_centers
        Number of RBF centres (drawn from the states with the seed).
    hidden
        Hidden widths of the ``"mlp"`` value.
    discount
        :math:`\beta \ge 0`.
    setting
        ``"finite"`` (terminal rewards needed; :math:`J^\theta(T, \cdot) := h`), ``"discounted"`` (:math:`\beta > 0`),
        ``"ergodic"`` (:math:`\beta = 0`; :math:`V` estimated alongside, :math:`J` up to a constant so the constant
        feature is dropped), or ``"auto"``: finite if terminal rewards are given, else discounted if
        ``discount > 0``, else ergodic.
    horizon
        :math:`T` of a finite horizon (``None``: the last time of the data; every trajectory must end there).
    lam
        Trace parameter :math:`\lambda \in [0, 1]` of TD(:math:`\lambda`) and LSTD(:math:`\lambda`) (0: the test
        function :math:`\partial_\theta J`).
    variant
        ``method="gtd"``: ``"gtd"`` (:math:`A = I`), ``"gtd2"`` or ``"tdc"``.
    weights
        Martingale loss: ``"reference"`` (the weights :math:`e^{-2\beta(t - t_0)}` of the reference) or
        ``"relative"`` (none).
    solver
        ``"auto"`` (closed form for linear features with ``"martingale"``, ``"lstd"`` and ``"mstde"``),
        ``"closed_form"`` or ``"gradient"`` (the autograd path, any value model).
    learning_rate
        Step size :math:`\alpha` of the iterative methods (``"auto"``: for linear TD/TDC
        :math:`0.5/\|A\|_2`, for GTD/GTD2 :math:`0.25/\|A^\top A\|_2` or :math:`0.25/\|A^\top M^{-1}A\|_2`, from the
        full-data moment matrices :math:`A` and :math:`M`; :math:`10^{-2}` with Adam for the gradient path).
    learning_rate_w
        GTD step :math:`\alpha_w` of the auxiliary :math:`w` (``"auto"``: 0.5 for GTD, :math:`0.5/\|M\|_2` else).
    schedule
        ``"constant"``, ``"power"`` (:math:`j^{-0.51}`) or ``"log"`` (:math:`1/\max\{1, \log j\}`); see
        :mod:`.schedules`.
    n_epochs
        Passes over the trajectories of the iterative methods: for linear TD/GTD/GTD2/TDC a cap (``"auto"``: 5000),
        the iteration stopping earlier once converged (``tol``); for the gradient path the number of passes
        (``"auto"``: 300).
    tol
        Linear TD/GTD/GTD2/TDC: stop after the first epoch whose relative MOC residual
        :math:`\|b + P\tilde\theta\|/\|b\|` (full data; :math:`b + P\tilde\theta = \sum_k\xi_k\delta_k`, zero at the
        LSTD root) is below ``tol``; a :class:`PolicyConvergenceWarning` if ``n_epochs`` is reached first. ``0``:
        run all ``n_epochs`` (no warning). Ignored by the closed forms and the gradient path.
    batch_size
        Trajectories per update (``None``: all, full-batch updates).
    optimizer
        Gradient path: ``"adam"``, ``"sgd"`` or ``"auto"`` (Adam).
    seed, device, dtype
        The contract's seed (RBF centres, MLP initial weights, batch order), device and dtype (the linear
        closed forms and moments are computed in float64; ``dtype`` is that of the value model).

    Attributes
    ----------
    coef_
        ``(p,)`` coefficients of a linear value (``None`` for a module value).
    average_reward_
        :math:`\hat V` (ergodic setting; ``None`` otherwise).
    setting_, horizon_
        The resolved setting and the horizon :math:`T` (``nan`` unless finite).
    feature_names_
        Names of the linear features (empty for a module value).
    value_model_
        The fitted ``torch.nn.Module`` :math:`J_\theta(t, x)`.
    history_
        ``{"loss": ...}``: per epoch, the objective of the method (for TD/GTD the norm of the moment
        :math:`T^{-1}\sum_k\xi_k\delta_k`); for linear TD/GTD with full batches and a constant step, per block of
        1, 2, 4, ... epochs (:mod:`.doubling`).
    dt_stats_
        Smallest, median, mean and largest :math:`\Delta t` of the data.

    Examples
    --------
    >>> import numpy as np
    >>> from dynfer.estimators.policy import MartingalePolicyEvaluation, PolicyData
    >>> rng = np.random.default_rng(0)
    >>> t = np.linspace(0.0, 1.0, 101)
    >>> x = np.cumsum(np.r_[0.0, rng.normal(0, 0.1, 100)])[None].repeat(3, 0)
    >>> data = PolicyData([t] * 3, list(x), [np.zeros(101)] * 3, terminal_rewards=x[:, -1] ** 2)
    >>> est = MartingalePolicyEvaluation("lstd").fit(data)
    >>> est.value(0.5, np.zeros(1)).shape
    (1,)
    """

    fitted_attributes: ClassVar[tuple[str, ...]] = (
        "coef_", "average_reward_", "setting_", "horizon_", "feature_names_", "value_model_", "history_",
        "dt_stats_", "seed_", "dtype_",
    )
    face: ClassVar[str] = "dynfer.tl.policy_evaluation"

    def __init__(
        self,
        method: str = "lstd",
        *,
        features: str | Callable[..., Any] | nn.Module = "polynomial",
        degree: int = 2,
        time_degree: int | str = "auto",
        n_centers: int = 10,
        hidden: tuple[int, ...] = (32, 32),
        discount: float = 0.0,
        setting: str = "auto",
        horizon: float | None = None,
        lam: float = 0.0,
        variant: str = "gtd2",
        weights: str = "reference",
        solver: str = "auto",
        learning_rate: float | str = "auto",
        learning_rate_w: float | str = "auto",
        schedule: str | float = "constant",
        n_epochs: int | str = "auto",
        tol: float = 1e-8,
        batch_size: int | None = None,
        optimizer: str = "auto",
        seed: int | torch.Generator | None = None,
        device: str | torch.device | None = None,
        dtype: torch.dtype | str | None = None,
    ) -> None:
        self.method = method
        self.features = features
        self.degree = degree
        self.time_degree = time_degree
        self.n_centers = n_centers
        self.hidden = hidden
        self.discount = discount
        self.setting = setting
        self.horizon = horizon
        self.lam = lam
        self.variant = variant
        self.weights = weights
        self.solver = solver
        self.learning_rate = learning_rate
        self.learning_rate_w = learning_rate_w
        self.schedule = schedule
        self.n_epochs = n_epochs
        self.tol = tol
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.seed = seed
        self.device = device
        self.dtype = dtype

    # ------------------------------------------------------------------ validation
    def _validated(self) -> dict[str, Any]:
        """The parameters checked (no data needed); raises :class:`BadInputError` naming the parameter."""
        if not isinstance(self.method, str) or self.method not in METHODS:
            raise BadInputError("method", repr(self.method), f"one of {list(METHODS)}")
        if not isinstance(self.setting, str) or self.setting not in SETTINGS:
            raise BadInputError("setting", repr(self.setting), f"one of {list(SETTINGS)}")
        f = self.features
        if isinstance(f, str):
            if f not in FEATURE_NAMES:
                raise BadInputError("features", repr(f), f"one of {list(FEATURE_NAMES)}, a callable phi(t, x) or a "
                                    "torch.nn.Module value(t, x)")
            kind = "mlp" if f == "mlp" else f
        elif isinstance(f, nn.Module):
            kind = "module"
        elif callable(f):
            kind = "callable"
        else:
            raise BadInputError("features", f"a {type(f).__name__}", f"one of {list(FEATURE_NAMES)}, a callable "
                                "phi(t, x) or a torch.nn.Module value(t, x)")
        linear = kind in ("polynomial", "rbf", "callable")
        beta = float(check_positive(self.discount, "discount", allow_zero=True))
        try:
            lam = float(self.lam)
        except (TypeError, ValueError):
            raise BadInputError("lam", repr(self.lam), "a number in [0, 1]") from None
        if isinstance(self.lam, bool) or not 0.0 <= lam <= 1.0:
            raise BadInputError("lam", repr(self.lam), "a number in [0, 1]")
        if self.variant not in VARIANTS:
            raise BadInputError("variant", repr(self.variant), f"one of {list(VARIANTS)}")
        if self.weights not in WEIGHTS:
            raise BadInputError("weights", repr(self.weights), f"one of {list(WEIGHTS)}")
        if self.solver not in SOLVERS:
            raise BadInputError("solver", repr(self.solver), f"one of {list(SOLVERS)}")
        if self.optimizer not in OPTIMIZERS:
            raise BadInputError("optimizer", repr(self.optimizer), f"one of {list(OPTIMIZERS)}")
        if self.method in ("lstd", "gtd") and not linear:
            raise BadInputError("features", f"a {kind} value with method={self.method!r}",
                                "linear features ('polynomial', 'rbf' or a callable phi(t, x)); use method "
                                "'martingale', 'td' or 'mstde' for a nonlinear value")
        if self.method in ("lstd", "gtd") and self.solver == "gradient":
            raise BadInputError("solver", f"'gradient' with method={self.method!r}", "'auto' or 'closed_form'")
        if self.solver == "closed_form" and (not linear or self.method in ("td", "gtd")):
            raise BadInputError("solver", f"'closed_form' with method={self.method!r} and a {kind} value",
                                "'auto' (a closed form exists for linear features with 'martingale', 'lstd', "
                                "'mstde')")
        if self.lam != 0 and self.method not in ("td", "lstd"):
            raise BadInputError("lam", repr(self.lam), f"0 with method={self.method!r} (traces are for 'td' and "
                                "'lstd')")
        degree = check_int(self.degree, "degree", 0)
        if isinstance(self.time_degree, str):
            if self.time_degree != "auto":
                raise BadInputError("time_degree", repr(self.time_degree), "'auto' or an integer >= 0")
            time_degree = None
        else:
            time_degree = check_int(self.time_degree, "time_degree", 0)
        n_centers = check_int(self.n_centers, "n_centers", 1)
        try:
            hidden = tuple(self.hidden)
        except TypeError:
            raise BadInputError("hidden", repr(self.hidden), "a tuple of positive layer widths") from None
        if any(isinstance(h, (bool, np.bool_)) or not isinstance(h, (int, np.integer)) or h < 1 for h in hidden):
            raise BadInputError("hidden", repr(self.hidden), "a tuple of positive layer widths")
        lr = None if isinstance(self.learning_rate, str) and self.learning_rate == "auto" else \
            check_positive(self.learning_rate, "learning_rate")
        lr_w = None if isinstance(self.learning_rate_w, str) and self.learning_rate_w == "auto" else \
            check_positive(self.learning_rate_w, "learning_rate_w")
        n_epochs = None if isinstance(self.n_epochs, str) and self.n_epochs == "auto" else \
            check_int(self.n_epochs, "n_epochs", 1)
        tol = float(check_positive(self.tol, "tol", allow_zero=True))
        batch = None if self.batch_size is None else check_int(self.batch_size, "batch_size", 1)
        horizon = None
        if self.horizon is not None:
            horizon = check_positive(self.horizon, "horizon", allow_zero=True) if not isinstance(self.horizon, bool) \
                else None
            if horizon is None:
                raise BadInputError("horizon", repr(self.horizon), "None or a finite number")
        closed = linear and self.method in ("martingale", "lstd", "mstde") and self.solver != "gradient"
        return {"kind": kind, "linear": linear, "beta": beta, "lam": lam, "degree": degree,
                "time_degree": time_degree, "n_centers": n_centers, "hidden": hidden, "lr": lr, "lr_w": lr_w,
                "schedule": check_schedule(self.schedule), "n_epochs": n_epochs, "tol": tol, "batch_size": batch,
                "horizon": horizon, "closed_form": closed}

    def _resolve_setting(self, table: StepTable, opts: dict[str, Any]) -> tuple[str, float]:
        setting = self.setting
        beta = opts["beta"]
        if setting == "auto":
            setting = "finite" if table.terminal is not None else "discounted" if beta > 0 else "ergodic"
        if setting == "finite":
            if table.terminal is None:
                raise BadInputError("terminal_rewards", "None with setting='finite'",
                                    "one terminal reward h(X_T) per trajectory")
            ends = table.last_times()
            horizon = float(ends.max()) if opts["horizon"] is None else float(opts["horizon"])
            scale = max(1.0, abs(horizon))
            off = np.abs(ends - horizon) > 1e-9 * scale
            if off.any():
                i = int(np.flatnonzero(off)[0])
                raise BadInputError("times", f"trajectory {i} ends at {ends[i]!r}, not at the horizon {horizon!r}",
                                    "every finite-horizon trajectory ending at T (where its terminal reward is "
                                    "observed)")
            return setting, horizon
        if table.terminal is not None:
            raise BadInputError("terminal_rewards", f"given with setting={setting!r}",
                                "None unless the horizon is finite (setting='finite' or 'auto')")
        if setting == "discounted" and beta <= 0:
            raise BadInputError("discount", repr(self.discount), "> 0 in the discounted setting")
        if setting == "ergodic" and beta != 0:
            raise BadInputError("discount", repr(self.discount), "0 in the ergodic setting (V replaces beta J)")
        return setting, math.nan

    # ------------------------------------------------------------------ value models
    def _build_model(self, opts: dict[str, Any], dim: int, table: StepTable | None, seed: int,
                     state: Mapping[str, Any] | None = None) -> tuple[nn.Module, list[str]]:
        """The value model (untrained, or with the structure of ``state``) and the linear feature names."""
        device, dtype = self._resolve_device(), self.dtype_
        kind, setting, horizon = opts["kind"], self.setting_, self.horizon_
        td = opts["time_degree"]
        td = (1 if setting == "finite" else 0) if td is None else td
        if td > 0 and setting != "finite":
            raise BadInputError("time_degree", repr(self.time_degree), "0 unless the horizon is finite")
        self._time_degree = td
        constant = setting != "ergodic"
        if kind in ("polynomial", "rbf", "callable"):
            if kind == "polynomial":
                feats: Any = PolynomialFeatures(dim, opts["degree"], time_degree=td, horizon=horizon,
                                                constant=constant)
                n_feat = len(feats.names)
            elif kind == "rbf":
                if state is not None:
                    feats = RBFFeatures(np.asarray(state["centres"]), float(state["width"]), time_degree=td,
                                        horizon=horizon, constant=constant)
                else:
                    feats = RBFFeatures.from_states(table.x, opts["n_centers"], seed, time_degree=td, horizon=horizon,
                                                    constant=constant)
                n_feat = len(feats.names)
            else:
                if state is not None:
                    n_feat = int(state["n_features"])
                else:
                    probe = CallableFeatures(self.features)(torch.as_tensor(table.t[:2], dtype=torch.float64),
                                                            torch.as_tensor(table.x[:2], dtype=torch.float64))
                    n_feat = int(probe.shape[1])
                feats = CallableFeatures(self.features, n_feat)
            model = LinearValue(feats, n_feat, dtype=dtype, device=device)
            return model, list(feats.names)
        if kind == "mlp":
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = MLPValue(dim, opts["hidden"], with_time=setting == "finite",
                                 horizon=0.0 if math.isnan(horizon) else horizon, dtype=dtype, device=device)
            if table is not None:
                z = model.inputs(torch.as_tensor(table.t, dtype=dtype, device=device),
                                 torch.as_tensor(table.x, dtype=dtype, device=device))
                model.mean.copy_(z.mean(0))
                model.scale.copy_(z.std(0).clamp_min(1e-8) if z.shape[0] > 1 else torch.ones_like(z[0]))
            return model, []
        module = copy.deepcopy(self.features).to(device=device, dtype=dtype)
        return ModuleValue(module), []

    # ------------------------------------------------------------------ fit
    def fit(self, data: Any) -> MartingalePolicyEvaluation:
        """Evaluate the policy on trajectory data.

        Parameters
        ----------
        data
            A :class:`~dynfer.estimators.policy.PolicyData` or a dict with its fields.

        Returns
        -------
        MartingalePolicyEvaluation
            ``self``.
        """
        opts = self._validated()
        self._resolve_dtype()
        seed = self._resolve_seed()
        table = as_policy_data(data)
        self.setting_, self.horizon_ = self._resolve_setting(table, opts)
        self._opts = opts
        model, names = self._build_model(opts, table.dim, table, seed)
        self.feature_names_ = names
        self.dt_stats_ = table.dt_stats()
        self._dim = table.dim
        beta = 0.0 if self.setting_ == "ergodic" else opts["beta"]
        if opts["linear"] and (opts["closed_form"] or self.method in ("td", "gtd")):
            theta, history = self._fit_linear(model, table, opts, beta)
        else:
            theta, history = self._fit_gradient(model, table, opts, beta, seed)
        ergodic = self.setting_ == "ergodic"
        if opts["linear"]:
            coef = theta[:-1] if ergodic else theta
            with torch.no_grad():
                model.coef.copy_(torch.as_tensor(coef, dtype=self.dtype_))
            self.coef_ = np.asarray(coef, dtype=np.float64)
        else:
            self.coef_ = None
        self.average_reward_ = float(theta[-1]) if ergodic else None
        self.value_model_ = model
        self.history_ = {"loss": np.asarray(history, dtype=np.float64)}
        return self

    def _features64(self, model: LinearValue, table: StepTable) -> torch.Tensor:
        dev = self._resolve_device()
        t = torch.as_tensor(table.t, dtype=torch.float64, device=dev)
        x = torch.as_tensor(table.x, dtype=torch.float64, device=dev)
        return model.features(t, x).to(torch.float64)

    def _batches(self, n_traj: int, batch: int | None, gen: np.random.Generator) -> list[np.ndarray | None]:
        if batch is None or batch >= n_traj:
            return [None]
        perm = gen.permutation(n_traj)
        return [perm[i : i + batch] for i in range(0, n_traj, batch)]

    def _fit_linear(self, model: LinearValue, table: StepTable, opts: dict[str, Any], beta: float
                    ) -> tuple[np.ndarray, list[float]]:
        feats = self._features64(model, table)
        terms = linear_terms(table, feats, self.setting_, beta)
        setting = self.setting_
        if self.method == "lstd":
            return lstd(terms, table, opts["lam"], setting).cpu().numpy(), []
        if self.method == "mstde":
            theta = mstde_closed_form(terms)
            delta = terms.c + terms.a @ theta
            return theta.cpu().numpy(), [float((delta**2).sum() / terms.dt.sum())]
        if self.method == "martingale":
            mt = martingale_terms(table, setting, beta, self.weights)
            return martingale_closed_form(mt, feats, table).cpu().numpy(), []
        gen = np.random.default_rng(self.seed_)
        n_epochs = opts["n_epochs"] or (TDC_EPOCHS if self.method == "gtd" and self.variant == "tdc" else LINEAR_EPOCHS)
        if self.method == "td":
            xi = test_functions(terms, table, opts["lam"], setting, normalise=True)
            stats: LinearStats = LinearStats(table, xi, terms.a, terms.c)
        else:
            xi = test_functions(terms, table, 0.0, setting)
            stats = GTDStats(table, xi, terms, setting, beta)
        P, b, T = stats.batch(None)
        A = -P / T
        lr, lr_w = opts["lr"], opts["lr_w"]
        if self.method == "td" or self.variant == "tdc":
            lr = lr or 0.5 / _norm(A, "TD moment")
        if self.method == "gtd":
            M = stats.M.sum(0) / T
            try:
                H = A.T @ A if self.variant == "gtd" else A.T @ torch.linalg.solve(M, A)
            except RuntimeError:  # a singular M: features that vanish on the data
                H = torch.full_like(A, math.nan)
            lr = lr or 0.25 / _norm(H, "GTD")
            lr_w = lr_w or (0.5 if self.variant == "gtd" else 0.5 / _norm(M, "GTD2 weighting"))
        theta = torch.zeros(A.shape[1], dtype=torch.float64, device=A.device)
        w = torch.zeros(xi.shape[1], dtype=torch.float64, device=A.device)
        history, j, converged = [], 0, False
        scale = max(float(torch.linalg.vector_norm(b)), torch.finfo(b.dtype).tiny) / float(T)
        full = {"td": (P, b, T)} if self.method == "td" else {"gtd": stats.sums(None)}
        p = theta.shape[0]

        def residual(z: torch.Tensor) -> float:
            return float(torch.linalg.vector_norm((b + P @ z[:p]) / T))

        if opts["schedule"] == "constant" and (opts["batch_size"] is None or opts["batch_size"] >= table.n_traj):
            if self.method == "td":
                def epoch(z: torch.Tensor) -> torch.Tensor:
                    return z + lr * (b + P @ z) / T
                z0 = theta
            else:
                def epoch(z: torch.Tensor) -> torch.Tensor:
                    return torch.cat(gtd_step(z[:p], z[p:], full["gtd"], self.variant, lr, lr_w))
                z0 = torch.cat([theta, w])
            cap = opts["n_epochs"] or DOUBLING_EPOCHS
            z, history, converged = doubled_iteration(epoch, z0, cap, residual, opts["tol"] * scale)
            if not math.isfinite(history[-1]):
                raise BadInputError("learning_rate", f"{lr!r} (the iteration diverged)",
                                    "a smaller learning_rate, or learning_rate='auto'")
            self._warn_unconverged(converged, cap, history[-1] / scale, opts["tol"])
            return z[:p].cpu().numpy(), history
        for _ in progress(range(n_epochs), desc=f"policy evaluation ({self.method})"):
            for rows in self._batches(table.n_traj, opts["batch_size"], gen):
                j += 1
                idx = None if rows is None else torch.as_tensor(rows, device=A.device)
                alpha = step_size(lr, j, opts["schedule"])
                if self.method == "td":
                    Pb, bb, Tb = full["td"] if idx is None else stats.batch(idx)
                    theta = theta + alpha * (bb + Pb @ theta) / Tb
                else:
                    alpha_w = step_size(lr_w, j, opts["schedule"])
                    sums = full["gtd"] if idx is None else stats.sums(idx)
                    theta, w = gtd_step(theta, w, sums, self.variant, alpha, alpha_w)
            moment = (b + P @ theta) / T
            history.append(float(torch.linalg.vector_norm(moment)))
            if not math.isfinite(history[-1]):
                raise BadInputError("learning_rate", f"{lr!r} (the iteration diverged)",
                                    "a smaller learning_rate, or learning_rate='auto'")
            if history[-1] < opts["tol"] * scale:
                converged = True
                break
        self._warn_unconverged(converged, n_epochs, history[-1] / scale, opts["tol"])
        return theta.cpu().numpy(), history

    def _warn_unconverged(self, converged: bool, n_epochs: int, relative: float, tol: float) -> None:
        if converged or tol <= 0:
            return
        name = "tdc" if self.method == "gtd" and self.variant == "tdc" else self.method
        warnings.warn(f"{name}: n_epochs={n_epochs} reached with the relative MOC residual {relative:.3g} above "
                      f"tol={tol:g}; raise n_epochs or learning_rate (the estimate is not yet the LSTD root)",
                      PolicyConvergenceWarning, stacklevel=4)

    def _fit_gradient(self, model: nn.Module, table: StepTable, opts: dict[str, Any], beta: float, seed: int
                      ) -> tuple[np.ndarray, list[float]]:
        device, dtype = self._resolve_device(), self.dtype_
        setting = self.setting_
        ergodic = setting == "ergodic"
        avg = torch.zeros((), dtype=dtype, device=device, requires_grad=True) if ergodic else None
        params = [p for p in model.parameters() if p.requires_grad] + ([avg] if ergodic else [])
        if not params:
            raise BadInputError("features", "a value model without trainable parameters", "a module with parameters")
        lr = opts["lr"] or GRADIENT_LR
        opt_name = "adam" if self.optimizer == "auto" else self.optimizer
        optim = torch.optim.Adam(params, lr=lr) if opt_name == "adam" else torch.optim.SGD(params, lr=lr)
        gen = np.random.default_rng(seed)
        n_epochs = opts["n_epochs"] or GRADIENT_EPOCHS
        lam = opts["lam"]
        c_lam = trace_weight(table, lam) if lam > 0 else 1.0
        cache: dict[str, Any] = {}

        def prepared(rows: np.ndarray | None) -> dict[str, Any]:
            if rows is None and cache:
                return cache
            sub = table if rows is None else table.subset(rows)
            out = {"table": sub, "t": torch.as_tensor(sub.t, dtype=dtype, device=device),
                   "x": torch.as_tensor(sub.x, dtype=dtype, device=device),
                   "T": float(sub.dt.sum()), "steps": StepTensors.of(sub, dtype, device)}
            if self.method == "martingale":
                out["mt"] = martingale_terms(sub, setting, beta, self.weights)
            if rows is None:
                cache.update(out)
            return out

        history, j = [], 0
        for _ in progress(range(n_epochs), desc=f"policy evaluation ({self.method})"):
            losses = []
            for rows in self._batches(table.n_traj, opts["batch_size"], gen):
                j += 1
                p = prepared(rows)
                for group in optim.param_groups:
                    group["lr"] = step_size(lr, j, opts["schedule"])
                values = model(p["t"], p["x"])
                if self.method == "martingale":
                    loss = martingale_loss(values, p["mt"], avg)
                    report = loss
                elif self.method == "mstde":
                    loss = mstde_loss(td_errors(values, p["steps"], setting, beta, avg), p["T"])
                    report = loss
                else:  # semi-gradient TD: gradient -T^-1 sum xi_k delta_k, delta detached
                    delta = td_errors(values, p["steps"], setting, beta, avg).detach()
                    if lam > 0:
                        d = forward_view(delta.cpu().numpy().astype(np.float64), p["table"], lam)
                        weight = p["steps"].dt * torch.as_tensor(d, dtype=dtype, device=device) / c_lam
                    else:
                        weight = delta
                    loss = -(values[p["steps"].frm] * weight).sum() / p["T"]
                    if ergodic:
                        loss = loss - avg * delta.sum() / p["T"]
                    report = (delta**2).sum() / p["T"]
                optim.zero_grad()
                loss.backward()
                optim.step()
                losses.append(float(report.detach()))
            history.append(float(np.mean(losses)))
            if not math.isfinite(history[-1]):
                raise BadInputError("learning_rate", f"{lr!r} (the loss diverged)", "a smaller learning_rate")
        theta = np.array([float(avg.detach())]) if ergodic else np.zeros(0)
        if isinstance(model, LinearValue):
            theta = np.concatenate([model.coef.detach().cpu().numpy().astype(np.float64), theta])
        return theta, history

    # ------------------------------------------------------------------ use
    def value(self, t: Any, x: Any) -> np.ndarray:
        r"""The fitted value :math:`J_\theta(t, x)`, batched.

        Parameters
        ----------
        t
            A scalar or ``(n,)`` times (ignored by time-homogeneous values).
        x
            ``(n, d)`` states, or ``(n,)`` for ``d = 1``.

        Returns
        -------
        numpy.ndarray
            ``(n,)`` values (float64).
        """
        self._check_fitted("value")
        try:
            xa = np.asarray(x, dtype=np.float64)
            ta = np.asarray(t, dtype=np.float64)
        except (TypeError, ValueError):
            raise BadInputError("x", "non-numeric t or x", "numbers") from None
        if xa.ndim == 1 and self._dim == 1:
            xa = xa[:, None]
        elif xa.ndim == 1 and xa.shape[0] == self._dim:
            xa = xa[None]
        if xa.ndim != 2 or xa.shape[1] != self._dim:
            raise BadInputError("x", f"shape {xa.shape}", f"(n, {self._dim}) states")
        if ta.ndim == 0:
            ta = np.full(xa.shape[0], float(ta))
        if ta.shape != (xa.shape[0],):
            raise BadInputError("t", f"shape {ta.shape}", f"a scalar or ({xa.shape[0]},) times")
        if not (np.isfinite(xa).all() and np.isfinite(ta).all()):
            raise BadInputError("x", "NaN or infinite t or x", "finite values")
        dev, dtype = self._resolve_device(), self.dtype_
        with torch.no_grad():
            out = self.value_model_(torch.as_tensor(ta, dtype=dtype, device=dev),
                                    torch.as_tensor(xa, dtype=dtype, device=dev))
        return out.detach().cpu().numpy().astype(np.float64)

    # ------------------------------------------------------------------ state
    def _get_state(self) -> dict[str, Any]:
        kind = self._opts["kind"]
        state: dict[str, Any] = {
            "kind": kind, "setting": self.setting_, "horizon": float(self.horizon_), "dim": int(self._dim),
            "time_degree": int(self._time_degree), "seed": int(self.seed_),
            "dtype": str(self.dtype_).removeprefix("torch."),
            "average_reward": math.nan if self.average_reward_ is None else float(self.average_reward_),
            "feature_names": "\n".join(self.feature_names_),
            "history": {k: np.asarray(v) for k, v in self.history_.items()},
            "dt_stats": {k: float(v) for k, v in self.dt_stats_.items()},
        }
        if self.coef_ is not None:
            state["coef"] = np.asarray(self.coef_, dtype=np.float64)
            state["n_features"] = int(len(self.coef_))
            feats = self.value_model_.features
            if kind == "rbf":
                state["centres"] = np.asarray(feats.centres)
                state["width"] = float(feats.width)
        else:
            state["module"] = {k: v.detach().cpu().numpy() for k, v in self.value_model_.state_dict().items()}
        return state

    def _set_state(self, state: Mapping[str, Any]) -> None:
        opts = self._validated()
        self.dtype_ = getattr(torch, str(state["dtype"]))
        self.seed_ = int(state["seed"])
        self.setting_ = str(state["setting"])
        self.horizon_ = float(state["horizon"])
        self._dim = int(state["dim"])
        if str(state["kind"]) != opts["kind"]:
            raise BadInputError("features", f"a {opts['kind']} value", f"the {state['kind']} value of the fit")
        opts = {**opts, "time_degree": int(state["time_degree"])}
        self._opts = opts
        model, names = self._build_model(opts, self._dim, None, self.seed_, state)
        dev = self._resolve_device()
        if opts["linear"]:
            coef = torch.as_tensor(np.asarray(state["coef"], dtype=np.float64))
            with torch.no_grad():
                model.coef.copy_(coef.to(device=dev, dtype=self.dtype_))
            self.coef_ = coef.numpy().astype(np.float64)
        else:
            model.load_state_dict({k: torch.as_tensor(v) for k, v in state["module"].items()})
            self.coef_ = None
        self.value_model_ = model
        self.feature_names_ = names if names else [n for n in str(state["feature_names"]).split("\n") if n]
        avg = float(state["average_reward"])
        self.average_reward_ = None if math.isnan(avg) else avg
        self.history_ = {k: np.asarray(v, dtype=np.float64) for k, v in state["history"].items()}
        self.dt_stats_ = {k: float(v) for k, v in state["dt_stats"].items()}

    def results(self) -> dict[str, Any]:
        """Plain data: ``coef``, ``feature_names``, ``average_reward``, ``loss``, ``method``, ``setting``, Δt stats."""
        self._check_fitted("results")
        return {
            "method": str(self.method), "setting": str(self.setting_),
            "coef": np.zeros(0) if self.coef_ is None else np.asarray(self.coef_, dtype=np.float64),
            "feature_names": np.array(self.feature_names_, dtype=str),
            "average_reward": math.nan if self.average_reward_ is None else float(self.average_reward_),
            "horizon": float(self.horizon_), "discount": float(self._opts["beta"]),
            "loss": np.asarray(self.history_["loss"], dtype=np.float64),
            "dt_min": self.dt_stats_["min"], "dt_median": self.dt_stats_["median"],
            "dt_mean": self.dt_stats_["mean"], "dt_max": self.dt_stats_["max"],
        }
