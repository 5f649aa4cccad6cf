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
