"""What SUMO reported about a run: warnings counted by kind, teleports, discarded vehicles.

SUMO's warnings say when a simulation is not the traffic it was asked for: vehicles
teleported out of a jam, vehicles discarded because they could not be inserted in time
(``--max-depart-delay``), routes dropped as invalid (``--ignore-route-errors``),
collisions and emergency braking. Every run of traffic_ai passes
:func:`sumo_log_options` (warnings go to a log file instead of the console, plus SUMO's
statistic and summary outputs) and reads them back with :func:`read_sumo_report`; nothing
is hidden, and a run in which more than :data:`PROBLEM_SHARE` of the vehicles due to
depart teleported, were discarded or lost their route says so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = [
    "LOG_FILE",
    "PROBLEM_SHARE",
    "WARNING_KINDS",
    "SumoReport",
    "classify_warning",
    "read_sumo_report",
    "sumo_log_options",
]

#: File names of SUMO's outputs in a run folder.
LOG_FILE = "sumo.log"
STATISTIC_FILE = "sumo.statistics.xml"
SUMMARY_FILE = "sumo.summary.xml"
#: A run is flagged when more than this share of its vehicles teleported, were discarded
#: (not inserted in time) or were dropped for an invalid route.
PROBLEM_SHARE = 0.01
#: Kinds of warnings counted (in the order they are recognised; see :func:`classify_warning`).
WARNING_KINDS: tuple[str, ...] = (
    "teleport", "collision", "emergency_braking", "invalid_route", "other")

_KINDS: tuple[tuple[str | None, re.Pattern[str]], ...] = (
    ("teleport", re.compile(r"^Teleporting vehicle ")),
    # the end of a counted teleport
    (None, re.compile(r"ends teleporting|teleports beyond arrival|^Teleports? ")),
    ("collision", re.compile(r"collision with ")),
    ("emergency_braking", re.compile(r"performs emergency (braking|stop)")),
    ("invalid_route", re.compile(
        r"no valid route|No connection between|not allowed to depart|Invalid departure|"
        r"is not allowed on|route .*(is invalid|is not valid|disconnected)|"
        r"has no (valid )?route|Discarding|unknown edge|is not known|could not be inserted")),
)
_FLOAT = r"[-+]?[0-9.]+(?:e[-+]?[0-9]+)?"


def classify_warning(message: str) -> str | None:
    """The kind of one SUMO warning (without its ``Warning:`` prefix), or ``None``.

    ``None`` for the second line of a teleport (``… ends teleporting …``), which is not
    counted again.

    Examples
    --------
    >>> classify_warning("Teleporting vehicle '7'; waited too long (yield), lane='a_0'.")
    'teleport'
    >>> classify_warning("Vehicle '7' ends teleporting on edge 'b', time=57.00.") is None
    True
    >>> classify_warning("Vehicle 'x'; collision with vehicle 'y', lane='a_0', gap=-1.00, "
    ...                  "time=3.00, stage=move.")
    'collision'
    >>> classify_warning("No connection between edge 'a' and edge 'b' found.")
    'invalid_route'
    >>> classify_warning("Some other remark.")
    'other'
    """
    text = message.strip()
    for kind, pattern in _KINDS:
        if pattern.search(text):
            return kind
    return "other"


@dataclass(frozen=True)
class SumoReport:
    """SUMO's account of one run (or the sum over several runs).

    Attributes
    ----------
    loaded, inserted
        Vehicles loaded from the routes (and added by TraCI) and inserted into the network.
    discarded
        Vehicles dropped because they could not be inserted within ``--max-depart-delay``
        or were refused at their departure (SUMO's summary output).
    teleports, teleports_jam, teleports_yield, teleports_wrong_lane
        Vehicles teleported past a jam (all causes, and by cause).
    collisions, emergency_stops, emergency_braking
        Collisions and emergency decelerations SUMO detected.
    invalid_routes
        Warnings about routes or departures SUMO refused (vehicles dropped at loading).
    other_warnings, errors
        Any other warnings, and errors.
    warnings
        Warnings per kind of :data:`WARNING_KINDS`.
    examples
        The first message of each kind seen.
    mean_speed_relative
        Mean over the summary periods with running vehicles of SUMO's mean speed relative
        to the allowed speed (``nan`` without a summary).
    """

    loaded: int = 0
    inserted: int = 0
    discarded: int = 0
    teleports: int = 0
    teleports_jam: int = 0
    teleports_yield: int = 0
    teleports_wrong_lane: int = 0
    collisions: int = 0
    emergency_stops: int = 0
    emergency_braking: int = 0
    invalid_routes: int = 0
    other_warnings: int = 0
    errors: int = 0
    warnings: dict[str, int] = field(default_factory=lambda: dict.fromkeys(WARNING_KINDS, 0))
    examples: dict[str, str] = field(default_factory=dict)
    mean_speed_relative: float = math.nan

    @property
    def problem_vehicles(self) -> int:
        """Teleported and dropped vehicles together.

        SUMO counts a vehicle refused at its departure (an invalid route) as discarded
        too, so the dropped vehicles are the larger of the two counts.
        """
        return self.teleports + max(self.discarded, self.invalid_routes)

    @property
    def due(self) -> int:
        """Vehicles whose departure came: inserted or discarded (SUMO loads routes ahead)."""
        return self.inserted + self.discarded or self.loaded

    @property
    def problem_share(self) -> float:
        """:attr:`problem_vehicles` as a share of the vehicles :attr:`due` (0 without any)."""
        return min(self.problem_vehicles / self.due, 1.0) if self.due else 0.0

    @property
    def flagged(self) -> bool:
        """More than :data:`PROBLEM_SHARE` of the vehicles were teleported or dropped."""
        return self.problem_share > PROBLEM_SHARE

    def counts(self) -> dict[str, float]:
        """The numbers as a flat mapping (for a table row), without the examples."""
        out: dict[str, float] = {}
        for f in fields(self):
            if f.name in ("warnings", "examples"):
                continue
            out[f.name] = getattr(self, f.name)
        out["due"] = self.due
        out["problem_share"] = self.problem_share
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain values (for JSON)."""
        return {**self.counts(), "flagged": self.flagged, "warnings": dict(self.warnings),
                "examples": dict(self.examples)}

    def describe(self) -> str:
        """One line: what went wrong, relative to the loaded vehicles."""
        return (f"{self.teleports} teleported, {self.discarded} discarded (not inserted in "
                f"time), {self.invalid_routes} invalid routes, {self.collisions} collisions, "
                f"{self.emergency_braking} emergency brakings, {self.other_warnings} other "
                f"warnings; {100 * self.problem_share:.1f} % of {self.due} vehicles "
                "teleported or dropped")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SumoReport:
        """The report of :meth:`to_dict` (derived values are recomputed, unknown keys ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    @classmethod
    def combine(cls, reports: Iterable[SumoReport]) -> SumoReport:
        """The sum of several runs' reports (first examples kept, speeds averaged)."""
        items = list(reports)
        if not items:
            return cls()
        totals: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in ("warnings", "examples", "mean_speed_relative"):
                continue
            totals[f.name] = sum(getattr(r, f.name) for r in items)
        warnings = {k: sum(r.warnings.get(k, 0) for r in items) for k in WARNING_KINDS}
        examples: dict[str, str] = {}
        for r in items:
            for kind, message in r.examples.items():
                examples.setdefault(kind, message)
        speeds = [r.mean_speed_relative for r in items if not math.isnan(r.mean_speed_relative)]
        return cls(**totals, warnings=warnings, examples=examples,
                   mean_speed_relative=float(sum(speeds) / len(speeds)) if speeds else math.nan)


def sumo_log_options(folder: str | Path, *, summary_period: float = 60.0) -> list[str]:
    """SUMO options that write warnings, statistics and a summary into ``folder``.

    Warnings go only to ``sumo.log`` (``--no-warnings`` removes them from the console,
    ``--error-log`` adds the file), so a long run does not flood the terminal.

    Parameters
    ----------
    folder
        An existing folder (absolute paths are passed to SUMO).
    summary_period
        Period of SUMO's summary output (s of simulated time).
    """
    where = Path(folder).resolve()
    return ["--no-warnings", "true", "--error-log", str(where / LOG_FILE),
            "--statistic-output", str(where / STATISTIC_FILE),
            "--summary-output", str(where / SUMMARY_FILE),
            "--summary-output.period", f"{summary_period:g}"]


def _attribute(line: str, name: str) -> float | None:
    match = re.search(rf'\b{name}="({_FLOAT})"', line)
    return float(match.group(1)) if match else None


def read_sumo_report(folder: str | Path) -> SumoReport:
    """Read the outputs :func:`sumo_log_options` asked SUMO for (missing files count as empty).

    Parameters
    ----------
    folder
        The folder given to :func:`sumo_log_options`.

    Returns
    -------
    SumoReport
    """
    where = Path(folder)
    warnings = dict.fromkeys(WARNING_KINDS, 0)
    examples: dict[str, str] = {}
    errors = 0
    log = where / LOG_FILE
    if log.is_file():
        with log.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("Error:"):
                    errors += 1
                    examples.setdefault("error", line[6:].strip())
                    continue
                if not line.startswith("Warning:"):
                    continue
                message = line[8:].strip()
                kind = classify_warning(message)
                if kind is None:
                    continue
                warnings[kind] += 1
                examples.setdefault(kind, message)
    values: dict[str, float] = {}
    statistics = where / STATISTIC_FILE
    if statistics.is_file():
        for line in statistics.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            for tag, names in (("<vehicles ", ("loaded", "inserted")),
                               ("<teleports ", ("total", "jam", "yield", "wrongLane")),
                               ("<safety ", ("collisions", "emergencyStops",
                                             "emergencyBraking"))):
                if line.startswith(tag):
                    for name in names:
                        value = _attribute(line, name)
                        if value is not None:
                            values[f"{tag[1:-1]}.{name}"] = value
    discarded = 0.0
    speeds: list[float] = []
    summary = where / SUMMARY_FILE
    if summary.is_file():
        with summary.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if "<step " not in line:
                    continue
                discarded = _attribute(line, "discarded") or discarded
                running = _attribute(line, "running") or 0.0
                relative = _attribute(line, "meanSpeedRelative")
                if running > 0 and relative is not None and relative >= 0:
                    speeds.append(relative)

    def count(key: str, fallback: int = 0) -> int:
        return int(values.get(key, fallback))

    return SumoReport(
        loaded=count("vehicles.loaded"), inserted=count("vehicles.inserted"),
        discarded=int(discarded), teleports=count("teleports.total", warnings["teleport"]),
        teleports_jam=count("teleports.jam"), teleports_yield=count("teleports.yield"),
        teleports_wrong_lane=count("teleports.wrongLane"),
        collisions=count("safety.collisions", warnings["collision"]),
        emergency_stops=count("safety.emergencyStops"),
        emergency_braking=count("safety.emergencyBraking", warnings["emergency_braking"]),
        invalid_routes=warnings["invalid_route"], other_warnings=warnings["other"],
        errors=errors, warnings=warnings, examples=examples,
        mean_speed_relative=float(sum(speeds) / len(speeds)) if speeds else math.nan,
    )
