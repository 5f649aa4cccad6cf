"""The fit loop: convergence to a known answer, schedules, early stopping, reproducibility, progress, bad inputs."""

import math

import pytest
import torch

import dynfer
from dynfer.nn import MLP
from dynfer.training import NonFiniteLossError, fit, lr_factor, make_optimizer


def mse(model, batch):
    x, y = batch
    return ((model(x) - y) ** 2).mean()


def linear_data(n=2000, sigma=0.1, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    a = torch.tensor([[1.0, -2.0, 0.5], [0.3, 0.0, -1.0]], dtype=dtype)
    b = torch.tensor([0.7, -0.4], dtype=dtype)
    x = torch.randn(n, 3, generator=gen, dtype=dtype)
    y = x @ a.T + b + sigma * torch.randn(n, 2, generator=gen, dtype=dtype)
    return x, y, a, b


def test_recovers_linear_map(device):
    n, sigma = 2000, 0.1
    x, y, a, b = linear_data(n, sigma)
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2, dtype=torch.float64)
    res = fit(model, mse, (x, y), batch_size=100, max_steps=1500, lr=0.05, schedule="cosine", seed=0, device=device)
    assert res.steps_run == 1500 and len(res.train_loss) == 1500
    assert res.train_loss[-1] < 0.1 * res.train_loss[0]
    # least squares has standard error sigma / sqrt(n) per coefficient (x has identity covariance);
    # five standard errors plus nothing for the optimiser: SGD must land on the least-squares solution
    tol = 5 * sigma / math.sqrt(n)
    w, c = model.weight.detach().cpu(), model.bias.detach().cpu()
    assert (w - a).abs().max() < tol
    assert (c - b).abs().max() < tol
    # and match the closed-form least-squares fit to a fraction of that
    design = torch.cat([x, torch.ones(n, 1, dtype=x.dtype)], dim=1)
    coef = torch.linalg.lstsq(design, y).solution
    assert (w - coef[:3].T).abs().max() < 0.2 * sigma / math.sqrt(n)
    assert (c - coef[3]).abs().max() < 0.2 * sigma / math.sqrt(n)
    # the final train loss estimates the noise variance
    assert abs(sum(res.train_loss[-100:]) / 100 - sigma**2) < 0.2 * sigma**2


def test_schedule_closed_form():
    # cosine (Loshchilov & Hutter 2017): 1/2 (1 + cos(pi s / T)), hand-evaluated
    assert lr_factor(0, "cosine", 100) == pytest.approx(1.0)
    assert lr_factor(25, "cosine", 100) == pytest.approx(0.8535533906)  # (1 + 1/sqrt 2) / 2
    assert lr_factor(50, "cosine", 100) == pytest.approx(0.5)
    assert lr_factor(75, "cosine", 100) == pytest.approx(0.1464466094)
    assert lr_factor(50, "cosine", 100, min_ratio=0.1) == pytest.approx(0.55)
    assert lr_factor(500, "cosine", 100) == pytest.approx(0.0)
    # linear warm-up over 10 steps, then cosine over the remaining 100
    assert [lr_factor(s, "warmup_cosine", 110, 10) for s in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert lr_factor(60, "warmup_cosine", 110, 10) == pytest.approx(0.5)
    assert lr_factor(3, "constant", 50, 4) == pytest.approx(1.0)
    assert lr_factor(1, "constant", 50, 4) == pytest.approx(0.5)


def test_fit_uses_the_schedule():
    x, y, _, _ = linear_data(200)
    model = torch.nn.Linear(3, 2, dtype=torch.float64)
    res = fit(
        model,
        mse,
        (x, y),
        batch_size=20,
        max_steps=110,
        lr=0.01,
        schedule="warmup_cosine",
        warmup_steps=10,
        seed=0,
        device="cpu",
    )
    lrs = res.history["lr"]
    assert len(lrs) == 110
    for s, want in [(0, 0.001), (4, 0.005), (9, 0.01), (10, 0.01), (35, 0.01 * 0.8535533906), (60, 0.005)]:
        assert lrs[s] == pytest.approx(want)


def test_early_stopping_restores_best():
    # train towards w = 2 from w = 0 while validation wants w = 1: validation loss falls, then rises
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 1, generator=gen, dtype=torch.float64)
    xv = torch.randn(128, 1, generator=gen, dtype=torch.float64)
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
    )
    steps, vals = res.history["val_step"], res.history["val_loss"]
    assert res.stopped_early
    i = vals.index(min(vals))
    assert res.best_step == steps[i] and res.best_val_loss == min(vals)
    assert steps[-1] == res.best_step + 3 * 2 == res.steps_run
    assert all(v > res.best_val_loss for v in vals[i + 1 :])
    assert 0.7 < model.weight.item() < 1.3
    with torch.no_grad():
        assert mse(model, (xv, xv)).item() == pytest.approx(res.best_val_loss, rel=1e-12)
    # without restore_best the final (worse) weights stay
    torch.nn.init.zeros_(model.weight)
    res2 = fit(
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
        restore_best=False,
    )
    assert res2.history == res.history
    with torch.no_grad():
        assert mse(model, (xv, xv)).item() > res.best_val_loss


def test_validation_without_patience_runs_to_the_end():
    x, y, _, _ = linear_data(300)
    model = torch.nn.Linear(3, 2, dtype=torch.float64)
    res = fit(
        model,
        mse,
        (x[:200], y[:200]),
        val_data=(x[200:], y[200:]),
        batch_size=50,
        max_steps=30,
        eval_every=7,
        eval_batch_size=33,
        seed=0,
        device="cpu",
    )
    assert not res.stopped_early and res.steps_run == 30
    assert res.history["val_step"] == [7, 14, 21, 28, 30]
    with torch.no_grad():
        full = mse(model, (x[200:], y[200:])).item()
    assert full == pytest.approx(res.best_val_loss, rel=1e-12)  # chunked row-weighted mean = full mean


def test_reproducible_and_leaves_global_rng_alone():
    x, y, _, _ = linear_data(300, dtype=torch.float32)

    def run(seed):
        torch.manual_seed(5)
        model = MLP(3, 2, hidden=(16,), dropout=0.2, device="cpu")
        fit(model, mse, (x, y), batch_size=32, max_steps=30, seed=seed, device="cpu")
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    first = run(1)
    assert torch.equal(run(1), first)
    assert not torch.equal(run(2), first)
    with dynfer.settings.override(seed=1):
        assert torch.equal(run(None), first)
    # the caller's global RNG (used here for dropout inside the loop) is as it was before the call
    model = MLP(3, 2, hidden=(16,), dropout=0.2, device="cpu")
    torch.manual_seed(123)
    before = torch.get_rng_state()
    fit(model, mse, (x, y), batch_size=32, max_steps=5, seed=0, device="cpu")
    assert torch.equal(torch.get_rng_state(), before)


def test_epochs_visit_every_row():
    x = torch.arange(10, dtype=torch.float64)[:, None]
    seen = []
    model = torch.nn.Linear(1, 1, dtype=torch.float64)

    def loss_fn(m, batch):
        seen.append(batch[:, 0].tolist())
        return m(batch).mean()

    fit(model, loss_fn, x, batch_size=3, max_steps=6, seed=0, device="cpu")
    assert all(len(b) == 3 for b in seen)
    for epoch in (seen[:3], seen[3:]):  # 10 // 3 = 3 batches per epoch, no repeats inside one
        rows = [r for b in epoch for r in b]
        assert len(set(rows)) == 9


def test_dict_data_and_sampler(device):
    x, y, _, _ = linear_data(100)
    model = torch.nn.Linear(3, 2, dtype=torch.float64)
    got = []

    def dict_loss(m, batch):
        got.append(sorted(batch))
        return ((m(batch["x"]) - batch["y"]) ** 2).mean()

    fit(model, dict_loss, {"x": x, "y": y}, batch_size=10, max_steps=3, seed=0, device="cpu")
    assert got == [["x", "y"]] * 3

    a = torch.tensor([[2.0, 0.0, -1.0]], dtype=torch.float64)

    def simulate(gen, n):  # the generator lives on the training device
        xs = torch.randn(n, 3, generator=gen, dtype=torch.float64, device=gen.device)
        return xs, xs @ a.to(gen.device).T

    def run(seed):
        torch.manual_seed(0)
        m = torch.nn.Linear(3, 1, dtype=torch.float64)
        res = fit(m, mse, simulate, batch_size=64, max_steps=300, lr=0.05, seed=seed, device=device)
        return m, res

    m1, r1 = run(0)
    m2, _ = run(0)
    assert m1.weight.device.type == device.type
    assert torch.equal(m1.weight, m2.weight)
    assert (m1.weight.cpu() - a).abs().max() < 1e-2 and r1.train_loss[-1] < 1e-4
    with pytest.raises(ValueError, match="returned 5 rows instead of 8"):
        fit(
            torch.nn.Linear(3, 1),
            mse,
            lambda g, n: (torch.zeros(5, 3), torch.zeros(5, 1)),
            batch_size=8,
            max_steps=1,
            device="cpu",
        )


def test_progress_bar_silenced(capsys):
    x, y, _, _ = linear_data(100, dtype=torch.float32)
    fit(torch.nn.Linear(3, 2), mse, (x, y), batch_size=10, max_steps=5, device="cpu")
    assert capsys.readouterr().err == ""
    fit(torch.nn.Linear(3, 2), mse, (x, y), batch_size=10, max_steps=5, device="cpu", progress=True, desc="demo")
    assert "demo:" in capsys.readouterr().err
    with dynfer.settings.override(progress=True):
        fit(torch.nn.Linear(3, 2), mse, (x, y), batch_size=10, max_steps=5, device="cpu", progress=False)
    assert capsys.readouterr().err == ""


def test_grad_clip_bounds_the_first_step():
    x = torch.ones(8, 1, dtype=torch.float64)
    model = torch.nn.Linear(1, 1, bias=False, dtype=torch.float64)
    torch.nn.init.zeros_(model.weight)
    # gradient of mean (w x - 1000)^2 at w = 0 is -2000; clipped to norm 1, one plain SGD step moves w by lr
    fit(
        model,
        mse,
        (x, 1000 * x),
        batch_size=8,
        max_steps=1,
        optimizer=torch.optim.SGD,
        lr=0.1,
        grad_clip=1.0,
        device="cpu",
    )
    assert model.weight.item() == pytest.approx(0.1)


def test_nan_loss_raises_with_step_and_keeps_weights():
    x, y, _, _ = linear_data(100)
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2, dtype=torch.float64)
    calls = []

    def loss_fn(m, batch):
        calls.append(1)
        loss = mse(m, batch)
        return loss * float("nan") if len(calls) == 4 else loss

    with pytest.raises(NonFiniteLossError, match=r"step 3 .*smaller lr") as info:
        fit(model, loss_fn, (x, y), batch_size=10, max_steps=10, seed=0, device="cpu")
    assert isinstance(info.value, ValueError)
    torch.manual_seed(0)
    ref = torch.nn.Linear(3, 2, dtype=torch.float64)
    fit(ref, mse, (x, y), batch_size=10, max_steps=3, seed=0, device="cpu")
    assert torch.equal(model.weight, ref.weight)


X, Y = torch.zeros(20, 3), torch.zeros(20, 1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr": 0.0}, "lr"),
        ({"lr": -1e-3}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"batch_size": 21}, r"batch_size \(21\) is larger than train_data \(20 rows\)"),
        ({"max_steps": 0}, "max_steps"),
        ({"max_steps": -5}, "max_steps"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"schedule": "linear"}, "schedule"),
        ({"schedule": "warmup_cosine"}, "warmup_steps > 0"),
        ({"warmup_steps": 10, "max_steps": 10}, "warmup_steps"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"optimizer": lambda p, lr, weight_decay: None}, "torch.optim.Optimizer"),
        ({"min_lr": 1.0}, "min_lr"),
        ({"grad_clip": 0.0}, "grad_clip"),
        ({"patience": 3}, "patience .*val_data"),
        ({"patience": 0, "val_data": (X, Y)}, "patience"),
        ({"eval_every": 0}, "eval_every"),
        ({"checkpoint_every": 5}, "checkpoint_dir"),
        ({"seed": -1}, "seed"),
        ({"distributed": True}, "distributed=True"),
        ({"progress": "yes"}, "progress"),
        ({"train_data": (X, Y[:19])}, r"first dimension.*\[20, 19\]"),
        ({"train_data": ()}, "train_data"),
        ({"train_data": (X, torch.tensor(1.0))}, "0-d"),
        ({"train_data": "abc"}, "train_data"),
        ({"val_data": (X, Y[:3])}, "val_data"),
        ({"model": "net"}, "model"),
        ({"loss_fn": 3}, "loss_fn"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = {
        "model": torch.nn.Linear(3, 1),
        "loss_fn": mse,
        "train_data": (X, Y),
        "batch_size": 4,
        "max_steps": 10,
        "device": "cpu",
    } | kwargs
    model, loss_fn, data = args.pop("model"), args.pop("loss_fn"), args.pop("train_data")
    with pytest.raises(ValueError, match=match):
        fit(model, loss_fn, data, **args)


def test_bad_loss_functions():
    with pytest.raises(ValueError, match="scalar tensor"):
        fit(torch.nn.Linear(3, 1), lambda m, b: m(b[0]), (X, Y), batch_size=4, max_steps=1, device="cpu")
    with pytest.raises(ValueError, match="does not require grad"):
        fit(torch.nn.Linear(3, 1), lambda m, b: b[1].mean(), (X, Y), batch_size=4, max_steps=1, device="cpu")
    frozen = torch.nn.Linear(3, 1).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        fit(frozen, mse, (X, Y), batch_size=4, max_steps=1, device="cpu")


def test_make_optimizer_names():
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert isinstance(make_optimizer("adamw", params, 1e-3, 0.1), torch.optim.AdamW)
    assert isinstance(make_optimizer("Adam", params, 1e-3, 0.0), torch.optim.Adam)
    sgd = make_optimizer("sgd", params, 1e-2, 0.0)
    assert sgd.param_groups[0]["momentum"] == 0.9
