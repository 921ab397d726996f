"""IDM calibration against trajectories recovers the parameters that produced them."""

from __future__ import annotations

from pathlib import Path

import defusedxml.ElementTree as DET
import numpy as np
import pandas as pd
import pytest

from traffic_ai.random_testing.calibration import (
    estimate_lc_assertiveness,
    fit_idm,
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
