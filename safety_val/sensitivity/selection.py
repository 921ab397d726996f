r"""Stage 2: model-based factor selection by forward selection with cross-validated surrogates.

Parameters are added in the stage-1 ranking order; each candidate is kept only if the
cross-validated score of a surrogate on ``kept + [candidate]`` beats the score on
``kept`` by more than the fold-to-fold noise of the difference (and by a practical
minimum gain). The surrogate is a Gaussian process for small samples and histogram
gradient boosting for large ones.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessClassifier, GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from safety_val._random import SeedLike, as_generator
from safety_val.errors import ValidationError
from safety_val.sensitivity._common import check_sizes, child_seed

__all__ = [
    "GP_MAX_SAMPLES",
    "SCORINGS",
    "SURROGATES",
    "SelectionResult",
    "forward_selection",
]

_Array = np.ndarray[Any, np.dtype[np.float64]]
Target = Literal["regression", "classification"]

#: Up to this sample size "auto" uses a Gaussian process, above it gradient boosting.
GP_MAX_SAMPLES: Final = 1000

#: Scores by target (the first is the default).
SCORINGS: Final[Mapping[str, tuple[str, ...]]] = {
    "regression": ("r2",),
    "classification": ("roc_auc", "balanced_accuracy"),
}

#: Surrogate names accepted by :func:`forward_selection`.
SURROGATES: Final = ("auto", "gp", "gbt")

#: Fewest members of the smaller class for the failure classification.
MIN_CLASS_MEMBERS: Final = 10


def _bounded_lbfgs(objective: Any, initial_theta: _Array, bounds: _Array) -> tuple[_Array, float]:
    """L-BFGS-B on the log-marginal likelihood, capped at 50 iterations (bounded cost)."""
    from scipy.optimize import minimize

    result = minimize(
        objective,
        initial_theta,
        method="L-BFGS-B",
        jac=True,
        bounds=bounds,
        options={"maxiter": 50},
    )
    return np.asarray(result.x, dtype=float), float(result.fun)


def _gp_regressor(length_scale: _Array, noise: float, seed: int, *, fixed: bool) -> BaseEstimator:
    kernel = ConstantKernel(1.0, (1e-2, 1e2)) * RBF(
        length_scale=length_scale, length_scale_bounds=(5e-2, 1e2)
    ) + WhiteKernel(noise, (1e-6, 1e1))
    return make_pipeline(
        StandardScaler(),
        GaussianProcessRegressor(
            kernel=kernel,
            normalize_y=True,
            random_state=seed,
            optimizer=None if fixed else _bounded_lbfgs,
        ),
    )


def _gp_classifier(length_scale: _Array, seed: int, *, fixed: bool) -> BaseEstimator:
    kernel = ConstantKernel(1.0, (1e-2, 1e2)) * RBF(
        length_scale=length_scale, length_scale_bounds=(5e-2, 1e2)
    )
    return make_pipeline(
        StandardScaler(),
        GaussianProcessClassifier(
            kernel=kernel, random_state=seed, optimizer=None if fixed else _bounded_lbfgs
        ),
    )


def _gbt(target: Target, seed: int) -> BaseEstimator:
    if target == "regression":
        return HistGradientBoostingRegressor(max_iter=200, random_state=seed)
    return HistGradientBoostingClassifier(max_iter=200, class_weight="balanced", random_state=seed)


@dataclass(frozen=True)
class SelectionResult:
    """Outcome of :func:`forward_selection`.

    Attributes
    ----------
    selected
        The kept parameters, in ranking order.
    score_curve
        One row per step: ``step, parameter, kept, score_mean, score_std, gain,
        threshold, target, scoring`` (step 0 is the constant model).
    target, scoring, surrogate
        What was fitted and how it was scored.
    n_samples
        Rows used.
    """

    selected: tuple[str, ...]
    score_curve: pd.DataFrame = field(repr=False)
    target: Target
    scoring: str
    surrogate: str
    n_samples: int


def forward_selection(
    x: pd.DataFrame,
    y: Any,
    order: Sequence[str],
    *,
    target: Target = "regression",
    scoring: str | None = None,
    surrogate: str = "auto",
    n_splits: int = 5,
    min_gain: float = 0.01,
    seed: SeedLike = None,
) -> SelectionResult:
    r"""Forward selection of influential parameters in a given order.

    Parameters
    ----------
    x
        Sample, one column per parameter (numeric; categorical inputs as codes).
    y
        Outputs: real values (``target="regression"``) or 0/1 failure labels.
    order
        Parameters in the order they are tried (the stage-1 ranking).
    target
        ``"regression"`` or ``"classification"``.
    scoring
        ``"r2"`` for regression; ``"roc_auc"`` (default) or ``"balanced_accuracy"`` for
        classification.
    surrogate
        ``"gp"`` (Gaussian process), ``"gbt"`` (histogram gradient boosting) or
        ``"auto"``: a Gaussian process up to :data:`GP_MAX_SAMPLES` rows.
    n_splits
        Folds of the (stratified for classification) K-fold cross-validation.
    min_gain
        Smallest mean score gain that counts at all (a practical-relevance floor).
    seed
        Seed of the folds and the surrogates.

    Returns
    -------
    SelectionResult

    Raises
    ------
    ValidationError
        Unknown ``target``/``scoring``/``surrogate`` (the valid ones listed), a name of
        ``order`` not in ``x``, mismatched sizes, or too few rows for the folds.

    Notes
    -----
    All models are scored on the *same* folds (fixed seed). For a candidate, the per-fold
    gains :math:`d_f = s_f(\text{kept} + c) - s_f(\text{kept})` are paired; the noise
    measure is their standard error :math:`\mathrm{SE} = \mathrm{sd}(d_f)/\sqrt{K}`
    (sample sd, :math:`K` folds). The candidate is kept when
    :math:`\bar d > \max(\mathrm{SE}, \text{min\_gain})`. Step 0 scores the constant
    model (mean / prior), so the first parameter must beat "no information". Every
    candidate is tried (no early stop), so a parameter ranked low in stage 1 can still
    enter.

    References
    ----------
    Saltelli, A., Ratto, M., et al. (2008). Global Sensitivity Analysis. The Primer.
    Wiley, ch. 5 (emulators). doi:10.1002/9780470725184

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = pd.DataFrame(rng.random((120, 3)), columns=["a", "b", "c"])
    >>> result = forward_selection(x, 4 * x["a"] + np.sin(3 * x["c"]), ["a", "c", "b"], seed=0)
    >>> result.selected
    ('a', 'c')
    """
    if target not in SCORINGS:
        raise ValidationError(
            "unknown target", field="target", value=target, expected=f"one of {', '.join(SCORINGS)}"
        )
    scoring = SCORINGS[target][0] if scoring is None else scoring
    if scoring not in SCORINGS[target]:
        raise ValidationError(
            f"unknown scoring for {target}",
            field="scoring",
            value=scoring,
            expected=f"one of {', '.join(SCORINGS[target])}",
        )
    if surrogate not in SURROGATES:
        raise ValidationError(
            "unknown surrogate",
            field="surrogate",
            value=surrogate,
            expected=f"one of {', '.join(SURROGATES)}",
        )
    missing = [name for name in order if name not in x.columns]
    if missing:
        raise ValidationError(
            "parameter not in the sample",
            field="order",
            value=missing[0],
            expected=f"columns among {', '.join(map(str, x.columns))}",
        )
    target_values = np.asarray(y, dtype=float).ravel()
    check_sizes(x, target_values)
    n = len(target_values)
    if n < 2 * n_splits:
        raise ValidationError(
            "too few samples for the cross-validation of stage 2",
            field="n",
            value=n,
            expected=f"at least {2 * n_splits} rows ({n_splits} folds)",
        )
    rng = as_generator(seed)
    fold_seed, model_seed = child_seed(rng), child_seed(rng)
    if target == "classification":
        labels = target_values.astype(int)
        counts = np.bincount(labels, minlength=2)
        if counts.min() < max(MIN_CLASS_MEMBERS, n_splits):
            raise ValidationError(
                "too few members of one class for the failure classification",
                field="y",
                value=f"{int(counts[1])} failures, {int(counts[0])} passes",
                expected=f"at least {max(MIN_CLASS_MEMBERS, n_splits)} of each",
            )
        cv: Any = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=fold_seed)
        y_fit: _Array = labels.astype(float)
    else:
        cv = KFold(n_splits=n_splits, shuffle=True, random_state=fold_seed)
        y_fit = target_values
    kind = surrogate if surrogate != "auto" else ("gp" if n <= GP_MAX_SAMPLES else "gbt")

    learned: dict[str, float] = {}
    last_fit: dict[str, float] = {}

    def gp_estimator(columns: Sequence[str], data: _Array) -> BaseEstimator:
        """Fit the GP hyperparameters once on all rows; the folds reuse them (no optimizer)."""
        start = np.array([learned.get(c, 1.0) for c in columns])
        if target == "regression":
            tuned = _gp_regressor(start, 1e-2, model_seed, fixed=False).fit(data, y_fit)
            kernel = tuned[-1].kernel_
            scales = np.atleast_1d(kernel.k1.k2.length_scale)
            estimator = make_pipeline(
                StandardScaler(),
                GaussianProcessRegressor(
                    kernel=kernel, normalize_y=True, optimizer=None, random_state=model_seed
                ),
            )
        else:
            tuned = _gp_classifier(start, model_seed, fixed=False).fit(data, y_fit)
            kernel = tuned[-1].kernel_
            scales = np.atleast_1d(kernel.k2.length_scale)
            estimator = make_pipeline(
                StandardScaler(),
                GaussianProcessClassifier(kernel=kernel, optimizer=None, random_state=model_seed),
            )
        last_fit.clear()
        last_fit.update(zip(columns, (float(v) for v in scales), strict=True))
        return estimator

    def scores(columns: Sequence[str]) -> _Array:
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.filterwarnings("ignore", message=".*ill-conditioned.*")
            estimator: BaseEstimator
            if not columns:
                estimator = (
                    DummyRegressor()
                    if target == "regression"
                    else DummyClassifier(strategy="prior")
                )
                data = np.zeros((n, 1))
            else:
                data = x[list(columns)].to_numpy(dtype=float)
                estimator = (
                    gp_estimator(columns, data) if kind == "gp" else _gbt(target, model_seed)
                )
            result = cross_val_score(
                clone(estimator), data, y_fit, cv=cv, scoring=scoring, error_score="raise"
            )
        return np.asarray(result, dtype=float)

    current = scores([])
    rows: list[dict[str, Any]] = [
        {
            "step": 0,
            "parameter": "(none)",
            "kept": True,
            "score_mean": float(current.mean()),
            "score_std": float(current.std(ddof=1)),
            "gain": np.nan,
            "threshold": np.nan,
        }
    ]
    kept: list[str] = []
    for step, name in enumerate(order, start=1):
        candidate = scores([*kept, name])
        differences = candidate - current
        gain = float(differences.mean())
        noise = float(differences.std(ddof=1) / np.sqrt(len(differences)))
        threshold = max(noise, min_gain)
        accept = gain > threshold
        rows.append(
            {
                "step": step,
                "parameter": name,
                "kept": accept,
                "score_mean": float(candidate.mean()),
                "score_std": float(candidate.std(ddof=1)),
                "gain": gain,
                "threshold": threshold,
            }
        )
        if accept:
            kept.append(name)
            current = candidate
            learned.update(last_fit)
    curve = pd.DataFrame(rows)
    curve["target"] = target
    curve["scoring"] = scoring
    return SelectionResult(
        selected=tuple(kept),
        score_curve=curve,
        target=target,
        scoring=scoring,
        surrogate=kind,
        n_samples=n,
    )
