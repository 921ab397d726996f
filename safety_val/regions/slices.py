"""The limit-state slice plot: the g = 0 contour of a Gaussian-process surrogate over pairs.

:meth:`CriticalRegions.plot_slices <safety_val.regions.CriticalRegions.plot_slices>`
calls :func:`plot_slices` here.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from safety_val._random import SeedLike, as_generator, derive_seed
from safety_val.errors import ValidationError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from safety_val.regions.result import CriticalRegions

_Array = np.ndarray[Any, np.dtype[np.float64]]


def plot_slices(
    regions: CriticalRegions,
    top: int = 3,
    *,
    resolution: int = 60,
    max_points: int = 400,
    seed: SeedLike = 0,
) -> Figure:
    """2-D slices of the limit-state boundary of ``regions`` (see its ``plot_slices``)."""
    from matplotlib.figure import Figure
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

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
    g = regions.points["g"].to_numpy(dtype=float)
    chosen = _surrogate_subset(g, max_points, rng)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0.0] = 1.0
    kernel = ConstantKernel(1.0) * RBF(np.ones(len(names)), (1e-2, 1e2)) + WhiteKernel(
        1e-2, (1e-6, 1e0)
    )
    gp = GaussianProcessRegressor(
        kernel, normalize_y=True, random_state=derive_seed(rng), n_restarts_optimizer=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gp.fit((x[chosen] - mean) / scale, g[chosen])
    anchor = np.asarray(regions.design_points[0].x, dtype=float)
    figure = Figure(figsize=(4.5 * len(pairs), 4.2), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(pairs), squeeze=False)[0])
    failure = regions.points["failure"].to_numpy(dtype=bool)
    mode = regions.points["mode"].to_numpy(dtype=np.int64)
    for ax, (a, b) in zip(axes, pairs, strict=True):
        i, j = names.index(a), names.index(b)
        ga = np.linspace(x[:, i].min(), x[:, i].max(), resolution)
        gb = np.linspace(x[:, j].min(), x[:, j].max(), resolution)
        aa, bb = np.meshgrid(ga, gb)
        grid = np.tile(anchor, (aa.size, 1))
        grid[:, i], grid[:, j] = aa.ravel(), bb.ravel()
        surface = gp.predict((grid - mean) / scale).reshape(aa.shape)
        if surface.min() < 0.0:  # shade the predicted failure region, if the slice has one
            ax.contourf(aa, bb, surface, levels=[surface.min() - 1.0, 0.0], colors=["#f4cccc"])
        else:
            ax.set_title(f"{ax.get_title()} (no g <= 0 on this slice)", fontsize=8)
        if surface.min() < 0.0 < surface.max():
            ax.contour(aa, bb, surface, levels=[0.0], colors="crimson", linewidths=1.5)
        ax.scatter(x[~failure, i], x[~failure, j], s=4, c="0.75", label="safe")
        for m in sorted(set(mode[failure].tolist())):
            sel = mode == m
            ax.scatter(x[sel, i], x[sel, j], s=10, label=f"mode {m}")
        ax.plot(anchor[i], anchor[j], marker="*", ms=12, color="k", ls="")
        ax.set_xlabel(_axis_label(a, regions.units))
        ax.set_ylabel(_axis_label(b, regions.units))
        ax.set_title(f"g = 0 slice: {a} × {b}")
    axes[0].legend(loc="best", fontsize="small")
    return figure


def _surrogate_subset(g: _Array, max_points: int, rng: np.random.Generator) -> np.ndarray:
    if len(g) <= max_points:
        return np.arange(len(g))
    near = np.argsort(np.abs(g), kind="stable")[: max_points // 2]
    rest = np.setdiff1d(np.arange(len(g)), near)
    extra = rng.choice(rest, size=max_points - near.size, replace=False)
    return np.sort(np.concatenate([near, extra]))


def _axis_label(name: str, units: Mapping[str, str]) -> str:
    unit = units.get(name, "")
    return f"{name} [{unit}]" if unit and unit != "-" else name
