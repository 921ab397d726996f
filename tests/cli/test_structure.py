"""The layout's promises: no import cycle between the CLIs, Ray only inside ``execution/``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "statements",
    [
        "import traffic_ai.cli; import safety_val.cli",
        "import safety_val.cli; import traffic_ai.cli",
        "import traffic_ai.random_testing.cli; import safety_val.cli.common",
    ],
)
def test_the_clis_import_in_either_order(statements: str) -> None:
    check = (
        f"{statements}; from safety_val.cli import app; "
        "names = {g.name for g in app.registered_groups}; "
        "assert 'traffic' in names, names; "
        "assert callable(__import__('safety_val.cli', fromlist=['main']).main)"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_only_the_execution_package_imports_ray() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("safety_val", "traffic_ai")
        for path in sorted((ROOT / package).rglob("*.py"))
        if "execution" not in path.relative_to(ROOT).parts
        and any(name == "ray" or name.startswith("ray.") for name in _imports(path))
    ]
    assert offenders == []
    # the check itself finds Ray where it is imported
    assert "ray" in _imports(ROOT / "safety_val" / "execution" / "ray_executor.py")
