"""Clustering NG events into candidate logical scenarios that load and validate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from safety_val import load_scenario
from safety_val.errors import ValidationError
from traffic_ai.random_testing.mining import candidate_scenarios

ROOT = Path(__file__).resolve().parents[3]
URBAN = ROOT / "scenarios" / "odd" / "urban.yaml"


def _events(seed: int = 0) -> pd.DataFrame:
    """Two well-separated groups of lead-braking events (slow/close and fast/far)."""
    rng = np.random.default_rng(seed)
    groups = [(5.0, 3.0, 8.0, 6.0), (13.0, 11.0, 40.0, 2.0)]
    rows = []
    for g, (ego, lead, gap, decel) in enumerate(groups):
        for i in range(20):
            rows.append({
                "event_id": f"g{g}-{i}", "template": "lead_braking", "event_type": "low_ttc",
                "ego_speed_0": ego + rng.normal(0, 0.5), "other_speed_0": lead + rng.normal(0, 0.5),
                "gap_0": gap + rng.normal(0, 1.0), "other_decel": decel + rng.normal(0, 0.3),
                "brake_time": 2.0, "lateral_speed": np.nan,
            })
    rows.append({"event_id": "crossing", "template": "", "event_type": "ssm_pet"})
    return pd.DataFrame(rows)


def test_two_groups_give_two_candidates_that_validate(tmp_path: Path) -> None:
    candidates = candidate_scenarios(_events(), tmp_path, odd=URBAN, seed=3)
    assert len(candidates) == 2
    assert sorted(len(c.events) for c in candidates) == [20, 20]
    groups = [{e.split("-")[0] for e in c.events} for c in candidates]
    assert sorted(map(sorted, groups)) == [["g0"], ["g1"]]  # each cluster is one group
    for candidate in candidates:
        scenario = load_scenario(candidate.path)
        assert scenario.template == "lead_braking"
        assert scenario.odd.name == "urban"
        names = [p.name for p in scenario.parameters]
        assert names == ["ego_speed", "lead_speed", "initial_gap", "lead_decel"]
        speed = next(p for p in scenario.parameters if p.name == "ego_speed")
        assert speed.bounds is not None and 0.0 <= speed.bounds[0] < speed.bounds[1] <= 16.7
        # the margin is computable for sampled concrete scenarios
        sample = np.asarray(scenario.distribution.getSample(5))
        assert sample.shape == (5, 4)


def test_too_few_events_give_no_candidate(tmp_path: Path) -> None:
    assert candidate_scenarios(_events().head(9), tmp_path, odd=URBAN, seed=0) == []


def test_min_events_below_ten_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="min_events"):
        candidate_scenarios(_events(), tmp_path, odd=URBAN, min_events=5)


def test_template_coverage_counts_every_event_once() -> None:
    from traffic_ai.random_testing.mining import template_coverage

    events = pd.DataFrame({
        "conflict_type": ["rear_end", "lane_change", "crossing", "opposing", "", "crossing"],
        "template": ["lead_braking", "cut_in", "", "", "", ""],
        "has_states": [True, True, True, True, True, False],
    })
    table = template_coverage(events).set_index("conflict_type")
    assert table.loc["all", "events"] == 6
    assert table.drop(index="all")["events"].sum() == 6
    assert table.loc["no_states", "events"] == 1 and table.loc["none", "events"] == 1
    assert (table.loc["all", "lead_braking"], table.loc["all", "cut_in"]) == (1, 1)
    assert table.loc["all", "mapped_share"] == pytest.approx(2 / 6)
    assert table.loc["crossing", "mapped_share"] == 0.0


def _junction_events(seed: int = 0) -> pd.DataFrame:
    """Crossing conflicts in two situations (12 and 11 events) and a lone third (3)."""
    rng = np.random.default_rng(seed)
    rows = []
    for situation, count in ((("right", "other", "proceeds"), 12),
                             (("left", "ego", "yields"), 11), (("left", "other", "yields"), 3)):
        for i in range(count):
            rows.append({
                "event_id": f"{'-'.join(situation)}-{i}", "template": "junction_crossing",
                "event_type": "ssm_pet", "ego_speed_0": 8.0 + rng.normal(0, 1.0),
                "other_speed_0": 9.0 + rng.normal(0, 1.0),
                "ego_distance_0": 30.0 + rng.normal(0, 4.0),
                "other_distance_0": 35.0 + rng.normal(0, 4.0), "other_decel": 2.5,
                "other_direction": situation[0], "right_of_way": situation[1],
                "other_behaviour": situation[2]})
    return pd.DataFrame(rows)


def test_junction_candidates_fix_their_situation_and_load(tmp_path: Path) -> None:
    candidates = candidate_scenarios(_junction_events(), tmp_path, odd=URBAN, seed=1)
    assert [(c.template, len(c.events)) for c in candidates] == [
        ("junction_crossing", 11), ("junction_crossing", 12)]
    first = load_scenario(candidates[0].path)
    assert dict(first.fixed) == {"lane_width": 3.2, "other_direction": "left",
                                 "right_of_way": "ego", "other_behaviour": "yields",
                                 "other_decel": 2.5}
    assert [p.name for p in first.parameters] == ["ego_speed", "other_speed", "ego_distance",
                                                   "other_distance"]
    assert first.criterion.expression == "min(pet, 10) - 1.0"
    second = load_scenario(candidates[1].path)
    assert second.fixed["right_of_way"] == "other" and "other_decel" not in second.fixed
    # the candidate simulates: its margins are finite
    g = second.limit_state(np.asarray(second.distribution.getSample(3)))
    assert np.isfinite(g).all()


def test_a_parameter_with_one_value_is_fixed_at_it(tmp_path: Path) -> None:
    # on a regular grid every crossing is as far from the stop line: one value, no spread
    events = _junction_events().assign(other_distance_0=35.0)
    candidates = candidate_scenarios(events, tmp_path, odd=URBAN, seed=1)
    assert len(candidates) == 2
    for candidate in candidates:
        scenario = load_scenario(candidate.path)
        assert scenario.fixed["other_distance"] == 35.0
        assert "other_distance" not in [p.name for p in scenario.parameters]


def test_a_cluster_that_cannot_be_fitted_costs_no_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import safety_val.formats.fit as fit

    original, calls = fit.fit_parameters, []

    def first_fails(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise ValidationError("no candidate family could be fitted", field="ego_speed")
        return original(*args, **kwargs)

    monkeypatch.setattr(fit, "fit_parameters", first_fails)
    with pytest.warns(UserWarning, match=r"mined_junction_crossing_1 \(11 junction_crossing "
                                         r"events\) not mined: ego_speed: no candidate"):
        candidates = candidate_scenarios(_junction_events(), tmp_path, odd=URBAN, seed=1)
    assert [len(c.events) for c in candidates] == [12]
    assert sorted(p.name for p in tmp_path.glob("*.yaml")) == [candidates[0].path.name]
