"""Data-parallel training for real: two gloo processes under torchrun equal one process on the global batches."""

import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from dynfer.training import fit

WORKER = Path(__file__).with_name("_ddp_worker.py")


@pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()), reason="needs torch.distributed gloo")
def test_two_processes_equal_one(tmp_path, torchrun):
    run_torchrun, load_worker = torchrun
    run_torchrun(WORKER, tmp_path, timeout=120)

    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["last.pt"]  # rank 0 alone wrote, atomically

    model, loss_fn, data, kwargs = load_worker(WORKER).problem()
    ref = fit(model, loss_fn, data, **kwargs)
    assert len(ref.train_loss) == len(ranks[0]["history"]["train_loss"]) == kwargs["max_steps"]
    for name, want in model.state_dict().items():
        assert torch.equal(ranks[0]["state"][name], ranks[1]["state"][name]), name
        torch.testing.assert_close(ranks[0]["state"][name], want, rtol=0, atol=1e-6)
    for key in ("train_loss", "val_loss", "lr"):
        torch.testing.assert_close(
            torch.tensor(ranks[0]["history"][key]), torch.tensor(ref.history[key]), rtol=1e-9, atol=1e-12
        )
    assert ranks[0]["history"]["val_step"] == ref.history["val_step"]


def test_batch_size_must_split_over_ranks(monkeypatch):
    from dynfer.training import distributed as ddp_mod
    from dynfer.training import loop

    monkeypatch.setattr(loop, "setup_distributed", lambda enabled, device: ddp_mod.DistributedContext(0, 3, 0))
    x = torch.zeros(20, 2)
    with pytest.raises(ValueError, match=r"batch_size \(8\) must be divisible by the number of processes \(3\)"):
        fit(torch.nn.Linear(2, 1), lambda m, b: m(b).mean(), x, batch_size=8, max_steps=1, device="cpu")
