"""The Schrödinger-bridge workflows on the staged mmtraj benchmark files (read in place from the mirror)."""

import json

import pytest

from dynfer.cli import main


@pytest.mark.parametrize(
    ("workflow", "true_method", "ot_midpoint_ref", "persistence_ref"),
    [
        # reference computations of the baselines on the staged files (schrodinger_bridges.md, section 3)
        ("mmtraj_lotka_volterra", "dynfer (lotka_volterra reference)", 0.635, 1.416),
        ("mmtraj_gulf_of_mexico", "dynfer (vortex reference)", 0.189, 0.510),
        ("mmtraj_repressilator_mrna", "dynfer (repressilator reference)", 2.068, 2.813),
        ("mmtraj_repressilator_mrna_protein", "dynfer (repressilator reference)", 2.053, 2.818),
    ],
)
def test_bridge_workflow_beats_ot_midpoint(shared_data, tmp_path, workflow, true_method, ot_midpoint_ref,
                                           persistence_ref):
    out = tmp_path / "report"
    assert main(["run", workflow, "--quick", "--seed", "0", "--device", "cpu", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    means = metrics["w2_mean"]
    # the baselines are deterministic (exact OT): they must reproduce the independently computed reference values
    assert means["OT-midpoint"] == pytest.approx(ot_midpoint_ref, abs=0.005)
    assert means["persistence"] == pytest.approx(persistence_ref, abs=0.005)
    # the goal: dynfer with the true family below OT-midpoint on every staged file
    assert means[true_method] < means["OT-midpoint"]
    env = json.loads((out / "environment.json").read_text())
    assert any(name.endswith(".npz") for name in env["inputs"])
