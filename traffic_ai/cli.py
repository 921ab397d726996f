"""``safety-val traffic …``: road networks, macro data, traffic models and random testing.

Thin: each command parses, calls the library and renders. torch and SUMO are imported
inside the commands, so ``safety-val --help`` stays fast and works without the extras.
"""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(
    help="Road networks, macroscopic traffic data, GNN traffic models and random testing in SUMO.",
    no_args_is_help=True,
)
