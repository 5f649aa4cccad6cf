import pytest
import torch

import dynfer
from dynfer import Settings


def test_environment_variables_are_read():
    s = Settings()
    s.read_environment({
        "DYNFER_DEVICE": "cpu", "DYNFER_DTYPE": "float64", "DYNFER_SEED": "42", "DYNFER_PROGRESS": "0",
        "DYNFER_DATA_DIR": "/tmp/mirror", "DYNFER_CACHE_DIR": "/tmp/cache",
    })
    assert s.device == "cpu" and s.dtype == torch.float64 and s.seed == 42 and s.progress is False
    assert str(s.data_dir) == "/tmp/mirror" and str(s.cache_dir) == "/tmp/cache"
    s.read_environment({"DYNFER_SEED": "none"})
    assert s.seed is None


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"DYNFER_DEVICE": "tpu"}, "settings.device"),
        ({"DYNFER_DTYPE": "int8"}, "settings.dtype"),
        ({"DYNFER_SEED": "abc"}, "DYNFER_SEED"),
        ({"DYNFER_PROGRESS": "maybe"}, "DYNFER_PROGRESS"),
    ],
)
def test_bad_environment_values_raise(env, match):
    with pytest.raises(ValueError, match=match):
        Settings().read_environment(env)


def test_setters_validate():
    s = Settings()
    with pytest.raises(ValueError, match="seed"):
        s.seed = -1
    with pytest.raises(ValueError, match="progress"):
        s.progress = "yes"
    with pytest.raises(ValueError, match="dtype"):
        s.dtype = torch.int64
    s.dtype = torch.float64
    assert s.dtype == torch.float64


def test_auto_device_and_missing_cuda():
    s = Settings()
    s.device = "auto"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert s.torch_device.type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            s.resolve_device("cuda")


def test_generator_is_seeded_and_override_restores():
    s = Settings()
    s.seed = 5
    def draw(gen: torch.Generator) -> torch.Tensor:  # on the generator's device (CUDA when settings pick it)
        return torch.randn(3, generator=gen, device=gen.device)

    a = draw(s.generator())
    b = draw(s.generator())
    c = draw(s.generator(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    with dynfer.settings.override(progress=True, seed=3):
        assert dynfer.settings.progress is True and dynfer.settings.seed == 3
    assert dynfer.settings.progress is False  # the test fixture's value
    with pytest.raises(ValueError, match="unknown settings"):
        with dynfer.settings.override(colour="red"):
            pass


def test_max_work_setting_environment_and_override():
    s = Settings()
    assert s.max_work == 2e10
    s.read_environment({"DYNFER_MAX_WORK": "1e6"})
    assert s.max_work == 1e6
    s.read_environment({"DYNFER_MAX_WORK": "inf"})
    assert s.max_work == float("inf")
    for bad in ("lots", "0", "-5", "nan"):
        with pytest.raises(ValueError, match="DYNFER_MAX_WORK"):
            Settings().read_environment({"DYNFER_MAX_WORK": bad})
    for bad in (0, -1.0, float("nan"), "1e9", True, None):
        with pytest.raises(ValueError, match="settings.max_work"):
            s.max_work = bad
    with dynfer.settings.override(max_work=123):
        assert dynfer.settings.max_work == 123.0
    assert dynfer.settings.max_work == 2e10
    assert "max_work" in repr(dynfer.settings)


def test_max_work_bounds_the_backend_and_says_how_to_change_it():
    from dynfer.processes import SDE

    sde = SDE(drift=lambda t, x: -x, diffusion=0.5)
    x0, times = torch.zeros(100, 2), torch.linspace(0, 1, 3)
    with dynfer.settings.override(max_work=1e6):  # 1000 steps x (100 x 2 + 1000) = 1.2e6 element-steps
        with pytest.raises(dynfer.BadInputError, match=r"dt.*1\.2e\+06 element-steps.*max_work = 1e\+06"):
            sde.simulate(x0, times, dt=1e-3, seed=0)
        assert sde.simulate(x0, times, dt=1e-2, seed=0).shape == (3, 100, 2)
    with dynfer.settings.override(max_work=float("inf")):
        assert sde.simulate(x0, times, dt=1e-3, seed=0).shape == (3, 100, 2)
