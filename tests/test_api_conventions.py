"""scanpy-style conventions of the AnnData faces (as scanpy's own test_sig_conventions enforces)."""

import inspect

import pandas as pd
import pytest
from anndata import AnnData

import dynfer.pl
import dynfer.pp
import dynfer.tl

#: tl functions on arrays rather than AnnData (their data are not cells): exempt from the adata-first conventions
ARRAY_FACES = {"srrw_optimize": "data sharded over the agents of a graph (graph, X, y); returns a dict"}
FACES = [(face, name, getattr(mod, name)) for face, mod in (("pp", dynfer.pp), ("tl", dynfer.tl), ("pl", dynfer.pl))
         for name in mod.__all__ if inspect.isfunction(getattr(mod, name)) and name not in ARRAY_FACES]


def test_array_faces_say_why():
    for name, why in ARRAY_FACES.items():
        assert name in dynfer.tl.__all__ and why, name


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


#: the keywords of plots that draw cells (scanpy's embedding plots): every other plot says here why it draws none
CELL_KEYWORDS = {"schrodinger_bridge": ("basis", "components", "color"),
                 "drift_stream": ("basis", "components", "color"),
                 # bins coloured by density and production: no obs column to colour by
                 "entropy_map": ("basis", "components")}
NOT_CELL_PLOTS = {"bridge_parameters": "theta per refinement round", "mjp_graph": "a graph of states",
                  "mjp_histograms": "state fractions over time",
                  "policy_value": "a value function against one state coordinate",
                  "dt_convergence": "an error against the time step, log-log"}


def test_plots_share_the_scanpy_keywords():
    for name in dynfer.pl.__all__:
        params = inspect.signature(getattr(dynfer.pl, name)).parameters
        for kw, default in (("ax", None), ("show", None), ("save", None), ("return_fig", False)):
            assert kw in params, f"pl.{name} needs {kw}="
            assert params[kw].kind is inspect.Parameter.KEYWORD_ONLY and params[kw].default is default, (name, kw)
        assert (name in CELL_KEYWORDS) != (name in NOT_CELL_PLOTS), f"pl.{name}: add it to CELL_KEYWORDS or say why not"
        for kw in CELL_KEYWORDS.get(name, ()):
            assert kw in params and params[kw].kind is inspect.Parameter.KEYWORD_ONLY, (name, kw)
        if "components" in params:
            assert tuple(params["components"].default) == (1, 2), f"pl.{name}: components count from 1"


def _fitted_bridge():
    import numpy as np

    rng = np.random.default_rng(0)
    adata = AnnData(np.concatenate([rng.normal(size=(10, 2)) + k for k in range(3)]))
    adata.var_names = ["gene_a", "gene_b"]
    adata.obs["time"] = np.repeat([0.0, 1.0, 2.0], 10)
    adata.obs["group"] = pd.Categorical(np.tile(["u", "v"], 15))
    centred = adata.X - adata.X.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    adata.obsm["X_pca"] = centred @ vt.T  # what scanpy's pca writes: scores and the loadings in varm
    adata.varm["PCs"] = vt.T
    adata.obsm["X_umap"] = np.column_stack([np.tanh(adata.X[:, 0]), adata.X[:, 1] ** 3])
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
    adata.var_names = ["gene_a", "gene_b"]
    adata.obsm["X_pca"] = x[:, ::-1].copy()
    dynfer.tl.entropy_production(adata, drift=np.array([[1.3, -0.7], [0.7, 1.3]]), diffusion=1.0, model="gaussian")
    return adata


def _fitted_policy():
    import numpy as np

    rng = np.random.default_rng(0)
    x = np.zeros((8, 41))
    for j in range(40):
        x[:, j + 1] = 0.98 * x[:, j] + np.sqrt(0.02) * rng.normal(size=8)
    adata = AnnData(x.reshape(-1, 1))
    adata.var_names = ["position"]
    adata.obs["time"] = np.tile(np.arange(41) * 0.02, 8)
    adata.obs["trajectory"] = np.repeat(np.arange(8), 41).astype(str)
    adata.obs["reward"] = x.reshape(-1) ** 2
    dynfer.tl.policy_evaluation(adata, discount=1.0, method="lstd")
    dynfer.tl.policy_dt_convergence(adata, factors=(1, 2, 4))
    return adata


#: every plot, with the face that fits what it draws (a new plot must add a line here)
PLOT_INPUTS = {"schrodinger_bridge": _fitted_bridge, "bridge_parameters": _fitted_bridge,
               "drift_stream": _fitted_bridge}
PLOT_INPUTS.update(mjp_graph=_fitted_mjp, mjp_histograms=_fitted_mjp, entropy_map=_fitted_entropy)
PLOT_INPUTS.update(policy_value=_fitted_policy, dt_convergence=_fitted_policy)
#: how many Axes a plot draws into (passed as ax=)
N_AXES = {"entropy_map": 2, "bridge_parameters": 1}


def _axes_list(shown):
    from matplotlib.axes import Axes

    assert isinstance(shown, Axes) or (isinstance(shown, list) and all(isinstance(a, Axes) for a in shown)), shown
    return shown if isinstance(shown, list) else [shown]


@pytest.fixture(scope="module")
def plot_inputs():
    import matplotlib

    matplotlib.use("Agg")
    with dynfer.settings.override(progress=False):
        return {name: make() for name, make in PLOT_INPUTS.items()}


@pytest.mark.parametrize("name", dynfer.pl.__all__)
def test_plots_return_what_scanpy_returns(name, plot_inputs, tmp_path):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    assert name in PLOT_INPUTS, f"add pl.{name} to PLOT_INPUTS"
    adata = plot_inputs[name]
    func = getattr(dynfer.pl, name)
    assert isinstance(func(adata, return_fig=True), Figure)
    _axes_list(func(adata, show=False))
    assert func(adata, show=True) is None  # the Agg backend shows nothing, and scanpy returns None when shown
    assert func(adata, show=False, save=tmp_path / "plot.png") is not None and (tmp_path / "plot.png").stat().st_size
    n_axes = N_AXES.get(name)
    fig, own = plt.subplots(1, n_axes or 1, squeeze=False)
    given = list(own[0]) if n_axes else own[0][0]
    shown = func(adata, ax=given, show=False)
    assert _axes_list(shown) == (given if n_axes else [given]), "a plot draws into the Axes it is given"
    assert func(adata, ax=given, return_fig=True) is fig
    plt.close("all")


@pytest.mark.parametrize("name", sorted(CELL_KEYWORDS))
def test_cell_plots_take_basis_components_from_one_and_name_their_axes(name, plot_inputs):
    import matplotlib.pyplot as plt

    from dynfer import BadInputError

    adata = plot_inputs[name]
    func = getattr(dynfer.pl, name)
    first = _axes_list(func(adata, show=False))[0]
    assert (first.get_xlabel(), first.get_ylabel()) == ("gene_a", "gene_b"), "axes carry the variable names"
    swapped = _axes_list(func(adata, components="2,1", show=False))[0]
    assert (swapped.get_xlabel(), swapped.get_ylabel()) == ("gene_b", "gene_a")
    pca = _axes_list(func(adata, basis="X_pca", components=(1, 2), show=False))[0]
    assert (pca.get_xlabel(), pca.get_ylabel()) == ("PC1", "PC2")
    for bad in ((0, 1), (1, 3), "1", "a,b", (1, 1)):
        with pytest.raises(BadInputError, match="components"):
            func(adata, components=bad, show=False)
    with pytest.raises(BadInputError, match="basis"):
        func(adata, basis="X_missing", show=False)
    if "color" in CELL_KEYWORDS[name]:
        ax = func(adata, color="group", show=False)
        assert ax.get_legend() is not None and [t.get_text() for t in ax.get_legend().get_texts()] == ["u", "v"]
        with pytest.raises(BadInputError, match="color"):
            func(adata, color="no_such_column", show=False)
    plt.close("all")
