from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml

from safety_val.distributions import parse_distribution
from safety_val.errors import ValidationError
from safety_val.formats import fit_parameters


def test_normal_parameters_recovered_within_standard_error() -> None:
    n, mu, sigma = 4000, 30.0, 2.0
    data = pd.DataFrame({"speed": np.random.default_rng(1).normal(mu, sigma, n)})
    result = fit_parameters(data, ["speed"], families=["Normal"], units={"speed": "m/s"})
    fitted = result.parameters[0]
    assert fitted["unit"] == "m/s"
    assert fitted["distribution"]["family"] == "Normal"
    # standard errors of the ML estimators: sigma/sqrt(n) and sigma/sqrt(2n)
    assert abs(fitted["distribution"]["mu"] - mu) < 4 * sigma / math.sqrt(n)
    assert abs(fitted["distribution"]["sigma"] - sigma) < 4 * sigma / math.sqrt(2 * n)
    row = result.table.iloc[0]
    assert row["accepted"]
    assert row["chosen"]
    assert row["gof_test"] == "kolmogorov"


@pytest.mark.parametrize("seed", [0, 1])
def test_bic_picks_gamma_for_gamma_data_and_normal_for_normal_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({"gap": rng.gamma(2.0, 2.0, 2000), "speed": rng.normal(30.0, 2.0, 2000)})
    result = fit_parameters(data, ["gap", "speed"])
    chosen = {p["name"]: p["distribution"]["family"] for p in result.parameters}
    assert chosen == {"gap": "Gamma", "speed": "Normal"}
    gap = result.table[result.table["column"] == "gap"].set_index("family")
    assert gap.loc["Gamma", "bic"] < gap.loc["Normal", "bic"]
    assert not gap.loc["Normal", "accepted"]  # clearly skewed data rejects the Normal
    assert result.table["chosen"].sum() == 2


def test_gamma_parameters_use_our_names() -> None:
    n = 4000
    data = pd.DataFrame({"x": np.random.default_rng(3).gamma(3.0, 1.0 / 2.0, n)})
    dist = fit_parameters(data, ["x"], families=["Gamma"]).parameters[0]["distribution"]
    assert set(dist) == {"family", "k", "lambda", "gamma"}
    # mean k/lambda is estimated with standard error sd/sqrt(n), sd = sqrt(k)/lambda
    mean = dist["k"] / dist["lambda"] + dist["gamma"]
    assert abs(mean - 1.5) < 4 * math.sqrt(3) / 2 / math.sqrt(n)


def test_weibull_parameters_converted_to_scale_shape_location() -> None:
    n, scale, shape = 4000, 3.0, 2.0
    x = scale * np.random.default_rng(4).weibull(shape, n)
    dist = fit_parameters(pd.DataFrame({"x": x}), ["x"], families=["weibull"]).parameters[0][
        "distribution"
    ]
    assert set(dist) == {"family", "scale", "shape", "location"}
    # the mean scale*Gamma(1+1/shape) + location has standard error sd/sqrt(n)
    mean = dist["location"] + dist["scale"] * math.gamma(1 + 1 / dist["shape"])
    sd = scale * math.sqrt(math.gamma(1 + 2 / shape) - math.gamma(1 + 1 / shape) ** 2)
    assert abs(mean - scale * math.gamma(1 + 1 / shape)) < 4 * sd / math.sqrt(n)
    assert dist["shape"] == pytest.approx(shape, rel=0.15)


def test_integer_column_gets_discrete_candidates() -> None:
    n, lam = 3000, 3.0
    data = pd.DataFrame({"count": np.random.default_rng(5).poisson(lam, n)})
    result = fit_parameters(data, ["count"])
    assert set(result.table["family"]) == {"Poisson", "UserDefined"}
    dist = result.parameters[0]["distribution"]
    assert dist["family"] == "Poisson"
    assert abs(dist["lambda"] - lam) < 4 * math.sqrt(lam / n)


def test_string_column_is_categorical_with_empirical_weights() -> None:
    labels = ["dry"] * 60 + ["wet"] * 30 + ["snow"] * 10
    result = fit_parameters(pd.DataFrame({"road": labels}), ["road"])
    entry = result.parameters[0]
    assert entry["unit"] == "-"
    assert entry["distribution"] == {"family": "Categorical",
                                     "categories": ["dry", "snow", "wet"],
                                     "weights": [0.6, 0.1, 0.3]}


def test_spearman_copula_recovered() -> None:
    n, pearson = 3000, 0.6
    rng = np.random.default_rng(6)
    z = rng.multivariate_normal([0.0, 0.0], [[1.0, pearson], [pearson, 1.0]], n)
    data = pd.DataFrame({"a": z[:, 0], "b": np.exp(z[:, 1]), "label": ["x", "y"] * (n // 2)})
    result = fit_parameters(data, ["a", "b", "label"], families=["Normal", "LogNormal"],
                            copula=True)
    dependence = result.dependence
    assert dependence is not None
    assert dependence["copula"] == "normal"
    assert dependence["correlation"] == "spearman"
    assert dependence["parameters"] == ["a", "b"]
    spearman = 6.0 / math.pi * math.asin(pearson / 2.0)
    matrix = np.array(dependence["matrix"])
    assert matrix[0, 1] == matrix[1, 0]
    # the standard error of Spearman's rho is below 1/sqrt(n-1)
    assert abs(matrix[0, 1] - spearman) < 4 / math.sqrt(n - 1)


def test_to_yaml_is_a_valid_parameter_block() -> None:
    rng = np.random.default_rng(7)
    data = pd.DataFrame({"a": rng.normal(0, 1, 200), "b": rng.normal(0, 1, 200) + 0.0})
    result = fit_parameters(data, ["a", "b"], families=["Normal"], copula=True,
                            units={"a": "m", "b": "s"})
    document = yaml.safe_load(result.to_yaml())
    assert document["parameters"] == result.parameters
    assert document["dependence"] == result.dependence
    for entry in document["parameters"]:
        assert parse_distribution(entry["distribution"]).to_dict() == entry["distribution"]


def test_all_rejected_warns_and_chooses_lowest_bic() -> None:
    data = pd.DataFrame({"x": np.random.default_rng(8).normal(0, 1, 3000)})
    with pytest.warns(UserWarning, match="every candidate family was rejected"):
        result = fit_parameters(data, ["x"], families=["Uniform", "Gumbel"])
    chosen = result.table[result.table["chosen"]].iloc[0]
    assert not chosen["accepted"]
    assert chosen["bic"] == result.table["bic"].min()


def test_lilliefors_is_seeded() -> None:
    data = pd.DataFrame({"x": np.random.default_rng(9).normal(0, 1, 100)})
    first = fit_parameters(data, ["x"], families=["Normal"], gof="lilliefors", seed=3)
    second = fit_parameters(data, ["x"], families=["Normal"], gof="lilliefors", seed=3)
    assert first.table["gof_test"].iloc[0] == "lilliefors"
    assert first.table["p_value"].iloc[0] == second.table["p_value"].iloc[0]


@pytest.mark.parametrize(
    ("frame", "kwargs", "fragments"),
    [
        (pd.DataFrame({"a": range(20)}), {"columns": ["b"]}, ["data.csv: b", "missing column"]),
        (pd.DataFrame({"a": [1.0] * 5}), {"columns": ["a"]}, ["data.csv: a", "too few rows", "5"]),
        (pd.DataFrame({"a": [1.0, "x"] * 10}), {"columns": ["a"]},
         ["data.csv: a", "non-numeric", "1.0"]),
        (pd.DataFrame({"a": [1.0, np.nan] * 10}), {"columns": ["a"]}, ["data.csv: a", "missing"]),
        (pd.DataFrame({"a": np.arange(20.0)}), {"columns": ["a"], "families": ["Cauchy"]},
         ["families", "'Cauchy'", "Normal"]),
        (pd.DataFrame({"a": np.arange(20.0)}), {"columns": ["a"], "gof": "ad"}, ["gof", "'ad'"]),
        (pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) * 2}),
         {"columns": ["a", "b"], "copula": True, "families": ["Normal"]},
         ["not positive definite"]),
        (pd.DataFrame({"a": np.arange(20.0)}),
         {"columns": ["a"], "copula": True, "families": ["Normal"]}, ["at least two numeric"]),
    ],
)
def test_bad_input(frame: pd.DataFrame, kwargs: dict, fragments: list[str]) -> None:
    with pytest.raises(ValidationError) as info:
        fit_parameters(frame, file="data.csv", **kwargs)
    for fragment in fragments:
        assert fragment in str(info.value)
