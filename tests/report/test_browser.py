"""The HTML report in a real headless Chromium: it renders, parses, logs nothing.

The screenshot is kept as a test artifact in ``reports/generated/test-artifacts/``
(git-ignored).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from safety_val.report import build_report, write_report

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "reports" / "generated" / "test-artifacts"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"
)


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _console_messages(log: str) -> list[str]:
    """Lines Chromium logs for the page's console (errors, CSP violations, exceptions)."""
    return [line for line in log.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def test_report_renders_in_headless_chromium(pipeline_run: Path, tmp_path: Path) -> None:
    import matplotlib.image

    [page] = write_report(
        build_report(pipeline_run, target=1e-7), formats="html", out=tmp_path / "r.html"
    )
    url = page.resolve().as_uri()

    dom = _chromium(tmp_path / "profile-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert _console_messages(dom.stderr) == []
    html = dom.stdout
    sections = [
        html.find(f'<section id="{name}">')
        for name in ("verdict", "estimate", "scenario", "provenance")
    ]
    assert -1 not in sections and sections == sorted(sections)
    verdict = html[sections[0] : sections[1]]
    assert "target not met" in verdict  # pf is a few per cent, far above 1e-7
    assert "<script" not in html.lower()
    assert "&lt;script&gt;" in html

    shot = tmp_path / "report.png"
    result = _chromium(
        tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,4000", url
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert _console_messages(result.stderr) == []
    assert shot.stat().st_size > 50_000
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (4000, 1280)
    assert float(np.std(pixels[..., :3])) > 0.05  # not a blank page
    # the red "not met" verdict banner is near the top of the page
    top = pixels[:400, :, :3]
    assert np.any((top[..., 0] > 0.6) & (top[..., 1] < 0.3) & (top[..., 2] < 0.3))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / "report.png")
