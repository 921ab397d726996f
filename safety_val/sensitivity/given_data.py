r"""Given-data sensitivity methods: RBD-FAST, delta moment-independent, PAWN (SALib).

These methods need no special design: they work on any sample ``X`` with outputs
``y`` — a Monte Carlo or LHS design, the DOE samples already simulated, samples of
dependent (copula) inputs. With dependent inputs the indices measure how much the
output changes with an input *including* what it carries of its correlated partners.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pandas as pd
from SALib.analyze import delta as delta_analyze
from SALib.analyze import pawn as pawn_analyze
from SALib.analyze import rbd_fast as rbd_fast_analyze
from scipy import stats
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from safety_val.errors import ValidationError
from safety_val.sensitivity._common import index_rows, isolated_global_state, unit_problem

__all__ = [
    "DELTA_MIN_SAMPLES",
    "PAWN_MIN_SAMPLES",
    "RBD_FAST_HARMONICS",
    "RBD_FAST_MIN_SAMPLES",
    "delta_indices",
    "pawn_indices",
    "rbd_fast_indices",
]

_Array = np.ndarray[Any, np.dtype[np.float64]]

#: Harmonics M used by RBD-FAST.
RBD_FAST_HARMONICS: Final = 10
#: RBD-FAST needs the spectrum well beyond its M harmonics: n >= 2 M (M + 1) points.
RBD_FAST_MIN_SAMPLES: Final = 2 * RBD_FAST_HARMONICS * (RBD_FAST_HARMONICS + 1)
#: Delta needs at least 10 points in each of its conditioning classes (SALib's rule).
DELTA_MIN_SAMPLES: Final = 100
#: Number of conditioning slices of PAWN.
PAWN_SLICES: Final = 10
#: PAWN compares each slice's CDF with the unconditional one: at least 10 points a slice.
PAWN_MIN_SAMPLES: Final = 10 * PAWN_SLICES


def _require(method: str, n: int, minimum: int, why: str) -> None:
    if n < minimum:
        raise ValidationError(
            f"too few samples for {method}: {n}",
            field="n",
            value=n,
            expected=f"n >= {minimum} ({why})",
        )


def rbd_fast_indices(
    names: Sequence[str], x: _Array, y: _Array, *, seed: int, conf_level: float = 0.95
) -> pd.DataFrame:
    r"""First-order indices by random balance designs FAST on given data.

    Parameters
    ----------
    names
        Input names, one per column of ``x``.
    x
        ``(n, k)`` sample (any design, any distribution; categorical inputs as codes).
    y
        ``n`` outputs.
    seed
        Integer seed of the bootstrap.
    conf_level
        Level of the bootstrap interval.

    Returns
    -------
    pandas.DataFrame
        Long table with index ``S1`` and its interval.

    Raises
    ------
    ValidationError
        If ``n < RBD_FAST_MIN_SAMPLES``.

    Notes
    -----
    The outputs are reordered along the ranks of :math:`x_i` (Plischke's search curve),
    which makes :math:`x_i` a periodic signal; the first-order index is the spectral
    power in the first :math:`M` harmonics over the total,
    :math:`S_i = \sum_{m=1}^{M} |\hat Y(m)|^2 / \sum_{m \ge 1} |\hat Y(m)|^2`, with the
    bias correction :math:`S_i \leftarrow S_i - \lambda (1 - S_i)`, :math:`\lambda = 2M/n`.

    References
    ----------
    Plischke, E. (2010). An effective algorithm for computing global sensitivity indices
    (EASI). Reliab. Eng. Syst. Saf. 95(4), 354-360. doi:10.1016/j.ress.2009.11.005

    Tarantola, S., Gatelli, D., Mara, T. A. (2006). Random balance designs for the
    estimation of first order global sensitivity indices. Reliab. Eng. Syst. Saf. 91(6),
    717-727. doi:10.1016/j.ress.2005.06.003

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((500, 2))
    >>> table = rbd_fast_indices(["a", "b"], x, 3 * x[:, 0] + x[:, 1], seed=1)
    >>> table["value"].round(1).tolist()
    [0.9, 0.1]
    """
    _require(
        "rbd_fast",
        len(y),
        RBD_FAST_MIN_SAMPLES,
        f"RBD-FAST with M = {RBD_FAST_HARMONICS} harmonics needs 2 M (M + 1) points",
    )
    problem = {"num_vars": len(names), "names": list(names)}
    with isolated_global_state():
        result = rbd_fast_analyze.analyze(
            problem,
            np.asarray(x, dtype=float),
            np.asarray(y, dtype=float),
            M=RBD_FAST_HARMONICS,
            conf_level=conf_level,
            seed=seed,
        )
    return index_rows("rbd_fast", names, "S1", result["S1"], result["S1_conf"])


def delta_indices(
    names: Sequence[str],
    x: _Array,
    y: _Array,
    *,
    seed: int,
    conf_level: float = 0.95,
    num_resamples: int = 30,
) -> tuple[pd.DataFrame, list[str]]:
    r"""Borgonovo's moment-independent delta index (and a first-order estimate) on given data.

    Parameters
    ----------
    names
        Input names, one per column of ``x``.
    x
        ``(n, k)`` sample (any design, any distribution).
    y
        ``n`` outputs.
    seed
        Integer seed of the bootstrap.
    conf_level
        Level of the bootstrap intervals.
    num_resamples
        Bootstrap resamples of the bias reduction.

    Returns
    -------
    tuple of pandas.DataFrame and list of str
        Long table with index ``delta`` and its interval, and SALib's notes
        (e.g. an input whose values are too few or too concentrated to be binned: its
        row is NaN; an output so nearly constant that a resample's kernel density is
        singular: every row is NaN).

    Raises
    ------
    ValidationError
        If ``n < DELTA_MIN_SAMPLES``.

    Notes
    -----
    :math:`\delta_i = \tfrac12 E_{X_i}\left[\int |f_Y(y) - f_{Y|X_i}(y)|\,dy\right]`,
    the expected shift of the whole output density when :math:`X_i` is known; it is 0
    exactly when :math:`Y` is independent of :math:`X_i` and needs no independence
    between inputs. Estimated with kernel densities over equal-frequency classes of
    :math:`X_i` and a bias-reduced bootstrap (Plischke, Borgonovo & Smith 2013).

    References
    ----------
    Borgonovo, E. (2007). A new uncertainty importance measure. Reliab. Eng. Syst. Saf.
    92(6), 771-784. doi:10.1016/j.ress.2006.04.015

    Plischke, E., Borgonovo, E., Smith, C. L. (2013). Global sensitivity measures from
    given data. Eur. J. Oper. Res. 226(3), 536-550. doi:10.1016/j.ejor.2012.11.047

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((400, 2))
    >>> table, _ = delta_indices(["a", "b"], x, 3 * x[:, 0] + x[:, 1], seed=1)
    >>> d = table.query("index == 'delta'")["value"].tolist()
    >>> d[0] > d[1]
    True
    """
    _require(
        "delta",
        len(y),
        DELTA_MIN_SAMPLES,
        "delta's conditioning classes need at least 10 points each",
    )
    problem = {"num_vars": len(names), "names": [f"u{i}" for i in range(len(names))]}
    # delta is invariant under monotone maps of X_i: positive ranks give equal-frequency
    # classes and skip SALib's "step" variant (meant for inputs with a mass at 0).
    values = np.asarray(x, dtype=float)
    ranks = np.column_stack(
        [stats.rankdata(values[:, j]) / len(values) for j in range(values.shape[1])]
    )
    # SALib's delta switches warnings to "once" itself: record them instead of showing them
    with (
        isolated_global_state(),
        warnings.catch_warnings(record=True),
        threadpool_limits(limits=1, user_api="blas"),  # small KDEs: threads only contend
    ):
        try:
            result = delta_analyze.analyze(
                problem,
                ranks,
                np.asarray(y, dtype=float),
                num_resamples=num_resamples,
                conf_level=conf_level,
                seed=seed,
                method="delta",
            )
        except ValueError as error:  # SALib stops at the first singular kernel density
            if "singular" not in str(error).lower():
                raise
            nan = np.full(len(names), np.nan)
            note = (
                "delta: undefined for every input: the output is (nearly) constant in a "
                "resample, so its kernel density is singular; rank an output that varies"
            )
            return index_rows("delta", names, "delta", nan, nan), [note]
    notes = [
        f"delta: {name}: {note}"
        for name, note in zip(names, result.get("notes", []) or [], strict=False)
        if note and not note.startswith("Step:")
    ]
    table = index_rows(
        "delta", names, "delta", result["delta_balanced"], result["delta_balanced_conf"]
    )
    return table, notes


def pawn_indices(names: Sequence[str], x: _Array, y: _Array, *, seed: int) -> pd.DataFrame:
    r"""PAWN density-based indices (Kolmogorov-Smirnov statistics over slices) on given data.

    Parameters
    ----------
    names
        Input names, one per column of ``x``.
    x
        ``(n, k)`` sample (any design, any distribution).
    y
        ``n`` outputs.
    seed
        Integer seed (SALib's PAWN is deterministic; kept for a uniform interface).

    Returns
    -------
    pandas.DataFrame
        Long table with indices ``median`` (the PAWN index), ``mean`` and ``maximum``
        of the KS statistics over the slices (no intervals).

    Raises
    ------
    ValidationError
        If ``n < PAWN_MIN_SAMPLES``.

    Notes
    -----
    The range of :math:`X_i` is cut into :math:`S = 10` equal-probability slices; in
    each, :math:`KS_s = \max_y |F_Y(y) - F_{Y|X_i \in s}(y)|`. The PAWN index is
    :math:`T_i = \mathrm{median}_s\, KS_s` (Pianosi & Wagener 2018 given-data variant).

    References
    ----------
    Pianosi, F., Wagener, T. (2015). A simple and efficient method for global sensitivity
    analysis based on cumulative distribution functions. Environ. Model. Softw. 67, 1-11.
    doi:10.1016/j.envsoft.2015.01.004

    Pianosi, F., Wagener, T. (2018). Distribution-based sensitivity analysis from a generic
    input-output sample. Environ. Model. Softw. 108, 197-207.
    doi:10.1016/j.envsoft.2018.07.019

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((500, 2))
    >>> table = pawn_indices(["a", "b"], x, 3 * x[:, 0] + x[:, 1], seed=1)
    >>> m = table.query("index == 'median'")["value"].tolist()
    >>> m[0] > m[1]
    True
    """
    _require(
        "pawn",
        len(y),
        PAWN_MIN_SAMPLES,
        f"PAWN with {PAWN_SLICES} slices needs at least 10 points a slice",
    )
    with isolated_global_state():
        result = pawn_analyze.analyze(
            unit_problem([f"u{i}" for i in range(len(names))]),
            np.asarray(x, dtype=float),
            np.asarray(y, dtype=float),
            S=PAWN_SLICES,
            seed=seed,
        )
    return pd.concat(
        [
            index_rows("pawn", names, "median", result["median"]),
            index_rows("pawn", names, "mean", result["mean"]),
            index_rows("pawn", names, "maximum", result["maximum"]),
        ],
        ignore_index=True,
    )
