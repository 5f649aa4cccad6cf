"""The dataset registry: recorded checksums match the mirror, and every failure says what went wrong and where."""

from __future__ import annotations

import hashlib
import os
import time

import numpy as np
import pytest

import dynfer
from dynfer import _files
from dynfer.datasets import DatasetChecksumError, DatasetNotFoundError, fetch, list_datasets, load
from dynfer.datasets import registry as reg

NON_REDISTRIBUTABLE = {
    "pbmc_timecourse_nc",
    "abp_lammps_amep",
    "wikivote889",
    "ego_facebook",
    "p2p_gnutella04",
    "p2p_gnutella08",
}


def test_registry_lists_every_mirror_folder_with_metadata():
    entries = reg.registry()
    assert set(NON_REDISTRIBUTABLE) < set(entries)
    assert {"mmtraj_benchmarks", "mocap35", "fim_dfr", "fim_mjp_prior_samples", "gsd_lj_freud_fixture"} < set(entries)
    for name, entry in entries.items():
        assert entry.licence and entry.citation and entry.loader, name
        # what uses it: the workflows that exist (see test_workflows) or the estimators it serves
        assert entry.workflows or entry.extra.get("estimators"), name
        assert entry.repository.startswith("https://github.com/") and len(entry.commit) == 40, name
        assert entry.redistribute is (name not in NON_REDISTRIBUTABLE), name
        assert entry.files, name
    # non-commercial data are mirror-only: no download URL at all
    assert all(f.url is None for f in entries["pbmc_timecourse_nc"].files.values())


def test_every_registered_file_is_in_the_mirror_with_its_checksum(shared_data):
    for name, entry in reg.registry().items():
        assert (shared_data / entry.folder).is_dir(), name
        paths = fetch(name)  # verifies each sha256
        assert list(paths) == list(entry.files)
        for fname, path in paths.items():
            assert path.parent == shared_data / entry.folder
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            assert digest == entry.files[fname].sha256, (name, fname)
            if entry.files[fname].size is not None:
                assert path.stat().st_size == entry.files[fname].size


def test_every_mirror_data_file_is_registered(shared_data):
    registered = {(e.folder, f) for e in reg.registry().values() for f in e.files}
    on_disk = {(p.parent.name, p.name) for p in shared_data.glob("*/*") if p.name != "PROVENANCE.md"}
    assert on_disk == registered


@pytest.fixture
def tiny_entry(tmp_path):
    """A temporary registry entry over one small file written here (no real data is copied)."""
    folder = tmp_path / "mirror" / "tiny_folder"
    folder.mkdir(parents=True)
    content = b"0.0 1.0\n1.0 2.0\n"
    (folder / "tiny.txt").write_bytes(content)
    reg.register(
        "dynfer_test_tiny", {"tiny.txt": hashlib.sha256(content).hexdigest()}, folder="tiny_folder", licence="CC0-1.0"
    )
    with dynfer.settings.override(data_dir=tmp_path / "mirror", cache_dir=tmp_path / "cache"):
        yield folder / "tiny.txt"
    reg.unregister("dynfer_test_tiny")


def test_fetch_returns_the_verified_mirror_path(tiny_entry):
    assert fetch("dynfer_test_tiny") == {"tiny.txt": tiny_entry}
    assert fetch("dynfer_test_tiny", "tiny.txt")["tiny.txt"] == tiny_entry


def test_wrong_checksum_raises_a_clear_error(tiny_entry):
    expected = reg.get_entry("dynfer_test_tiny").files["tiny.txt"].sha256
    tiny_entry.write_bytes(b"0.0 1.0\n1.0 2.5\n")  # same size, different content
    with pytest.raises(DatasetChecksumError) as info:
        fetch("dynfer_test_tiny")
    msg = str(info.value)
    assert "checksum mismatch" in msg and str(tiny_entry) in msg and expected in msg
    assert hashlib.sha256(tiny_entry.read_bytes()).hexdigest() in msg


def _flip_keeping_mtime(path):
    """Flip one byte of ``path`` and set its mtime (and atime) back, as a careless or hostile edit would."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[3] ^= 0x01
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns and path.stat().st_size == st.st_size


def test_flipped_byte_with_restored_mtime_is_caught(tiny_entry):
    # before: the memo keyed on (path, size, mtime) served the verified digest again
    expected = reg.get_entry("dynfer_test_tiny").files["tiny.txt"].sha256
    assert fetch("dynfer_test_tiny")["tiny.txt"] == tiny_entry
    _flip_keeping_mtime(tiny_entry)
    with pytest.raises(DatasetChecksumError) as info:
        fetch("dynfer_test_tiny")
    msg = str(info.value)
    assert expected in msg and hashlib.sha256(tiny_entry.read_bytes()).hexdigest() in msg


def test_memo_keys_on_ctime_and_inode(tiny_entry, monkeypatch):
    """A remembered digest is reused for the unchanged file, and dropped when ctime or the inode changes."""
    monkeypatch.setattr(_files, "RACY_WINDOW_NS", -(10**18))  # remember even a just-written file
    monkeypatch.setattr(_files, "_CACHE", {})
    reg.sha256sum(tiny_entry)
    assert len(_files._CACHE) == 1
    before = tiny_entry.stat().st_ctime_ns
    time.sleep(0.05)  # let a coarse filesystem clock tick
    _flip_keeping_mtime(tiny_entry)
    if tiny_entry.stat().st_ctime_ns == before:
        pytest.skip("the filesystem's ctime did not advance within 50 ms")
    with pytest.raises(DatasetChecksumError):
        fetch("dynfer_test_tiny")
    # a file replaced by one of the same size and mtime is another inode with another ctime: hashed again
    st = tiny_entry.stat()
    for content, ok in ((b"0.0 1.0\n1.0 2.0\n", True), (b"0.0 1.0\n1.0 2.5\n", False)):
        fresh = tiny_entry.with_name("fresh.txt")
        fresh.write_bytes(content)
        os.utime(fresh, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.replace(fresh, tiny_entry)
        if ok:
            assert fetch("dynfer_test_tiny")["tiny.txt"] == tiny_entry
        else:
            with pytest.raises(DatasetChecksumError):
                fetch("dynfer_test_tiny")


def test_recently_changed_files_are_not_remembered(tmp_path, monkeypatch):
    monkeypatch.setattr(_files, "_CACHE", {})
    path = tmp_path / "new.bin"
    path.write_bytes(b"abc")
    assert _files.sha256_file(path) == hashlib.sha256(b"abc").hexdigest()
    assert _files._CACHE == {}  # changed within RACY_WINDOW_NS: a later same-tick change could keep its ctime


def test_unknown_dataset_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown dataset 'no_such_data'") as info:
        load("no_such_data")
    for known in ("mmtraj_benchmarks", "fim_dfr", "flashing_ratchet_paths"):
        assert known in str(info.value)
    with pytest.raises(ValueError, match="fim_dfr"):
        fetch("no_such_data")
    with pytest.raises(ValueError, match="has no file"):
        fetch("fim_dfr", "nope.npz")


def test_missing_mirror_without_url_names_the_places_and_the_variable(tmp_path):
    with dynfer.settings.override(data_dir=tmp_path / "empty", cache_dir=tmp_path / "cache"):
        with pytest.raises(DatasetNotFoundError) as info:
            fetch("pbmc_timecourse_nc")
    msg = str(info.value)
    assert "DYNFER_DATA_DIR" in msg and str(tmp_path / "empty" / "pbmc_timecourse_nc") in msg
    assert "no download URL" in msg and "pbmc_timecourse_nc" in msg


def test_unset_mirror_and_failed_download_give_a_clear_error(tmp_path, monkeypatch):
    def offline(spec, entry, cache):
        raise ConnectionError("network unreachable")

    monkeypatch.setattr(reg, "_download", offline)
    with dynfer.settings.override(data_dir=None, cache_dir=tmp_path / "cache"):
        with pytest.raises(DatasetNotFoundError) as info:
            fetch("mmtraj_benchmarks", "LV_data.npz")
        msg = str(info.value)
        assert "DYNFER_DATA_DIR" in msg and "not set" in msg and "network unreachable" in msg
        assert "raw.githubusercontent.com" in msg
        with pytest.raises(DatasetNotFoundError, match="download=False"):
            fetch("mmtraj_benchmarks", "LV_data.npz", download=False)


def test_download_lands_in_the_cache_and_is_verified(tmp_path, monkeypatch):
    content = b"hello\n"
    reg.register(
        "dynfer_test_remote",
        {"r.txt": {"sha256": hashlib.sha256(content).hexdigest(), "url": "https://example.invalid/r.txt"}},
    )
    calls = []

    def fake_download(spec, entry, cache):
        calls.append(spec.url)
        cache.mkdir(parents=True, exist_ok=True)
        (cache / spec.name).write_bytes(content)
        return cache / spec.name

    monkeypatch.setattr(reg, "_download", fake_download)
    try:
        with dynfer.settings.override(data_dir=tmp_path / "none", cache_dir=tmp_path / "cache"):
            path = fetch("dynfer_test_remote")["r.txt"]
            assert path == tmp_path / "cache" / "dynfer_test_remote" / "r.txt"
            assert fetch("dynfer_test_remote")["r.txt"] == path  # second call: from the cache
        assert calls == ["https://example.invalid/r.txt"]
    finally:
        reg.unregister("dynfer_test_remote")


def test_register_refuses_duplicates_and_bad_checksums():
    with pytest.raises(ValueError, match="already registered"):
        reg.register("fim_dfr", {"x": "0" * 64})
    with pytest.raises(ValueError, match="64 hex digits"):
        reg.register("dynfer_test_bad", {"x": "abc"})
    assert "dynfer_test_bad" not in reg.registry()


def test_list_datasets_kinds():
    real, synth = list_datasets("real"), list_datasets("synthetic")
    assert "mmtraj_benchmarks" in real and "lotka_volterra_snapshots" in synth
    assert list_datasets() == real + synth
    with pytest.raises(ValueError, match="kind"):
        list_datasets("both")
    assert np.all([isinstance(n, str) for n in real + synth])
