"""``safety-val traffic …``: road networks, macro data, traffic models and random testing.

Thin: each command parses, calls the library and renders. torch and SUMO are imported
inside the commands, so ``safety-val --help`` stays fast and works without the extras.

The chain: ``network`` → ``simulate-data`` → ``train`` → ``evaluate`` → ``forecast``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.table import Table

    from traffic_ai.dataset import MacroDataset
    from traffic_ai.ensemble import TrafficModel

__all__ = ["app"]

app = typer.Typer(
    help="Road networks, macroscopic traffic data, GNN traffic models and random testing in SUMO.",
    no_args_is_help=True,
)

NetworkOption = Annotated[
    Path | None, typer.Option("--network", "-n", help="SUMO network (.net.xml) of the data.")
]
AdjacencyOption = Annotated[
    Path | None,
    typer.Option(help="Sensor adjacency (CSV from,to,cost or NPZ) for METR-LA style .h5 data."),
]


def _load_dataset(data: Path, network: Path | None, adjacency: Path | None) -> MacroDataset:
    """A simulated macro table with its network, or METR-LA style HDF5 + adjacency."""
    from safety_val.errors import ValidationError
    from traffic_ai.dataset import MacroDataset
    from traffic_ai.macro_data import load_macro_data, load_metr_la
    from traffic_ai.network import load_road_graph

    if data.suffix in {".h5", ".hdf5"}:
        if adjacency is None:
            raise ValidationError("--adjacency is needed for HDF5 speed tables", file=data)
        frame, weights, signature = load_metr_la(data, adjacency)
        return MacroDataset.from_frame(frame, adjacency=weights, signature=signature, file=data)
    if network is None:
        raise ValidationError("--network is needed for a macro table", file=data)
    graph = load_road_graph(network)
    return MacroDataset.from_frame(load_macro_data(data), graph=graph, file=data)


@app.command("network")
def network_command(
    out: Annotated[Path, typer.Argument(help="Folder for the network and graph files.")],
    kind: Annotated[str, typer.Option(help="grid | spider | random")] = "grid",
    size: Annotated[int, typer.Option(help="Size of the generated network.", min=2)] = 4,
    seed: Annotated[int, typer.Option(help="netgenerate seed.")] = 0,
    lanes: Annotated[int, typer.Option(help="Lanes per edge.", min=1)] = 1,
    tls: Annotated[
        bool, typer.Option("--tls/--no-tls", help="Traffic lights at the junctions (a city).")
    ] = False,
    net_file: Annotated[
        Path | None, typer.Option("--from", help="Read this .net.xml instead of generating.")
    ] = None,
    vclass: Annotated[str, typer.Option(help="SUMO vehicle class of the graph.")] = "passenger",
) -> None:
    """Generate a SUMO network (netgenerate) or read one; print a summary; write graph files.

    Writes ``network.net.xml`` (when generated), ``segments.csv`` and ``connections.csv``.
    """
    from safety_val._io import atomic_write_text
    from safety_val.cli.common import say, stdout
    from traffic_ai.network import generate_network, load_road_graph

    out.mkdir(parents=True, exist_ok=True)
    if net_file is None:
        net_file = generate_network(
            kind, out / "network.net.xml", size=size, seed=seed, default_lanenumber=lanes,
            # every junction where roads cross gets a light, whatever the roads' speeds
            **({"tls_guess": True, "tls_guess_threshold": 0} if tls else {}),
        )
    graph = load_road_graph(net_file, vclass=vclass)
    nodes, arcs = graph.to_frames()
    atomic_write_text(out / "segments.csv", nodes.to_csv(index=False))
    atomic_write_text(out / "connections.csv", arcs.to_csv(index=False))
    from rich.table import Table

    table = Table("property", "value", title=f"road graph of {net_file}")
    for key, value in graph.summary().items():
        if isinstance(value, dict):  # counts by kind (edges and lanes closed to the class)
            value = ", ".join(f"{n} {kind}" for kind, n in value.items() if n) or "none"
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    table.add_row("signature", graph.signature()[:16])
    stdout.print(table)
    say(f"wrote {out / 'segments.csv'} and {out / 'connections.csv'}")


@app.command("simulate-data")
def simulate_data_command(
    network: Annotated[Path, typer.Argument(help="SUMO network (.net.xml).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Parquet file to write.")] = Path(
        "macro.parquet"
    ),
    days: Annotated[float, typer.Option(help="Simulated days (from a Monday).", min=0.01)] = 14,
    seed: Annotated[int, typer.Option(help="Seed of demand, incidents and SUMO.")] = 0,
    peak: Annotated[
        float | None,
        typer.Option(
            help="Network entries per hour at the peaks; default: derived from the "
            "network's capacity (lane-km, junctions).",
            min=1.0,
        ),
    ] = None,
    incidents: Annotated[float, typer.Option(help="Incidents per day.")] = 3.0,
    microscopic: Annotated[bool, typer.Option(help="Microscopic SUMO instead of meso.")] = False,
    vclass: Annotated[str, typer.Option(help="SUMO vehicle class of the traffic.")] = "passenger",
) -> None:
    """Simulate multi-day traffic in SUMO; write flow, speed, density per segment per 5 min.

    The table's metadata records the demand, SUMO's warnings and the saturation check; a
    saturated network or many teleported or dropped vehicles print a warning.
    """
    import pandas as pd

    from safety_val.cli.common import say
    from traffic_ai.macro_data import DemandProfile, read_macro_metadata, simulate_macro_data
    from traffic_ai.saturation import SaturationReport
    from traffic_ai.sumo_log import SumoReport

    started = time.perf_counter()
    profile = DemandProfile(peak_vehicles_per_hour=peak, incidents_per_day=incidents)
    simulate_macro_data(
        network, out, days=days, seed=seed, profile=profile, mesoscopic=not microscopic,
        vclass=vclass,
    )
    table = pd.read_parquet(out)
    metadata = read_macro_metadata(out)
    demand, counts = metadata["demand"], metadata["network_summary"]
    closed = ", ".join(f"{n} {kind}" for kind, n in counts["excluded_edges"].items() if n)
    say(f"network: {counts['segments']} segments open to {vclass}"
        + (f"; closed to it: {closed} edges" if closed else ""))
    capacity = demand.get("capacity")
    say(f"demand: peak {demand['peak_vehicles_per_hour']:,.0f} veh/h "
        + ("(given)" if capacity is None else
           f"(u {capacity['utilisation']:g} x min(link bound {capacity['link_bound']:,.0f}, "
           f"junction bound {capacity['junction_bound']:,.0f}) from the network's capacity)"))
    say(f"SUMO: {SumoReport.from_dict(metadata['sumo']).describe()}")
    say(SaturationReport.from_dict(metadata["saturation"]).describe())
    say(
        f"wrote {out}: {len(table)} rows, {table['segment'].nunique()} segments, "
        f"{table['time'].nunique()} intervals, "
        f"{int(table['incident'].sum())} segment-intervals under incident, "
        f"in {time.perf_counter() - started:.1f} s"
    )


@app.command("train")
def train_command(
    data: Annotated[Path, typer.Argument(help="Macro table (.parquet) or METR-LA style .h5.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to write.")] = Path(
        "traffic-model"
    ),
    network: NetworkOption = None,
    adjacency: AdjacencyOption = None,
    epochs: Annotated[
        int,
        typer.Option(
            help="Most epochs of a backbone fit (fold fits stop early on validation MAE).", min=1
        ),
    ] = 12,
    hidden: Annotated[int, typer.Option(help="Hidden size of the backbones.", min=2)] = 16,
    folds: Annotated[
        int, typer.Option(help="Blocked time folds for the out-of-fold forecasts.", min=2)
    ] = 2,
    backbones: Annotated[
        str,
        typer.Option(help="Comma-separated backbones (stgcn, dcrnn, graph_wavenet, agcrn)."),
    ] = "stgcn,dcrnn,graph_wavenet,agcrn",
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    workers: Annotated[
        int | None,
        typer.Option(
            help="Processes fitting the fold models in parallel (default: the CPUs "
            "available; 1: in this process, one epoch line per epoch).",
            min=1,
        ),
    ] = None,
) -> None:
    """Train the ensemble of STGCN, DCRNN, Graph WaveNet, AGCRN and the baselines.

    Per channel and horizon it uses the best member out of fold where it stands out (unless
    a combination is significantly better), and a combination where the out-of-fold
    evidence cannot tell the members apart.
    """
    from safety_val.cli.common import say, stderr, stdout
    from traffic_ai.ensemble import TrafficModel
    from traffic_ai.persistence import save_model
    from traffic_ai.training import TrainConfig

    dataset = _load_dataset(data, network, adjacency)
    say(
        f"data: {len(dataset.times)} intervals × {dataset.n_segments} segments; "
        f"{dataset.gaps.describe()}"
    )
    names = tuple(name.strip() for name in backbones.split(",") if name.strip())
    config = TrainConfig(
        backbones=names, epochs=epochs, hidden=hidden, folds=folds, seed=seed, device=device
    )
    say(f"device: {config.torch_device()}")

    def progress(label: str, epoch: int, total: int, loss: float, val: float) -> None:
        stderr.print(
            f"{label}: epoch {epoch}/{total}  loss {loss:.4f}  validation MAE {val:.4f}",
            markup=False,
            highlight=False,
        )

    from safety_val.execution.process import available_cpus
    from safety_val.execution.registry import make_executor

    n_workers = min(available_cpus(), 8) if workers is None else workers
    started = time.process_time()
    if n_workers > 1 and config.torch_device().type == "cpu":
        say(f"fitting the fold models in {n_workers} processes")
        with make_executor("process", n_workers=n_workers) as executor:
            model = TrafficModel.fit(dataset, config, progress=progress, executor=executor)
    else:
        model = TrafficModel.fit(dataset, config, progress=progress)
    cpu = time.process_time() - started
    save_model(model, out)
    for name, log in model.training_log.items():
        if "best_epochs" in log:
            say(
                f"{name}: best epochs of the fold fits {log['best_epochs']} (of "
                f"{log['epochs_run']} run); {log['seconds']:.1f} s"
            )
    stdout.print(_combiner_table(model))
    workers_cpu = model.worker_cpu_seconds
    say(
        f"trained in {model.training_seconds:.1f} s wall, {cpu + workers_cpu:.1f} s CPU "
        f"({workers_cpu:.1f} s in the worker processes); wrote {out}"
    )


def _combiner_table(model: TrafficModel, channel: str | None = None) -> Table:
    """The table of which combiner each channel × horizon uses and why."""
    import pandas as pd

    from safety_val.cli.common import frame_table

    rows = pd.DataFrame(model.combiner_table())
    if channel is not None:
        rows = rows[rows["channel"] == channel]
    return frame_table(
        rows, "combiner per channel and horizon (chosen out of fold; MAE in standardised units)"
    )


@app.command("evaluate")
def evaluate_command(
    model_dir: Annotated[Path, typer.Argument(help="Model folder.")],
    data: Annotated[Path, typer.Argument(help="Macro table (.parquet) or METR-LA style .h5.")],
    network: NetworkOption = None,
    adjacency: AdjacencyOption = None,
    channel: Annotated[
        str | None, typer.Option(help="Only this channel (flow | speed | density).")
    ] = None,
) -> None:
    """MAE, RMSE, MAPE at 15, 30, 60 minutes on the test period for every model.

    Then which combiner the ensemble (``stacking``) uses per channel and horizon, and why.
    """
    from safety_val.cli.common import frame_table, say, stdout
    from traffic_ai.evaluation import evaluate_model
    from traffic_ai.persistence import check_graph, load_model

    model = load_model(model_dir)
    dataset = _load_dataset(data, network, adjacency)
    check_graph(model, dataset.signature)
    table = evaluate_model(model, dataset)
    if channel is not None:
        table = table[table["channel"] == channel]
    stdout.print(frame_table(table.round(4), f"test period of {data}"))
    stdout.print(_combiner_table(model, channel))
    say(f"{dataset.gaps.describe()} (masked in the metrics)")


@app.command("forecast")
def forecast_command(
    model_dir: Annotated[Path, typer.Argument(help="Model folder.")],
    network: Annotated[Path, typer.Option("--network", "-n", help="SUMO network.")],
    start: Annotated[str, typer.Option(help="First interval, e.g. '2024-01-15 00:00'.")],
    hours: Annotated[float, typer.Option(help="Hours to forecast.", min=0.1)] = 24.0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Parquet file to write.")] = Path(
        "forecast.parquet"
    ),
) -> None:
    """Forecast flow, speed and density of every segment (e.g. a day)."""
    from safety_val._io import atomic_path
    from safety_val.cli.common import say
    from traffic_ai.forecasting import forecast

    started = time.perf_counter()
    table = forecast(model_dir, network, start, hours)
    with atomic_path(out) as tmp:
        table.to_parquet(tmp, index=False)
    say(
        f"forecast {hours:g} h for {table['segment'].nunique()} segments "
        f"({len(table)} rows) in {time.perf_counter() - started:.2f} s; wrote {out}"
    )


from traffic_ai.random_testing.cli import register as _register_random_test  # noqa: E402

_register_random_test(app)
