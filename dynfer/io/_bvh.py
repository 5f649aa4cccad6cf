"""Parser for the Biovision Hierarchy (BVH) motion format.

A BVH file has two parts. ``HIERARCHY``: nested ``ROOT``/``JOINT`` blocks in braces, each with an ``OFFSET x y z``
and ``CHANNELS n <name> ...`` (e.g. ``Xposition``, ``Zrotation``), and ``End Site`` blocks with only an offset.
``MOTION``: ``Frames: <n>``, ``Frame Time: <seconds>``, then one line per frame holding the values of every channel
in the order the channels were declared.

Reference: M. Meredith and S. Maddock, "Motion capture file formats explained", University of Sheffield (2001).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dynfer._errors import BadInputError

__all__ = ["BVHJoint", "BVHMotion", "parse_bvh"]

_KEYWORDS = {"{", "}", "ROOT", "JOINT", "END", "OFFSET", "CHANNELS"}


@dataclass
class BVHJoint:
    """One joint: its ``parent`` ("" for a root), ``offset`` from the parent and ``channels`` in file order.

    End sites are joints named ``"<parent>_End"`` (numbered when a joint has several) without channels.
    """

    name: str
    parent: str
    offset: np.ndarray
    channels: list[str] = field(default_factory=list)
    end_site: bool = False


@dataclass
class BVHMotion:
    """A parsed BVH file: joints in declaration order, ``frame_time`` (s) and ``values`` (n_frames, n_channels)."""

    joints: list[BVHJoint]
    frame_time: float
    values: np.ndarray

    @property
    def columns(self) -> list[tuple[str, str]]:
        """(joint, channel) of every column of :attr:`values`."""
        return [(j.name, c) for j in self.joints for c in j.channels]


_CHANNELS = {"XPOSITION", "YPOSITION", "ZPOSITION", "XROTATION", "YROTATION", "ZROTATION"}


def _number(text: str) -> float:
    """``float(text)``, NaN for anything that is not a number (callers refuse non-finite values)."""
    try:
        return float(text)
    except ValueError:
        return np.nan


def _parse_hierarchy(tokens: list[tuple[str, int]], source: str) -> list[BVHJoint]:
    """Joints from the HIERARCHY tokens, each with its 1-based line number."""
    joints: list[BVHJoint] = []
    stack: list[BVHJoint] = []
    names: set[str] = set()
    i, n = 0, len(tokens)

    def fail(found: str, expected: str | None = None, at: int | None = None) -> BadInputError:
        line = tokens[min(i if at is None else at, n - 1)][1] if tokens else None
        return BadInputError(source, found, expected, line=line)

    def take(k: int, what: str) -> list[str]:
        nonlocal i
        if i + k > n:
            raise fail(f"HIERARCHY ends early while reading {what} (file truncated?)")
        out = [t for t, _ in tokens[i : i + k]]
        i += k
        return out

    pending: BVHJoint | None = None
    while i < n:
        tok = tokens[i][0]
        i += 1
        up = tok.upper()
        if up in ("ROOT", "JOINT"):
            if up == "JOINT" and not stack:
                raise fail("JOINT outside any ROOT block", at=i - 1)
            (name,) = take(1, f"the name of a {up}")
            if name in names or name in ("{", "}"):
                raise fail(f"joint name {name!r} is used twice" if name in names else f"{up} without a name",
                           at=i - 1)
            names.add(name)
            pending = BVHJoint(name=name, parent=stack[-1].name if stack else "", offset=np.zeros(3))
        elif up == "END":
            take(1, "End Site")
            if not stack:
                raise fail("End Site outside any joint", at=i - 1)
            base = f"{stack[-1].name}_End"
            name, k = base, 2
            while name in names:
                name, k = f"{base}{k}", k + 1
            names.add(name)
            pending = BVHJoint(name=name, parent=stack[-1].name, offset=np.zeros(3), end_site=True)
        elif tok == "{":
            if pending is None:
                raise fail("'{' without a ROOT, JOINT or End Site before it", at=i - 1)
            joints.append(pending)
            stack.append(pending)
            pending = None
        elif tok == "}":
            if not stack:
                raise fail("unbalanced '}' in HIERARCHY", at=i - 1)
            stack.pop()
        elif up == "OFFSET":
            if not stack:
                raise fail("OFFSET outside any joint", at=i - 1)
            vals = take(3, "an OFFSET")
            offset = np.array([_number(v) for v in vals])
            if not np.isfinite(offset).all():
                raise fail(f"OFFSET of {stack[-1].name!r} is {' '.join(vals)}", "3 finite numbers", at=i - 1)
            stack[-1].offset = offset
        elif up == "CHANNELS":
            if not stack or stack[-1].end_site:
                raise fail("CHANNELS outside a ROOT or JOINT", at=i - 1)
            (count,) = take(1, "a CHANNELS count")
            if not (count.isascii() and count.isdigit()):
                raise fail(f"CHANNELS of {stack[-1].name!r} must start with a count, got {count!r}", at=i - 1)
            channels = take(int(count), f"the CHANNELS of {stack[-1].name!r}")
            listed = next((k for k, c in enumerate(channels) if c.upper() in _KEYWORDS), len(channels))
            if listed < len(channels):
                raise fail(f"CHANNELS of {stack[-1].name!r} declares {count} channel(s) but lists {listed}", at=i - 1)
            unknown = [c for c in channels if c.upper() not in _CHANNELS]
            if unknown or len({c.upper() for c in channels}) != len(channels):
                raise fail(f"CHANNELS of {stack[-1].name!r} are {' '.join(channels)}",
                           "distinct names among Xposition Yposition Zposition Xrotation Yrotation Zrotation",
                           at=i - 1)
            stack[-1].channels = channels
        else:
            raise fail(f"unexpected token {tok!r} in HIERARCHY", at=i - 1)
    if stack:
        raise fail(f"HIERARCHY ends with {len(stack)} unclosed block(s) (file truncated?)")
    if not joints:
        raise BadInputError(source, "HIERARCHY declares no ROOT", "a ROOT block")
    return joints


def parse_bvh(text: str, source: str = "<bvh>") -> BVHMotion:
    """Parse the text of a BVH file.

    Parameters
    ----------
    text
        Contents of the ``.bvh`` file.
    source
        Name used in error messages (usually the path).

    Returns
    -------
    BVHMotion
        The joints, the frame time in seconds and the channel values, one row per frame.

    Raises
    ------
    BadInputError
        If a section is missing or malformed (unknown or repeated channel names, offsets or values that are not
        finite numbers), the number of motion lines differs from ``Frames:``, or a motion line does not hold one
        number per declared channel. The message names the file and the line.
    """
    lines = text.split("\n")
    upper = [ln.strip().upper() for ln in lines]
    if "HIERARCHY" not in upper:
        raise BadInputError(source, "not a BVH file (no HIERARCHY line)", "a line 'HIERARCHY'")
    if "MOTION" not in upper:
        raise BadInputError(source, "no MOTION section (file truncated?)", "a line 'MOTION' after the HIERARCHY")
    h, m = upper.index("HIERARCHY"), upper.index("MOTION")
    tokens = [(tok, k + 1) for k in range(h + 1, m)
              for tok in lines[k].replace("{", " { ").replace("}", " } ").split()]
    joints = _parse_hierarchy(tokens, source)
    n_channels = sum(len(j.channels) for j in joints)

    header: dict[str, tuple[str, int]] = {}
    i = m + 1
    while i < len(lines) and len(header) < 2:
        line = lines[i].strip()
        i += 1
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep or key.strip().lower() not in ("frames", "frame time") or key.strip().lower() in header:
            raise BadInputError(source, f"MOTION header line {line[:60]!r}", "'Frames: <n>' and 'Frame Time: <s>'",
                                line=i)
        header[key.strip().lower()] = (value.strip(), i)
    if len(header) < 2:
        raise BadInputError(source, "MOTION lacks 'Frames:' or 'Frame Time:' (file truncated?)",
                            "'Frames: <n>' and 'Frame Time: <s>'", line=i)
    (frames_text, frames_line), (time_text, time_line) = header["frames"], header["frame time"]
    if not (frames_text.isascii() and frames_text.isdigit()):
        raise BadInputError(source, f"Frames: {frames_text!r}", "a non-negative integer", line=frames_line)
    n_frames, frame_time = int(frames_text), _number(time_text)
    rows = [(k + 1, ln.split()) for k, ln in enumerate(lines[i:], start=i) if ln.strip()]
    if len(rows) != n_frames:
        raise BadInputError(
            source,
            f"'Frames: {n_frames}' but the MOTION section has {len(rows)} line(s) of values"
            + (" (file truncated?)" if len(rows) < n_frames else ""),
            f"{n_frames} lines of values", line=rows[n_frames][0] if len(rows) > n_frames else frames_line,
        )
    with np.errstate(over="ignore", divide="ignore"):
        usable = frame_time > 0 and np.isfinite([frame_time, 1 / frame_time, n_frames * frame_time]).all()
    if not usable:
        raise BadInputError(source, f"Frame Time: {time_text!r}", "a positive number of seconds (Frame Time and "
                            "1 / Frame Time finite)", line=time_line)
    values = np.empty((n_frames, n_channels), dtype=np.float64)
    for r, (lineno, vals) in enumerate(rows):
        if len(vals) != n_channels:
            raise BadInputError(source, f"frame {r} has {len(vals)} value(s); the HIERARCHY declares {n_channels} "
                                "channel(s)", f"{n_channels} numbers", line=lineno)
        values[r] = [_number(v) for v in vals]
        bad = ~np.isfinite(values[r])
        if bad.any():
            word = vals[int(np.flatnonzero(bad)[0])]
            raise BadInputError(source, f"frame {r} holds {word[:30]!r}, which is not a finite number",
                                "one finite number per channel", line=lineno)
    return BVHMotion(joints=joints, frame_time=frame_time, values=values)
