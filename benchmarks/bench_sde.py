"""Fixed-step Euler–Maruyama on a 10-D Ornstein–Uhlenbeck process: dynfer vs torchsde vs a bare torch loop.

Protocol (issue "Foundation"): 10,000 paths x 1,000 steps, dt = 1e-3, theta = 1, sigma = 0.5, float32, diagonal noise.
All three integrate dX = -theta X dt + sigma dW from X0 = 0 to T = 1; the exact law at T is N(0, sigma^2/(2 theta)
(1 - exp(-2 theta T))) per coordinate, reported next to each implementation's sample moments.

Run: python benchmarks/bench_sde.py [--device cuda] [--repeats 3]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median_time, write_results

from dynfer.processes import OrnsteinUhlenbeck

N_PATHS, DIM, N_STEPS, DT, THETA, SIGMA = 10_000, 10, 1_000, 1e-3, 1.0, 0.5


def hand_loop(x0: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    x = x0.clone()
    sqrt_dt = math.sqrt(DT)
    for _ in range(N_STEPS):
        x = x - THETA * x * DT + SIGMA * sqrt_dt * torch.randn(x.shape, generator=gen, device=x.device)
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-torchsde", action="store_true")
    args = parser.parse_args()
    dev = torch.device(args.device)
    x0 = torch.zeros(N_PATHS, DIM, device=dev)
    times = torch.tensor([0.0, N_STEPS * DT], device=dev)
    exact_var = SIGMA**2 / (2 * THETA) * (1 - math.exp(-2 * THETA * N_STEPS * DT))
    ou = OrnsteinUhlenbeck(THETA, SIGMA**2 / 2, dim=DIM).to(dev)
    results: dict = {
        "protocol": {"n_paths": N_PATHS, "dim": DIM, "n_steps": N_STEPS, "dt": DT, "theta": THETA, "sigma": SIGMA,
                     "dtype": "float32", "device": str(dev), "repeats": args.repeats},
        "exact_variance_at_T": exact_var,
    }

    def moments(x: torch.Tensor) -> dict:
        return {"mean": float(x.mean()), "variance": float(x.var())}

    gen = torch.Generator(device=dev)
    gen.manual_seed(0)
    t_hand = median_time(lambda: hand_loop(x0, gen), repeats=args.repeats, device=str(dev))
    results["hand_loop"] = {"seconds": t_hand, **moments(hand_loop(x0, gen))}

    t_dyn = median_time(lambda: ou.simulate(x0, times, dt=DT, seed=0), repeats=args.repeats, device=str(dev))
    results["dynfer"] = {"seconds": t_dyn, **moments(ou.simulate(x0, times, dt=DT, seed=1)[-1])}

    if not args.skip_torchsde:
        try:
            import torchsde
        except ImportError:
            results["torchsde"] = "not installed (pip install dynfer[bench])"
        else:

            class TorchsdeOU(torch.nn.Module):
                noise_type, sde_type = "diagonal", "ito"

                def f(self, t, y):
                    return -THETA * y

                def g(self, t, y):
                    return torch.full_like(y, SIGMA)

            sde = TorchsdeOU()
            ts = torch.tensor([0.0, N_STEPS * DT], device=dev)

            def run_torchsde():
                with torch.no_grad():
                    return torchsde.sdeint(sde, x0, ts, method="euler", dt=DT)[-1]

            t_ts = median_time(run_torchsde, repeats=args.repeats, device=str(dev))
            results["torchsde"] = {"seconds": t_ts, "version": torchsde.__version__, **moments(run_torchsde())}
            results["speedup_vs_torchsde"] = t_ts / t_dyn
    results["ratio_to_hand_loop"] = t_dyn / t_hand
    results["goals"] = {"speedup_vs_torchsde_at_least": 10.0, "ratio_to_hand_loop_at_most": 1.5}
    suffix = "" if dev.type == "cpu" else f"_{dev.type}"
    write_results(f"sde_euler{suffix}", results)


if __name__ == "__main__":
    main()
