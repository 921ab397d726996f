"""Campaign values are checked when the file is loaded, not when the job runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import openturns as ot
import pytest

from safety_val.campaign import load_campaign
from safety_val.errors import ValidationError
from safety_val.reliability.model import LimitStateModel
from safety_val.reliability.sampling import run_monte_carlo

MakeCampaign = Callable[..., Path]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"entry_budgets": [10**20]}, "campaign.scenarios[0].budgets[0]", "int <= 1000000000"),
        ({"entry_budgets": [10**9 + 1]}, "campaign.scenarios[0].budgets[0]", "int <= 1000000000"),
        ({"entry_budgets": [1e20]}, "campaign.scenarios[0].budgets[0]", "int >= 10"),
        ({"entry_budgets": [True]}, "campaign.scenarios[0].budgets[0]", "int >= 10"),
        ({"entry_options": {"block_size": -3}}, "campaign.scenarios[0].options.block_size",
         "int >= 1"),
        ({"entry_options": {"block_size": 0}}, "campaign.scenarios[0].options.block_size",
         "int >= 1"),
        ({"entry_options": {"block_size": "big"}}, "campaign.scenarios[0].options.block_size",
         "int >= 1 or None"),
        ({"entry_options": {"futility_after": 2.5}},
         "campaign.scenarios[0].options.futility_after", "int >= 1"),
        ({"entry_fixed": {"aeb_ttc_full": "strong"}}, "campaign.scenarios[0].fixed.aeb_ttc_full",
         "number in [0, 10]"),
        ({"entry_fixed": {"aeb_ttc_full": True}}, "campaign.scenarios[0].fixed.aeb_ttc_full",
         "number"),
        ({"entry_fixed": {"aeb_ttc_full": 50.0}}, "campaign.scenarios[0].fixed.aeb_ttc_full",
         "number in [0, 10]"),
        ({"entry_fixed": {"lighting": "dusk"}}, "campaign.scenarios[0].fixed.lighting",
         "one of 'day'"),
        ({"entry_fixed": {"lighting": 2}}, "campaign.scenarios[0].fixed.lighting", "one of"),
    ],
)
def test_bad_values_are_refused_at_load(
    campaign_file: MakeCampaign, overrides: dict[str, object], field: str, message: str
) -> None:
    file = campaign_file(**overrides)
    with pytest.raises(ValidationError) as info:
        load_campaign(file)
    text = str(info.value)
    assert "\n" not in text
    assert str(file) in text and field in text and message in text


def test_good_values_still_load(campaign_file: MakeCampaign) -> None:
    file = campaign_file(
        entry_budgets=[10, 10**9],
        entry_options={"block_size": 50, "futility_after": None},
        entry_fixed={"aeb_ttc_full": 0.6, "lighting": "night"},
    )
    entry = load_campaign(file).entries[0]
    assert entry.budgets == (10, 10**9)
    assert entry.fixed == {"aeb_ttc_full": 0.6, "lighting": "night"}


def test_monte_carlo_refuses_a_block_size_below_one_instead_of_clamping() -> None:
    model = LimitStateModel(lambda x: 2.0 - x[:, 0], ot.Normal(1), max_calls=100)
    with pytest.raises(ValidationError, match="block_size"):
        run_monte_carlo(model, rng=0, block_size=-3)
    assert model.n_calls == 2
    assert np.isfinite(run_monte_carlo(model, rng=0, block_size=7).details["block_size"])
