r"""Method ``"ak"``: active-learning Kriging with importance sampling and an honest error.

The family of AK-MCS / AK-IS / meta-IS: a Gaussian-process surrogate of the limit state,
learned where its sign is uncertain and where that uncertainty matters for :math:`p_f`,
sampled (for free) by importance sampling around the design points of every failure mode
found on the surrogate, then *checked* against the true limit state so that the reported
coefficient of variation and interval include the surrogate's own error.

Everything the simulator runs goes through :meth:`LimitStateModel.evaluate` in batches:
the initial design in one batch (stage ``"ak-initial"``), ``batch_size`` points per
learning round (``"ak-enrichment"``), the check points in batches (``"ak-correction"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from safety_val._random import derive_seed
from safety_val._validation import Constraint, Interval, check_options
from safety_val.reliability._mixture import DefensiveMixture
from safety_val.reliability._surrogate import GaussianProcessSurrogate
from safety_val.reliability.failed_runs import account_for_failed_runs
from safety_val.reliability.model import LimitStateModel
from safety_val.reliability.result import (
    DesignPoint,
    FailureProbabilityResult,
    lognormal_interval,
    make_result,
)

__all__ = ["STAGES", "run"]

_Array = np.ndarray[Any, np.dtype[np.float64]]

STAGES = ("ak-initial", "ak-enrichment", "ak-correction")
"""Labels of the evaluations of method ``"ak"`` in :attr:`FailureProbabilityResult.samples`."""

_Z95 = float(stats.norm.ppf(0.975))
_R_MAX = 7.5  # search radius in standard space: beta up to 7.5, pf down to ~3e-14
_MODE_LOG_RATIO = math.log(1e3)  # keep modes whose FORM contribution is >= 1e-3 of the best
_MAX_RESCANS = 3  # true-run rescans for missed failure modes before the checks


class _OutOfBudget(Exception):
    """No call left for the next batch."""


class _NothingToLearn(Exception):
    """Fewer than two runs gave a margin: there is nothing to fit a surrogate on."""


@dataclass
class _Estimate:
    """Surrogate-based estimate on one importance-sampling population."""

    pf_hard: float  # mean(w 1[mu <= 0])
    pf_soft: float  # mean(w Phi(-mu/sigma))
    pf_low: float  # mean(w 1[mu + 2 sigma <= 0])
    pf_high: float  # mean(w 1[mu - 2 sigma <= 0])
    cov_sampling: float
    n: int

    @property
    def sigma_surrogate(self) -> float:
        """Standard deviation that the +-2 sigma bounds imply: half-width / 1.96."""
        return (self.pf_high - self.pf_low) / (2.0 * _Z95)

    @property
    def relative_width(self) -> float:
        """Surrogate standard deviation relative to the estimate (inf when pf is 0)."""
        return self.sigma_surrogate / self.pf_hard if self.pf_hard > 0 else math.inf


@dataclass
class _State:
    """What the run has learned so far."""

    u: _Array
    g: _Array
    modes: list[_Array] = field(default_factory=list)
    rounds: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


_PARAMETER_CONSTRAINTS: dict[str, list[Constraint]] = {
    "target_cov": [Interval(float, 0, 1, closed="neither")],
    "batch_size": [None, Interval(int, 1, None)],
    "n_initial": [None, Interval(int, 2, None)],
    "initial_radius": [Interval(float, 0, 8, closed="right")],
    "population_size": [Interval(int, 100, None)],
    "max_population": [Interval(int, 100, None)],
    "n_check": [Interval(int, 0, None)],
    "max_rounds": [Interval(int, 0, None)],
    "max_modes": [Interval(int, 1, None)],
    "defensive": [Interval(float, 0, 1, closed="right")],
    "max_exploration_rounds": [Interval(int, 0, None)],
    "patience": [Interval(int, 1, None)],
}
"""The options of :func:`run` and what each accepts (checked by ``check_options``)."""


def run(
    model: LimitStateModel,
    *,
    target_cov: float = 0.1,
    max_calls: int | None = None,
    rng: np.random.Generator | None = None,
    batch_size: int | None = None,
    n_initial: int | None = None,
    initial_radius: float = 5.0,
    population_size: int = 10_000,
    max_population: int = 400_000,
    n_check: int = 20,
    max_rounds: int = 100,
    max_modes: int = 8,
    defensive: float = 0.1,
    max_exploration_rounds: int = 5,
    patience: int = 10,
) -> FailureProbabilityResult:
    r"""Estimate :math:`p_f` with an actively learned Gaussian-process surrogate.

    Parameters
    ----------
    model
        The limit state, its distribution, the executor and the call counter.
    target_cov
        Stop when the total coefficient of variation (sampling + surrogate) is at most
        this.
    max_calls
        Stop before :attr:`LimitStateModel.n_calls` would exceed this (``None``: the
        model's own budget, or no limit).
    rng
        Random generator (population draws, initial design, optimizer restarts).
    batch_size
        Points evaluated per learning round, in one batch; default
        :math:`\max(4, n_\mathrm{workers})` so that a parallel simulator stays busy.
    n_initial
        Size of the initial space-filling design; default :math:`\max(10, 2d + 2)`.
    initial_radius
        Radius in standard normal space that the initial design spans.
    population_size
        Importance-sampling population on which the surrogate is learned (surrogate
        calls only, no simulator cost).
    max_population
        Largest population for the final estimate (grown until the sampling CoV is at
        most ``target_cov / 3``).
    n_check
        Minimum number of true evaluations of the final correction step
        (rounded up to whole batches); ``0`` disables it (then only the Kriging bounds
        measure the surrogate error). With its variance floor (see Notes) about 30 checks
        are needed for a check CoV of 5 %.
    max_rounds
        Maximum number of learning rounds.
    max_modes
        Maximum number of failure modes (mixture components).
    defensive
        Weight of the standard normal component of the importance density, in (0, 1].
    max_exploration_rounds
        Rounds spent looking for a failure region when the surrogate shows none.
    patience
        Learning also stops when the Kriging bounds have not narrowed by 5 % in this
        many rounds, after at least twice as many rounds (a kink the surrogate cannot
        resolve); the check runs then measure the error.

    Returns
    -------
    FailureProbabilityResult
        ``details`` holds ``rounds``, ``pf_surrogate``, ``pf_bounds`` (the ±2σ Kriging
        bounds), ``correction`` (the checked mean difference and its standard
        deviation), ``population_size``, ``surrogate_error_share`` (part of the variance
        due to the surrogate), ``n_modes``, ``loo_q2`` (leave-one-out predictivity of the
        final surrogate), ``n_training`` and ``kernel``.

    Raises
    ------
    ValidationError
        An option out of range.

    Notes
    -----
    *Space.* Work is done in standard normal space :math:`u = T(x)`; the simulator sees
    :math:`x = T^{-1}(u)`.

    *Discrete inputs.* A discrete input (a category, a count) occupies fixed intervals of
    its standard coordinate, so the limit state is a step function of it. The surrogate
    sees every point with its discrete coordinates snapped to the conditional median of
    their value's interval (training and prediction; this leaves :math:`g` unchanged),
    the design-point search keeps a discrete coordinate inside its value's interval, and
    each rescan also runs the leading design point (scaled by 0, 1/2 and 1) with each
    discrete input switched to each of its other values: a failure region reachable only
    at a rare value is otherwise invisible to both the surrogate and the checks.

    *Surrogate.* A Gaussian process :math:`\hat g(u) \sim \mathcal N(\mu(u), \sigma^2(u))`
    (linear trend + anisotropic Matérn-5/2, see
    :class:`~safety_val.reliability._surrogate.GaussianProcessSurrogate`), refitted after
    every batch.

    *Failure modes.* The surrogate mean is scanned along many random rays
    (plus the rays through the failing runs); the first root on each ray seeds a local
    search :math:`\min \lVert u \rVert` s.t. :math:`\mu(u) \le 0` (SLSQP); distinct
    minima are the design points :math:`u^*_k`, :math:`\beta_k = \lVert u^*_k \rVert`.

    *Population.* :math:`u_i \sim h = \lambda \varphi + (1 - \lambda) \sum_k \pi_k
    \mathcal N(u^*_k, I)`, :math:`\pi_k \propto \Phi(-\beta_k)`, with weights
    :math:`w_i = \varphi(u_i)/h(u_i) \le 1/\lambda` (AK-IS, Echard et al. 2013, with one
    component per mode and a defensive component); for :math:`\beta_1 \le 1` plain Monte
    Carlo (AK-MCS, Echard et al. 2011).

    *Learning.* The U function :math:`U_i = |\mu_i| / \sigma_i` (Echard et al. 2011) is
    turned into the expected misclassified mass :math:`s_i = w_i \Phi(-U_i)`; each round
    the ``batch_size`` points are the best of ``batch_size`` weighted k-means clusters of
    the population's high-:math:`s` points (batch enrichment as in Schöbi et al. 2017).
    Learning stops when the Kriging bounds
    :math:`\hat p_f^\mp = \frac1N \sum w_i 1[\mu_i \pm 2 \sigma_i \le 0]` are close:
    :math:`\sigma_\mathrm{K} = (\hat p_f^+ - \hat p_f^-) / (2 \cdot 1.96)
    \le \tfrac12\,\delta_\mathrm{target}\,\hat p_f` (Schöbi et al. 2017).

    *Estimate and its honest error.* With :math:`\pi_i = \Phi(-\mu_i/\sigma_i)` the
    probabilistic classification (Dubourg et al. 2013),

    .. math::

        \hat p_f = \underbrace{\frac1N \sum_i w_i \pi_i}_{\text{surrogate}}
                 + \underbrace{\frac1{n_c} \sum_{j=1}^{n_c}
                   \frac{w_{i_j}\,(1[g(u_{i_j}) \le 0] - \pi_{i_j})}{N q_{i_j}}}_{\text{check}},
        \qquad i_j \sim q,

    where the :math:`n_c` check points are drawn from the population with probabilities
    :math:`q_i \propto \tfrac12 w_i \pi_i (1 - \pi_i) + \tfrac14 w_i \pi_i + \tfrac14 w_i`
    and evaluated on the true limit state (stage ``"ak-correction"``). Given the
    population, the check term is an unbiased (Hansen–Hurwitz) estimate of
    :math:`\frac1N \sum_i w_i (1[g_i \le 0] - \pi_i)`, so :math:`\hat p_f` is unbiased for
    the importance-sampling estimate with the *true* indicator, whatever the surrogate's
    quality — the same idea as the correction factor of meta-IS, in additive form. The
    variance combines

    - sampling: :math:`\widehat{\mathrm{Var}}(w\,1[\mu \le 0]) / N`;
    - surrogate: the variance of the check term, :math:`\max(\hat s^2_c, s^2_0) / n_c`
      (the Kriging bound :math:`\sigma_\mathrm{K}^2` when no check could be run: then
      the run never says ``converged=True``). The sample variance :math:`\hat s^2_c` of a
      few checks is 0 when none of them hits a misclassified point, although a thin
      misclassified shell (a boundary slightly off) or a sliver of a region may exist; so
      it is floored by :math:`s^2_0 = \frac{1/2}{n_c + 1}\,\overline{e^2}`, the
      per-draw variance if each check predicted to fail were safe with the
      Jeffreys-posterior probability :math:`\tfrac12/(n_c+1)` of an event not seen in
      :math:`n_c` draws, :math:`e_j = w_{i_j}\pi_{i_j}/(N q_{i_j})` being the term that
      check would then give. The claimed precision is thus what the checks have earned:
      typically a relative standard deviation of about :math:`1.7/n_c`, whatever the
      surrogate says.

    :math:`\delta = \sqrt{\mathrm{Var}}/\hat p_f`; the 95 % interval is log-normal. The
    final population is grown until its sampling CoV is at most
    :math:`\delta_\mathrm{target}/3` (surrogate calls only). Check runs are added, a
    batch at a time, until the check's own (floored) CoV is at most
    :math:`\delta_\mathrm{target}/2` (at most ``5 * n_check``).

    *Rescan for missed modes.* A Gaussian process fitted on few runs can be confidently
    wrong about a region no run has visited (two failure regions, one found), and the
    checks, drawn from a population centred on the known modes, would not see it. So
    before the checks, :math:`\max(8, d+2)` true runs are made at radius
    :math:`\beta_\mathrm{min} + 1` (beyond which a mode contributes little) in
    directions spread greedily away from the known design points and failing runs; if
    one fails where the surrogate predicted safety, learning resumes (the ray scan also
    follows the rays through failing runs); at most three rescans. When the checks
    contradict the surrogate — a point classified with :math:`U \ge 2` is wrong, or the
    check term moves the estimate significantly (more than twice its standard deviation
    and more than :math:`\delta_\mathrm{target}/2`) — the check runs join the training
    set and learning resumes (at most twice), followed by a fresh check.

    References
    ----------
    Echard, B., Gayton, N. and Lemaire, M. (2011). AK-MCS: an active learning reliability
    method combining Kriging and Monte Carlo simulation. Structural Safety 33(2),
    145–154. https://doi.org/10.1016/j.strusafe.2011.01.002

    Echard, B., Gayton, N., Lemaire, M. and Relun, N. (2013). A combined importance
    sampling and Kriging reliability method for small failure probabilities with
    time-demanding numerical models. Reliability Engineering & System Safety 111,
    232–240. https://doi.org/10.1016/j.ress.2012.10.008

    Dubourg, V., Sudret, B. and Deheeger, F. (2013). Metamodel-based importance sampling
    for structural reliability analysis. Probabilistic Engineering Mechanics 33, 47–57.
    https://doi.org/10.1016/j.probengmech.2013.02.002

    Bichon, B. J., Eldred, M. S., Swiler, L. P., Mahadevan, S. and McFarland, J. M.
    (2008). Efficient global reliability analysis for nonlinear implicit performance
    functions. AIAA Journal 46(10), 2459–2468. https://doi.org/10.2514/1.34321

    Schöbi, R., Sudret, B. and Marelli, S. (2017). Rare event estimation using
    polynomial-chaos kriging. ASCE-ASME Journal of Risk and Uncertainty in Engineering
    Systems, Part A 3(2), D4016002. https://doi.org/10.1061/AJRUA6.0000870

    Examples
    --------
    >>> import numpy as np, openturns as ot
    >>> from safety_val.reliability import estimate_failure_probability
    >>> def g(x):
    ...     return 3.0 - (x[:, 0] + x[:, 1]) / np.sqrt(2.0)
    >>> result = estimate_failure_probability(g, ot.Normal(2), method="ak", seed=1)
    >>> result.converged, result.n_calls < 150
    (True, True)
    >>> bool(result.ci[0] <= 1.3499e-3 <= result.ci[1])
    True
    """
    check_options(
        _PARAMETER_CONSTRAINTS,
        target_cov=target_cov,
        batch_size=batch_size,
        n_initial=n_initial,
        initial_radius=initial_radius,
        population_size=population_size,
        max_population=max_population,
        n_check=n_check,
        max_rounds=max_rounds,
        max_modes=max_modes,
        defensive=defensive,
        max_exploration_rounds=max_exploration_rounds,
        patience=patience,
    )
    rng = np.random.default_rng() if rng is None else rng
    runner = _ActiveLearning(
        model, target_cov=float(target_cov), max_calls=max_calls, rng=rng,
        batch_size=batch_size, n_initial=n_initial, initial_radius=initial_radius,
        population_size=population_size, max_population=max_population, n_check=n_check,
        max_rounds=max_rounds, max_modes=max_modes, defensive=defensive,
        max_exploration_rounds=max_exploration_rounds, patience=patience,
    )
    return runner.run()


class _LevelSurrogate:
    r"""The Gaussian process seen through the discrete inputs' values.

    A discrete input maps whole intervals of its standard coordinate :math:`u_j` to one
    value, so :math:`g(T^{-1}(u))` is a step function of :math:`u_j`, which a stationary
    Gaussian process cannot represent: it smooths the step, misplaces it and, away from
    the runs, is confidently wrong about a value it has not seen. Every point is
    therefore snapped to the conditional median of its value's interval before it
    reaches the process (training and prediction), which leaves :math:`g` unchanged
    (:math:`T^{-1}` maps the whole interval to the same value) and makes the process
    interpolate between values only; the mean's gradient along a snapped coordinate is
    0. Without discrete inputs this is the process itself.
    """

    def __init__(self, surrogate: GaussianProcessSurrogate,
                 levels: dict[int, tuple[_Array, _Array]]) -> None:
        self.inner = surrogate
        self.levels = levels

    def snap(self, u: _Array) -> _Array:
        """``u`` with each discrete coordinate at its value's conditional median."""
        if not self.levels:
            return u
        u = np.array(u, dtype=float)
        for j, (boundaries, medians) in self.levels.items():
            u[:, j] = medians[np.searchsorted(boundaries, u[:, j], side="left")]
        return u

    @property
    def gp_(self) -> Any:
        """The fitted process (``None`` before :meth:`fit`)."""
        return self.inner.gp_

    @property
    def y_(self) -> _Array:
        """The training responses."""
        return np.asarray(self.inner.y_)

    def fit(self, u: _Array, g: _Array) -> _LevelSurrogate:
        """Fit on the snapped points."""
        self.inner.fit(self.snap(u), g)
        return self

    def predict(self, u: _Array) -> tuple[_Array, _Array]:
        """Mean and standard deviation at the snapped points."""
        return self.inner.predict(self.snap(u))

    def predict_mean(self, u: _Array) -> _Array:
        """Mean at the snapped points."""
        return self.inner.predict_mean(self.snap(u))

    def mean_and_gradient(self, u: _Array) -> tuple[_Array, _Array]:
        """Mean and gradient at the snapped points (0 along the discrete coordinates)."""
        mean, gradient = self.inner.mean_and_gradient(self.snap(u))
        if self.levels:
            gradient = np.array(gradient, dtype=float)
            gradient[:, list(self.levels)] = 0.0
        return mean, gradient

    def loo_q2(self) -> float:
        """Leave-one-out predictivity of the process."""
        return self.inner.loo_q2()

    def describe(self) -> str:
        """The fitted kernel, in words."""
        return self.inner.describe()


class _ActiveLearning:
    """One run of method ``"ak"`` (the state machine behind :func:`run`)."""

    def __init__(
        self,
        model: LimitStateModel,
        *,
        target_cov: float,
        max_calls: int | None,
        rng: np.random.Generator,
        batch_size: int | None,
        n_initial: int | None,
        initial_radius: float,
        population_size: int,
        max_population: int,
        n_check: int,
        max_rounds: int,
        max_modes: int,
        defensive: float,
        max_exploration_rounds: int,
        patience: int,
    ) -> None:
        self.model = model
        self.d = int(model.dimension)
        self.target_cov = target_cov
        limits = [m for m in (max_calls, model.max_calls) if m is not None]
        self.max_calls = min(limits) if limits else None
        self.rng = rng
        workers = 1 if model.executor is None else max(1, int(model.executor.n_workers))
        self.batch_size = int(batch_size) if batch_size else max(4, workers)
        self.n_initial = int(n_initial) if n_initial else max(10, 2 * self.d + 2)
        self.initial_radius = float(initial_radius)
        self.population_size = int(population_size)
        self.max_population = max(int(max_population), self.population_size)
        self.n_check = int(n_check)
        self.max_rounds = int(max_rounds)
        self.max_modes = int(max_modes)
        self.defensive = float(defensive)
        self.max_exploration_rounds = int(max_exploration_rounds)
        self.patience = int(patience)
        self.surrogate = _LevelSurrogate(
            GaussianProcessSurrogate(self.d, random_state=derive_seed(rng)),
            model.discrete_levels(),
        )
        self.budget_hit = False
        self.start = model.n_calls

    # ------------------------------------------------------------------ evaluation
    def _remaining(self) -> int | None:
        if self.max_calls is None:
            return None
        return max(0, self.max_calls - self.model.n_calls)

    def _evaluate(self, u: _Array, stage: str) -> tuple[_Array, _Array]:
        """Evaluate as many of ``u`` as the budget allows, in one batch."""
        remaining = self._remaining()
        if remaining is not None and remaining < len(u):
            self.budget_hit = True
            u = u[:remaining]
        if len(u) == 0:
            raise _OutOfBudget
        with self.model.stage(stage):
            g = self.model.evaluate(self.model.to_physical(u))
        return u, g

    # ------------------------------------------------------------------ main
    def run(self) -> FailureProbabilityResult:
        state = self._initial_state()
        exploration_rounds = 0
        relearn = 0
        rescans = 0
        estimate: _Estimate | None = None
        correction: tuple[float, float, int, int] | None = None
        population: tuple[_Array, _Array, _Array, _Array] | None = None
        best_width, best_round = math.inf, 0
        try:
            state.u, state.g = self._append(state, *self._evaluate(
                self._initial_design(), "ak-initial"))
            while True:
                # ---------------- learning rounds
                while state.rounds < self.max_rounds:
                    state.rounds += 1
                    self._fit(state)
                    state.modes = self._design_points(state)
                    if not state.modes:
                        if exploration_rounds >= self.max_exploration_rounds:
                            break
                        exploration_rounds += 1
                        self._explore(state)
                        continue
                    population = self._population(state, self.population_size)
                    estimate = self._estimate(*population)
                    self._record(state, estimate)
                    if (
                        estimate.pf_hard > 0
                        and estimate.relative_width <= 0.5 * self.target_cov
                    ):
                        break
                    if estimate.relative_width < 0.95 * best_width:
                        best_width, best_round = estimate.relative_width, state.rounds
                    elif (
                        state.rounds - best_round >= self.patience
                        and state.rounds >= 2 * self.patience
                    ):
                        state.notes.append(
                            f"learning stalled (Kriging bounds +-{100 * best_width:.0f} % for "
                            f"{self.patience} rounds); the check runs measure the surrogate error"
                        )
                        break
                    self._enrich(state, *population)
                if not state.modes:
                    break
                if state.rounds >= self.max_rounds:
                    state.notes.append(f"learning stopped after max_rounds={self.max_rounds}")
                elif rescans < _MAX_RESCANS:
                    rescans += 1
                    found = self._rescan(state)
                    if found:
                        state.notes.append(
                            f"a rescan run failed where the surrogate predicted safety ({found}); "
                            "learning resumed"
                        )
                        best_width, best_round = math.inf, state.rounds
                        continue
                # ---------------- final population and correction
                population = self._final_population(state)
                estimate = self._estimate(*population)
                correction, reason = self._correct(state, population)
                if reason and relearn < 2 and state.rounds < self.max_rounds:
                    relearn += 1
                    state.notes.append(f"{reason}; learning resumed with the check runs")
                    correction = None
                    best_width, best_round = math.inf, state.rounds
                    continue
                break
        except _OutOfBudget:
            self.budget_hit = True
        except _NothingToLearn:
            state.notes.append(
                f"only {int(np.count_nonzero(np.isfinite(state.g)))} of {len(state.g)} runs "
                "gave a margin (the others failed: error/timeout); nothing to learn from"
            )
        return self._result(state, estimate, correction, population)

    # ------------------------------------------------------------------ stages
    def _initial_state(self) -> _State:
        """Reuse every point the model already evaluated (probe, earlier methods)."""
        x, g = self.model.recorded()
        if len(x):
            u = self.model.to_standard(x)
            keep = np.all(np.isfinite(u), axis=1) & (np.linalg.norm(u, axis=1) < 2 * _R_MAX)
            return _State(u=u[keep], g=g[keep])
        return _State(u=np.empty((0, self.d)), g=np.empty(0))

    @staticmethod
    def _append(state: _State, u: _Array, g: _Array) -> tuple[_Array, _Array]:
        return np.vstack([state.u, u]), np.concatenate([state.g, g])

    def _fit(self, state: _State) -> None:
        """Fit the surrogate on the runs that gave a margin (failed runs have none)."""
        finite = np.isfinite(state.g)
        if np.count_nonzero(finite) < 2:
            raise _NothingToLearn
        self.surrogate.fit(state.u[finite], state.g[finite])

    @staticmethod
    def _in_failed_cells(state: _State, u: _Array) -> _Array:
        """Whether each point's nearest run failed (no margin): its Voronoi cell is unknown."""
        failed = np.isnan(state.g)
        if not failed.any() or not len(u):
            return np.zeros(len(u), dtype=bool)
        from scipy.spatial import cKDTree

        _, nearest = cKDTree(state.u).query(u)
        return np.asarray(failed[np.asarray(nearest)], dtype=bool)

    def _initial_design(self) -> _Array:
        r"""Origin + Latin-hypercube rays: directions uniform, radii stratified in (0, R]."""
        n = self.n_initial
        lhs = stats.qmc.LatinHypercube(d=self.d + 1, seed=self.rng).random(n - 1)
        directions = stats.norm.ppf(np.clip(lhs[:, : self.d], 1e-6, 1 - 1e-6))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        radii = self.initial_radius * (0.15 + 0.85 * lhs[:, self.d])
        return np.vstack([np.zeros((1, self.d)), directions * radii[:, None]])

    def _explore(self, state: _State) -> None:
        """No failure on the surrogate: run the rays where its mean is lowest, farther out."""
        radius = min(_R_MAX, 1.25 * float(np.max(np.linalg.norm(state.u, axis=1))) + 0.5)
        directions = self._directions(state, 50 * self.d + 200)
        mean, std = self.surrogate.predict(directions * radius)
        score = mean - 2.0 * std
        score[self._in_failed_cells(state, directions * radius)] = np.inf
        chosen = _spread_choice(directions * radius, score, self.batch_size, self.rng)
        state.u, state.g = self._append(state, *self._evaluate(chosen, "ak-enrichment"))

    def _rescan(self, state: _State) -> str:
        r"""Look for a missed failure mode with true runs away from the known ones.

        ``max(8, d + 2)`` directions (rounded up to whole batches), greedily spread on the
        sphere away from the known design points and the failing runs, are run at radius
        :math:`\beta_\mathrm{min} + 1`, with the discrete-value probes of
        :meth:`_level_probes`. They join the training set; returns a description when one
        of them fails where the surrogate predicted safety (else ``""``).
        """
        betas = [float(np.linalg.norm(m)) for m in state.modes]
        beta_min = min(betas)
        if beta_min <= 1.0:  # plain Monte Carlo population: every region is sampled
            return ""
        k = self.batch_size
        n_probe = k * math.ceil(max(8, self.d + 2) / k)
        radius = min(_R_MAX, beta_min + 1.0)
        candidates = self.rng.standard_normal((max(500, 50 * n_probe), self.d))
        candidates /= np.linalg.norm(candidates, axis=1, keepdims=True)
        anchors = [m / np.linalg.norm(m) for m in state.modes]
        failing = state.u[state.g <= 0]
        failing = failing[np.linalg.norm(failing, axis=1) > 1e-9]
        anchors.extend(failing / np.linalg.norm(failing, axis=1, keepdims=True))
        nearest = np.full(len(candidates), -1.0)  # cosine to the closest anchor
        if anchors:
            nearest = np.max(candidates @ np.asarray(anchors).T, axis=1)
        chosen: list[int] = []
        for _ in range(n_probe):
            index = int(np.argmin(nearest))
            chosen.append(index)
            nearest = np.maximum(nearest, candidates @ candidates[index])
        points = np.vstack([candidates[chosen] * radius, self._level_probes(state)])
        n_probe = len(points)
        predicted = self.surrogate.predict_mean(points)
        n_surprise = n_run = 0
        for start in range(0, n_probe, k):  # batches of batch_size, like the learning rounds
            u, g = self._evaluate(points[start : start + k], "ak-enrichment")
            state.u, state.g = self._append(state, u, g)
            n_surprise += int(np.sum((g <= 0) & (predicted[start : start + len(g)] > 0)))
            n_run += len(g)
        if n_surprise:
            return f"{n_surprise} of {n_run} rescan runs (radius {radius:.2f} and discrete values)"
        return ""

    def _level_probes(self, state: _State) -> _Array:
        r"""Runs that switch each discrete input to each of its other values.

        A discrete input is a step function of its standard coordinate: its values occupy
        fixed intervals of :math:`u_j`, and a failure region may exist at one value only
        (a rare category). A stationary Gaussian process extrapolates smoothly across the
        steps, so it can be confident about a value it has never run; random directions
        rarely combine a rare value with the continuous coordinates that matter. So for
        the leading design point :math:`u^*` and every discrete input :math:`j` (at most
        10 values), the points :math:`t\,u^*` (:math:`t \in \{0, \tfrac12, 1\}`) with
        :math:`u_j` set to each value's conditional median other than the one of
        :math:`u^*_j` are run, unless already in the training set.
        """
        levels = self.model.discrete_levels()
        if not levels or not state.modes:
            return np.empty((0, self.d))
        design = state.modes[0]
        own_median = self.model.to_standard(self.model.to_physical(design[None, :]))[0]
        probes: list[_Array] = []
        for j, (_, medians) in levels.items():
            own = int(np.argmin(np.abs(medians - own_median[j])))
            for level, median in enumerate(medians):
                if level == own:
                    continue
                for t in (0.0, 0.5, 1.0):
                    point = t * design
                    point[j] = median
                    probes.append(point)
        if not probes:
            return np.empty((0, self.d))
        points = np.unique(np.round(np.asarray(probes), 12), axis=0)
        distance = np.min(
            np.linalg.norm(points[:, None, :] - state.u[None, :, :], axis=2), axis=1
        ) if len(state.u) else np.full(len(points), np.inf)
        return np.asarray(points[distance > 1e-9])

    def _directions(self, state: _State, n: int) -> _Array:
        directions = self.rng.standard_normal((n, self.d))
        extra = [m for m in state.modes if np.linalg.norm(m) > 1e-9]
        failing = state.u[state.g <= 0]
        if len(failing):
            norms = np.linalg.norm(failing, axis=1)
            extra.extend(failing[np.argsort(norms)[:50]])
        if extra:
            directions = np.vstack([np.asarray(extra), directions])
        norms = np.linalg.norm(directions, axis=1, keepdims=True)
        return np.asarray(directions[norms[:, 0] > 1e-12] / norms[norms[:, 0] > 1e-12])

    def _design_points(self, state: _State) -> list[_Array]:
        """Design points of the surrogate: ray scan, local search, distinct minima."""
        if self.surrogate.predict_mean(np.zeros((1, self.d)))[0] <= 0:
            return [np.zeros(self.d)]
        directions = self._directions(state, min(3000, 100 * self.d + 200))
        radii = np.linspace(0.0, _R_MAX, 61)
        grid = (radii[None, :, None] * directions[:, None, :]).reshape(-1, self.d)
        mean = self.surrogate.predict_mean(grid).reshape(len(directions), len(radii))
        failing = mean <= 0
        hit = failing.any(axis=1)
        if not hit.any():
            return []
        first = np.argmax(failing, axis=1)
        rows = np.flatnonzero(hit)
        j = first[rows]
        m0, m1 = mean[rows, j - 1], mean[rows, j]
        r = radii[j - 1] + (radii[j] - radii[j - 1]) * m0 / np.maximum(m0 - m1, 1e-300)
        order = np.argsort(r)
        seeds: list[_Array] = []
        for index in order:
            candidate = directions[rows[index]]
            if all(float(candidate @ (s / np.linalg.norm(s))) < 0.95 for s in seeds):
                seeds.append(candidate * r[index])
            if len(seeds) >= 2 * self.max_modes:
                break
        points = [self._local_design_point(seed) for seed in seeds]
        points.sort(key=lambda p: float(np.linalg.norm(p)))
        distinct: list[_Array] = []
        for p in points:
            beta = float(np.linalg.norm(p))
            if all(
                np.linalg.norm(p - q) > 0.1 * (1.0 + beta)
                for q in distinct
            ):
                distinct.append(p)
        beta_min = float(np.linalg.norm(distinct[0]))
        kept = [
            p for p in distinct
            if 0.5 * (float(p @ p) - beta_min**2) <= _MODE_LOG_RATIO
        ]
        return kept[: self.max_modes]

    def _local_design_point(self, start: _Array) -> _Array:
        r""":math:`\min \lVert u \rVert^2` s.t. :math:`\mu(u) \le 0` from ``start``.

        A discrete coordinate stays in the interval of its value at ``start`` (the mean
        does not depend on where in it), starting from the point of it closest to 0.
        """
        surrogate = self.surrogate
        scale = max(1e-12, float(np.std(surrogate.y_)))
        bounds: list[tuple[float | None, float | None]] = [(None, None)] * self.d
        start = np.array(start, dtype=float)
        for j, (boundaries, _) in surrogate.levels.items():
            level = int(np.searchsorted(boundaries, start[j], side="left"))
            low = float(boundaries[level - 1]) + 1e-9 if level > 0 else -math.inf
            high = float(boundaries[level]) if level < len(boundaries) else math.inf
            start[j] = min(max(0.0, low), high)
            bounds[j] = (None if math.isinf(low) else low, None if math.isinf(high) else high)

        def constraint(u: _Array) -> float:
            return float(-surrogate.mean_and_gradient(u[None, :])[0][0] / scale)

        def constraint_gradient(u: _Array) -> _Array:
            return np.asarray(-surrogate.mean_and_gradient(u[None, :])[1][0] / scale)

        solution = optimize.minimize(
            lambda u: 0.5 * float(u @ u),
            start,
            jac=lambda u: u,
            constraints=[{"type": "ineq", "fun": constraint, "jac": constraint_gradient}],
            bounds=bounds if surrogate.levels else None,
            method="SLSQP",
            options={"maxiter": 100, "ftol": 1e-8},
        )
        u = np.asarray(solution.x, dtype=float)
        if not np.all(np.isfinite(u)) or constraint(u) < -1e-3:
            return start
        return u

    def _mixture(self, modes: list[_Array]) -> DefensiveMixture:
        betas = np.array([float(np.linalg.norm(m)) for m in modes])
        if betas.min() <= 1.0:  # pf of order 0.1 or more: plain Monte Carlo (AK-MCS)
            return DefensiveMixture.centred_at(np.empty((0, self.d)), np.empty(0), defensive=1.0)
        log_w = stats.norm.logsf(betas)
        weights = np.exp(log_w - log_w.max())
        return DefensiveMixture.centred_at(np.vstack(modes), weights, defensive=self.defensive)

    def _population(
        self, state: _State, n: int
    ) -> tuple[_Array, _Array, _Array, _Array]:
        mixture = self._mixture(state.modes)
        u = mixture.sample(n, self.rng, self.d)
        w = mixture.weights_of(u)
        mean, std = self.surrogate.predict(u)
        return u, w, mean, std

    def _final_population(self, state: _State) -> tuple[_Array, _Array, _Array, _Array]:
        """Grow the population until the sampling CoV is at most ``target_cov / 3``."""
        parts = [self._population(state, self.population_size)]
        while True:
            u, w, mean, std = (np.concatenate(p) for p in zip(*parts, strict=True))
            estimate = self._estimate(u, w, mean, std)
            if estimate.cov_sampling <= self.target_cov / 3 or len(u) >= self.max_population:
                return u, w, mean, std
            wanted = (estimate.cov_sampling / (0.3 * self.target_cov)) ** 2 * len(u)
            if not math.isfinite(wanted):  # no failure in the population: nothing to refine
                return u, w, mean, std
            extra = int(min(self.max_population, math.ceil(wanted))) - len(u)
            if extra <= 0:
                return u, w, mean, std
            parts.append(self._population(state, extra))

    @staticmethod
    def _estimate(u: _Array, w: _Array, mean: _Array, std: _Array) -> _Estimate:
        n = len(u)
        hard = w * (mean <= 0)
        pf = float(hard.mean())
        cov = float(hard.std(ddof=1) / math.sqrt(n) / pf) if pf > 0 else math.inf
        return _Estimate(
            pf_hard=pf,
            pf_soft=float(np.mean(w * stats.norm.cdf(-mean / std))),
            pf_low=float(np.mean(w * (mean + 2.0 * std <= 0))),
            pf_high=float(np.mean(w * (mean - 2.0 * std <= 0))),
            cov_sampling=cov,
            n=n,
        )

    def _record(self, state: _State, estimate: _Estimate) -> None:
        pf = estimate.pf_hard
        cov = math.hypot(estimate.cov_sampling, estimate.relative_width)
        low, high = lognormal_interval(pf, cov) if pf > 0 else (0.0, estimate.pf_high)
        state.history.append(
            {"n_calls": self.model.n_calls, "pf": pf, "cov": cov, "ci_low": low, "ci_high": high}
        )

    def _enrich(self, state: _State, u: _Array, w: _Array, mean: _Array, std: _Array) -> None:
        """Evaluate ``batch_size`` points of high expected misclassified mass, spread out."""
        score = w * stats.norm.cdf(-np.abs(mean) / std)
        # a failed run's neighbourhood would most likely fail again: learn elsewhere
        score[self._in_failed_cells(state, u)] = 0.0
        chosen = _spread_choice(u, -score, self.batch_size, self.rng)
        state.u, state.g = self._append(state, *self._evaluate(chosen, "ak-enrichment"))

    def _correct(
        self, state: _State, population: tuple[_Array, _Array, _Array, _Array]
    ) -> tuple[tuple[float, float, int, int] | None, str]:
        """Check the surrogate on true runs drawn from the population (Hansen–Hurwitz).

        Returns ``(mean difference, its standard deviation, n checks, n wrong)`` and, when
        the checks contradict the surrogate (a point classified with U >= 2 is wrong, or the
        difference is significant), the reason to learn again; the check runs are then
        added to the training set.
        """
        if self.n_check == 0:
            return None, ""
        u, w, mean, std = population
        n = len(u)
        pi = stats.norm.cdf(-mean / std)
        q = 0.5 * w * pi * (1 - pi) / max(float(np.sum(w * pi * (1 - pi))), 1e-300)
        q += 0.25 * w * pi / max(float(np.sum(w * pi)), 1e-300)
        q += 0.25 * w / float(np.sum(w))
        q /= q.sum()
        terms: list[float] = []
        exposure: list[float] = []  # |term| if a check predicted to fail were safe
        checked_u: list[_Array] = []
        checked_g: list[_Array] = []
        n_wrong = 0
        reason = ""
        k = self.batch_size
        target = max(k, k * math.ceil(self.n_check / k))
        limit = 5 * target
        pf_surrogate = self._estimate(u, w, mean, std).pf_soft
        while len(terms) < limit:
            remaining = self._remaining()
            size = k if remaining is None else min(k, remaining)
            if size <= 0:
                self.budget_hit = True
                break
            index = self.rng.choice(n, size=size, p=q)
            checked, g = self._evaluate(u[index], "ak-correction")
            index = index[: len(checked)]
            checked_u.append(checked)
            checked_g.append(g)
            ran = np.isfinite(g)
            if not ran.all():  # failed check runs: their cells count in the worst case
                state.u, state.g = self._append(state, checked[~ran], g[~ran])
            # a failed check run tells nothing: the surrogate's classification stands
            failed = np.where(ran, g <= 0, pi[index] > 0.5).astype(float)
            terms.extend(np.where(
                ran, w[index] * (failed - pi[index]) / (n * q[index]), 0.0).tolist())
            exposure.extend((w[index] * pi[index] / (n * q[index])).tolist())
            wrong = ran & (failed != (mean[index] <= 0))
            n_wrong += int(wrong.sum())
            if np.any(wrong & (np.abs(mean[index]) / std[index] >= 2.0)):
                reason = "a check run contradicted a confident surrogate prediction (U >= 2)"
                break
            if len(terms) >= target:
                delta = float(np.mean(terms))
                sd = float(np.std(terms, ddof=1) / math.sqrt(len(terms)))
                if abs(delta) > max(2.0 * sd, 0.5 * self.target_cov * pf_surrogate):
                    reason = (
                        f"the check runs moved the estimate by {100 * delta / pf_surrogate:+.0f} %"
                    )
                    break
                if _check_sd(terms, exposure) <= 0.5 * self.target_cov * (pf_surrogate + delta):
                    break
        if reason and checked_u:
            new_u, new_g = np.vstack(checked_u), np.concatenate(checked_g)
            ran = np.isfinite(new_g)  # failed ones joined the state already
            state.u, state.g = self._append(state, new_u[ran], new_g[ran])
        if not terms:
            return None, reason
        sd = _check_sd(terms, exposure) if len(terms) > 1 else math.inf
        return (float(np.mean(terms)), sd, len(terms), n_wrong), reason

    # ------------------------------------------------------------------ result
    def _result(
        self,
        state: _State,
        estimate: _Estimate | None,
        correction: tuple[float, float, int, int] | None,
        population: tuple[_Array, _Array, _Array, _Array] | None,
    ) -> FailureProbabilityResult:
        notes = list(state.notes)
        details: dict[str, Any] = {
            "rounds": state.rounds,
            "batch_size": self.batch_size,
            "n_training": len(state.g),
            "n_modes": len(state.modes),
            "kernel": self.surrogate.describe(),
        }
        if self.surrogate.gp_ is not None:
            details["loo_q2"] = self.surrogate.loo_q2()
        design_points = tuple(self._design_point(m) for m in state.modes)
        converged = False
        if estimate is None or not state.modes:
            if self.budget_hit:
                notes.append(
                    f"budget of max_calls={self.max_calls} exhausted before the surrogate "
                    "located a failure region"
                )
            else:
                notes.append(
                    f"no failure region found: neither the {len(state.g)} runs nor the "
                    f"surrogate show g <= 0 within radius {_R_MAX} of standard space, so pf "
                    f"is probably below {stats.norm.sf(_R_MAX):.1e}"
                )
            pf = 0.0 if estimate is None else estimate.pf_hard
            details["found_failure"] = bool(np.any(state.g <= 0))
            ci: tuple[float, float] = (0.0, 1.0)
            if self.model.count_errors(self.start):
                ci, _, note, extra = account_for_failed_runs(
                    self.model, start=self.start, pf=pf, ci=ci, converged=False,
                    pf_worst=pf + self._failed_cell_mass(state, population),
                    design_points=design_points,
                )
                details.update(extra)
                notes.append(note)
            return make_result(
                self.model, method="ak", pf=pf, cov=math.nan, ci=ci, converged=False,
                message="; ".join(notes), history=state.history, design_points=design_points,
                details=details, n_trials=len(state.g),
            )
        variance_sampling = (estimate.cov_sampling * estimate.pf_hard) ** 2
        variance_kriging = estimate.sigma_surrogate**2
        if correction is not None:
            delta, delta_sd, n_checks, n_wrong = correction
            pf = estimate.pf_soft + delta
            variance_surrogate = delta_sd**2
            details["correction"] = {
                "mean_difference": delta, "sd": delta_sd, "n_checks": n_checks,
                "n_misclassified": n_wrong,
            }
        else:
            pf = estimate.pf_hard
            variance_surrogate = variance_kriging
            if self.n_check > 0:
                notes.append("no call left to check the surrogate on true runs")
        if correction is not None and pf <= 0:
            notes.append(
                "the checked estimate is not positive: the surrogate is wrong somewhere; "
                "reporting the surrogate's estimate with the check's spread as its error"
            )
            pf = max(estimate.pf_hard, estimate.pf_soft)
            variance_surrogate = max(variance_surrogate, correction[0] ** 2, variance_kriging)
            correction = None
        variance = variance_sampling + variance_surrogate
        cov = math.sqrt(variance) / pf if pf > 0 else math.nan
        ci = lognormal_interval(pf, cov) if pf > 0 else (0.0, estimate.pf_high)
        share = variance_surrogate / variance if variance > 0 else 0.0
        converged = (
            (pf > 0
            and cov <= self.target_cov
            and correction is not None)
            or (self.n_check == 0 and pf > 0 and cov <= self.target_cov)
        )
        if self.budget_hit and not converged:
            notes.append(f"budget of max_calls={self.max_calls} exhausted")
        if not converged and math.isfinite(cov) and cov > self.target_cov:
            notes.append(
                f"coefficient of variation {cov:.3g} above target_cov={self.target_cov} "
                f"({100 * share:.0f} % of the variance from the surrogate)"
            )
        if self.model.count_errors(self.start):
            ci, converged, note, extra = account_for_failed_runs(
                self.model, start=self.start, pf=pf, ci=ci, converged=bool(converged),
                pf_worst=pf + self._failed_cell_mass(state, population),
                design_points=design_points,
            )
            details.update(extra)
            notes.append(note)
        details.update(
            pf_surrogate=estimate.pf_hard,
            pf_bounds=(estimate.pf_low, estimate.pf_high),
            population_size=estimate.n,
            cov_sampling=estimate.cov_sampling,
            surrogate_error_share=share,
            found_failure=True,
        )
        state.history.append(
            {"n_calls": self.model.n_calls, "pf": pf, "cov": cov, "ci_low": ci[0],
             "ci_high": ci[1]}
        )
        return make_result(
            self.model, method="ak", pf=pf, cov=cov, ci=ci, converged=bool(converged),
            message="; ".join(notes), history=state.history, design_points=design_points,
            details=details,
        )

    def _failed_cell_mass(
        self, state: _State, population: tuple[_Array, _Array, _Array, _Array] | None
    ) -> float:
        r"""Probability mass of the failed runs' Voronoi cells not already counted as failing.

        With the importance population :math:`(u_i, w_i)` and the surrogate's failure
        probability :math:`\pi_i`, :math:`\frac1N \sum_{i \in C} w_i (1 - \pi_i)` over
        the points :math:`C` whose nearest run failed: what the estimate would gain had
        every failed run, and its cell, been a failure. Without a population, a standard
        normal sample (:math:`w = 1`, :math:`\pi = 0`) of ``population_size`` points.
        """
        if population is None:
            u = self.rng.standard_normal((self.population_size, self.d))
            return float(np.mean(self._in_failed_cells(state, u)))
        u, w, mean, std = population
        pi = stats.norm.cdf(-mean / std)
        cells = self._in_failed_cells(state, u)
        return float(np.sum(w[cells] * (1.0 - pi[cells])) / len(u))

    def _design_point(self, u: _Array) -> DesignPoint:
        beta = float(np.linalg.norm(u))
        x = self.model.to_physical(u[None, :])[0]
        importance = None
        if beta > 0:
            importance = pd.Series((u / beta) ** 2, index=list(self.model.names))
        return DesignPoint(x=x, u=np.asarray(u, dtype=float), beta=beta, importance=importance)


def _check_sd(terms: list[float], exposure: list[float]) -> float:
    r"""Conservative standard deviation of the mean check term.

    The sample variance of a few check terms says nothing about misclassifications that
    none of them hit (all terms are then about 0). Its per-draw value is floored by the
    variance the terms would have if each check predicted to fail were wrong with the
    Jeffreys-posterior probability :math:`\tfrac12/(n_c + 1)` of an event never seen in
    :math:`n_c` draws: :math:`\tfrac{1/2}{n_c+1}\,\overline{e^2}`, with
    :math:`e_j = w_{i_j}\pi_{i_j}/(N q_{i_j})` the size of term :math:`j` had the check
    been safe.
    """
    n = len(terms)
    sample = float(np.var(terms, ddof=1)) if n > 1 else math.inf
    floor = 0.5 / (n + 1) * float(np.mean(np.square(exposure))) if exposure else 0.0
    return math.sqrt(max(sample, floor) / n) if n > 0 else math.inf


def _spread_choice(points: _Array, cost: _Array, k: int, rng: np.random.Generator) -> _Array:
    """``k`` low-``cost`` points, spread out: weighted k-means, best point of each cluster."""
    order = np.argsort(cost, kind="stable")
    best = order[: max(k, min(len(order), 40 * k))]
    if len(best) <= k:
        return np.asarray(points[best])
    from sklearn.cluster import KMeans

    weight = -cost[best]
    weight = weight - weight.min() + 1e-12 * (abs(weight.max()) + 1e-300)
    labels = KMeans(n_clusters=k, n_init=1, random_state=derive_seed(rng)).fit_predict(
        points[best], sample_weight=weight
    )
    chosen = [best[labels == c][0] for c in range(k) if np.any(labels == c)]
    return np.asarray(points[np.asarray(chosen)])
