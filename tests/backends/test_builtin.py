"""The built-in simulator adapter obeys the Simulator protocol."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from safety_val.backends.base import Simulator
from safety_val.backends.builtin import BuiltinSimulator
from safety_val.errors import ValidationError


def _batch(n: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "scenario_id": [f"{i * 7919:016x}" for i in range(n)],
            "sample_index": np.arange(n),
            "ego_speed": rng.uniform(20.0, 30.0, n),
            "cut_in_gap": rng.uniform(5.0, 30.0, n),
            "lighting": ["day", "night"] * (n // 2),
        },
        index=pd.Index(np.arange(n) * 10 + 3, name="row"),
    )


def test_protocol_and_columns() -> None:
    sim = BuiltinSimulator("cut_in", duration=5.0)
    assert isinstance(sim, Simulator)
    assert sim.name == "builtin"
    batch = _batch()
    out = sim.run(batch)
    assert list(out.columns) == [*sim.kpis, "status", "message"]
    assert out.index.equals(batch.index)
    assert (out["status"] == "ok").all()
    assert not out[list(sim.kpis)].isna().any().any()


def test_invalid_rows_come_back_as_errors() -> None:
    sim = BuiltinSimulator("cut_in", duration=5.0)
    batch = _batch()
    batch.loc[batch.index[1], "ego_speed"] = np.nan
    batch.loc[batch.index[2], "ego_speed"] = -3.0
    batch.loc[batch.index[3], "lighting"] = "dusk"
    out = sim.run(batch)
    assert out["status"].tolist() == ["ok", "error", "error", "error", "ok", "ok"]
    assert "ego_speed" in out["message"].iloc[1]
    assert "ego_speed" in out["message"].iloc[2]
    assert "lighting" in out["message"].iloc[3]
    assert out.iloc[1][list(sim.kpis)].isna().all()
    # the valid rows are unaffected by the invalid ones
    clean = sim.run(_batch().iloc[[0, 4, 5]])
    pd.testing.assert_frame_equal(out.iloc[[0, 4, 5]], clean)


def test_unknown_columns_and_fixed_inputs() -> None:
    with pytest.raises(ValidationError, match="egospeed"):
        BuiltinSimulator("cut_in", fixed={"egospeed": 3.0})
    sim = BuiltinSimulator("cut_in")
    with pytest.raises(ValidationError, match="weather"):
        sim.check_inputs(["scenario_id", "weather"])
    with pytest.raises(ValidationError, match="weather"):
        sim.run(_batch().assign(weather=1.0))
    with pytest.raises(ValidationError, match="scenario_id"):
        sim.run(_batch().drop(columns="scenario_id"))
    with pytest.raises(ValidationError):
        BuiltinSimulator("nope")
    with pytest.raises(ValidationError, match="dt"):
        BuiltinSimulator("cut_in", dt=0.5)


def test_precedence_batch_over_fixed_over_defaults() -> None:
    batch = pd.DataFrame({"scenario_id": ["00000000000000aa"], "lead_decel": [8.0]})
    fixed = BuiltinSimulator("lead_braking", fixed={"lead_decel": 2.0, "initial_gap": 15.0},
                             duration=10.0)
    direct = BuiltinSimulator("lead_braking", fixed={"initial_gap": 15.0}, duration=10.0)
    a = fixed.run(batch)
    b = direct.run(batch)
    pd.testing.assert_frame_equal(a, b)
    c = fixed.run(batch.drop(columns="lead_decel"))
    assert not a.equals(c)


def test_picklable_and_deterministic() -> None:
    sim = BuiltinSimulator("pedestrian_crossing", fixed={"lighting": "night"}, duration=6.0)
    clone = pickle.loads(pickle.dumps(sim))
    batch = pd.DataFrame({"scenario_id": ["0000000000000001", "not-hex-id"],
                          "pedestrian_speed": [1.4, 2.2]})
    pd.testing.assert_frame_equal(sim.run(batch), clone.run(batch))
    assert clone.kpis == sim.kpis


def test_row_result_independent_of_batch() -> None:
    sim = BuiltinSimulator("cut_in", duration=5.0)
    batch = _batch()
    full = sim.run(batch)
    for i in range(len(batch)):
        alone = sim.run(batch.iloc[[i]])
        pd.testing.assert_frame_equal(alone, full.iloc[[i]])


def test_empty_batch_and_template_info() -> None:
    sim = BuiltinSimulator("cut_out")
    out = sim.run(pd.DataFrame({"scenario_id": pd.Series([], dtype=str)}))
    assert len(out) == 0 and list(out.columns) == [*sim.kpis, "status", "message"]
    info = sim.template_info()
    assert info["name"] == "cut_out"
    assert info["inputs"]["lighting"]["categories"] == ["day", "twilight", "night_lit", "night"]
    assert info["inputs"]["ego_speed"]["scenario_parameter"] is True
