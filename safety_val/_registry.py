"""One mechanism for the string shortcuts (``"ray"``, ``"builtin"``, ...): a registry.

A registry maps a short name to ``"module:attribute"``; the class is imported only
when that name is asked for (so Ray or the built-in simulator load only if used).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from safety_val.errors import ValidationError

__all__ = ["build_from_registry", "resolve"]


def resolve(target: str) -> Any:
    """Import ``"package.module:attribute"`` and return the attribute."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def build_from_registry(
    registry: Mapping[str, str], kind: str, what: str, options: Mapping[str, Any]
) -> Any:
    """Look ``kind`` up in ``registry``, check ``options`` against the class, build it.

    Raises
    ------
    ValidationError
        Unknown ``kind`` (the message lists the valid ones) or options the class does
        not take (the message lists those it does).
    """
    if not isinstance(kind, str) or kind not in registry:
        raise ValidationError(
            f"unknown {what} {kind!r}; expected one of {', '.join(sorted(registry))}"
        )
    cls = resolve(registry[kind])
    signature = inspect.signature(cls)
    try:
        signature.bind(**options)
    except TypeError as exc:
        accepted = [
            name
            for name, p in signature.parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        raise ValidationError(
            f"invalid options for {what} {kind!r}: {exc}",
            field=what,
            value=sorted(options),
            expected=f"options among {', '.join(accepted) or '(none)'}",
        ) from None
    return cls(**options)
