"""Tool qualification: a versioned validation suite run on the installed package.

A safety engineer who cites safety-val's numbers as evidence must show that the tool is
fit for the purpose (ISO 26262-8 clause 11, confidence in the use of software tools:
validation of the software tool; ISO 21448 relies on the same argument for simulation
tools). Instead of a certificate, safety-val ships the validation itself:
``safety-val qualify [--quick] --out DIR`` runs a fixed suite of requirements on the
user's own machine and versions and writes ``qualification.json`` (schema
``qualification.schema.json``, sealed with a SHA-256) and a self-contained
``qualification.html``: one row per requirement with its text, method, acceptance
criterion, measured value, verdict and seed, and the provenance of the run.

The requirements (:func:`~safety_val.qualify.suite.all_requirements`) cover what a
safety case relies on: every reliability method against exact references (accuracy,
interval coverage over seeds, ``converged=False`` on unreachable budgets) and against
simulated references of the benchmark cases, sensitivity indices against the Ishigami
and Sobol' G functions, the simulator's physics against closed forms, executor
equivalence, resume after a kill, bad-input handling and determinism.

Examples
--------
>>> from safety_val.qualify import SUITE_VERSION, select_requirements
>>> quick = select_requirements("quick")
>>> len(quick) < len(select_requirements("full")), SUITE_VERSION
(True, '1.1.0')
"""

from __future__ import annotations

from safety_val.qualify.document import (
    SCHEMA,
    build_document,
    canonical_bytes,
    json_schema,
    load_document,
    validate_document,
    verify_document,
)
from safety_val.qualify.requirement import CheckContext, Outcome, Requirement, RequirementResult
from safety_val.qualify.runner import QualificationReport, run_qualification, run_requirement
from safety_val.qualify.suite import (
    SUITE_NAME,
    SUITE_VERSION,
    all_requirements,
    select_requirements,
)
from safety_val.qualify.write import HTML_NAME, JSON_NAME, write_qualification

__all__ = [
    "HTML_NAME",
    "JSON_NAME",
    "SCHEMA",
    "SUITE_NAME",
    "SUITE_VERSION",
    "CheckContext",
    "Outcome",
    "QualificationReport",
    "Requirement",
    "RequirementResult",
    "all_requirements",
    "build_document",
    "canonical_bytes",
    "json_schema",
    "load_document",
    "run_qualification",
    "run_requirement",
    "select_requirements",
    "validate_document",
    "verify_document",
    "write_qualification",
]
