r"""Policy evaluation in continuous time and space: the martingale approach of Jia & Zhou (JMLR 2022).

* :class:`PolicyData` (:mod:`.data`): trajectories (irregular grids, ragged lengths), running and terminal rewards;
* :class:`MartingalePolicyEvaluation` (:mod:`.estimator`): the value function :math:`J_\theta(t, x)` of a fixed
  policy (finite horizon, discounted or ergodic with the average reward :math:`V`), linear in features
  (:mod:`.features`: polynomial, RBF, user :math:`\phi(t, x)`) or a ``torch.nn.Module`` (an MLP or a user family);
* the methods, one per module: the martingale loss (:mod:`.martingale`), TD(0)/TD(:math:`\lambda`) (:mod:`.td`),
  LSTD(:math:`\lambda`) (:mod:`.lstd`), GTD/GTD2/TDC (:mod:`.gtd`), and the naive mean-square TD error
  (:mod:`.mstde`), the documented failure mode; TD errors in :mod:`.td_errors`, step sizes in :mod:`.schedules`,
  the exact blocks of epochs of the full-batch iterations in :mod:`.doubling`;
* :class:`PolicyConvergenceWarning`: an iterative method hit ``n_epochs`` before its MOC residual fell below ``tol``.
"""

from dynfer.estimators.policy.data import PolicyData, StepTable, as_policy_data
from dynfer.estimators.policy.estimator import MartingalePolicyEvaluation, PolicyConvergenceWarning

__all__ = ["MartingalePolicyEvaluation", "PolicyConvergenceWarning", "PolicyData", "StepTable", "as_policy_data"]
