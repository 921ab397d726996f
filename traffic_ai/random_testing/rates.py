"""Event rates with exact Poisson (Garwood) confidence intervals.

For ``k`` events observed over an exposure ``E`` (kilometres or hours), the rate is
``k / E`` and the exact two-sided ``1 - alpha`` interval of the Poisson mean is
(Garwood 1936)::

    lower = chi2.ppf(alpha / 2, 2 k) / 2           (0 when k = 0)
    upper = chi2.ppf(1 - alpha / 2, 2 k + 2) / 2

divided by ``E``. The interval is conservative: its coverage is at least ``1 - alpha``.

References
----------
Garwood, F. (1936). Fiducial limits for the Poisson distribution. Biometrika 28(3/4),
437-442. doi:10.1093/biomet/28.3-4.437
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from scipy.stats import chi2

from safety_val.errors import ValidationError

__all__ = ["EventRate", "event_rate", "rate_table"]


@dataclass(frozen=True)
class EventRate:
    """A Poisson event rate per unit of exposure with its exact interval.

    Attributes
    ----------
    events
        Number of events ``k``.
    exposure
        Exposure in ``unit`` (e.g. 1,000 km or hours).
    rate, lower, upper
        ``k / exposure`` and its Garwood interval.
    confidence
        ``1 - alpha``.
    unit
        What one unit of exposure is, e.g. ``"1000 km"``.
    """

    events: int
    exposure: float
    rate: float
    lower: float
    upper: float
    confidence: float
    unit: str

    def to_dict(self) -> dict[str, float | int | str]:
        """The rate as plain values."""
        return {
            "events": self.events, "exposure": self.exposure, "rate": self.rate,
            "lower": self.lower, "upper": self.upper, "confidence": self.confidence,
            "unit": self.unit,
        }


def event_rate(events: int, exposure: float, *, confidence: float = 0.95,
               unit: str = "h") -> EventRate:
    """Rate of ``events`` Poisson events over ``exposure`` with the exact Garwood interval.

    Parameters
    ----------
    events
        Observed number of events (>= 0).
    exposure
        Exposure (> 0) in ``unit``.
    confidence
        Two-sided confidence level in (0, 1).
    unit
        Label of the exposure unit.

    Returns
    -------
    EventRate

    Raises
    ------
    ValidationError
        For a negative count, a non-positive exposure or a confidence outside (0, 1).

    Examples
    --------
    >>> r = event_rate(0, 1.0)
    >>> r.lower, round(r.upper, 4)
    (0.0, 3.6889)
    >>> r = event_rate(10, 2.0)
    >>> round(r.rate, 2), round(r.lower, 4), round(r.upper, 4)
    (5.0, 2.3977, 9.1952)
    """
    if isinstance(events, bool) or int(events) != events or events < 0:
        raise ValidationError("must be an int >= 0", field="events", value=events)
    if not exposure > 0.0:
        raise ValidationError("must be > 0", field="exposure", value=exposure,
                              expected="a positive exposure (km or h)")
    if not 0.0 < confidence < 1.0:
        raise ValidationError("must be in (0, 1)", field="confidence", value=confidence)
    k = int(events)
    alpha = 1.0 - confidence
    lower = 0.0 if k == 0 else float(chi2.ppf(alpha / 2.0, 2 * k)) / 2.0
    upper = float(chi2.ppf(1.0 - alpha / 2.0, 2 * k + 2)) / 2.0
    return EventRate(k, float(exposure), k / exposure, lower / exposure, upper / exposure,
                     confidence, unit)


def rate_table(events: pd.DataFrame, *, distance_km: float, hours: float,
               confidence: float = 0.95) -> pd.DataFrame:
    """Rates per 1,000 km and per ego hour, by event type and in total.

    Parameters
    ----------
    events
        NG events with an ``event_type`` column.
    distance_km, hours
        Exposure of all egos together: distance driven (km) and time driven (h).
    confidence
        Two-sided confidence level.

    Returns
    -------
    DataFrame
        One row per event type plus ``all``: ``event_type``, ``events``,
        ``per_1000km`` (with ``per_1000km_lower``/``_upper``) and ``per_hour`` (with
        ``per_hour_lower``/``_upper``).
    """
    counts = events["event_type"].value_counts() if len(events) else pd.Series(dtype=int)
    rows = []
    for label, k in [*sorted(counts.items()), ("all", int(counts.sum()))]:
        per_km = event_rate(int(k), distance_km / 1000.0, confidence=confidence, unit="1000 km")
        per_h = event_rate(int(k), hours, confidence=confidence, unit="h")
        rows.append({
            "event_type": label, "events": int(k),
            "per_1000km": per_km.rate, "per_1000km_lower": per_km.lower,
            "per_1000km_upper": per_km.upper,
            "per_hour": per_h.rate, "per_hour_lower": per_h.lower, "per_hour_upper": per_h.upper,
        })
    return pd.DataFrame(rows)
