"""Distributed SA-SRRW for real: two gloo processes, each holding half the agents, equal one process, same seed.

The tokens' node paths and measures must agree exactly in distribution-free terms (same draws): the comparison is
to 1e-12 (float64), the bound the brief allows for the rounding of vectorised kernels on batches of other sizes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist

from dynfer.estimators.srrw.estimator import SelfRepellentSGD

WORKER = Path(__file__).with_name("_srrw_dist_worker.py")


@pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()), reason="needs torch.distributed gloo")
def test_two_processes_equal_one(tmp_path, torchrun):
    run_torchrun, load_worker = torchrun
    run_torchrun(WORKER, tmp_path, timeout=240)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]

    g, x, y, node_of, cases = load_worker(WORKER).problem()
    for name, params in cases.items():
        yy = (y > np.median(y)).astype(float) if params.get("loss") == "logistic" else y
        ref = SelfRepellentSGD(**params).fit(g, x, yy, node_of)
        for r in ranks:
            got = r[name]
            assert got["world"] == 2
            assert got["handoffs"] > 3 * params["n_runs"], name  # tokens really crossed between the ranks
            np.testing.assert_allclose(got["theta"].numpy(), ref.theta_, rtol=0, atol=1e-12, err_msg=name)
            np.testing.assert_allclose(got["x"].numpy(), ref.x_, rtol=0, atol=1e-12, err_msg=name)
            np.testing.assert_allclose(got["errors"].numpy(), ref.errors_, rtol=1e-12, atol=1e-14, err_msg=name)
        assert torch.equal(ranks[0][name]["theta"], ranks[1][name]["theta"])
