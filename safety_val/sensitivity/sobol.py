r"""Sobol' first- and total-order indices with Saltelli sampling (SALib) in the unit cube.

The design is SALib's scrambled Sobol'-sequence Saltelli scheme without second-order
terms: ``N (k + 2)`` model calls for a base sample of ``N`` (a power of two) points.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pandas as pd
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import sobol as sobol_sample

from safety_val.errors import ValidationError
from safety_val.sensitivity._common import index_rows, unit_problem

__all__ = ["MIN_BASE_SAMPLES", "sample_saltelli", "sobol_indices", "sobol_minimum_calls"]

_Array = np.ndarray[Any, np.dtype[np.float64]]

#: Smallest base sample N (a power of two) accepted for the Saltelli design.
MIN_BASE_SAMPLES: Final = 16


def sobol_minimum_calls(k: int) -> int:
    """Fewest model calls for ``k`` inputs: ``MIN_BASE_SAMPLES * (k + 2)``."""
    return MIN_BASE_SAMPLES * (k + 2)


def base_size(k: int, n_calls: int) -> int:
    """The largest power of two ``N`` with ``N (k + 2) <= n_calls`` (0 if none ≥ 1)."""
    per_point = k + 2
    if n_calls < per_point:
        return 0
    return 1 << int(np.floor(np.log2(n_calls // per_point)))


def sample_saltelli(k: int, n_calls: int, *, seed: int) -> _Array:
    r"""Saltelli design in the unit cube using at most ``n_calls`` model calls.

    Parameters
    ----------
    k
        Number of inputs.
    n_calls
        Budget; the base sample is the largest power of two ``N`` with
        ``N (k + 2) <= n_calls``.
    seed
        Integer seed of the scrambling.

    Returns
    -------
    numpy.ndarray
        ``(N (k + 2), k)`` points, in SALib's order (blocks of ``k + 2`` rows per base
        point: :math:`A_j, A_B^{(1)}_j, \dots, A_B^{(k)}_j, B_j`).

    Raises
    ------
    ValidationError
        If ``N`` would be below :data:`MIN_BASE_SAMPLES`.

    Examples
    --------
    >>> sample_saltelli(3, 100, seed=1).shape
    (80, 3)
    """
    n_base = base_size(k, n_calls)
    if n_base < MIN_BASE_SAMPLES:
        raise ValidationError(
            f"too few samples for sobol: {n_calls} calls give a base sample of {n_base}",
            field="n",
            value=n_calls,
            expected=f"n >= {sobol_minimum_calls(k)} (Saltelli base sample N a power of two "
            f">= {MIN_BASE_SAMPLES}, N (k + 2) calls with k = {k})",
        )
    names = [f"u{i}" for i in range(k)]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*balance properties.*")
        x = sobol_sample.sample(unit_problem(names), n_base, calc_second_order=False, seed=seed)
    return np.asarray(x, dtype=float)


def sobol_indices(
    names: Sequence[str],
    y: _Array,
    *,
    seed: int,
    conf_level: float = 0.95,
    num_resamples: int = 200,
) -> pd.DataFrame:
    r"""First-order ``S1`` and total-order ``ST`` Sobol' indices with bootstrap intervals.

    Parameters
    ----------
    names
        Input names.
    y
        Outputs of the design of :func:`sample_saltelli`, in its row order.
    seed
        Integer seed of the bootstrap.
    conf_level
        Level of the bootstrap intervals.
    num_resamples
        Bootstrap resamples.

    Returns
    -------
    pandas.DataFrame
        Long table with indices ``S1`` and ``ST`` and their intervals.

    Notes
    -----
    With :math:`V = \mathrm{Var}(Y)`, the Saltelli (2010) estimators are
    :math:`S_i = \frac{1}{N V}\sum_j f(B)_j \,[f(A_B^{(i)})_j - f(A)_j]` and
    Jansen's :math:`S_{Ti} = \frac{1}{2 N V}\sum_j [f(A)_j - f(A_B^{(i)})_j]^2`.
    :math:`S_i` is the share of variance explained by :math:`X_i` alone; :math:`S_{Ti}`
    adds all its interactions. Both assume independent inputs.

    References
    ----------
    Saltelli, A., Annoni, P., Azzini, I., Campolongo, F., Ratto, M., Tarantola, S. (2010).
    Variance based sensitivity analysis of model output. Design and estimator for the
    total sensitivity index. Comput. Phys. Commun. 181(2), 259-270.
    doi:10.1016/j.cpc.2009.09.018

    Examples
    --------
    >>> x = sample_saltelli(2, 4096, seed=2)
    >>> table = sobol_indices(["a", "b"], 2 * x[:, 0] + x[:, 1], seed=2)
    >>> table.query("index == 'S1'")["value"].round(1).tolist()
    [0.8, 0.2]
    """
    result = sobol_analyze.analyze(
        unit_problem(list(names)),
        np.asarray(y, dtype=float),
        calc_second_order=False,
        num_resamples=num_resamples,
        conf_level=conf_level,
        seed=seed,
    )
    return pd.concat(
        [
            index_rows("sobol", names, "S1", result["S1"], result["S1_conf"]),
            index_rows("sobol", names, "ST", result["ST"], result["ST_conf"]),
        ],
        ignore_index=True,
    )
