"""``method="..."``: one registry from a short name to a method's ``run`` function.

Every method is a plain function
``run(model, *, target_cov, max_calls, rng, **options) -> FailureProbabilityResult``.
Entries are ``"module:function"`` strings imported only when used (by
:func:`safety_val._registry.resolve`, the project's one registry mechanism), so a method
whose module is missing or broken does not break the others.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from safety_val._registry import resolve
from safety_val.errors import ValidationError
from safety_val.reliability.model import LimitStateModel
from safety_val.reliability.result import FailureProbabilityResult

__all__ = ["METHODS", "MethodRun", "available_methods", "check_options", "get_method"]


class MethodRun(Protocol):
    """Signature of a reliability method."""

    def __call__(
        self,
        model: LimitStateModel,
        *,
        target_cov: float,
        max_calls: int | None,
        rng: np.random.Generator,
        **options: Any,
    ) -> FailureProbabilityResult:
        """Run the method on ``model`` and return its result."""
        ...


METHODS: dict[str, str | Callable[..., FailureProbabilityResult]] = {
    "mc": "safety_val.reliability.sampling:run_monte_carlo",
    "form": "safety_val.reliability.approximation:run_form",
    "sorm": "safety_val.reliability.approximation:run_sorm",
    "directional": "safety_val.reliability.sampling:run_directional",
    "subset": "safety_val.reliability.sampling:run_subset",
    "ce_is": "safety_val.reliability.sampling:run_cross_entropy",
    "nais": "safety_val.reliability.sampling:run_nais",
    "ak": "safety_val.reliability.active_learning:run",
    "ais": "safety_val.reliability.adaptive_is:run",
    "auto": "safety_val.reliability.auto:run",
}
"""Method name → ``"module:function"`` (or the function itself)."""


def available_methods() -> tuple[str, ...]:
    """The registered method names, sorted.

    Examples
    --------
    >>> "subset" in available_methods()
    True
    """
    return tuple(sorted(METHODS))


def get_method(name: str) -> Callable[..., FailureProbabilityResult]:
    """Resolve a method name to its ``run`` function.

    Raises
    ------
    ValidationError
        Unknown name (the message lists the valid ones) or a registered method whose
        module cannot be imported.

    Examples
    --------
    >>> get_method("form").__name__
    'run_form'
    >>> try:
    ...     get_method("importance")
    ... except ValidationError as err:
    ...     print(err)  # doctest: +ELLIPSIS
    method: unknown reliability method 'importance' (got 'importance'; expected one of ais, ak, ...)
    """
    if not isinstance(name, str) or name not in METHODS:
        raise ValidationError(
            f"unknown reliability method {name!r}",
            field="method",
            value=name,
            expected=f"one of {', '.join(available_methods())}",
        )
    target = METHODS[name]
    if callable(target):
        return target
    try:
        function = resolve(target)
    except (ImportError, AttributeError) as exc:
        raise ValidationError(
            f"reliability method {name!r} is registered but {target} cannot be loaded "
            f"({type(exc).__name__}: {exc})",
            field="method",
            value=name,
        ) from exc
    resolved: Callable[..., FailureProbabilityResult] = function
    return resolved


def check_options(function: Callable[..., Any], name: str, options: Mapping[str, Any]) -> None:
    """Raise :class:`ValidationError` for options ``function`` does not accept."""
    signature = inspect.signature(function)
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return
    common = {"model", "target_cov", "max_calls", "rng"}
    accepted = [
        p
        for p, spec in signature.parameters.items()
        if spec.kind is spec.KEYWORD_ONLY and p not in common
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValidationError(
            f"invalid options for reliability method {name!r}",
            field="options",
            value=unknown,
            expected=f"options among {', '.join(accepted) or '(none)'}",
        )
