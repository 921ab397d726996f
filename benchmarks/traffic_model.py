"""Benchmark of the macro traffic model: accuracy table, targets, training and forecast time.

Generates a SUMO grid of ``--size`` × ``--size`` junctions, simulates ``--days`` days of
mesoscopic traffic with ``--data-seed`` and ``--peak``, trains the default ensemble on CPU
(the fold fits in ``--workers`` processes of one torch thread each), then prints:

- how each backbone was trained (best epochs of the fold fits, refit epochs, seconds);
- which combiner each channel × horizon uses and why (out of fold);
- the masked MAE/RMSE/MAPE table of every model on the test period (last 20 %);
- the targets: the ensemble within 1 % of its best member's MAE and below the historical
  average's in every channel × horizon, every backbone below the historical average on
  speed and density at 15 minutes;
- the training time, wall and CPU, and the time to forecast a day for the whole network.

Run: ``nice -n 10 python benchmarks/traffic_model.py [--data-seed S] [--size N] [--days D]``.
With ``--model DIR`` a model saved by ``safety-val traffic train`` on the dataset's
``macro.parquet`` is evaluated instead of training one here (its saved training log is
printed: the wall time of its own training).
The defaults (4 × 4 grid, 16 days from a Monday, seed 0, peak 5000 entries/h) are the
benchmark's own dataset: its test period holds a weekend and two weekdays. The network and
data of a dataset are kept in ``--work`` (default ``runs/traffic-benchmark/<dataset>``) and
re-used when its parameters match ``dataset.json`` there.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import time
from pathlib import Path

import pandas as pd
import torch

from safety_val.execution.registry import make_executor
from traffic_ai.dataset import MacroDataset
from traffic_ai.ensemble import TrafficModel
from traffic_ai.evaluation import evaluate_model
from traffic_ai.forecasting import forecast
from traffic_ai.macro_data import DemandProfile, load_macro_data, simulate_macro_data
from traffic_ai.metrics import HORIZON_STEPS
from traffic_ai.network import generate_network, load_road_graph
from traffic_ai.persistence import load_model, save_model
from traffic_ai.training import TrainConfig

#: The ensemble may be this much worse than its best member (relative MAE) and still pass.
TOLERANCE = 0.01


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the simulated traffic")
    parser.add_argument("--size", type=int, default=4, help="junctions per side of the grid")
    parser.add_argument("--days", type=float, default=16, help="simulated days from a Monday")
    parser.add_argument("--peak", type=float, default=5000.0, help="network entries/h at peaks")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2, help="processes for the fold fits")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of this process")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--seed", type=int, default=0, help="seed of the training")
    parser.add_argument(
        "--model", type=Path, default=None, help="evaluate this saved model instead of training"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    name = f"grid{args.size}-days{args.days:g}-seed{args.data_seed}-peak{args.peak:g}"
    work = args.work or Path("runs/traffic-benchmark") / name
    dataset = load_or_simulate(work, args.size, args.days, args.data_seed, args.peak)
    print(
        f"dataset {name}: {dataset.values.shape} (time, segments, channels); "
        f"{dataset.gaps.describe()}"
    )

    if args.model is not None:
        model = load_model(args.model)
        if model.signature != dataset.signature:
            parser.error(f"--model {args.model} was trained on another network")
        folder = args.model
        print(
            f"model {args.model} (trained elsewhere, configuration as saved): "
            f"{model.training_seconds:.1f} s wall"
        )
    else:
        model = train(dataset, args.epochs, args.seed, args.workers)
        folder = save_model(model, work / "model")
    config = model.config
    for member in model.member_names:
        log = model.training_log[member]
        epochs = (
            f"best epochs of the fold fits {log['best_epochs']} of {log['epochs_run']} run; "
            if "best_epochs" in log
            else ""
        )
        print(f"  {member:18s} {epochs}{log['seconds']:.1f} s wall, {log['cpu_seconds']:.1f} s CPU")

    print("\ncombiner per channel and horizon (out of fold, standardised MAE):")
    for row in model.combiner_table():
        print(f"  {row['channel']:8s} {row['horizon']}: {row['combiner']} -- {row['reason']}")

    table = evaluate_model(model, dataset)
    print(f"\nMAE on the test period (last {config.test_share:.0%}):")
    print(mae_pivot(table).to_string(float_format=lambda v: f"{v:.4f}"))
    for channel in dataset.channels:
        print(f"\n== {channel}: MAE, RMSE, MAPE [%] ==")
        print(
            table[table["channel"] == channel]
            .drop(columns="channel")
            .to_string(index=False, float_format=lambda v: f"{v:.4f}")
        )
    check_targets(table, model, dataset.channels)

    start = dataset.times[-1] + (dataset.times[1] - dataset.times[0])
    network = work / "network.net.xml"
    started = time.perf_counter()
    day = forecast(folder, network, start, 24)
    print(
        f"\nforecast of 24 h for {day['segment'].nunique()} segments ({len(day)} rows): "
        f"{time.perf_counter() - started:.2f} s"
    )


def train(dataset: MacroDataset, epochs: int, seed: int, workers: int) -> TrafficModel:
    """The default ensemble trained on CPU, fold fits in ``workers`` processes; times printed."""
    config = TrainConfig(epochs=epochs, seed=seed, device="cpu")
    cpu_before = cpu_time()
    if workers > 1:
        with make_executor("process", n_workers=workers) as executor:
            model = TrafficModel.fit(dataset, config, executor=executor)
    else:
        model = TrafficModel.fit(dataset, config)
    cpu_seconds = cpu_time() - cpu_before
    in_workers = model.worker_cpu_seconds
    print(
        f"training time (default configuration, CPU, {workers} worker processes of one "
        f"torch thread): {model.training_seconds:.1f} s wall; {cpu_seconds + in_workers:.1f} s "
        f"CPU ({in_workers:.1f} s in the workers, {cpu_seconds:.1f} s in this process)"
    )
    return model


def cpu_time() -> float:
    """CPU seconds of this process (its workers report their own)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def load_or_simulate(
    work: Path, size: int, days: float, data_seed: int, peak: float
) -> MacroDataset:
    """The dataset of these parameters in ``work``, simulated there first if needed."""
    work.mkdir(parents=True, exist_ok=True)
    network, data, record = work / "network.net.xml", work / "macro.parquet", work / "dataset.json"
    parameters = {"size": size, "days": days, "data_seed": data_seed, "peak": peak}
    if not (record.exists() and json.loads(record.read_text()) == parameters):
        started = time.perf_counter()
        generate_network("grid", network, size=size)
        profile = DemandProfile(peak_vehicles_per_hour=peak)
        simulate_macro_data(network, data, days=days, seed=data_seed, profile=profile)
        record.write_text(json.dumps(parameters))
        print(f"simulated {days:g} days in {time.perf_counter() - started:.1f} s")
    graph = load_road_graph(network)
    return MacroDataset.from_frame(load_macro_data(data), graph=graph, file=data)


def mae_pivot(table: pd.DataFrame) -> pd.DataFrame:
    """Models × (channel, horizon) MAE."""
    pivot = table.pivot_table(index="model", columns=["channel", "horizon"], values="MAE")
    order = list(dict.fromkeys(table["model"]))
    columns = [(c, h) for c in dict.fromkeys(table["channel"]) for h in HORIZON_STEPS]
    return pivot.reindex(index=order, columns=[c for c in columns if c in pivot.columns])


def check_targets(table: pd.DataFrame, model: TrafficModel, channels: tuple[str, ...]) -> None:
    """Print the targets of the model per channel × horizon and a summary count."""
    mae = {
        (c, h, m): float(v)
        for c, h, m, v in zip(
            table["channel"], table["horizon"], table["model"], table["MAE"], strict=True
        )
    }
    members = model.member_names
    within = below = cells = 0
    print(f"\nstacking vs its best member (+{TOLERANCE:.0%} allowed) and the historical average:")
    for channel in channels:
        for horizon in HORIZON_STEPS:
            if (channel, horizon, "stacking") not in mae:
                continue
            cells += 1
            stacking = mae[(channel, horizon, "stacking")]
            best = min(members, key=lambda m: mae[(channel, horizon, m)])
            ha = mae.get((channel, horizon, "historical_average"), math.nan)
            ok_best = stacking <= mae[(channel, horizon, best)] * (1 + TOLERANCE)
            ok_ha = stacking < ha
            within, below = within + ok_best, below + ok_ha
            print(
                f"  {channel:8s} {horizon}: stacking {stacking:.4f}, best member {best} "
                f"{mae[(channel, horizon, best)]:.4f} "
                f"({100 * (stacking / mae[(channel, horizon, best)] - 1):+.2f} %) -> "
                f"{'ok' if ok_best else 'MISSED'}; historical average {ha:.4f} -> "
                f"{'ok' if ok_ha else 'MISSED'}"
            )
    print(
        f"  within 1 % of the best member: {within}/{cells}; below historical average: "
        f"{below}/{cells}"
    )
    print("\nbackbones below the historical average at 15 min (speed, density):")
    for backbone in model.config.backbones:
        verdicts = []
        for channel in ("speed", "density"):
            key = (channel, "15 min", backbone)
            if key in mae:
                ha = mae[(channel, "15 min", "historical_average")]
                verdicts.append(
                    f"{channel} {mae[key]:.4f} vs {ha:.4f} {'ok' if mae[key] < ha else 'MISSED'}"
                )
        print(f"  {backbone:14s} " + "; ".join(verdicts))


if __name__ == "__main__":
    main()
