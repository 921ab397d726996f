"""The limit-state model every reliability method works on.

:class:`LimitStateModel` wraps a batch limit state ``g: (n, d) array -> (n,) margins``
and its input distribution. It

- validates the pair once (dimension, output shape, finite values, constant output),
- records failed simulations (NaN margins: a simulator's ``error``/``timeout`` rows) or
  stops at the first one, as ``on_error`` says,
- evaluates batches through the injected executor (so every method is as parallel as
  the executor), in blocks,
- counts calls and enforces the budget (:class:`~safety_val.reliability.result.BudgetExhausted`),
- records every evaluated point with the stage that asked for it,
- exposes itself to OpenTURNS as an :class:`openturns.Function` and provides the
  iso-probabilistic (standard normal space) transformation.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import openturns as ot
import pandas as pd
from scipy import stats

from safety_val._validation import OneOf, check_options
from safety_val.errors import SimulationError, ValidationError
from safety_val.execution.base import Executor
from safety_val.reliability.result import BudgetExhausted

__all__ = [
    "ON_ERROR",
    "PROBE_SIZE",
    "SUBSTITUTES",
    "LimitStateModel",
    "evaluate_block",
]

ON_ERROR = ("exclude", "raise")
"""What a model does with a failed simulation (NaN margin), see ``on_error``."""

SUBSTITUTES = ("safe", "nearest")
"""What OpenTURNS sees for a NaN margin (see :meth:`LimitStateModel.as_openturns_function`)."""

_ON_ERROR_CONSTRAINTS = {"on_error": [OneOf(*ON_ERROR)]}

PROBE_SIZE = 2
"""Points drawn from the distribution to check the limit state when the model is built."""

_Array = np.ndarray


def evaluate_block(limit_state: Callable[[_Array], Any], block: _Array) -> _Array:
    """Apply ``limit_state`` to one block (module-level so executors can pickle it)."""
    return np.asarray(limit_state(block), dtype=float)


class _BlockCall:
    """Picklable ``block -> g`` callable sent to executors (carries only the user's function)."""

    def __init__(self, limit_state: Callable[[_Array], Any]) -> None:
        self.limit_state = limit_state

    def __call__(self, block: _Array) -> _Array:
        return evaluate_block(self.limit_state, block)


class LimitStateModel:
    r"""A batch limit state, its input distribution, a call counter and a record.

    Parameters
    ----------
    limit_state
        ``(n, d)`` array → ``n`` margins; failure when :math:`g \le 0`. A scenario
        evaluator (anything with a ``.scenario`` that has ``.distribution`` and ``.names``)
        is accepted, and then ``distribution`` may be omitted.
    distribution
        Joint input distribution (an :class:`openturns.Distribution`); default: the
        scenario's.
    executor
        Where blocks are evaluated (``executor.map(fn, blocks)``, results in order);
        ``None``: in this process, one block per batch.
    block_size
        Points per block sent to the executor; default
        :math:`\max(1, \lceil n / (4\,n_\mathrm{workers}) \rceil)` for a batch of ``n``
        (four blocks per worker balance the load). With ``executor=None`` a batch is one
        block unless ``block_size`` is given.
    max_calls
        Budget: :meth:`evaluate` raises
        :class:`~safety_val.reliability.result.BudgetExhausted` before evaluating a batch
        that would exceed it. ``None``: unlimited.
    names
        Parameter names; default: the scenario's, the distribution's description, or
        ``x0, x1, ...``.
    on_error
        What a failed simulation (a NaN margin: what a simulator's ``error`` or ``timeout``
        row gives) does. ``"exclude"`` (default): it is returned and recorded as NaN and
        counted in :attr:`n_errors`; every method leaves it out of its estimate, widens
        its interval as if it had been a failure and says so (see
        :mod:`safety_val.reliability.failed_runs`). ``"raise"``: the first one raises
        :class:`SimulationError`. An infinite margin always raises: it is a defect of the
        limit state, not a failed simulation.

    Raises
    ------
    ValidationError
        ``distribution`` is not an OpenTURNS distribution, its dimension does not match
        the limit state's input, or the limit state returns the wrong shape.
    SimulationError
        The limit state returns infinite margins; NaN margins under ``on_error="raise"``,
        or on every probe point.

    Notes
    -----
    The constructor evaluates ``g`` on :data:`PROBE_SIZE` points drawn from the
    distribution (OpenTURNS' generator: seed it first) under the stage ``"probe"``;
    those calls count. A NaN on some probe points (a simulator that crashed there) is
    recorded, not fatal. A constant probe output raises a :class:`UserWarning`: then pf is
    0 or 1 and samplers cannot tell which failure region to look for.

    The user's function, not the model, is sent to the executor, so only it must be
    picklable for a process or Ray executor.

    Examples
    --------
    >>> import numpy as np, openturns as ot
    >>> model = LimitStateModel(lambda x: 3.0 - x.sum(axis=1), ot.Normal(2))
    >>> model.n_calls
    2
    >>> with model.stage("demo"):
    ...     g = model.evaluate(np.zeros((3, 2)))
    >>> g.tolist(), model.n_calls
    ([3.0, 3.0, 3.0], 5)
    >>> model.samples()["stage"].tolist()
    ['probe', 'probe', 'demo', 'demo', 'demo']
    """

    def __init__(
        self,
        limit_state: Callable[[_Array], Any],
        distribution: ot.Distribution | None = None,
        *,
        executor: Executor | None = None,
        block_size: int | None = None,
        max_calls: int | None = None,
        names: Sequence[str] | None = None,
        on_error: str = "exclude",
    ) -> None:
        check_options(_ON_ERROR_CONSTRAINTS, on_error=on_error)
        scenario = getattr(limit_state, "scenario", None)
        if distribution is None:
            if scenario is None:
                raise ValidationError(
                    "a distribution is required when the limit state is a plain function",
                    field="distribution",
                    value=None,
                    expected="an openturns.Distribution (or a scenario evaluator)",
                )
            distribution = scenario.distribution
            if names is None:
                names = tuple(scenario.names)
        if not isinstance(distribution, ot.DistributionImplementation | ot.Distribution):
            raise ValidationError(
                "must be an OpenTURNS distribution",
                field="distribution",
                value=type(distribution).__name__,
                expected="an openturns.Distribution (e.g. ot.JointDistribution)",
            )
        if not callable(limit_state):
            raise ValidationError(
                "must be callable",
                field="limit_state",
                value=type(limit_state).__name__,
                expected="a function (n, d) array -> n margins, or a scenario evaluator",
            )
        if block_size is not None and (
            isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1
        ):
            raise ValidationError(
                "must be an int >= 1", field="block_size", value=block_size, expected="an int >= 1"
            )
        if max_calls is not None and (
            isinstance(max_calls, bool) or not isinstance(max_calls, int) or max_calls < 1
        ):
            raise ValidationError(
                "must be an int >= 1 or None",
                field="max_calls",
                value=max_calls,
                expected="an int >= 1 or None",
            )
        self.limit_state = limit_state
        self.distribution = ot.Distribution(distribution)
        self.dimension = int(self.distribution.getDimension())
        self.executor = executor
        self.block_size = block_size
        self.max_calls = max_calls
        self.names = self._resolve_names(names, scenario)
        self.n_calls = 0
        self.on_error = on_error
        self._largest_margin = 0.0  # largest finite |g| seen: the base of the "safe" substitute
        self._stage = "unlabelled"
        self._x_blocks: list[_Array] = []
        self._g_blocks: list[_Array] = []
        self._stage_blocks: list[tuple[str, int]] = []
        self.callback_error: BaseException | None = None
        self._transformation: ot.Function | None = None
        self._inverse_transformation: ot.Function | None = None
        self._raw_inverse: ot.Function | None = None
        self._probe()

    # ------------------------------------------------------------------ set-up
    def _resolve_names(self, names: Sequence[str] | None, scenario: Any) -> tuple[str, ...]:
        if names is None:
            description = list(self.distribution.getDescription())
            usable = len(set(description)) == self.dimension and not all(
                d.startswith("X") and d[1:].isdigit() for d in description
            )
            names = description if usable else [f"x{i}" for i in range(self.dimension)]
        names = tuple(str(n) for n in names)
        if len(names) != self.dimension:
            source = "scenario" if scenario is not None else "given"
            raise ValidationError(
                f"the {source} parameter names do not match the distribution's dimension",
                field="names",
                value=names,
                expected=f"{self.dimension} names",
            )
        if {"g", "stage"} & set(names):
            raise ValidationError(
                "parameter names 'g' and 'stage' are reserved for the sample record",
                field="names",
                value=names,
            )
        return names

    def _probe(self) -> None:
        scenario = getattr(self.limit_state, "scenario", None)
        expected = getattr(self.limit_state, "getInputDimension", None)
        if scenario is not None and hasattr(scenario, "names"):
            if len(tuple(scenario.names)) != self.dimension:
                raise ValidationError(
                    "the distribution's dimension does not match the scenario's parameters",
                    field="distribution",
                    value=f"dimension {self.dimension}",
                    expected=(
                        f"dimension {len(tuple(scenario.names))} ({', '.join(scenario.names)})"
                    ),
                )
        elif callable(expected) and int(expected()) != self.dimension:
            raise ValidationError(
                "the distribution's dimension does not match the limit state's input",
                field="distribution",
                value=f"dimension {self.dimension}",
                expected=f"dimension {int(expected())}",
            )
        probe = np.asarray(self.distribution.getSample(PROBE_SIZE), dtype=float)
        try:
            with self.stage("probe"):
                g = self.evaluate(probe)
        except (ValidationError, SimulationError, BudgetExhausted):
            raise
        except Exception as exc:  # a dimension mismatch typically surfaces as IndexError
            raise ValidationError(
                f"the limit state failed on {PROBE_SIZE} points of dimension {self.dimension} "
                f"drawn from the distribution ({type(exc).__name__}: {exc}); does the "
                "distribution's dimension match the limit state's input?",
                field="distribution",
                value=f"dimension {self.dimension}",
            ) from exc
        finite = g[np.isfinite(g)]
        if not finite.size:
            raise SimulationError(
                f"limit state returned non-finite (NaN) margins on all {PROBE_SIZE} points "
                "drawn from the distribution (in stage 'probe'): every simulation failed; "
                "check the "
                "simulator's error messages"
            )
        g = finite
        if len(g) > 1 and np.ptp(g) == 0.0:
            warnings.warn(
                f"the limit state returned the same value g={g[0]:g} on {PROBE_SIZE} points "
                "drawn from the distribution; if it is constant, pf is "
                f"{'1' if g[0] <= 0 else '0'} and no method can locate a failure region",
                UserWarning,
                stacklevel=3,
            )

    # ------------------------------------------------------------------ stages & record
    @contextlib.contextmanager
    def stage(self, label: str) -> Iterator[None]:
        """Label every evaluation inside the ``with`` block (``"form"``, ``"subset"``, ...)."""
        previous, self._stage = self._stage, str(label)
        try:
            yield
        finally:
            self._stage = previous

    @contextlib.contextmanager
    def tolerate_errors(self) -> Iterator[None]:
        """Kept for methods that mark where they handle failed simulations; changes nothing.

        Whether a NaN margin is recorded or raises is the model's ``on_error`` policy, for
        every method alike.

        Examples
        --------
        >>> import numpy as np, openturns as ot
        >>> g = lambda x: np.where(x[:, 0] > 4.0, np.nan, 1.0 - x[:, 0])  # fails beyond 4
        >>> model = LimitStateModel(g, ot.Normal(1))
        >>> before = model.n_errors
        >>> with model.tolerate_errors():
        ...     margins = model.evaluate(np.array([[5.0], [-1.0]]))
        >>> np.isnan(margins).tolist(), model.n_errors - before
        ([True, False], 1)
        """
        yield

    @property
    def n_errors(self) -> int:
        """Recorded points whose margin is NaN (failed simulations), probe included."""
        return self.count_errors()

    def count_errors(self, start: int = 0) -> int:
        """Recorded points from call ``start`` on whose margin is NaN."""
        _, g = self.recorded()
        return int(np.count_nonzero(np.isnan(g[start:])))

    @property
    def current_stage(self) -> str:
        """The label evaluations get now."""
        return self._stage

    @property
    def remaining_calls(self) -> int | None:
        """Calls left in the budget (``None``: unlimited)."""
        return None if self.max_calls is None else max(0, self.max_calls - self.n_calls)

    def samples(self) -> pd.DataFrame:
        """Every evaluated point: one column per parameter, ``"g"`` and ``"stage"``."""
        if self._x_blocks:
            x = np.concatenate(self._x_blocks)
            g = np.concatenate(self._g_blocks)
        else:
            x = np.empty((0, self.dimension))
            g = np.empty(0)
        frame = pd.DataFrame(x, columns=list(self.names))
        frame["g"] = g
        frame["stage"] = pd.Series(
            [label for label, n in self._stage_blocks for _ in range(n)], dtype="object"
        )
        return frame

    @property
    def n_batches(self) -> int:
        """Batches evaluated so far (one per :meth:`evaluate` call, the probe included)."""
        return len(self._g_blocks)

    def batch_margins(self, since: int = 0) -> list[_Array]:
        """The margins of each batch from batch ``since`` on (NaN: a failed simulation)."""
        return [g.copy() for g in self._g_blocks[since:]]

    def recorded(self, stage: str | None = None) -> tuple[_Array, _Array]:
        """The recorded ``(x, g)`` arrays, optionally of one stage only."""
        if not self._x_blocks:
            return np.empty((0, self.dimension)), np.empty(0)
        x = np.concatenate(self._x_blocks)
        g = np.concatenate(self._g_blocks)
        if stage is None:
            return x, g
        mask = np.concatenate([np.full(n, label == stage) for label, n in self._stage_blocks])
        return x[mask], g[mask]

    # ------------------------------------------------------------------ evaluation
    def _blocks(self, x: _Array) -> list[_Array]:
        n = len(x)
        if self.block_size is not None:
            size = self.block_size
        elif self.executor is None:
            size = n
        else:
            size = max(1, math.ceil(n / (4 * max(1, int(self.executor.n_workers)))))
        return [x[i : i + size] for i in range(0, n, size)]

    def evaluate(self, x: Any) -> _Array:
        """Evaluate the limit state on a batch ``x`` of shape ``(n, d)``; return ``(n,)``.

        Raises
        ------
        BudgetExhausted
            Before evaluating, if the batch would exceed ``max_calls``.
        ValidationError
            Wrong input or output shape.
        SimulationError
            Infinite margins, or NaN ones under ``on_error="raise"`` (the message gives
            the count and the first rows).
        """
        points = np.asarray(x, dtype=float)
        if points.ndim == 1 and self.dimension == 1:
            points = points.reshape(-1, 1)
        if points.ndim != 2 or points.shape[1] != self.dimension:
            raise ValidationError(
                "batch of points has the wrong shape",
                field="x",
                value=points.shape,
                expected=f"(n, {self.dimension})",
            )
        n = len(points)
        if n == 0:
            return np.empty(0)
        if self.max_calls is not None and self.n_calls + n > self.max_calls:
            raise BudgetExhausted(self.n_calls, n, self.max_calls)
        blocks = self._blocks(points)
        call = _BlockCall(self.limit_state)
        if self.executor is None:
            outputs = [call(block) for block in blocks]
        else:
            outputs = list(self.executor.map(call, blocks))
        g = self._check_outputs(outputs, blocks, points)
        self.n_calls += n
        self._x_blocks.append(points.copy())
        self._g_blocks.append(g)
        self._stage_blocks.append((self._stage, n))
        return g.copy()

    def _check_outputs(self, outputs: list[_Array], blocks: list[_Array], points: _Array) -> _Array:
        parts = []
        for output, block in zip(outputs, blocks, strict=True):
            values = np.asarray(output, dtype=float)
            if values.shape == (len(block), 1):
                values = values[:, 0]
            if values.shape != (len(block),):
                raise ValidationError(
                    f"limit state returned shape {values.shape} for {len(block)} points; "
                    f"expected ({len(block)},)",
                    field="limit_state",
                )
            parts.append(values)
        g = np.concatenate(parts)
        bad = np.flatnonzero(np.isinf(g))
        if bad.size:
            raise SimulationError(
                f"limit state returned {bad.size} infinite margin(s) for {len(g)} points in "
                f"stage {self._stage!r}; first: {self._rows(points, g, bad)}. A margin must be "
                "finite (a failed simulation gives NaN, which is recorded and excluded)"
            )
        failed = np.flatnonzero(np.isnan(g))
        if failed.size and self.on_error == "raise":
            raise SimulationError(
                f"limit state returned {failed.size} NaN margin(s) (failed simulations: "
                f"error/timeout rows) for {len(g)} points in stage {self._stage!r}; first: "
                f"{self._rows(points, g, failed)}. on_error='raise' stops at the first one; "
                "on_error='exclude' (the default; --on-error exclude) records them, leaves "
                "them out of the estimate and widens its interval"
            )
        finite = g[np.isfinite(g)]
        if finite.size:
            self._largest_margin = max(self._largest_margin, float(np.max(np.abs(finite))))
        return g

    @staticmethod
    def _rows(points: _Array, g: _Array, indices: _Array) -> str:
        return ", ".join(
            f"row {i}: x={np.array2string(points[i], precision=4)} g={g[i]}" for i in indices[:3]
        )

    @property
    def safe_margin(self) -> float:
        """A margin above every finite one seen: what a sampler sees for a failed simulation."""
        return 1.0 + 2.0 * self._largest_margin

    def _substitute(self, x: _Array, g: _Array, substitute: str) -> _Array:
        """``g`` with its NaN margins replaced as ``substitute`` says (see :data:`SUBSTITUTES`)."""
        failed = np.isnan(g)
        if not failed.any():
            return g
        g = g.copy()
        recorded_x, recorded_g = self.recorded()
        finite = np.isfinite(recorded_g)
        if substitute == "nearest" and finite.any():
            from scipy.spatial import cKDTree

            tree = cKDTree(self.to_standard(recorded_x[finite]))
            _, index = tree.query(self.to_standard(x[failed]))
            g[failed] = recorded_g[finite][np.atleast_1d(index)]
        else:
            g[failed] = self.safe_margin
        return g

    def __call__(self, x: Any) -> _Array:
        """Same as :meth:`evaluate`."""
        return self.evaluate(x)

    # ------------------------------------------------------------------ OpenTURNS
    def as_openturns_function(self, substitute: str = "safe") -> ot.Function:
        """The model as an :class:`openturns.Function` whose blocks go through :meth:`evaluate`.

        OpenTURNS' algorithms cannot take a NaN margin. A failed simulation stays NaN in
        the record (and counts in :attr:`n_errors`), but OpenTURNS sees in its place

        - ``"safe"`` (default): :attr:`safe_margin`, a margin above every finite one, so
          that the run counts as no failure and is never chosen to seed the next level of
          an adaptive sampler (the method then widens its interval as if it had failed);
        - ``"nearest"``: the margin of the nearest successful run in standard space, for
          the design-point solvers, whose finite-difference gradients a large value would
          wreck.

        Exceptions raised inside OpenTURNS' callback reach Python as a generic
        ``RuntimeError``; the original is kept in :attr:`callback_error` and re-raised by
        :meth:`openturns_errors`.
        """
        check_options({"substitute": [OneOf(*SUBSTITUTES)]}, substitute=substitute)

        def func_sample(x: Any) -> _Array:
            try:
                points = np.asarray(x, dtype=float)
                g = self._substitute(points, self.evaluate(points), substitute)
                return g.reshape(-1, 1)
            except BaseException as exc:
                self.callback_error = exc
                raise

        function = ot.PythonFunction(self.dimension, 1, func_sample=func_sample)
        function.setInputDescription(list(self.names))
        function.setOutputDescription(["g"])
        return ot.Function(function)

    @contextlib.contextmanager
    def openturns_errors(self) -> Iterator[None]:
        """Re-raise the original exception of a callback that OpenTURNS wrapped.

        Examples
        --------
        >>> import openturns as ot
        >>> model = LimitStateModel(lambda x: 3.0 - x[:, 0], ot.Normal(1), max_calls=3)
        >>> f = model.as_openturns_function()
        >>> try:
        ...     with model.openturns_errors():
        ...         f(ot.Sample(5, 1))
        ... except BudgetExhausted as exc:
        ...     print(exc.requested)
        5
        """
        self.callback_error = None
        try:
            yield
        except Exception as exc:
            original = self.callback_error
            self.callback_error = None
            if original is not None and original is not exc:
                raise original from None
            raise

    def event(self, substitute: str = "safe") -> ot.ThresholdEvent:
        r"""The failure event :math:`\{g(X) \le 0\}` for OpenTURNS' algorithms.

        ``substitute``: what OpenTURNS sees for a failed simulation (see
        :meth:`as_openturns_function`).
        """
        vector = ot.CompositeRandomVector(
            self.as_openturns_function(substitute), ot.RandomVector(self.distribution)
        )
        return ot.ThresholdEvent(vector, ot.LessOrEqual(), 0.0)

    def standard_event(self) -> ot.ThresholdEvent:
        r"""The failure event in standard normal space, :math:`\{g(T^{-1}(U)) \le 0\}`.

        For algorithms that need an unbounded input distribution (NAIS): the model still
        receives physical points, so counting, budget and the record are unchanged.
        """
        function = ot.ComposedFunction(self.as_openturns_function(), self.inverse_transformation)
        vector = ot.CompositeRandomVector(function, ot.RandomVector(ot.Normal(self.dimension)))
        return ot.ThresholdEvent(vector, ot.LessOrEqual(), 0.0)

    def openturns_block_size(self, minimum: int = 1, per_worker: int = 4) -> int:
        """Block size for OpenTURNS' algorithms: enough points for every worker."""
        workers = 1 if self.executor is None else max(1, int(self.executor.n_workers))
        return max(int(minimum), per_worker * workers)

    # ------------------------------------------------------------------ standard space
    @property
    def transformation(self) -> ot.Function:
        r"""The iso-probabilistic transformation :math:`T: x \mapsto u` (standard normal)."""
        if self._transformation is None:
            self._transformation = self.distribution.getIsoProbabilisticTransformation()
        return self._transformation

    @property
    def inverse_transformation(self) -> ot.Function:
        r"""The inverse transformation :math:`T^{-1}: u \mapsto x` (that of :meth:`to_physical`).

        With discrete marginals it is :meth:`to_physical` wrapped as an OpenTURNS function
        (see there why OpenTURNS' own transformation is not used for them).
        """
        if self._inverse_transformation is None:
            if self.has_discrete_marginals:
                d = self.dimension
                self._inverse_transformation = ot.Function(ot.PythonFunction(
                    d, d, func_sample=lambda u: self.to_physical(np.asarray(u, dtype=float))
                ))
            else:
                self._inverse_transformation = self._openturns_inverse()
        return self._inverse_transformation

    def _openturns_inverse(self) -> ot.Function:
        if self._raw_inverse is None:
            self._raw_inverse = self.distribution.getInverseIsoProbabilisticTransformation()
        return self._raw_inverse

    def to_standard(self, x: Any) -> _Array:
        r"""Map physical points ``(n, d)`` to standard normal space.

        A discrete marginal (independent or normal copula, whose normal score is then
        :math:`(L u)_j`, see :meth:`_discrete_quantile_map`) maps each of its values
        :math:`x_k` to the whole interval :math:`(\Phi^{-1}(F(x_k^-)), \Phi^{-1}(F(x_k))]`
        of that score; the point returned is its conditional median
        :math:`\Phi^{-1}\big((F(x_k^-) + F(x_k))/2\big)`, inside the interval, rather than
        its upper end (which OpenTURNS' transformation returns: the boundary with the
        next value, or about 8 for the last one), so that a recorded point reused in
        standard space (a surrogate's training set, a design point) lies where its value
        was drawn from.
        """
        points = np.atleast_2d(np.asarray(x, dtype=float))
        if not len(points):
            return np.empty((0, self.dimension))
        u = np.array(self.transformation(ot.Sample(points)), dtype=float)
        discrete, cholesky = self._discrete_quantile_map()
        if not discrete:
            return u
        z = u if cholesky is None else u @ cholesky.T  # correlated normal scores
        median = z.copy()
        for j, marginal in discrete:
            column = [[float(v)] for v in points[:, j]]
            upper = np.asarray(marginal.computeCDF(column), dtype=float).ravel()
            mass = np.asarray(marginal.computePDF(column), dtype=float).ravel()
            middle = np.clip(upper - 0.5 * mass, 1e-300, 1.0 - 1e-16)
            median[:, j] = np.where(mass > 0, stats.norm.ppf(middle), z[:, j])
        if cholesky is not None:
            median = np.linalg.solve(cholesky, median.T).T
        # keep the medians only where the inverse transformation maps them back
        back = self.to_physical(median)
        columns = [j for j, _ in discrete]
        same = np.all(np.isclose(back[:, columns], points[:, columns], rtol=0.0, atol=1e-9),
                      axis=1)
        u[same] = median[same]
        return u

    @property
    def has_discrete_marginals(self) -> bool:
        """Whether :meth:`to_physical` maps discrete marginals itself (see there)."""
        return bool(self._discrete_quantile_map()[0])

    def _discrete_marginals(self) -> list[tuple[int, ot.Distribution]]:
        """``(index, marginal)`` of the discrete marginals (independent copula only)."""
        if not self.distribution.hasIndependentCopula():
            return []
        marginals = (self.distribution.getMarginal(j) for j in range(self.dimension))
        return [(j, m) for j, m in enumerate(marginals) if m.isDiscrete()]

    def discrete_levels(self, max_levels: int = 10) -> dict[int, tuple[_Array, _Array]]:
        r"""Where the values of each discrete marginal lie in standard space.

        For each discrete marginal (independent copula) with at most ``max_levels``
        values :math:`x_1 < \dots < x_L`: the interval boundaries
        :math:`\Phi^{-1}(F(x_k))`, :math:`k < L` (a point on a boundary maps to the lower
        value), and the conditional medians :math:`\Phi^{-1}((F(x_k^-) + F(x_k))/2)`.
        """
        levels: dict[int, tuple[_Array, _Array]] = {}
        for j, marginal in self._discrete_marginals():
            support = np.sort(np.asarray(marginal.getSupport(), dtype=float).ravel())
            if not 1 < len(support) <= max_levels:
                continue
            mass = np.asarray(marginal.computePDF(support[:, None].tolist()), dtype=float).ravel()
            if not math.isclose(float(mass.sum()), 1.0, abs_tol=1e-9):
                continue
            upper = np.minimum(np.cumsum(mass), 1.0)
            levels[j] = (stats.norm.ppf(upper[:-1]), stats.norm.ppf(upper - 0.5 * mass))
        return levels

    def to_physical(self, u: Any) -> _Array:
        r"""Map standard-normal points ``(n, d)`` to physical space.

        A discrete marginal (independent or normal copula) is mapped by its own quantile,
        :math:`x_j = F_j^{-1}(\Phi(u_j))` (the smallest value with
        :math:`F_j(x) \ge \Phi(u_j)`; :math:`u_j` correlated as in
        :meth:`_discrete_quantile_map` under a normal copula): OpenTURNS' inverse iso-probabilistic
        transformation maps large :math:`u_j` of a discrete marginal back to its *first*
        value (e.g. :math:`u_j > 2.35` for values {0, 1} with weights 0.95 / 0.05), which
        would hide part of a rare value's region from every standard-space method.
        """
        points = np.atleast_2d(np.asarray(u, dtype=float))
        if not len(points):
            return np.empty((0, self.dimension))
        x = np.array(self._openturns_inverse()(ot.Sample(points)), dtype=float)
        discrete, cholesky = self._discrete_quantile_map()
        if discrete:
            z = points if cholesky is None else points @ cholesky.T
            for j, marginal in discrete:
                probability = stats.norm.cdf(z[:, j])
                x[:, j] = np.asarray(
                    marginal.computeQuantile(probability.tolist()), dtype=float
                ).ravel()
        return x

    def _discrete_quantile_map(self) -> tuple[list[tuple[int, ot.Distribution]], _Array | None]:
        r"""Discrete marginals that :meth:`to_physical` maps itself, and the copula's factor.

        Independent copula: :math:`x_j = F_j^{-1}(\Phi(u_j))`; normal copula with shape
        matrix :math:`R = L L^\top`: :math:`x_j = F_j^{-1}(\Phi((L u)_j))` (OpenTURNS'
        convention, apart from its upper-tail error); other copulas: none.
        """
        copula = self.distribution.getCopula()
        if self.distribution.hasIndependentCopula():
            cholesky = None
        elif copula.getImplementation().getClassName() == "NormalCopula":
            cholesky = np.linalg.cholesky(np.asarray(copula.getShapeMatrix(), dtype=float))
        else:
            return [], None
        marginals = (self.distribution.getMarginal(j) for j in range(self.dimension))
        discrete = [(j, m) for j, m in enumerate(marginals) if m.isDiscrete()]
        return discrete, cholesky

    def __repr__(self) -> str:
        return (
            f"LimitStateModel(dimension={self.dimension}, n_calls={self.n_calls}, "
            f"max_calls={self.max_calls}, executor={self.executor!r})"
        )
