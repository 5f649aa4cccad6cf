"""scanpy-style conventions of the AnnData faces (as scanpy's own test_sig_conventions enforces)."""

import inspect

import pytest
from anndata import AnnData

import dynfer.pl
import dynfer.pp
import dynfer.tl

FACES = [(face, name, getattr(mod, name)) for face, mod in (("pp", dynfer.pp), ("tl", dynfer.tl), ("pl", dynfer.pl))
         for name in mod.__all__]


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
