"""Definition files are read safely: bounded alias expansion, depth and size, one-line errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from safety_val import load_scenario
from safety_val._yaml import MAX_EXPANDED_NODES, read_yaml_mapping
from safety_val.errors import ValidationError


def _laughs(levels: int, width: int = 9) -> str:
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    lines += [
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels + 1)
    ]
    return "\n".join("    " + line for line in lines)


@pytest.mark.parametrize("where", ["description", "parameters"])
def test_alias_bomb_is_refused_at_once(tmp_path: Path, where: str) -> None:
    file = tmp_path / "bomb.yaml"
    file.write_text(f"scenario:\n  name: x\n  {where}:\n{_laughs(8)}\n")
    assert file.stat().st_size < 4096
    start = time.perf_counter()
    with pytest.raises(ValidationError) as caught:
        load_scenario(file)
    assert time.perf_counter() - start < 5.0
    message = str(caught.value)
    assert message.startswith(f"{file}: YAML aliases expand the document to more than")
    assert len(message) < 200 and "\n" not in message


def test_shared_aliases_below_the_limit_are_read(tmp_path: Path) -> None:
    file = tmp_path / "ok.yaml"
    file.write_text("scenario:\n  a: &x [1, 2]\n  b: *x\n  c: {k: *x}\n")
    expected = {"a": [1, 2], "b": [1, 2], "c": {"k": [1, 2]}}
    assert read_yaml_mapping(file, root="scenario")[1] == expected
    # 9**5 = 59,049 leaves: expanded below the limit, so an honest (if odd) file still loads
    small = tmp_path / "small.yaml"
    small.write_text(f"scenario:\n  d:\n{_laughs(4)}\n")
    assert MAX_EXPANDED_NODES > 9**5
    assert len(read_yaml_mapping(small, root="scenario")[1]["d"]["a4"]) == 9


def test_recursive_alias_and_deep_nesting_are_bad_input(tmp_path: Path) -> None:
    recursive = tmp_path / "recursive.yaml"
    recursive.write_text("scenario: &a\n  x: *a\n")
    with pytest.raises(ValidationError, match="refers to itself"):
        read_yaml_mapping(recursive, root="scenario")
    deep = tmp_path / "deep.yaml"
    deep.write_text("scenario: " + "[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValidationError, match="nested too deeply"):
        read_yaml_mapping(deep, root="scenario")


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("w") as handle:
        handle.write("scenario:\n  description: '")
        handle.truncate(17 * 2**20)
    with pytest.raises(ValidationError, match="file too large"):
        read_yaml_mapping(big, root="scenario")
