"""A simulator made from a Python function: vectorised (a batch) or row by row."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from safety_val.backends.base import STATUS_ERROR, STATUS_OK, normalise_output
from safety_val.errors import ValidationError

__all__ = ["CallableSimulator", "check_kpis"]


def check_kpis(kpis: Sequence[str], *, field: str = "kpis") -> tuple[str, ...]:
    """Validate a list of KPI names: non-empty, distinct strings, not ``status``/``message``.

    Examples
    --------
    >>> check_kpis(["min_ttc", "collision"])
    ('min_ttc', 'collision')
    """
    if isinstance(kpis, str) or not isinstance(kpis, Sequence) or not kpis:
        raise ValidationError(
            "must be a non-empty list of KPI names",
            field=field,
            value=kpis,
            expected='a list such as ["min_ttc", "collision"]',
        )
    names = tuple(kpis)
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name or name in ("status", "message"):
            raise ValidationError(
                "invalid KPI name",
                field=f"{field}[{i}]",
                value=name,
                expected="a non-empty string other than 'status' and 'message'",
            )
    if len(set(names)) != len(names):
        raise ValidationError("duplicate KPI names", field=field, value=list(names))
    return names


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class CallableSimulator:
    """Wrap a Python function as a :class:`~safety_val.backends.base.Simulator`.

    Parameters
    ----------
    function
        ``vectorised=True``: ``function(batch) -> DataFrame`` with one column per KPI
        and the index of ``batch`` (optional ``status`` / ``message`` columns are
        honoured). ``vectorised=False``: ``function(row) -> Mapping`` called once per
        scenario with the row as a ``dict`` (``scenario_id``, ``sample_index`` and the
        parameters), returning ``{kpi: value}``.
    kpis
        Names of the KPIs the function returns.
    vectorised
        Whether ``function`` takes a whole batch.
    name
        Backend name recorded in messages.

    Notes
    -----
    If the vectorised call raises, the batch is simulated again row by row (each
    row as a one-row DataFrame) so that only the failing rows become ``error``,
    with message ``"ExceptionType: message"``. A NaN or missing KPI on an ``ok`` row
    becomes ``error`` (see :func:`~safety_val.backends.base.normalise_output`).
    The simulator is picklable when ``function`` is (a module-level function, not a
    lambda), which the process and Ray executors need.

    Examples
    --------
    >>> import numpy as np
    >>> def ttc(batch):
    ...     return pd.DataFrame({"min_ttc": batch["gap"] / batch["speed"]}, index=batch.index)
    >>> sim = CallableSimulator(ttc, kpis=["min_ttc"])
    >>> sim.run(pd.DataFrame({"scenario_id": ["a", "b"], "gap": [20.0, 10.0],
    ...                       "speed": [10.0, 0.0]}))  # doctest: +NORMALIZE_WHITESPACE
       min_ttc status message
    0      2.0     ok
    1      inf     ok
    >>> row_sim = CallableSimulator(lambda row: {"min_ttc": 1 / row["x"]}, kpis=["min_ttc"],
    ...                             vectorised=False)
    >>> row_sim.run(pd.DataFrame({"scenario_id": ["a", "b"], "x": [2.0, 0.0]}))
    ... # doctest: +NORMALIZE_WHITESPACE
       min_ttc status                              message
    0      0.5     ok
    1      NaN  error  ZeroDivisionError: float division by zero
    """

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        kpis: Sequence[str],
        vectorised: bool = True,
        name: str = "callable",
    ) -> None:
        if not callable(function):
            raise ValidationError(
                "must be callable", field="function", value=function, expected="a function"
            )
        self.function = function
        self.kpis = check_kpis(kpis)
        self.vectorised = bool(vectorised)
        self.name = name

    def __repr__(self) -> str:
        fn_name = getattr(self.function, "__qualname__", repr(self.function))
        return (
            f"CallableSimulator({fn_name}, kpis={list(self.kpis)}, "
            f"vectorised={self.vectorised}, name={self.name!r})"
        )

    def run(self, batch: pd.DataFrame) -> pd.DataFrame:
        """Simulate every row of ``batch``; return KPIs, ``status`` and ``message``."""
        if not self.vectorised:
            return normalise_output(batch, self._run_rows(batch), self.kpis, backend=self.name)
        try:
            result = self._call_vectorised(batch)
        except Exception as exc:
            if len(batch) == 1:
                result = self._error_frame(batch.index, exc)
            else:
                result = self._run_rows_vectorised(batch)
        return normalise_output(batch, result, self.kpis, backend=self.name)

    def _call_vectorised(self, batch: pd.DataFrame) -> pd.DataFrame:
        result = self.function(batch.copy())
        if not isinstance(result, pd.DataFrame):
            raise TypeError(f"function returned {type(result).__name__}, expected a DataFrame")
        if not result.index.equals(batch.index):
            if len(result) == len(batch) and isinstance(result.index, pd.RangeIndex):
                result = result.set_axis(batch.index)
            else:
                raise ValueError("function returned a frame whose index is not the batch's")
        return result

    def _run_rows_vectorised(self, batch: pd.DataFrame) -> pd.DataFrame:
        """Fallback after a failed vectorised call: one row at a time."""
        pieces = []
        for position in range(len(batch)):
            row = batch.iloc[position : position + 1]
            try:
                pieces.append(self._call_vectorised(row))
            except Exception as exc:
                pieces.append(self._error_frame(row.index, exc))
        result = pd.concat(pieces, axis=0)
        status = result["status"] if "status" in result else pd.Series(index=result.index)
        message = result["message"] if "message" in result else pd.Series(index=result.index)
        result["status"] = status.astype(object).where(status.notna(), STATUS_OK)
        result["message"] = message.astype(object).where(message.notna(), "")
        return result

    def _error_frame(self, index: pd.Index, exc: BaseException) -> pd.DataFrame:
        return pd.DataFrame(
            {"status": STATUS_ERROR, "message": _describe(exc)}, index=index
        )

    def _run_rows(self, batch: pd.DataFrame) -> pd.DataFrame:
        records: list[dict[str, Any]] = []
        for row in batch.to_dict(orient="records"):
            try:
                values = self.function(dict(row))
                if not isinstance(values, Mapping):
                    raise TypeError(
                        f"function returned {type(values).__name__}, expected a mapping "
                        "from KPI name to value"
                    )
                record = {k: values.get(k) for k in self.kpis}
                record["status"] = values.get("status", STATUS_OK)
                record["message"] = values.get("message", "")
            except Exception as exc:
                record = {k: None for k in self.kpis}
                record["status"] = STATUS_ERROR
                record["message"] = _describe(exc)
            records.append(record)
        frame = pd.DataFrame.from_records(records, index=batch.index)
        for kpi in self.kpis:
            frame[kpi] = pd.to_numeric(frame[kpi], errors="coerce")
        return frame
