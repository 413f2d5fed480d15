"""Two small durability primitives the file-backed adapters share."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_all(descriptor: int, data: bytes) -> None:
    """``write`` until every byte is written (a regular file may take fewer per call)."""
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        if written <= 0:  # pragma: no cover - write(2) reports errors by raising
            raise OSError(28, "no progress writing")
        view = view[written:]


def fsync_directory(path: Path) -> None:
    """Make a new file or a rename in ``path`` durable."""
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def replace_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably, mode 0600.

    A temporary file in the same folder is written and fsynced, renamed over ``path``, and the
    folder is fsynced: after a crash ``path`` holds either the old bytes or the new, never a
    mix. Raises ``OSError``; the temporary file is removed on failure.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            write_all(descriptor, data)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
        fsync_directory(path.parent)
    except OSError:
        with contextlib.suppress(OSError):  # the write's own error is the one to report
            temporary.unlink(missing_ok=True)
        raise
