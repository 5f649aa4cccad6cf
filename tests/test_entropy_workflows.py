"""The entropy-production workflows at quick sizes, through the command line (``dynfer run <name> --quick``).

``abp_lammps`` reads the real AMEP dumps and skips when the ``../shared/data`` mirror is absent; ``mips`` simulates
and trains a transformer (a few minutes on two cores) and is marked slow.
"""

import json

import pytest

import dynfer
from dynfer.cli import main
from dynfer.workflows import get_workflow

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")


def _run(tmp_path, name, mirror=None):
    out = tmp_path / name
    with dynfer.settings.override(data_dir=mirror, progress=False, device="cpu", dtype="float32", seed=None):
        code = main(["run", name, "--quick", "--seed", "0", "--device", "cpu", "--out", str(out)])
    assert code == 0 and (out / "report.html").is_file()
    return json.loads((out / "metrics.json").read_text()), out


def test_the_entropy_workflows_are_discovered_with_their_datasets():
    assert set(get_workflow("mips").datasets) == {"active_particles"}
    assert set(get_workflow("abp_lammps").datasets) == {"abp_lammps_amep"}


def test_abp_lammps_drift_matches_the_lammps_forces_and_reports_every_rate(tmp_path, mirror_dir):
    metrics, out = _run(tmp_path, "abp_lammps", mirror_dir)
    check = metrics["drift_check"]
    # fx fy are printed with 6 significant digits, positions too: WCA forces near contact amplify the rounding
    # (the backend test bounds it per atom); the rms difference stays well below 1 % of the rms force
    assert check["relative rms difference"] < 0.01
    methods = metrics["rates"]["methods"]
    assert methods["equilibrium score"]["rate"] == 0.0
    # the score-free identity of a stationary ABP system with WCA repulsion lies below the free-particle value
    # v0^2 / D_t = 10^4 per particle (clusters arrest the self-propulsion) and above 0
    per_particle = metrics["per_particle"]["score_free"]
    assert 0 < per_particle < 1e4
    assert (out / "abp_entropy_map.png").is_file()


@pytest.mark.slow
def test_mips_runs_at_quick_sizes(tmp_path):
    metrics, out = _run(tmp_path, "mips")
    assert metrics["n_eval"] == 4 * metrics["n_train"]
    assert metrics["locality"]["per_particle_4N"] > 0 and metrics["n_bins"] >= 2
    assert (out / "mips_production_vs_density.png").is_file()
