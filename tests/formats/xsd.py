"""Validate OpenSCENARIO files against the ASAM XSD of the version they declare.

The schemas come from scenariogeneration (a dependency), which installs
``schemas/OpenSCENARIO_1_<minor>.xsd`` (1.3 as ``OpenSCENARIO_1_3_1.xsd``) beside its
package; its own reader validates with them too.
"""

from __future__ import annotations

import functools
import importlib.metadata
from pathlib import Path

from lxml import etree

#: File of each OpenSCENARIO 1.x minor version in scenariogeneration's ``schemas/``.
SCHEMA_FILES = {
    0: "OpenSCENARIO_1_0.xsd",
    1: "OpenSCENARIO_1_1.xsd",
    2: "OpenSCENARIO_1_2.xsd",
    3: "OpenSCENARIO_1_3_1.xsd",
}


@functools.cache
def schema(minor: int) -> etree.XMLSchema:
    """The XSD of OpenSCENARIO 1.``minor`` as shipped by scenariogeneration."""
    dist = importlib.metadata.distribution("scenariogeneration")
    wanted = f"schemas/{SCHEMA_FILES[minor]}"
    found = [f for f in dist.files or () if str(f).replace("\\", "/") == wanted]
    if not found:
        raise FileNotFoundError(
            f"scenariogeneration {dist.version} ships no {wanted}: the schema tests need it"
        )
    path = Path(str(dist.locate_file(found[0])))
    return etree.XMLSchema(etree.parse(str(path)))


def declared_minor(path: Path) -> int:
    """The ``revMinor`` of the file's ``FileHeader`` (``revMajor`` must be 1)."""
    header = etree.parse(str(path)).getroot().find("FileHeader")
    assert header is not None, f"{path}: no FileHeader"
    assert header.get("revMajor") == "1", f"{path}: revMajor {header.get('revMajor')!r}"
    return int(header.get("revMinor", ""))


def schema_errors(path: Path, minor: int | None = None) -> list[str]:
    """The schema violations of ``path`` for 1.``minor`` (default: the declared version)."""
    xsd = schema(declared_minor(path) if minor is None else minor)
    document = etree.parse(str(path))  # our own output, trusted
    if xsd.validate(document):
        return []
    return [f"line {e.line}: {e.message}" for e in xsd.error_log]
