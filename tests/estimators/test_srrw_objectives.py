"""ShardedObjective: sharding, per-node statistics, gradients, Hessians and exact minimisers.

Every reference is computed here from the definitions with plain numpy (weighted lstsq, finite differences, the
logistic gradient written out), independently of the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dynfer._errors import BadInputError
from dynfer.estimators.srrw.objectives import ShardedObjective


def data(n=60, p=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    return x, x @ rng.normal(size=p) + rng.normal(size=n)


def test_default_sharding_is_contiguous_even_blocks():
    x, y = data(10)
    obj = ShardedObjective(x, y, graph_nodes=3)
    np.testing.assert_array_equal(obj.node_index, [0, 0, 0, 0, 1, 1, 1, 2, 2, 2])  # floor(r * 3 / 10)
    np.testing.assert_array_equal(obj.counts, [4, 3, 3])


def test_least_squares_theta_star_node_and_row_weighting():
    x, y = data(50, 3)
    node_of = np.r_[np.zeros(5, int), np.ones(15, int), np.full(30, 2)]  # unequal shards
    mu = np.array([0.5, 0.3, 0.2])
    obj = ShardedObjective(x, y, graph_nodes=3, node_of=node_of, target=mu)
    # node weighting: minimise sum_i mu_i (1/n_i) sum_r (x_r theta - y_r)^2 / 2: weighted lstsq with sqrt weights
    v = np.sqrt(mu[node_of] / np.bincount(node_of)[node_of])
    want = np.linalg.lstsq(x * v[:, None], y * v, rcond=None)[0]
    np.testing.assert_allclose(obj.theta_star(), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(obj.gradient(want), 0.0, atol=1e-12)
    # row weighting: ordinary least squares on the pooled rows
    row = ShardedObjective(x, y, graph_nodes=3, node_of=node_of, weighting="row")
    np.testing.assert_allclose(row.theta_star(), np.linalg.lstsq(x, y, rcond=None)[0], rtol=1e-10)
    np.testing.assert_allclose(row.weights, [0.1, 0.3, 0.6])
    assert not np.allclose(row.theta_star(), obj.theta_star(), atol=1e-3)


def test_ridge_theta_star_and_node_gradients():
    x, y = data(40, 3, seed=1)
    lam = 0.7
    obj = ShardedObjective(x, y, graph_nodes=4, l2=lam)  # 10 rows per node, uniform weights: same as pooled
    want = np.linalg.solve(x.T @ x / 40 + lam * np.eye(3), x.T @ y / 40)
    np.testing.assert_allclose(obj.theta_star(), want, rtol=1e-10)
    theta = np.array([0.3, -1.0, 2.0])
    h = obj.node_gradients(theta)
    for i in range(4):
        xi, yi = x[10 * i: 10 * i + 10], y[10 * i: 10 * i + 10]
        np.testing.assert_allclose(h[i], -(xi.T @ (xi @ theta - yi) / 10 + lam * theta), rtol=1e-12)
    np.testing.assert_allclose(obj.hessian(theta), x.T @ x / 40 + lam * np.eye(3), rtol=1e-12)


def logistic_data(n=200, p=3, seed=2):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    y = (rng.random(n) < 1 / (1 + np.exp(-x @ np.array([1.0, -2.0, 0.5])))).astype(float)
    return x, y


def test_logistic_newton_meets_the_gradient_condition():
    x, y = logistic_data()
    node_of = np.arange(200) % 7
    obj = ShardedObjective(x, y, graph_nodes=7, node_of=node_of, loss="logistic", l2=0.01)
    th = obj.theta_star()
    counts = np.bincount(node_of)
    v = (1 / 7) / counts[node_of]
    grad = x.T @ (v * (1 / (1 + np.exp(-x @ th)) - y)) + 0.01 * th  # written out independently
    assert np.linalg.norm(grad) < 1e-12
    # the Hessian equals central differences of that gradient
    def g(t):
        return x.T @ (v * (1 / (1 + np.exp(-x @ t)) - y)) + 0.01 * t
    fd = np.stack([(g(th + 1e-6 * e) - g(th - 1e-6 * e)) / 2e-6 for e in np.eye(3)], axis=1)
    np.testing.assert_allclose(obj.hessian(th), fd, rtol=1e-6, atol=1e-9)
    # -1/1 labels are read as 0/1
    obj2 = ShardedObjective(x, 2 * y - 1, graph_nodes=7, node_of=node_of, loss="logistic", l2=0.01)
    np.testing.assert_allclose(obj2.theta_star(), th, rtol=1e-12)


def test_separable_logistic_without_l2_has_no_minimiser():
    x = np.r_[np.linspace(1, 2, 10), -np.linspace(1, 2, 10)][:, None]
    y = np.r_[np.ones(10), np.zeros(10)]
    with pytest.raises(BadInputError, match="l2 > 0"):
        ShardedObjective(x, y, graph_nodes=2, loss="logistic").theta_star()


def test_callable_gradient_reaches_the_least_squares_minimiser():
    x, y = data(30, 3, seed=4)
    obj_ls = ShardedObjective(x, y, graph_nodes=3, l2=0.2)
    a, b = obj_ls.node_statistics()
    at, bt = torch.as_tensor(a), torch.as_tensor(b)

    def grad(theta, node):
        return torch.bmm(at[node], theta[:, :, None])[:, :, 0] - bt[node]

    obj = ShardedObjective(x, None, graph_nodes=3, loss=grad, l2=0.2)
    np.testing.assert_allclose(obj.theta_star(), obj_ls.theta_star(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(obj.hessian(np.zeros(3)), obj_ls.hessian(np.zeros(3)), rtol=1e-9)

    def numpy_grad(theta, node):  # not differentiable by torch: central differences are used
        return torch.as_tensor(np.einsum("rij,rj->ri", a[node.numpy()], theta.numpy()) - b[node.numpy()])

    obj_np = ShardedObjective(x, None, graph_nodes=3, loss=numpy_grad, l2=0.2)
    np.testing.assert_allclose(obj_np.theta_star(), obj_ls.theta_star(), rtol=1e-7, atol=1e-9)


def test_node_labels_in_node_of():
    x, y = data(6, 2)
    obj = ShardedObjective(x, y, graph_nodes=["a", "b"], node_of=["b", "a", "b", "a", "a", "a"])
    np.testing.assert_array_equal(obj.counts, [4, 2])
    with pytest.raises(BadInputError, match="node_of"):
        ShardedObjective(x, y, graph_nodes=["a", "b"], node_of=["a", "c", "a", "a", "a", "a"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"y": np.zeros(5)}, "y"),
        ({"X": np.full((6, 2), np.nan)}, "X"),
        ({"y": np.r_[np.nan, np.zeros(5)]}, "y"),
        ({"node_of": np.zeros(6, int)}, "without data"),
        ({"graph_nodes": 7}, "without data"),
        ({"loss": "hinge"}, "loss"),
        ({"loss": 3}, "loss"),
        ({"l2": -1.0}, "l2"),
        ({"weighting": "rows"}, "weighting"),
        ({"weighting": "row", "target": [1, 1]}, "target"),
        ({"target": [1, -1]}, "target"),
        ({"target": [1, 1, 1]}, "target"),
        ({"node_of": np.r_[0, 1, 2, 0, 1, 0]}, "node_of"),
        ({"node_of": np.zeros(5, int)}, "node_of"),
        ({"loss": "logistic"}, "labels"),
        ({"graph_nodes": 0}, "graph_nodes"),
        ({"X": np.zeros(6)}, "X"),
    ],
)
def test_bad_input(kwargs, match):
    x, y = data(6, 2)
    args = {"X": x, "y": y, "graph_nodes": 2, **kwargs}
    with pytest.raises(BadInputError, match=match):
        ShardedObjective(**args)
