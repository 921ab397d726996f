"""Saving a :class:`FailureProbabilityResult` next to its run store, and reading it back.

``safety-val estimate`` writes ``result.json`` (the result's :meth:`to_dict` inside a
small report with the scenario's name and file hash) and ``result_samples.parquet``
(every point the method evaluated, with ``g`` and its stage). Robustness and
critical-region analyses read both back with :func:`load_result`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from safety_val._io import atomic_path, atomic_write_text
from safety_val.errors import ValidationError
from safety_val.reliability.result import DesignPoint, FailureProbabilityResult, history_frame

__all__ = ["RESULT_FILE", "SAMPLES_FILE", "load_result", "load_result_report", "save_result"]

RESULT_FILE = "result.json"
SAMPLES_FILE = "result_samples.parquet"


def save_result(result: FailureProbabilityResult, folder: str | Path, **report: Any) -> Path:
    """Write ``result.json`` (``report`` fields plus ``"result"``) and the samples, atomically.

    Returns the path of ``result.json``.
    """
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    with atomic_path(root / SAMPLES_FILE) as tmp:
        result.samples.to_parquet(tmp, index=False)
    content = {**report, "result": result.to_dict()}
    text = json.dumps(content, indent=2, allow_nan=False) + "\n"
    return atomic_write_text(root / RESULT_FILE, text)


def load_result_report(folder: str | Path) -> dict[str, Any]:
    """The report written by :func:`save_result` (``ValidationError`` if missing or broken)."""
    file = Path(folder) / RESULT_FILE
    try:
        report = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(
            "no reliability result in this run directory",
            file=file,
            expected="a run directory written by 'safety-val estimate'",
        ) from None
    except (OSError, ValueError) as exc:
        raise ValidationError(f"unreadable result: {exc}", file=file) from None
    if not isinstance(report, Mapping) or not isinstance(report.get("result"), Mapping):
        raise ValidationError("missing 'result' object", file=file, field="result")
    return dict(report)


def load_result(folder: str | Path) -> FailureProbabilityResult:
    """Rebuild the :class:`FailureProbabilityResult` saved in ``folder``.

    Examples
    --------
    >>> import tempfile, numpy as np, openturns as ot
    >>> from safety_val.reliability import estimate_failure_probability
    >>> result = estimate_failure_probability(lambda x: 3 - x[:, 0], ot.Normal(2),
    ...                                       method="form", seed=0)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = save_result(result, folder, scenario="demo")
    ...     again = load_result(folder)
    >>> again.pf == result.pf, again.design_points[0].beta == result.design_points[0].beta
    (True, True)
    """
    root = Path(folder)
    data = load_result_report(root)["result"]
    names = tuple(str(n) for n in data.get("parameter_names") or ())
    try:
        samples = pd.read_parquet(root / SAMPLES_FILE)
    except FileNotFoundError:
        samples = pd.DataFrame(columns=[*names, "g", "stage"])
    except (OSError, ValueError) as exc:
        raise ValidationError(f"unreadable samples: {exc}", file=root / SAMPLES_FILE) from None
    try:
        history_rows = [
            {str(k): _number(v) for k, v in row.items()} for row in data.get("history") or []
        ]
        return FailureProbabilityResult(
            pf=_number(data.get("pf")),
            cov=_number(data.get("cov")),
            ci=(_number(data["ci"][0]), _number(data["ci"][1])),
            n_calls=int(data["n_calls"]),
            converged=bool(data["converged"]),
            method=str(data["method"]),
            message=str(data.get("message") or ""),
            design_points=tuple(_design_point(dp, names) for dp in data.get("design_points") or ()),
            history=history_frame(history_rows),
            samples=samples,
            details=dict(data.get("details") or {}),
            parameter_names=names,
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValidationError(
            f"malformed result: {exc}", file=root / RESULT_FILE, field="result"
        ) from None


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _design_point(data: Mapping[str, Any], names: tuple[str, ...]) -> DesignPoint:
    def vector(value: Any) -> np.ndarray:
        if isinstance(value, Mapping):
            value = [value[n] for n in names] if names else list(value.values())
        return np.asarray([_number(v) for v in value], dtype=float)

    importance = data.get("importance")
    return DesignPoint(
        x=vector(data["x"]),
        u=vector(data["u"]),
        beta=_number(data.get("beta")),
        importance=None if importance is None else pd.Series(importance, dtype=float),
    )
