r"""Morris elementary effects (SALib ``sample.morris`` / ``analyze.morris``) in the unit cube.

Sampling happens in :math:`[0, 1]^k`; the caller maps the points to physical values
through each marginal's quantile function. The effects are therefore per unit-cube
step: :math:`\mu^*` is in output units and comparable across inputs whatever their
physical units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pandas as pd
from SALib.analyze import morris as morris_analyze
from SALib.sample import morris as morris_sample

from safety_val.errors import ValidationError
from safety_val.sensitivity._common import index_rows, unit_problem

__all__ = ["MIN_TRAJECTORIES", "morris_indices", "morris_minimum_calls", "sample_morris"]

_Array = np.ndarray[Any, np.dtype[np.float64]]

#: Fewest trajectories that give a usable σ and a bootstrap interval for μ*.
MIN_TRAJECTORIES: Final = 4

#: Number of grid levels of the Morris design.
NUM_LEVELS: Final = 4


def morris_minimum_calls(k: int) -> int:
    """Fewest model calls for ``k`` inputs: ``MIN_TRAJECTORIES * (k + 1)``."""
    return MIN_TRAJECTORIES * (k + 1)


def sample_morris(k: int, n_calls: int, *, seed: int) -> _Array:
    """Morris trajectories in the unit cube using at most ``n_calls`` model calls.

    Parameters
    ----------
    k
        Number of inputs.
    n_calls
        Budget: ``r = n_calls // (k + 1)`` trajectories of ``k + 1`` points each.
    seed
        Integer seed passed to SALib.

    Returns
    -------
    numpy.ndarray
        ``(r (k + 1), k)`` points on a ``4``-level grid of :math:`[0, 1]^k`.

    Raises
    ------
    ValidationError
        If the budget gives fewer than :data:`MIN_TRAJECTORIES` trajectories.

    Examples
    --------
    >>> sample_morris(2, 30, seed=1).shape
    (30, 2)
    """
    trajectories = n_calls // (k + 1)
    if trajectories < MIN_TRAJECTORIES:
        raise ValidationError(
            f"too few samples for morris: {n_calls} calls give {trajectories} trajectories",
            field="n",
            value=n_calls,
            expected=f"n >= {morris_minimum_calls(k)} ({MIN_TRAJECTORIES} trajectories of "
            f"k + 1 = {k + 1} points)",
        )
    names = [f"u{i}" for i in range(k)]
    x = morris_sample.sample(unit_problem(names), trajectories, num_levels=NUM_LEVELS, seed=seed)
    return np.asarray(x, dtype=float)


def morris_indices(
    names: Sequence[str],
    unit_x: _Array,
    y: _Array,
    *,
    seed: int,
    conf_level: float = 0.95,
    num_resamples: int = 200,
) -> pd.DataFrame:
    r"""Morris :math:`\mu^*`, :math:`\mu` and :math:`\sigma` of each input.

    Parameters
    ----------
    names
        Input names, one per column of ``unit_x``.
    unit_x
        The trajectories from :func:`sample_morris` (unit cube).
    y
        Model outputs, one per row.
    seed
        Integer seed of the bootstrap.
    conf_level
        Level of the bootstrap interval of :math:`\mu^*`.
    num_resamples
        Bootstrap resamples.

    Returns
    -------
    pandas.DataFrame
        Long table (``parameter, method, index, value, ci_low, ci_high``) with indices
        ``mu_star`` (with CI), ``mu`` and ``sigma``.

    Notes
    -----
    The elementary effect of input :math:`i` along a trajectory is
    :math:`EE_i = [f(x + \Delta e_i) - f(x)]/\Delta` with :math:`\Delta = p/(2(p-1))`
    for :math:`p` levels; :math:`\mu^* = \mathrm{mean}|EE_i|` measures the overall
    influence and :math:`\sigma = \mathrm{sd}(EE_i)` non-linearity or interactions.

    References
    ----------
    Morris, M. D. (1991). Factorial sampling plans for preliminary computational
    experiments. Technometrics 33(2), 161-174. doi:10.1080/00401706.1991.10484804

    Campolongo, F., Cariboni, J., Saltelli, A. (2007). An effective screening design for
    sensitivity analysis of large models. Environ. Model. Softw. 22(10), 1509-1518.
    doi:10.1016/j.envsoft.2006.10.004

    Examples
    --------
    >>> x = sample_morris(2, 60, seed=3)
    >>> table = morris_indices(["a", "b"], x, 5 * x[:, 0] + x[:, 1], seed=3)
    >>> table.query("index == 'mu_star'")["value"].round(6).tolist()
    [5.0, 1.0]
    """
    result = morris_analyze.analyze(
        unit_problem(list(names)),
        np.asarray(unit_x, dtype=float),
        np.asarray(y, dtype=float),
        num_resamples=num_resamples,
        conf_level=conf_level,
        num_levels=NUM_LEVELS,
        seed=seed,
    )
    return pd.concat(
        [
            index_rows("morris", names, "mu_star", result["mu_star"], result["mu_star_conf"]),
            index_rows("morris", names, "mu", result["mu"]),
            index_rows("morris", names, "sigma", result["sigma"]),
        ],
        ignore_index=True,
    )
