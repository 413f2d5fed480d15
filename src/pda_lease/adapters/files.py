"""Two small durability primitives the file-backed adapters share."""

from __future__ import annotations

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
