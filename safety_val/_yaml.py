"""Reading YAML definition files safely, with one-line errors and bounded size.

Safe YAML still lets a small file describe a huge document: aliases of aliases
("billion laughs") share one Python object per anchor, which is cheap to build but
expands without bound in anything that walks it (a hash, a message, a copy). A
definition file is therefore refused when it is larger than :data:`MAX_FILE_BYTES`, or
when its aliases expand it to more than :data:`MAX_EXPANDED_NODES` nodes, or when it
nests more deeply than Python can read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from safety_val.errors import ValidationError

__all__ = ["MAX_EXPANDED_NODES", "MAX_FILE_BYTES", "read_yaml_mapping", "require_mapping"]

MAX_FILE_BYTES = 16 * 2**20
"""The largest definition file read (16 MiB): scenario, ODD and campaign files are small."""

MAX_EXPANDED_NODES = 200_000
"""The most YAML nodes a file may describe once its aliases are expanded."""


def _expanded_size(root: yaml.Node) -> int:
    """Number of nodes of ``root`` with every alias expanded, capped past the limit.

    Each distinct node is visited once (its expanded size is kept), so a file of aliases
    of aliases costs the time of its text, not of its expansion. A recursive alias
    expands without end and counts as too large.
    """
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.MappingNode):
            children = [item for pair in node.value for item in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        if children_done or not children:
            total = 1 + sum(sizes[id(child)] for child in children)
            sizes[id(node)] = min(total, MAX_EXPANDED_NODES + 1)
            visiting.discard(id(node))
            continue
        if id(node) in visiting:
            raise _TooLarge("a YAML alias refers to itself (a recursive document)")
        visiting.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def _load(text: str) -> Any:
    """Compose the YAML document, check its expanded size, then construct it (safe)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_EXPANDED_NODES:
            raise _TooLarge(
                f"YAML aliases expand the document to more than {MAX_EXPANDED_NODES} nodes"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


class _TooLarge(Exception):
    """The document is larger than a definition file may be."""


def read_yaml_mapping(path: str | Path, *, root: str) -> tuple[Path, dict[str, Any]]:
    """Read ``path`` (safe YAML) and return the mapping under its ``root`` key.

    Raises
    ------
    ValidationError
        If the file is missing, unreadable, too large (bytes or nodes once aliases are
        expanded), nested too deeply, is not valid YAML, or has no ``root`` mapping.
    """
    file = Path(path)
    try:
        if file.is_file() and file.stat().st_size > MAX_FILE_BYTES:
            raise ValidationError(
                "file too large for a definition file",
                file=file,
                value=f"{file.stat().st_size} bytes",
                expected=f"at most {MAX_FILE_BYTES} bytes",
            )
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError("file not found", file=file) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read file: {exc}", file=file) from None
    try:
        document = _load(text)
    except _TooLarge as exc:
        raise ValidationError(str(exc), file=file) from None
    except RecursionError:
        raise ValidationError("YAML nested too deeply to read", file=file) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValidationError(f"malformed YAML{where}: {problem}", file=file) from None
    if not isinstance(document, Mapping) or root not in document:
        raise ValidationError(
            f"missing top-level '{root}:' mapping",
            file=file,
            value=type(document).__name__
            if not isinstance(document, Mapping)
            else sorted(document),
            expected=f"a YAML mapping with a '{root}' key",
        )
    body = require_mapping(document[root], file=file, field=root)
    return file, dict(body)


def require_mapping(value: Any, *, file: str | Path | None, field: str) -> Mapping[str, Any]:
    """Return ``value`` if it is a mapping, else raise a :class:`ValidationError`."""
    if not isinstance(value, Mapping):
        raise ValidationError(
            "must be a mapping", file=file, field=field, value=value, expected="key: value pairs"
        )
    return value
