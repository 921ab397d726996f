r"""The noise floor of a sensitivity estimator, and which indices rise above it.

An estimator of a sensitivity index does not return 0 for an input that does nothing:
the given-data estimators (delta, PAWN, RBD-FAST) are biased upwards by an amount that
depends on the sample size and on the output (a rare failure label, a margin saturated
at a cap). Following the practice of SALib's and SAFE's users and of the literature
(Khorashadi Zadeh et al. 2017), the floor is measured: independent uniform *dummy*
inputs, which the model does not use, are put through the same estimator with the same
outputs, and an input counts as influential only when its index rises above the largest
dummy index.

The design-based methods need no dummy: in a Morris or Saltelli design an input that the
model does not use has elementary effects and variance contributions of exactly 0, so
their floor is 0 and the index's bootstrap interval decides.

References
----------
Khorashadi Zadeh, F., Nossent, J., Sarrazin, F., Pianosi, F., van Griensven, A.,
Wagener, T., Bauwens, W. (2017). Comparison of variance-based and moment-independent
global sensitivity analysis approaches by application to the SWAT model. Environ. Model.
Softw. 91, 210-222. doi:10.1016/j.envsoft.2017.02.001

Pianosi, F., Sarrazin, F., Wagener, T. (2016). A Matlab toolbox for Global Sensitivity
Analysis. Environ. Model. Softw. 70, 80-85. doi:10.1016/j.envsoft.2015.04.009
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

__all__ = [
    "NOISE_COLUMNS",
    "NoiseKind",
    "above_any",
    "dummy_floor",
    "mark_indices",
    "noise_notes",
    "zero_floor",
]

_Array = np.ndarray[Any, np.dtype[np.float64]]

NoiseKind = Literal["dummy", "zero"]
"""How a method's floor is found: dummy inputs through the estimator, or exactly 0."""

#: Columns of the noise-floor table of a :class:`~safety_val.sensitivity.SensitivityResult`.
NOISE_COLUMNS: Final = ("method", "index", "floor", "n_dummies", "dummy_mean", "basis")

#: Prefix of the dummy inputs' names (they never reach the index table).
DUMMY_PREFIX: Final = "(dummy"


def dummy_floor(
    method: str,
    main_index: str,
    estimate: Callable[..., tuple[pd.DataFrame, list[str]]],
    y: _Array,
    *,
    n_dummies: int,
    rng: np.random.Generator,
    seed: int,
) -> dict[str, Any]:
    r"""The noise floor of a given-data estimator: its largest index over dummy inputs.

    Parameters
    ----------
    method, main_index
        The method and the index the ranking uses.
    estimate
        ``estimate(names, x, y, seed=...)`` → the long index table and notes (a
        :class:`~safety_val.sensitivity.MethodSpec` ``estimate``).
    y
        The outputs the method ranked.
    n_dummies
        Number of independent uniform dummy columns.
    rng
        Generator of the dummy columns.
    seed
        Integer seed passed to the estimator (its bootstrap).

    Returns
    -------
    dict
        A row of the noise-floor table (:data:`NOISE_COLUMNS`).

    Notes
    -----
    With :math:`m` dummies :math:`D_1, \dots, D_m \sim U(0, 1)` independent of the inputs
    and of :math:`y`, the floor is :math:`\max_j \hat S(D_j)`. For an input independent
    of :math:`y`, :math:`P(\hat S_i > \max_j \hat S(D_j)) = 1/(m + 1)` (exchangeability);
    :func:`mark_indices` compares the lower end of the input's interval, where the method
    gives one, which is stricter still.

    Examples
    --------
    >>> from safety_val.sensitivity.given_data import pawn_indices
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=300)
    >>> row = dummy_floor("pawn", "median", lambda n, x, y, seed: (pawn_indices(n, x, y,
    ...                   seed=seed), []), y, n_dummies=5, rng=rng, seed=1)
    >>> 0.0 < row["floor"] < 0.2, row["n_dummies"]
    (True, 5)
    """
    dummies = rng.random((len(y), int(n_dummies)))
    names = [f"{DUMMY_PREFIX} {j + 1})" for j in range(int(n_dummies))]
    table, _ = estimate(names, dummies, y, seed=seed)
    values = table.loc[table["index"] == main_index, "value"].to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    floor = float(finite.max()) if finite.size else np.nan
    return {
        "method": method,
        "index": main_index,
        "floor": floor,
        "n_dummies": int(n_dummies),
        "dummy_mean": float(finite.mean()) if finite.size else np.nan,
        "basis": (
            f"largest {main_index} of {int(n_dummies)} independent uniform dummy inputs "
            "through the same estimator and outputs"
        ),
    }


def zero_floor(method: str, main_index: str) -> dict[str, Any]:
    """The noise floor of a design-based method (Morris, Sobol'): exactly 0.

    Examples
    --------
    >>> zero_floor("sobol", "ST")["floor"]
    0.0
    """
    return {
        "method": method,
        "index": main_index,
        "floor": 0.0,
        "n_dummies": 0,
        "dummy_mean": 0.0,
        "basis": (
            f"an input the model does not use has {main_index} = 0 exactly in this design; "
            "the index counts when its bootstrap interval excludes 0"
        ),
    }


def mark_indices(indices: pd.DataFrame, floors: pd.DataFrame) -> pd.DataFrame:
    """Add ``noise_floor`` and ``above_noise`` to the main-index rows of ``indices``.

    Parameters
    ----------
    indices
        The long index table (``parameter, method, index, value, ci_low, ci_high``).
    floors
        The noise-floor table (:data:`NOISE_COLUMNS`).

    Returns
    -------
    pandas.DataFrame
        A copy with ``noise_floor`` (NaN on rows that are not a method's main index) and
        ``above_noise`` (``True``/``False`` there, ``None`` elsewhere): whether the lower
        end of the index's interval (the index itself where there is no interval) is
        above the floor. A NaN index is not above it.

    Examples
    --------
    >>> table = pd.DataFrame({"parameter": ["a", "b"], "method": "pawn", "index": "median",
    ...                       "value": [0.3, 0.05], "ci_low": np.nan, "ci_high": np.nan})
    >>> floors = pd.DataFrame([{"method": "pawn", "index": "median", "floor": 0.08}])
    >>> mark_indices(table, floors)["above_noise"].tolist()
    [True, False]
    """
    marked = indices.copy()
    methods = marked["method"].to_numpy(dtype=object)
    index_names = marked["index"].to_numpy(dtype=object)
    value = marked["value"].to_numpy(dtype=float)
    low = marked["ci_low"].to_numpy(dtype=float)
    statistic = np.where(np.isfinite(low), low, value)
    floor = np.full(len(marked), np.nan)
    above: list[bool | None] = [None] * len(marked)
    for method, index, level in zip(
        floors["method"], floors["index"], floors["floor"].to_numpy(dtype=float), strict=True
    ):
        for i in np.flatnonzero((methods == method) & (index_names == index)):
            floor[i] = level
            above[i] = bool(np.isfinite(statistic[i]) and statistic[i] > level)
    marked["noise_floor"] = floor
    marked["above_noise"] = pd.Series(above, index=marked.index, dtype=object)
    return marked


def noise_notes(
    marked: pd.DataFrame, floors: pd.DataFrame, names: Sequence[str]
) -> list[str]:
    """One note per method (its floor and the indices indistinguishable from it), and a summary.

    Examples
    --------
    >>> table = pd.DataFrame({"parameter": ["a", "b"], "method": "pawn", "index": "median",
    ...                       "value": [0.3, 0.05], "ci_low": np.nan, "ci_high": np.nan})
    >>> floors = pd.DataFrame([{"method": "pawn", "index": "median", "floor": 0.08,
    ...                         "basis": "dummies"}])
    >>> noise_notes(mark_indices(table, floors), floors, ["a", "b"])[0]
    'noise floor of pawn median: 0.08 (dummies); indistinguishable from it: b'
    """
    notes: list[str] = []
    flagged: Mapping[str, bool] = above_any(marked, names)
    for method, index, level, basis in zip(
        floors["method"], floors["index"], floors["floor"].to_numpy(dtype=float),
        floors["basis"], strict=True,
    ):
        rows = marked[(marked["method"] == method) & (marked["index"] == index)]
        below = [
            str(p) for p, a in zip(rows["parameter"], rows["above_noise"], strict=True)
            if a is False
        ]
        value = f"{level:.3g}" if np.isfinite(level) else "undefined"
        notes.append(
            f"noise floor of {method} {index}: {value} ({basis}); "
            f"indistinguishable from it: {', '.join(below) if below else 'none'}"
        )
    if not floors.empty:
        above = [n for n in names if flagged.get(n, False)]
        if not above:
            notes.append(
                "no parameter rises above the noise floor of any method: the ranking carries "
                "no information about the parameters' influence"
            )
        elif len(above) < len(names):
            notes.append(
                f"{len(above)} of {len(names)} parameters rise above the noise floor of at "
                "least one method and rank first; the order of the others is noise"
            )
    return notes


def above_any(marked: pd.DataFrame, names: Sequence[str]) -> dict[str, bool]:
    """Per parameter: whether its index is above the floor of at least one method.

    Parameters without a marked row (``above_noise`` absent) are left out.
    """
    if "above_noise" not in marked:
        return {}
    flags = marked.dropna(subset=["above_noise"])
    return {
        str(n): bool(flags.loc[flags["parameter"] == n, "above_noise"].astype(bool).any())
        for n in names
    }
