"""The one validation helper: options, ranges and unknown keys are declared, then checked here.

Every loader and algorithm declares what it accepts once, as a table of constraints
(in the manner of scikit-learn's ``_parameter_constraints``), and calls
:func:`check_options` (keyword options of a function or class) or :func:`check_keys`
(the keys of a mapping read from a file). The error is always a
:class:`~safety_val.errors.ValidationError` naming the file (if any), the field, the
offending value and what was expected; there is no per-module ``_check_options``.

Examples
--------
>>> from safety_val._validation import Interval, OneOf, check_options
>>> CONSTRAINTS = {"max_depth": [Interval(int, 1, None)],
...                "holdout": [Interval(float, 0, 1, closed="neither")],
...                "kind": [OneOf("tree", "prim")], "batch_size": [None, Interval(int, 1, None)]}
>>> check_options(CONSTRAINTS, max_depth=3, holdout=0.3, kind="tree", batch_size=None)
>>> check_options(CONSTRAINTS, max_depth=0, holdout=0.3, kind="tree", batch_size=None)
Traceback (most recent call last):
...
safety_val.errors.ValidationError: max_depth: must be an int >= 1 (got 0; expected an int >= 1)
>>> check_options(CONSTRAINTS, max_depth=3, holdout=1.0, kind="tree", batch_size=None)
... # doctest: +ELLIPSIS
Traceback (most recent call last):
...
safety_val.errors.ValidationError: holdout: must be a number in (0, 1) (got 1.0; ...)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from os import PathLike
from typing import Any, Literal

import numpy as np

from safety_val.errors import ValidationError

__all__ = [
    "Constraint",
    "Interval",
    "OneOf",
    "check_keys",
    "check_options",
    "check_value",
]

Closed = Literal["both", "left", "right", "neither"]


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _is_real(value: Any) -> bool:
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool | np.bool_)
    )


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Interval:
    """A number of ``kind`` (``int`` or ``float``) in an interval; ``None`` ends are open.

    ``Interval(float, ...)`` also accepts ints (a range of reals); ``Interval(int, ...)``
    accepts only integers (never ``bool``). ``float`` values must be finite unless an end
    is ``None`` and ``allow_inf`` is set.
    """

    kind: type
    low: float | None
    high: float | None
    closed: Closed = "both"
    allow_inf: bool = False

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` lies in the interval and is of the declared kind."""
        if not (_is_int(value) if self.kind is int else _is_real(value)):
            return False
        number = float(value)
        if math.isnan(number) or (math.isinf(number) and not self.allow_inf):
            return False
        low_ok = self.low is None or (
            number >= self.low if self.closed in ("both", "left") else number > self.low
        )
        high_ok = self.high is None or (
            number <= self.high if self.closed in ("both", "right") else number < self.high
        )
        return low_ok and high_ok

    def describe(self) -> str:
        """E.g. ``an int >= 1`` or ``a number in (0, 1]``."""
        noun = "an int" if self.kind is int else "a number"
        left_closed = self.closed in ("both", "left")
        right_closed = self.closed in ("both", "right")
        if self.low is not None and self.high is None:
            return f"{noun} {'>=' if left_closed else '>'} {_number(self.low)}"
        if self.low is None and self.high is not None:
            return f"{noun} {'<=' if right_closed else '<'} {_number(self.high)}"
        if self.low is None and self.high is None:
            return noun
        return (
            f"{noun} in {'[' if left_closed else '('}{_number(self.low)}, "  # type: ignore[arg-type]
            f"{_number(self.high)}{']' if right_closed else ')'}"  # type: ignore[arg-type]
        )


@dataclass(frozen=True, init=False)
class OneOf:
    """One of a fixed set of values (compared with ``==``)."""

    values: tuple[Any, ...]

    def __init__(self, *values: Any) -> None:
        object.__setattr__(self, "values", tuple(values))

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is one of the values (``True`` is not ``1`` here)."""
        for candidate in self.values:
            if isinstance(candidate, bool) != isinstance(value, bool):
                continue
            try:
                if value == candidate:
                    return True
            except (TypeError, ValueError):
                continue
        return False

    def describe(self) -> str:
        """E.g. ``one of 'tree', 'prim'``."""
        return "one of " + ", ".join(repr(v) for v in self.values)


Constraint = Interval | OneOf | type | None
"""``None`` accepts ``None``; a type accepts its instances (``bool`` never counts as a number)."""


def _accepts(constraint: Constraint, value: Any) -> bool:
    if constraint is None:
        return value is None
    if isinstance(constraint, type):
        if constraint in (int, float) and isinstance(value, bool):
            return False
        if constraint is float:
            return _is_real(value)
        if constraint is int:
            return _is_int(value)
        return isinstance(value, constraint)
    return constraint.accepts(value)


def _describe(constraint: Constraint) -> str:
    if constraint is None:
        return "None"
    if isinstance(constraint, type):
        return {int: "an int", float: "a number", str: "a string", bool: "true or false"}.get(
            constraint, f"a {constraint.__name__}"
        )
    return constraint.describe()


def check_value(
    value: Any,
    constraints: Iterable[Constraint],
    *,
    field: str,
    file: str | PathLike[str] | None = None,
) -> None:
    """Raise unless ``value`` satisfies at least one of ``constraints``.

    Raises
    ------
    ValidationError
        ``must be <what is accepted>``, naming ``file`` and ``field``.
    """
    options = list(constraints)
    if any(_accepts(c, value) for c in options):
        return
    expected = " or ".join(_describe(c) for c in options)
    raise ValidationError(f"must be {expected}", file=file, field=field, value=value,
                          expected=expected)


def check_options(
    constraints: Mapping[str, Iterable[Constraint]],
    *,
    file: str | PathLike[str] | None = None,
    prefix: str = "",
    **options: Any,
) -> None:
    """Check keyword ``options`` against their declared ``constraints``.

    Parameters
    ----------
    constraints
        For each option name, the constraints of which one must hold.
    file, prefix
        Where the options came from (a file, and a dotted field prefix), for the message.
    **options
        The values, by name. An option with no entry in ``constraints`` is refused.

    Raises
    ------
    ValidationError
        The first option that satisfies none of its constraints, or an unknown option.
    """
    check_keys(options, constraints, file=file, where=prefix, what="option")
    for name, value in options.items():
        check_value(value, constraints[name], field=f"{prefix}.{name}" if prefix else name,
                    file=file)


def check_keys(
    mapping: Mapping[str, Any],
    allowed: Iterable[str],
    *,
    file: str | PathLike[str] | None = None,
    where: str = "",
    what: str = "key",
) -> None:
    """Refuse the keys of ``mapping`` that are not ``allowed``.

    Raises
    ------
    ValidationError
        ``unknown key`` naming the file, the field (``where.key``), the key and the
        allowed ones.

    Examples
    --------
    >>> check_keys({"name": 1, "colour": 2}, ("name", "seed"), file="c.yaml", where="campaign")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    safety_val.errors.ValidationError: c.yaml: campaign.colour: unknown key (got 'colour'; ...)
    """
    names = list(allowed)
    extra = [key for key in mapping if key not in names]
    if extra:
        key = extra[0]
        raise ValidationError(
            f"unknown {what}",
            file=file,
            field=f"{where}.{key}" if where else str(key),
            value=key,
            expected="one of " + ", ".join(sorted(map(str, names))),
        )
