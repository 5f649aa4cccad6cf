"""Checkpoints: atomic writes, and a run killed half-way then resumed equals an uninterrupted run bit for bit."""

import os

import pytest
import torch

from dynfer.nn import MLP
from dynfer.training import CHECKPOINT_NAME, fit, load_checkpoint, save_checkpoint


def data(n=400, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=gen)
    y = torch.sin(x[:, :2]) + 0.1 * torch.randn(n, 2, generator=gen)
    return x, y


def mse(model, batch):
    return ((model(batch[0]) - batch[1]) ** 2).mean()


class Killed(Exception):
    pass


class KillAt:
    """A loss that raises (a stand-in for the process being killed) at training call ``at`` (0-based)."""

    def __init__(self, at=None):
        self.at, self.calls = at, 0

    def __call__(self, model, batch):
        if model.training:
            if self.calls == self.at:
                raise Killed
            self.calls += 1
        return mse(model, batch)


def new_model(init_seed):
    torch.manual_seed(init_seed)  # a different initialisation: resuming must overwrite it
    return MLP(3, 2, hidden=(32, 32), dropout=0.1, device="cpu")


KW = {
    "batch_size": 32,
    "max_steps": 100,
    "lr": 3e-3,
    "weight_decay": 1e-2,
    "schedule": "warmup_cosine",
    "warmup_steps": 10,
    "grad_clip": 1.0,
    "eval_every": 10,
    "patience": 50,
    "seed": 11,
    "device": "cpu",
}


def params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_killed_then_resumed_equals_uninterrupted(tmp_path, device):
    x, y = data()
    train, val = (x[:300], y[:300]), (x[300:], y[300:])
    kw = {**KW, "device": device}
    ref_model = new_model(0)
    ref = fit(ref_model, mse, train, val_data=val, **kw)

    ckpt = tmp_path / "run"
    with pytest.raises(Killed):  # dies at step 55, after the checkpoint of step 50
        fit(new_model(0), KillAt(55), train, val_data=val, checkpoint_dir=ckpt, checkpoint_every=25, **kw)
    assert load_checkpoint(ckpt / CHECKPOINT_NAME)["step"] == 50

    model = new_model(1)
    res = fit(model, KillAt(), train, val_data=val, checkpoint_dir=ckpt, checkpoint_every=25, **kw)
    assert res.resumed_from == 50 and ref.resumed_from is None
    assert res.steps_run == ref.steps_run == 100
    assert res.history == ref.history
    assert (res.best_step, res.best_val_loss) == (ref.best_step, ref.best_val_loss)
    for k, v in params(ref_model).items():
        assert torch.equal(model.state_dict()[k], v), k

    # the finished run's checkpoint is final: calling again trains nothing and gives the same model
    again = new_model(2)
    res2 = fit(again, mse, train, val_data=val, checkpoint_dir=ckpt, **kw)
    assert res2.resumed_from == 100 and res2.steps_run == 100 and res2.history == ref.history
    for k, v in params(ref_model).items():
        assert torch.equal(again.state_dict()[k], v), k


def test_resume_without_validation_and_training_longer(tmp_path):
    x, y = data()
    kw = {"batch_size": 16, "lr": 1e-2, "seed": 3, "device": "cpu"}
    ref_model = new_model(0)
    ref = fit(ref_model, mse, (x, y), max_steps=60, **kw)
    first = fit(new_model(0), mse, (x, y), max_steps=30, checkpoint_dir=tmp_path, **kw)
    assert first.steps_run == 30
    model = new_model(5)
    with _no_warnings():  # a constant schedule may be extended silently
        res = fit(model, mse, (x, y), max_steps=60, checkpoint_dir=tmp_path, **kw)
    assert res.resumed_from == 30 and res.history == ref.history
    for k, v in params(ref_model).items():
        assert torch.equal(model.state_dict()[k], v), k


def test_early_stopped_checkpoint_stays_stopped(tmp_path):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 1, generator=gen, dtype=torch.float64)
    xv = torch.randn(64, 1, generator=gen, dtype=torch.float64)

    def run():
        model = torch.nn.Linear(1, 1, bias=False, dtype=torch.float64)
        torch.nn.init.zeros_(model.weight)
        res = fit(
            model,
            mse,
            (x, 2 * x),
            val_data=(xv, xv),
            batch_size=64,
            max_steps=500,
            optimizer=torch.optim.SGD,
            lr=0.02,
            eval_every=2,
            patience=3,
            seed=0,
            device="cpu",
            checkpoint_dir=tmp_path,
        )
        return model, res

    m1, r1 = run()
    m2, r2 = run()
    assert r1.stopped_early and r2.stopped_early and r2.resumed_from == r1.steps_run
    assert r2.best_step == r1.best_step and torch.equal(m1.weight, m2.weight)


def test_resume_false_starts_afresh_and_mismatch_raises(tmp_path):
    x, y = data()
    fit(new_model(0), mse, (x, y), batch_size=16, max_steps=10, seed=0, device="cpu", checkpoint_dir=tmp_path)
    res = fit(
        new_model(0),
        mse,
        (x, y),
        batch_size=16,
        max_steps=12,
        seed=0,
        device="cpu",
        checkpoint_dir=tmp_path,
        resume=False,
    )
    assert res.resumed_from is None and load_checkpoint(tmp_path / CHECKPOINT_NAME)["step"] == 12
    with pytest.raises(ValueError, match="400 rows, now 200"):
        fit(new_model(0), mse, (x[:200], y[:200]), batch_size=16, max_steps=20, device="cpu", checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="does not fit this model"):
        fit(torch.nn.Linear(3, 2), mse, (x, y), batch_size=16, max_steps=20, device="cpu", checkpoint_dir=tmp_path)
    with pytest.warns(UserWarning, match="changed settings.*lr"):
        fit(new_model(0), mse, (x, y), batch_size=16, max_steps=20, lr=0.1, device="cpu", checkpoint_dir=tmp_path)


def test_atomic_save_and_bad_files(tmp_path):
    path = tmp_path / "sub" / "last.pt"
    state = {"format": 1, "step": 3, "w": torch.arange(4)}
    save_checkpoint(state, path)
    assert torch.equal(load_checkpoint(path)["w"], torch.arange(4))
    with pytest.raises(Exception):  # noqa: B017 - whatever pickling raises, the old file must survive
        save_checkpoint({"format": 1, "bad": lambda: None}, path)
    assert load_checkpoint(path)["step"] == 3
    assert sorted(os.listdir(path.parent)) == ["last.pt"]  # no temporary file left behind
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="resume=False"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a dynfer.training checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


class _no_warnings:
    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


KILL_SCRIPT = """
import os, signal, sys
import torch
from dynfer.nn import MLP
from dynfer.training import fit

gen = torch.Generator().manual_seed(0)
x = torch.randn(300, 3, generator=gen)
y = torch.sin(x[:, :2])
torch.manual_seed(int(sys.argv[2]))
model = MLP(3, 2, hidden=(16,), dropout=0.1, device="cpu")
calls = [0]

def loss_fn(m, batch):
    if calls[0] == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)  # no clean-up, no finally: a real kill
    calls[0] += 1
    return ((m(batch[0]) - batch[1]) ** 2).mean()

fit(model, loss_fn, (x, y), batch_size=30, max_steps=100, schedule="cosine", checkpoint_dir=sys.argv[1],
    checkpoint_every=10, seed=4, device="cpu", progress=False)
torch.save(model.state_dict(), os.path.join(sys.argv[1], "final.pt"))
"""


def test_sigkilled_process_resumes_exactly(tmp_path):
    import subprocess
    import sys

    def run(folder, init_seed, kill_at):
        cmd = [sys.executable, "-c", KILL_SCRIPT, str(folder), str(init_seed), str(kill_at)]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    killed = run(tmp_path / "a", 0, 53)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert load_checkpoint(tmp_path / "a" / CHECKPOINT_NAME)["step"] == 50
    assert sorted(os.listdir(tmp_path / "a")) == [CHECKPOINT_NAME]
    # resume (from another initialisation) and an uninterrupted run, in one more process each
    assert run(tmp_path / "a", 1, -1).returncode == 0
    assert run(tmp_path / "b", 0, -1).returncode == 0
    resumed = torch.load(tmp_path / "a" / "final.pt")
    whole = torch.load(tmp_path / "b" / "final.pt")
    for k, v in whole.items():
        assert torch.equal(resumed[k], v), k


def _dead_pid():
    """A pid no process can have: above the kernel's pid_max (checked with os.kill)."""
    try:
        with open("/proc/sys/kernel/pid_max") as fh:
            pid = int(fh.read()) + 1
    except OSError:
        pid = 2**22 + 1  # the largest pid_max Linux allows is 2**22
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid += 1


@pytest.mark.skipif(os.name != "posix", reason="pid liveness is checked with os.kill(pid, 0) on POSIX only")
def test_stale_temporaries_of_dead_writers_are_cleaned(tmp_path):
    from dynfer.training.checkpoint import STALE_TMP_SECONDS, clean_stale_temporaries

    path = tmp_path / "last.pt"
    dead = tmp_path / f".last.pt.{_dead_pid()}.tmp"  # a writer killed while writing
    live = tmp_path / f".last.pt.{os.getppid()}.tmp"  # a live writer (the parent process) mid-write
    other = tmp_path / f".other.pt.{_dead_pid()}.tmp"  # another file's temporary: not ours to touch
    group = tmp_path / ".last.pt.0.tmp"  # pid 0 is never a writer (os.kill(0, 0) would signal the group)
    for f in (dead, live, other, group):
        f.write_bytes(b"partial")
    save_checkpoint({"format": 1, "step": 1}, path)
    assert not dead.exists() and not group.exists()
    assert live.exists() and other.exists()
    assert load_checkpoint(path)["step"] == 1 and live.exists()
    # a live pid's file untouched for longer than the threshold is abandoned (a reused pid): loading removes it
    old = live.stat().st_mtime - STALE_TMP_SECONDS - 10
    os.utime(live, (old, old))
    assert load_checkpoint(path)["step"] == 1
    assert sorted(os.listdir(tmp_path)) == sorted([other.name, "last.pt"])
    assert clean_stale_temporaries(tmp_path / "missing" / "last.pt") == []  # no folder: nothing to do


def test_fit_cleans_a_temporary_left_by_a_killed_run(tmp_path):
    stale = tmp_path / f".{CHECKPOINT_NAME}.{_dead_pid()}.tmp"
    stale.write_bytes(b"half a checkpoint")
    x, y = data(64)
    fit(new_model(0), mse, (x, y), batch_size=16, max_steps=4, seed=0, device="cpu", checkpoint_dir=tmp_path)
    assert sorted(os.listdir(tmp_path)) == [CHECKPOINT_NAME]
