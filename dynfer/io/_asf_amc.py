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
    source: str = "<asf>"

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


_DOF = {"tx", "ty", "tz", "rx", "ry", "rz", "l"}
_INTEGER = re.compile(r"[+-]?[0-9]+")
Line = tuple[str, int]  # a line's text (comment removed, stripped) and its 1-based number


def _floats(tokens: list[str], what: str, source: str, n: int | None = None, line: int | None = None) -> np.ndarray:
    """``tokens`` as finite float64 numbers (``n`` of them when given)."""
    try:
        values = np.array([float(t) for t in tokens], dtype=np.float64)
    except ValueError:
        values = np.full(1, np.nan)
    if not np.isfinite(values).all():
        raise BadInputError(source, f"{what} is {' '.join(tokens)[:60]!r}", "finite numbers", line=line)
    if n is not None and len(values) != n:
        raise BadInputError(source, f"{what} has {len(values)} number(s)", f"{n}", line=line)
    return values


def _sections(text: str) -> dict[str, list[Line]]:
    """Lines of each ``:keyword`` section (comments and blank lines removed); the keyword's own tail first."""
    sections: dict[str, list[Line]] = {}
    current: list[Line] | None = None
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(":"):
            key, _, rest = line[1:].partition(" ")
            current = sections.setdefault(key.lower(), [])
            if rest.strip():
                current.append((rest.strip(), lineno))
        elif current is not None:
            current.append((line, lineno))
    return sections


def _axis_order(word: str, source: str, line: int) -> str:
    order = word.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise BadInputError(source, f"axis order {word!r}", "a permutation of XYZ", line=line)
    return order


def _dof_list(words: list[str], what: str, source: str, line: int) -> list[str]:
    dof = [w.lower() for w in words]
    if set(dof) - _DOF or len(set(dof)) != len(dof):
        raise BadInputError(source, f"{what} {' '.join(words)!r}", "distinct names among tx ty tz rx ry rz l",
                            line=line)
    return dof


def _parse_bone(lines: list[Line], source: str) -> Bone:
    bone = Bone(name="")
    i = 0
    while i < len(lines):
        text, lineno = lines[i]
        key, *vals = text.split()
        key = key.lower()
        what = f"bone {bone.name!r} {key}"
        if key in ("id", "name", "axis") and not vals:
            raise BadInputError(source, f"{key!r} without a value", f"a value after {key!r}", line=lineno)
        if key == "id":
            if not _INTEGER.fullmatch(vals[0]):
                raise BadInputError(source, f"bone id {vals[0]!r}", "an integer", line=lineno)
            bone.id = int(vals[0])
        elif key == "name":
            bone.name = vals[0]
        elif key == "direction":
            bone.direction = _floats(vals, what, source, 3, lineno)
        elif key == "length":
            bone.length = float(_floats(vals, what, source, 1, lineno)[0])
            if bone.length < 0:
                raise BadInputError(source, f"{what} is {bone.length}", "a length >= 0", line=lineno)
        elif key == "axis":
            bone.axis = _floats(vals[:3], what, source, 3, lineno)
            bone.axis_order = _axis_order(vals[3], source, lineno) if len(vals) > 3 else "XYZ"
        elif key == "dof":
            bone.dof = _dof_list(vals, f"{what}", source, lineno)
        elif key == "limits":
            # one "(lo, hi)" pair per dof, the first on this line and the rest on the following lines
            chunk = " ".join(vals)
            while len(_LIMIT.findall(chunk)) < len(bone.dof) and i + 1 < len(lines) and lines[i + 1][0].startswith("("):
                i += 1
                chunk += " " + lines[i][0]
            pairs = _LIMIT.findall(chunk)
            if len(pairs) != len(bone.dof):
                raise BadInputError(source, f"bone {bone.name!r} has {len(bone.dof)} dof but {len(pairs)} limits "
                                    f"({chunk[:80]!r})", "one (lower, upper) pair per dof", line=lineno)
            bone.limits = np.array([[float(a), float(b)] for a, b in pairs], dtype=np.float64).reshape(-1, 2)
            if (bone.limits[:, 0] > bone.limits[:, 1]).any():
                raise BadInputError(source, f"bone {bone.name!r} limits {chunk[:80]!r}", "lower <= upper",
                                    line=lineno)
        i += 1
    if not bone.name:
        raise BadInputError(source, "a bone in :bonedata has no name", "a 'name' line",
                            line=lines[0][1] if lines else None)
    if bone.dof and len(bone.limits) == 0:
        bone.limits = np.tile([-np.inf, np.inf], (len(bone.dof), 1))
    return bone


def _root(lines: list[Line], source: str) -> tuple[Bone, np.ndarray, np.ndarray]:
    root = Bone(name="root")
    position, orientation = np.zeros(3), np.zeros(3)
    for text, lineno in lines:
        key, *vals = text.split()
        key = key.lower()
        if key == "order":
            root.dof = _dof_list(vals, "root order", source, lineno)
        elif key == "axis":
            root.axis_order = _axis_order(vals[0] if vals else "", source, lineno)
        elif key == "position":
            position = _floats(vals, "root position", source, 3, lineno)
        elif key == "orientation":
            orientation = _floats(vals, "root orientation", source, 3, lineno)
    root.limits = np.tile([-np.inf, np.inf], (len(root.dof), 1))
    return root, position, orientation


def _units(lines: list[Line], source: str) -> dict[str, str]:
    units = {}
    for text, lineno in lines:
        key, *vals = text.split()
        key, value = key.lower(), " ".join(vals)
        if key == "angle" and value.lower() not in ("deg", "rad"):
            raise BadInputError(source, f":units angle {value!r}", "deg or rad", line=lineno)
        if key in ("mass", "length"):
            scale = _floats(vals, f":units {key}", source, 1, lineno)[0]
            if scale <= 0:
                raise BadInputError(source, f":units {key} {value}", "a positive scale", line=lineno)
        units[key] = value
    return units


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

    Raises
    ------
    BadInputError
        A missing section, a bone block that does not close, unknown or repeated degrees of freedom, numbers that
        are not finite, limits with lower > upper, names that :hierarchy and :bonedata disagree on; the message
        names the file and the line.
    """
    sec = _sections(text)
    for needed in ("root", "bonedata", "hierarchy"):
        if needed not in sec:
            raise BadInputError(source, f"not an ASF skeleton, it has no :{needed} section",
                                ":root, :bonedata and :hierarchy sections")
    units = _units(sec.get("units", []), source)
    root, position, orientation = _root(sec["root"], source)
    bones, block = [root], None
    for text_line, lineno in sec["bonedata"]:
        word = text_line.split()[0].lower()
        if word == "begin":
            if block is not None:
                raise BadInputError(source, ":bonedata has 'begin' inside an unfinished bone block", "'end' first",
                                    line=lineno)
            block = []
        elif word == "end":
            if block is None:
                raise BadInputError(source, ":bonedata has 'end' without 'begin'", line=lineno)
            bones.append(_parse_bone(block, source))
            block = None
        elif block is None:
            raise BadInputError(source, f":bonedata line outside a begin/end block: {text_line[:60]!r}", line=lineno)
        else:
            block.append((text_line, lineno))
    if block is not None:
        raise BadInputError(source, ":bonedata ends inside a bone block (missing 'end'; file truncated?)", "'end'")
    by_name = {b.name: b for b in bones}
    if len(by_name) != len(bones):
        raise BadInputError(source, "bone names in :bonedata are not unique", "each bone name once")
    for text_line, lineno in sec["hierarchy"]:
        parent, *children = text_line.split()
        if parent.lower() in ("begin", "end"):
            continue
        for name in [parent, *children]:
            if name not in by_name:
                raise BadInputError(source, f":hierarchy names bone {name!r}, which :bonedata does not define",
                                    line=lineno)
        for child in children:
            by_name[child].parent = parent
    orphans = [b.name for b in bones[1:] if not b.parent]
    if orphans:
        raise BadInputError(source, f"bones without a parent in :hierarchy: {orphans}", "a parent for every bone")
    name = " ".join(t for t, _ in sec.get("name", [])) or "skeleton"
    return Skeleton(name=name, units=units, bones=bones, root_position=position, root_orientation=orientation,
                    source=source)


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
                raise BadInputError(source, f"frame {frames[-1]} lacks bone(s) {missing} (file truncated?)",
                                    f"every bone with degrees of freedom in {skeleton.source}", line=frame_line)

    frame_line = 0
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith(":"):
            continue
        tokens = line.split()
        if len(tokens) == 1 and _INTEGER.fullmatch(tokens[0]):
            close_frame()
            number = int(tokens[0])
            if abs(number) >= 2**62:
                raise BadInputError(source, f"frame number {number}", "a frame number below 2^62", line=lineno)
            if frames and number <= frames[-1]:
                raise BadInputError(source, f"frame number {number} does not follow {frames[-1]}",
                                    "increasing frame numbers", line=lineno)
            frames.append(number)
            rows.append(np.full(n_cols, np.nan))
            seen = set()
            frame_line = lineno
            continue
        if not frames:
            raise BadInputError(source, f"bone values before the first frame number: {line[:60]!r}",
                                "a frame number on its own line first", line=lineno)
        name, vals = tokens[0], tokens[1:]
        if name not in slot:
            known = name in {b.name for b in skeleton.bones}
            why = "has no degrees of freedom in" if known else "is not a bone of"
            raise BadInputError(source, f"{name!r} {why} the skeleton {skeleton.source}",
                                "the bones with degrees of freedom of the ASF", line=lineno)
        if name in seen:
            raise BadInputError(source, f"bone {name!r} appears twice in frame {frames[-1]}", "each bone once",
                                line=lineno)
        i0, n = slot[name]
        if len(vals) != n:
            raise BadInputError(source, f"bone {name!r} in frame {frames[-1]} has {len(vals)} value(s), expected {n} "
                                f"({' '.join(skeleton.bone(name).dof)})", line=lineno)
        rows[-1][i0 : i0 + n] = _floats(vals, f"bone {name!r} in frame {frames[-1]}", source, line=lineno)
        seen.add(name)
    if not frames:
        raise BadInputError(source, "no frames found (empty or not an AMC file)", "frame numbers and bone lines")
    close_frame()
    return np.asarray(frames, dtype=np.int64), np.vstack(rows)
