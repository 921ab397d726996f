"""Where and with what a qualification ran: versions, platform, CPU, source commit.

Everything is read from the installed metadata and the operating system, without
importing the packages (a package that cannot be imported still shows its version).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = ["PACKAGES", "cpu_description", "git_commit", "package_versions", "provenance"]

PACKAGES = (
    "safety-val",
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "openturns",
    "SALib",
    "scikit-learn",
    "ray",
    "pyyaml",
    "defusedxml",
    "jinja2",
    "typer",
    "rich",
    "duckdb",
    "matplotlib",
)
"""Distributions whose versions shape the results or the report."""


def package_versions() -> dict[str, str]:
    """Installed version of each of :data:`PACKAGES` (``"not installed"`` if missing).

    Examples
    --------
    >>> sorted(package_versions()) == sorted(PACKAGES)
    True
    """
    found: dict[str, str] = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def cpu_description() -> str:
    """The CPU model (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    cpuinfo = Path("/proc/cpuinfo")
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def git_commit(path: Path | None = None) -> dict[str, Any] | None:
    """The commit of the source checkout the package runs from, if it is one.

    Returns
    -------
    dict or None
        ``{"commit": sha, "dirty": bool}`` (``dirty``: uncommitted changes in the
        package's sources), or ``None`` for an installed wheel, a missing ``git`` or any
        failure to ask it.
    """
    import safety_val

    folder = path or Path(safety_val.__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        if commit.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no", "--", "."],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {
        "commit": commit.stdout.strip(),
        "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None,
    }


def provenance() -> dict[str, Any]:
    """Versions, interpreter, platform, CPU and source commit of this run."""
    return {
        "packages": package_versions(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_description(),
        "cpu_count": os.cpu_count() or 1,
        "usable_cpus": _usable_cpus(),
        "git": git_commit(),
    }
