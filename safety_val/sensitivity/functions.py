r"""Test functions with analytic sensitivity indices (SALib style: "ships with the answers").

Each function is a batch function ``(n, d) array -> (n,) array`` with a matching
OpenTURNS input distribution and its analytic first-order (``S1``) and total-order
(``ST``) Sobol' indices, so that every method can be checked against the truth.

``ishigami``
    Ishigami & Homma (1990), three inputs uniform on :math:`[-\pi, \pi]`.
``sobol_g``
    Sobol' G function (Saltelli & Sobol' 1995), inputs uniform on :math:`[0, 1]`.
``sparse_function``
    Twenty inputs uniform on :math:`[0, 1]`, of which exactly three matter
    (:data:`SPARSE_INFLUENTIAL`): the screening benchmark for stage 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import openturns as ot
import pandas as pd

__all__ = [
    "G_FUNCTION_A",
    "SPARSE_INFLUENTIAL",
    "ishigami",
    "ishigami_distribution",
    "ishigami_indices",
    "sobol_g",
    "sobol_g_distribution",
    "sobol_g_indices",
    "sparse_distribution",
    "sparse_function",
    "sparse_indices",
]

_Array = np.ndarray[Any, np.dtype[np.float64]]

#: The coefficients of the Sobol' G function used in the validation.
G_FUNCTION_A: Final = (0.0, 1.0, 4.5, 9.0, 99.0, 99.0, 99.0, 99.0)

#: The three inputs of :func:`sparse_function` that matter (0-based columns 2, 9, 15).
SPARSE_INFLUENTIAL: Final = ("x3", "x10", "x16")


def _uniform_joint(names: Sequence[str], lower: float, upper: float) -> ot.Distribution:
    joint = ot.JointDistribution([ot.Uniform(lower, upper)] * len(names))
    joint.setDescription(list(names))
    return joint


def ishigami(x: Any, a: float = 7.0, b: float = 0.1) -> _Array:
    r"""The Ishigami function :math:`\sin x_1 + a \sin^2 x_2 + b x_3^4 \sin x_1`.

    Parameters
    ----------
    x
        ``(n, 3)`` array of inputs in :math:`[-\pi, \pi]^3`.
    a, b
        Coefficients (7 and 0.1 in the classic benchmark).

    Returns
    -------
    numpy.ndarray
        ``n`` outputs.

    References
    ----------
    Ishigami, T., Homma, T. (1990). An importance quantification technique in uncertainty
    analysis for computer models. ISUMA '90, 398-403. doi:10.1109/ISUMA.1990.151285

    Examples
    --------
    >>> float(ishigami(np.array([[np.pi / 2, np.pi / 2, 0.0]]))[0])
    8.0
    """
    x = np.asarray(x, dtype=float)
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


def ishigami_distribution() -> ot.Distribution:
    r"""Three independent uniforms on :math:`[-\pi, \pi]` named ``x1, x2, x3``."""
    return _uniform_joint(["x1", "x2", "x3"], -np.pi, np.pi)


def ishigami_indices(a: float = 7.0, b: float = 0.1) -> pd.DataFrame:
    r"""Analytic first- and total-order Sobol' indices of :func:`ishigami`.

    Notes
    -----
    With :math:`V_1 = \tfrac12 (1 + b\pi^4/5)^2`, :math:`V_2 = a^2/8`, :math:`V_3 = 0`,
    :math:`V_{13} = 8 b^2 \pi^8 / 225` and :math:`V = V_1 + V_2 + V_{13}`:
    :math:`S_i = V_i / V`, :math:`S_{T1} = (V_1 + V_{13})/V`, :math:`S_{T2} = S_2`,
    :math:`S_{T3} = V_{13}/V`.

    Examples
    --------
    >>> ishigami_indices().round(4).to_dict("list")["S1"]
    [0.3139, 0.4424, 0.0]
    """
    v1 = 0.5 * (1 + b * np.pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = 8 * b**2 * np.pi**8 / 225
    v = v1 + v2 + v13
    return pd.DataFrame(
        {"S1": [v1 / v, v2 / v, 0.0], "ST": [(v1 + v13) / v, v2 / v, v13 / v]},
        index=pd.Index(["x1", "x2", "x3"], name="parameter"),
    )


def sobol_g(x: Any, a: Sequence[float] = G_FUNCTION_A) -> _Array:
    r"""The Sobol' G function :math:`\prod_i (|4x_i - 2| + a_i)/(1 + a_i)`.

    Parameters
    ----------
    x
        ``(n, d)`` array of inputs in :math:`[0, 1]^d` with ``d = len(a)``.
    a
        Non-negative coefficients; small :math:`a_i` means an important input.

    Returns
    -------
    numpy.ndarray
        ``n`` outputs.

    References
    ----------
    Saltelli, A., Sobol', I. M. (1995). About the use of rank transformation in sensitivity
    analysis of model output. Reliab. Eng. Syst. Saf. 50(3), 225-239.
    doi:10.1016/0951-8320(95)00099-2

    Examples
    --------
    >>> float(sobol_g(np.full((1, 8), 0.5))[0])
    0.0
    """
    x = np.asarray(x, dtype=float)
    coefficients = np.asarray(a, dtype=float)
    return np.prod((np.abs(4 * x - 2) + coefficients) / (1 + coefficients), axis=1)


def sobol_g_distribution(dimension: int = len(G_FUNCTION_A)) -> ot.Distribution:
    """Independent uniforms on [0, 1] named ``x1 ... xd``."""
    return _uniform_joint([f"x{i + 1}" for i in range(dimension)], 0.0, 1.0)


def sobol_g_indices(a: Sequence[float] = G_FUNCTION_A) -> pd.DataFrame:
    r"""Analytic first- and total-order Sobol' indices of :func:`sobol_g`.

    Notes
    -----
    :math:`V_i = 1 / (3 (1 + a_i)^2)`, :math:`V = \prod_i (1 + V_i) - 1`,
    :math:`S_i = V_i / V`, :math:`S_{Ti} = V_i \prod_{j \ne i} (1 + V_j) / V`.

    Examples
    --------
    >>> float(sobol_g_indices().loc["x1", "S1"].round(3))
    0.716
    """
    coefficients = np.asarray(a, dtype=float)
    vi = 1.0 / (3.0 * (1.0 + coefficients) ** 2)
    v = float(np.prod(1 + vi) - 1)
    total = vi * np.prod(1 + vi) / (1 + vi) / v
    return pd.DataFrame(
        {"S1": vi / v, "ST": total},
        index=pd.Index([f"x{i + 1}" for i in range(len(vi))], name="parameter"),
    )


def sparse_function(x: Any) -> _Array:
    r"""A 20-input function in which exactly three inputs matter.

    .. math:: f(x) = 3 x_3 + 2 \sin(2 \pi x_{10}) + 10 (x_{16} - 1/2)^2

    (1-based input numbers; all inputs uniform on [0, 1]). The function is additive,
    so :math:`S_i = S_{Ti}`; the other 17 inputs have indices 0.

    Examples
    --------
    >>> x = np.zeros((1, 20)); x[0, 2] = 1.0
    >>> float(sparse_function(x)[0])
    5.5
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != 20:
        raise ValueError(f"sparse_function takes an (n, 20) array, got shape {x.shape}")
    return 3.0 * x[:, 2] + 2.0 * np.sin(2 * np.pi * x[:, 9]) + 10.0 * (x[:, 15] - 0.5) ** 2


def sparse_distribution() -> ot.Distribution:
    """Twenty independent uniforms on [0, 1] named ``x1 ... x20``."""
    return _uniform_joint([f"x{i + 1}" for i in range(20)], 0.0, 1.0)


def sparse_indices() -> pd.DataFrame:
    r"""Analytic Sobol' indices of :func:`sparse_function` (additive: ``S1 == ST``).

    Notes
    -----
    Partial variances :math:`9/12`, :math:`4/2` and :math:`100 (1/80 - 1/144)`.

    Examples
    --------
    >>> s = sparse_indices()
    >>> sorted(s.index[s["S1"] > 0]) == sorted(SPARSE_INFLUENTIAL)
    True
    """
    partial = np.zeros(20)
    partial[[2, 9, 15]] = [9 / 12, 2.0, 100 * (1 / 80 - 1 / 144)]
    s = partial / partial.sum()
    return pd.DataFrame(
        {"S1": s, "ST": s}, index=pd.Index([f"x{i + 1}" for i in range(20)], name="parameter")
    )
