from __future__ import annotations

import math

import openturns as ot
import pytest
from scipy import stats

from safety_val.distributions import (
    FAMILIES,
    DistributionSpec,
    build_marginal,
    get_family,
    parse_distribution,
    support,
)
from safety_val.errors import ValidationError

EULER_GAMMA = 0.5772156649015329


def _truncnorm_moments(mu: float, sigma: float, lo: float, hi: float) -> tuple[float, float]:
    a, b = (lo - mu) / sigma, (hi - mu) / sigma
    dist = stats.truncnorm(a, b, loc=mu, scale=sigma)
    return float(dist.mean()), float(dist.var())


def _weibull(scale: float, shape: float, loc: float) -> tuple[float, float]:
    g1, g2 = math.gamma(1 + 1 / shape), math.gamma(1 + 2 / shape)
    return loc + scale * g1, scale**2 * (g2 - g1**2)


# (block, closed-form mean, closed-form variance)
CASES = [
    ({"family": "Normal", "mu": 1.0, "sigma": 2.0}, 1.0, 4.0),
    (
        {"family": "TruncatedNormal", "mu": 0.5, "sigma": 1.5, "lower": -1.0, "upper": 2.0},
        *_truncnorm_moments(0.5, 1.5, -1.0, 2.0),
    ),
    (
        {"family": "LogNormal", "mu_log": 0.5, "sigma_log": 0.4, "gamma": 1.0},
        1.0 + math.exp(0.5 + 0.08),
        (math.exp(0.16) - 1) * math.exp(1.0 + 0.16),
    ),
    ({"family": "Uniform", "lower": 2.0, "upper": 5.0}, 3.5, 9.0 / 12.0),
    (
        {"family": "Triangular", "lower": 0.0, "mode": 1.0, "upper": 4.0},
        5.0 / 3.0,
        (0 + 16 + 1 - 0 - 0 - 4) / 18.0,
    ),
    (
        {"family": "Beta", "alpha": 2.0, "beta": 3.0, "lower": 1.0, "upper": 3.0},
        1.0 + 2.0 * 2.0 / 5.0,
        4.0 * 6.0 / (25.0 * 6.0),
    ),
    ({"family": "Gamma", "k": 2.0, "lambda": 0.5, "gamma": 1.0}, 5.0, 8.0),
    ({"family": "Weibull", "scale": 2.0, "shape": 1.5, "location": 0.5}, *_weibull(2.0, 1.5, 0.5)),
    ({"family": "Gumbel", "scale": 2.0, "mode": 1.0}, 1.0 + 2.0 * EULER_GAMMA, math.pi**2 * 4 / 6),
    ({"family": "Histogram", "edges": [0, 1, 3], "weights": [1, 3]}, 1.625, 10 / 3 - 1.625**2),
    ({"family": "UserDefined", "values": [1, 2, 4], "weights": [1, 1, 2]}, 2.75, 1.6875),
    ({"family": "Discrete", "values": [1, 3]}, 2.0, 1.0),
    ({"family": "Categorical", "categories": ["a", "b", "c"], "weights": [1, 1, 2]}, 1.25,
     (0 + 1 + 8) / 4 - 1.25**2),
    ({"family": "Poisson", "lambda": 3.0}, 3.0, 3.0),
    ({"family": "Grid", "lower": 0.0, "upper": 1.0, "step": 0.25}, 0.5, 0.125),
    ({"family": "Set", "values": [1, 2, 6]}, 3.0, 41 / 3 - 9.0),
    ({"family": "Set", "values": ["dry", "wet"]}, 0.5, 0.25),
]


@pytest.mark.parametrize(
    ("block", "mean", "variance"), CASES, ids=[f"{c[0]['family']}{i}" for i, c in enumerate(CASES)]
)
def test_family_moments_match_closed_form(block: dict, mean: float, variance: float) -> None:
    spec = parse_distribution(block)
    dist = spec.build()
    assert dist.getDimension() == 1
    assert dist.getMean()[0] == pytest.approx(mean, rel=1e-9, abs=1e-12)
    assert dist.getCovariance()[0, 0] == pytest.approx(variance, rel=1e-7, abs=1e-12)


def test_every_family_is_covered_by_a_moment_case() -> None:
    covered = {get_family(c[0]["family"]).name for c in CASES}
    assert covered == set(FAMILIES)


@pytest.mark.parametrize("block", [c[0] for c in CASES])
def test_to_dict_round_trips_exactly(block: dict) -> None:
    spec = parse_distribution(block)
    again = parse_distribution(spec.to_dict())
    assert again == spec
    assert again.to_dict() == spec.to_dict()
    assert hash(again) == hash(spec)


def test_discreteness_and_categories() -> None:
    assert parse_distribution({"family": "poisson", "lambda": 2}).is_discrete
    assert not parse_distribution({"family": "NORMAL", "mu": 0, "sigma": 1}).is_discrete
    cat = parse_distribution({"family": "Categorical", "categories": ["car", "truck"]})
    assert cat.categories == ("car", "truck")
    assert cat.params["weights"] == (1.0, 1.0)
    assert parse_distribution({"family": "Set", "values": [1.0, 2.0]}).categories is None


def test_direct_construction_validates() -> None:
    with pytest.raises(ValidationError, match="sigma"):
        DistributionSpec("Normal", {"mu": 0.0, "sigma": 0.0})


def test_defaults_are_filled() -> None:
    spec = parse_distribution({"family": "Gamma", "k": 2, "lambda": 1})
    assert spec.to_dict() == {"family": "Gamma", "k": 2.0, "lambda": 1.0, "gamma": 0.0}


BAD = [
    ({"family": "Normal", "mu": 0, "sigma": -1}, "d.sigma", "-1",
     "negative or zero standard deviation"),
    ({"family": "Normal", "mu": 0, "sigma": 0}, "d.sigma", "0", "negative or zero"),
    ({"family": "Normal", "mu": 0}, "d.sigma", "", "missing parameter"),
    ({"family": "Normal", "mu": 0, "sigma": 1, "sd": 1}, "d.sd", "'sd'", "unknown parameter"),
    ({"family": "Normal", "mu": "fast", "sigma": 1}, "d.mu", "'fast'", "non-numeric"),
    ({"family": "Normal", "mu": True, "sigma": 1}, "d.mu", "True", "non-numeric"),
    ({"family": "Normal", "mu": float("nan"), "sigma": 1}, "d.mu", "nan", "not finite"),
    ({"family": "Normal", "mu": 0, "sigma": float("inf")}, "d.sigma", "inf", "not finite"),
    ({"family": "Uniform", "lower": 3, "upper": 1}, "d.lower", "[3.0, 1.0]", "reversed bounds"),
    ({"family": "Uniform", "lower": 1, "upper": 1}, "d.lower", "[1.0, 1.0]", "reversed bounds"),
    ({"family": "TruncatedNormal", "mu": 0, "sigma": 1, "lower": 2, "upper": -2}, "d.lower",
     "[2.0, -2.0]", "reversed bounds"),
    ({"family": "Triangular", "lower": 0, "mode": 5, "upper": 4}, "d.mode", "5.0", "mode outside"),
    ({"family": "Beta", "alpha": -1, "beta": 1, "lower": 0, "upper": 1}, "d.alpha", "-1", "shape"),
    ({"family": "Gamma", "k": 1, "lambda": 0}, "d.lambda", "0", "rate"),
    ({"family": "Weibull", "scale": 1, "shape": -2}, "d.shape", "-2", "shape"),
    ({"family": "Gumbel", "scale": -1, "mode": 0}, "d.scale", "-1", "scale"),
    ({"family": "Poisson", "lambda": -3}, "d.lambda", "-3", "rate"),
    ({"family": "Histogram", "edges": [0, 2, 1], "weights": [1, 1]}, "d.edges[2]", "1.0",
     "edges not increasing"),
    ({"family": "Histogram", "edges": [0, 1, 2], "weights": [1]}, "d.weights", "[1]",
     "length mismatch"),
    ({"family": "Histogram", "edges": [0, 1, 2], "weights": [1, -1]}, "d.weights[1]", "-1.0",
     "negative weight"),
    ({"family": "UserDefined", "values": [1, 2], "weights": [0, 0]}, "d.weights", "[0, 0]",
     "all weights are zero"),
    ({"family": "UserDefined", "values": [1, 1]}, "d.values[1]", "1.0", "duplicate"),
    ({"family": "UserDefined", "values": "1,2"}, "d.values", "'1,2'", "not a list"),
    ({"family": "Categorical", "categories": ["car", "car"]}, "d.categories[1]", "'car'",
     "duplicate category"),
    ({"family": "Categorical", "categories": ["car", 3]}, "d.categories[1]", "3", "not a category"),
    ({"family": "Grid", "lower": 0, "upper": 1, "step": 0}, "d.step", "0", "step"),
    ({"family": "Grid", "lower": 0, "upper": 1, "step": -0.1}, "d.step", "-0.1", "step"),
    ({"family": "Grid", "lower": 0, "upper": 1e9, "step": 1e-3}, "d.step", "0.001", "too small"),
    ({"family": "Set", "values": [1, "a"]}, "d.values", "[1, 'a']", "mixed"),
    ({"family": "Set", "values": []}, "d.values", "[]", "too short"),
    ({"family": "Cauchy", "x": 1}, "d.family", "'Cauchy'", "TruncatedNormal"),
    ({"mu": 0, "sigma": 1}, "d.family", "", "missing distribution family"),
    ([1, 2], "d", "[1, 2]", "not a mapping"),
]


@pytest.mark.parametrize(("block", "field", "value", "message"), BAD)
def test_bad_input_names_file_field_and_value(
    block: object, field: str, value: str, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        parse_distribution(block, file="cut_in.yaml", field="d")
    text = str(info.value)
    assert text.startswith(f"cut_in.yaml: {field}: ")
    assert message in text
    assert value in text
    assert "\n" not in text


def test_unknown_family_lists_valid_families() -> None:
    with pytest.raises(ValidationError) as info:
        parse_distribution({"family": "Cauchy"})
    for name in FAMILIES:
        assert name in str(info.value)


def test_grid_floor_when_step_does_not_divide() -> None:
    spec = parse_distribution({"family": "Grid", "lower": 0, "upper": 1, "step": 0.3})
    points = sorted(p[0] for p in spec.build().getSupport())
    assert points == pytest.approx([0.0, 0.3, 0.6, 0.9])


def test_support_unbounded_and_bounded() -> None:
    assert support(ot.Normal()) == (-math.inf, math.inf)
    assert support(ot.LogNormal(0.0, 1.0, 0.0)) == (0.0, math.inf)
    assert support(ot.Uniform(-1.0, 2.0)) == (-1.0, 2.0)
    assert support(ot.Poisson(2.0)) == (0.0, math.inf)


def test_build_marginal_truncates() -> None:
    spec = parse_distribution({"family": "Normal", "mu": 0, "sigma": 1})
    both = build_marginal(spec, (-1.0, 2.0))
    assert support(both) == (-1.0, 2.0)
    mean, var = _truncnorm_moments(0, 1, -1, 2)
    assert both.getMean()[0] == pytest.approx(mean, rel=1e-8)
    assert both.getCovariance()[0, 0] == pytest.approx(var, rel=1e-6)
    lower_only = build_marginal(parse_distribution({"family": "LogNormal", "mu_log": 0,
                                                    "sigma_log": 1}), [-5.0, 3.0])
    assert support(lower_only) == (0.0, 3.0)
    assert build_marginal(spec, None).getMean()[0] == 0.0


def test_build_marginal_bounds_covering_support_is_untruncated() -> None:
    spec = parse_distribution({"family": "Uniform", "lower": 0, "upper": 1})
    dist = build_marginal(spec, (-1.0, 2.0))
    assert support(dist) == (0.0, 1.0)
    assert dist.getMean()[0] == 0.5


def test_build_marginal_discrete_truncation() -> None:
    spec = parse_distribution({"family": "UserDefined", "values": [1, 2, 3, 4]})
    dist = build_marginal(spec, (1.5, 3.5))
    assert dist.getMean()[0] == pytest.approx(2.5)


@pytest.mark.parametrize(
    ("block", "bounds", "message"),
    [
        ({"family": "Normal", "mu": 0, "sigma": 1}, (2.0, 1.0), "reversed bounds"),
        ({"family": "Uniform", "lower": 0, "upper": 1}, (2.0, 3.0), "outside the support"),
        ({"family": "UserDefined", "values": [1, 2]}, (1.2, 1.8), "zero probability"),
        ({"family": "Categorical", "categories": ["a", "b"]}, (0.0, 1.0), "not allowed"),
        ({"family": "Normal", "mu": 0, "sigma": 1}, (0.0, "x"), "non-numeric"),
        ({"family": "Normal", "mu": 0, "sigma": 1}, (0.0, 1.0, 2.0), "two items"),
    ],
)
def test_build_marginal_bad_bounds(block: dict, bounds: tuple, message: str) -> None:
    spec = parse_distribution(block)
    with pytest.raises(ValidationError) as info:
        build_marginal(spec, bounds, file="s.yaml", field="parameters[1].bounds")
    assert "s.yaml: parameters[1].bounds" in str(info.value)
    assert message in str(info.value)


def test_family_registry_metadata() -> None:
    weibull = FAMILIES["Weibull"]
    assert weibull.required == ("scale", "shape")
    assert weibull.optional == {"location": 0.0}
    assert weibull.doc
    assert get_family("discrete") is FAMILIES["UserDefined"]
