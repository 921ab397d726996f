"""Discrete-space random testing: many egos in SUMO traffic driven by the macro model.

Modules: :mod:`~.demand` (routes from forecasts, GEH check), :mod:`~.geh`,
:mod:`~.calibration` (IDM fits, vType distributions), :mod:`~.egos` (sensor view,
policies, reference ADS), :mod:`~.events` (NG events, records), :mod:`~.rates`
(Garwood intervals), :mod:`~.runner` (one instance, many instances on an executor),
:mod:`~.replay` (OpenSCENARIO, built-in re-simulation), :mod:`~.mining` (candidate
logical scenarios), :mod:`~.plan` (the whole test) and :mod:`~.cli`.

SUMO is imported only inside the functions that run it.
"""

from __future__ import annotations

__all__: list[str] = []
