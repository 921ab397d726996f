"""The critical-region figure: its drawn failure region must contain the failures it shows."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import openturns as ot
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.contour import ContourSet
from matplotlib.figure import Figure

from safety_val.errors import ValidationError
from safety_val.regions import CriticalRegions, analyze
from safety_val.regions.slices import fit_boundary
from safety_val.reliability.result import FailureProbabilityResult, clopper_pearson_interval

NAMES = ("gap", "speed", "lateral", "rain")


def projected_limit_state(x: np.ndarray) -> np.ndarray:
    """g of four standard normal inputs; it fails at a large ``gap`` whatever ``speed`` is.

    The boundary in (gap, speed) depends on ``lateral`` and ``rain``, which vary in the
    sample: a section through the design point does not contain the projected failures.
    """
    return 2.4 - x[:, 0] - 0.6 * x[:, 2] - 0.6 * x[:, 3]


def _mc_regions(
    seed: int = 0, n: int = 6000, limit_state: Callable[[np.ndarray], np.ndarray] | None = None
) -> CriticalRegions:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, len(NAMES)))
    g = (limit_state or projected_limit_state)(x)
    n_fail = int((g <= 0).sum())
    samples = pd.DataFrame(x, columns=list(NAMES))
    samples["g"] = g
    samples["stage"] = "mc"
    pf = n_fail / n
    result = FailureProbabilityResult(
        pf=pf,
        cov=math.sqrt((1 - pf) / (pf * n)),
        ci=clopper_pearson_interval(n_fail, n),
        n_calls=n,
        converged=True,
        method="mc",
        samples=samples,
        parameter_names=NAMES,
    )
    distribution = ot.Normal(len(NAMES))
    distribution.setDescription(list(NAMES))
    return analyze(result, distribution=distribution, seed=seed)


@pytest.fixture(scope="module")
def regions() -> CriticalRegions:
    return _mc_regions()


def _drawn_region(ax: Axes) -> list[ContourSet]:
    return [c for c in ax.collections if isinstance(c, ContourSet) and c.filled]


def _inside_drawn_region(ax: Axes, xy: np.ndarray) -> np.ndarray:
    """Whether each point lies in the shaded failure region of the panel (from the figure)."""
    inside = np.zeros(len(xy), dtype=bool)
    for contour in _drawn_region(ax):
        for path in contour.get_paths():
            if len(path.vertices):
                inside |= path.contains_points(xy)
    return inside


def _panel_pair(ax: Axes) -> tuple[str, str]:
    return ax.get_xlabel(), ax.get_ylabel()


def test_the_drawn_failure_region_contains_the_failures_it_shows(regions: CriticalRegions) -> None:
    figure = regions.plot_slices(top=3, resolution=80)
    assert isinstance(figure, Figure)
    points = regions.points
    failure = points["failure"].to_numpy(dtype=bool)
    assert failure.sum() > 100
    panels = [ax for ax in figure.axes if ax.get_xlabel()]
    assert len(panels) == 3
    pairs = [_panel_pair(ax) for ax in panels]
    assert all("gap" in pair for pair in pairs), f"the decisive parameter is missing: {pairs}"
    for ax, (a, b) in zip(panels, pairs, strict=True):
        assert _drawn_region(ax), f"no failure region drawn on {a} × {b}"
        inside = _inside_drawn_region(ax, points[[a, b]].to_numpy(dtype=float))
        # the region drawn holds the failures the same panel shows (a GP section through
        # the design point held 71-83 % of them here) ...
        assert inside[failure].mean() >= 0.85, (a, b, inside[failure].mean())
        # ... and does not simply cover everything: most safe points stay outside
        assert inside[~failure].mean() <= 0.25, (a, b, inside[~failure].mean())


def test_no_region_is_drawn_on_a_pair_that_does_not_separate_the_failures() -> None:
    only_gap = _mc_regions(seed=1, n=4000, limit_state=lambda x: 1.8 - x[:, 0])
    figure = only_gap.plot_slices(top=4, resolution=50)
    panels = [ax for ax in figure.axes if ax.get_xlabel()]
    drawn = {_panel_pair(ax): bool(_drawn_region(ax)) for ax in panels}
    assert all(drawn[pair] for pair in drawn if "gap" in pair), drawn
    blind = [pair for pair in drawn if "gap" not in pair]
    assert blind and not any(drawn[pair] for pair in blind), drawn
    titles = [ax.get_title() for ax in panels]
    assert sum("no boundary: the pair does not separate" in t for t in titles) == len(blind)


def test_no_region_is_drawn_away_from_the_points(regions: CriticalRegions) -> None:
    figure = regions.plot_slices(top=1, resolution=60)
    (ax,) = [ax for ax in figure.axes if ax.get_xlabel()]
    a, b = _panel_pair(ax)
    xy = regions.points[[a, b]].to_numpy(dtype=float)
    far = np.array([[xy[:, 0].max() + 10.0 * xy[:, 0].std(), xy[:, 1].mean()]])
    assert not _inside_drawn_region(ax, far).any()


def test_fit_boundary_on_a_known_boundary_and_its_cross_validation() -> None:
    rng = np.random.default_rng(4)
    xy = np.column_stack([rng.uniform(3.0, 80.0, 1500), rng.uniform(16.7, 36.1, 1500)])
    failure = xy[:, 0] < 0.5 * xy[:, 1]  # a small gap for the speed fails
    boundary = fit_boundary(xy, failure, names=("cut_in_gap", "ego_speed"), seed=0)
    assert boundary.recall >= 0.9 and boundary.false_alarm <= 0.05
    inside = boundary.contains(xy)
    assert inside[failure].mean() >= 0.9 and inside[~failure].mean() <= 0.05
    # a fresh sample from the same law: the region generalises
    fresh = np.column_stack([rng.uniform(3.0, 80.0, 2000), rng.uniform(16.7, 36.1, 2000)])
    truth = fresh[:, 0] < 0.5 * fresh[:, 1]
    assert (boundary.contains(fresh) == truth).mean() >= 0.95
    # outside the data, no region
    assert not boundary.contains([[500.0, 25.0], [5.0, 400.0]]).any()


def test_fit_boundary_with_one_class_only_and_bad_shape() -> None:
    rng = np.random.default_rng(0)
    xy = rng.random((50, 2))
    assert not fit_boundary(xy, np.zeros(50, bool)).contains(xy).any()
    assert fit_boundary(xy, np.ones(50, bool)).contains(xy).all()
    with pytest.raises(ValidationError, match="xy"):
        fit_boundary(rng.random((10, 3)), np.zeros(10, bool))


def test_plot_slices_refuses_bad_options(regions: CriticalRegions) -> None:
    with pytest.raises(ValidationError, match="resolution"):
        regions.plot_slices(top=1, resolution=2)
