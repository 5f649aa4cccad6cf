"""The one error type for bad input: catch :class:`BadInputError` (a ``ValueError``) around any dynfer call.

Every reader, ``pp`` function, face and public backend function raises it when its input is wrong. The message names
the file or the argument, says what was found (with the line or byte offset where that applies) and what was
expected, e.g. ``"cells.csv, line 12: column 'gene3' holds the non-number '4.0O69966'; expected numbers (or name the
column in obs_columns= to keep it as metadata)"``.
"""

from __future__ import annotations

__all__ = ["BadInputError"]


class BadInputError(ValueError):
    """Bad input to a dynfer function: names the file or argument, what was found and what was expected.

    Parameters
    ----------
    where
        The file or argument at fault; with ``found`` omitted, the whole message.
    found
        What was found there.
    expected
        What was expected instead.
    line, offset
        Line number (1-based) or byte offset in the file, where they apply.
    hint
        How to fix it.

    Attributes
    ----------
    where, found, expected, line, offset, hint
        The parts of the message (``found`` is ``None`` for a one-part message).
    """

    def __init__(
        self,
        where: str,
        found: str | None = None,
        expected: str | None = None,
        *,
        line: int | None = None,
        offset: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.where, self.found, self.expected = where, found, expected
        self.line, self.offset, self.hint = line, offset, hint
        if found is None:
            message = where
        else:
            place = where + (f", line {line}" if line is not None else "") + (
                f", byte offset {offset}" if offset is not None else "")
            message = f"{place}: {found}" + (f"; expected {expected}" if expected else "")
        if hint:
            message += f" ({hint})"
        super().__init__(message)
