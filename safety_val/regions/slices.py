r"""The critical-region plot: the failure region the observed points support, over pairs.

:meth:`CriticalRegions.plot_slices <safety_val.regions.CriticalRegions.plot_slices>`
calls :func:`plot_slices` here. Each panel projects the analysed points onto a pair of
parameters and draws the *empirical* boundary of their failures there
(:func:`fit_boundary`): where the failed points are denser than the safe ones, and only
where there are points at all. It replaces a Gaussian-process slice through the design
point, whose contour described a 2-D section the projected points are not on and
extrapolated between them (the failures at small gaps lay outside a blob at 20–40 m).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from safety_val._random import SeedLike, as_generator
from safety_val._validation import Constraint, Interval, check_options
from safety_val.errors import ValidationError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from safety_val.regions.result import CriticalRegions

__all__ = ["EmpiricalBoundary", "fit_boundary", "plot_slices"]

_Array = np.ndarray[Any, np.dtype[np.float64]]

#: Kernel bandwidths tried, in standard deviations of each axis (chosen by leave-one-out).
BANDWIDTHS: Final = (0.05, 0.08, 0.12, 0.2, 0.3, 0.5)
#: The region is drawn only within this many bandwidths of an observed point.
SUPPORT_BANDWIDTHS: Final = 2.0
#: A pair whose leave-one-out balanced accuracy is below this separates failures from safe
#: points too poorly for a boundary to be drawn (0.5 is chance).
MIN_BALANCED_ACCURACY: Final = 0.7

_CONSTRAINTS: dict[str, list[Constraint]] = {
    "top": [Interval(int, 1, None)],
    "resolution": [Interval(int, 10, 1000)],
    "max_points": [Interval(int, 20, None)],
}
"""The options of :func:`plot_slices` and the values they accept."""


@dataclass(frozen=True)
class EmpiricalBoundary:
    r"""Where, on a pair of parameters, observed failures are denser than safe points.

    Attributes
    ----------
    names
        The two parameters.
    centre, scale
        Mean and standard deviation of each axis (the kernel works in these units).
    points, failure
        The observed points (physical units, ``(n, 2)``) and their failure flags.
    bandwidth
        The Gaussian kernel's bandwidth, in standard deviations.
    recall, false_alarm
        Leave-one-out fractions of the failed points classified inside the region and of
        the safe points classified inside it.

    Notes
    -----
    With Gaussian kernel density estimates :math:`\hat f_F` of the failed and
    :math:`\hat f_S` of the safe points (each a density, so each class weighs the same
    whatever its count), the failure region is
    :math:`\{z : \log \hat f_F(z) - \log \hat f_S(z) > 0\}`, the decision region of the
    class-balanced kernel classifier, restricted to within
    :data:`SUPPORT_BANDWIDTHS` bandwidths of an observed point. The other parameters vary
    as in the sample (a projection, not a section through a point), so the region shows
    where the plotted failures are, not the limit state :math:`g = 0` at fixed values of
    the others.
    """

    names: tuple[str, str]
    centre: _Array
    scale: _Array
    points: _Array = field(repr=False)
    failure: np.ndarray = field(repr=False)
    bandwidth: float
    recall: float
    false_alarm: float

    def score(self, xy: Any) -> _Array:
        """Log density ratio failed/safe at ``xy`` (``(m, 2)``); NaN outside the support."""
        z = (np.asarray(xy, dtype=float).reshape(-1, 2) - self.centre) / self.scale
        data = (self.points - self.centre) / self.scale
        squared = _squared_distances(z, data)
        value = _log_ratio(squared, self.failure, self.bandwidth)
        nearest = np.sqrt(squared.min(axis=1))
        return np.where(nearest <= SUPPORT_BANDWIDTHS * self.bandwidth, value, np.nan)

    @property
    def balanced_accuracy(self) -> float:
        """Leave-one-out balanced accuracy, ``(recall + 1 - false_alarm) / 2`` (0.5: chance)."""
        return 0.5 * (self.recall + 1.0 - self.false_alarm)

    @property
    def supported(self) -> bool:
        """Whether the pair separates failures well enough to draw a boundary on it."""
        return self.balanced_accuracy >= MIN_BALANCED_ACCURACY

    def contains(self, xy: Any) -> np.ndarray:
        """Whether each point of ``xy`` (``(m, 2)``) lies in the drawn failure region."""
        return np.asarray(np.nan_to_num(self.score(xy), nan=-np.inf) > 0.0)


def fit_boundary(
    xy: Any,
    failure: Any,
    *,
    names: Sequence[str] = ("a", "b"),
    max_points: int = 1000,
    seed: SeedLike = 0,
) -> EmpiricalBoundary:
    r"""The empirical failure boundary of points projected onto two parameters.

    Parameters
    ----------
    xy
        ``(n, 2)`` points (physical units).
    failure
        ``n`` failure flags.
    names
        The two parameters' names.
    max_points
        At most this many points are kept (all failures up to half of them, the rest
        safe points drawn at random).
    seed
        Seed of that subset.

    Returns
    -------
    EmpiricalBoundary

    Raises
    ------
    ValidationError
        ``xy`` is not ``(n, 2)`` with one finite flag per row, or has no point.

    Notes
    -----
    The bandwidth is the one of :data:`BANDWIDTHS` with the best leave-one-out balanced
    accuracy (the largest among equals: the smoothest boundary the points support).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> xy = rng.uniform(0.0, 80.0, size=(400, 2))
    >>> boundary = fit_boundary(xy, xy[:, 0] < 20.0, names=("gap", "speed"))
    >>> bool(boundary.contains([[5.0, 40.0]])[0]), bool(boundary.contains([[60.0, 40.0]])[0])
    (True, False)
    >>> boundary.recall > 0.9 and boundary.false_alarm < 0.1
    True
    """
    points = np.asarray(xy, dtype=float)
    flags = np.asarray(failure, dtype=bool).ravel()
    if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(flags) or not len(flags):
        raise ValidationError(
            "needs (n, 2) points with one failure flag each",
            field="xy",
            value=f"shape {points.shape}, {flags.size} flags",
            expected="n >= 1 rows of two coordinates",
        )
    if not np.isfinite(points).all():
        raise ValidationError("points must be finite", field="xy", expected="finite coordinates")
    keep = _subset(flags, max_points, as_generator(seed))
    points, flags = points[keep], flags[keep]
    centre = points.mean(axis=0)
    scale = points.std(axis=0)
    scale[scale == 0.0] = 1.0
    data = (points - centre) / scale
    squared = _squared_distances(data, data)
    np.fill_diagonal(squared, np.inf)  # leave one out
    trials: list[tuple[float, float, float, float]] = []
    for bandwidth in BANDWIDTHS:
        inside = _log_ratio(squared, flags, bandwidth) > 0.0
        recall = float(inside[flags].mean()) if flags.any() else 1.0
        false_alarm = float(inside[~flags].mean()) if (~flags).any() else 0.0
        trials.append((0.5 * (recall + 1.0 - false_alarm), bandwidth, recall, false_alarm))
    _, bandwidth, recall, false_alarm = max(trials)  # ties: the larger bandwidth
    return EmpiricalBoundary(
        names=(str(names[0]), str(names[1])),
        centre=centre,
        scale=scale,
        points=points,
        failure=flags,
        bandwidth=float(bandwidth),
        recall=recall,
        false_alarm=false_alarm,
    )


def plot_slices(
    regions: CriticalRegions,
    top: int = 3,
    *,
    resolution: int = 60,
    max_points: int = 1000,
    seed: SeedLike = 0,
) -> Figure:
    """The failure region of the observed points over parameter pairs (see ``plot_slices``)."""
    from matplotlib.figure import Figure

    check_options(_CONSTRAINTS, top=top, resolution=resolution, max_points=max_points)
    names = list(regions.parameter_names)
    pairs = regions.top_pairs(top) if len(names) > 1 else []
    if not pairs:
        raise ValidationError(
            "needs at least two parameters and top >= 1",
            field="top",
            value=top,
            expected="an int >= 1 with a result of dimension >= 2",
        )
    rng = as_generator(seed)
    x = regions.points[names].to_numpy(dtype=float)
    failure = regions.points["failure"].to_numpy(dtype=bool)
    mode = regions.points["mode"].to_numpy(dtype=np.int64)
    anchor = np.asarray(regions.design_points[0].x, dtype=float) if regions.design_points else None
    figure = Figure(figsize=(4.5 * len(pairs), 4.4), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(pairs), squeeze=False)[0])
    for ax, (a, b) in zip(axes, pairs, strict=True):
        i, j = names.index(a), names.index(b)
        boundary = fit_boundary(x[:, [i, j]], failure, names=(a, b), max_points=max_points,
                                seed=rng)
        _draw_region(ax, boundary, x[:, [i, j]], resolution)
        ax.scatter(x[~failure, i], x[~failure, j], s=4, c="0.75", label="safe")
        for m in sorted(set(mode[failure].tolist())):
            sel = failure & (mode == m)
            ax.scatter(x[sel, i], x[sel, j], s=10, label=f"mode {m}")
        if anchor is not None:
            ax.plot(anchor[i], anchor[j], marker="*", ms=12, color="k", ls="",
                    label="design point")
        ax.set_xlabel(_axis_label(a, regions.units))
        ax.set_ylabel(_axis_label(b, regions.units))
        detail = (
            f"{boundary.recall:.0%} of failures inside, {boundary.false_alarm:.0%} of safe "
            "(leave-one-out)"
            if boundary.supported
            else "no boundary: the pair does not separate the failures\n(leave-one-out "
            f"balanced accuracy {boundary.balanced_accuracy:.2f} < {MIN_BALANCED_ACCURACY})"
        )
        ax.set_title(f"failure region: {a} × {b}\n{detail}", fontsize=8)
    axes[0].legend(loc="best", fontsize="small")
    figure.suptitle(
        "Where the observed failures are denser than the safe points (other parameters as "
        "sampled; not drawn away from the points)",
        fontsize=9,
    )
    return figure


def _draw_region(ax: Axes, boundary: EmpiricalBoundary, xy: _Array, resolution: int) -> None:
    """Shade the failure region of ``boundary`` and outline it, on a grid over ``xy``.

    Nothing is drawn when the pair does not separate the failures
    (:attr:`EmpiricalBoundary.supported`): a boundary there would be noise.
    """
    if not boundary.supported:
        return
    low, high = xy.min(axis=0), xy.max(axis=0)
    pad = 0.02 * np.where(high > low, high - low, 1.0)
    ga = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution)
    gb = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution)
    aa, bb = np.meshgrid(ga, gb)
    score = boundary.score(np.column_stack([aa.ravel(), bb.ravel()])).reshape(aa.shape)
    surface = np.ma.masked_invalid(np.clip(score, -50.0, 50.0))
    if surface.count() and surface.max() > 0.0:
        ax.contourf(aa, bb, surface, levels=[0.0, 51.0], colors=["#f4cccc"])
        if surface.min() < 0.0:
            ax.contour(aa, bb, surface, levels=[0.0], colors="crimson", linewidths=1.5)
    else:
        ax.text(0.5, 0.02, "no failure region on this pair", transform=ax.transAxes,
                ha="center", fontsize=8)


def _squared_distances(z: _Array, data: _Array) -> _Array:
    """Squared Euclidean distance between each row of ``z`` and each row of ``data``."""
    squared = (
        np.sum(z**2, axis=1)[:, None] + np.sum(data**2, axis=1)[None, :] - 2.0 * z @ data.T
    )
    return np.asarray(np.clip(squared, 0.0, None), dtype=float)


def _log_ratio(squared: _Array, failure: np.ndarray, bandwidth: float) -> _Array:
    """``log f_F - log f_S`` of Gaussian kernel densities, from squared distances.

    ``-inf`` where neither class has kernel mass (or there are no failures), ``inf``
    where only the failures have (or there are no safe points).
    """
    n_fail, n_safe = int(failure.sum()), int((~failure).sum())
    if n_fail == 0:
        return np.full(len(squared), -np.inf)
    if n_safe == 0:
        return np.full(len(squared), np.inf)
    kernel = np.exp(-0.5 * squared / bandwidth**2)
    classes = np.column_stack([failure, ~failure]).astype(float)
    mass = kernel @ classes / np.array([n_fail, n_safe], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log(mass[:, 0]) - np.log(mass[:, 1])
    return np.asarray(np.where(np.isnan(ratio), -np.inf, ratio), dtype=float)


def _subset(failure: np.ndarray, max_points: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``max_points`` rows: failures up to half of them, safe points for the rest."""
    if len(failure) <= max_points:
        return np.arange(len(failure))
    failed, safe = np.flatnonzero(failure), np.flatnonzero(~failure)
    n_fail = min(len(failed), max_points // 2)
    n_safe = min(len(safe), max_points - n_fail)
    n_fail = min(len(failed), max_points - n_safe)
    chosen = np.concatenate(
        [rng.choice(failed, n_fail, replace=False), rng.choice(safe, n_safe, replace=False)]
    )
    return np.sort(chosen)


def _axis_label(name: str, units: Mapping[str, str]) -> str:
    unit = units.get(name, "")
    return f"{name} [{unit}]" if unit and unit != "-" else name
