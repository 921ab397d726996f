"""File formats: OpenSCENARIO ``ParameterValueDistribution`` and distributions fitted to data."""

from __future__ import annotations

from safety_val.formats.fit import FitResult, fit_parameters
from safety_val.formats.xosc import ParameterDistributionSet, read_xosc, write_xosc

__all__ = ["FitResult", "ParameterDistributionSet", "fit_parameters", "read_xosc", "write_xosc"]
