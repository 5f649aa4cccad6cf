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


def _parse_hierarchy(tokens: list[str], source: str) -> list[BVHJoint]:
    joints: list[BVHJoint] = []
    stack: list[BVHJoint] = []
    names: set[str] = set()
    i, n = 0, len(tokens)

    def take(k: int, what: str) -> list[str]:
        nonlocal i
        if i + k > n:
            raise BadInputError(f"{source}: HIERARCHY ends early while reading {what} (file truncated?)")
        out = tokens[i : i + k]
        i += k
        return out

    pending: BVHJoint | None = None
    while i < n:
        tok = tokens[i]
        i += 1
        up = tok.upper()
        if up in ("ROOT", "JOINT"):
            if up == "JOINT" and not stack:
                raise BadInputError(f"{source}: JOINT outside any ROOT block")
            (name,) = take(1, f"the name of a {up}")
            if name in names:
                raise BadInputError(f"{source}: joint name {name!r} is used twice")
            names.add(name)
            pending = BVHJoint(name=name, parent=stack[-1].name if stack else "", offset=np.zeros(3))
        elif up == "END":
            take(1, "End Site")
            if not stack:
                raise BadInputError(f"{source}: End Site outside any joint")
            base = f"{stack[-1].name}_End"
            name, k = base, 2
            while name in names:
                name, k = f"{base}{k}", k + 1
            names.add(name)
            pending = BVHJoint(name=name, parent=stack[-1].name, offset=np.zeros(3), end_site=True)
        elif tok == "{":
            if pending is None:
                raise BadInputError(f"{source}: '{{' without a ROOT, JOINT or End Site before it")
            joints.append(pending)
            stack.append(pending)
            pending = None
        elif tok == "}":
            if not stack:
                raise BadInputError(f"{source}: unbalanced '}}' in HIERARCHY")
            stack.pop()
        elif up == "OFFSET":
            if not stack:
                raise BadInputError(f"{source}: OFFSET outside any joint")
            vals = take(3, "an OFFSET")
            try:
                stack[-1].offset = np.array([float(v) for v in vals])
            except ValueError:
                raise BadInputError(f"{source}: OFFSET of {stack[-1].name!r} must be 3 numbers, got {vals}") from None
        elif up == "CHANNELS":
            if not stack or stack[-1].end_site:
                raise BadInputError(f"{source}: CHANNELS outside a ROOT or JOINT")
            (count,) = take(1, "a CHANNELS count")
            if not count.isdigit():
                raise BadInputError(f"{source}: CHANNELS of {stack[-1].name!r} must start with a count, got {count!r}")
            channels = take(int(count), f"the CHANNELS of {stack[-1].name!r}")
            listed = next((k for k, c in enumerate(channels) if c.upper() in _KEYWORDS), len(channels))
            if listed < len(channels):
                raise BadInputError(
                    f"{source}: CHANNELS of {stack[-1].name!r} declares {count} channel(s) but lists {listed}"
                )
            stack[-1].channels = channels
        else:
            raise BadInputError(f"{source}: unexpected token {tok!r} in HIERARCHY")
    if stack:
        raise BadInputError(f"{source}: HIERARCHY ends with {len(stack)} unclosed block(s) (file truncated?)")
    if not joints:
        raise BadInputError(f"{source}: HIERARCHY declares no ROOT")
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
    ValueError
        If a section is missing or malformed, the number of motion lines differs from ``Frames:``, or a motion line
        does not hold one number per declared channel.
    """
    lines = text.splitlines()
    upper = [ln.strip().upper() for ln in lines]
    if "HIERARCHY" not in upper:
        raise BadInputError(f"{source}: not a BVH file (no HIERARCHY line)")
    if "MOTION" not in upper:
        raise BadInputError(f"{source}: no MOTION section (file truncated?)")
    h, m = upper.index("HIERARCHY"), upper.index("MOTION")
    joints = _parse_hierarchy(" ".join(lines[h + 1 : m]).replace("{", " { ").replace("}", " } ").split(), source)
    n_channels = sum(len(j.channels) for j in joints)

    header: dict[str, str] = {}
    i = m + 1
    while i < len(lines) and len(header) < 2:
        line = lines[i].strip()
        i += 1
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep or key.strip().lower() not in ("frames", "frame time"):
            raise BadInputError(f"{source}: MOTION must start with 'Frames:' and 'Frame Time:', got {line!r}")
        header[key.strip().lower()] = value.strip()
    if len(header) < 2:
        raise BadInputError(f"{source}: MOTION lacks 'Frames:' or 'Frame Time:' (file truncated?)")
    try:
        n_frames, frame_time = int(header["frames"]), float(header["frame time"])
    except ValueError:
        bad = f"Frames={header['frames']!r} Frame Time={header['frame time']!r}"
        raise BadInputError(f"{source}: bad MOTION header {bad}") from None
    if n_frames < 0 or not np.isfinite(frame_time) or frame_time <= 0:
        raise BadInputError(f"{source}: Frames must be >= 0 and Frame Time > 0, got {n_frames} and {frame_time}")

    rows = [(k + 1, ln.split()) for k, ln in enumerate(lines[i:], start=i) if ln.strip()]
    if len(rows) != n_frames:
        raise BadInputError(
            f"{source}: 'Frames: {n_frames}' but the MOTION section has {len(rows)} line(s) of values"
            + (" (file truncated?)" if len(rows) < n_frames else "")
        )
    values = np.empty((n_frames, n_channels), dtype=np.float64)
    for r, (lineno, vals) in enumerate(rows):
        if len(vals) != n_channels:
            raise BadInputError(
                f"{source}: line {lineno} (frame {r}) has {len(vals)} value(s); the HIERARCHY declares {n_channels} "
                "channel(s)"
            )
        try:
            values[r] = [float(v) for v in vals]
        except ValueError:
            raise BadInputError(f"{source}: line {lineno} (frame {r}) holds a value that is not a number") from None
    return BVHMotion(joints=joints, frame_time=frame_time, values=values)
