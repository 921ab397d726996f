from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from safety_val.errors import ValidationError
from safety_val.runs.store import RunStore, environment_info, file_sha256

IDENTITY = {"scenario": "cut_in", "scenario_sha256": "ab" * 32, "seed": 1, "design": "lhs", "n": 10}


def design(n: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "sample_index": np.arange(n, dtype=np.int64),
            "scenario_id": [f"{i:016x}" for i in range(n)],
            "speed": rng.uniform(10, 30, n),
            "weather": ["dry", "wet"] * (n // 2),
        }
    )


def results(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.assign(min_ttc=rows["speed"] / 10.0, status="ok", message="")


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore.create(tmp_path / "run", manifest=IDENTITY, design=design())


def test_create_append_read(store: RunStore) -> None:
    assert store.manifest["status"] == "running" and store.manifest["schema_version"] == 1
    assert store.manifest["versions"]["pandas"] == pd.__version__
    pd.testing.assert_frame_equal(store.design(), design())
    assert store.completed_indices().tolist() == []
    first = store.append(results(design().iloc[:4]), duration_s=0.5)
    second = store.append(results(design().iloc[[9, 7]]))
    assert first is not None and first.name == "part-000001.parquet"
    assert second is not None and second.name == "part-000002.parquet"
    assert store.completed_indices().tolist() == [0, 1, 2, 3, 7, 9]
    assert store.pending()["sample_index"].tolist() == [4, 5, 6, 8]
    samples = store.read_samples()
    assert samples["sample_index"].tolist() == [0, 1, 2, 3, 7, 9]
    pd.testing.assert_frame_equal(
        samples, results(design().iloc[[0, 1, 2, 3, 7, 9]]).reset_index(drop=True)
    )
    # the samples folder is one readable Parquet dataset
    assert len(pd.read_parquet(store.path / "samples")) == 6
    timings = json.loads((store.path / "manifest.json").read_text())["timings"]
    assert timings["simulated_rows"] == 6 and timings["parts"][0]["duration_s"] == 0.5
    reopened = RunStore.open(store.path)
    pd.testing.assert_frame_equal(reopened.read_samples(), samples)


def test_append_drops_rows_already_stored(store: RunStore) -> None:
    store.append(results(design().iloc[:4]))
    again = results(design().iloc[2:6])
    store.append(pd.concat([again, again]))
    assert store.read_samples()["sample_index"].tolist() == list(range(6))
    assert store.append(results(design().iloc[:6])) is None
    assert len(list((store.path / "samples").glob("part-*.parquet"))) == 2
    with pytest.raises(ValidationError, match="not in the design"):
        store.append(results(design(12).iloc[11:]))


def test_update_manifest_and_compact(store: RunStore) -> None:
    for start in range(0, 10, 3):
        store.append(results(design().iloc[start : start + 3]))
    before = store.read_samples()
    merged = store.compact()
    assert merged is not None and [p.name for p in (store.path / "samples").glob("part-*")] == [
        merged.name
    ]
    pd.testing.assert_frame_equal(RunStore.open(store.path).read_samples(), before)
    assert store.pending().empty
    store.update_manifest(status="complete", timings={"total_wall_s": 1.5})
    manifest = RunStore.open(store.path).manifest
    assert manifest["status"] == "complete" and manifest["timings"]["total_wall_s"] == 1.5


def test_crash_leftovers_are_recovered(store: RunStore) -> None:
    store.append(results(design().iloc[:3]))
    good = store.append(results(design().iloc[3:6]))
    assert good is not None
    samples_dir = store.path / "samples"
    # a writer killed mid-write leaves a temporary file ...
    (samples_dir / ".part-000003.parquet.x1y2.tmp").write_bytes(b"PAR1 half")
    (store.path / ".manifest.json.abc.tmp").write_text("{")
    # ... and a part file cut short by a crash (e.g. a copy)
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    with pytest.warns(RuntimeWarning, match="damaged result file"):
        reopened = RunStore.open(store.path)
    assert not list(samples_dir.glob("*.tmp")) and not list(store.path.glob("*.tmp"))
    assert (samples_dir / "_corrupt" / good.name).exists()
    assert reopened.pending()["sample_index"].tolist() == [3, 4, 5, 6, 7, 8, 9]
    assert reopened.read_samples()["sample_index"].tolist() == [0, 1, 2]
    new = reopened.append(results(design().iloc[3:]))
    assert new is not None and new.name == "part-000003.parquet"
    samples = reopened.read_samples()
    assert samples["sample_index"].tolist() == list(range(10))
    assert len(pd.read_parquet(samples_dir)) == 10  # the _corrupt folder is skipped


def test_resume_guard(store: RunStore) -> None:
    store.check_compatible({**IDENTITY, "batch_size": 99})
    with pytest.raises(ValidationError) as info:
        store.check_compatible({**IDENTITY, "seed": np.int64(2)})
    message = str(info.value)
    assert "manifest.json: seed: cannot resume" in message
    assert "seed=1" in message and "seed=2" in message
    with pytest.raises(ValidationError, match="scenario_sha256"):
        store.check_compatible({**IDENTITY, "scenario_sha256": "cd" * 32})


def test_create_refuses_non_empty_directory(tmp_path: Path, store: RunStore) -> None:
    with pytest.raises(ValidationError) as info:
        RunStore.create(store.path, manifest=IDENTITY, design=design())
    assert str(info.value) == (
        f"run directory '{store.path}' already exists and is not empty; pass --resume to "
        "continue it or choose another --out"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    RunStore.create(empty, manifest=IDENTITY, design=design())


def test_open_errors_name_the_file(tmp_path: Path, store: RunStore) -> None:
    with pytest.raises(ValidationError, match=r"nowhere[/\\]manifest.json: not a run directory"):
        RunStore.open(tmp_path / "nowhere")
    (store.path / "manifest.json").write_text("{truncated")
    with pytest.raises(ValidationError, match=r"manifest.json: the manifest is not valid JSON"):
        RunStore.open(store.path)


def test_design_validation(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="lacks required columns"):
        RunStore.create(tmp_path / "a", manifest={}, design=pd.DataFrame({"x": [1]}))
    with pytest.raises(ValidationError, match="duplicate sample indices"):
        RunStore.create(tmp_path / "b", manifest={}, design=pd.concat([design(2), design(2)]))


def test_environment_info_and_sha(tmp_path: Path) -> None:
    info = environment_info()
    assert {"python", "numpy", "pandas", "pyarrow", "openturns", "ray", "safety_val"} <= set(info)
    (tmp_path / "f").write_bytes(b"abc")
    assert file_sha256(tmp_path / "f").startswith("ba7816bf")


# -- one writer at a time ---------------------------------------------------------------------

_HOLD = """
import sys, time
from pathlib import Path
from safety_val.runs.store import RunStore
store = RunStore.open(Path(sys.argv[1]))
store.update_manifest(note="a second writer")  # the first write takes the lock
tmp = store.path / "samples" / ".part-000099.parquet.live.tmp"
tmp.write_bytes(b"a live writer's file")
print("locked", flush=True)
time.sleep(120)
"""


def _holder(run: Path) -> Any:
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(run)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "locked"
    return process


def test_a_second_writer_is_refused_and_a_reader_leaves_the_writers_files(
    store: RunStore,
) -> None:
    store.release()
    writer = _holder(store.path)
    live = store.path / "samples" / ".part-000099.parquet.live.tmp"
    try:
        reader = RunStore.open(store.path)  # reading needs no lock
        assert live.is_file()  # and deletes nothing of the live writer's
        assert len(reader.pending()) == 10
        with pytest.raises(ValidationError, match=r"another process \(pid \d+\) is writing"):
            reader.append(results(design().iloc[:2]))
        with pytest.raises(ValidationError, match="another process"):
            reader.update_manifest(status="complete")
        assert len(reader.pending()) == 10 and live.is_file()
    finally:
        writer.kill()
        writer.wait()
    # killed: the kernel released the lock; the next opener cleans up after it and writes
    again = RunStore.open(store.path)
    assert not live.exists()
    again.append(results(design().iloc[:2]))
    assert len(again.pending()) == 8


def test_the_same_process_may_open_its_own_run_again(store: RunStore) -> None:
    store.append(results(design().iloc[:3]))
    again = RunStore.open(store.path)  # still holding the lock: no error
    again.append(results(design().iloc[3:4]))
    assert len(again.pending()) == 6


def test_a_folder_left_before_the_manifest_is_created_again(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    (run / "samples" / ".part-000001.parquet.x.tmp").write_bytes(b"half")
    (run / "design.parquet").write_bytes(b"half a design")
    created = RunStore.create(run, manifest=IDENTITY, design=design())
    assert len(created.pending()) == 10
    assert not (run / "samples" / ".part-000001.parquet.x.tmp").exists()
    other = tmp_path / "other"
    (other / "samples").mkdir(parents=True)
    (other / "notes.txt").write_text("somebody's file")
    with pytest.raises(ValidationError, match="already exists and is not empty"):
        RunStore.create(other, manifest=IDENTITY, design=design())
