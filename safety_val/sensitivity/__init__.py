"""Sensitivity analysis: two-stage factor screening that reduces the dimension before reliability.

Stage 1 ranks the parameters without a model of the model (SALib): Morris elementary
effects, Sobol' indices (Saltelli design) and the given-data methods RBD-FAST, delta and
PAWN. Stage 2 adds parameters in that order to a cross-validated scikit-learn surrogate
and keeps those that raise its score beyond the fold-to-fold noise. The reduction fixes
the others at nominal values (:func:`reduce_scenario`) and :func:`check_reduction`
verifies on held-out points that failures are classified as before.

Every index is compared with its estimator's noise floor (:mod:`.noise`: the index of
dummy inputs the model does not use); ``ranking["above_noise"]`` says which parameters
rise above it. A two-valued output with few rare events (a failure label on a DOE with a
handful of failures) is not ranked when a continuous margin is at hand (``rank_on``).

Examples
--------
>>> from safety_val.sensitivity import analyze, ishigami, ishigami_distribution
>>> result = analyze(ishigami, ishigami_distribution(), n=500, methods=("rbd_fast",),
...                  seed=0, selection=False)
>>> result.ranking["parameter"].iloc[0]
'x2'
"""

from __future__ import annotations

from safety_val.sensitivity.analyze import (
    METHODS,
    MIN_RANKED_FAILURES,
    MethodSpec,
    analyze,
    analyze_given_data,
    rank_parameters,
)
from safety_val.sensitivity.functions import (
    G_FUNCTION_A,
    SPARSE_INFLUENTIAL,
    ishigami,
    ishigami_distribution,
    ishigami_indices,
    sobol_g,
    sobol_g_distribution,
    sobol_g_indices,
    sparse_distribution,
    sparse_function,
    sparse_indices,
)
from safety_val.sensitivity.reduction import (
    ReducedFunction,
    ReductionCheck,
    check_reduction,
    nominal_values,
    reduce_function,
    reduce_scenario,
    write_scenario,
)
from safety_val.sensitivity.result import SensitivityResult
from safety_val.sensitivity.selection import SelectionResult, forward_selection

__all__ = [
    "G_FUNCTION_A",
    "METHODS",
    "MIN_RANKED_FAILURES",
    "SPARSE_INFLUENTIAL",
    "MethodSpec",
    "ReducedFunction",
    "ReductionCheck",
    "SelectionResult",
    "SensitivityResult",
    "analyze",
    "analyze_given_data",
    "check_reduction",
    "forward_selection",
    "ishigami",
    "ishigami_distribution",
    "ishigami_indices",
    "nominal_values",
    "rank_parameters",
    "reduce_function",
    "reduce_scenario",
    "sobol_g",
    "sobol_g_distribution",
    "sobol_g_indices",
    "sparse_distribution",
    "sparse_function",
    "sparse_indices",
    "write_scenario",
]
