"""Limit-state margins written as safe arithmetic expressions over KPIs.

A logical scenario states its failure criterion as a margin ``g`` computed from the
KPIs of one run; the run fails when ``g <= 0``. The expression is parsed with
:mod:`ast` and evaluated by a small whitelist interpreter over NumPy arrays —
**never** with :func:`eval` — so a scenario file cannot run code.

Grammar: numbers, KPI names, ``+ - * / **``, unary ``-``, parentheses and the
functions ``min(a, b, ...)``, ``max(a, b, ...)`` (element-wise), ``abs``, ``sqrt``,
``log``, ``exp``, ``clip(x, lo, hi)`` and ``where(cond, a, b)`` with comparisons
``< <= > >= == !=`` as conditions.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from safety_val.errors import ValidationError

__all__ = ["LimitState", "parse_limit_state"]

_Array = np.ndarray[Any, np.dtype[np.float64]]

_FUNCTIONS: Final[Mapping[str, tuple[int, int, Callable[..., Any]]]] = {
    # name: (min args, max args, implementation)
    "min": (1, 16, lambda *a: _reduce(np.minimum, a)),
    "max": (1, 16, lambda *a: _reduce(np.maximum, a)),
    "abs": (1, 1, np.abs),
    "sqrt": (1, 1, np.sqrt),
    "log": (1, 1, np.log),
    "exp": (1, 1, np.exp),
    "clip": (3, 3, np.clip),
    "where": (3, 3, np.where),
}
_BINARY: Final[Mapping[type[ast.operator], Callable[[Any, Any], Any]]] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Pow: np.power,
}
_COMPARE: Final[Mapping[type[ast.cmpop], Callable[[Any, Any], Any]]] = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}


def _reduce(function: Callable[[Any, Any], Any], args: tuple[Any, ...]) -> Any:
    result = args[0]
    for arg in args[1:]:
        result = function(result, arg)
    return result


@dataclass(frozen=True)
class LimitState:
    """A limit-state margin ``g(KPIs)``; failure when ``g <= 0``.

    Attributes
    ----------
    expression
        The margin as text, e.g. ``"min(min_ttc, 10) - 1.0"``.
    kpis
        The KPI names the expression reads.
    description
        What the criterion means, for reports.

    Examples
    --------
    >>> g = parse_limit_state("min(min_ttc, 10) - 1.0")
    >>> g.evaluate({"min_ttc": [0.4, 2.5, float("inf")]}).tolist()
    [-0.6, 1.5, 9.0]
    >>> g.kpis
    ('min_ttc',)
    """

    expression: str
    kpis: tuple[str, ...]
    description: str = ""
    _tree: ast.Expression = field(repr=False, compare=False, default=None)  # type: ignore[assignment]

    def evaluate(self, kpis: Mapping[str, Any] | pd.DataFrame) -> _Array:
        """Evaluate the margin on a batch of KPIs (columns of a frame or arrays by name).

        Returns a float array, one margin per run. Rows whose KPIs are NaN (a failed
        simulation) give NaN: they are neither a pass nor a failure.
        """
        values = {name: np.asarray(kpis[name], dtype=float) for name in self.kpis}
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            result = _Evaluator(values).visit(self._tree.body)
        n = len(next(iter(values.values()))) if values else 1
        return np.broadcast_to(np.asarray(result, dtype=float), (n,)).copy()

    def __call__(self, kpis: Mapping[str, Any] | pd.DataFrame) -> _Array:
        """Alias of :meth:`evaluate`."""
        return self.evaluate(kpis)


def parse_limit_state(
    expression: str,
    *,
    known_kpis: tuple[str, ...] | None = None,
    description: str = "",
    file: str | Path | None = None,
    field: str = "limit_state.expression",
) -> LimitState:
    """Parse and check a limit-state expression.

    Parameters
    ----------
    expression
        Arithmetic over KPI names (see the module docstring for the grammar).
    known_kpis
        If given, every name must be one of these.
    description
        What the criterion means.
    file, field
        Where the expression came from, for error messages.

    Raises
    ------
    ValidationError
        On a syntax error, a name that is not a KPI, or any construct outside the grammar
        (attribute access, calls of other functions, subscripts, lambdas, ...).
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ValidationError(
            "empty limit-state expression",
            file=file,
            field=field,
            value=expression,
            expected="an expression such as 'min_ttc - 1.0'",
        )
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValidationError(
            f"invalid limit-state expression: {exc.msg}", file=file, field=field, value=expression
        ) from None
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
                raise ValidationError(
                    "function not allowed in a limit state",
                    file=file,
                    field=field,
                    value=ast.unparse(node.func),
                    expected=f"one of {', '.join(_FUNCTIONS)}",
                )
            lo, hi, _ = _FUNCTIONS[node.func.id]
            if not lo <= len(node.args) <= hi or node.keywords:
                raise ValidationError(
                    f"{node.func.id}() takes {lo}..{hi} positional arguments",
                    file=file,
                    field=field,
                    value=ast.unparse(node),
                )
        elif isinstance(node, ast.Name):
            if not _is_function_name(tree, node):
                names.append(node.id)
        elif isinstance(node, ast.Constant) and (
            isinstance(node.value, bool) or not isinstance(node.value, int | float)
        ):
            raise ValidationError(
                "only numeric constants are allowed in a limit state",
                file=file,
                field=field,
                value=node.value,
            )
        elif not isinstance(node, _ALLOWED_NODES):
            raise ValidationError(
                f"construct not allowed in a limit state: {type(node).__name__}",
                file=file,
                field=field,
                value=expression,
                expected="numbers, KPI names, + - * / **, comparisons and min/max/abs/...",
            )
    kpis = tuple(dict.fromkeys(names))
    if known_kpis is not None:
        unknown = [n for n in kpis if n not in known_kpis]
        if unknown:
            raise ValidationError(
                f"unknown KPI '{unknown[0]}' in limit state",
                file=file,
                field=field,
                value=expression,
                expected=f"KPIs among {', '.join(known_kpis)}",
            )
    return LimitState(expression.strip(), kpis, description, _tree=tree)


def _is_function_name(tree: ast.Expression, name: ast.Name) -> bool:
    return any(isinstance(n, ast.Call) and n.func is name for n in ast.walk(tree))


_ALLOWED_NODES: Final = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Constant,
    ast.Compare,
    ast.Load,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Pow,
    ast.USub,
    ast.UAdd,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.Eq,
    ast.NotEq,
)


class _Evaluator(ast.NodeVisitor):
    def __init__(self, values: Mapping[str, _Array]) -> None:
        self.values = values

    def visit_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ValidationError("only numeric constants are allowed", value=node.value)
        return float(node.value)

    def visit_Name(self, node: ast.Name) -> Any:
        return self.values[node.id]

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        operand = self.visit(node.operand)
        return -operand if isinstance(node.op, ast.USub) else operand

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        return _BINARY[type(node.op)](self.visit(node.left), self.visit(node.right))

    def visit_Compare(self, node: ast.Compare) -> Any:
        left = self.visit(node.left)
        result: Any = True
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.visit(comparator)
            result = np.logical_and(result, _COMPARE[type(op)](left, right))
            left = right
        return result

    def visit_Call(self, node: ast.Call) -> Any:
        assert isinstance(node.func, ast.Name)
        return _FUNCTIONS[node.func.id][2](*(self.visit(a) for a in node.args))

    def generic_visit(self, node: ast.AST) -> Any:
        raise ValidationError(f"construct not allowed in a limit state: {type(node).__name__}")
