"""Train the foundation MJP network on its synthetic prior and write the weights shipped with dynfer.

Run ``python -m dynfer.estimators.mjp.foundation.train --data DIR --checkpoint DIR`` (the defaults reproduce the
shipped weights). The prior shards are drawn from fixed seeds (:mod:`.shards`), so a lost data folder is rebuilt
identically; the checkpoint (:func:`dynfer.training.fit`) makes a stopped run continue where it stopped, across
sessions. At the end the weights, this run's configuration and its training log are written next to each other in
``weights/`` (the folder :meth:`FoundationMJP.pretrained` reads).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dynfer.estimators.mjp.foundation.network import FoundationNetwork, foundation_loss
from dynfer.estimators.mjp.foundation.prior import PRIOR
from dynfer.estimators.mjp.foundation.shards import ShardSampler, load_shards, write_shards
from dynfer.training import fit

__all__ = ["DEFAULT_CONFIG", "WEIGHTS_DIR", "train"]

WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHTS_FILE = "foundation_mjp.pt"

DEFAULT_CONFIG: dict[str, Any] = {
    "network": {"width": 64, "hidden": 128, "n_layers": 3},
    "train_shards": 96,
    "val_shards": 4,
    "contexts_per_shard": 512,
    "data_seed": 1000,
    "val_seed": 900_000,
    "seed": 0,
    "batch_size": 128,
    "max_steps": 8000,
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "schedule": "warmup_cosine",
    "warmup_steps": 200,
    "min_lr": 2e-5,
    "grad_clip": 1.0,
    "eval_every": 250,
    "threads": 2,
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train(data_dir: str | Path, checkpoint_dir: str | Path, config: dict[str, Any] | None = None,
          out_dir: str | Path = WEIGHTS_DIR) -> dict[str, Any]:
    """Write the prior shards (those missing), train (resuming from ``checkpoint_dir``) and save the weights.

    Returns
    -------
    dict
        The training log written to ``out_dir / "training_log.json"``.
    """
    cfg = {**DEFAULT_CONFIG, **(config or {})}
    torch.set_num_threads(int(cfg["threads"]))
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    start = time.time()
    write_shards(data_dir / "train", cfg["train_shards"], contexts_per_shard=cfg["contexts_per_shard"],
                 seed=cfg["data_seed"])
    write_shards(data_dir / "val", cfg["val_shards"], contexts_per_shard=cfg["contexts_per_shard"],
                 seed=cfg["val_seed"])
    data_time = time.time() - start
    sampler = ShardSampler(data_dir / "train", range(cfg["train_shards"]))
    val = {k: torch.as_tensor(v) for k, v in load_shards(data_dir / "val", range(cfg["val_shards"])).items()}
    net = FoundationNetwork(**cfg["network"])
    t0 = time.time()
    result = fit(net, foundation_loss, sampler, val_data=val, batch_size=cfg["batch_size"],
                 max_steps=cfg["max_steps"], lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                 schedule=cfg["schedule"], warmup_steps=cfg["warmup_steps"], min_lr=cfg["min_lr"],
                 grad_clip=cfg["grad_clip"], eval_every=cfg["eval_every"], checkpoint_dir=checkpoint_dir,
                 seed=cfg["seed"], device="cpu", desc="foundation MJP")
    train_time = time.time() - t0
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / WEIGHTS_FILE
    torch.save({"format": "dynfer.foundation_mjp", "format_version": 1, "network": cfg["network"],
                "prior": PRIOR, "state_dict": net.state_dict()}, weights)
    n_mjps = cfg["train_shards"] * cfg["contexts_per_shard"]
    log = {
        "weights_sha256": _sha256(weights),
        "steps": result.steps_run,
        "resumed_from": result.resumed_from,
        "best_step": result.best_step,
        "best_val_loss": result.best_val_loss,
        "val_step": result.history["val_step"],
        "val_loss": result.history["val_loss"],
        "train_loss_every_100": [float(np.mean(result.train_loss[i:i + 100]))
                                 for i in range(0, len(result.train_loss), 100)],
        "training_mjps": n_mjps,
        "contexts_seen": result.steps_run * cfg["batch_size"],
        "validation_mjps": cfg["val_shards"] * cfg["contexts_per_shard"],
        "seconds_this_run": {"data": data_time, "training": train_time},
        "machine": {"cpu_threads": cfg["threads"], "platform": platform.platform(), "torch": torch.__version__},
        "n_parameters": sum(p.numel() for p in net.parameters()),
    }
    (out_dir / "config.json").write_text(json.dumps({"train": cfg, "prior": PRIOR}, indent=1) + "\n")
    (out_dir / "training_log.json").write_text(json.dumps(log, indent=1) + "\n")
    return log


def main(argv: list[str] | None = None) -> None:
    """Command line: ``--data``, ``--checkpoint``, ``--out``, ``--steps``, ``--shards``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="folder of the prior shards (rebuilt from seeds if missing)")
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder (resumed when it holds last.pt)")
    parser.add_argument("--out", default=str(WEIGHTS_DIR), help="where the weights, config and log go")
    parser.add_argument("--steps", type=int, default=DEFAULT_CONFIG["max_steps"])
    parser.add_argument("--shards", type=int, default=DEFAULT_CONFIG["train_shards"])
    args = parser.parse_args(argv)
    log = train(args.data, args.checkpoint, {"max_steps": args.steps, "train_shards": args.shards}, args.out)
    print(json.dumps({k: log[k] for k in ("steps", "best_step", "best_val_loss", "seconds_this_run")}))


if __name__ == "__main__":
    main()
