"""Critical ("NG") events in random traffic: detection, deduplication and records.

Online, every step, :class:`EventDetector` looks at each ego's sensor view and at
SUMO's collision list:

- ``collision``: SUMO reports a collision involving an ego (with
  ``--collision.mingap-factor 0``, i.e. bodies touch);
- ``low_ttc``: an in-path target (``|dy| < 1.8 m``, ahead, heading within 45 degrees
  of the ego's) closes with
  ``TTC = gap / -dvx`` below :attr:`Thresholds.ttc`;
- ``high_drac``: the deceleration rate to avoid the crash ``DRAC = dvx^2 / (2 gap)``
  of an in-path target exceeds :attr:`Thresholds.drac`;
- ``hard_braking``: the ego decelerates harder than :attr:`Thresholds.hard_braking`.

One conflict is one record: detections of the same pair of vehicles within
:attr:`Thresholds.window` of the last one are merged (the event type escalates to
the most severe, KPIs keep their extremes). A record holds the states of the ego and
the other vehicle from :attr:`Thresholds.pre` seconds before to :attr:`Thresholds.post`
seconds after the first detection (a ring buffer of the last ``pre + post`` seconds
of every vehicle the egos see), the location, the KPIs and the parameters of the
built-in template it maps onto (``lead_braking`` or ``cut_in``).

SUMO's SSM device on the egos (TTC, DRAC, PET) writes its conflicts to a file;
:func:`read_ssm` parses it and :func:`merge_ssm` adds SSM minima to the records and
keeps SSM-only conflicts (e.g. PET at crossings) as records without states.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as DET
import numpy as np
import numpy.typing as npt
import pandas as pd

from traffic_ai.random_testing.egos import (
    CAR_WIDTH,
    VAR_ACCELERATION,
    VAR_ANGLE,
    VAR_LANE_ID,
    VAR_LANEPOSITION,
    VAR_LENGTH,
    VAR_POSITION,
    VAR_ROAD_ID,
    VAR_SPEED,
    EgoView,
)

__all__ = [
    "EVENT_COLUMNS",
    "SEVERITY",
    "STATE_COLUMNS",
    "EventDetector",
    "Thresholds",
    "merge_ssm",
    "read_ssm",
    "template_parameters",
]

FloatArray = npt.NDArray[np.float64]

#: Event types, least to most severe.
SEVERITY = {"hard_braking": 0, "high_drac": 1, "ssm_pet": 1, "ssm_drac": 1, "ssm_ttc": 1,
            "low_ttc": 2, "collision": 3}
STATE_COLUMNS = ("event_id", "vehicle_id", "role", "t", "x", "y", "speed", "angle",
                 "acceleration", "length", "lane")
EVENT_COLUMNS = (
    "event_id", "instance_id", "time", "last_time", "event_type", "ego_id", "other_id",
    "edge", "lane", "lane_pos", "x", "y", "ego_speed", "other_speed", "min_ttc", "max_drac",
    "min_gap", "max_deceleration", "ssm_min_ttc", "ssm_max_drac", "ssm_min_pet", "template",
    "ego_speed_0", "other_speed_0", "gap_0", "dy_0", "other_decel", "brake_time",
    "lateral_speed", "has_states",
)


@dataclass(frozen=True)
class Thresholds:
    """Thresholds of the NG events and the record window.

    Attributes
    ----------
    ttc
        ``low_ttc`` below this time to collision (s).
    drac
        ``high_drac`` above this deceleration rate to avoid the crash (m/s²); 3.35 m/s²
        is the usual DRAC criterion (Archer 2005).
    hard_braking
        ``hard_braking`` above this ego deceleration (m/s²).
    pet
        SSM post-encroachment time below this is critical (s).
    window
        Detections of the same pair within this time of the last one are one event (s).
    pre, post
        Recorded states before and after the first detection (s).
    max_heading_difference
        TTC and DRAC are longitudinal measures: only targets heading within this angle
        of the ego's heading count (degrees); crossing conflicts are left to the SSM
        device (PET, and its own TTC for crossing paths).
    """

    ttc: float = 1.5
    drac: float = 3.35
    hard_braking: float = 6.0
    pet: float = 1.0
    window: float = 10.0
    pre: float = 5.0
    post: float = 3.0
    max_heading_difference: float = 45.0


@dataclass
class _Conflict:
    event_id: str
    time: float
    last_time: float
    event_type: str
    ego_id: str
    other_id: str
    location: tuple[str, str, float, float, float]
    ego_speed: float
    other_speed: float
    min_ttc: float = float("inf")
    max_drac: float = 0.0
    min_gap: float = float("inf")
    max_deceleration: float = 0.0
    states: list[dict[str, Any]] = field(default_factory=list)
    finalised: bool = False


_State = tuple[float, float, float, float, float, float, str]


class EventDetector:
    """Detect, deduplicate and record NG events of one SUMO instance.

    Parameters
    ----------
    instance_id
        Prefix of the event ids.
    dt
        Step length (s).
    thresholds
        Event thresholds and record window.
    """

    def __init__(self, instance_id: str, dt: float, thresholds: Thresholds | None = None) -> None:
        self.instance_id = instance_id
        self.dt = dt
        self.thresholds = thresholds or Thresholds()
        steps = round((self.thresholds.pre + self.thresholds.post) / dt) + 2
        self._buffer: deque[tuple[float, dict[str, _State]]] = deque(maxlen=steps)
        self._open: dict[frozenset[str], _Conflict] = {}
        self._done: list[_Conflict] = []
        self._count = 0

    # -- ring buffer --------------------------------------------------------------------------

    def record_step(self, time: float, egos: Mapping[str, Mapping[int, Any]],
                    contexts: Mapping[str, Mapping[str, Mapping[int, Any]]]) -> None:
        """Push the states of the egos and every vehicle they see into the ring buffer."""
        states: dict[str, _State] = {}
        for group in (egos, *contexts.values()):
            for vid, r in group.items():
                if vid not in states:
                    x, y = r[VAR_POSITION]
                    states[vid] = (x, y, r[VAR_SPEED], r[VAR_ANGLE], r[VAR_ACCELERATION],
                                   r[VAR_LENGTH], r[VAR_LANE_ID])
        self._buffer.append((time, states))

    # -- detection ----------------------------------------------------------------------------

    def observe(self, view: EgoView, egos: Mapping[str, Mapping[int, Any]],
                collisions: Iterable[tuple[str, str]]) -> None:
        """Detect this step's events from the egos' view and SUMO's collisions.

        Parameters
        ----------
        view
            The egos' sensor view of this step.
        egos
            Subscription results of the egos (location of the event).
        collisions
            ``(collider, victim)`` pairs SUMO reported this step.
        """
        th = self.thresholds
        time = view.time
        index = {e: i for i, e in enumerate(view.ego_ids)}
        for collider, victim in collisions:
            for ego, other in ((collider, victim), (victim, collider)):
                if ego in index:
                    i = index[ego]
                    self._hit(time, "collision", ego, other, egos[ego], view, i, gap=0.0,
                              ttc=0.0)
                    break
        in_path = (view.detected & (np.abs(view.dy) < CAR_WIDTH) & (view.gap > 0.0)
                   & (view.heading_difference < self.thresholds.max_heading_difference))
        closing = in_path & (view.dvx < 0.0)
        ttc = np.full(view.gap.shape, np.inf)
        np.divide(view.gap, -view.dvx, out=ttc, where=closing)
        drac = np.zeros(view.gap.shape)
        np.divide(view.dvx**2, 2.0 * view.gap, out=drac, where=closing)
        decel = -view.acceleration
        candidates = np.flatnonzero(
            (ttc.min(axis=1, initial=np.inf) < th.ttc) | (drac.max(axis=1, initial=0.0) > th.drac)
            | (decel > th.hard_braking)
        )
        for i in candidates.tolist():
            ego = view.ego_ids[i]
            ahead = (view.detected[i] & (np.abs(view.dy[i]) < CAR_WIDTH)
                     & (view.heading_difference[i] < 180.0))  # any vehicle, no stop line
            j = int(np.argmin(ttc[i])) if np.isfinite(ttc[i]).any() else (
                int(np.argmin(np.where(ahead, view.gap[i], np.inf))) if ahead.any() else -1)
            other = view.target_ids[i][j] if j >= 0 else ""
            if ttc[i].min() < th.ttc:
                kind = "low_ttc"
            elif drac[i].max() > th.drac:
                kind = "high_drac"
            else:
                kind = "hard_braking"
            self._hit(time, kind, ego, other, egos[ego], view, i,
                      gap=float(view.gap[i, j]) if j >= 0 else float("inf"),
                      ttc=float(ttc[i].min()), drac=float(drac[i].max()))

    def _hit(self, time: float, kind: str, ego: str, other: str, state: Mapping[int, Any],
             view: EgoView, i: int, *, gap: float, ttc: float, drac: float = 0.0) -> None:
        key = self._key(ego, other)
        conflict = self._open.get(key)
        if conflict is not None and time - conflict.last_time > self.thresholds.window:
            self._close(key)
            conflict = None
        if conflict is None:
            self._count += 1
            x, y = state[VAR_POSITION]
            other_speed = float("nan")
            if other in view.target_ids[i]:
                other_speed = float(view.target_speed[i, view.target_ids[i].index(other)])
            conflict = _Conflict(
                f"{self.instance_id}-e{self._count:05d}", time, time, kind, ego, other,
                (state[VAR_ROAD_ID], state[VAR_LANE_ID], float(state[VAR_LANEPOSITION]), x, y),
                float(view.speed[i]), other_speed,
            )
            self._open[key] = conflict
        conflict.last_time = time
        if SEVERITY[kind] > SEVERITY[conflict.event_type]:
            conflict.event_type = kind
        conflict.min_ttc = min(conflict.min_ttc, ttc)
        conflict.max_drac = max(conflict.max_drac, drac)
        conflict.min_gap = min(conflict.min_gap, max(gap, 0.0))
        conflict.max_deceleration = max(conflict.max_deceleration, float(-view.acceleration[i]))

    def _key(self, ego: str, other: str) -> frozenset[str]:
        """Key of the conflict a detection belongs to (same pair, or same ego alone).

        A detection without another vehicle joins any open conflict of the ego; one with
        another vehicle takes over an open conflict of the ego alone.
        """
        if other:
            key = frozenset((ego, other))
            alone = frozenset((ego,))
            if key not in self._open and alone in self._open:
                conflict = self._open.pop(alone)
                conflict.other_id = other
                self._open[key] = conflict
            return key
        for key in self._open:
            if ego in key:
                return key
        return frozenset((ego,))

    # -- records ------------------------------------------------------------------------------

    def _capture(self, conflict: _Conflict) -> None:
        th = self.thresholds
        roles = {conflict.ego_id: "ego", **({conflict.other_id: "other"} if conflict.other_id
                                            else {})}
        for time, states in self._buffer:
            if not conflict.time - th.pre - 1e-9 <= time <= conflict.time + th.post + 1e-9:
                continue
            for vid, role in roles.items():
                s = states.get(vid)
                if s is not None:
                    conflict.states.append({
                        "event_id": conflict.event_id, "vehicle_id": vid, "role": role,
                        "t": round(time - conflict.time, 6), "x": s[0], "y": s[1],
                        "speed": s[2], "angle": s[3], "acceleration": s[4], "length": s[5],
                        "lane": s[6],
                    })
        conflict.finalised = True

    def flush(self, time: float, *, final: bool = False) -> None:
        """Capture the states of events whose post-event window has passed.

        With ``final=True`` every open event is captured with what the buffer holds.
        """
        for key, conflict in list(self._open.items()):
            if not conflict.finalised and (final or time >= conflict.time
                                           + self.thresholds.post - 1e-9):
                self._capture(conflict)
            if final or time - conflict.last_time > self.thresholds.window:
                self._close(key)

    def _close(self, key: frozenset[str]) -> None:
        conflict = self._open.pop(key)
        if not conflict.finalised:
            self._capture(conflict)
        self._done.append(conflict)

    def records(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Closed events and their states as DataFrames (``EVENT_COLUMNS``, ``STATE_COLUMNS``)."""
        rows = []
        states: list[dict[str, Any]] = []
        for c in sorted(self._done, key=lambda c: c.event_id):
            states.extend(c.states)
            frame = pd.DataFrame(c.states, columns=list(STATE_COLUMNS))
            params = template_parameters(frame)
            edge, lane, lane_pos, x, y = c.location
            rows.append({
                "event_id": c.event_id, "instance_id": self.instance_id, "time": c.time,
                "last_time": c.last_time, "event_type": c.event_type, "ego_id": c.ego_id,
                "other_id": c.other_id, "edge": edge, "lane": lane, "lane_pos": lane_pos,
                "x": x, "y": y, "ego_speed": c.ego_speed, "other_speed": c.other_speed,
                "min_ttc": c.min_ttc, "max_drac": c.max_drac, "min_gap": c.min_gap,
                "max_deceleration": c.max_deceleration, "ssm_min_ttc": np.nan,
                "ssm_max_drac": np.nan, "ssm_min_pet": np.nan, **params,
                "has_states": bool(c.states),
            })
        return (pd.DataFrame(rows, columns=list(EVENT_COLUMNS)),
                pd.DataFrame(states, columns=list(STATE_COLUMNS)))


def _relative(ego: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """Gap, lateral offset and speeds of ``other`` seen from ``ego`` at common times."""
    both = ego.merge(other, on="t", suffixes=("_e", "_o"))
    he = np.radians(both["angle_e"].to_numpy())
    ho = np.radians(both["angle_o"].to_numpy())
    hx, hy = np.sin(he), np.cos(he)
    ox, oy = np.sin(ho), np.cos(ho)
    cx = both["x_e"].to_numpy() - 0.5 * both["length_e"].to_numpy() * hx
    cy = both["y_e"].to_numpy() - 0.5 * both["length_e"].to_numpy() * hy
    rx = both["x_o"].to_numpy() - 0.5 * both["length_o"].to_numpy() * ox - cx
    ry = both["y_o"].to_numpy() - 0.5 * both["length_o"].to_numpy() * oy - cy
    return pd.DataFrame({
        "t": both["t"].to_numpy(),
        "gap": rx * hx + ry * hy - 0.5 * (both["length_e"] + both["length_o"]).to_numpy(),
        "dy": -rx * hy + ry * hx,
        "ego_speed": both["speed_e"].to_numpy(), "other_speed": both["speed_o"].to_numpy(),
        "other_acceleration": both["acceleration_o"].to_numpy(),
        "heading_difference": np.abs((both["angle_o"] - both["angle_e"] + 180.0) % 360.0 - 180.0)
        .to_numpy(),
    })


def template_parameters(states: pd.DataFrame) -> dict[str, Any]:
    """Map one event's states onto a built-in template and its parameters.

    Parameters
    ----------
    states
        States of the event (``STATE_COLUMNS``), ``t`` relative to the event.

    Returns
    -------
    dict
        ``template`` (``"lead_braking"``, ``"cut_in"`` or ``""`` when neither fits)
        and the parameters at the start of the record: ``ego_speed_0``,
        ``other_speed_0``, ``gap_0`` (bumper gap), ``dy_0`` (lateral offset),
        ``other_decel`` (largest deceleration of the other vehicle), ``brake_time``
        (first time it brakes harder than 1 m/s², from the record start) and
        ``lateral_speed`` (largest lateral closing speed).

    Notes
    -----
    A target that starts in the next lane (``|dy| > 2.4 m``) and ends in the ego's
    (``|dy| < 1.2 m``) before the event is a ``cut_in``; one in the ego's lane ahead
    from the start (``|dy| < 1.2 m``, ``gap > 0``) is ``lead_braking``; both need the
    headings within 30 degrees until the event (no turning or crossing conflict). The
    lateral speed is the mean rate of ``|dy|`` from the start to its smallest value.
    """
    empty: dict[str, Any] = {"template": "", "ego_speed_0": np.nan, "other_speed_0": np.nan,
                             "gap_0": np.nan, "dy_0": np.nan, "other_decel": np.nan,
                             "brake_time": np.nan, "lateral_speed": np.nan}
    if states.empty or "other" not in set(states["role"]):
        return empty
    rel = _relative(states[states["role"] == "ego"], states[states["role"] == "other"])
    rel = rel.sort_values("t")
    if len(rel) < 3:
        return empty
    first = rel.iloc[0]
    before = rel[rel["t"] <= 0.0]
    lateral = np.nan
    if len(before) > 1:
        closest = before.iloc[int(np.argmin(np.abs(before["dy"].to_numpy())))]
        if closest["t"] > first["t"]:
            lateral = float((abs(first["dy"]) - abs(closest["dy"])) / (closest["t"] - first["t"]))
    braking = rel[rel["other_acceleration"] < -1.0]
    out = {
        "ego_speed_0": float(first["ego_speed"]), "other_speed_0": float(first["other_speed"]),
        "gap_0": float(first["gap"]), "dy_0": float(first["dy"]),
        "other_decel": float(max(-rel["other_acceleration"].min(), 0.0)),
        "brake_time": float(braking["t"].iloc[0] - first["t"]) if len(braking) else np.nan,
        "lateral_speed": lateral,
    }
    if float(before["heading_difference"].max() if len(before) else 180.0) > 30.0:
        return {**out, "template": ""}  # turning or crossing: no straight-road template
    if abs(first["dy"]) > 2.4 and np.abs(before["dy"]).min() < 1.2 and lateral > 0.0:
        return {**out, "template": "cut_in"}
    if abs(first["dy"]) < 1.2 and first["gap"] > 0.0:
        return {**out, "template": "lead_braking"}
    return {**out, "template": ""}


def read_ssm(path: str | Path) -> pd.DataFrame:
    """Conflicts of SUMO's SSM device output (``ego``, ``foe``, ``begin``, ``end``, minima).

    Returns
    -------
    DataFrame
        ``ego``, ``foe``, ``begin``, ``end``, ``min_ttc``, ``max_drac``, ``min_pet``
        (``nan`` when not measured), ``x``, ``y`` (position of the most critical
        measure).
    """
    path = Path(path)
    columns = ["ego", "foe", "begin", "end", "min_ttc", "max_drac", "min_pet", "x", "y"]
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=columns)
    rows = []
    for conflict in DET.parse(str(path)).getroot().iter("conflict"):
        row: dict[str, Any] = {"ego": conflict.get("ego", ""), "foe": conflict.get("foe", ""),
                               "begin": float(conflict.get("begin", "nan")),
                               "end": float(conflict.get("end", "nan")),
                               "min_ttc": np.nan, "max_drac": np.nan, "min_pet": np.nan,
                               "x": np.nan, "y": np.nan}
        for tag, key in (("minTTC", "min_ttc"), ("maxDRAC", "max_drac"), ("PET", "min_pet")):
            element = conflict.find(tag)
            if element is None:
                continue
            value = element.get("value", "NA")
            if value not in ("NA", ""):
                row[key] = float(value)
                position = element.get("position", "")
                if position and position != "NA" and np.isnan(row["x"]):
                    px, py = position.split(",")[:2]
                    row["x"], row["y"] = float(px), float(py)
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def merge_ssm(events: pd.DataFrame, ssm: pd.DataFrame, thresholds: Thresholds,
              instance_id: str) -> pd.DataFrame:
    """Add SSM minima to the events and SSM-only critical conflicts as new events.

    An SSM conflict belongs to an event of the same ego and foe whose time lies in
    ``[begin - window, end + window]``. Unmatched conflicts with ``TTC < ttc``,
    ``DRAC > drac`` or ``PET < pet`` become events ``ssm_ttc`` / ``ssm_drac`` /
    ``ssm_pet`` without states (``has_states = False``).
    """
    events = events.copy()
    extra = []
    count = 0
    seen: dict[frozenset[str], float] = {}
    for record in ssm.sort_values("begin").to_dict("records"):
        ego, foe = str(record["ego"]), str(record["foe"])
        begin, end = float(record["begin"]), float(record["end"])
        ttc, drac, pet = (float(record["min_ttc"]), float(record["max_drac"]),
                          float(record["min_pet"]))
        pair = frozenset((ego, foe))
        if begin - seen.get(pair, -np.inf) <= thresholds.window:
            continue  # the same conflict seen from the other ego's device
        seen[pair] = end
        match = events[(events["ego_id"] == ego) & (events["other_id"] == foe)
                       & (events["time"] >= begin - thresholds.window)
                       & (events["time"] <= end + thresholds.window)]
        if len(match):
            i = match.index[0]
            for key, value, better in (("ssm_min_ttc", ttc, np.fmin),
                                       ("ssm_max_drac", drac, np.fmax),
                                       ("ssm_min_pet", pet, np.fmin)):
                events.loc[i, key] = better(events.loc[i, key], value)
            continue
        kind = ("ssm_ttc" if ttc < thresholds.ttc else "ssm_pet" if pet < thresholds.pet
                else "ssm_drac" if drac > thresholds.drac else "")
        if not kind:
            continue
        count += 1
        extra.append({
            "event_id": f"{instance_id}-s{count:05d}", "instance_id": instance_id,
            "time": begin, "last_time": end, "event_type": kind,
            "ego_id": ego, "other_id": foe, "edge": "", "lane": "",
            "lane_pos": np.nan, "x": float(record["x"]), "y": float(record["y"]),
            "ego_speed": np.nan, "other_speed": np.nan, "min_ttc": np.nan, "max_drac": np.nan,
            "min_gap": np.nan, "max_deceleration": np.nan, "ssm_min_ttc": ttc,
            "ssm_max_drac": drac, "ssm_min_pet": pet, "template": "", "has_states": False,
        })
    if extra:
        events = pd.concat([events, pd.DataFrame(extra).reindex(columns=events.columns)],
                           ignore_index=True)
    return events
