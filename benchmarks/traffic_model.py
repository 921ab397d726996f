"""Benchmark of the macro traffic model (issue 7): accuracy table, training and forecast time.

Generates a 4x4 SUMO grid, simulates ``--days`` days of mesoscopic traffic, trains the
default stacking ensemble on CPU, prints the masked MAE/RMSE/MAPE table by horizon for every
model, whether the ensemble beats every backbone and the historical average at every
horizon, the training time and the time to forecast a day for the whole network.

Run: ``nice -n 10 python benchmarks/traffic_model.py [--days 16] [--work DIR]``; with
``--data-seed 1 --work DIR`` on another dataset (the data of a ``--work`` folder is re-used).

16 days from a Monday: the test period (last 20 %) holds a weekend and two weekdays.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

from traffic_ai.dataset import MacroDataset
from traffic_ai.ensemble import COMBINERS, TrafficModel
from traffic_ai.evaluation import evaluate_model
from traffic_ai.forecasting import forecast
from traffic_ai.macro_data import load_macro_data, simulate_macro_data
from traffic_ai.metrics import HORIZON_STEPS
from traffic_ai.network import generate_network, load_road_graph
from traffic_ai.persistence import save_model
from traffic_ai.training import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=float, default=16)
    parser.add_argument("--work", type=Path, default=Path("runs/traffic-benchmark"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument(
        "--data-seed", type=int, default=0, help="seed of the simulated traffic (a new dataset)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)

    net = args.work / "grid.net.xml"
    data = args.work / "macro.parquet"
    if not net.exists():
        generate_network("grid", net, size=4)
    graph = load_road_graph(net)
    if not data.exists():
        started = time.perf_counter()
        simulate_macro_data(graph, data, days=args.days, seed=args.data_seed)
        print(f"simulated {args.days:g} days in {time.perf_counter() - started:.1f} s")
    dataset = MacroDataset.from_frame(load_macro_data(data), graph=graph, file=data)
    print(f"data: {dataset.values.shape} (time, segments, channels); {dataset.gaps.describe()}")

    config = TrainConfig(epochs=args.epochs, device="cpu")

    def progress(label: str, epoch: int, total: int, loss: float, val: float) -> None:
        if epoch == total:
            held_out = "" if math.isnan(val) else f", validation MAE {val:.4f}"
            print(f"  {label}: {total} epochs, loss {loss:.4f}{held_out}", flush=True)

    cpu_before = time.process_time()
    model = TrafficModel.fit(dataset, config, progress=progress)
    cpu_seconds = time.process_time() - cpu_before
    print(
        f"training time (default configuration, CPU): {model.training_seconds:.1f} s wall, "
        f"{cpu_seconds:.1f} s CPU ({torch.get_num_threads()} threads)"
    )
    save_model(model, args.work / "model")
    print_meta_learner(model)

    table = evaluate_model(model, dataset)
    keys = zip(table["channel"], table["horizon"], table["model"], strict=True)
    errors = dict(zip(keys, table["MAE"].to_numpy(dtype=float).tolist(), strict=True))
    for channel in dataset.channels:
        print(f"\n== {channel} (test period: last {config.test_share:.0%}) ==")
        print(
            table[table["channel"] == channel]
            .drop(columns="channel")
            .to_string(index=False, float_format=lambda v: f"{v:.4f}")
        )
    print("\nstacking beats every backbone and historical average (MAE, per horizon):")
    rivals = [*config.backbones, "historical_average"]
    for channel in dataset.channels:
        for horizon in ("15 min", "30 min", "60 min"):
            mae = {m: errors[(channel, horizon, m)] for m in [*rivals, "stacking"]}
            best = min(rivals, key=lambda r: mae[r])
            verdict = "yes" if mae["stacking"] < mae[best] else "NO"
            print(
                f"  {channel:8s} {horizon}: stacking {mae['stacking']:.4f} vs best "
                f"{best} {mae[best]:.4f} -> {verdict}"
            )

    start = dataset.times[-1] + (dataset.times[1] - dataset.times[0])
    started = time.perf_counter()
    day = forecast(args.work / "model", net, start, 24)
    print(
        f"\nforecast of 24 h for {day['segment'].nunique()} segments ({len(day)} rows): "
        f"{time.perf_counter() - started:.2f} s"
    )


def print_meta_learner(model: TrafficModel) -> None:
    """Out-of-fold MAE (standardised) of the members and the chosen candidate, and the choice."""
    names = [*model.stacked_names, "stacking"]
    print("\nout-of-fold MAE (standardised units) and meta-learner choice per horizon:")
    for k, channel in enumerate(model.channels):
        for horizon, step in HORIZON_STEPS.items():
            h = step - 1
            scores = " ".join(
                f"{name} {model.meta.oof_mae_[m, h, k]:.3f}" for m, name in enumerate(names)
            )
            chosen = int(model.meta.selected_[h, k])
            choice = COMBINERS[chosen] if chosen < 0 else f"{model.stacked_names[chosen]} alone"
            print(f"  {channel:8s} {horizon}: {scores} -> {choice}")


if __name__ == "__main__":
    main()
