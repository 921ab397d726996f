"""The shift language: :class:`Shift`, :func:`parse_shift` and :func:`parse_ambiguity`."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from safety_val._validation import Interval, check_options
from safety_val.errors import ValidationError

__all__ = ["Shift", "parse_ambiguity", "parse_shift"]

_SHIFT_PATTERN = re.compile(
    r"^\s*(?P<name>[^=\s]+)\s*=\s*(?:(?P<mean>[+-]?\d+(?:\.\d*)?|[+-]?\.\d+)\s*(?:sd|sigma|σ)"
    r"|[x×*]\s*(?P<spread>\d+(?:\.\d*)?|\.\d+))\s*(?P<beyond>!|\s+beyond[_-]odd)?\s*$",
    re.IGNORECASE,
)

_SHIFT_CONSTRAINTS = {
    "mean": [Interval(float, None, None)],  # in σ, finite
    "spread": [Interval(float, 0, None, closed="neither")],  # a factor > 0 such as 1.5
}


@dataclass(frozen=True)
class Shift:
    r"""A change of one input's marginal distribution.

    Attributes
    ----------
    parameter
        The input's name.
    mean
        Mean shift :math:`\delta` in units of the marginal's standard deviation
        :math:`\sigma`: the distribution moves by :math:`\delta\sigma`.
    spread
        Spread factor :math:`s > 0` about the mean: :math:`X' = \mu + s (X - \mu)`.
    beyond_odd
        For a marginal truncated at ODD bounds: ``False`` keeps the original bounds
        (the ODD still holds), ``True`` lets the bounds move with the shift ("rain heavier
        than the ODD assumed"). Then the shifted support leaves the simulated one and
        the estimate needs new simulations.

    Examples
    --------
    >>> Shift("rain_intensity", mean=2.0).label
    '+2sd'
    >>> Shift("ego_speed", spread=1.5).label
    'x1.5'
    """

    parameter: str
    mean: float = 0.0
    spread: float = 1.0
    beyond_odd: bool = False

    def __post_init__(self) -> None:
        check_options(
            _SHIFT_CONSTRAINTS,
            prefix=f"shifts.{self.parameter}",
            mean=self.mean,
            spread=self.spread,
        )

    @property
    def kind(self) -> str:
        """``"mean"``, ``"spread"`` or ``"mean+spread"`` (``"none"`` for the identity)."""
        parts = [k for k, on in (("mean", self.mean != 0.0), ("spread", self.spread != 1.0)) if on]
        return "+".join(parts) or "none"

    @property
    def amount(self) -> float:
        """The mean shift in σ for a mean shift, the factor for a spread change."""
        return float(self.spread) if self.kind == "spread" else float(self.mean)

    @property
    def label(self) -> str:
        """Short text such as ``+2sd``, ``x1.5`` or ``-1sd x1.5`` (``!``: beyond the ODD)."""
        parts = []
        if self.mean != 0.0:
            parts.append(f"{self.mean:+g}sd")
        if self.spread != 1.0:
            parts.append(f"x{self.spread:g}")
        return " ".join(parts or ["none"]) + ("!" if self.beyond_odd else "")


def parse_shift(text: str, *, beyond_odd: bool = False) -> Shift:
    """Parse ``"name=+2sd"`` (mean shift in σ), ``"name=x1.5"`` (spread factor).

    A trailing ``!`` or ``beyond-odd`` lets the shift leave the ODD bounds.

    Raises
    ------
    ValidationError
        The text does not have one of these forms.

    Examples
    --------
    >>> parse_shift("rain_intensity=+2sd")
    Shift(parameter='rain_intensity', mean=2.0, spread=1.0, beyond_odd=False)
    >>> parse_shift("cut_in_gap=-1sd").mean, parse_shift("ego_speed=x1.5").spread
    (-1.0, 1.5)
    >>> parse_shift("rain_intensity=+3sd!").beyond_odd
    True
    """
    match = _SHIFT_PATTERN.match(str(text))
    if match is None:
        raise ValidationError(
            "cannot read the shift",
            field="shift",
            value=text,
            expected="'name=+2sd' (mean shift in standard deviations) or 'name=x1.5' (spread "
            "factor), optionally followed by '!' to go beyond the ODD",
        )
    name = match["name"]
    beyond = beyond_odd or match["beyond"] is not None
    if match["mean"] is not None:
        return Shift(name, mean=float(match["mean"]), beyond_odd=beyond)
    return Shift(name, spread=float(match["spread"]), beyond_odd=beyond)


def parse_ambiguity(ambiguity: str | float) -> float | str:
    """Read an ambiguity set: ``"1sd"`` / ``1.0`` (means within ±kσ) or ``"odd"``.

    Raises
    ------
    ValidationError
        Unreadable, or ``k <= 0`` (an ambiguity set of zero width).

    Examples
    --------
    >>> parse_ambiguity("1.5sd"), parse_ambiguity(2), parse_ambiguity("ODD")
    (1.5, 2.0, 'odd')
    """
    if isinstance(ambiguity, str):
        text = ambiguity.strip().lower()
        if text == "odd":
            return "odd"
        match = re.fullmatch(r"([+-]?\d+(?:\.\d*)?|[+-]?\.\d+)\s*(?:sd|sigma|σ)?", text)
        if match is None:
            raise ValidationError(
                "cannot read the ambiguity set",
                field="ambiguity",
                value=ambiguity,
                expected="'1sd' (each mean within ±1σ of nominal), a number k, or 'odd'",
            )
        k = float(match[1])
    elif isinstance(ambiguity, int | float | np.floating) and not isinstance(ambiguity, bool):
        k = float(ambiguity)
    else:
        raise ValidationError(
            "must be a string or a number",
            field="ambiguity",
            value=ambiguity,
            expected="'1sd', a number k > 0, or 'odd'",
        )
    if not (math.isfinite(k) and k > 0.0):
        raise ValidationError(
            "an ambiguity set of zero width: the means cannot move",
            field="ambiguity",
            value=ambiguity,
            expected="k > 0 (each mean within ±kσ of nominal) or 'odd'",
        )
    return k
