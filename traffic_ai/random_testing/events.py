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
built-in template it maps onto (``lead_braking``, ``cut_in``, or for crossing and
opposing-turn conflicts ``junction_crossing`` or ``junction_left_turn``, see
:mod:`~traffic_ai.random_testing.junction_events`).

SUMO's SSM device on the egos (TTC, DRAC, PET) also finds conflicts the in-path
measures cannot see (crossing, merging and opposing paths, PET), but names them only
in its output file after the run (with their encounter type, kept as
``ssm_encounter``, and the conflict position, which the junction mapping falls back
on). So :meth:`EventDetector.observe_encounters` opens a
*capture* whenever a cheap kinematic check (:func:`close_encounters`, every
:attr:`Thresholds.check_every` seconds) finds another vehicle about to come close to
an ego: the states of the ego and of the vehicles around it, from ``pre +
ssm_slack`` seconds before the first close moment (out of the ring buffer) to ``post
+ ssm_slack`` seconds after the last. A closed capture keeps, packed as float32
arrays, only the vehicles that came within :attr:`Thresholds.capture_reach` of the
ego; memory is spent around close encounters only, never on the whole run. After the
run :func:`read_ssm` parses the device's file and :func:`merge_ssm` adds SSM minima to
the matching records and turns SSM-only conflicts into records whose states (ego and
foe, ``pre`` seconds before to ``post`` seconds after the time of the critical
measure) are sliced from the ego's capture, so they map onto templates and replay
like the others.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
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
    "SSM_ENCOUNTER_TYPES",
    "STATE_COLUMNS",
    "EventDetector",
    "Thresholds",
    "close_encounters",
    "merge_ssm",
    "read_ssm",
    "template_parameters",
]

FloatArray = npt.NDArray[np.float64]

#: Event types, least to most severe.
SEVERITY = {"hard_braking": 0, "high_drac": 1, "ssm_pet": 1, "ssm_drac": 1, "ssm_ttc": 1,
            "low_ttc": 2, "collision": 3}
#: SUMO SSM encounter types (``MSDevice_SSM::EncounterType``) by code.
SSM_ENCOUNTER_TYPES = {
    0: "NOCONFLICT_AHEAD", 1: "FOLLOWING", 2: "FOLLOWING_FOLLOWER", 3: "FOLLOWING_LEADER",
    4: "ON_ADJACENT_LANES", 5: "MERGING", 6: "MERGING_LEADER", 7: "MERGING_FOLLOWER",
    8: "MERGING_ADJACENT", 9: "CROSSING", 10: "CROSSING_LEADER", 11: "CROSSING_FOLLOWER",
    12: "EGO_ENTERED_CONFLICT_AREA", 13: "FOE_ENTERED_CONFLICT_AREA",
    14: "EGO_LEFT_CONFLICT_AREA", 15: "FOE_LEFT_CONFLICT_AREA",
    16: "BOTH_ENTERED_CONFLICT_AREA", 17: "BOTH_LEFT_CONFLICT_AREA", 18: "FOLLOWING_PASSED",
    19: "MERGING_PASSED", 20: "ONCOMING", 111: "COLLISION",
}
STATE_COLUMNS = ("event_id", "vehicle_id", "role", "t", "x", "y", "speed", "angle",
                 "acceleration", "length", "lane")
EVENT_COLUMNS = (
    "event_id", "instance_id", "time", "last_time", "event_type", "ego_id", "other_id",
    "edge", "lane", "lane_pos", "x", "y", "ego_speed", "other_speed", "min_ttc", "max_drac",
    "min_gap", "max_deceleration", "ssm_min_ttc", "ssm_max_drac", "ssm_min_pet", "template",
    "ego_speed_0", "other_speed_0", "gap_0", "dy_0", "other_decel", "brake_time",
    "lateral_speed", "conflict_type", "has_states", "ego_distance_0", "other_distance_0",
    "turn_radius", "other_direction", "right_of_way", "turning", "other_behaviour",
    "ssm_encounter",
)
_CAPTURE_COLUMNS = ("t", "vehicle_id", "x", "y", "speed", "angle", "acceleration", "length",
                    "lane")


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
    ssm_range
        Range of SUMO's SSM device on the egos (m).
    ssm_slack
        Extra seconds kept before a capture, because the device may report a measure
        shortly after the time it refers to (PET is known when the second vehicle
        reaches the conflict area).
    horizon, check_every
        Prediction horizon (s) and period (s) of the kinematic encounter check
        (:func:`close_encounters`) that opens captures.
    capture_reach
        A closed capture keeps the vehicles that came within this distance (m) of the
        ego: an SSM foe with ``TTC < 1.5 s`` or ``PET < 1 s`` is closer than that at
        the conflict in urban speeds.
    capture_encounters
        Keep states around close encounters (so that SSM-only events have states);
        ``False`` saves the time and memory, and SSM-only events come without states.
    """

    ttc: float = 1.5
    drac: float = 3.35
    hard_braking: float = 6.0
    pet: float = 1.0
    window: float = 10.0
    pre: float = 5.0
    post: float = 3.0
    max_heading_difference: float = 45.0
    ssm_range: float = 50.0
    ssm_slack: float = 2.0
    horizon: float = 2.0
    check_every: float = 0.3
    capture_reach: float = 30.0
    capture_encounters: bool = True


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
_Step = tuple[float, dict[str, _State], dict[str, tuple[str, ...]]]


_Track = tuple[npt.NDArray[np.float64], npt.NDArray[np.float32], npt.NDArray[np.str_],
               npt.NDArray[np.int16]]


@dataclass
class _Capture:
    """States around an ego's close encounters (the SSM foe is unknown until the run ends).

    While open, ``rows`` holds ``(time, vehicle id, state)``; :meth:`close` packs them
    per vehicle as ``(times, float32 [x, y, speed, angle, acceleration, length],
    lane names, lane codes)``.
    """

    ego_id: str
    first: float
    last: float
    rows: list[tuple[float, str, _State]] = field(default_factory=list)
    tracks: dict[str, _Track] | None = None

    def close(self, reach: float) -> None:
        """Pack the rows per vehicle, keeping those that came within ``reach`` m of the ego."""
        rows, self.rows = self.rows, []
        self.tracks = {}
        if not rows:
            return
        times = np.array([t for t, _, _ in rows], dtype=np.float64)
        codes, names = pd.factorize(np.array([vid for _, vid, _ in rows], dtype=object))
        values = np.array([st[:6] for _, _, st in rows], dtype=np.float32)
        lane_codes, lane_names = pd.factorize(np.array([st[6] for _, _, st in rows],
                                                       dtype=object))
        own = codes == int(np.flatnonzero(names == self.ego_id)[0])
        own_times, own_xy = times[own], values[own, :2]
        at = np.clip(np.searchsorted(own_times, times), 0, len(own_times) - 1)
        same = np.abs(own_times[at] - times) < 1e-9
        distance2 = np.where(same, ((values[:, :2] - own_xy[at]) ** 2).sum(axis=1), np.inf)
        nearest = np.full(len(names), np.inf)
        np.minimum.at(nearest, codes, distance2)
        lanes = np.asarray(lane_names, dtype=str)
        for code in np.flatnonzero(nearest <= reach * reach).tolist():
            mine = codes == code
            self.tracks[str(names[code])] = (times[mine], values[mine], lanes,
                                             lane_codes[mine].astype(np.int16))

    @property
    def size(self) -> int:
        """Rows held (open) or packed (closed)."""
        if self.tracks is None:
            return len(self.rows)
        return sum(len(track[0]) for track in self.tracks.values())


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
        th = self.thresholds
        steps = round((th.pre + th.post + th.ssm_slack) / dt) + 2
        self._buffer: deque[_Step] = deque(maxlen=steps)
        self._open: dict[frozenset[str], _Conflict] = {}
        self._done: list[_Conflict] = []
        self._count = 0
        self._capturing: dict[str, _Capture] = {}
        self._captures: dict[str, list[_Capture]] = {}
        self._steps = 0

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
        neighbours = {ego: tuple(seen) for ego, seen in contexts.items()}
        self._buffer.append((time, states, neighbours))

    # -- SSM captures -------------------------------------------------------------------------

    def observe_encounters(self, time: float) -> None:
        """Open, extend or close the egos' captures around close encounters.

        Parameters
        ----------
        time
            Simulation time (s); :meth:`record_step` of this step comes first.

        Notes
        -----
        Every :attr:`Thresholds.check_every` seconds, :func:`close_encounters` finds
        the egos that another vehicle comes close to within :attr:`Thresholds.horizon`
        seconds: the moments an SSM conflict (TTC, DRAC or PET beyond threshold) can
        happen. SUMO's SSM device names the conflicts only in its output file and
        reports some measures late (PET when the second vehicle arrives), so the
        detector keeps states around every such moment instead. A capture starts
        ``pre + ssm_slack`` seconds before the first critical check (from the ring
        buffer), grows every step, and closes ``post + ssm_slack`` seconds after the
        last one; it covers any SSM conflict whose critical time lies within
        ``ssm_slack`` of a critical check.
        """
        th = self.thresholds
        if not self._buffer or not th.capture_encounters:
            return
        current = self._buffer[-1]
        every = max(round(th.check_every / self.dt), 1)
        critical = ({ego for ego, _ in close_encounters(current[1], current[2],
                                                        horizon=th.horizon, pet=th.pet)}
                    if self._steps % every == 0 else set())
        self._steps += 1
        for ego in critical:
            capture = self._capturing.get(ego)
            if capture is not None:
                capture.last = time
                continue
            capture = self._capturing[ego] = _Capture(ego, time, time)
            for entry in self._buffer:
                if time - th.pre - th.ssm_slack - 1e-9 <= entry[0] < time - 1e-9:
                    capture.rows.extend(self._around(entry, ego))
        for ego, capture in list(self._capturing.items()):
            capture.rows.extend(self._around(current, ego))
            if time - capture.last >= th.post + th.ssm_slack - 1e-9:
                self._close_capture(ego)

    @staticmethod
    def _around(entry: _Step, ego: str) -> list[tuple[float, str, _State]]:
        """The ego's state and those of the vehicles in its sensor range."""
        t, states, neighbours = entry
        if ego not in states:
            return []
        return [(t, ego, states[ego])] + [(t, vid, states[vid]) for vid in neighbours.get(ego, ())
                                          if vid != ego and vid in states]

    def _close_capture(self, ego: str) -> None:
        capture = self._capturing.pop(ego)
        capture.close(self.thresholds.capture_reach)
        self._captures.setdefault(ego, []).append(capture)

    def captured_states(self, ego: str, foe: str, start: float, end: float) -> pd.DataFrame:
        """States of ``ego`` and ``foe`` between ``start`` and ``end`` from the captures.

        Returns
        -------
        DataFrame
            ``t`` (absolute), ``vehicle_id``, ``x``, ``y``, ``speed``, ``angle``,
            ``acceleration``, ``length``, ``lane`` from the closed capture of the ego
            that holds the most of them; empty when none does.
        """
        best: list[pd.DataFrame] = []
        for capture in self._captures.get(ego, []):
            parts = []
            for vid in (ego, foe):
                track = (capture.tracks or {}).get(vid)
                if track is None:
                    continue
                times, values, lanes, codes = track
                inside = (times >= start - 1e-9) & (times <= end + 1e-9)
                if inside.any():
                    part = pd.DataFrame(values[inside].astype(np.float64),
                                        columns=list(_CAPTURE_COLUMNS[2:8]))
                    part.insert(0, "vehicle_id", vid)
                    part.insert(0, "t", times[inside])
                    part["lane"] = lanes[codes[inside]].astype(str)
                    parts.append(part)
            if sum(map(len, parts)) > sum(map(len, best)):
                best = parts
        if not best:
            return pd.DataFrame(columns=list(_CAPTURE_COLUMNS))
        return pd.concat(best, ignore_index=True)

    @property
    def capture_rows(self) -> int:
        """Rows held by the captures (a measure of their memory)."""
        return (sum(c.size for cs in self._captures.values() for c in cs)
                + sum(c.size for c in self._capturing.values()))

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
        for time, states, _ in self._buffer:
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

        With ``final=True`` every open event is captured with what the buffer holds,
        and every open SSM capture is closed.
        """
        if final:
            for ego in list(self._capturing):
                self._close_capture(ego)
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
                "has_states": bool(c.states), "ssm_encounter": "",
            })
        return (pd.DataFrame(rows, columns=list(EVENT_COLUMNS)),
                pd.DataFrame(states, columns=list(STATE_COLUMNS)))


def close_encounters(states: Mapping[str, _State], neighbours: Mapping[str, tuple[str, ...]],
                     *, horizon: float = 3.0, pet: float = 1.0,
                     width: float = CAR_WIDTH) -> set[tuple[str, str]]:
    """Pairs ``(ego, other)`` that will come close to each other within ``horizon`` s.

    Parameters
    ----------
    states
        ``(x, y, speed, angle, acceleration, length, lane)`` of every vehicle (SUMO
        front-bumper position, compass angle in degrees).
    neighbours
        Per ego, the ids of the vehicles around it.
    horizon
        Prediction horizon (s).
    pet
        Post-encroachment time of interest (s): crossing paths count when the two
        vehicles pass within ``pet`` seconds of each other.
    width
        Vehicle width (m).

    Returns
    -------
    set of (str, str)
        The egos and the vehicles they have a close encounter with.

    Notes
    -----
    With constant velocities, the relative centre position ``p`` and velocity ``w``
    of the other vehicle give the time of closest approach
    ``t* = clip(-p.w / |w|^2, 0, horizon)`` and the offset ``d = p + w t*``, written
    in the ego's frame as ``(dx, dy)``. The other vehicle's half extents along the
    ego's axes are ``ex = (L |cos a| + W |sin a|) / 2`` and
    ``ey = (L |sin a| + W |cos a|) / 2`` for the heading difference ``a``. The
    encounter is close when the two vehicles approach (``p.w < 0``, ``|w| > 0.5 m/s``)
    and ``|dx| < L_ego / 2 + ex + mx`` and ``|dy| < W / 2 + ey + my``. For paths in
    the same or opposing directions (within 30 degrees) the margins are ``1 m`` (less
    than the 1.4 m that separate cars side by side in neighbouring lanes, which do
    not count), except ``mx = r`` for opposing paths (and ``my = r`` too when one of
    the two is inside a junction, where SUMO's SSM device follows the left-turn path
    across the ego's); for crossing paths both are ``r``. ``r = max(v_ego, v_other)
    pet + 2 m`` is the distance the faster vehicle covers within the PET of interest
    (plus 2 m) when both move faster than 1 m/s,
    and ``1 m`` otherwise (a car waiting at a stop line beside the ego's path is no
    conflict).

    Examples
    --------
    >>> s = {"e": (0.0, 0.0, 10.0, 0.0, 0.0, 4.5, "l"), "f": (0.0, 20.0, 0.0, 0.0, 0.0, 4.5, "l"),
    ...      "n": (3.2, 0.0, 10.0, 0.0, 0.0, 4.5, "m")}
    >>> sorted(close_encounters(s, {"e": ("f", "n")}))  # closes on a stopped car ahead
    [('e', 'f')]
    >>> sorted(close_encounters(s, {"e": ("n",)}))  # a car alongside in the next lane
    []
    """
    pairs = [(ego, vid) for ego, seen in neighbours.items() if ego in states
             for vid in seen if vid != ego and vid in states]
    if not pairs:
        return set()
    ego_state = np.array([states[e][:6] for e, _ in pairs], dtype=np.float64)
    other = np.array([states[v][:6] for _, v in pairs], dtype=np.float64)
    junction = np.array([states[e][6][:1] == ":" or states[v][6][:1] == ":" for e, v in pairs])
    he, ho = np.radians(ego_state[:, 3]), np.radians(other[:, 3])
    hx, hy = np.sin(he), np.cos(he)
    ox, oy = np.sin(ho), np.cos(ho)
    px = (other[:, 0] - 0.5 * other[:, 5] * ox) - (ego_state[:, 0] - 0.5 * ego_state[:, 5] * hx)
    py = (other[:, 1] - 0.5 * other[:, 5] * oy) - (ego_state[:, 1] - 0.5 * ego_state[:, 5] * hy)
    wx = other[:, 2] * ox - ego_state[:, 2] * hx
    wy = other[:, 2] * oy - ego_state[:, 2] * hy
    w2 = wx**2 + wy**2
    pw = px * wx + py * wy
    t_star = np.clip(-pw / np.maximum(w2, 1e-9), 0.0, horizon)
    dxw, dyw = px + wx * t_star, py + wy * t_star
    dx, dy = dxw * hx + dyw * hy, -dxw * hy + dyw * hx
    a = ho - he
    ca, sa = np.abs(np.cos(a)), np.abs(np.sin(a))
    ex = 0.5 * (other[:, 5] * ca + width * sa)
    ey = 0.5 * (other[:, 5] * sa + width * ca)
    speed = np.sqrt(w2)
    crossing = sa > np.sin(np.radians(30.0))
    opposing = ~crossing & (np.cos(a) < 0.0)
    moving = np.minimum(ego_state[:, 2], other[:, 2]) > 1.0
    reach = np.where(moving, np.maximum(ego_state[:, 2], other[:, 2]) * pet + 2.0, 1.0)
    mx = np.where(crossing | opposing, reach, 1.0)
    my = np.where(crossing | (opposing & junction), reach, 1.0)
    close = ((pw < 0.0) & (speed > 0.5) & (np.abs(dx) < 0.5 * ego_state[:, 5] + ex + mx)
             & (np.abs(dy) < 0.5 * width + ey + my))
    return {pairs[i] for i in np.flatnonzero(close).tolist()}


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


def template_parameters(states: pd.DataFrame, *, min_duration: float = 1.0,
                        conflict_position: tuple[float, float] | None = None,
                        ) -> dict[str, Any]:
    """Map one event's states onto a built-in template and its parameters.

    Parameters
    ----------
    states
        States of the event (``STATE_COLUMNS``), ``t`` relative to the event.
    min_duration
        Shortest stretch (s) before the event in which the two vehicles must keep the
        template's configuration.
    conflict_position
        Where SUMO's SSM device located the conflict (x, y), a fallback for the
        conflict point of junction conflicts.

    Returns
    -------
    dict
        ``conflict_type`` (see the notes), ``template`` (``"lead_braking"``,
        ``"cut_in"``, ``"junction_crossing"``, ``"junction_left_turn"`` or ``""``
        when none fits) and the parameters at the start of the template:
        ``ego_speed_0``, ``other_speed_0``, ``gap_0`` (bumper gap), ``dy_0`` (lateral
        offset), ``other_decel`` (largest deceleration of the other vehicle from then
        on), ``brake_time`` (first time it brakes harder than 1 m/s², from the start)
        and ``lateral_speed`` (mean lateral closing speed until ``|dy|`` is smallest);
        for the junction templates ``ego_distance_0``, ``other_distance_0``,
        ``turn_radius``, ``other_direction``, ``right_of_way``, ``turning`` and
        ``other_behaviour`` (:func:`~traffic_ai.random_testing.junction_events.
        junction_parameters`).

    Notes
    -----
    The conflict type follows the traffic-conflict technique, from the heading
    difference ``a`` and the position of the other vehicle at the event:
    ``crossing`` (``30 < a < 150`` degrees: crossing, turning and merging paths at
    junctions), ``opposing`` (``a >= 150``: left turn across oncoming traffic),
    ``passing`` (crossing or opposing headings, but the two paths neither cross nor
    come within a car width plus 1 m: they pass each other, no collision course;
    :func:`~traffic_ai.random_testing.junction_events.paths_conflict`),
    ``rear`` (same direction, the other behind the ego), ``lane_change`` (same
    direction, the other entered the ego's lane from the next one) and ``rear_end``
    (same direction, the other ahead in the ego's lane).

    The straight-road templates describe the *stretch* of the record around the event
    in which the headings stay within 30 degrees (a turn at a junction five seconds
    earlier does not change a car-following conflict); it must last
    ``min_duration``. The template starts at the beginning of the stretch: a target
    that is then in the next lane (``|dy| > 2.4 m``) and later in the ego's
    (``|dy| < 1.2 m``) is a ``cut_in``; one in the ego's lane ahead (``|dy| < 1.2 m``,
    ``gap > 0``) is ``lead_braking``. The record of a vehicle starts when it enters
    the ego's sensor range, so the stretch may start after ``-pre``.
    Crossing and opposing conflicts map onto the junction templates when the
    approach angle and the turns fit (:mod:`~traffic_ai.random_testing.junction_events`);
    rear conflicts have no built-in template.
    """
    from traffic_ai.random_testing.junction_events import junction_parameters, paths_conflict

    empty: dict[str, Any] = {"template": "", "ego_speed_0": np.nan, "other_speed_0": np.nan,
                             "gap_0": np.nan, "dy_0": np.nan, "other_decel": np.nan,
                             "brake_time": np.nan, "lateral_speed": np.nan,
                             "conflict_type": "", "ego_distance_0": np.nan,
                             "other_distance_0": np.nan, "turn_radius": np.nan,
                             "other_direction": "", "right_of_way": "", "turning": "",
                             "other_behaviour": ""}
    if states.empty or "other" not in set(states["role"]):
        return empty
    rel = _relative(states[states["role"] == "ego"], states[states["role"] == "other"])
    rel = rel.sort_values("t").reset_index(drop=True)
    if len(rel) < 3:
        return empty
    now = int(np.argmin(np.abs(rel["t"].to_numpy())))
    at_event = rel.iloc[now]
    heading = float(at_event["heading_difference"])
    # the stretch: the run of aligned headings (within 30 degrees) around the event
    aligned = rel["heading_difference"].to_numpy() <= 30.0
    start, end = now, now + 1
    if aligned[now]:
        while start > 0 and aligned[start - 1]:
            start -= 1
        while end < len(rel) and aligned[end]:
            end += 1
    stretch = rel.iloc[start:end] if aligned[now] else rel.iloc[:0]
    entered = (len(stretch) > 1 and abs(float(stretch["dy"].iloc[0])) > 2.4
               and float(np.abs(stretch["dy"]).min()) < 1.2)
    if heading >= 150.0:
        kind = "opposing"
    elif heading > 30.0:
        kind = "crossing"
    elif float(at_event["gap"]) < 0.0 and abs(float(at_event["dy"])) < 2.4:
        kind = "rear"
    else:
        kind = "lane_change" if entered else "rear_end"
    if len(stretch) < 2 or float(stretch["t"].iloc[-1] - stretch["t"].iloc[0]) \
            < min_duration - 1e-9:
        stretch = rel.iloc[:0]
    first = stretch.iloc[0] if len(stretch) else rel.iloc[0]
    after = rel[rel["t"] >= float(first["t"])]
    lateral = np.nan
    if len(stretch) > 1:
        closest = stretch.iloc[int(np.argmin(np.abs(stretch["dy"].to_numpy())))]
        if closest["t"] > first["t"]:
            lateral = float((abs(first["dy"]) - abs(closest["dy"]))
                            / (closest["t"] - first["t"]))
    braking = after[after["other_acceleration"] < -1.0]
    out = {
        **empty,
        "ego_speed_0": float(first["ego_speed"]), "other_speed_0": float(first["other_speed"]),
        "gap_0": float(first["gap"]), "dy_0": float(first["dy"]),
        "other_decel": float(max(-after["other_acceleration"].min(), 0.0)),
        "brake_time": float(braking["t"].iloc[0] - first["t"]) if len(braking) else np.nan,
        "lateral_speed": lateral, "conflict_type": kind,
    }
    if kind in ("crossing", "opposing"):
        ego_states = states[states["role"] == "ego"]
        other_states = states[states["role"] == "other"]
        if not paths_conflict(ego_states, other_states, point=conflict_position):
            return {**out, "conflict_type": "passing", "template": ""}
        junction = junction_parameters(ego_states, other_states, point=conflict_position)
        if junction is not None:
            return {**out, "gap_0": np.nan, "dy_0": np.nan, "brake_time": np.nan,
                    "lateral_speed": np.nan, **junction}
    if kind in ("rear_end", "lane_change") and len(stretch):
        if entered and lateral > 0.0:
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
        (``nan`` when not measured), ``ttc_time``, ``drac_time``, ``pet_time`` (when
        each extreme occurred), ``x``, ``y`` (the first conflict position reported:
        for crossing and merging conflicts the entry of the follower into the
        conflict area), ``ttc_type``, ``drac_type``, ``pet_type`` (encounter type code
        of each extreme, :data:`SSM_ENCOUNTER_TYPES`; ``nan`` when not reported).
    """
    path = Path(path)
    columns = ["ego", "foe", "begin", "end", "min_ttc", "max_drac", "min_pet", "ttc_time",
               "drac_time", "pet_time", "x", "y", "ttc_type", "drac_type", "pet_type"]
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=columns)
    rows = []
    for conflict in DET.parse(str(path)).getroot().iter("conflict"):
        row: dict[str, Any] = {"ego": conflict.get("ego", ""), "foe": conflict.get("foe", ""),
                               "begin": float(conflict.get("begin", "nan")),
                               "end": float(conflict.get("end", "nan")),
                               **dict.fromkeys(columns[4:], np.nan)}
        for tag, key, when, kind in (("minTTC", "min_ttc", "ttc_time", "ttc_type"),
                                     ("maxDRAC", "max_drac", "drac_time", "drac_type"),
                                     ("PET", "min_pet", "pet_time", "pet_type")):
            element = conflict.find(tag)
            if element is None:
                continue
            value = element.get("value", "NA")
            if value not in ("NA", ""):
                row[key] = float(value)
                moment = element.get("time", "NA")
                row[when] = float(moment) if moment not in ("NA", "") else np.nan
                code = element.get("type", "")
                row[kind] = float(code) if code.lstrip("-").isdigit() else np.nan
                position = element.get("position", "")
                if position and position != "NA" and np.isnan(row["x"]):
                    px, py = position.split(",")[:2]
                    row["x"], row["y"] = float(px), float(py)
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


StatesOf = Callable[[str, str, float, float], pd.DataFrame]


def merge_ssm(events: pd.DataFrame, ssm: pd.DataFrame, thresholds: Thresholds,
              instance_id: str, *, states_of: StatesOf | None = None,
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add SSM minima to the events and SSM-only critical conflicts as new events.

    Parameters
    ----------
    events
        Events of the detector (``EVENT_COLUMNS``).
    ssm
        Conflicts of :func:`read_ssm`.
    thresholds
        Event thresholds.
    instance_id
        Prefix of the new event ids.
    states_of
        ``(ego, foe, start, end) -> states`` with absolute times (typically
        :meth:`EventDetector.captured_states`); without it SSM-only events have no
        states.

    Returns
    -------
    (DataFrame, DataFrame)
        The events with SSM minima and the SSM-only events, and the states of the new
        events (``STATE_COLUMNS``).

    Notes
    -----
    An SSM conflict belongs to an event of the same two vehicles (in either role)
    whose time lies in ``[begin - window, end + window]``. An unmatched conflict with
    ``TTC < ttc``, ``PET < pet`` or ``DRAC > drac`` becomes an event ``ssm_ttc`` /
    ``ssm_pet`` / ``ssm_drac`` at the time of that measure, with the states of ego and
    foe from ``pre`` seconds before to ``post`` seconds after it (``has_states``
    when both are recorded) and the template it maps onto.
    """
    events = events.copy()
    extra = []
    new_states: list[pd.DataFrame] = []
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
        same = (((events["ego_id"] == ego) & (events["other_id"] == foe))
                | ((events["ego_id"] == foe) & (events["other_id"] == ego)))
        match = events[same & (events["time"] >= begin - thresholds.window)
                       & (events["time"] <= end + thresholds.window)]
        if len(match):
            i = match.index[0]
            for key, value, better in (("ssm_min_ttc", ttc, np.fmin),
                                       ("ssm_max_drac", drac, np.fmax),
                                       ("ssm_min_pet", pet, np.fmin)):
                events.loc[i, key] = better(events.loc[i, key], value)
            if not events.loc[i, "ssm_encounter"]:
                codes = [record.get(k) for k in ("ttc_type", "pet_type", "drac_type")]
                events.loc[i, "ssm_encounter"] = next(
                    (n for n in map(_encounter_name, codes) if n), "")
            continue
        kind, when, code = (
            ("ssm_ttc", record.get("ttc_time"), record.get("ttc_type")) if ttc < thresholds.ttc
            else ("ssm_pet", record.get("pet_time"), record.get("pet_type"))
            if pet < thresholds.pet
            else ("ssm_drac", record.get("drac_time"), record.get("drac_type"))
            if drac > thresholds.drac else ("", None, None))
        if not kind:
            continue
        encounter = _encounter_name(code)
        position = (float(record["x"]), float(record["y"]))
        time = float(when) if when is not None and np.isfinite(float(when)) else begin
        count += 1
        event_id = f"{instance_id}-s{count:05d}"
        states = _ssm_states(event_id, ego, foe, time, thresholds, states_of)
        row = {
            "event_id": event_id, "instance_id": instance_id,
            "time": time, "last_time": end, "event_type": kind,
            "ego_id": ego, "other_id": foe, "edge": "", "lane": "",
            "lane_pos": np.nan, "x": float(record["x"]), "y": float(record["y"]),
            "ego_speed": np.nan, "other_speed": np.nan, "min_ttc": np.nan, "max_drac": np.nan,
            "min_gap": np.nan, "max_deceleration": np.nan, "ssm_min_ttc": ttc,
            "ssm_max_drac": drac, "ssm_min_pet": pet,
            **template_parameters(states, conflict_position=position
                                  if np.isfinite(position).all() else None),
            "has_states": set(states["role"]) == {"ego", "other"}, "ssm_encounter": encounter,
        }
        if len(states):
            now = states.iloc[(states["t"].abs() + (states["role"] != "ego") * 1e6).argmin()]
            lane = str(now["lane"])
            row.update(edge=lane.rsplit("_", 1)[0], lane=lane, ego_speed=float(now["speed"]))
            other = states[states["role"] == "other"]
            if len(other):
                row["other_speed"] = float(other.iloc[other["t"].abs().argmin()]["speed"])
            ego_rows = states[states["role"] == "ego"]
            row["max_deceleration"] = float(max(-ego_rows["acceleration"].min(), 0.0))
            new_states.append(states)
        extra.append(row)
    if extra:
        events = pd.concat([events, pd.DataFrame(extra).reindex(columns=events.columns)],
                           ignore_index=True)
    states_frame = (pd.concat(new_states, ignore_index=True) if new_states
                    else pd.DataFrame(columns=list(STATE_COLUMNS)))
    return events, states_frame


def _encounter_name(code: Any) -> str:
    """Name of an SSM encounter type code (``""`` when missing)."""
    try:
        value = float(code)
    except (TypeError, ValueError):
        return ""
    if not np.isfinite(value):
        return ""
    return SSM_ENCOUNTER_TYPES.get(int(value), f"TYPE_{int(value)}")


def _ssm_states(event_id: str, ego: str, foe: str, time: float, thresholds: Thresholds,
                states_of: StatesOf | None) -> pd.DataFrame:
    """States of an SSM-only event (``STATE_COLUMNS``, ``t`` relative to ``time``)."""
    if states_of is None:
        return pd.DataFrame(columns=list(STATE_COLUMNS))
    raw = states_of(ego, foe, time - thresholds.pre, time + thresholds.post)
    if raw.empty:
        return pd.DataFrame(columns=list(STATE_COLUMNS))
    out = raw.assign(event_id=event_id,
                     role=np.where(raw["vehicle_id"] == ego, "ego", "other"),
                     t=(raw["t"] - time).round(6))
    return out[list(STATE_COLUMNS)].sort_values(["role", "t"]).reset_index(drop=True)
