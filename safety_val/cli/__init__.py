"""The ``safety-val`` command line: thin — it parses, calls the library and renders.

One package: :mod:`~safety_val.cli.application` (the application, its command groups and
:func:`main`), :mod:`~safety_val.cli.common` (consoles, shared options, executor and
progress bar; what ``traffic_ai``'s commands use too) and one module per command group.
Nothing is imported here eagerly, so ``import traffic_ai.cli`` and ``import
safety_val.cli`` work in either order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["app", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (see :func:`safety_val.cli.application.main`)."""
    from safety_val.cli.application import main as run

    return run(argv)


def __getattr__(name: str) -> Any:
    if name == "app":
        from safety_val.cli.application import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
