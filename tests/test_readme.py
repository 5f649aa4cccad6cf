"""README.md stays true: its tour runs, and CI can find its test command."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_single_cell_tour_runs():
    """The pp -> tl -> pl tour: a fit stored in the AnnData, its outputs, a sampling and two plots."""
    import matplotlib.pyplot as plt
    import numpy as np

    code = re.search(r"## From snapshots to dynamics: `pp` → `tl` → `pl`\n\n```python\n(.*?)```", README, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README single-cell tour", "exec"), namespace)
    plt.close("all")
    adata = namespace["adata"]
    assert namespace["drift"].shape == (adata.n_obs, adata.n_vars) and np.isfinite(namespace["drift"]).all()
    rows = np.asarray(namespace["moves"].sum(axis=1)).ravel()
    np.testing.assert_allclose(rows, 1.0, rtol=1e-10)
    assert set(namespace["held"].obs["time"]) == {4.5}
    assert list(namespace["held"].var_names) == list(adata.var_names)


def test_readme_tour_runs():
    code = re.search(r"## The backend in 20 lines\n\n```python\n(.*?)```", README, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README tour", "exec"), namespace)
    assert tuple(namespace["paths"].shape) == (11, 10_000, 10)
    assert tuple(namespace["states"].shape) == (300, 100)
    assert float(namespace["w2"]) > 0
    assert set(namespace["adata"].obs["split"]) == {"train", "heldout"}


def test_ci_script_finds_the_readme_test_command():
    awk = ("/<!-- test-command -->/{found=1; next} found && /^```/{if (inblock) exit; inblock=1; next} "
           "found && inblock {print}")
    out = subprocess.run(["awk", awk, str(ROOT / "README.md")], capture_output=True, text=True, check=True).stdout
    assert "pytest" in out and out.strip().startswith("pip install torch==2.13.0")
    assert awk in (ROOT / ".ci" / "run").read_text()
