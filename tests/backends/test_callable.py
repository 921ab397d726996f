from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest

from safety_val.backends import CallableSimulator, Simulator
from safety_val.errors import ValidationError


def batch(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample_index": range(n),
            "scenario_id": [f"{i:016x}" for i in range(n)],
            "speed": [10.0, 0.0, 20.0, -1.0][:n],
        },
        index=range(100, 100 + n),
    )


def ttc_vectorised(frame: pd.DataFrame) -> pd.DataFrame:
    if (frame["speed"] < 0).any():
        raise ValueError("negative speed")
    return pd.DataFrame({"ttc": 40.0 / frame["speed"].replace(0.0, np.nan)}, index=frame.index)


def ttc_row(row: dict) -> dict:
    if row["speed"] < 0:
        raise ValueError("negative speed")
    return {"ttc": 40.0 / row["speed"]}


def test_vectorised_success() -> None:
    sim = CallableSimulator(ttc_vectorised, kpis=["ttc"])
    assert isinstance(sim, Simulator)
    out = sim.run(batch(3).iloc[[0, 2]])
    assert out.index.tolist() == [100, 102]
    assert out["ttc"].tolist() == [4.0, 2.0] and (out["status"] == "ok").all()


def test_vectorised_failure_falls_back_row_by_row() -> None:
    out = CallableSimulator(ttc_vectorised, kpis=["ttc"]).run(batch())
    assert out["status"].tolist() == ["ok", "error", "ok", "error"]
    assert out.loc[100, "ttc"] == 4.0 and out.loc[102, "ttc"] == 2.0
    assert out.loc[101, "message"] == "KPI 'ttc' is NaN or not a number"
    assert out.loc[103, "message"] == "ValueError: negative speed"


def test_row_mode() -> None:
    seen: list[dict] = []

    def record(row: dict) -> dict:
        seen.append(row)
        return ttc_row(row)

    out = CallableSimulator(record, kpis=["ttc"], vectorised=False).run(batch())
    assert out["status"].tolist() == ["ok", "error", "ok", "error"]
    assert out.loc[101, "message"] == "ZeroDivisionError: float division by zero"
    assert out.loc[103, "message"] == "ValueError: negative speed"
    assert set(seen[0]) == {"sample_index", "scenario_id", "speed"}


def test_row_mode_bad_returns() -> None:
    sim = CallableSimulator(lambda r: 3.0, kpis=["ttc"], vectorised=False)
    out = sim.run(batch(1))
    assert out.loc[100, "status"] == "error"
    assert out.loc[100, "message"].startswith("TypeError: function returned float")
    nan_sim = CallableSimulator(lambda r: {"ttc": math.nan}, kpis=["ttc"], vectorised=False)
    out = nan_sim.run(batch(1))
    assert out.loc[100, "message"] == "KPI 'ttc' is NaN or not a number"
    out = CallableSimulator(lambda r: {"other": 1}, kpis=["ttc"], vectorised=False).run(batch(1))
    assert out.loc[100, "status"] == "error"


def test_bool_kpi_and_status_passthrough() -> None:
    def f(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {"collision": frame["speed"] > 5, "status": "ok", "message": ""}, index=frame.index
        )

    out = CallableSimulator(f, kpis=["collision"]).run(batch(3))
    assert out["collision"].tolist() == [1.0, 0.0, 1.0]


def test_picklable_with_module_function() -> None:
    sim = CallableSimulator(ttc_vectorised, kpis=["ttc"], name="ttc")
    clone = pickle.loads(pickle.dumps(sim))
    pd.testing.assert_frame_equal(clone.run(batch()), sim.run(batch()))
    assert "ttc_vectorised" in repr(sim)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"function": 3, "kpis": ["a"]}, "function: must be callable"),
        ({"function": len, "kpis": []}, "kpis: must be a non-empty list"),
        ({"function": len, "kpis": "ttc"}, "kpis: must be a non-empty list"),
        ({"function": len, "kpis": ["a", "status"]}, r"kpis\[1\]: invalid KPI name"),
        ({"function": len, "kpis": ["a", "a"]}, "duplicate KPI names"),
    ],
)
def test_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        CallableSimulator(**kwargs)
