from __future__ import annotations

import pytest

from safety_val.errors import ValidationError
from safety_val.execution import ProcessExecutor, SerialExecutor, make_executor


def test_make_executor_known_kinds() -> None:
    assert isinstance(make_executor("serial"), SerialExecutor)
    with make_executor("process", n_workers=2, max_retries=1) as executor:
        assert isinstance(executor, ProcessExecutor)
        assert (executor.n_workers, executor.max_retries) == (2, 1)


def test_unknown_kind_lists_choices() -> None:
    expected = r"unknown executor 'dask'; expected one of process, ray, serial"
    with pytest.raises(ValidationError, match=expected):
        make_executor("dask")


@pytest.mark.parametrize(
    ("kind", "options", "match"),
    [
        ("serial", {"n_workers": 2}, "invalid options for executor 'serial'"),
        ("process", {"workers": 2}, "options among n_workers, max_retries, start_method"),
        ("process", {"n_workers": 0}, "n_workers: must be an int >= 1"),
        ("process", {"n_workers": 2.5}, "n_workers"),
        ("process", {"start_method": "fork"}, "start_method"),
    ],
)
def test_bad_options(kind: str, options: dict, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        make_executor(kind, **options)


def test_importing_execution_does_not_import_ray() -> None:
    import subprocess
    import sys

    code = "import sys, safety_val.execution, safety_val.runs.store; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
