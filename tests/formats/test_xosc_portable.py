"""``--portable`` exports: only standard elements, what lost fidelity stated (issue 15 item 5).

Every portable export must be read by scenariogeneration (another reader than ours)
and by our own reader, be valid against its declared version's XSD, and say in a
comment, per parameter whose distribution a reader no longer gets exactly, how it was
written and its max CDF error; that error is checked here independently.
"""

from __future__ import annotations

import itertools
import re
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import openturns as ot
import pytest

from safety_val.cli import main
from safety_val.distributions import build_marginal, parse_distribution
from safety_val.formats import ParameterDistributionSet, read_xosc, write_xosc
from safety_val.formats.portable import PORTABLE_CDF_TOLERANCE
from tests.formats.test_xosc import STOCHASTIC_ENTRIES, canonical
from tests.formats.xsd import schema_errors
from tests.helpers import SCENARIOS

CATALOGUE = sorted(SCENARIOS.glob("*.yaml"))
_STATED = re.compile(r"^ (\w+): .* written as .* \((exact: the same distribution|max CDF error "
                     r"([0-9.e+-]+))\) $")


def stated_losses(path: Path) -> dict[str, float]:
    """``{parameter: stated max CDF error}`` from the comments of a portable export."""
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    root = ET.parse(path, parser).getroot()  # our own output, trusted
    out: dict[str, float] = {}
    summary = [c.text or "" for c in root if c.tag is ET.Comment]
    for single in root.iter():
        if single.get("parameterName") is None:
            continue
        children = list(single)
        for comment, elem in itertools.pairwise(children):
            if comment.tag is ET.Comment and elem.tag is not ET.Comment:
                match = _STATED.match(comment.text or "")
                assert match, comment.text
                assert match.group(1) == single.get("parameterName")
                out[match.group(1)] = 0.0 if match.group(3) is None else float(match.group(3))
    if out:  # and one comment at the top lists them
        assert len(summary) == 1 and summary[0].rstrip().endswith(": " + ", ".join(out))
    else:
        assert summary == []
    return out


def kolmogorov(first: dict[str, Any], second: dict[str, Any]) -> float:
    """sup |F - G| of two YAML-level entries, on a dense grid (checked independently)."""
    f = build_marginal(parse_distribution(first["distribution"]), first.get("bounds"))
    g = build_marginal(parse_distribution(second["distribution"]), second.get("bounds"))
    if f.isDiscrete() and g.isDiscrete():
        points = np.union1d(np.ravel(f.getSupport()), np.ravel(g.getSupport()))
    else:
        lo = min(f.computeQuantile(1e-7)[0], g.getRange().getLowerBound()[0])
        hi = max(f.computeQuantile(1 - 1e-7)[0], g.getRange().getUpperBound()[0])
        points = np.linspace(lo, hi, 200_001)
    sample = ot.Sample(points[:, None])
    return float(np.max(np.abs(np.ravel(f.computeCDF(sample)) - np.ravel(g.computeCDF(sample)))))


def scenariogeneration_reads(path: Path) -> dict[str, Any]:
    """Parse with scenariogeneration (which validates against its XSD): ``{name: element}``."""
    from scenariogeneration import xosc

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # its schema warning fails the test
        parsed = xosc.ParseOpenScenario(str(path))
    distributions = dict(parsed.parameter_distribution.distributions)
    for name, element in distributions.items():
        # it *returns* NotImplementedError for a UserDefinedDistribution
        assert not isinstance(element, BaseException), (name, element)
    return distributions


def check_portable(path: Path, original: list[dict[str, Any]]) -> dict[str, float]:
    """Every check of a portable export of ``original``; returns the stated losses."""
    assert "UserDefinedDistribution" not in path.read_text()
    assert schema_errors(path) == []
    foreign = scenariogeneration_reads(path)
    assert list(foreign) == [p["name"] for p in original]
    stated = stated_losses(path)
    read_back = {p["name"]: p for p in read_xosc(path).parameters}
    for entry in original:
        name = entry["name"]
        wanted = {k: entry[k] for k in ("name", "distribution", "bounds") if k in entry}
        wanted["distribution"] = parse_distribution(entry["distribution"]).to_dict()
        if "bounds" in wanted:
            wanted["bounds"] = [float(b) for b in wanted["bounds"]]
        got = read_back[name]
        if got == wanted:
            assert name not in stated, f"{name} is exact but a comment says it lost fidelity"
            continue
        assert name in stated, f"{name} changed but no comment says so"
        if wanted["distribution"]["family"] != "Categorical":
            measured = kolmogorov(wanted, got)
            # the stated error is rounded up: a bound (1 % slack for the two grids)
            assert measured <= max(1.01 * stated[name], 1e-9), (name, measured, stated[name])
            assert measured <= PORTABLE_CDF_TOLERANCE, (name, measured)
        if foreign[name].__class__.__name__ == "Histogram":  # the other reader agrees
            bins = foreign[name].bins
            assert [b.range.lower for b in bins] == got["distribution"]["edges"][:-1]
            assert [b.weight for b in bins] == got["distribution"]["weights"]
    return stated


@pytest.mark.parametrize("scenario", CATALOGUE, ids=[p.stem for p in CATALOGUE])
def test_every_portable_catalogue_export_is_read_back(
    tmp_path: Path, scenario: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safety_val.formats.scenario_yaml import scenario_to_dict
    from safety_val.scenario import load_scenario

    out = tmp_path / f"{scenario.stem}.xosc"
    assert main(["scenario", "export-xosc", str(scenario), "--out", str(out), "--portable"]) == 0
    body = scenario_to_dict(load_scenario(scenario))
    stated = check_portable(out, body["parameters"])
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
    assert sorted(line.split(":")[1].strip() for line in notes) == sorted(stated)


def test_every_family_has_a_portable_stand_in(tmp_path: Path) -> None:
    target = tmp_path / "all.xosc"
    notes: list[str] = []
    write_xosc(ParameterDistributionSet(STOCHASTIC_ENTRIES, number_of_test_runs=10),
               target, portable=True, notes=notes)
    stated = check_portable(target, STOCHASTIC_ENTRIES)
    assert sorted(n.split(":")[0] for n in notes) == sorted(stated)
    # exact reformulations say so; approximations give their error
    assert stated["normal_bounded"] == 0.0 and stated["grid_in_stochastic"] == 0.0
    assert 0.0 < stated["gamma"] <= PORTABLE_CDF_TOLERANCE
    assert read_xosc(target).parameters[
        [p["name"] for p in STOCHASTIC_ENTRIES].index("normal_bounded")]["distribution"] == {
        "family": "TruncatedNormal", "mu": 30.0, "sigma": 2.0, "lower": 25.0, "upper": 35.0}
    # without --portable the same entries keep their exact safety-val: elements
    write_xosc(ParameterDistributionSet(STOCHASTIC_ENTRIES, number_of_test_runs=10), target)
    assert 'type="safety-val:Gamma"' in target.read_text()
    assert "<!--" not in target.read_text()


def test_unbounded_tails_count_in_the_stated_error(tmp_path: Path) -> None:
    # a Gamma without bounds: the histogram must stop somewhere; the mass cut off counts
    entries = [canonical("gap", {"family": "Gamma", "k": 0.7, "lambda": 2.0}),
               canonical("shifted", {"family": "LogNormal", "mu_log": 1.0, "sigma_log": 1.2,
                                     "gamma": 5.0})]
    target = tmp_path / "tails.xosc"
    write_xosc(ParameterDistributionSet(entries, number_of_test_runs=10), target, portable=True)
    stated = check_portable(target, entries)
    assert set(stated) == {"gap", "shifted"}


def test_portable_deterministic_export(tmp_path: Path) -> None:
    entries = [canonical("gap", {"family": "Grid", "lower": 10, "upper": 50, "step": 5}, [12, 40]),
               canonical("lanes", {"family": "Set", "values": [2, 3, 4]}, [2, 3]),
               canonical("speed", {"family": "Grid", "lower": 10, "upper": 20, "step": 5})]
    target = tmp_path / "sweep.xosc"
    write_xosc(ParameterDistributionSet(entries), target, portable=True)
    assert "<Deterministic>" in target.read_text()
    assert schema_errors(target) == []
    parameters = read_xosc(target).parameters
    assert parameters[0]["distribution"] == {
        "family": "Set", "values": [15.0, 20.0, 25.0, 30.0, 35.0, 40.0]}
    assert parameters[1]["distribution"] == {"family": "Set", "values": [2.0, 3.0]}
    assert parameters[2] == entries[2]  # exact already: unchanged, no comment
    assert set(stated_losses(target)) == {"gap", "lanes"}
    scenariogeneration_reads_deterministic(target)


def scenariogeneration_reads_deterministic(path: Path) -> None:
    from scenariogeneration import xosc

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parsed = xosc.ParseOpenScenario(str(path))
    assert parsed.parameter_distribution is not None
