"""The egos' junction map in SUMO: conflict areas, right of way and foes ahead.

:class:`JunctionMap` tells an ego, from the network's junction geometry and the
vehicles its sensors see, which of them will cross its path at the junction ahead
(or the one it is in), where, and who has the right of way. It reads only static
lane data (shapes, internal foe lanes, link states), the next link of each vehicle
concerned and the lane positions, all through libsumo, and caches what does not
change.

Geometry. A vehicle's path through a junction is the chain of internal lanes from
its next link's ``via`` lane (or its current internal lane) to the outgoing lane.
Two paths conflict where an internal lane of one is among the internal foes
(``lane.getInternalFoes``) of an internal lane of the other; the *conflict point* is
the first crossing of the two lane shapes (the end point for merging lanes). A
vehicle's front reaches the conflict area ``w / (2 sin a)`` before the point (``w``
the other's width, ``a`` the crossing angle, at most 5 m) and its rear leaves it as
far past the point plus its length.

Right of way. From the state of each vehicle's link into the junction
(SUMO's link states): the ego gives way to a foe on a major link (``G``, ``M``,
``O``) when its own is minor (``g``, ``m``, ``s``, ``=``, ``w``, ``o``), to a foe
from its right when both are minor (right before left), and to any vehicle already
inside the junction. A foe facing red or yellow is expected to stop. The ego's own
state is remembered from its last lane before the junction.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = ["MAJOR_STATES", "MINOR_STATES", "JunctionMap"]

#: Link states with the right of way, and those that give way.
MAJOR_STATES: Final = frozenset("GMO")
MINOR_STATES: Final = frozenset("gms=wo")
_WIDTH = 1.8
_MAX_HALF_AREA = 5.0
#: Vehicle-lane pairs whose next link is remembered (the cache is emptied beyond).
_VIA_CACHE = 200_000

# libsumo variable ids (see egos.py)
_VAR_SPEED, _VAR_ANGLE, _VAR_LENGTH, _VAR_ACCEL, _VAR_LANE = 0x40, 0x43, 0x44, 0x72, 0x51

#: ``(foe id, ego entry, foe entry, ego exit, foe exit, ego gives way, foe speed, foe
#: acceleration)``: distances (m) the two travel until their fronts reach and their rears
#: leave the conflict area.
Foe = tuple[str, float, float, float, float, bool, float, float]


def _junction_of(lane: str) -> str:
    """The junction id of an internal lane (``:J_3_0`` -> ``J``)."""
    return lane[1:].rsplit("_", 2)[0]


class JunctionMap:
    """Static junction data of the loaded network and the foes of each ego.

    One instance per SUMO simulation (its caches hold lane ids of one network).
    """

    def __init__(self) -> None:
        self._shape: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] = {}
        self._chain: dict[str, tuple[str, ...]] = {}
        self._foes: dict[str, frozenset[str]] = {}
        self._cross: dict[tuple[str, str], tuple[float, float, float] | None] = {}
        self._to_junction: dict[str, str] = {}
        self._length: dict[str, float] = {}
        self._ego_state: dict[str, str] = {}
        self._step: float = -1.0
        self._links: dict[str, tuple[str, str]] = {}
        self._via: dict[tuple[str, str], str] = {}
        self._lane_states: dict[str, dict[str, str]] = {}
        self._offsets: dict[tuple[str, ...], tuple[float, ...]] = {}

    # -- static data --------------------------------------------------------------------------
    def _lane_length(self, lane: str) -> float:
        import libsumo

        if lane not in self._length:
            self._length[lane] = float(libsumo.lane.getLength(lane))
        return self._length[lane]

    def _lane_shape(self, lane: str) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        import libsumo

        if lane not in self._shape:
            xy = np.asarray(libsumo.lane.getShape(lane), dtype=np.float64).reshape(-1, 2)
            along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
            self._shape[lane] = (xy, along)
        return self._shape[lane]

    def _internal_chain(self, lane: str) -> tuple[str, ...]:
        """``lane`` and the internal lanes that follow it up to the outgoing lane."""
        import libsumo

        if lane not in self._chain:
            chain = [lane]
            while True:
                # an internal lane continues on its link's via lane (an internal
                # junction, e.g. where left turners wait) or on an internal lane
                nxt = [str(lane) for link in libsumo.lane.getLinks(chain[-1])
                       for lane in (link[4], link[0]) if str(lane).startswith(":")]
                if not nxt or len(chain) > 4:
                    break
                chain.append(nxt[0])
            self._chain[lane] = tuple(chain)
        return self._chain[lane]

    def _chain_offsets(self, chain: tuple[str, ...]) -> tuple[float, ...]:
        """Length along a chain of internal lanes at the start of each (and its end)."""
        if chain not in self._offsets:
            self._offsets[chain] = (0.0, *itertools.accumulate(
                self._lane_length(x) for x in chain))
        return self._offsets[chain]

    def _internal_foes(self, lane: str) -> frozenset[str]:
        import libsumo

        if lane not in self._foes:
            self._foes[lane] = frozenset(map(str, libsumo.lane.getInternalFoes(lane)))
        return self._foes[lane]

    def _junction_ahead(self, lane: str) -> str:
        """The junction a lane leads into (its own junction for an internal lane)."""
        import libsumo

        if lane.startswith(":"):
            return _junction_of(lane)
        if lane not in self._to_junction:
            edge = libsumo.lane.getEdgeID(lane)
            self._to_junction[lane] = str(libsumo.edge.getToJunction(edge))
        return self._to_junction[lane]

    def _crossing(self, a: str, b: str) -> tuple[float, float, float] | None:
        """Where lane shapes ``a`` and ``b`` first cross: lengths along each and the angle."""
        from traffic_ai.random_testing.junction_events import conflict_point

        key = (a, b)
        if key not in self._cross:
            (pa, la), (pb, lb) = self._lane_shape(a), self._lane_shape(b)
            found = conflict_point(pa[:, 0], pa[:, 1], pb[:, 0], pb[:, 1])
            if found is not None and max(found) < 0.5:  # lanes that part from one point
                found = None
            if found is None and np.hypot(*(pa[-1] - pb[-1])) < 0.5:  # merging lanes
                found = (float(la[-1]), float(lb[-1]))
            if found is None:
                self._cross[key] = None
            else:
                angle = _angle_at(pa, la, found[0], pb, lb, found[1])
                self._cross[key] = (found[0], found[1], angle)
        return self._cross[key]

    # -- per step -----------------------------------------------------------------------------
    def _next_link(self, vehicle: str, lane: str, time: float) -> tuple[str, str]:
        """``(via lane, link state)`` of a vehicle's next link (``("", "")`` if none).

        Which link a vehicle takes out of its lane is asked once per lane
        (``vehicle.getNextLinks``, the costly call); its state, which signals change,
        is read every step from the lane's links (``lane.getLinks``, once per lane and
        step, shared by every vehicle on the lane).
        """
        import libsumo

        if time != self._step:
            self._step, self._links, self._lane_states = time, {}, {}
        if vehicle in self._links:
            return self._links[vehicle]
        if lane.startswith(":"):
            self._links[vehicle] = ("", "")
            return self._links[vehicle]
        key = (vehicle, lane)
        via = self._via.get(key)
        state = None
        if via is not None:
            if lane not in self._lane_states:
                self._lane_states[lane] = {str(link[4]): str(link[5])
                                           for link in libsumo.lane.getLinks(lane)}
            state = self._lane_states[lane].get(via, "") if via else ""
        if via is None or (via and not state):
            links = libsumo.vehicle.getNextLinks(vehicle)
            via, state = (str(links[0][4]), str(links[0][5])) if links else ("", "")
            if len(self._via) > _VIA_CACHE:
                self._via.clear()
            self._via[key] = via
        self._links[vehicle] = (via, state or "")
        return self._links[vehicle]

    def _path(self, vehicle: str, lane: str, position: float, time: float,
              ) -> tuple[str, tuple[str, ...], float, str] | None:
        """Junction, internal lanes, distance to the first of them and link state."""
        if lane.startswith(":"):
            return _junction_of(lane), self._internal_chain(lane), -position, "inside"
        via, state = self._next_link(vehicle, lane, time)
        if not via.startswith(":"):
            return None
        return (_junction_of(via), self._internal_chain(via),
                self._lane_length(lane) - position, state)

    def context(self, time: float, ego: str, values: Mapping[int, Any],
                seen: Mapping[str, Mapping[int, Any]], position_of: Any,
                ) -> tuple[float, str, tuple[Foe, ...]]:
        """``(stop distance, link state, foes)`` of one ego (see :func:`add_junction_context`).

        Parameters
        ----------
        time
            Simulation time (s).
        ego
            Its id.
        values
            Its subscription results (lane, lane position, angle, length).
        seen
            The vehicles its sensors see (context subscription results).
        position_of
            ``vehicle id -> lane position`` (libsumo's ``vehicle.getLanePosition``).
        """
        lane = str(values[_VAR_LANE])
        position = float(values[0x56])
        own = self._path(ego, lane, position, time)
        if own is None:
            return -1.0, "", ()
        junction, chain, to_first, state = own
        if state != "inside":
            self._ego_state[ego] = state
            stop = to_first
        else:
            stop = -1.0
        ego_state = self._ego_state.get(ego, "")
        ego_length = float(values[_VAR_LENGTH])
        ego_angle = float(values[_VAR_ANGLE])
        offsets = self._chain_offsets(chain)
        foe_lanes: dict[str, list[int]] = {}
        for i, x in enumerate(chain):
            for f in self._internal_foes(x):
                foe_lanes.setdefault(f, []).append(i)
        foes: list[Foe] = []
        for vid, r in seen.items():
            if vid == ego:
                continue
            other_lane = str(r[_VAR_LANE])
            if not other_lane or self._junction_ahead(other_lane) != junction:
                continue
            other = self._path(vid, other_lane, float(position_of(vid)), time)
            if other is None:
                continue
            _, other_chain, other_to_first, other_state = other
            other_offsets = self._chain_offsets(other_chain)
            best: Foe | None = None
            for j, lane_b in enumerate(other_chain):
                for i in foe_lanes.get(lane_b, ()):
                    crossing = self._crossing(chain[i], lane_b)
                    if crossing is None:
                        continue
                    u_a, u_b, angle = crossing
                    half = min(0.5 * _WIDTH / max(abs(np.sin(angle)), 1e-3),
                               _MAX_HALF_AREA)
                    to_point = to_first + offsets[i] + u_a
                    other_point = other_to_first + other_offsets[j] + u_b
                    other_length = float(r[_VAR_LENGTH])
                    yield_to = _gives_way(ego_state, other_state, ego_angle,
                                          float(r[_VAR_ANGLE]))
                    foe: Foe = (vid, to_point - half, other_point - half,
                                to_point + half + ego_length,
                                other_point + half + other_length,
                                yield_to, float(r[_VAR_SPEED]), float(r[_VAR_ACCEL]))
                    if best is None or foe[1] < best[1]:
                        best = foe
            if best is not None and best[3] > 0.0 and best[4] > 0.0:
                foes.append(best)
        return float(stop), ego_state, tuple(foes)

    def keep(self, egos: Any) -> None:
        """Forget the remembered link states of egos no longer in ``egos``."""
        if len(self._ego_state) > 2 * len(egos) + 16:
            self._ego_state = {e: s for e, s in self._ego_state.items() if e in egos}


def _gives_way(ego_state: str, foe_state: str, ego_angle: float, foe_angle: float) -> bool:
    """Whether the ego must give way to the foe (see the module notes)."""
    if foe_state == "inside":
        return True
    if foe_state in ("r", "y", "u"):
        return False
    ego_minor = ego_state in MINOR_STATES
    if ego_minor and foe_state in MAJOR_STATES:
        return True
    if ego_minor and foe_state in MINOR_STATES:
        # right before left: the foe heads 90 degrees anticlockwise of the ego (compass
        # angles run clockwise), i.e. it comes from the ego's right
        return bool(45.0 < (ego_angle - foe_angle) % 360.0 < 135.0)
    return ego_state in ("r", "y", "u")


def _angle_at(pa: npt.NDArray[np.float64], la: npt.NDArray[np.float64], ua: float,
              pb: npt.NDArray[np.float64], lb: npt.NDArray[np.float64], ub: float) -> float:
    """Angle (rad) between the two shapes' directions at their crossing."""
    def direction(p: npt.NDArray[np.float64], lengths: npt.NDArray[np.float64],
                  u: float) -> npt.NDArray[np.float64]:
        k = int(np.clip(np.searchsorted(lengths, u, side="right") - 1, 0, len(p) - 2))
        d = p[k + 1] - p[k]
        return np.asarray(d / max(float(np.hypot(*d)), 1e-9), dtype=np.float64)

    da, db = direction(pa, la, ua), direction(pb, lb, ub)
    return float(np.arccos(np.clip(float(da @ db), -1.0, 1.0)))
