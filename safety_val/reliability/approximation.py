r"""FORM and SORM: approximations of pf from the design point (OpenTURNS' implementations).

Both search the design point :math:`u^* = \arg\min \{\lVert u \rVert : G(u) \le 0\}` in
standard normal space with a gradient-based solver; gradients are finite differences
evaluated as one batch per iterate (``2d`` points), so they go through the executor.

They are approximations: their error is a *model* error (curvature, several failure
modes), not a sampling error, so they report ``cov = NaN`` and ``ci = (NaN, NaN)``
rather than an interval that would look like a statistical guarantee. ``converged``
says that the solver converged onto the limit-state surface; confirm the number with a
sampler (``"nais"``, ``"subset"``), e.g. through ``method="auto"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import openturns as ot
import pandas as pd

from safety_val.errors import SafetyValError, ValidationError
from safety_val.reliability.failed_runs import account_for_failed_runs
from safety_val.reliability.model import LimitStateModel
from safety_val.reliability.result import (
    BudgetExhausted,
    DesignPoint,
    FailureProbabilityResult,
    make_result,
)

__all__ = ["SOLVERS", "SORM_FORMULAS", "run_form", "run_sorm"]

SOLVERS: dict[str, Callable[[], ot.OptimizationAlgorithm]] = {
    "abdo-rackwitz": ot.AbdoRackwitz,
    "sqp": ot.SQP,
    "cobyla": ot.Cobyla,
}
"""Design-point solvers by name (Cobyla needs no gradient but evaluates one point at a time)."""

SORM_FORMULAS = ("breitung", "hohenbichler", "tvedt")
"""SORM asymptotic formulas, in the order tried."""

_APPROXIMATION_NOTE = (
    "{name} pf is an approximation at the design point: no sampling interval (cov and ci "
    "are NaN); its error is a model error, confirm it with a sampler"
)


def _make_solver(
    model: LimitStateModel, solver: str, starting_point: Any, max_iterations: int
) -> ot.OptimizationAlgorithm:
    if solver not in SOLVERS:
        raise ValidationError(
            f"unknown design-point solver {solver!r}",
            field="solver",
            value=solver,
            expected=f"one of {', '.join(sorted(SOLVERS))}",
        )
    algorithm = SOLVERS[solver]()
    start = (
        np.asarray(model.distribution.getMean(), dtype=float)
        if starting_point is None
        else np.asarray(starting_point, dtype=float).ravel()
    )
    if start.shape != (model.dimension,):
        raise ValidationError(
            "starting point has the wrong dimension",
            field="starting_point",
            value=start.shape,
            expected=f"({model.dimension},)",
        )
    algorithm.setStartingPoint(ot.Point(start))
    algorithm.setMaximumIterationNumber(int(max_iterations))
    if model.remaining_calls is not None:
        algorithm.setMaximumCallsNumber(int(model.remaining_calls))
    return algorithm


def _design_point(model: LimitStateModel, result: Any) -> DesignPoint:
    u = np.asarray(result.getStandardSpaceDesignPoint(), dtype=float)
    x = np.asarray(result.getPhysicalSpaceDesignPoint(), dtype=float)
    try:
        factors = np.asarray(result.getImportanceFactors(), dtype=float)
        importance: pd.Series | None = pd.Series(
            factors, index=list(model.names), name="importance"
        )
    except Exception:
        importance = None
    return DesignPoint(x=x, u=u, beta=float(np.linalg.norm(u)), importance=importance)


def _solver_converged(
    model: LimitStateModel, result: Any, design_point: DesignPoint, tolerance: float
) -> tuple[bool, str]:
    optimisation = result.getOptimizationResult()
    status = int(optimisation.getStatus())
    _, g = model.recorded()
    scale = max(1.0, float(np.median(np.abs(g)))) if g.size else 1.0
    constraint_error = float(optimisation.getConstraintError())
    if status != int(ot.OptimizationResult.SUCCESS):
        reason = optimisation.getStatusMessage() or f"status {status}"
        return False, f"the design-point solver stopped without converging ({reason})"
    if not (math.isfinite(constraint_error) and constraint_error <= tolerance * scale):
        return False, (
            f"the design point is not on the limit-state surface (|g(x*)| = {constraint_error:.3g})"
        )
    if not math.isfinite(design_point.beta):
        return False, "the design point is not finite"
    return True, ""


def _run_analytical(
    model: LimitStateModel,
    *,
    name: str,
    algorithm_class: Any,
    solver: str,
    starting_point: Any,
    max_iterations: int,
    tolerance: float,
) -> tuple[Any, DesignPoint | None, bool, str, str, str]:
    """Run FORM/SORM; fall back to Cobyla when the requested solver fails.

    Returns ``(result, design_point, converged, caveat, failure, solver)``; ``result`` is
    ``None`` and ``failure`` says why when no solver produced a design point.
    """
    solvers = [solver] if solver == "cobyla" else [solver, "cobyla"]
    failures: list[str] = []
    for candidate in solvers:
        solver_algorithm = _make_solver(model, candidate, starting_point, max_iterations)
        # a failed run (NaN) is seen as its nearest successful neighbour's margin: a
        # large stand-in would wreck the finite-difference gradients
        algorithm = algorithm_class(solver_algorithm, model.event(substitute="nearest"))
        try:
            with model.stage(name), model.openturns_errors():
                algorithm.run()
        except BudgetExhausted as exc:
            failures.append(str(exc))
            return None, None, False, "", "; ".join(failures), candidate
        except RuntimeError as exc:
            if isinstance(exc, SafetyValError):  # the limit state's own error
                raise
            failures.append(f"solver {candidate!r} failed: {str(exc).strip()[:200]}")
            continue
        result = algorithm.getResult()
        design_point = _design_point(model, result)
        converged, why = _solver_converged(model, result, design_point, tolerance)
        caveat = "; ".join([*failures, *([f"used solver {candidate!r}"] if failures else []), why])
        return result, design_point, converged, caveat.strip("; "), "", candidate
    return None, None, False, "", "; ".join(failures), solvers[-1]


def _failed_runs(
    model: LimitStateModel,
    start: int,
    pf: float,
    design_point: DesignPoint | None,
    converged: bool,
) -> tuple[bool, str, dict[str, Any]]:
    """Count the failed runs of a design-point search; one near the design point voids it."""
    if not model.count_errors(start):
        return converged, "", {"n_errors": 0}
    _, converged, note, details = account_for_failed_runs(
        model, start=start, pf=pf, ci=(math.nan, math.nan), converged=converged,
        pf_worst=math.nan, design_points=() if design_point is None else (design_point,),
        has_interval=False,
    )
    return converged, note, details


def _unfinished(
    model: LimitStateModel, method: str, message: str, start: int
) -> FailureProbabilityResult:
    """The result of an approximation whose search did not finish: NaN, not converged."""
    _, errors, details = _failed_runs(model, start, math.nan, None, False)
    if errors:
        message = f"{message}; {errors}"
    return make_result(
        model,
        method=method,
        pf=math.nan,
        cov=math.nan,
        ci=(math.nan, math.nan),
        converged=False,
        message=message,
        history=[
            {
                "n_calls": model.n_calls,
                "pf": math.nan,
                "cov": math.nan,
                "ci_low": math.nan,
                "ci_high": math.nan,
            }
        ],
        details=details,
    )


def run_form(
    model: LimitStateModel,
    *,
    target_cov: float = 0.1,
    max_calls: int | None = None,
    rng: np.random.Generator | None = None,
    solver: str = "abdo-rackwitz",
    starting_point: Any = None,
    max_iterations: int = 100,
    tolerance: float = 1e-4,
) -> FailureProbabilityResult:
    r"""First-order reliability method.

    Parameters
    ----------
    model
        The limit-state model.
    target_cov, max_calls, rng
        Common method arguments; FORM is deterministic and has no CoV to reach
        (the budget is enforced by the model).
    solver
        ``"abdo-rackwitz"`` (default; the improved HL-RF iteration), ``"sqp"`` or
        ``"cobyla"`` (derivative-free, one point per call: not parallel).
    starting_point
        Physical-space start of the search; default: the distribution's mean.
    max_iterations
        Solver iterations.
    tolerance
        Largest accepted :math:`|g(x^*)|` (relative to the typical margin) for
        ``converged``.

    Returns
    -------
    FailureProbabilityResult
        ``pf`` :math:`= \Phi(-\beta)` (or :math:`\Phi(\beta)` if the origin fails),
        ``cov``/``ci`` NaN, one design point with importance factors
        :math:`\alpha_i^2`.

    Notes
    -----
    With :math:`T` the iso-probabilistic (Rosenblatt/Nataf) transformation and
    :math:`G = g \circ T^{-1}`, FORM solves
    :math:`\beta = \min \lVert u \rVert` subject to :math:`G(u) = 0` and
    approximates :math:`p_f \approx \Phi(-\beta)`; exact when :math:`G` is linear.

    References
    ----------
    Rackwitz, R. and Fiessler, B. (1978). Structural reliability under combined random
    load sequences. Computers & Structures 9(5), 489–494.
    https://doi.org/10.1016/0045-7949(78)90046-9

    Hasofer, A. M. and Lind, N. C. (1974). Exact and invariant second-moment code
    format. Journal of the Engineering Mechanics Division 100(1), 111–121.
    https://doi.org/10.1061/JMCEA3.0001848

    Examples
    --------
    >>> import openturns as ot
    >>> model = LimitStateModel(lambda x: 2.0 - x[:, 0], ot.Normal(2))
    >>> result = run_form(model)
    >>> round(result.beta, 6), result.design_points[0].importance.round(3).tolist()
    (2.0, [1.0, 0.0])
    """
    start = model.n_calls
    result, design_point, converged, why, failure, used_solver = _run_analytical(
        model,
        name="form",
        algorithm_class=ot.FORM,
        solver=solver,
        starting_point=starting_point,
        max_iterations=max_iterations,
        tolerance=tolerance,
    )
    note = _APPROXIMATION_NOTE.format(name="FORM")
    nan_ci = (math.nan, math.nan)
    if result is None or design_point is None:
        return _unfinished(
            model, "form", f"{failure}; the design-point search did not finish", start
        )
    pf = float(result.getEventProbability())
    converged, errors, error_details = _failed_runs(model, start, pf, design_point, converged)
    return make_result(
        model,
        method="form",
        pf=pf,
        cov=math.nan,
        ci=nan_ci,
        converged=converged,
        message="; ".join(m for m in (why, errors, note) if m),
        history=[
            {
                "n_calls": model.n_calls,
                "pf": pf,
                "cov": math.nan,
                "ci_low": math.nan,
                "ci_high": math.nan,
            }
        ],
        design_points=(design_point,),
        details={
            "beta_hasofer": float(result.getHasoferReliabilityIndex()),
            "origin_in_failure_domain": bool(result.getIsStandardPointOriginInFailureSpace()),
            "solver": used_solver,
            "solver_iterations": int(result.getOptimizationResult().getIterationNumber()),
            **error_details,
        },
    )


def run_sorm(
    model: LimitStateModel,
    *,
    target_cov: float = 0.1,
    max_calls: int | None = None,
    rng: np.random.Generator | None = None,
    solver: str = "abdo-rackwitz",
    formula: str = "breitung",
    starting_point: Any = None,
    max_iterations: int = 100,
    tolerance: float = 1e-4,
) -> FailureProbabilityResult:
    r"""Second-order reliability method: FORM corrected by the curvatures at the design point.

    Parameters
    ----------
    model, target_cov, max_calls, rng, solver, starting_point, max_iterations, tolerance
        As in :func:`run_form`.
    formula
        ``"breitung"`` (default), ``"hohenbichler"`` or ``"tvedt"``; if the chosen
        formula is undefined (a curvature :math:`\kappa_i \le -1/\beta`), the next one
        that is defined is used and the message says so.

    Returns
    -------
    FailureProbabilityResult
        ``cov``/``ci`` NaN; ``details`` holds the three formulas and the curvatures.

    Notes
    -----
    With the main curvatures :math:`\kappa_i` of the limit-state surface at
    :math:`u^*`, Breitung's asymptotic formula is
    :math:`p_f \approx \Phi(-\beta)\prod_{i=1}^{d-1}(1 + \beta\kappa_i)^{-1/2}`;
    Hohenbichler replaces :math:`\beta` by :math:`\varphi(\beta)/\Phi(-\beta)` in the
    product. The Hessian is computed by finite differences (batched).

    References
    ----------
    Breitung, K. (1984). Asymptotic approximations for multinormal integrals. Journal of
    Engineering Mechanics 110(3), 357–366.
    https://doi.org/10.1061/(ASCE)0733-9399(1984)110:3(357)

    Hohenbichler, M., Gollwitzer, S., Kruse, W. and Rackwitz, R. (1987). New light on
    first- and second-order reliability methods. Structural Safety 4(4), 267–284.
    https://doi.org/10.1016/0167-4730(87)90002-6

    Examples
    --------
    >>> import openturns as ot
    >>> model = LimitStateModel(lambda x: 2.0 - x[:, 0], ot.Normal(2))
    >>> result = run_sorm(model)
    >>> round(result.beta, 4), result.converged
    (2.0, True)
    """
    if formula not in SORM_FORMULAS:
        raise ValidationError(
            f"unknown SORM formula {formula!r}",
            field="formula",
            value=formula,
            expected=f"one of {', '.join(SORM_FORMULAS)}",
        )
    start = model.n_calls
    result, design_point, converged, why, failure, used_solver = _run_analytical(
        model,
        name="sorm",
        algorithm_class=ot.SORM,
        solver=solver,
        starting_point=starting_point,
        max_iterations=max_iterations,
        tolerance=tolerance,
    )
    nan_ci = (math.nan, math.nan)
    if result is None or design_point is None:
        return _unfinished(
            model, "sorm", f"{failure}; the design-point search or the Hessian did not finish",
            start,
        )
    getters = {
        "breitung": result.getEventProbabilityBreitung,
        "hohenbichler": result.getEventProbabilityHohenbichler,
        "tvedt": result.getEventProbabilityTvedt,
    }
    values: dict[str, float] = {}
    for key, getter in getters.items():
        try:
            values[key] = float(getter())
        except Exception:
            values[key] = math.nan
    order = [formula, *[f for f in SORM_FORMULAS if f != formula]]
    used = next((f for f in order if math.isfinite(values[f]) and 0.0 <= values[f] <= 1.0), None)
    notes = [why] if why else []
    if used is None:
        pf = math.nan
        converged = False
        notes.append("no SORM formula is defined at this design point (strong negative curvature)")
    else:
        pf = values[used]
        if used != formula:
            notes.append(f"the {formula} formula is undefined here; used {used}")
    converged, errors, error_details = _failed_runs(model, start, pf, design_point, converged)
    if errors:
        notes.append(errors)
    notes.append(_APPROXIMATION_NOTE.format(name="SORM"))
    try:
        curvatures = [float(c) for c in result.getSortedCurvatures()]
    except Exception:
        curvatures = []
    return make_result(
        model,
        method="sorm",
        pf=pf,
        cov=math.nan,
        ci=nan_ci,
        converged=converged,
        message="; ".join(notes),
        history=[
            {
                "n_calls": model.n_calls,
                "pf": pf,
                "cov": math.nan,
                "ci_low": math.nan,
                "ci_high": math.nan,
            }
        ],
        design_points=(design_point,),
        details={
            "formula": used,
            "pf_breitung": values["breitung"],
            "pf_hohenbichler": values["hohenbichler"],
            "pf_tvedt": values["tvedt"],
            "beta_hasofer": float(result.getHasoferReliabilityIndex()),
            "curvatures": curvatures,
            "solver": used_solver,
            **error_details,
        },
    )
