"""Atomic file writes: nothing half-written survives a crash.

A file is written to a temporary name in the same directory (so the final rename
never crosses a file system), flushed and ``fsync``-ed, then moved over the target
with :func:`os.replace`, which is atomic on POSIX and Windows. Readers therefore see
either the old content or the new content, never a mix. Temporary names start with
a dot and end with :data:`TEMP_SUFFIX`, so Parquet dataset readers skip them and
:func:`remove_stale_temp_files` can clean up after a writer that was killed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from safety_val.errors import ValidationError

__all__ = [
    "TEMP_SUFFIX",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "is_temp_file",
    "remove_stale_temp_files",
]

TEMP_SUFFIX = ".tmp"


def is_temp_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is named like a temporary file of this module.

    Examples
    --------
    >>> is_temp_file(".manifest.json.k2x9_a.tmp"), is_temp_file("manifest.json")
    (True, False)
    """
    name = Path(path).name
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort; not possible on Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success move it over ``path`` atomically.

    Use it for writers that want a file name rather than bytes (e.g. Parquet
    writers). If the block raises, the temporary file is removed and ``path`` is
    left untouched.

    Parameters
    ----------
    path
        The final file.
    fsync
        Flush the temporary file and the directory to disk (durable against power loss).

    Raises
    ------
    ValidationError
        ``path`` exists and is not a regular file (a device, a folder: never replaced),
        or the file cannot be written (permissions, a full disk, a missing folder).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     target = Path(folder) / "hello.txt"
    ...     with atomic_path(target) as tmp:
    ...         _ = tmp.write_text("hi")
    ...     print(target.read_text(), sorted(p.name for p in Path(folder).iterdir()))
    hi ['hello.txt']
    """
    target = Path(path)
    if target.exists() and not target.is_file():
        raise ValidationError(
            "not a regular file; refusing to replace it",
            file=target,
            expected="a regular file or a new path",
        )
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent
        )
    except OSError as exc:
        raise _cannot_write(target, exc) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if fsync:
            with tmp.open("rb+") as handle:
                os.fsync(handle.fileno())
        tmp.replace(target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):  # a full disk, a vanished folder: name the target
            raise _cannot_write(target, exc) from None
        raise
    if fsync:
        _fsync_directory(target.parent)


def _cannot_write(target: Path, exc: OSError) -> ValidationError:
    """The user's environment refused a write: one line naming the file and the cause."""
    return ValidationError(f"cannot write the file: {exc.strerror or exc}", file=target)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically and return ``path``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     target = atomic_write_bytes(Path(folder) / "a.bin", b"abc")
    ...     target.read_bytes()
    b'abc'
    """
    target = Path(path)
    with atomic_path(target, fsync=fsync) as tmp:
        tmp.write_bytes(data)
    return target


def atomic_write_text(
    path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8", fsync: bool = True
) -> Path:
    """Write ``text`` to ``path`` atomically and return ``path``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     atomic_write_text(Path(folder) / "a.txt", "é").read_text(encoding="utf-8")
    'é'
    """
    return atomic_write_bytes(path, text.encode(encoding), fsync=fsync)


def remove_stale_temp_files(directory: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files a killed writer left in ``directory``; return them.

    Only call it when no other process is writing into ``directory``.
    """
    folder = Path(directory)
    if not folder.is_dir():
        return []
    removed = []
    for entry in folder.iterdir():
        if entry.is_file() and is_temp_file(entry):
            with contextlib.suppress(OSError):
                entry.unlink()
                removed.append(entry)
    return removed
