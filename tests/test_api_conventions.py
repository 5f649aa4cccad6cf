"""scanpy-style conventions of the AnnData faces (as scanpy's own test_sig_conventions enforces)."""

import inspect

import pytest
from anndata import AnnData

import dynfer.pl
import dynfer.pp
import dynfer.tl

FACES = [(face, name, getattr(mod, name)) for face, mod in (("pp", dynfer.pp), ("tl", dynfer.tl), ("pl", dynfer.pl))
         for name in mod.__all__ if inspect.isfunction(getattr(mod, name))]


@pytest.mark.parametrize(("face", "name", "func"), FACES, ids=[f"{f}.{n}" for f, n, _ in FACES])
def test_signature_conventions(face, name, func):
    sig = inspect.signature(func)
    params = list(sig.parameters.values())
    assert params[0].name == "adata", f"{face}.{name}: first parameter must be adata"
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    assert len(positional) <= 3, f"{face}.{name}: at most three positional parameters"
    if "copy" in sig.parameters:
        copy = sig.parameters["copy"]
        assert copy.kind is copy.KEYWORD_ONLY and copy.default is False, f"{face}.{name}: keyword-only copy=False"
    if "key_added" in sig.parameters:
        assert sig.parameters["key_added"].kind is inspect.Parameter.KEYWORD_ONLY
    assert func.__doc__, f"{face}.{name} needs a docstring"


def test_faces_take_anndata_first():
    for _, name, func in FACES:
        ann = inspect.signature(func).parameters["adata"].annotation
        assert ann in (AnnData, "AnnData", "ad.AnnData", "anndata.AnnData"), f"{name}: adata: AnnData"


def test_plots_share_the_scanpy_keywords():
    for name in dynfer.pl.__all__:
        params = inspect.signature(getattr(dynfer.pl, name)).parameters
        for kw, default in (("show", None), ("save", None), ("return_fig", False)):
            assert kw in params, f"pl.{name} needs {kw}="
            assert params[kw].kind is inspect.Parameter.KEYWORD_ONLY and params[kw].default is default, (name, kw)


def _fitted_bridge():
    import numpy as np

    rng = np.random.default_rng(0)
    adata = AnnData(np.concatenate([rng.normal(size=(10, 2)) + k for k in range(3)]))
    adata.obs["time"] = np.repeat([0.0, 1.0, 2.0], 10)
    dynfer.tl.schrodinger_bridge(adata, reference="hooke", sigma=0.3, n_iter=1, seed=0)
    return adata


def _fitted_mjp():
    adata = dynfer.datasets.flashing_ratchet_paths(n_paths=20, n_times=10, seed=0)
    dynfer.tl.mjp(adata, method="mle")
    return adata


def _fitted_entropy():
    import numpy as np

    x = np.random.default_rng(0).normal(size=(60, 2))
    adata = AnnData(x)
    dynfer.tl.entropy_production(adata, drift=np.array([[1.3, -0.7], [0.7, 1.3]]), diffusion=1.0, model="gaussian")
    return adata


#: every plot, with the face that fits what it draws (a new plot must add a line here)
PLOT_INPUTS = {"schrodinger_bridge": _fitted_bridge, "bridge_parameters": _fitted_bridge}
PLOT_INPUTS.update(mjp_graph=_fitted_mjp, mjp_histograms=_fitted_mjp, entropy_map=_fitted_entropy)


@pytest.mark.parametrize("name", dynfer.pl.__all__)
def test_plots_return_what_scanpy_returns(name):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    assert name in PLOT_INPUTS, f"add pl.{name} to PLOT_INPUTS"
    adata = PLOT_INPUTS[name]()
    func = getattr(dynfer.pl, name)
    assert isinstance(func(adata, return_fig=True), Figure)
    shown = func(adata, show=False)
    assert isinstance(shown, Axes) or (isinstance(shown, list) and all(isinstance(a, Axes) for a in shown))
    plt.close("all")
