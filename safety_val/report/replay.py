"""Replay one concrete scenario of a run with trajectory recording, to see what happened.

:func:`replay` finds a scenario by its stable ``scenario_id`` in any run store of a
run directory, simulates it again with the built-in simulator recording every
agent's trajectory, and checks that the KPIs come out as stored: the simulator is
deterministic per scenario id (its random numbers are a function of the id), so
any difference means the scenario file, the simulator or its version changed.

Usage (``safety-val replay RUN SCENARIO_ID`` does the same)::

    from safety_val.report.replay import replay

    r = replay("runs/cut_in_pf", "81efaced9945a551")
    r.matches, r.kpis["min_ttc"]      # (True, 0.53...)
    r.trajectories                     # t, agent, x, y, v, a, gap, ttc
    r.plot().savefig("replay.png")
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from safety_val.errors import SimulationError, ValidationError
from safety_val.report.rundir import (
    PIPELINE_FILE,
    iter_stores,
    read_json,
    read_pipeline,
    read_store_samples,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from safety_val.scenario import LogicalScenario

__all__ = ["Replay", "replay"]

TTC_PLOT_CAP: Final = 10.0
"""TTC above this (s) is drawn at the top of the TTC panel."""
KPI_RTOL: Final = 1e-9
"""Relative tolerance of the replayed-versus-stored KPI check (float round-off only)."""


@dataclass(frozen=True)
class Replay:
    """A re-simulated concrete scenario with its trajectories.

    Attributes
    ----------
    run_dir
        The run directory.
    store
        The run store in which the scenario was found.
    scenario
        The logical scenario's name.
    scenario_id
        The concrete scenario's stable id.
    parameters
        Its parameter values.
    trajectories
        One row per agent and time step: ``t`` (s), ``agent`` (``"ego"``,
        ``"agent 1"``, ...), ``x``, ``y`` (m), ``v`` (m/s), ``a`` (m/s²), and for the
        other agents ``gap`` (bumper gap to the ego, m) and ``ttc`` (s, ``inf`` when
        not closing in or not in the ego's path).
    kpis
        The replayed KPIs (and ``g``).
    stored_kpis
        The KPIs (and ``g``) stored in the run.
    limit_state
        The limit-state expression (failure when ``g <= 0``).
    units
        Unit of each parameter.
    """

    run_dir: Path
    store: Path
    scenario: str
    scenario_id: str
    parameters: dict[str, Any]
    trajectories: pd.DataFrame = field(repr=False)
    kpis: dict[str, float]
    stored_kpis: dict[str, float]
    limit_state: str = ""
    units: dict[str, str] = field(default_factory=dict)

    @property
    def matches(self) -> bool:
        """Whether every replayed KPI equals the stored one (up to float round-off)."""
        return bool(self.kpi_table()["equal"].all())

    @property
    def failed(self) -> bool:
        """Whether the replayed scenario fails the limit state (``g <= 0``)."""
        return bool(self.kpis.get("g", math.nan) <= 0)

    @property
    def ttc(self) -> pd.Series:
        """Smallest TTC over the other agents at each time step (s), indexed by ``t``."""
        others = self.trajectories.loc[self.trajectories["agent"] != "ego"]
        return others.groupby("t")["ttc"].min()

    def kpi_table(self) -> pd.DataFrame:
        """KPIs side by side: ``kpi``, ``stored``, ``replayed``, ``equal``."""
        rows = []
        for name, value in self.kpis.items():
            stored = self.stored_kpis.get(name, math.nan)
            both_nan = math.isnan(stored) and math.isnan(value)
            same = both_nan or (
                stored == value
                or (
                    math.isfinite(stored)
                    and math.isclose(stored, value, rel_tol=KPI_RTOL, abs_tol=1e-12)
                )
            )
            rows.append({"kpi": name, "stored": stored, "replayed": value, "equal": bool(same)})
        return pd.DataFrame(rows, columns=["kpi", "stored", "replayed", "equal"])

    def summary(self) -> str:
        """One line: the outcome and whether the replay reproduced the stored KPIs."""
        g = self.kpis.get("g", math.nan)
        outcome = "FAILURE" if self.failed else "pass"
        check = (
            "re-simulated KPIs equal the stored ones"
            if self.matches
            else "re-simulated KPIs DIFFER from the stored ones (scenario file or simulator "
            "changed?)"
        )
        return f"{self.scenario} {self.scenario_id}: {outcome} (g = {g:.4g}); {check}"

    def plot(self) -> Figure:
        """Positions (x–y and x over time), speeds and TTC over time of every agent.

        Returns
        -------
        matplotlib.figure.Figure
            Four panels; a collision is marked by a vertical line in the time panels.
        """
        from matplotlib.figure import Figure

        figure = Figure(figsize=(11.0, 7.5), layout="constrained")
        (top_left, top_right), (bottom_left, bottom_right) = figure.subplots(2, 2)
        collision = self._collision_time()
        for index, (agent, track) in enumerate(self.trajectories.groupby("agent", sort=False)):
            colour = f"C{index}"
            top_left.plot(track["x"], track["y"], color=colour, label=str(agent))
            top_left.plot(track["x"].iloc[0], track["y"].iloc[0], "o", color=colour)
            top_right.plot(track["t"], track["x"], color=colour, label=str(agent))
            bottom_left.plot(track["t"], track["v"], color=colour, label=str(agent))
            if agent != "ego":
                ttc = track["ttc"].clip(upper=TTC_PLOT_CAP)
                bottom_right.plot(track["t"], ttc, color=colour, label=f"TTC to {agent}")
        top_left.set(xlabel="x [m]", ylabel="y [m]", title="positions (start: dot)")
        top_right.set(xlabel="t [s]", ylabel="x [m]", title="longitudinal position over time")
        bottom_left.set(xlabel="t [s]", ylabel="v [m/s]", title="speed over time")
        bottom_right.set(
            xlabel="t [s]",
            ylabel="TTC [s]",
            ylim=(0.0, TTC_PLOT_CAP * 1.05),
            title=f"time to collision (capped at {TTC_PLOT_CAP:g} s)",
        )
        min_ttc = self.kpis.get("min_ttc")
        if min_ttc is not None and math.isfinite(min_ttc):
            bottom_right.axhline(
                min_ttc, color="0.4", linestyle=":", label=f"min TTC {min_ttc:.3g} s"
            )
        for axes in (top_right, bottom_left, bottom_right):
            if collision is not None:  # the simulator freezes a scenario at contact
                axes.axvline(collision, color="#a50f15", linestyle="--", linewidth=1.0)
                axes.set_xlim(0.0, min(float(self.trajectories["t"].max()), collision + 2.0))
        for axes in (top_left, top_right, bottom_left, bottom_right):
            axes.grid(True, alpha=0.3)
            axes.legend(loc="best", fontsize="small")
        g = self.kpis.get("g", math.nan)
        figure.suptitle(
            f"{self.scenario} {self.scenario_id}: {'failure' if self.failed else 'pass'} "
            f"(g = {g:.3g})" + (f", collision at t = {collision:.2f} s" if collision else "")
        )
        return figure

    def _collision_time(self) -> float | None:
        if not self.kpis.get("collision"):
            return None
        others = self.trajectories.loc[self.trajectories["agent"] != "ego"]
        hit = others.loc[others["ttc"] == 0.0, "t"]
        return float(hit.min()) if len(hit) else None

    def to_html(self) -> str:
        """A self-contained HTML page: the plot (embedded PNG), parameters and KPIs."""
        from safety_val.report.html import environment, png_data_uri
        from safety_val.report.plots import figure_png

        image = png_data_uri(figure_png(self.plot(), dpi=100))
        template = environment().get_template("replay.html.j2")
        return template.render(
            replay=self,
            image=image,
            parameters=[
                {"parameter": k, "value": v, "unit": self.units.get(k, "")}
                for k, v in self.parameters.items()
            ],
            kpis=self.kpi_table().to_dict("records"),
        )

    def to_png(self) -> bytes:
        """The plot as PNG bytes."""
        from safety_val.report.plots import figure_png

        return figure_png(self.plot(), dpi=110)

    def png_base64(self) -> str:
        """The plot as a base64 PNG string (for notebooks and HTML)."""
        return base64.b64encode(self.to_png()).decode("ascii")


# -- finding and re-simulating --------------------------------------------------------------------


def replay(
    run_dir: str | Path, scenario_id: str, *, scenario_file: str | Path | None = None
) -> Replay:
    """Re-simulate one concrete scenario of a run, recording trajectories.

    Parameters
    ----------
    run_dir
        A run directory (``safety-val run``, ``estimate`` or ``simulate``).
    scenario_id
        The stable id of the concrete scenario (the ``scenario_id`` column of the run's
        Parquet samples; the report lists example ids of each failure mode).
    scenario_file
        The logical scenario file (default: the one the run names); its SHA-256 must
        match the run's.

    Returns
    -------
    Replay

    Raises
    ------
    ValidationError
        Unknown scenario id (the message says where ids are found), no run store in
        ``run_dir``, scenario file missing or changed, a simulator other than the
        built-in one, or a corrupt file in the run (named).
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise ValidationError("run directory not found", file=root)
    pipeline = read_pipeline(root / PIPELINE_FILE) if (root / PIPELINE_FILE).is_file() else {}
    stores = list(iter_stores(root))
    if not stores:
        raise ValidationError(
            "no run store (manifest.json + samples/) in this directory",
            file=root,
            expected="a directory written by 'safety-val run', 'estimate' or 'simulate'",
        )
    wanted = str(scenario_id).strip()
    for store in stores:
        found = read_store_samples(store, filters=[("scenario_id", "==", wanted)])
        if len(found):
            row = found.iloc[0]
            manifest = read_json(store / "manifest.json") or {}
            scenario = _scenario_of(root, pipeline, manifest, store, scenario_file)
            return _resimulate(root, store, scenario, row)
    examples = _some_ids(stores)
    raise ValidationError(
        f"scenario id {wanted!r} not found in the run; ids are the 'scenario_id' column of the "
        "Parquet files in <run>/**/samples/ (and the report's example scenarios)",
        file=root,
        field="scenario_id",
        expected="an id of this run" + (f", e.g. {', '.join(examples)}" if examples else ""),
    )


def _some_ids(stores: list[Path], k: int = 3) -> list[str]:
    for store in stores:
        samples = read_store_samples(store)
        if len(samples):
            return [str(i) for i in samples["scenario_id"].head(k)]
    return []


def _scenario_of(
    root: Path,
    pipeline: Mapping[str, Any],
    manifest: Mapping[str, Any],
    store: Path,
    override: str | Path | None,
) -> LogicalScenario:
    """The logical scenario of a store, from the file the run names (hash checked)."""
    from safety_val.scenario import load_scenario

    expected = manifest.get("scenario_sha256")
    candidates: list[Path] = []
    if override is not None:
        candidates.append(Path(override))
    else:
        named = [pipeline.get("scenario_file")]
        for folder in (store, store.parent, root, root / "reliability"):
            result = read_json(folder / "result.json", what="reliability result") or {}
            named.append(result.get("scenario_file"))
        named.append(manifest.get("scenario_file"))
        for name in named:
            if name:
                path = Path(str(name))
                candidates += [path] if path.is_absolute() else [path, root / path]
    seen: list[str] = []
    for path in candidates:
        if not path.is_file():
            continue
        scenario = load_scenario(path)
        if expected is None or scenario.source_sha256 == expected:
            return scenario
        seen.append(str(path))
    raise ValidationError(
        "the scenario file of the run was not found or changed since the run"
        + (f" ({', '.join(seen)} has another sha256)" if seen else ""),
        file=store / "manifest.json",
        field="scenario_sha256",
        expected="pass the original scenario file (--scenario)",
    )


def _resimulate(root: Path, store: Path, scenario: LogicalScenario, row: pd.Series) -> Replay:
    from safety_val.backends.builtin import BuiltinSimulator
    from safety_val.sim import get_template, simulate
    from safety_val.sim.rng import seed_from_id

    simulator = scenario.make_simulator()
    if not isinstance(simulator, BuiltinSimulator):
        raise ValidationError(
            "replay with trajectories needs the built-in simulator",
            field="simulator",
            value=getattr(simulator, "name", type(simulator).__name__),
            expected="a scenario with 'simulator: builtin'",
        )
    spec = get_template(simulator.template)
    inputs: dict[str, Any] = dict(simulator.fixed)
    parameters: dict[str, Any] = {}
    for name in scenario.names:
        value = row[name]
        if spec.parameters[name].categorical:
            inputs[name] = np.array([str(value)])
            parameters[name] = str(value)
        else:
            inputs[name] = np.array([float(value)])
            parameters[name] = float(value)
    scenario_id = str(row["scenario_id"])
    output = simulate(
        spec,
        inputs,
        seeds=[seed_from_id(scenario_id)],
        dt=simulator.dt,
        duration=simulator.duration,
        record=True,
    )
    kpis = {k: float(v[0]) for k, v in output.kpis.items()}
    kpis["g"] = float(scenario.margin({k: np.array([v]) for k, v in kpis.items()})[0])
    stored = {k: _number(row.get(k)) for k in kpis}
    values, _ = spec.resolve(inputs, 1)
    setup = spec.build(values, 1)
    if output.trajectories is None:  # pragma: no cover - record=True always records
        raise SimulationError("the simulator returned no trajectories")
    trajectories = _trajectory_frame(output.trajectories, setup.length[0], setup.width[0])
    units = {p.name: p.unit for p in scenario.parameters}
    return Replay(
        run_dir=root,
        store=store,
        scenario=scenario.name,
        scenario_id=scenario_id,
        parameters=parameters,
        trajectories=trajectories,
        kpis=kpis,
        stored_kpis=stored,
        limit_state=scenario.criterion.expression,
        units=units,
    )


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _trajectory_frame(
    traj: Mapping[str, np.ndarray], length: np.ndarray, width: np.ndarray
) -> pd.DataFrame:
    """Long frame of one scenario's trajectories, with gap and TTC of each target.

    Notes
    -----
    As in :class:`safety_val.sim.kpi.KpiAccumulator`: with ``gap_j = x_j - x_0 -
    (L_0 + L_j)/2`` and ``dy_j = y_j - y_0``, target ``j`` is in path when
    ``|dy_j| < (W_0 + W_j)/2`` and ``gap_j > -(L_0 + L_j)/2``; its TTC is
    ``max(gap_j, 0) / c_j`` for a closing speed ``c_j = v_0 cos psi_0 - v_j cos psi_j > 0``
    (0 in contact, ``inf`` otherwise). The headings are not recorded: ``cos psi`` is
    taken from the direction of travel over the step, ``dx / hypot(dx, dy)``.
    """
    t = np.asarray(traj["t"], dtype=float)
    x, y, v, a = (np.asarray(traj[k], dtype=float)[0] for k in ("x", "y", "v", "a"))
    steps, agents = x.shape
    dx = np.diff(x, axis=0, prepend=x[:1])
    dy_step = np.diff(y, axis=0, prepend=y[:1])
    travel = np.hypot(dx, dy_step)
    cos = np.divide(dx, travel, out=np.ones_like(dx), where=travel > 1e-12)
    vx = v * cos
    frames = []
    for j in range(agents):
        gap = np.full(steps, np.nan)
        ttc = np.full(steps, np.nan)
        if j:
            half_length = (length[0] + length[j]) / 2.0
            half_width = (width[0] + width[j]) / 2.0
            gap = x[:, j] - x[:, 0] - half_length
            in_path = (np.abs(y[:, j] - y[:, 0]) < half_width) & (gap > -half_length)
            closing = vx[:, 0] - vx[:, j]
            ttc = np.full(steps, np.inf)
            np.divide(np.maximum(gap, 0.0), closing, out=ttc, where=in_path & (closing > 0.0))
            ttc[in_path & (gap <= 0.0)] = 0.0
        frames.append(
            pd.DataFrame(
                {
                    "t": t,
                    "agent": "ego" if j == 0 else f"agent {j}",
                    "x": x[:, j],
                    "y": y[:, j],
                    "v": v[:, j],
                    "a": a[:, j],
                    "gap": gap,
                    "ttc": ttc,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
