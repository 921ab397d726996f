"""Close the loop: cluster NG events into candidate logical scenarios.

Events that map onto a built-in template (``lead_braking``, ``cut_in``,
``junction_crossing`` or ``junction_left_turn``, see
:func:`~traffic_ai.random_testing.events.template_parameters`) are grouped per
template and, for the junction templates, per situation (the labels of
:data:`TEMPLATE_LABELS`: side of the crossing car, right of way, who turns, whether
the other gives way), then clustered with a Gaussian mixture (scikit-learn; the
number of components chosen by BIC) on their standardised numeric template
parameters. Each cluster with enough events becomes a candidate logical scenario:
every numeric parameter gets the distribution that
:func:`safety_val.formats.fit.fit_parameters` chooses by BIC, truncated to the
intersection of the cluster's observed range, the template's valid range and the
ODD attribute's range, so the scenario lies inside the ODD and the continuous
pipeline (``safety-val estimate``) can quantify it; the situation's labels are fixed
inputs.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from safety_val._io import atomic_write_text
from safety_val._random import SeedLike, as_generator, derive_seed
from safety_val.errors import ValidationError
from traffic_ai.macro_data import SimulationWarning

__all__ = [
    "TEMPLATE_LABELS",
    "TEMPLATE_MAPPING",
    "CandidateScenario",
    "candidate_scenarios",
    "template_coverage",
    "template_values",
]

#: Template -> {template parameter: (event column, ODD attribute or None, unit)}.
TEMPLATE_MAPPING: Mapping[str, Mapping[str, tuple[str, str | None, str]]] = {
    "lead_braking": {
        "ego_speed": ("ego_speed_0", "dynamic_elements.subject_vehicle.speed", "m/s"),
        "lead_speed": ("other_speed_0", "dynamic_elements.traffic.agent_speed", "m/s"),
        "initial_gap": ("gap_0", "dynamic_elements.traffic.relative_distance", "m"),
        "lead_decel": ("other_decel", "dynamic_elements.traffic.agent_deceleration", "m/s^2"),
    },
    "cut_in": {
        "ego_speed": ("ego_speed_0", "dynamic_elements.subject_vehicle.speed", "m/s"),
        "cut_in_speed": ("other_speed_0", "dynamic_elements.traffic.agent_speed", "m/s"),
        "cut_in_gap": ("gap_0", "dynamic_elements.traffic.relative_distance", "m"),
        "cut_in_lateral_speed": ("lateral_speed", None, "m/s"),
    },
    "junction_crossing": {
        "ego_speed": ("ego_speed_0", "dynamic_elements.subject_vehicle.speed", "m/s"),
        "other_speed": ("other_speed_0", "dynamic_elements.traffic.agent_speed", "m/s"),
        "ego_distance": ("ego_distance_0",
                         "dynamic_elements.subject_vehicle.distance_to_conflict", "m"),
        "other_distance": ("other_distance_0", "dynamic_elements.traffic.distance_to_conflict",
                           "m"),
    },
    "junction_left_turn": {
        "ego_speed": ("ego_speed_0", "dynamic_elements.subject_vehicle.speed", "m/s"),
        "other_speed": ("other_speed_0", "dynamic_elements.traffic.agent_speed", "m/s"),
        "ego_distance": ("ego_distance_0",
                         "dynamic_elements.subject_vehicle.distance_to_conflict", "m"),
        "other_distance": ("other_distance_0", "dynamic_elements.traffic.distance_to_conflict",
                           "m"),
        "turn_radius": ("turn_radius", "scenery.junctions.turn_radius", "m"),
    },
}
#: Template -> {template input: event column} of the labels that define a situation:
#: events are grouped by them and each candidate fixes them.
TEMPLATE_LABELS: Mapping[str, Mapping[str, str]] = {
    "lead_braking": {},
    "cut_in": {},
    "junction_crossing": {"other_direction": "other_direction",
                          "right_of_way": "right_of_way", "other_behaviour": "other_behaviour"},
    "junction_left_turn": {"turning": "turning", "other_behaviour": "other_behaviour"},
}
_KPIS = ["collision", "impact_speed", "min_ttc", "min_gap", "max_deceleration",
         "min_time_headway"]


@dataclass(frozen=True)
class CandidateScenario:
    """One candidate logical scenario mined from NG events.

    Attributes
    ----------
    name, template, path
        Scenario name, built-in template and the written YAML file.
    events
        Ids of the events in the cluster.
    """

    name: str
    template: str
    path: Path
    events: tuple[str, ...]


def template_values(events: pd.DataFrame, template: str) -> pd.DataFrame:
    """The numeric template parameters of the events that map onto ``template`` (one row each).

    Events without a finite value of every parameter are left out.
    """
    mapping = TEMPLATE_MAPPING[template]
    rows = events[(events["template"] == template)]
    frame = pd.DataFrame({p: pd.to_numeric(rows[c], errors="coerce").to_numpy(dtype=np.float64)
                          if c in rows else np.full(len(rows), np.nan)
                          for p, (c, _, _) in mapping.items()}, index=rows["event_id"])
    frame = frame[np.isfinite(frame.to_numpy()).all(axis=1)]
    if template == "lead_braking":
        frame = frame[frame["lead_decel"] > 0.1]
    return frame


def _situations(events: pd.DataFrame, template: str,
                values: pd.DataFrame) -> list[tuple[dict[str, str], pd.DataFrame]]:
    """Split ``values`` by the template's situation labels (one group without labels)."""
    labels = TEMPLATE_LABELS.get(template, {})
    if not labels:
        return [({}, values)]
    table = events.set_index("event_id").loc[values.index, list(labels.values())]
    table = table.fillna("").astype(str)
    groups = []
    for key, members in table.groupby(list(labels.values()), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        if any(not k for k in key):
            continue
        groups.append(({k: str(v) for k, v in zip(labels, key, strict=True)},
                       values.loc[members.index]))
    return groups


def template_coverage(events: pd.DataFrame) -> pd.DataFrame:
    """How many events of each conflict type map onto a built-in template.

    Parameters
    ----------
    events
        NG events with ``conflict_type``, ``template`` and ``has_states`` columns.

    Returns
    -------
    DataFrame
        One row per conflict type (``"none"`` for events without another vehicle,
        ``"no_states"`` for events without states) plus ``all``: ``events``, one
        column of counts per template and ``mapped_share``.

    Examples
    --------
    >>> events = pd.DataFrame({"conflict_type": ["rear_end", "rear_end", "crossing"],
    ...                        "template": ["lead_braking", "", ""],
    ...                        "has_states": [True, True, True]})
    >>> template_coverage(events)[["conflict_type", "events", "lead_braking", "mapped_share"]]
      conflict_type  events  lead_braking  mapped_share
    0      crossing       1             0      0.000000
    1      rear_end       2             1      0.500000
    2           all       3             1      0.333333
    """
    kind = events["conflict_type"].fillna("").replace("", "none").astype(str)
    kind = kind.where(events["has_states"].fillna(False).astype(bool), "no_states")
    template = events["template"].fillna("").astype(str)
    rows = []
    for label, mask in [*((k, kind == k) for k in sorted(set(kind))),
                        ("all", pd.Series(True, index=events.index))]:
        counts = {t: int((template[mask] == t).sum()) for t in TEMPLATE_MAPPING}
        total = int(mask.sum())
        rows.append({"conflict_type": label, "events": total, **counts,
                     "mapped_share": sum(counts.values()) / total if total else float("nan")})
    return pd.DataFrame(rows)


def _cluster(values: pd.DataFrame, max_clusters: int, min_events: int,
             seed: int) -> np.ndarray:
    from sklearn.mixture import GaussianMixture
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(values.to_numpy())
    best, labels = np.inf, np.zeros(len(values), dtype=int)
    for k in range(1, max(1, min(max_clusters, len(values) // min_events)) + 1):
        model = GaussianMixture(k, covariance_type="diag", random_state=seed, reg_covar=1e-3)
        model.fit(x)
        bic = model.bic(x)
        if bic < best:
            best, labels = bic, model.predict(x)
    return labels


def _limits(template: str, parameter: str, odd: Any, attribute: str | None,
            observed: np.ndarray) -> tuple[float, float]:
    from safety_val.sim.templates import get_template

    info = get_template(template).parameters[parameter]
    lo, hi = float(info.lower), float(info.upper)
    if attribute is not None:
        a = odd.attribute(attribute)
        lo, hi = max(lo, float(a.range[0])), min(hi, float(a.range[1]))
    span = float(observed.max() - observed.min())
    pad = max(0.1 * span, 0.05 * max(abs(float(observed.max())), 1.0))
    lo = max(lo, float(observed.min()) - pad)
    hi = min(hi, float(observed.max()) + pad)
    if lo >= hi:
        raise ValidationError("observed values outside the ODD", field=parameter,
                              value=(float(observed.min()), float(observed.max())),
                              expected=f"values within {attribute}")
    return round(lo, 4), round(hi, 4)


def candidate_scenarios(
    events: pd.DataFrame,
    out_dir: str | Path,
    *,
    odd: str | Path,
    min_events: int = 10,
    max_clusters: int = 3,
    seed: SeedLike = None,
    ttc_threshold: float = 1.0,
    pet_threshold: float = 1.0,
) -> list[CandidateScenario]:
    """Cluster NG events and write one candidate logical scenario per cluster.

    Parameters
    ----------
    events
        NG events (see :data:`~traffic_ai.random_testing.events.EVENT_COLUMNS`).
    out_dir
        Folder for the scenario YAML files.
    odd
        The ODD file the candidates must lie in (e.g. ``scenarios/odd/urban.yaml``).
    min_events
        Smallest cluster that becomes a scenario (at least 10: distributions are fitted).
    max_clusters
        Most mixture components per template and situation.
    seed
        Seed of the clustering.
    ttc_threshold
        Limit state of the straight-road candidates: ``min(min_ttc, 10) - ttc_threshold``.
    pet_threshold
        Limit state of the junction candidates: ``min(pet, 10) - pet_threshold``
        (post-encroachment time, 0 on a collision).

    Returns
    -------
    list of CandidateScenario
        Each file loads with :func:`safety_val.load_scenario`.

    Raises
    ------
    ValidationError
        ``min_events < 10`` or an ODD file that does not load.

    Warns
    -----
    SimulationWarning
        A cluster whose candidate cannot be built (its distributions cannot be fitted, or
        the file does not load) is skipped with its reason; the others are still mined.
        A parameter with a single value in every event of a cluster is fixed at it.

    Notes
    -----
    A junction candidate fixes its situation's labels (e.g. ``other_direction:
    right``, ``right_of_way: other``, ``other_behaviour: proceeds``) and, for a
    crossing car that gives way, ``other_decel`` at the median of its events; the
    ego is driven by the yielding urban reference ADS of the junction templates.
    """
    from safety_val import load_odd, load_scenario
    from safety_val.formats.fit import fit_parameters
    from safety_val.sim.templates import get_template

    if min_events < 10:
        raise ValidationError("must be >= 10 (distributions are fitted)", field="min_events",
                              value=min_events)
    odd_path = Path(odd).resolve()
    odd_model = load_odd(odd_path)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    rng = as_generator(seed)
    candidates: list[CandidateScenario] = []
    by_id = events.set_index("event_id") if len(events) else events
    for template, mapping in TEMPLATE_MAPPING.items():
        values = template_values(events, template)
        if len(values) < min_events:
            continue
        for labels, group in _situations(events, template, values):
            if len(group) < min_events:
                continue
            cluster = _cluster(group, max_clusters, min_events, derive_seed(rng))
            for label in np.unique(cluster):
                members = group[cluster == label]
                if len(members) < min_events:
                    continue
                name = f"mined_{template}_{len(candidates) + 1}"
                path = folder / f"{name}.yaml"
                try:
                    document = _candidate(
                        name, template, mapping, labels, members, by_id, odd_model,
                        odd_path, folder, fit_parameters, derive_seed(rng),
                        kpis=list(get_template(template).kpis)
                        if template.startswith("junction") else _KPIS,
                        limit_state=_limit_state(template, ttc_threshold, pet_threshold),
                    )
                    atomic_write_text(path, yaml.safe_dump(document, sort_keys=False,
                                                           width=100))
                    load_scenario(path)  # refuse to hand out a candidate that does not load
                except ValidationError as exc:  # one cluster must not cost the others
                    path.unlink(missing_ok=True)
                    warnings.warn(f"{name} ({len(members)} {template} events) not mined: "
                                  f"{exc}", SimulationWarning, stacklevel=2)
                    continue
                candidates.append(CandidateScenario(name, template, path,
                                                    tuple(members.index)))
    return candidates


def _limit_state(template: str, ttc_threshold: float, pet_threshold: float) -> dict[str, str]:
    if template.startswith("junction"):
        return {"expression": f"min(pet, 10) - {pet_threshold}",
                "description": f"failure when the post-encroachment time drops below "
                               f"{pet_threshold} s (0 on a collision)"}
    return {"expression": f"min(min_ttc, 10) - {ttc_threshold}",
            "description": f"failure when the minimum TTC drops below {ttc_threshold} s"}


def _candidate(name: str, template: str, mapping: Mapping[str, tuple[str, str | None, str]],
               labels: Mapping[str, str], members: pd.DataFrame, by_id: pd.DataFrame,
               odd_model: Any, odd_path: Path, folder: Path, fit_parameters: Any, seed: int,
               *, kpis: list[str], limit_state: dict[str, str]) -> dict[str, Any]:
    """The YAML document of one candidate logical scenario."""
    bounds = {p: _limits(template, p, odd_model, mapping[p][1], members[p].to_numpy())
              for p in mapping}
    clipped = members.clip(lower=pd.Series({p: b[0] for p, b in bounds.items()}),
                           upper=pd.Series({p: b[1] for p, b in bounds.items()}), axis=1)
    # a parameter with one value in every event (on a regular grid every left turn has
    # the same radius) has no distribution to fit: it is fixed at that value
    constant = {p: float(clipped[p].iloc[0]) for p in mapping if clipped[p].nunique() < 2}
    varied = [p for p in mapping if p not in constant]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_parameters(clipped.reset_index(drop=True), varied,
                             families=["Normal", "LogNormal", "Uniform", "Gamma"],
                             units={p: u for p, (_, _, u) in mapping.items()}, seed=seed)
    parameters = []
    for entry in fit.parameters:
        p = entry["name"]
        item: dict[str, Any] = {"name": p, "unit": entry["unit"]}
        if mapping[p][1] is not None:
            item["odd"] = mapping[p][1]
        item["distribution"] = entry["distribution"]
        item["bounds"] = list(bounds[p])
        item["description"] = f"from {len(members)} NG events ({mapping[p][0]})"
        parameters.append(item)
    fixed: dict[str, float | str] = {"lane_width": 3.2, **labels,
                                     **{p: round(v, 6) for p, v in constant.items()}}
    if template == "lead_braking":
        brake = by_id.loc[members.index, "brake_time"]
        fixed["lead_brake_time"] = float(np.nanmedian(brake)) if brake.notna().any() else 2.0
    if labels.get("other_behaviour") == "yields":
        decel = pd.to_numeric(by_id.loc[members.index, "other_decel"], errors="coerce")
        if decel.notna().any():
            fixed["other_decel"] = round(float(np.clip(np.nanmedian(decel), 0.5, 10.0)), 3)
    situation = ", ".join(f"{k} = {v}" for k, v in labels.items())
    return {"scenario": {
        "name": name,
        "description": (f"Candidate mined from {len(members)} NG events of SUMO random "
                        f"testing, mapped onto the {template} template"
                        + (f" ({situation})." if situation else ".")),
        "odd": os.path.relpath(odd_path, folder.resolve()),
        "simulator": "builtin",
        "template": template,
        "references": ["safety-val traffic random-test (discrete space)"],
        "parameters": parameters,
        "fixed": fixed,
        "kpis": kpis,
        "limit_state": limit_state,
        "simulation": {"dt": 0.01, "duration": 20.0},
    }}
