"""IDM calibration against trajectories recovers the parameters that produced them."""

from __future__ import annotations

from pathlib import Path

import defusedxml.ElementTree as DET
import numpy as np
import pandas as pd
import pytest

from safety_val.errors import ValidationError
from traffic_ai.random_testing.calibration import (
    estimate_lc_assertiveness,
    fit_critical_gap,
    fit_idm,
    lane_change_gaps,
    read_highd,
    simulate_follower,
    vtype_distribution,
)

TRUE = [{"v0": 25.0, "T": 1.2, "s0": 2.0, "a": 1.2, "b": 1.8},
        {"v0": 25.0, "T": 1.8, "s0": 3.0, "a": 0.9, "b": 2.2}]
RATE = 10.0


def _highd_csv(path: Path) -> None:
    """Two leader-follower pairs in highD layout (x = left edge, width = length)."""
    t = np.arange(0.0, 40.0, 1.0 / RATE)
    lead_v = np.interp(t, [0, 8, 14, 24, 30, 40], [20.0, 20.0, 8.0, 8.0, 22.0, 22.0])
    rows = []
    for pair, params in enumerate(TRUE):
        lead_id, follower_id = 2 * pair + 1, 2 * pair + 2
        lead_rear = 60.0 + np.concatenate([[0.0], np.cumsum(0.5 * (lead_v[1:] + lead_v[:-1])
                                                             / RATE)])
        x, v = simulate_follower(lead_rear, lead_v, 60.0 - 30.0, 18.0, 1.0 / RATE, params)
        for k in range(len(t)):
            rows.append({"frame": k, "id": lead_id, "x": lead_rear[k], "width": 4.5,
                         "xVelocity": lead_v[k], "precedingId": 0})
            rows.append({"frame": k, "id": follower_id, "x": x[k] - 4.5, "width": 4.5,
                         "xVelocity": v[k], "precedingId": lead_id})
    pd.DataFrame(rows).to_csv(path, index=False)


def test_fit_recovers_idm_parameters(tmp_path: Path) -> None:
    csv = tmp_path / "tracks.csv"
    _highd_csv(csv)
    samples = read_highd(csv, frame_rate=RATE)
    fit = fit_idm(samples).to_frame().set_index("follower")
    assert list(fit.index) == [2, 4]
    for follower, params in zip((2, 4), TRUE, strict=True):
        row = fit.loc[follower]
        assert row["rmse_gap"] < 0.05  # noise-free data: the spacing is reproduced
        assert row["T"] == pytest.approx(params["T"], abs=0.1)
        assert row["s0"] == pytest.approx(params["s0"], abs=0.5)


def test_vtype_distribution_samples_inside_the_fitted_range(tmp_path: Path) -> None:
    csv = tmp_path / "tracks.csv"
    _highd_csv(csv)
    fit = fit_idm(read_highd(csv, frame_rate=RATE))
    path = vtype_distribution(fit, tmp_path / "vtypes.add.xml", count=8, seed=1)
    root = DET.parse(str(path)).getroot()
    dist = root.find("vTypeDistribution")
    assert dist.get("id") == "traffic"
    types = dist.findall("vType")
    assert len(types) == 8
    taus = np.array([float(v.get("tau")) for v in types])
    fitted = fit.parameters["T"]
    assert np.all((taus >= fitted.min() - 1e-3) & (taus <= fitted.max() + 1e-3))
    assert {v.get("carFollowModel") for v in types} == {"IDM"}


def test_lc_assertiveness_from_the_accepted_time_gap(tmp_path: Path) -> None:
    # vehicle 1 changes from lane 2 to lane 3 at frame 1, in front of vehicle 2 (lane 3),
    # whose front is 16 m behind vehicle 1's rear at 20 m/s: accepted time gap 0.8 s
    rows = [
        {"frame": 0, "id": 1, "x": 100.0, "width": 4.5, "xVelocity": 22.0, "laneId": 2,
         "leftFollowingId": 2, "rightFollowingId": 0},
        {"frame": 1, "id": 1, "x": 102.2, "width": 4.5, "xVelocity": 22.0, "laneId": 3,
         "leftFollowingId": 0, "rightFollowingId": 0},
        {"frame": 0, "id": 2, "x": 79.5, "width": 4.5, "xVelocity": 20.0, "laneId": 3,
         "leftFollowingId": 0, "rightFollowingId": 0},
        {"frame": 1, "id": 2, "x": 81.5, "width": 4.5, "xVelocity": 20.0, "laneId": 3,
         "leftFollowingId": 0, "rightFollowingId": 0},
    ]
    csv = tmp_path / "lc.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    assert estimate_lc_assertiveness(csv) == pytest.approx(1.0 / 0.8)
    # without the neighbour columns SUMO's default is kept
    pd.DataFrame(rows).drop(columns=["leftFollowingId"]).to_csv(csv, index=False)
    assert estimate_lc_assertiveness(csv) == 1.0


def test_critical_gap_mle_recovers_the_driver_population() -> None:
    """400 drivers with log-normal critical gaps (median 0.9 s, sigma 0.3) each let
    uniform(0.2, 3) s gaps pass until one exceeds their critical gap. The accepted gaps'
    median is about twice the critical one; the MLE recovers it. Over 20 seeds the MLE's
    log-median has sd 0.027: the tolerance is 4 sd."""
    rng = np.random.default_rng(0)
    accepted, rejected = [], []
    for critical in np.exp(rng.normal(np.log(0.9), 0.3, 400)):
        largest = 0.0
        while (gap := rng.uniform(0.2, 3.0)) < critical:
            largest = max(largest, gap)
        accepted.append(gap)
        rejected.append(largest)
    fit = fit_critical_gap(accepted, rejected)
    assert fit.method == "mle" and fit.changes == 400
    assert fit.with_rejection == sum(r > 0 for r in rejected)
    assert abs(np.log(fit.median / 0.9)) < 0.11
    assert np.median(accepted) > 1.5  # what the old accepted-gap estimate would have said
    assert fit.lc_assertive() == pytest.approx(1.0 / fit.median)
    with pytest.raises(ValidationError, match="> 0"):
        fit_critical_gap([0.0, 1.0], [0.0, 0.5])


def test_lane_change_gaps_reads_rejected_and_accepted_gaps(tmp_path: Path) -> None:
    # vehicle 1 (lane 2) lets time gaps of 0.5 s and 0.6 s to vehicle 2 (lane 3, 20 m/s)
    # pass, takes 0.8 s at frame 2 and is in lane 3 at frame 3
    rows = []
    for frame, gap in enumerate([0.5, 0.6, 0.8, 0.8]):
        rows.append({"frame": frame, "id": 1, "x": 100.0, "width": 4.5, "xVelocity": 20.0,
                     "laneId": 2 if frame < 3 else 3, "followingId": 0 if frame < 3 else 2,
                     "leftFollowingId": 2 if frame < 3 else 0, "rightFollowingId": 0})
        rows.append({"frame": frame, "id": 2, "x": 100.0 - 4.5 - 20.0 * gap, "width": 4.5,
                     "xVelocity": 20.0, "laneId": 3, "followingId": 0,
                     "leftFollowingId": 0, "rightFollowingId": 0})
    csv = tmp_path / "lc.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    gaps = lane_change_gaps(csv)
    assert len(gaps) == 1 and gaps["frame"].iloc[0] == 2
    assert gaps["accepted"].iloc[0] == pytest.approx(0.8)
    assert gaps["rejected"].iloc[0] == pytest.approx(0.6)
    # one driver: the critical gap lies in (0.6, 0.8]
    assert 1.0 / 0.8 <= estimate_lc_assertiveness(csv) <= 1.0 / 0.6


def test_calibrate_cli_writes_the_vtype_distribution(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safety_val.cli import main

    csv, out = tmp_path / "tracks.csv", tmp_path / "vtypes.add.xml"
    _highd_csv(csv)
    args = ["traffic", "calibrate", str(csv), "--out", str(out), "--count", "4",
            "--frame-rate", str(RATE)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "IDM of 2 followers" in printed and "lcAssertive stays 1" in printed
    types = DET.parse(str(out)).getroot().find("vTypeDistribution").findall("vType")
    assert len(types) == 4 and {v.get("lcAssertive") for v in types} == {"1.000"}
    # a file without car-following pairs is bad input: exit 2, one line
    pd.DataFrame({"frame": [0], "id": [1]}).to_csv(csv, index=False)
    assert main([*args[:2], str(csv), "--out", str(out)]) == 2
