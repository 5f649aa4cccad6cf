"""The dataset registry: ``datasets/registry.toml`` and a checksummed fetch of its files.

Each real dataset is one ``[datasets.<name>]`` table (a folder of the local mirror) with its files, their sha256 and
size, the source repository and commit, the licence, a ``redistribute`` flag, the citation and the workflows that use
it. :func:`fetch` resolves a file in this order:

1. the local mirror ``settings.data_dir / <folder> / <file>`` (environment variable ``DYNFER_DATA_DIR``), checked
   against the recorded sha256;
2. the cache ``settings.cache_dir / <folder> / <file>`` (``DYNFER_CACHE_DIR``), filled by a download with
   :mod:`pooch` from the recorded ``url`` -- only for files that have one. Non-commercial data and the numpy
   re-packs made for the mirror have no URL and must come from the mirror.

A file whose checksum does not match is never returned: :class:`DatasetChecksumError` names the file, the expected and
the actual digest. Every :func:`fetch` checks the digest again; :func:`dynfer._files.sha256_file` reuses a digest only
while the file provably did not change (same inode, size, mtime and ctime), so a verified file altered later, even
with its mtime set back, fails the check. A file found nowhere raises :class:`DatasetNotFoundError` saying where
dynfer looked and how to point ``DYNFER_DATA_DIR`` at a mirror.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dynfer._errors import BadInputError
from dynfer._files import sha256_file
from dynfer._settings import settings

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10 needs the tomli backport
    import tomli as tomllib

__all__ = [
    "REGISTRY_FILE",
    "DatasetChecksumError",
    "DatasetEntry",
    "DatasetFile",
    "DatasetNotFoundError",
    "fetch",
    "get_entry",
    "list_real_datasets",
    "register",
    "registry",
    "sha256sum",
    "unregister",
]

#: The registry file: ``<repo>/datasets/registry.toml`` in a source tree (editable install), or the copy that the
#: wheel build places beside this module (``force-include`` in ``pyproject.toml``).
_SOURCE_REGISTRY = Path(__file__).resolve().parents[2] / "datasets" / "registry.toml"
_PACKAGED_REGISTRY = Path(__file__).resolve().parent / "registry.toml"
REGISTRY_FILE = _SOURCE_REGISTRY if _SOURCE_REGISTRY.is_file() else _PACKAGED_REGISTRY


class DatasetNotFoundError(FileNotFoundError):
    """A registered file is neither in the local mirror nor in the cache, and cannot be downloaded."""


class DatasetChecksumError(BadInputError, OSError):
    """A file's sha256 differs from the one recorded in the registry (a :class:`BadInputError` and an ``OSError``)."""


@dataclass(frozen=True)
class DatasetFile:
    """One file of a dataset: name inside the folder, sha256, size in bytes, optional upstream path and URL."""

    name: str
    sha256: str
    size: int | None = None
    url: str | None = None
    upstream_path: str | None = None


@dataclass(frozen=True)
class DatasetEntry:
    """One registered dataset (a folder of the mirror) and its metadata."""

    name: str
    folder: str
    files: dict[str, DatasetFile]
    title: str = ""
    kind: str = ""
    repository: str = ""
    commit: str = ""
    licence: str = ""
    redistribute: bool = False
    licence_note: str = ""
    citation: str = ""
    workflows: tuple[str, ...] = ()
    loader: str = ""
    card: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Metadata as plain types (for ``uns['dynfer_source']``): everything but the per-file table."""
        return {
            "name": self.name,
            "folder": self.folder,
            "title": self.title,
            "repository": self.repository,
            "commit": self.commit,
            "licence": self.licence,
            "redistribute": self.redistribute,
            "citation": self.citation,
        }


def _entry_from_table(name: str, table: Mapping[str, Any]) -> DatasetEntry:
    files_table = table.get("files")
    if not isinstance(files_table, Mapping) or not files_table:
        raise BadInputError(f"registry entry {name!r} has no [files] table")
    files = {}
    for fname, spec in files_table.items():
        sha = str(spec.get("sha256", "")).lower()
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise BadInputError(f"registry entry {name!r}, file {fname!r}: sha256 must be 64 hex digits, got {sha!r}")
        files[fname] = DatasetFile(fname, sha, spec.get("size"), spec.get("url"), spec.get("upstream_path"))
    known = {f for f in DatasetEntry.__dataclass_fields__ if f not in {"name", "files", "extra", "workflows"}}
    kwargs = {k: table[k] for k in known if k in table}
    extra = {k: v for k, v in table.items() if k not in known and k not in {"files", "workflows"}}
    return DatasetEntry(
        name=name,
        files=files,
        workflows=tuple(table.get("workflows", ())),
        extra=extra,
        **{"folder": name, **kwargs},
    )


def read_registry(path: str | os.PathLike = REGISTRY_FILE) -> dict[str, DatasetEntry]:
    """Parse a registry TOML file into ``{name: DatasetEntry}``."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"dataset registry {p} not found; dynfer reads it from the source tree (datasets/registry.toml)"
        )
    with p.open("rb") as fh:
        data = tomllib.load(fh)
    tables = data.get("datasets", {})
    return {name: _entry_from_table(name, table) for name, table in tables.items()}


_REGISTRY: dict[str, DatasetEntry] | None = None


def registry() -> dict[str, DatasetEntry]:
    """The registry (read once from :data:`REGISTRY_FILE`, plus entries added with :func:`register`)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = read_registry(REGISTRY_FILE)
    return _REGISTRY


def list_real_datasets() -> list[str]:
    """Sorted names of the registered real datasets."""
    return sorted(registry())


def get_entry(name: str) -> DatasetEntry:
    """The registry entry called ``name``.

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.
    """
    reg = registry()
    if not isinstance(name, str) or name not in reg:
        raise BadInputError(f"unknown dataset {name!r}; registered datasets: {', '.join(sorted(reg))}")
    return reg[name]


def register(
    name: str,
    files: Mapping[str, str | Mapping[str, Any]],
    *,
    folder: str | None = None,
    overwrite: bool = False,
    **metadata: Any,
) -> DatasetEntry:
    """Add a dataset to the in-memory registry (e.g. a private mirror folder, or a test fixture).

    Parameters
    ----------
    name
        Registry name.
    files
        ``{file name: sha256}`` or ``{file name: {"sha256": ..., "url": ..., "size": ...}}``.
    folder
        Folder inside the mirror (default ``name``).
    overwrite
        Replace an existing entry of the same name.
    **metadata
        Other entry fields (``title``, ``licence``, ``redistribute``, ``citation``, ...).
    """
    reg = registry()
    if name in reg and not overwrite:
        raise BadInputError(f"dataset {name!r} is already registered; pass overwrite=True to replace it")
    table = {
        "folder": folder or name,
        "files": {f: ({"sha256": s} if isinstance(s, str) else dict(s)) for f, s in files.items()},
        **metadata,
    }
    entry = _entry_from_table(name, table)
    reg[name] = entry
    return entry


def unregister(name: str) -> None:
    """Remove ``name`` from the in-memory registry (no error if absent)."""
    registry().pop(name, None)


sha256sum = sha256_file  # the registry's name for the shared helper


def _check(path: Path, spec: DatasetFile, dataset: str) -> Path:
    actual = sha256sum(path)
    if actual != spec.sha256:
        raise DatasetChecksumError(
            f"checksum mismatch for {path} (dataset {dataset!r}, file {spec.name!r}): expected sha256 "
            f"{spec.sha256}, got {actual}. The file is corrupt, truncated or a different version; replace it with "
            "the registered one (see datasets/registry.toml)."
        )
    return path


def _download(spec: DatasetFile, entry: DatasetEntry, cache: Path) -> Path:
    import pooch

    cache.mkdir(parents=True, exist_ok=True)
    path = pooch.retrieve(
        spec.url, known_hash=f"sha256:{spec.sha256}", fname=spec.name, path=cache, progressbar=settings.progress
    )
    return Path(path)


def fetch(name: str, files: str | Iterable[str] | None = None, *, download: bool = True) -> dict[str, Path]:
    """Local paths of a registered dataset's files, checksum-verified.

    Looks in the local mirror ``settings.data_dir / <folder>`` first, then in the cache
    ``settings.cache_dir / <folder>``, then downloads into the cache with pooch from the recorded URL (files without a
    URL -- non-commercial data, mirror-only re-packs -- are never downloaded).

    Parameters
    ----------
    name
        Registry name (see :func:`list_real_datasets`).
    files
        One file name or several; default all files of the entry.
    download
        Allow downloading files that have a URL.

    Returns
    -------
    dict
        ``{file name: Path}`` in the requested order.

    Raises
    ------
    ValueError
        Unknown dataset or file name.
    DatasetChecksumError
        A found file has the wrong sha256.
    DatasetNotFoundError
        A file is nowhere to be found and cannot be downloaded; the message lists the places tried and how to set
        ``DYNFER_DATA_DIR``.
    """
    entry = get_entry(name)
    if files is None:
        wanted = list(entry.files)
    else:
        wanted = [files] if isinstance(files, str) else list(files)
        unknown = [f for f in wanted if f not in entry.files]
        if unknown:
            raise BadInputError(f"dataset {name!r} has no file(s) {unknown}; its files: {sorted(entry.files)}")
    mirror = None if settings.data_dir is None else Path(settings.data_dir) / entry.folder
    cache = Path(settings.cache_dir) / entry.folder
    out: dict[str, Path] = {}
    for fname in wanted:
        spec = entry.files[fname]
        tried = []
        if mirror is not None:
            candidate = mirror / fname
            tried.append(f"local mirror {candidate}")
            if candidate.is_file():
                out[fname] = _check(candidate, spec, name)
                continue
        else:
            tried.append("local mirror: not set (settings.data_dir is None; DYNFER_DATA_DIR unset)")
        cached = cache / fname
        tried.append(f"cache {cached}")
        if cached.is_file():
            out[fname] = _check(cached, spec, name)
            continue
        reason = ""
        if spec.url is None:
            reason = "it has no download URL (mirror only" + (
                ": its licence does not allow redistribution)" if not entry.redistribute else ")"
            )
        elif not download:
            reason = "downloads are switched off (download=False)"
        else:
            try:
                out[fname] = _check(_download(spec, entry, cache), spec, name)
                continue
            except DatasetChecksumError:
                raise
            except Exception as exc:  # network errors, HTTP errors, missing pooch
                reason = f"the download from {spec.url} failed ({type(exc).__name__}: {exc})"
        raise DatasetNotFoundError(
            f"file {fname!r} of dataset {name!r} not found: looked in " + "; ".join(tried) + f", and {reason}. "
            f"Point dynfer at a local mirror holding the folder {entry.folder!r}: set the environment variable "
            "DYNFER_DATA_DIR=/path/to/mirror or dynfer.settings.data_dir = '/path/to/mirror'."
        )
    return out
