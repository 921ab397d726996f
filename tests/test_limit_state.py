import numpy as np
import pandas as pd
import pytest

from safety_val.errors import ValidationError
from safety_val.limit_state import parse_limit_state


def test_arithmetic_and_functions_match_numpy() -> None:
    kpis = pd.DataFrame(
        {
            "min_ttc": [0.5, 3.0, np.inf],
            "min_gap": [-0.2, 4.0, 30.0],
            "collision": [1.0, 0.0, 0.0],
            "impact_speed": [4.0, 0.0, 0.0],
        }
    )
    g = parse_limit_state("min(min_ttc, 10) - 1.0")
    np.testing.assert_allclose(g(kpis), [-0.5, 2.0, 9.0])
    g2 = parse_limit_state("where(collision > 0, -impact_speed, min_gap / 2 - 1)")
    np.testing.assert_allclose(g2(kpis), [-4.0, 1.0, 14.0])
    g3 = parse_limit_state("clip(min_gap, 0, 5) ** 2 + abs(-1) - sqrt(4)")
    np.testing.assert_allclose(g3(kpis), [-1.0, 15.0, 24.0])
    assert g2.kpis == ("collision", "impact_speed", "min_gap")


def test_constant_expression_broadcasts() -> None:
    assert parse_limit_state("1 + 1").evaluate({}).tolist() == [2.0]


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('true')",
        "min_ttc.real",
        "min_ttc[0]",
        "lambda: 1",
        "open('x')",
        "[1, 2]",
        "'text'",
        "min_ttc if 1 else 2",
        "min(x=1)",
    ],
)
def test_code_is_refused_never_evaluated(expression: str) -> None:
    with pytest.raises(ValidationError, match=r"not allowed|only numeric|takes"):
        parse_limit_state(expression)


def test_unknown_kpi_and_syntax_error() -> None:
    with pytest.raises(ValidationError, match="unknown KPI 'min_tc'"):
        parse_limit_state("min_tc - 1", known_kpis=("min_ttc",))
    with pytest.raises(ValidationError, match="invalid limit-state expression"):
        parse_limit_state("min_ttc -")
