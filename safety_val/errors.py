"""Exceptions raised by safety-val.

Every problem with user input is reported as a :class:`ValidationError`, a
:class:`ValueError` whose one-line message names the file, the field, the
offending value and what was expected. The CLI turns it into exit code 2.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

__all__ = ["SafetyValError", "SimulationError", "ValidationError"]


class SafetyValError(Exception):
    """Base class of the errors safety-val raises on purpose."""


class ValidationError(SafetyValError, ValueError):
    """Invalid user input: a file, a field in it, a value, and what was expected.

    Parameters
    ----------
    message
        What is wrong, e.g. ``"standard deviation must be positive"``.
    file
        The file the input came from, if any.
    field
        The dotted path of the field inside that file, e.g.
        ``"parameters[2].distribution.sigma"``.
    value
        The offending value (shown with :func:`repr`); omitted if ``...``.
    expected
        What would have been accepted, e.g. ``"a number > 0"``.

    Examples
    --------
    >>> err = ValidationError("must be positive", file="cut_in.yaml",
    ...                       field="parameters[0].distribution.sigma",
    ...                       value=-1.0, expected="a number > 0")
    >>> print(err)  # doctest: +NORMALIZE_WHITESPACE
    cut_in.yaml: parameters[0].distribution.sigma: must be positive
    (got -1.0; expected a number > 0)
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | PathLike[str] | None = None,
        field: str | None = None,
        value: Any = ...,
        expected: str | None = None,
    ) -> None:
        self.message = message
        self.file = None if file is None else str(file)
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(self._format())

    def _format(self) -> str:
        where = [p for p in (self.file, self.field) if p]
        details = []
        if self.value is not ...:
            details.append(f"got {_short_repr(self.value)}")
        if self.expected:
            details.append(f"expected {self.expected}")
        text = self.message + (f" ({'; '.join(details)})" if details else "")
        return ": ".join([*where, text])

    def with_context(
        self, *, file: str | PathLike[str] | None = None, field_prefix: str | None = None
    ) -> ValidationError:
        """Return a copy located in ``file`` with ``field_prefix`` prepended to the field."""
        field = self.field
        if field_prefix:
            field = (
                field_prefix
                if not field
                else (
                    f"{field_prefix}{field}" if field.startswith("[") else f"{field_prefix}.{field}"
                )
            )
        return ValidationError(
            self.message,
            file=self.file if file is None else Path(file),
            field=field,
            value=self.value,
            expected=self.expected,
        )


class SimulationError(SafetyValError, RuntimeError):
    """A simulator or executor failed in a way that cannot be recorded per scenario."""


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
