from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import safety_val.backends as backends
from safety_val.backends import CallableSimulator, CommandSimulator, make_simulator
from safety_val.errors import ValidationError


def test_make_callable_and_command() -> None:
    sim = make_simulator("callable", function=len, kpis=["n"], vectorised=False)
    assert isinstance(sim, CallableSimulator)
    cmd = make_simulator("command", argv=[sys.executable, "-c", "pass"], kpis=["k"])
    assert isinstance(cmd, CommandSimulator) and cmd.kpis == ("k",)


def test_unknown_simulator_lists_choices() -> None:
    with pytest.raises(ValidationError) as info:
        make_simulator("carla2")
    expected = "unknown simulator 'carla2'; expected one of builtin, callable, command"
    assert str(info.value) == expected


def test_bad_options() -> None:
    with pytest.raises(ValidationError, match="invalid options for simulator 'command'"):
        make_simulator("command", argv=["python3"], kpis=["k"], shell=True)
    with pytest.raises(ValidationError, match="command 'no-such-simulator-xyz' not found on PATH"):
        make_simulator("command", argv=["no-such-simulator-xyz"], kpis=["k"])


def test_exports() -> None:
    assert backends.STATUS_OK == "ok" and backends.STATUS_TIMEOUT == "timeout"
    with pytest.raises(AttributeError):
        backends.NoSuchThing  # noqa: B018


def test_builtin_is_lazy() -> None:
    pytest.importorskip("safety_val.backends.builtin")
    # In a fresh interpreter: this one may already have imported the built-in simulator.
    script = textwrap.dedent(
        """
        import sys

        import safety_val.backends as backends
        from safety_val.backends import make_simulator
        from safety_val.backends.registry import SIMULATORS

        builtin = "safety_val.backends.builtin"
        assert "builtin" in SIMULATORS
        assert builtin not in sys.modules, "imported with the package"
        make_simulator("callable", function=len, kpis=["n"], vectorised=False)
        assert builtin not in sys.modules, "imported by building another backend"
        cls = backends.BuiltinSimulator
        assert builtin in sys.modules, "not imported when asked for"
        assert cls.__name__ == "BuiltinSimulator" and cls.__module__ == builtin
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert backends.BuiltinSimulator.__name__ == "BuiltinSimulator"
