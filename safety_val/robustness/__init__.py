r"""Robustness of a failure probability to the assumptions on its inputs.

:func:`analyze` takes a :class:`~safety_val.reliability.result.FailureProbabilityResult`
and answers, mostly without new simulations:

- the reliability index and the safety margin in :math:`\sigma` units, per failure mode,
  with its reading (robust, adequate, weak, critical);
- :math:`p_f` when an input's distribution shifts (mean shift, spread inflation), also
  beyond the ODD where asked — by re-weighting one importance sample
  (:mod:`safety_val.reliability.importance`) where the effective sample size allows it,
  by new simulations where it does not (the table says which);
- the local sensitivity of :math:`p_f` to every distribution parameter (score function);
- the worst :math:`p_f` over an ambiguity set of input means, and the means attaining it;
- a table (:meth:`RobustnessResult.to_frame`) and a tornado plot.

The package, by concern:

- :mod:`~safety_val.robustness.shifts`: the shift language (:class:`Shift`,
  :func:`parse_shift`, :func:`parse_ambiguity`);
- :mod:`~safety_val.robustness.reweighting`: likelihood-ratio re-weighting of the
  importance sample (or new simulations where it is unreliable);
- :mod:`~safety_val.robustness.margins`: margins, their readings, and score-function
  sensitivities;
- :mod:`~safety_val.robustness.worst_case`: the worst case over an ambiguity set;
- :mod:`~safety_val.robustness.result`: :class:`RobustnessResult`;
- :mod:`~safety_val.robustness.plots`: the tornado plot;
- :mod:`~safety_val.robustness.analysis`: :func:`analyze` and :func:`follow_up_method`.
"""

from __future__ import annotations

from safety_val.robustness.analysis import analyze, follow_up_method
from safety_val.robustness.margins import MARGIN_READINGS, margin_reading
from safety_val.robustness.result import RobustnessResult
from safety_val.robustness.shifts import Shift, parse_ambiguity, parse_shift
from safety_val.robustness.worst_case import WorstCase

__all__ = [
    "MARGIN_READINGS",
    "RobustnessResult",
    "Shift",
    "WorstCase",
    "analyze",
    "follow_up_method",
    "margin_reading",
    "parse_ambiguity",
    "parse_shift",
]
