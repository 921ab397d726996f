"""Simulated benchmark cases of issue 13: logical scenarios on the built-in simulator.

Each case is a scenario file of its own under ``benchmarks/cases/`` (not the catalogue in
``scenarios/``, which changes with the product) with realistic, mixed input distributions
(bounded marginals, a normal copula, discrete fog levels, categorical lighting) and a
competent AEB set through ``fixed:``. Its limit state is the scenario's ``limit_state``
expression evaluated by the vectorised simulator; the simulator's noise (sensor misses,
measurement noise) is seeded per concrete scenario, so ``g`` is a deterministic but rough
function of the inputs.

:data:`SIMULATED_CASES` lists the cases with the standard-space coordinate their
reference stratifies on (see :mod:`simulated_references`) and the stratum edges;
their references (``benchmarks/data/simulated_references.json``, stratified Monte Carlo)::

    case                        template              d   reference pf  CoV    runs
    cut_in_motorway             cut_in                8   1.079e-03     3.9 %  150,505
    lead_braking_highway        lead_braking          8   5.958e-04     4.0 %  106,861
    cut_out_motorway            cut_out               8   1.755e-04     4.7 %  345,385
    pedestrian_occluded_30kmh   pedestrian_crossing   8   1.724e-04     4.5 %   37,665
    lead_braking_urban_busy     lead_braking          8   2.135e-05     4.6 %  134,693
    lead_braking_urban          lead_braking          8   7.207e-06     4.5 %  216,746
    pedestrian_occluded_rare    pedestrian_crossing   8   8.659e-07     4.5 %   38,179
    pedestrian_occluded_1e-7    pedestrian_crossing   8   1.042e-07     4.5 %   37,767

The ``stop_and_go`` template has no case: in the designs tried, failures at moderate
decelerations of the lead came from combinations of headway and speed (conditional
failure fractions ~1e-3 over wide strata), so a 5 % reference would have needed several
10^5 of its (40 s, three times dearer) runs.

:class:`SimulatedLimitState` is the picklable batch limit state of one case (the scenario
is loaded lazily, once per process). :func:`simulator_sha256` and :func:`case_sha256` give
the source hashes stored with a reference; :func:`behaviour_sha256` the hash of the case's
margins on a fixed design, which decides whether a reference still holds when the
simulator's sources changed (a new template beside the case's leaves it intact).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from safety_val.scenario import LogicalScenario, load_scenario

__all__ = [
    "CASES_DIR",
    "SIMULATED_CASES",
    "SIMULATOR_DIR",
    "SimulatedCase",
    "SimulatedLimitState",
    "behaviour_sha256",
    "case_sha256",
    "simulator_sha256",
]

ROOT = Path(__file__).resolve().parent.parent
CASES_DIR = ROOT / "benchmarks" / "cases"
SIMULATOR_DIR = ROOT / "safety_val" / "sim"


@dataclass(frozen=True)
class SimulatedCase:
    """One simulated benchmark case.

    Attributes
    ----------
    name
        Case name (the scenario's name).
    file
        Scenario file, relative to :data:`CASES_DIR`.
    stratify_on
        Parameter whose standard-normal coordinate the reference stratifies on: the one
        that dominates failure (independent of the other inputs, so that its standard
        coordinate is its own normal score).
    edges
        Interior stratum boundaries on that coordinate, increasing (strata are
        ``(-inf, e_1], (e_1, e_2], ..., (e_m, inf)``).
    description
        What makes the case fail.
    """

    name: str
    file: str
    stratify_on: str
    edges: tuple[float, ...]
    description: str = ""
    tags: tuple[str, ...] = field(default=())

    @property
    def path(self) -> Path:
        """The scenario file."""
        return CASES_DIR / self.file

    @property
    def scenario(self) -> LogicalScenario:
        """The logical scenario (loaded once per process)."""
        return _load(str(self.path))

    @property
    def limit_state(self) -> SimulatedLimitState:
        """The picklable batch limit state."""
        return SimulatedLimitState(str(self.path))


@cache
def _load(path: str) -> LogicalScenario:
    return load_scenario(path)


@dataclass(frozen=True)
class SimulatedLimitState:
    """Batch limit state of a scenario file: ``(n, d)`` inputs → ``n`` margins.

    Picklable (it carries only the path); the scenario is loaded on first use in each
    process.
    """

    path: str

    @property
    def scenario(self) -> LogicalScenario:
        """The logical scenario."""
        return _load(self.path)

    def __call__(self, x: Any) -> np.ndarray:
        """Simulate the concrete scenarios ``x`` and return their margins."""
        points = np.atleast_2d(np.asarray(x, dtype=float))
        return np.asarray(self.scenario.limit_state(points), dtype=float)


def simulator_sha256() -> str:
    """SHA-256 over the simulator's sources ``safety_val/sim/*.py``, sorted by name."""
    digest = hashlib.sha256()
    for path in sorted(SIMULATOR_DIR.glob("*.py"), key=lambda p: p.name):
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def case_sha256(case: SimulatedCase) -> str:
    """SHA-256 of the case's scenario file and of the ODD file it names."""
    digest = hashlib.sha256(case.path.read_bytes())
    odd = case.scenario.odd.source
    if odd is not None:
        digest.update(b"\0")
        digest.update(Path(odd).read_bytes())
    return digest.hexdigest()


BEHAVIOUR_POINTS_PER_STRATUM = 16
"""Points of the fingerprint design in each stratum of the case."""


def behaviour_design(case: SimulatedCase) -> np.ndarray:
    """The fixed design of :func:`behaviour_sha256`, in standard normal space.

    ``BEHAVIOUR_POINTS_PER_STRATUM`` points per stratum of the case: standard normal draws
    (seed 20261207) whose stratified coordinate is moved to the stratum's centre (finite
    strata) or half a unit beyond its finite edge, so the design probes the failure
    region as well as the bulk.
    """
    scenario = case.scenario
    names = list(scenario.names)
    j = names.index(case.stratify_on)
    edges = [float(e) for e in case.edges]
    centres = [edges[0] - 0.5]
    centres += [0.5 * (a + b) for a, b in itertools.pairwise(edges)]
    centres += [edges[-1] + 0.5]
    rng = np.random.default_rng(20261207)
    u = rng.standard_normal((BEHAVIOUR_POINTS_PER_STRATUM * len(centres), len(names)))
    u[:, j] = np.repeat(centres, BEHAVIOUR_POINTS_PER_STRATUM)
    return u


def behaviour_sha256(case: SimulatedCase) -> str:
    """SHA-256 of the case's margins on :func:`behaviour_design` (rounded to 1e-9).

    Equal hashes mean the simulator behaves on this case as it did when the reference
    was computed, whatever else changed in its sources.
    """
    import warnings

    from safety_val.reliability.model import LimitStateModel

    scenario = case.scenario
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the model's probe may see a plateau
        model = LimitStateModel(lambda x: scenario.limit_state(x), scenario.distribution)
    margins = np.asarray(case.limit_state(model.to_physical(behaviour_design(case))),
                         dtype=float)
    rounded = np.where(np.isfinite(margins), np.round(margins, 9), np.nan) + 0.0
    return hashlib.sha256(rounded.astype("<f8").tobytes()).hexdigest()


_TAIL = (0.0, 1.0, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0)

_LOWER_TAIL = tuple(-e for e in reversed(_TAIL))
_UPPER_1_PERCENT = (2.3263478740408408,)  # Phi^-1(0.99): the last 1 % of a discrete input

SIMULATED_CASES: dict[str, SimulatedCase] = {
    case.name: case
    for case in (
        SimulatedCase(
            "lead_braking_highway", "lead_braking_highway.yaml", "lead_decel",
            (0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0),
            "lead brakes hard at motorway speed; fast ego and harsh braking",
        ),
        SimulatedCase(
            "lead_braking_urban", "lead_braking_urban.yaml", "lead_decel", _TAIL,
            "harsh stop of the lead at urban speeds",
        ),
        SimulatedCase(
            "lead_braking_urban_busy", "lead_braking_urban_busy.yaml", "lead_decel", _TAIL,
            "harsh stop of the lead at urban speeds, busy traffic",
        ),
        SimulatedCase(
            "cut_in_motorway", "cut_in_motorway.yaml", "cut_in_gap", _LOWER_TAIL,
            "cut-in at a gap below about 11 m with a closing speed",
        ),
        SimulatedCase(
            "pedestrian_occluded_30kmh", "pedestrian_occluded_30kmh.yaml", "occlusion",
            _UPPER_1_PERCENT,
            "pedestrian hidden by a parked car (a 1 % category); strata = the two categories",
        ),
        SimulatedCase(
            "cut_out_motorway", "cut_out_motorway.yaml", "cut_out_distance", _LOWER_TAIL,
            "stopped vehicle revealed less than about 55 m ahead",
        ),
        SimulatedCase(
            "pedestrian_occluded_rare", "pedestrian_occluded_rare.yaml", "occlusion",
            (3.8905918864131204,),  # Phi^-1(1 - 5e-5): the parked-car category, upper 5e-5
            "pedestrian hidden by a parked car (a 5e-5 category)",
        ),
        SimulatedCase(
            "pedestrian_occluded_1e-7", "pedestrian_occluded_1e-7.yaml", "occlusion",
            (4.377587846692979,),  # Phi^-1(1 - 6e-6): the parked-car category, upper 6e-6
            "pedestrian hidden by a parked car (a 6e-6 category)",
        ),
    )
}
"""The simulated cases, by name (in increasing rarity, roughly)."""
