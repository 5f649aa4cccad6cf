"""Parsers for the Acclaim skeleton (ASF) and motion (AMC) text formats used by the CMU motion-capture database.

The ASF file describes the skeleton: ``:units``, the ``:root`` (its channel ``order``, ``axis``, ``position`` and
``orientation``), one ``begin``/``end`` block per bone in ``:bonedata`` (``id``, ``name``, ``direction``, ``length``,
``axis``, optional ``dof`` and ``limits``) and the parent -> children lists of ``:hierarchy``. An AMC file holds the
motion: after its header keywords (``:FULLY-SPECIFIED``, ``:DEGREES``), a frame number on its own line, then one line
per bone with degrees of freedom, ``<bone> <value> ...`` with the values in the bone's ``dof`` order (the root's in
its ``order``).

Reference: Acclaim ASF/AMC file format specification (Lander, 1998, "Working with motion capture file formats",
Game Developer); CMU Graphics Lab Motion Capture Database, http://mocap.cs.cmu.edu.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from dynfer._errors import BadInputError

__all__ = ["Bone", "Skeleton", "parse_amc", "parse_asf"]

_NUMBER = r"[-+]?(?:inf|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_LIMIT = re.compile(rf"\(\s*({_NUMBER})\s*,?\s*({_NUMBER})\s*\)", re.IGNORECASE)


@dataclass
class Bone:
    """One ASF bone: its degrees of freedom (``dof``, e.g. ``["rx", "ry", "rz"]``) and their ``limits`` (n_dof, 2)."""

    name: str
    id: int = -1
    direction: np.ndarray = field(default_factory=lambda: np.zeros(3))
    length: float = 0.0
    axis: np.ndarray = field(default_factory=lambda: np.zeros(3))
    axis_order: str = "XYZ"
    dof: list[str] = field(default_factory=list)
    limits: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    parent: str = ""


@dataclass
class Skeleton:
    """A parsed ASF skeleton: units, the root bone first, then the bones in file order, each with its parent."""

    name: str
    units: dict[str, str]
    bones: list[Bone]
    root_position: np.ndarray
    root_orientation: np.ndarray

    def bone(self, name: str) -> Bone:
        """The bone called ``name``."""
        for b in self.bones:
            if b.name == name:
                return b
        raise KeyError(name)

    @property
    def dof_bones(self) -> list[Bone]:
        """Bones with at least one degree of freedom, in file order (root first): the AMC columns."""
        return [b for b in self.bones if b.dof]

    @property
    def columns(self) -> list[tuple[str, str]]:
        """(bone, dof) of every motion column, in the order :func:`parse_amc` returns them."""
        return [(b.name, d) for b in self.dof_bones for d in b.dof]


def _floats(tokens: list[str], what: str, source: str, n: int | None = None) -> np.ndarray:
    try:
        values = np.array([float(t) for t in tokens], dtype=np.float64)
    except ValueError:
        raise BadInputError(f"{source}: {what} must be numbers, got {' '.join(tokens)!r}") from None
    if n is not None and len(values) != n:
        raise BadInputError(f"{source}: {what} needs {n} numbers, got {len(values)}")
    return values


def _sections(text: str) -> dict[str, list[str]]:
    """Lines of each ``:keyword`` section (comments and blank lines removed); the keyword's own tail first."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(":"):
            key, _, rest = line[1:].partition(" ")
            current = sections.setdefault(key.lower(), [])
            if rest.strip():
                current.append(rest.strip())
        elif current is not None:
            current.append(line)
    return sections


def _parse_bone(lines: list[str], source: str) -> Bone:
    bone = Bone(name="")
    i = 0
    while i < len(lines):
        key, *vals = lines[i].split()
        key = key.lower()
        if key == "id":
            bone.id = int(vals[0])
        elif key == "name":
            bone.name = vals[0]
        elif key == "direction":
            bone.direction = _floats(vals, f"bone {bone.name!r} direction", source, 3)
        elif key == "length":
            bone.length = float(_floats(vals, f"bone {bone.name!r} length", source, 1)[0])
        elif key == "axis":
            bone.axis = _floats(vals[:3], f"bone {bone.name!r} axis", source, 3)
            bone.axis_order = vals[3].upper() if len(vals) > 3 else "XYZ"
        elif key == "dof":
            bone.dof = [v.lower() for v in vals]
        elif key == "limits":
            # one "(lo, hi)" pair per dof, the first on this line and the rest on the following lines
            chunk = " ".join(vals)
            while len(_LIMIT.findall(chunk)) < len(bone.dof) and i + 1 < len(lines) and lines[i + 1].startswith("("):
                i += 1
                chunk += " " + lines[i]
            pairs = _LIMIT.findall(chunk)
            if len(pairs) != len(bone.dof):
                raise BadInputError(
                    f"{source}: bone {bone.name!r} has {len(bone.dof)} dof but {len(pairs)} limits ({chunk!r})"
                )
            bone.limits = np.array([[float(a), float(b)] for a, b in pairs], dtype=np.float64).reshape(-1, 2)
        i += 1
    if not bone.name:
        raise BadInputError(f"{source}: a bone in :bonedata has no name")
    if bone.dof and len(bone.limits) == 0:
        bone.limits = np.tile([-np.inf, np.inf], (len(bone.dof), 1))
    return bone


def parse_asf(text: str, source: str = "<asf>") -> Skeleton:
    """Parse the text of an ASF skeleton file.

    Parameters
    ----------
    text
        Contents of the ``.asf`` file.
    source
        Name used in error messages (usually the path).

    Returns
    -------
    Skeleton
        Root first (its degrees of freedom from the ``order`` line, lower-cased: ``tx ty tz rx ry rz``), then the
        bones of ``:bonedata`` in file order, each with its ``parent`` from ``:hierarchy``.
    """
    sec = _sections(text)
    for needed in ("root", "bonedata", "hierarchy"):
        if needed not in sec:
            raise BadInputError(f"{source}: not an ASF skeleton, it has no :{needed} section")
    units = {}
    for line in sec.get("units", []):
        key, *vals = line.split()
        units[key.lower()] = " ".join(vals)
    root = Bone(name="root")
    position, orientation = np.zeros(3), np.zeros(3)
    for line in sec["root"]:
        key, *vals = line.split()
        key = key.lower()
        if key == "order":
            root.dof = [v.lower() for v in vals]
        elif key == "axis":
            root.axis_order = vals[0].upper()
        elif key == "position":
            position = _floats(vals, "root position", source, 3)
        elif key == "orientation":
            orientation = _floats(vals, "root orientation", source, 3)
    root.limits = np.tile([-np.inf, np.inf], (len(root.dof), 1))
    bones, block = [root], None
    for line in sec["bonedata"]:
        word = line.split()[0].lower()
        if word == "begin":
            if block is not None:
                raise BadInputError(f"{source}: :bonedata has 'begin' inside an unfinished bone block")
            block = []
        elif word == "end":
            if block is None:
                raise BadInputError(f"{source}: :bonedata has 'end' without 'begin'")
            bones.append(_parse_bone(block, source))
            block = None
        elif block is None:
            raise BadInputError(f"{source}: :bonedata line outside a begin/end block: {line!r}")
        else:
            block.append(line)
    if block is not None:
        raise BadInputError(f"{source}: :bonedata ends inside a bone block (missing 'end'; file truncated?)")
    by_name = {b.name: b for b in bones}
    if len(by_name) != len(bones):
        raise BadInputError(f"{source}: bone names in :bonedata are not unique")
    for line in sec["hierarchy"]:
        parent, *children = line.split()
        if parent.lower() in ("begin", "end"):
            continue
        for name in [parent, *children]:
            if name not in by_name:
                raise BadInputError(f"{source}: :hierarchy names bone {name!r}, which :bonedata does not define")
        for child in children:
            by_name[child].parent = parent
    orphans = [b.name for b in bones[1:] if not b.parent]
    if orphans:
        raise BadInputError(f"{source}: bones without a parent in :hierarchy: {orphans}")
    name = " ".join(sec.get("name", [])) or "skeleton"
    return Skeleton(name=name, units=units, bones=bones, root_position=position, root_orientation=orientation)


def parse_amc(text: str, skeleton: Skeleton, source: str = "<amc>") -> tuple[np.ndarray, np.ndarray]:
    """Parse the text of an AMC motion file against its skeleton.

    Parameters
    ----------
    text
        Contents of the ``.amc`` file.
    skeleton
        The skeleton from :func:`parse_asf`; every frame must give each bone with degrees of freedom exactly once,
        with one value per degree of freedom.
    source
        Name used in error messages (usually the path).

    Returns
    -------
    frames : numpy.ndarray
        The frame numbers written in the file (int64, strictly increasing).
    values : numpy.ndarray
        (n_frames, n_columns) float64, columns in the order of :attr:`Skeleton.columns`.
    """
    bones = skeleton.dof_bones
    slot, start = {}, 0
    for b in bones:
        slot[b.name] = (start, len(b.dof))
        start += len(b.dof)
    n_cols = start
    frames: list[int] = []
    rows: list[np.ndarray] = []
    seen: set[str] = set()

    def close_frame() -> None:
        if frames:
            missing = [b.name for b in bones if b.name not in seen]
            if missing:
                raise BadInputError(f"{source}: frame {frames[-1]} lacks bone(s) {missing} (file truncated?)")

    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith(":"):
            continue
        tokens = line.split()
        if len(tokens) == 1 and tokens[0].lstrip("+-").isdigit():
            close_frame()
            number = int(tokens[0])
            if frames and number <= frames[-1]:
                raise BadInputError(f"{source}: line {lineno}: frame number {number} does not follow {frames[-1]}")
            frames.append(number)
            rows.append(np.full(n_cols, np.nan))
            seen = set()
            continue
        if not frames:
            raise BadInputError(f"{source}: line {lineno}: bone values before the first frame number: {line!r}")
        name, vals = tokens[0], tokens[1:]
        if name not in slot:
            known = skeleton.bone(name) if name in {b.name for b in skeleton.bones} else None
            why = "has no degrees of freedom in the skeleton" if known else "is not a bone of the skeleton"
            raise BadInputError(f"{source}: line {lineno}: {name!r} {why}")
        if name in seen:
            raise BadInputError(f"{source}: line {lineno}: bone {name!r} appears twice in frame {frames[-1]}")
        i0, n = slot[name]
        if len(vals) != n:
            raise BadInputError(
                f"{source}: line {lineno}: bone {name!r} in frame {frames[-1]} has {len(vals)} value(s), "
                f"expected {n} ({' '.join(skeleton.bone(name).dof)})"
            )
        rows[-1][i0 : i0 + n] = _floats(vals, f"line {lineno} ({name})", source)
        seen.add(name)
    if not frames:
        raise BadInputError(f"{source}: no frames found (empty or not an AMC file)")
    close_frame()
    return np.asarray(frames, dtype=np.int64), np.vstack(rows)
