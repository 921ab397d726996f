from pathlib import Path

import pandas as pd
import pytest

from safety_val.cli import main


def test_cli_chain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "net"
    assert main(["traffic", "network", str(folder), "--kind", "grid", "--size", "2"]) == 0
    out = capsys.readouterr().out
    assert "segments" in out and "8" in out
    net = folder / "network.net.xml"
    assert pd.read_csv(folder / "segments.csv").shape[0] == 8
    data = tmp_path / "macro.parquet"
    assert (
        main(
            [
                "traffic",
                "simulate-data",
                str(net),
                "-o",
                str(data),
                "--days",
                "0.7",
                "--peak",
                "800",
            ]
        )
        == 0
    )
    assert pd.read_parquet(data)["time"].nunique() == 202
    model = tmp_path / "model"
    code = main(
        [
            "traffic",
            "train",
            str(data),
            "-n",
            str(net),
            "-o",
            str(model),
            "--epochs",
            "1",
            "--hidden",
            "4",
            "--device",
            "cpu",
            "--workers",
            "1",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "stgcn fold 1/2: epoch 1/1" in captured.err and "validation MAE" in captured.err
    assert "agcrn: best epochs of the fold fits [1, 1]" in captured.out
    assert (
        main(["traffic", "evaluate", str(model), str(data), "-n", str(net), "--channel", "speed"])
        == 0
    )
    out = capsys.readouterr().out
    for name in (
        "stgcn",
        "dcrnn",
        "graph_wavenet",
        "agcrn",
        "historical_average",
        "last_value",
        "ridge",
        "stacking",
        "60 min",
    ):
        assert name in out
    # which combiner each horizon uses and why: 0.7 days hold two 6-hour blocks of training
    # origins, too few to judge a combination, so the best member out of fold is used
    assert "combiner per channel and horizon" in out
    assert out.count("thin evidence, 2 blocks < 8;") == 3 and "flow" not in out
    fc = tmp_path / "fc.parquet"
    assert (
        main(
            [
                "traffic",
                "forecast",
                str(model),
                "-n",
                str(net),
                "--start",
                "2024-01-02 00:00",
                "--hours",
                "3",
                "-o",
                str(fc),
            ]
        )
        == 0
    )
    assert len(pd.read_parquet(fc)) == 36 * 8


def test_cli_rejects_a_file_that_is_not_a_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "city.net.xml"
    bad.write_text("<additional/>")
    assert main(["traffic", "network", str(tmp_path / "o"), "--from", str(bad)]) == 2
    assert "city.net.xml" in capsys.readouterr().err


def test_network_with_traffic_lights(tmp_path: Path) -> None:
    """--tls: netgenerate guesses a traffic light at every junction with crossing traffic."""
    import defusedxml.ElementTree as DET

    signalised, plain = tmp_path / "city", tmp_path / "plain"
    assert main(["traffic", "network", str(signalised), "--size", "3", "--tls"]) == 0
    assert main(["traffic", "network", str(plain), "--size", "3"]) == 0

    def lights(folder: Path) -> int:
        root = DET.parse(str(folder / "network.net.xml")).getroot()
        return len(root.findall("tlLogic"))

    # a 3 x 3 grid: the centre and the four edge midpoints have 3+ arms, the corners only 2
    assert lights(plain) == 0 and lights(signalised) == 5
    segments = pd.read_csv(signalised / "segments.csv")
    assert len(segments) == len(pd.read_csv(plain / "segments.csv")) == 24
